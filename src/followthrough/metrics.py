"""Custom Prometheus metrics and the SDK's own, exposed side by side.

Two sources, one scrape:

* **Followthrough's metrics** live in the ``prometheus_client`` default registry of the process:
  ``followthrough_workflow_completions_total{workflow_type, outcome}`` and
  ``followthrough_workflow_duration_seconds{workflow_type, outcome}`` (a histogram of the time
  from the workflow's start to its close, in workflow time, so days of durable sleep count).
  A worker interceptor (:func:`worker_interceptors`) records them when a workflow closes with
  an outcome of ``completed``, ``unsuccessful`` (it completed, but its result says the business
  step did not succeed: a saga that rolled back, ``success``/``ok`` false), ``failed``,
  ``cancelled`` or ``continued_as_new``. Terminated and
  timed-out executions run no workflow code and are therefore not counted here (the SDK's and
  the server's metrics count them).
  ``followthrough_signals_dropped_total{workflow_type, signal, reason}`` counts the signals a
  workflow dropped because their payload did not fit the handler (``temporal/guard.py``).
  The rest, with bounded labels only (route templates, provider and operation names; never an
  id): ``followthrough_http_requests_total{route, method, status_class}`` and
  ``followthrough_http_request_duration_seconds{route, method}`` (``api/http_metrics.py``);
  ``followthrough_provider_calls_total{provider, operation, outcome}`` and
  ``followthrough_provider_call_duration_seconds{provider, operation}`` (every side effect goes
  through the outbox's ``once``, so that is where they are measured); ``followthrough_outbox_entries{state}``
  (a gauge read from the store when ``GET /metrics`` is scraped: the outbox is shared by every
  process, so the store, not one process's counter, knows the backlog); and
  ``followthrough_webhook_deliveries_total{provider, result}`` (``api/webhook_common.py``).
* **The SDK's metrics** (``temporal_*``: task latencies, pollers, activity counts…) are exported
  by the Core runtime's own Prometheus endpoint when ``FOLLOWTHROUGH_SDK_METRICS_ADDRESS`` is
  set (:func:`runtime_for` builds that runtime; the client must be connected with it).

``GET /metrics`` (``api/routes/metrics.py``) answers both: this process's registry followed by
the SDK endpoint's text. A worker-only process serves its registry with
:func:`start_exporter` on ``FOLLOWTHROUGH_METRICS_ADDRESS``.

The interceptor runs inside the workflow sandbox, so it reaches the registry through an extern
function (the SDK's sanctioned way out of the sandbox) and records nothing while replaying:
a workflow evicted from the cache and replayed later is counted once.
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from temporalio import workflow
from temporalio.exceptions import CancelledError, FailureError, is_cancelled_exception
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from followthrough.config import Settings
from followthrough.errors import FollowthroughError

#: Seconds; from a health check (sub-second) to a campaign (weeks).
DURATION_BUCKETS: tuple[float, ...] = (
    0.1,
    0.5,
    1,
    5,
    30,
    60,
    300,
    900,
    3600,
    6 * 3600,
    24 * 3600,
    3 * 24 * 3600,
    7 * 24 * 3600,
    30 * 24 * 3600,
)

OUTCOMES = ("completed", "unsuccessful", "failed", "cancelled", "continued_as_new")

WORKFLOW_COMPLETIONS = Counter(
    "followthrough_workflow_completions",
    "Workflow executions that closed, by workflow type and outcome.",
    ["workflow_type", "outcome"],
)
WORKFLOW_DURATION = Histogram(
    "followthrough_workflow_duration_seconds",
    "Time from a workflow's start to its close (workflow time), by workflow type and outcome.",
    ["workflow_type", "outcome"],
    buckets=DURATION_BUCKETS,
)

SIGNALS_DROPPED = Counter(
    "followthrough_signals_dropped",
    "Signals a workflow dropped because their payload did not fit the handler "
    "(reason: missing, arguments, wrong_type, undecodable).",
    ["workflow_type", "signal", "reason"],
)

#: Seconds; from a local request (milliseconds) to a slow provider (its 20 s timeout and past it).
LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

HTTP_REQUESTS = Counter(
    "followthrough_http_requests",
    "API requests by route template (unmatched: no route), method and status class (2xx…5xx).",
    ["route", "method", "status_class"],
)
HTTP_DURATION = Histogram(
    "followthrough_http_request_duration_seconds",
    "Time to answer an API request, by route template and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
PROVIDER_CALLS = Counter(
    "followthrough_provider_calls",
    "Calls made to a provider (sandboxes included; outbox replays are not calls), by provider, "
    "operation and outcome (ok, retryable, permanent, error).",
    ["provider", "operation", "outcome"],
)
PROVIDER_CALL_DURATION = Histogram(
    "followthrough_provider_call_duration_seconds",
    "Time a provider call took, by provider and operation.",
    ["provider", "operation"],
    buckets=LATENCY_BUCKETS,
)
OUTBOX_STATES = ("pending", "sent", "failed")
OUTBOX_ENTRIES = Gauge(
    "followthrough_outbox_entries",
    "Outbox entries by state, read from the store when GET /metrics is scraped.",
    ["state"],
)
WEBHOOK_RESULTS = ("accepted", "refused", "duplicate")
WEBHOOK_DELIVERIES = Counter(
    "followthrough_webhook_deliveries",
    "Provider webhook deliveries: accepted (handled), refused (missing, forged, stale or replayed "
    "signature) or duplicate (a redelivery of a handled event), by provider.",
    ["provider", "result"],
)

_EXTERN = "followthrough_record_workflow_close"


def record_http_request(route: str, method: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(route=route, method=method, status_class=f"{status // 100}xx").inc()
    HTTP_DURATION.labels(route=route, method=method).observe(seconds)


def call_outcome(exc: BaseException | None) -> str:
    """``ok``; ``retryable`` / ``permanent`` for our error classes; ``error`` for anything else."""
    if exc is None:
        return "ok"
    if isinstance(exc, FollowthroughError):
        return "retryable" if exc.retryable else "permanent"
    return "error"


def record_provider_call(provider: str, operation: str, exc: BaseException | None, seconds: float) -> None:
    PROVIDER_CALLS.labels(provider=provider, operation=operation, outcome=call_outcome(exc)).inc()
    PROVIDER_CALL_DURATION.labels(provider=provider, operation=operation).observe(seconds)


def set_outbox_entries(counts: dict[str, int]) -> None:
    """Every known state is set (0 when none), so a drained backlog reads 0, not a gap."""
    for state in (*OUTBOX_STATES, *(s for s in counts if s not in OUTBOX_STATES)):
        OUTBOX_ENTRIES.labels(state=state).set(counts.get(state, 0))


def record_webhook(provider: str, result: str) -> None:
    WEBHOOK_DELIVERIES.labels(provider=provider, result=result).inc()


def record_signal_dropped(workflow_type: str, signal: str, reason: str) -> None:
    SIGNALS_DROPPED.labels(workflow_type=workflow_type, signal=signal, reason=reason).inc()


def record_workflow_close(workflow_type: str, outcome: str, duration_seconds: float) -> None:
    """Count one closed workflow and observe its duration."""
    WORKFLOW_COMPLETIONS.labels(workflow_type=workflow_type, outcome=outcome).inc()
    WORKFLOW_DURATION.labels(workflow_type=workflow_type, outcome=outcome).observe(max(duration_seconds, 0.0))


def completed_outcome(result: Any) -> str:
    """``unsuccessful`` for a result that reports its own failure (``success`` or ``ok`` False:
    a rolled-back onboarding, deployment or booking), else ``completed``."""
    for field in ("success", "ok"):
        value = result.get(field) if isinstance(result, dict) else getattr(result, field, None)
        if value is False:
            return "unsuccessful"
    return "completed"


def outcome_of(exc: BaseException | None) -> str | None:
    """The outcome label for how ``execute_workflow`` ended, or None when it is not a close.

    Any exception other than a Temporal failure or cancellation fails the workflow *task*
    (the SDK retries it), not the workflow, so it is not a close.
    """
    if exc is None:
        return "completed"
    if isinstance(exc, workflow.ContinueAsNewError):
        return "continued_as_new"
    if isinstance(exc, CancelledError) or is_cancelled_exception(exc):
        return "cancelled"
    if isinstance(exc, FailureError):
        return "failed"
    return None


class _MetricsWorkflowInbound(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        try:
            result = await self.next.execute_workflow(input)
        except BaseException as exc:
            self._record(outcome_of(exc))
            raise
        self._record(completed_outcome(result))
        return result

    @staticmethod
    def _record(outcome: str | None) -> None:
        if outcome is None or workflow.unsafe.is_replaying():
            return
        info = workflow.info()
        started: datetime = info.workflow_start_time or info.start_time
        duration = (workflow.now() - started).total_seconds()
        workflow.extern_functions()[_EXTERN](info.workflow_type, outcome, duration)


class MetricsInterceptor(Interceptor):
    """Records :data:`WORKFLOW_COMPLETIONS` and :data:`WORKFLOW_DURATION` for every workflow."""

    def __init__(self, record: Callable[[str, str, float], None] = record_workflow_close) -> None:
        self._record = record

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        input.unsafe_extern_functions[_EXTERN] = self._record
        return _MetricsWorkflowInbound


def worker_interceptors() -> list[Interceptor]:
    """The interceptors every worker takes: ``Worker(..., interceptors=worker_interceptors())``:
    the payload guard (a bad signal or update never fails a workflow task) and the metrics."""
    from followthrough.temporal.guard import PayloadGuardInterceptor  # temporal/ imports this module

    return [PayloadGuardInterceptor(record_signal_dropped), MetricsInterceptor()]


_runtimes: dict[str, Runtime] = {}
_runtimes_lock = threading.Lock()


def runtime_for(settings: Settings) -> Runtime | None:
    """The Temporal runtime exporting the SDK's metrics on ``FOLLOWTHROUGH_SDK_METRICS_ADDRESS``.

    None when the setting is unset (the SDK's default runtime, no exporter). One runtime per
    address per process: the exporter binds its port once, and every client of the process
    (``Client.connect(..., runtime=...)``) shares it.
    """
    address = settings.followthrough_sdk_metrics_address
    if address is None:
        return None
    with _runtimes_lock:
        runtime = _runtimes.get(address)
        if runtime is None:
            telemetry = TelemetryConfig(
                metrics=PrometheusConfig(bind_address=address, counters_total_suffix=True, durations_as_seconds=True)
            )
            runtime = _runtimes[address] = Runtime(telemetry=telemetry)
        return runtime


def start_exporter(settings: Settings, registry: CollectorRegistry = REGISTRY) -> bool:
    """Serve this process's registry on ``FOLLOWTHROUGH_METRICS_ADDRESS`` (worker-only processes).

    Returns False when the setting is unset. The API process does not need it: ``GET /metrics``.
    """
    address = settings.followthrough_metrics_address
    if address is None:
        return False
    host, _, port = address.rpartition(":")
    start_http_server(int(port), addr=host or "0.0.0.0", registry=registry)
    return True


def sdk_metrics_text(settings: Settings, timeout: float = 2.0) -> str:
    """The SDK exporter's current text, or a comment saying why there is none."""
    address = settings.followthrough_sdk_metrics_address
    if address is None:
        return "# SDK metrics: FOLLOWTHROUGH_SDK_METRICS_ADDRESS is not set\n"
    host, _, port = address.rpartition(":")
    host = "127.0.0.1" if host in ("", "0.0.0.0", "[::]", "::") else host
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout) as resp:  # noqa: S310
            text: str = resp.read().decode()
    except OSError as exc:
        return f"# SDK metrics unavailable at {address}: {type(exc).__name__}\n"
    return text if text.endswith("\n") or not text else text + "\n"


def exposition(settings: Settings, registry: CollectorRegistry = REGISTRY) -> str:
    """What ``GET /metrics`` answers: this process's registry, then the SDK's metrics."""
    return generate_latest(registry).decode() + sdk_metrics_text(settings)
