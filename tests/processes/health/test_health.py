"""HealthCheckWorkflow on the time-skipping server."""

import uuid

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from followthrough.catalog import build_activities
from followthrough.processes.health.rules import CheckDependencyInput, DependencyReport, HealthCheckInput, HealthReport
from followthrough.processes.health.workflow import HealthCheckWorkflow
from followthrough.services import Services


async def test_reports_every_dependency_of_the_deployment(ts_env: WorkflowEnvironment, services: Services) -> None:
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        ts_env.client, task_queue=tq, workflows=[HealthCheckWorkflow], activities=build_activities(services)
    ):
        report = await ts_env.client.execute_workflow(
            HealthCheckWorkflow.run, HealthCheckInput(), id=f"health-{uuid.uuid4()}", task_queue=tq
        )
    assert isinstance(report, HealthReport)
    assert [d.name for d in report.dependencies] == ["temporal", "database"]
    assert report.ok
    assert report.dependencies[1].detail == "sqlite"


async def test_a_failing_dependency_is_reported_not_raised(ts_env: WorkflowEnvironment, services: Services) -> None:
    async def broken() -> str:
        raise ConnectionRefusedError("store down")

    services.extra_health_checks["crm"] = broken
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        ts_env.client, task_queue=tq, workflows=[HealthCheckWorkflow], activities=build_activities(services)
    ):
        report = await ts_env.client.execute_workflow(
            HealthCheckWorkflow.run, HealthCheckInput(), id=f"health-{uuid.uuid4()}", task_queue=tq
        )
    by_name = {d.name: d for d in report.dependencies}
    assert not report.ok
    assert by_name["database"].ok
    assert not by_name["crm"].ok
    assert by_name["crm"].detail == "ConnectionRefusedError: store down"


async def test_an_activity_that_times_out_is_reported(ts_env: WorkflowEnvironment) -> None:
    @activity.defn(name="health.check")
    async def hangs(input: CheckDependencyInput) -> DependencyReport:
        raise RuntimeError("boom")

    tq = f"tq-{uuid.uuid4()}"
    async with Worker(ts_env.client, task_queue=tq, workflows=[HealthCheckWorkflow], activities=[hangs]):
        report = await ts_env.client.execute_workflow(
            HealthCheckWorkflow.run, HealthCheckInput(dependencies=["x"]), id=f"health-{uuid.uuid4()}", task_queue=tq
        )
    assert not report.ok
    assert "boom" in (report.dependencies[0].detail or "")


async def test_record_history_for_replay(ts_env: WorkflowEnvironment, services: Services) -> None:
    """Keeps tests/histories/health/all_green.json current only when RECORD_HISTORIES=1."""
    import os

    from tests.record import HISTORIES, save_history

    tq = f"tq-{uuid.uuid4()}"
    acts = build_activities(services)
    async with Worker(ts_env.client, task_queue=tq, workflows=[HealthCheckWorkflow], activities=acts):
        handle = await ts_env.client.start_workflow(
            HealthCheckWorkflow.run, HealthCheckInput(), id="health-recorded", task_queue=tq
        )
        await handle.result()
        if os.environ.get("RECORD_HISTORIES") == "1" or not (HISTORIES / "health" / "all_green.json").exists():
            await save_history(handle, "health", "all_green")
    assert (HISTORIES / "health" / "all_green.json").exists()
