"""Follow-up, payment and integration-sync routes on the dev server, through the real worker
and the sandbox providers; and the same routes with their USE_TEMPORAL_* flag off (inline)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from followthrough.catalog import create_app
from followthrough.config import Settings
from followthrough.services import Services
from followthrough.store.models import Lead as LeadRow
from followthrough.store.models import Payment
from tests.conftest import API_KEY

pytestmark = pytest.mark.devserver


async def _lead_wrote_an_hour_ago(services: Services, lead: dict[str, Any]) -> None:
    async with services.database.session() as session:
        session.add(LeadRow(id=lead["id"], phone=lead["phone"], last_inbound_at=datetime.now(UTC) - timedelta(hours=1)))


def _lead(language: str = "es") -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    return {
        "id": f"lead-{suffix}",
        "phone": f"+52155{int(suffix, 16) % 10**8:08d}",
        "name": "Ana Pérez",
        "email": f"{suffix}@example.com",
        "language": language,
    }


async def _until(api: httpx.AsyncClient, url: str, done: Callable[[dict[str, Any]], bool], timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        answer = (await api.get(url)).json()
        if done(answer) or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.1)


def _closed(answer: dict[str, Any]) -> bool:
    return answer.get("execution", {}).get("status") not in (None, "RUNNING")


@pytest.fixture
async def inline_api(
    dev_client: Client, services: Services, make_settings: Callable[..., Settings]
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with every sales-assistant flag off (same store and providers)."""
    settings = make_settings(use_temporal_followups=False, use_temporal_payments=False, use_temporal_integrations=False)
    app = create_app(settings, api_key=API_KEY, services=services, client=dev_client)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {API_KEY}"},
    ) as client:
        yield client
    runs = getattr(app.state, "inline_runs", None)
    if runs is not None:
        await runs.close()


# --- follow-ups -----------------------------------------------------------------------------
async def test_followup_starts_once_and_shows_its_schedule(
    api: httpx.AsyncClient, dev_worker: Worker, dev_client: Client
) -> None:
    lead = _lead()
    body = {"lead": lead, "type": "cold_lead_reengagement"}
    first = await api.post("/api/followups", json=body)
    assert first.status_code == 202, first.text
    answer = first.json()
    assert answer["workflow_id"] == f"followup-{lead['id']}-cold_lead_reengagement"
    assert answer["mode"] == "temporal" and answer["created"] is True
    assert [s["name"] for s in answer["steps"]] == ["24h", "60h", "168h"]

    again = await api.post("/api/followups", json=body)
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["run_id"] == answer["run_id"]

    status = await _until(api, f"/api/followups/{answer['workflow_id']}", lambda a: a.get("status") is not None)
    assert status["execution"]["search_attributes"]["LeadId"] == lead["id"]
    assert status["execution"]["search_attributes"]["WorkflowFamily"] == "followup"
    assert [s["state"] for s in status["status"]["steps"]] == ["pending"] * 3
    await dev_client.get_workflow_handle(answer["workflow_id"]).terminate("test done")


async def test_followup_for_a_demo_in_the_past_skips_and_completes(api: httpx.AsyncClient, dev_worker: Worker) -> None:
    past = datetime.now(UTC) - timedelta(hours=3)
    body = {
        "lead": _lead(),
        "type": "post_demo",
        "demo_start": past.isoformat(),
        "demo_end": (past + timedelta(hours=1)).isoformat(),
    }
    answer = (await api.post("/api/followups", json=body)).json()
    assert answer["steps"][0]["state"] == "skipped"
    status = await _until(api, f"/api/followups/{answer['workflow_id']}", _closed)
    assert status["execution"]["status"] == "COMPLETED"
    assert status["status"]["state"] == "completed" and status["status"]["steps"][0]["state"] == "skipped"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"type": "pre_demo_24h"}, "pre_demo_24h needs demo_start"),
        ({"type": "post_demo", "demo_start": "2030-01-01T10:00:00Z"}, "post_demo needs demo_end"),
        ({"type": "nope"}, "Input should be"),
        ({"type": "pre_demo_reminder", "demo_start": "2030-01-01T10:00:00"}, "timezone"),
    ],
)
async def test_followup_bad_input_is_422_with_the_reason(
    api: httpx.AsyncClient, body: dict[str, Any], reason: str
) -> None:
    answer = await api.post("/api/followups", json={"lead": _lead(), **body})
    assert answer.status_code == 422
    assert reason in answer.text


async def test_followup_bad_phone_is_422_naming_the_field(api: httpx.AsyncClient) -> None:
    answer = await api.post("/api/followups", json={"lead": {**_lead(), "phone": "5512"}, "type": "said_later"})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "lead", "phone"]


async def test_unknown_followup_is_404(api: httpx.AsyncClient) -> None:
    assert (await api.get("/api/followups/followup-nobody-said_later")).status_code == 404


async def test_followup_inline_when_the_flag_is_off(
    inline_api: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    lead = _lead("en")
    await _lead_wrote_an_hour_ago(services, lead)  # inside WhatsApp's 24-hour window: text goes out
    demo = datetime.now(UTC) + timedelta(minutes=30, seconds=2)  # the reminder is due in 2 s
    with caplog.at_level(logging.WARNING, logger="followthrough.flags"):
        first = await inline_api.post(
            "/api/followups", json={"lead": lead, "type": "pre_demo_reminder", "demo_start": demo.isoformat()}
        )
    assert first.status_code == 202
    answer = first.json()
    assert answer["mode"] == "inline" and answer["workflow_id"] == f"followup-{lead['id']}-pre_demo_reminder"
    assert "USE_TEMPORAL_FOLLOWUPS is off" in caplog.text
    status = await _until(inline_api, f"/api/followups/{answer['workflow_id']}", lambda a: a["state"] != "RUNNING")
    assert status["mode"] == "inline" and status["state"] == "COMPLETED", status
    [step] = status["status"]["steps"]
    assert step["state"] == "sent"
    [entry] = [e for e in await services.providers.outbox.entries(operation="send") if lead["phone"] in str(e.request)]
    assert entry.request["text"].startswith("Hi Ana, your demo starts in 30 minutes")


async def test_followup_inline_holds_an_opt_out_recorded_in_the_store(
    inline_api: httpx.AsyncClient, services: Services
) -> None:
    lead = _lead()
    async with services.database.session() as session:
        session.add(LeadRow(id=lead["id"], phone=lead["phone"], opted_out=True))
    # the reminder is due in 2 s, as in the test above: with 0.3 s, a busy box (the suite runs
    # in parallel) planned the step after its moment, skipped it, and never read the opt-out
    demo = datetime.now(UTC) + timedelta(minutes=30, seconds=2)
    answer = (
        await inline_api.post(
            "/api/followups", json={"lead": lead, "type": "pre_demo_reminder", "demo_start": demo.isoformat()}
        )
    ).json()
    status = await _until(inline_api, f"/api/followups/{answer['workflow_id']}", lambda a: a["state"] != "RUNNING")
    assert status["status"]["stopped_by"] == "opted_out"
    assert not [e for e in await services.providers.outbox.entries(operation="send") if lead["phone"] in str(e.request)]


# --- payments -------------------------------------------------------------------------------
async def test_payment_through_the_sandbox_checkout(
    api: httpx.AsyncClient, dev_worker: Worker, services: Services
) -> None:
    lead = _lead()
    await _lead_wrote_an_hour_ago(services, lead)  # inside WhatsApp's 24-hour window: texts go out
    body = {"lead": lead, "reference": "plan-pro", "amount": 149900, "currency": "MXN", "description": "Plan Pro"}
    answer = await api.post("/api/payments", json=body)
    assert answer.status_code == 202, answer.text
    workflow_id = answer.json()["workflow_id"]
    assert workflow_id == f"payment-{lead['id']}-plan-pro" and answer.json()["mode"] == "temporal"

    waiting = await _until(
        api, f"/api/payments/{workflow_id}", lambda a: (a.get("status") or {}).get("state") == "awaiting_payment"
    )
    session_id = waiting["status"]["session_id"]
    assert waiting["status"]["checkout_url"].endswith(session_id)

    # payment_completed is not public: the checkout page (as Stripe's webhook would) reports it.
    signal = {"session_id": session_id, "event_id": "evt_forged", "paid_at": datetime.now(UTC).isoformat()}
    assert (await api.post(f"/api/workflows/{workflow_id}/signal/payment_completed", json=signal)).status_code == 403
    paid = (await api.post(f"/payments/sandbox/{session_id}/pay")).json()
    assert paid["workflow_id"] == workflow_id and paid["signalled"] is True

    done = await _until(api, f"/api/payments/{workflow_id}", _closed)
    assert done["status"]["state"] == "paid" and done["status"]["completion_event_id"] == paid["event_id"]
    async with services.database.session() as session:
        assert (await session.get(LeadRow, lead["id"])).stage == "customer"  # type: ignore[union-attr]
    sent = [
        e.request["text"]
        for e in await services.providers.outbox.entries(operation="send")
        if lead["phone"] in str(e.request)
    ]
    assert len(sent) == 2 and "enlace de pago" in sent[0] and "Recibimos tu pago de 1,499.00 MXN" in sent[1]

    # The paid order went on to HubSpot, Meta and the lead's memory by itself (the real sync).
    sync_id = done["status"]["integration_sync"]
    assert sync_id == f"integration-{lead['id']}-payment_completed-plan-pro"
    synced = await _until(api, f"/api/integrations/sync/{sync_id}", _closed)
    assert synced["execution"]["status"] == "COMPLETED", synced
    assert {t["target"]: t["ok"] for t in synced["status"]["targets"]} == {
        "hubspot": True,
        "meta_capi": True,
        "memory": True,
    }


async def test_a_payment_starts_no_sync_when_integrations_are_not_durable(
    dev_client: Client, dev_worker: Worker, services: Services
) -> None:
    settings = services.settings.model_copy(update={"use_temporal_integrations": False})
    app = create_app(settings, api_key=API_KEY, services=services, client=dev_client)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers={"Authorization": f"Bearer {API_KEY}"}
    ) as api:
        lead = _lead()
        body = {"lead": lead, "reference": "plan-lite", "amount": 9900, "currency": "MXN", "description": "Lite"}
        workflow_id = (await api.post("/api/payments", json=body)).json()["workflow_id"]
        waiting = await _until(
            api, f"/api/payments/{workflow_id}", lambda a: (a.get("status") or {}).get("state") == "awaiting_payment"
        )
        await api.post(f"/payments/sandbox/{waiting['status']['session_id']}/pay")
        done = await _until(api, f"/api/payments/{workflow_id}", _closed)
    assert done["status"]["state"] == "paid" and done["status"]["integration_sync"] is None


async def test_payment_bad_input_is_422(api: httpx.AsyncClient) -> None:
    body = {"lead": _lead(), "reference": "r", "amount": 0, "currency": "MXN", "description": "x"}
    answer = await api.post("/api/payments", json=body)
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "amount"]


async def test_payment_inline_when_the_flag_is_off(inline_api: httpx.AsyncClient, services: Services) -> None:
    lead = _lead()
    body = {"lead": lead, "reference": "plan-basic", "amount": 50000, "currency": "mxn", "description": "Basic"}
    answer = await inline_api.post("/api/payments", json=body)
    assert answer.status_code == 202
    result = answer.json()
    assert result["mode"] == "inline" and result["state"] == "COMPLETED", result
    assert result["status"]["state"] == "awaiting_payment" and result["status"]["checkout_url"]
    async with services.database.session() as session:
        from sqlalchemy import select

        row = await session.scalar(select(Payment).where(Payment.lead_id == lead["id"]))
    assert row is not None and row.status == "pending" and row.workflow_id == result["workflow_id"]
    assert [e for e in await services.providers.outbox.entries(operation="send") if lead["phone"] in str(e.request)]


# --- integration sync -----------------------------------------------------------------------
async def test_integration_sync_reports_each_target(api: httpx.AsyncClient, dev_worker: Worker) -> None:
    lead = _lead()
    body = {
        "lead": lead,
        "event": "payment_completed",
        "event_id": "evt_9",
        "occurred_at": datetime.now(UTC).isoformat(),
        "value": 149900,
        "currency": "mxn",
    }
    answer = await api.post("/api/integrations/sync", json=body)
    assert answer.status_code == 202, answer.text
    workflow_id = answer.json()["workflow_id"]
    assert workflow_id == f"integration-{lead['id']}-payment_completed-evt_9"
    done = await _until(api, f"/api/integrations/sync/{workflow_id}", _closed)
    by_target = {t["target"]: t for t in done["status"]["targets"]}
    assert set(by_target) == {"hubspot", "meta_capi", "memory"}
    assert all(t["ok"] for t in by_target.values()), by_target
    assert by_target["meta_capi"]["detail"].startswith("Purchase")


async def test_integration_sync_purchase_without_value_is_422(api: httpx.AsyncClient) -> None:
    body = {"lead": _lead(), "event": "payment_completed", "event_id": "e", "occurred_at": "2025-01-01T00:00:00Z"}
    answer = await api.post("/api/integrations/sync", json=body)
    assert answer.status_code == 422 and "needs value and currency" in answer.text


async def test_integration_sync_inline_when_the_flag_is_off(inline_api: httpx.AsyncClient, services: Services) -> None:
    lead = _lead()
    body = {"lead": lead, "event": "lead_created", "event_id": "new-1", "occurred_at": datetime.now(UTC).isoformat()}
    answer = (await inline_api.post("/api/integrations/sync", json=body)).json()
    assert answer["mode"] == "inline"
    done = await _until(
        inline_api, f"/api/integrations/sync/{answer['workflow_id']}", lambda a: a["state"] != "RUNNING"
    )
    assert done["state"] == "COMPLETED"
    assert all(t["ok"] for t in done["status"]["targets"]), done["status"]["targets"]
    assert {t["target"]: t["ok"] for t in done["status"]["targets"]} == {
        "hubspot": True,
        "meta_capi": True,
        "memory": True,
    }
    memory = next(t for t in done["status"]["targets"] if t["target"] == "memory")
    async with services.database.session() as session:
        row = await session.get(LeadRow, lead["id"])
    assert row is not None and row.memory_summary == memory["detail"]


async def test_the_sandbox_checkout_page_pays_and_signals_the_workflow(
    api: httpx.AsyncClient, dev_worker: Worker, services: Services
) -> None:
    lead = _lead("en")
    body = {"lead": lead, "reference": "ord-7", "amount": 2500, "currency": "usd", "description": "Starter"}
    workflow_id = (await api.post("/api/payments", json=body)).json()["workflow_id"]
    waiting = await _until(
        api, f"/api/payments/{workflow_id}", lambda a: (a.get("status") or {}).get("state") == "awaiting_payment"
    )
    url = httpx.URL(waiting["status"]["checkout_url"])
    public = httpx.AsyncClient(transport=api._transport, base_url="http://testserver")  # no API key
    async with public:
        page = await public.get(url.path)
        assert page.status_code == 200 and "Pay 25.00 USD" in page.text
        paid = await public.post(f"{url.path}/pay")
        assert paid.status_code == 200 and paid.json()["signalled"] is True
        again = await public.post(f"{url.path}/pay")  # paying twice is the same payment
        assert again.status_code == 200 and again.json()["event_id"] == paid.json()["event_id"]
        assert (await public.get("/payments/sandbox/cs_test_unknown")).status_code == 404
    done = await _until(api, f"/api/payments/{workflow_id}", _closed)
    assert done["status"]["state"] == "paid" and done["status"]["reminders_sent"] == []
