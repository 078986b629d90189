"""The metric families beside the workflow ones: HTTP requests by route template, provider
calls, outbox entries by state, webhook deliveries; and the Grafana dashboard names only
metrics that exist."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from followthrough.catalog import create_app
from followthrough.errors import RetryableError
from followthrough.services import Services
from followthrough.store.outbox import Outbox

DASHBOARD = Path(__file__).parent.parent / "docs" / "grafana-dashboard.json"
CAL_SECRET = "cal-metrics-secret"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def http(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The app with no Temporal behind it (nothing here needs it)."""
    settings = services.settings.model_copy(
        update={"temporal_address": "127.0.0.1:9", "calcom_webhook_secret": SecretStr(CAL_SECRET)}
    )
    app = create_app(settings, api_key="k", services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers={"Authorization": "Bearer k"}
    ) as client:
        yield client


async def test_requests_are_counted_by_route_template_never_by_path(http: httpx.AsyncClient) -> None:
    route = "/api/workflows/{workflow_id}"
    before = value("followthrough_http_requests_total", route=route, method="GET", status_class="5xx")
    before += value("followthrough_http_requests_total", route=route, method="GET", status_class="4xx")
    before_unmatched = value("followthrough_http_requests_total", route="unmatched", method="GET", status_class="4xx")
    await http.get(f"/api/workflows/wf-{uuid.uuid4().hex}")
    await http.get(f"/no/such/{uuid.uuid4().hex}")
    after = value("followthrough_http_requests_total", route=route, method="GET", status_class="5xx")
    after += value("followthrough_http_requests_total", route=route, method="GET", status_class="4xx")
    assert after == before + 1
    after_unmatched = value("followthrough_http_requests_total", route="unmatched", method="GET", status_class="4xx")
    assert after_unmatched == before_unmatched + 1
    assert value("followthrough_http_request_duration_seconds_count", route=route, method="GET") >= 1
    routes = {s.labels["route"] for m in REGISTRY.collect() for s in m.samples if "route" in s.labels}
    assert not any("wf-" in r or "/no/such" in r for r in routes)


async def test_provider_calls_are_counted_by_outcome_and_timed_and_replays_are_not_calls(services: Services) -> None:
    outbox = Outbox(services.database)
    labels = {"provider": "calcom", "operation": "create_booking"}
    ok, retryable = (
        value("followthrough_provider_calls_total", **labels, outcome="ok"),
        value("followthrough_provider_calls_total", **labels, outcome="retryable"),
    )

    async def succeed() -> dict[str, object]:
        return {"uid": "bk"}

    async def fail() -> dict[str, object]:
        raise RetryableError("503", provider="calcom")

    key = f"k-{uuid.uuid4().hex}"
    await outbox.once(provider="calcom", operation="create_booking", idempotency_key=key, request={}, call=succeed)
    await outbox.once(provider="calcom", operation="create_booking", idempotency_key=key, request={}, call=succeed)
    with pytest.raises(RetryableError):
        await outbox.once(
            provider="calcom", operation="create_booking", idempotency_key=f"{key}-2", request={}, call=fail
        )
    assert value("followthrough_provider_calls_total", **labels, outcome="ok") == ok + 1
    assert value("followthrough_provider_calls_total", **labels, outcome="retryable") == retryable + 1
    assert value("followthrough_provider_call_duration_seconds_count", **labels) >= 2


async def test_the_outbox_gauge_is_read_from_the_store_at_scrape_time(
    http: httpx.AsyncClient, services: Services
) -> None:
    outbox = Outbox(services.database)

    async def succeed() -> dict[str, object]:
        return {}

    for n in range(2):
        await outbox.once(provider="p", operation="o", idempotency_key=f"g-{n}", request={}, call=succeed)
    await outbox.begin(provider="p", operation="o", idempotency_key="g-pending", request={})
    text = (await http.get("/metrics")).text
    expected = await outbox.counts()
    assert expected.get("sent", 0) >= 2 and expected.get("pending", 0) >= 1
    for state in ("pending", "sent", "failed"):
        assert f'followthrough_outbox_entries{{state="{state}"}} {float(expected.get(state, 0))}' in text


def cal_body() -> bytes:
    uid = uuid.uuid4().hex
    return json.dumps({"triggerEvent": "BOOKING_CREATED", "payload": {"uid": uid, "metadata": {}}}).encode()


async def test_webhook_deliveries_are_counted_accepted_refused_and_duplicate(http: httpx.AsyncClient) -> None:
    counts = {
        r: value("followthrough_webhook_deliveries_total", provider="calcom", result=r)
        for r in ("accepted", "refused", "duplicate")
    }
    body = cal_body()
    signed = {"X-Cal-Signature-256": hmac.new(CAL_SECRET.encode(), body, hashlib.sha256).hexdigest()}
    assert (await http.post("/webhook/calcom", content=body)).status_code == 401
    assert (await http.post("/webhook/calcom", content=body, headers=signed)).status_code == 200
    again = await http.post("/webhook/calcom", content=body, headers=signed)
    assert again.status_code == 200 and again.json().get("duplicate") is True
    for result, moved in (("refused", 1), ("accepted", 1), ("duplicate", 1)):
        assert (
            value("followthrough_webhook_deliveries_total", provider="calcom", result=result) == counts[result] + moved
        )


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b(followthrough_[a-z_]+)", expr))


async def test_every_metric_the_dashboard_charts_exists(http: httpx.AsyncClient, services: Services) -> None:
    # Exercise every family once, so each has samples in the registry.
    await test_webhook_deliveries_are_counted_accepted_refused_and_duplicate(http)
    await test_provider_calls_are_counted_by_outcome_and_timed_and_replays_are_not_calls(services)
    await http.get("/metrics")
    known = {s.name for m in REGISTRY.collect() for s in m.samples}
    known |= {m.name for m in REGISTRY.collect()}  # histograms and counters by their family names too
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert exprs
    named = set().union(*(metric_names(e) for e in exprs))
    assert {"followthrough_http_requests_total", "followthrough_outbox_entries"} <= named
    missing = {n for n in named if n not in known and not n.startswith("followthrough_workflow_")}
    assert not missing, missing
    # the workflow families are declared (their samples appear once a workflow closes)
    assert {"followthrough_workflow_completions", "followthrough_workflow_duration_seconds"} <= {
        m.name for m in REGISTRY.collect()
    }
