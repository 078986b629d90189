"""One trace from the HTTP request to the provider's HTTP call, through Temporal.

Tracing is turned on with an in-memory exporter (``tracing.setup(exporter=...)``); the API, the
client and the worker are the product's own, on the dev server, and the Cal.com client is the
real one, answered by respx, so its call is a real httpx request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from followthrough import tracing
from followthrough.catalog import build_worker, create_app
from followthrough.config import Settings
from followthrough.leads.models import LeadRepliedSignal
from followthrough.logs import JsonFormatter
from followthrough.processes.campaigns.graph import LeadOutreachInput
from followthrough.processes.campaigns.lead import LeadOutreachWorkflow
from followthrough.services import Services
from tests.conftest import API_KEY, copy_sqlite, running
from tests.processes.campaigns.outreach_support import seed

CAL = "https://cal.fake"


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert tracing.setup("followthrough-test", exporter=exporter)
    try:
        yield exporter
    finally:
        tracing.shutdown()


@pytest.fixture
def traced_client(dev_client: Client, spans: InMemorySpanExporter) -> Client:
    """The session's client with the tracing interceptor, as ``temporal.connect`` builds it."""
    spans.clear()
    return Client(**{**dev_client.config(), "interceptors": tracing.client_interceptors()})


def named(exporter: InMemorySpanExporter, prefix: str) -> ReadableSpan:
    found = [s for s in exporter.get_finished_spans() if s.name == prefix]
    assert found, f"no span {prefix!r} in {sorted({s.name for s in exporter.get_finished_spans()})}"
    return found[0]


def is_under(child: ReadableSpan, ancestor: ReadableSpan, exporter: InMemorySpanExporter) -> bool:
    by_id = {s.context.span_id: s for s in exporter.get_finished_spans()}
    current: ReadableSpan | None = child
    while current is not None and current.parent is not None:
        if current.parent.span_id == ancestor.context.span_id:
            return True
        current = by_id.get(current.parent.span_id)
    return False


def chain(exporter: InMemorySpanExporter, *names: str) -> list[ReadableSpan]:
    """The spans named, all in one trace, each a descendant of the one before it — except that
    the SDK hangs a workflow's commands (``StartActivity``…) beside ``RunWorkflow``, under the
    span that started the workflow, so after a ``RunWorkflow`` the next is checked against that."""
    found = [named(exporter, n) for n in names]
    for i, child in enumerate(found[1:], start=1):
        parent = found[i - 1]
        if parent.name.startswith("RunWorkflow:"):
            assert is_under(parent, found[i - 2], exporter)
            parent = found[i - 2]
        assert is_under(child, parent, exporter), f"{child.name} is not under {parent.name}"
    assert len({s.context.trace_id for s in found}) == 1
    return found


async def wait_for_span(exporter: InMemorySpanExporter, prefix: str, timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if any(s.name == prefix for s in exporter.get_finished_spans()):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no span {prefix!r} within {timeout}s")


@pytest.fixture
async def calcom_services(
    make_settings: Callable[..., Settings], migrated_sqlite_template: Path
) -> AsyncIterator[Services]:
    """Services whose calendar is the real Cal.com client, pointed at a respx fake."""
    settings = make_settings(calcom_api_key="cal_test_x", calcom_base_url=CAL, calcom_event_type_id=7)
    copy_sqlite(migrated_sqlite_template, settings.effective_database_url)
    svc = await Services.open(settings)
    try:
        yield svc
    finally:
        await svc.close()


async def test_a_booking_is_one_trace_from_the_request_to_the_calcom_call(
    traced_client: Client, calcom_services: Services, spans: InMemorySpanExporter
) -> None:
    start = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    booked = {"id": 7, "uid": "bk_1", "start": start.isoformat(), "end": (start + timedelta(minutes=30)).isoformat()}
    app = create_app(calcom_services.settings, api_key=API_KEY, services=calcom_services, client=traced_client)
    lead = {"id": f"lead-{uuid.uuid4().hex[:8]}", "phone": "+5215511119999", "name": "Ana", "language": "es"}
    body = {"lead": lead, "start": start.isoformat(), "end": (start + timedelta(minutes=30)).isoformat()}
    with respx.mock(assert_all_called=False) as fake:
        calcom = fake.post(f"{CAL}/v2/bookings").respond(201, json={"status": "success", "data": booked})
        async with (
            running(build_worker(traced_client, calcom_services)),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://testserver",
                headers={"Authorization": f"Bearer {API_KEY}"},
            ) as api,
        ):
            response = await api.post("/api/bookings", json=body)
            assert response.status_code == 202, response.text
            await traced_client.get_workflow_handle(response.json()["workflow_id"]).result()
    assert calcom.called
    request, start_wf, run_wf, start_act, run_act, http_call = chain(
        spans,
        "POST /api/bookings",
        "StartWorkflow:DemoBookingWorkflow",
        "RunWorkflow:DemoBookingWorkflow",
        "StartActivity:calendar.create_booking",
        "RunActivity:calendar.create_booking",
        "POST",  # the httpx client span of the Cal.com request
    )
    assert http_call.attributes is not None and http_call.attributes["url.full"] == f"{CAL}/v2/bookings"
    # the provider was told the trace (W3C traceparent header)
    trace_hex = format(request.context.trace_id, "032x")
    assert trace_hex in calcom.calls.last.request.headers["traceparent"]


async def test_a_campaign_lead_is_one_trace_and_a_signal_carries_its_sender_s_trace(
    traced_client: Client, services: Services, spans: InMemorySpanExporter
) -> None:
    graph = {
        "nodes": [
            {"id": "visit", "kind": "action", "action": "profile_visit"},
            {"id": "wait", "kind": "delay", "duration": 30, "unit": "calendar"},
            {"id": "done", "kind": "end"},
        ],
        "edges": [{"source": "visit", "target": "wait"}, {"source": "wait", "target": "done"}],
    }
    seeded = await seed(services, graph)
    payload = LeadOutreachInput(
        campaign_id=seeded.campaign_id,
        organization_id="org-1",
        lead_id=seeded.lead_ids[0],
        sender_account_id=seeded.account_id,
    )
    tracer = tracing._active.provider.get_tracer("test")  # type: ignore[union-attr]
    async with running(build_worker(traced_client, services)):
        with tracer.start_as_current_span("campaign start"):
            handle = await traced_client.start_workflow(
                LeadOutreachWorkflow.run,
                payload,
                id=f"campaign-{payload.campaign_id}-lead-{payload.lead_id}",
                task_queue=services.settings.temporal_task_queue,
            )
        await wait_for_span(spans, "RunActivity:linkedin.visit_profile")
        with tracer.start_as_current_span("webhook unipile"):
            await handle.signal(LeadOutreachWorkflow.lead_replied, LeadRepliedSignal(message_id="m-1"))
        await handle.result()
    started, *_ = chain(
        spans,
        "campaign start",
        "StartWorkflow:LeadOutreachWorkflow",
        "RunWorkflow:LeadOutreachWorkflow",
        "StartActivity:linkedin.visit_profile",
        "RunActivity:linkedin.visit_profile",
    )
    _, sent = chain(spans, "webhook unipile", "SignalWorkflow:lead_replied")
    # The SDK's choice: the workflow's handling of a signal belongs to the workflow's trace and
    # links to the sender's span (the webhook's trace), which the signal's header carried.
    handled = named(spans, "HandleSignal:lead_replied")
    assert handled.context.trace_id == started.context.trace_id
    assert [link.context.span_id for link in handled.links] == [sent.context.span_id]


def test_a_provider_url_s_token_never_reaches_a_span(spans: InMemorySpanExporter) -> None:
    spans.clear()
    token = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef123"
    with respx.mock() as fake, httpx.Client() as http:
        fake.get(url__startswith="https://api.telegram.org/").respond(200)
        http.get(f"https://api.telegram.org/bot{token}/getMe")
    [span] = [s for s in spans.get_finished_spans() if s.name == "GET"]
    assert span.attributes is not None
    assert token not in str(dict(span.attributes)) and "bot[token]" in str(span.attributes["url.full"])


def test_json_log_lines_carry_the_active_span_s_ids(spans: InMemorySpanExporter) -> None:
    tracer = tracing._active.provider.get_tracer("test")  # type: ignore[union-attr]
    record = logging.LogRecord("followthrough.test", logging.INFO, __file__, 1, "hello", None, None)
    assert "trace_id" not in json.loads(JsonFormatter().format(record))
    with tracer.start_as_current_span("work") as span:
        line: dict[str, Any] = json.loads(JsonFormatter().format(record))
    context = span.get_span_context()
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")
