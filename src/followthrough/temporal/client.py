"""The Temporal client, configured from :class:`~followthrough.config.Settings` only.

Three ways in, chosen by which settings are present:

* plain: ``TEMPORAL_ADDRESS`` (or the embedded dev server), no TLS;
* API key (Temporal Cloud): ``TEMPORAL_API_KEY``, TLS on;
* mTLS: ``TEMPORAL_TLS_CERT``/``TEMPORAL_TLS_KEY`` (base64) or their ``*_PATH`` twins.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from followthrough import tracing
from followthrough.config import Settings
from followthrough.metrics import runtime_for
from followthrough.temporal.converter import data_converter


class TemporalUnavailable(Exception):
    """Temporal did not answer at the configured address."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"Temporal is unreachable at {address}: {reason}")
        self.address = address
        self.reason = reason


def tls_config(settings: Settings) -> TLSConfig | bool:
    material = settings.tls_material()
    if material is not None:
        cert, key = material
        return TLSConfig(client_cert=cert, client_private_key=key)
    return settings.temporal_api_key is not None


async def connect(
    settings: Settings,
    *,
    converter: DataConverter | None = None,
    timeout: float | None = 10.0,
) -> Client:
    """Connect to Temporal, raising :class:`TemporalUnavailable` instead of a gRPC traceback."""
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    try:
        return await _connect(settings, api_key, converter, timeout)
    except TemporalUnavailable:
        raise
    except Exception as exc:  # the SDK raises RuntimeError with the core's message
        raise TemporalUnavailable(settings.target_address, str(exc).splitlines()[0]) from None


async def _connect(
    settings: Settings, api_key: str | None, converter: DataConverter | None, timeout: float | None
) -> Client:
    coro = Client.connect(
        settings.target_address,
        namespace=settings.temporal_namespace,
        api_key=api_key,
        tls=tls_config(settings),
        data_converter=converter or data_converter(settings),
        runtime=runtime_for(settings),  # exports the SDK's own metrics when configured
        interceptors=tracing.client_interceptors(),  # spans, when OTEL_EXPORTER_OTLP_* is set (the worker's too)
    )
    if timeout is None:
        return await coro
    try:
        return await asyncio.wait_for(coro, timeout)
    except TimeoutError:
        raise TemporalUnavailable(settings.target_address, f"no answer within {timeout:g}s") from None


__all__ = ["Client", "TemporalUnavailable", "connect", "data_converter", "signal_if_running", "tls_config"]


async def signal_if_running(client: Client, workflow_id: str, signal: str | Callable[..., Any], arg: Any) -> bool:
    """Signal the current run of ``workflow_id``; False when none runs (never started, or
    closed: Temporal answers NOT_FOUND to both). Any other error is raised."""
    try:
        await client.get_workflow_handle(workflow_id).signal(signal, arg)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        return False
    return True
