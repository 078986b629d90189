"""OpenTelemetry tracing: one trace from an HTTP request or webhook, through the workflow start,
the workflow, each activity, to the provider's HTTP call.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set,
and then at no cost: nothing of OpenTelemetry is imported, no interceptor is added, nothing is
instrumented. When on, :func:`setup` (called once by `dev`, `worker` and `api`):

* exports spans over OTLP/HTTP, configured by the standard variables (``OTEL_SERVICE_NAME``,
  ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``…);
* instruments httpx, so every provider client's request is a span (and carries
  ``traceparent``);
* makes :func:`client_interceptors` return the SDK's
  :class:`~temporalio.contrib.opentelemetry.TracingInterceptor`, which :func:`followthrough.temporal.connect`
  puts on the client. The worker takes it from its client (the SDK adds a client's interceptors
  that are also worker interceptors to every worker built on it): ``StartWorkflow`` /
  ``SignalWorkflow`` on the caller's side, ``RunWorkflow``, ``StartActivity``, ``RunActivity``
  and ``HandleSignal`` on the worker's, the context carried in Temporal headers;
* lets :func:`instrument_app` wrap the FastAPI app (one server span per request, named after
  the route's template).

:func:`current_ids` gives the active span's ids for the JSON log lines (``logs.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from followthrough.redaction import redact

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from temporalio.client import Interceptor

#: Either of these turns tracing on (the OTLP exporter reads them itself).
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


@dataclass
class _Tracing:
    provider: TracerProvider
    interceptor: Interceptor


_active: _Tracing | None = None


def configured(environ: dict[str, str] | None = None) -> bool:
    """True when an OTLP endpoint is set and ``OTEL_SDK_DISABLED`` is not ``true``."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(env.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def active() -> bool:
    return _active is not None


def setup(service_name: str, *, exporter: SpanExporter | None = None) -> bool:
    """Turn tracing on for this process; False (and nothing done) when it is not configured.

    ``exporter`` (tests: an in-memory one) replaces OTLP and exports each span as it ends, and
    turns tracing on whatever the environment says. Called again, it keeps the first set-up.
    """
    global _active
    if _active is not None:
        return True
    if exporter is None and not configured():
        return False
    from opentelemetry import trace
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from temporalio.contrib.opentelemetry import TracingInterceptor

    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    resource = Resource.create({"service.name": name}).merge(OTELResourceDetector().detect())
    provider = TracerProvider(resource=resource)
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    if exporter is None:  # the process's global provider, for any other instrumented library
        trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument(
        tracer_provider=provider, request_hook=_redact_url, async_request_hook=_redact_url_async
    )
    _active = _Tracing(provider, TracingInterceptor(provider.get_tracer("followthrough")))
    return True


def _redact_url(span: Any, request: Any) -> None:
    """A span's URL masked like a log line: Telegram puts the bot token in the path."""
    if span is not None and span.is_recording():
        url = redact(str(request.url))
        span.set_attribute("http.url", url)
        span.set_attribute("url.full", url)


async def _redact_url_async(span: Any, request: Any) -> None:
    _redact_url(span, request)


def shutdown() -> None:
    """Flush the spans, stop instrumenting httpx and turn tracing off (tests, process exit)."""
    global _active
    if _active is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().uninstrument()
    _active.provider.shutdown()
    _active = None


def client_interceptors() -> list[Interceptor]:
    """The Temporal client's interceptors: the SDK's tracing interceptor when tracing is on."""
    return [] if _active is None else [_active.interceptor]


def instrument_app(app: FastAPI) -> None:
    """A server span per request (named ``METHOD /route/{template}``) when tracing is on."""
    if _active is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=_active.provider, excluded_urls="/metrics")


def current_ids() -> dict[str, Any]:
    """``trace_id`` and ``span_id`` (hex) of the active span; empty when there is none."""
    if _active is None:
        return {}
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}
