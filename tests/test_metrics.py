"""Custom metrics: the worker interceptor counts closes by type and outcome and times them; the
SDK's own metrics come from the runtime's Prometheus exporter; GET /metrics shows both."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

# This module defines a workflow, so the sandbox re-imports it: everything else passes through.
with workflow.unsafe.imports_passed_through():
    import httpx
    import pytest
    from prometheus_client import REGISTRY

    from followthrough.catalog import create_app
    from followthrough.config import Settings
    from followthrough.metrics import runtime_for, sdk_metrics_text, worker_interceptors
    from followthrough.services import Services
    from followthrough.temporal.devserver import free_port
    from tests.conftest import API_KEY


@workflow.defn
class MetricsProbeWorkflow:
    @workflow.run
    async def run(self, fail: bool) -> str:
        await workflow.sleep(timedelta(hours=2))
        if fail:
            raise ApplicationError("refused", type="ValidationError", non_retryable=True)
        return "ok"


@workflow.defn
class MetricsSagaProbeWorkflow:
    """Completes with a result that says whether its business step succeeded."""

    @workflow.run
    async def run(self, success: bool) -> dict[str, object]:
        return {"success": success, "compensated": [] if success else ["store"]}


def count(outcome: str, workflow_type: str = "MetricsProbeWorkflow") -> float:
    labels = {"workflow_type": workflow_type, "outcome": outcome}
    return REGISTRY.get_sample_value("followthrough_workflow_completions_total", labels) or 0.0


def duration_sum(outcome: str) -> float:
    labels = {"workflow_type": "MetricsProbeWorkflow", "outcome": outcome}
    return REGISTRY.get_sample_value("followthrough_workflow_duration_seconds_sum", labels) or 0.0


async def test_a_completed_and_a_failed_workflow_move_the_counter_with_their_labels(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    before = {o: count(o) for o in ("completed", "failed")}
    seconds_before = duration_sum("completed")
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=[MetricsProbeWorkflow], interceptors=worker_interceptors()
    ):
        ok = await ts_env.client.execute_workflow(
            MetricsProbeWorkflow.run, False, id=f"m-{uuid.uuid4()}", task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError):
            await ts_env.client.execute_workflow(
                MetricsProbeWorkflow.run, True, id=f"m-{uuid.uuid4()}", task_queue=task_queue
            )
    assert ok == "ok"
    assert count("completed") == before["completed"] + 1
    assert count("failed") == before["failed"] + 1
    # workflow time: the two hours of (skipped) sleep count
    assert duration_sum("completed") - seconds_before == pytest.approx(7200, abs=5)


async def test_a_saga_that_completes_rolled_back_is_counted_unsuccessful(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    kind = "MetricsSagaProbeWorkflow"
    before = {o: count(o, kind) for o in ("completed", "unsuccessful")}
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=[MetricsSagaProbeWorkflow], interceptors=worker_interceptors()
    ):
        for success in (True, False):
            await ts_env.client.execute_workflow(
                MetricsSagaProbeWorkflow.run, success, id=f"m-{uuid.uuid4()}", task_queue=task_queue
            )
    assert count("completed", kind) == before["completed"] + 1
    assert count("unsuccessful", kind) == before["unsuccessful"] + 1


async def test_a_cancelled_workflow_is_counted_as_cancelled(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    before = count("cancelled")
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=[MetricsProbeWorkflow], interceptors=worker_interceptors()
    ):
        handle = await ts_env.client.start_workflow(
            MetricsProbeWorkflow.run, False, id=f"m-{uuid.uuid4()}", task_queue=task_queue
        )
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    assert count("cancelled") == before + 1


def test_no_sdk_runtime_without_the_setting(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    assert runtime_for(settings) is None
    assert sdk_metrics_text(settings).startswith("# SDK metrics: FOLLOWTHROUGH_SDK_METRICS_ADDRESS is not set")


async def test_the_sdk_exporter_serves_temporal_metrics_and_get_metrics_shows_both(
    dev_server: object, make_settings: Callable[..., Settings], services: Services, task_queue: str
) -> None:
    from followthrough.temporal.converter import data_converter

    address = f"127.0.0.1:{free_port()}"
    settings = make_settings(followthrough_sdk_metrics_address=address)
    runtime = runtime_for(settings)
    assert runtime is not None and runtime_for(settings) is runtime  # one per address per process
    client = await Client.connect(
        dev_server.address,  # type: ignore[attr-defined]
        data_converter=data_converter(settings),
        runtime=runtime,
    )
    async with Worker(client, task_queue=task_queue, workflows=[MetricsProbeWorkflow]):
        pass  # a worker start registers the SDK's worker metrics
    app = create_app(settings, api_key=API_KEY, services=services, client=client)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {API_KEY}"},
    ) as api:
        resp = await api.get("/metrics")
        unauthorised = await api.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    assert "followthrough_workflow_completions_total" in resp.text
    assert "temporal_" in resp.text  # the SDK's own series, from the runtime's exporter
    assert unauthorised.status_code == 401
