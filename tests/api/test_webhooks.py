"""Webhooks: signatures, idempotent inbound recording, and the signals each event sends.

The app talks to the time-skipping server, where fake ``FollowUpWorkflow``/``PaymentWorkflow``
record the signals they get. A WhatsApp message starts the real ``InboundMessageWorkflow``
(``inbound-{hash of the message id}``), which signals the follow-ups by their deterministic ids (the
visibility query for outreach workflows is not served there: it finds none).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import RawValue
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from followthrough.api.flags import Feature, InlineRuns
from followthrough.catalog import activity_methods, create_app
from followthrough.processes.inbound.activities import InboundActivities
from followthrough.processes.inbound.rules import InboundMessageResult, inbound_workflow_id
from followthrough.processes.inbound.webhook import parse_whatsapp, pending_tasks
from followthrough.processes.inbound.workflow import InboundMessageWorkflow
from followthrough.services import Services
from followthrough.store.models import InboundMessage, Lead
from tests.conftest import register_search_attributes

WA_SECRET, STRIPE_SECRET, CAL_SECRET, VERIFY = "wa-secret", "whsec_test", "cal-secret", "verify-me"


@workflow.defn(name="FollowUpWorkflow", sandboxed=False)  # a test fake in a module full of I/O imports
class RecordingFollowUp:
    def __init__(self) -> None:
        self.signals: list[tuple[str, Any]] = []
        self.input: Any = None

    @workflow.run
    async def run(self, input: dict[str, Any]) -> None:
        self.input = input
        # No timer: a fake left running after its test must never need a worker again (a task no
        # worker polls would stop the shared time-skipping server from skipping for later tests).
        await workflow.wait_condition(lambda: bool(self.signals))

    @workflow.signal(dynamic=True)
    def any_signal(self, name: str, args: Sequence[RawValue]) -> None:
        value = workflow.payload_converter().from_payload(args[0].payload, dict) if args else None
        self.signals.append((name, value))

    @workflow.query(name="seen")
    def seen(self) -> dict[str, Any]:
        return {"input": self.input, "signals": self.signals}


@workflow.defn(name="PaymentWorkflow", sandboxed=False)
class RecordingPayment(RecordingFollowUp):
    @workflow.run
    async def run(self, input: dict[str, Any]) -> None:
        await super().run(input)


def wa_body(phone: str, text: str, message_id: str | None = None, at: float | None = None) -> bytes:
    message = {
        "from": phone.lstrip("+"),
        "id": message_id or f"wamid.{uuid.uuid4().hex}",
        "timestamp": str(int(at if at is not None else time.time())),
        "type": "text",
        "text": {"body": text},
    }
    value = {"messaging_product": "whatsapp", "contacts": [{"wa_id": phone.lstrip("+"), "profile": {"name": "Ana"}}]}
    return json.dumps(
        {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {**value, "messages": [message]}}]}]}
    ).encode()


def wa_headers(body: bytes, secret: str = WA_SECRET) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def stripe_headers(body: bytes, secret: str = STRIPE_SECRET, at: int | None = None) -> dict[str, str]:
    ts = at if at is not None else int(time.time())
    sig = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={ts},v1={sig}"}


def cal_headers(body: bytes, secret: str = CAL_SECRET) -> dict[str, str]:
    return {"X-Cal-Signature-256": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


@asynccontextmanager
async def make_hooks(
    client: Client, services: Services, task_queue: str, **overrides: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Client, Any]]:
    await register_search_attributes(client)
    settings = services.settings.model_copy(
        update={
            "whatsapp_app_secret": _secret(WA_SECRET),
            "whatsapp_verify_token": _secret(VERIFY),
            "stripe_webhook_secret": _secret(STRIPE_SECRET),
            "calcom_webhook_secret": _secret(CAL_SECRET),
            **overrides,
        }
    )
    app = create_app(settings, api_key="k", services=services, client=client)
    async with (
        Worker(
            client,
            task_queue=task_queue,
            workflows=[RecordingFollowUp, RecordingPayment, InboundMessageWorkflow],
            activities=activity_methods(InboundActivities(services)),
        ),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http,
    ):
        yield http, client, app


@pytest.fixture
async def hooks(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Client, Any]]:
    """(HTTP client on the app, Temporal client, the app) with a worker of recording fakes and
    the real InboundMessageWorkflow."""
    async with make_hooks(ts_env.client, services, task_queue) as hooked:
        yield hooked


@pytest.fixture
async def inline_hooks(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Client, Any]]:
    """The same with ``USE_TEMPORAL_FOLLOWUPS`` off."""
    async with make_hooks(ts_env.client, services, task_queue, use_temporal_followups=False) as hooked:
        yield hooked


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


async def drain(app: Any) -> None:
    await asyncio.gather(*pending_tasks(app))


async def deliver(http: httpx.AsyncClient, client: Client, number: str, text: str, **kwargs: Any) -> Any:
    """Post one signed message and wait for its InboundMessageWorkflow's result."""
    message_id = kwargs.pop("message_id", None) or f"wamid.{uuid.uuid4().hex}"
    body = wa_body(number, text, message_id=message_id, **kwargs)
    response = await http.post("/webhook/whatsapp", content=body, headers=wa_headers(body))
    assert response.status_code == 200, response.text
    return await client.get_workflow_handle(inbound_workflow_id(message_id), result_type=InboundMessageResult).result()


async def start_fake(client: Client, task_queue: str, workflow_id: str, name: str = "FollowUpWorkflow") -> Any:
    return await client.start_workflow(name, {"fake": True}, id=workflow_id, task_queue=task_queue)


def phone() -> str:
    return f"+5215{uuid.uuid4().int % 10**8:08d}"


# --- WhatsApp ------------------------------------------------------------------------------
async def test_whatsapp_handshake_echoes_the_challenge_only_for_our_token(hooks: Any) -> None:
    http, _, _ = hooks
    ok = await http.get(
        "/webhook/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "42"}
    )
    assert (ok.status_code, ok.text) == (200, "42")
    bad = await http.get(
        "/webhook/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "42"}
    )
    assert bad.status_code == 403


@pytest.mark.parametrize(
    ("headers", "code"),
    [({}, 401), ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, 403), ({"X-Hub-Signature-256": "garbage"}, 403)],
)
async def test_whatsapp_refuses_unsigned_or_forged_deliveries(
    hooks: Any, services: Services, headers: dict[str, str], code: int
) -> None:
    http, _, _ = hooks
    body = wa_body(phone(), "hola")
    response = await http.post("/webhook/whatsapp", content=body, headers=headers)
    assert response.status_code == code
    async with services.database.session() as session:
        assert (await session.scalars(select(InboundMessage))).all() == []


async def test_whatsapp_signed_garbage_is_400_not_500(hooks: Any) -> None:
    http, _, _ = hooks
    for body in (b"not json", b'{"entry": "nope"}', b"[1, 2]"):
        response = await http.post("/webhook/whatsapp", content=body, headers=wa_headers(body))
        assert response.status_code == 400, body


async def test_whatsapp_records_a_message_once_however_often_it_is_delivered(hooks: Any, services: Services) -> None:
    http, client, app = hooks
    number = phone()
    body = wa_body(number, "Hola, me interesa", message_id="wamid.same")
    first = await http.post("/webhook/whatsapp", content=body, headers=wa_headers(body))
    second = await http.post("/webhook/whatsapp", content=body, headers=wa_headers(body))
    assert pending_tasks(app) == set()
    assert first.json() == {"received": 1, "new": 1}
    assert second.json() == {"received": 1, "new": 0}  # its workflow exists: nothing new started
    await client.get_workflow_handle(inbound_workflow_id("wamid.same")).result()  # it records the message
    async with services.database.session() as session:
        [row] = (await session.scalars(select(InboundMessage))).all()
        lead = await session.get(Lead, row.lead_id)
    assert (row.provider_message_id, row.text) == ("wamid.same", "Hola, me interesa")
    assert lead is not None and lead.phone == number and lead.last_inbound_at is not None


async def _known_lead(http: httpx.AsyncClient, client: Client, services: Services) -> tuple[str, str]:
    """(lead id, phone) of a lead the store knows from a first message, so its follow-ups can be
    found by id."""
    number = phone()
    await deliver(http, client, number, "Hola")
    async with services.database.session() as session:
        lead = await session.scalar(select(Lead).where(Lead.phone == number))
    assert lead is not None
    return lead.id, number


async def test_a_reply_signals_lead_replied_to_each_running_followup(
    hooks: Any, services: Services, task_queue: str
) -> None:
    http, client, _ = hooks
    lead_id, number = await _known_lead(http, client, services)
    handles = [await start_fake(client, task_queue, f"followup-{lead_id}-{t}") for t in ("pre_demo_24h", "post_demo")]
    result: InboundMessageResult = await deliver(http, client, number, "¿Cuánto cuesta?", message_id="wamid.price")
    assert (result.intent, result.lead_id) == ("reply", lead_id)
    assert sorted(result.followups_signalled) == sorted(h.id for h in handles)
    for handle in handles:
        [(name, signal)] = (await handle.query("seen"))["signals"]
        assert name == "lead_replied"
        assert signal["message_id"] == "wamid.price"


async def test_the_answer_waits_only_for_the_start_and_the_workflow_records_and_tags_the_lead(
    hooks: Any, services: Services
) -> None:
    http, client, app = hooks
    body = wa_body(phone(), "Hola", message_id="wamid.started")
    response = await http.post("/webhook/whatsapp", content=body, headers=wa_headers(body))
    assert response.json() == {"received": 1, "new": 1}
    assert pending_tasks(app) == set()  # nothing is left for after the answer
    handle = client.get_workflow_handle(inbound_workflow_id("wamid.started"), result_type=InboundMessageResult)
    first = await handle.result()
    async with services.database.session() as session:
        lead = await session.scalar(select(Lead))
        [message] = (await session.scalars(select(InboundMessage))).all()
    assert lead is not None and lead.name == "Ana" and first.lead_id == lead.id
    assert (message.provider_message_id, message.text, message.lead_id) == ("wamid.started", "Hola", lead.id)
    described = await handle.describe()
    attrs = {p.key.name: p.value for p in described.typed_search_attributes}
    assert attrs == {"LeadId": lead.id, "WorkflowFamily": "inbound", "OrganizationId": "default"}
    # The message created the lead: its lead_created sync goes out, once.
    assert first.integration_sync == f"integration-{lead.id}-lead_created-{lead.id}"
    second = await deliver(http, client, lead.phone or "", "¿Y el precio?", message_id="wamid.started-2")
    assert second.integration_sync is None


async def test_a_returning_lead_s_message_belongs_to_the_organization_of_its_record(
    hooks: Any, services: Services
) -> None:
    http, client, _ = hooks
    lead_id, number = await _known_lead(http, client, services)
    async with services.database.session() as session:
        lead = await session.get(Lead, lead_id)
        assert lead is not None
        lead.organization_id = "acme"
    await deliver(http, client, number, "Sigo interesado", message_id="wamid.acme")
    described = await client.get_workflow_handle(inbound_workflow_id("wamid.acme")).describe()
    attrs = {p.key.name: p.value for p in described.typed_search_attributes}
    assert (attrs["LeadId"], attrs["OrganizationId"]) == (lead_id, "acme")


async def test_look_later_starts_said_later_and_stops_the_others(
    hooks: Any, services: Services, task_queue: str
) -> None:
    http, client, _ = hooks
    lead_id, number = await _known_lead(http, client, services)
    other = await start_fake(client, task_queue, f"followup-{lead_id}-cold_lead_reengagement")
    at = time.time()
    result = await deliver(http, client, number, "Luego lo veo, gracias", at=at)
    assert (result.said_later, result.said_later_started) == (f"followup-{lead_id}-said_later", True)
    assert [n for n, _ in (await other.query("seen"))["signals"]] == ["lead_replied"]
    later = client.get_workflow_handle(f"followup-{lead_id}-said_later")
    seen = await later.query("seen")
    assert seen["input"]["type"] == "said_later"
    assert seen["input"]["lead"]["id"] == lead_id
    assert datetime.fromisoformat(seen["input"]["triggered_at"]) == datetime.fromtimestamp(int(at), UTC)
    assert seen["signals"] == []


async def test_a_redelivered_look_later_starts_nothing_twice(hooks: Any, services: Services) -> None:
    http, client, _ = hooks
    lead_id, number = await _known_lead(http, client, services)
    body = wa_body(number, "I'll look later", message_id="wamid.later")
    first = await http.post("/webhook/whatsapp", content=body, headers=wa_headers(body))
    inbound = client.get_workflow_handle(inbound_workflow_id("wamid.later"))
    await inbound.result()
    run_id = (await inbound.describe()).run_id
    later = client.get_workflow_handle(f"followup-{lead_id}-said_later")
    later_run = (await later.describe()).run_id
    for _ in range(2):  # Meta redelivers (its retry, or ours after a 503)
        again = await http.post("/webhook/whatsapp", content=body, headers=wa_headers(body))
        assert again.json() == {"received": 1, "new": 0}
    assert first.json() == {"received": 1, "new": 1}
    assert (await inbound.describe()).run_id == run_id  # the finished workflow was not run again
    assert (await later.describe()).run_id == later_run


async def test_a_message_temporal_could_not_take_is_answered_503_and_started_on_redelivery(
    hooks: Any, services: Services, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    http, client, _ = hooks
    lead_id, number = await _known_lead(http, client, services)
    handle = await start_fake(client, task_queue, f"followup-{lead_id}-pre_demo_reminder")
    real_start = client.start_workflow
    refusals: list[str | None] = []

    async def down_once(*args: Any, **kwargs: Any) -> Any:
        if not refusals:
            refusals.append(kwargs.get("id"))
            raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")
        return await real_start(*args, **kwargs)

    monkeypatch.setattr(client, "start_workflow", down_once)
    body = wa_body(number, "BAJA", message_id="wamid.stop")
    refused = await http.post("/webhook/whatsapp", content=body, headers=wa_headers(body))
    assert refused.status_code == 503
    assert refusals == [inbound_workflow_id("wamid.stop")]
    async with services.database.session() as session:  # nothing was written: nothing to reconcile
        assert (
            await session.scalar(select(InboundMessage.id).where(InboundMessage.provider_message_id == "wamid.stop"))
            is None
        )

    again = await http.post("/webhook/whatsapp", content=body, headers=wa_headers(body))
    assert again.json() == {"received": 1, "new": 1}
    result = await client.get_workflow_handle(
        inbound_workflow_id("wamid.stop"), result_type=InboundMessageResult
    ).result()
    assert result.followups_signalled == [handle.id]
    assert [n for n, _ in (await handle.query("seen"))["signals"]] == ["opted_out"]
    async with services.database.session() as session:  # recorded, and the opt-out with it
        lead = await session.get(Lead, lead_id)
        assert lead is not None and lead.opted_out


async def test_stop_opts_the_lead_out_and_tells_its_followups(hooks: Any, services: Services, task_queue: str) -> None:
    http, client, _ = hooks
    lead_id, number = await _known_lead(http, client, services)
    handle = await start_fake(client, task_queue, f"followup-{lead_id}-pre_demo_reminder")
    result = await deliver(http, client, number, "BAJA")
    assert (result.intent, result.followup_signal, result.outreach_signal) == ("opt_out", "opted_out", "stop")
    assert [n for n, _ in (await handle.query("seen"))["signals"]] == ["opted_out"]
    async with services.database.session() as session:
        lead = await session.get(Lead, lead_id)
    assert lead is not None and lead.opted_out and lead.opted_out_at is not None


async def test_with_followups_inline_the_reply_is_signalled_after_the_answer_without_a_workflow(
    inline_hooks: Any, services: Services, task_queue: str
) -> None:
    http, client, app = inline_hooks
    number = phone()
    body = wa_body(number, "Hola", message_id="wamid.inline-1")
    assert (await http.post("/webhook/whatsapp", content=body, headers=wa_headers(body))).status_code == 200
    await drain(app)
    async with services.database.session() as session:
        lead = await session.scalar(select(Lead).where(Lead.phone == number))
    assert lead is not None
    handle = await start_fake(client, task_queue, f"followup-{lead.id}-post_demo")
    body = wa_body(number, "Gracias", message_id="wamid.inline-2")
    assert (await http.post("/webhook/whatsapp", content=body, headers=wa_headers(body))).status_code == 200
    await drain(app)
    assert [n for n, _ in (await handle.query("seen"))["signals"]] == ["lead_replied"]
    with pytest.raises(RPCError):
        await client.get_workflow_handle(inbound_workflow_id("wamid.inline-2")).describe()


async def test_a_message_stops_the_sender_s_inline_run_while_its_workflow_does_the_rest(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    """A booking saga run inline (``USE_TEMPORAL_BOOKING`` off) lives in this process: the route
    looks the sender up (a read) and cancels it, as the inline path does."""
    async with make_hooks(ts_env.client, services, task_queue, use_temporal_booking=False) as (http, client, app):
        lead_id, number = await _known_lead(http, client, services)
        runs = app.state.inline_runs = InlineRuns()
        run, _ = runs.start("booking-inline", Feature.BOOKING, lambda _: asyncio.Event().wait(), lead_id=lead_id)
        other, _ = runs.start("booking-other", Feature.BOOKING, lambda _: asyncio.Event().wait(), lead_id="someone")
        await deliver(http, client, number, "Gracias")
        await asyncio.sleep(0)
        assert (run.state, other.state) == ("CANCELED", "RUNNING")
        await runs.close()


def test_senders_that_are_not_e164_numbers_are_skipped() -> None:
    body = json.loads(wa_body("+5215512345678", "hola"))
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    body["entry"][0]["changes"][0]["value"]["messages"] = [message, {**message, "id": "x", "from": "0123"}]
    assert [m.phone for m in parse_whatsapp(body)] == ["+5215512345678"]


# --- Stripe --------------------------------------------------------------------------------
def stripe_event(kind: str, workflow_id: str | None, payment_status: str = "paid") -> bytes:
    metadata = {"workflow_id": workflow_id, "lead_id": "l1"} if workflow_id else {}
    return json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": kind,
            "created": 1_900_000_000,
            "data": {"object": {"id": "cs_test_1", "payment_status": payment_status, "metadata": metadata}},
        }
    ).encode()


async def test_stripe_completed_and_expired_signal_the_payment_workflow(hooks: Any, task_queue: str) -> None:
    http, client, _ = hooks
    done = await start_fake(client, task_queue, f"payment-l1-{uuid.uuid4().hex[:6]}", "PaymentWorkflow")
    body = stripe_event("checkout.session.completed", done.id)
    response = await http.post("/webhook/stripe", content=body, headers=stripe_headers(body))
    assert response.json() == {"signalled": "payment_completed", "workflow_id": done.id}
    [(name, signal)] = (await done.query("seen"))["signals"]
    assert name == "payment_completed"
    assert signal["session_id"] == "cs_test_1" and signal["event_id"] == json.loads(body)["id"]
    assert datetime.fromisoformat(signal["paid_at"]) == datetime.fromtimestamp(1_900_000_000, UTC)

    expired = await start_fake(client, task_queue, f"payment-l1-{uuid.uuid4().hex[:6]}", "PaymentWorkflow")
    body = stripe_event("checkout.session.expired", expired.id, payment_status="unpaid")
    assert (await http.post("/webhook/stripe", content=body, headers=stripe_headers(body))).status_code == 200
    assert [n for n, _ in (await expired.query("seen"))["signals"]] == ["payment_expired"]


async def test_stripe_refuses_forged_stale_and_replayed_events(hooks: Any) -> None:
    http, _, _ = hooks
    body = stripe_event("checkout.session.completed", "payment-x")
    assert (await http.post("/webhook/stripe", content=body)).status_code == 401
    assert (
        await http.post("/webhook/stripe", content=body, headers=stripe_headers(body, "whsec_other"))
    ).status_code == 403
    stale = stripe_headers(body, at=int(time.time()) - 3600)
    assert (await http.post("/webhook/stripe", content=body, headers=stale)).status_code == 403
    signed = stripe_headers(body)
    first = await http.post("/webhook/stripe", content=body, headers=signed)
    assert first.status_code == 200  # no such workflow: acknowledged, ignored
    assert first.json()["ignored"] == "checkout.session.completed"
    assert (await http.post("/webhook/stripe", content=body, headers=signed)).status_code == 403  # a replay


async def test_stripe_events_we_do_not_use_are_acknowledged(hooks: Any) -> None:
    http, _, _ = hooks
    for body in (stripe_event("invoice.paid", "payment-x"), stripe_event("checkout.session.completed", None)):
        response = await http.post("/webhook/stripe", content=body, headers=stripe_headers(body))
        assert response.status_code == 200 and "ignored" in response.json()


# --- Cal.com -------------------------------------------------------------------------------
def cal_event(
    kind: str, lead_id: str | None, start: str = "2031-05-01T15:00:00Z", end: str = "2031-05-01T15:30:00Z"
) -> bytes:
    payload: dict[str, Any] = {"uid": "cal-1", "startTime": start, "endTime": end, "metadata": {}}
    if lead_id:
        payload["metadata"]["lead_id"] = lead_id
    return json.dumps({"triggerEvent": kind, "createdAt": datetime.now(UTC).isoformat(), "payload": payload}).encode()


@pytest.mark.parametrize("kind", ["BOOKING_RESCHEDULED", "BOOKING_CANCELLED"])
async def test_calcom_change_moves_or_cancels_the_three_demo_followups(hooks: Any, task_queue: str, kind: str) -> None:
    http, client, _ = hooks
    lead_id = f"lead-{uuid.uuid4().hex[:8]}"
    demo = [
        await start_fake(client, task_queue, f"followup-{lead_id}-{t}")
        for t in ("pre_demo_24h", "pre_demo_reminder", "post_demo")
    ]
    later = await start_fake(client, task_queue, f"followup-{lead_id}-said_later")
    body = cal_event(kind, lead_id)
    response = await http.post("/webhook/calcom", content=body, headers=cal_headers(body))
    assert response.status_code == 200
    assert sorted(response.json()["workflows"]) == sorted(h.id for h in demo)
    for handle in demo:
        [(name, signal)] = (await handle.query("seen"))["signals"]
        assert name == "demo_changed"
        if kind == "BOOKING_CANCELLED":
            assert signal["cancelled"] is True
        else:
            assert datetime.fromisoformat(signal["demo_start"]) == datetime(2031, 5, 1, 15, tzinfo=UTC)
            assert datetime.fromisoformat(signal["demo_end"]) == datetime(2031, 5, 1, 15, 30, tzinfo=UTC)
    assert (await later.query("seen"))["signals"] == []


async def test_calcom_refuses_forged_and_acknowledges_other_events(hooks: Any) -> None:
    http, _, _ = hooks
    body = cal_event("BOOKING_CANCELLED", "lead-x")
    assert (await http.post("/webhook/calcom", content=body)).status_code == 401
    assert (await http.post("/webhook/calcom", content=body, headers=cal_headers(body, "nope"))).status_code == 403
    for other in (cal_event("BOOKING_CREATED", "lead-x"), cal_event("BOOKING_CANCELLED", None)):
        response = await http.post("/webhook/calcom", content=other, headers=cal_headers(other))
        assert response.status_code == 200 and "ignored" in response.json()
