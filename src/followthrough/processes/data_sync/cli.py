"""`followthrough schedule …`: Temporal Schedules that start a workflow every N minutes.

    followthrough schedule create data-sync --every 5m       DataSyncWorkflow every 5 minutes
    followthrough schedule create nightly --workflow HealthCheckWorkflow --every 1d
    followthrough schedule list | describe ID | trigger ID | delete ID

The schedule lives in Temporal (it survives restarts of everything here); each run gets the id
``{schedule id}-{timestamp}``. Overlap policy SKIP: a run still going when the next is due
makes that one skipped, never two at once. Creating an existing id updates its interval and
input instead of failing.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

import typer
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from followthrough.console import emit, parse_json, run, settings_or_exit, workflow_specs
from followthrough.store.repositories.api_keys import ORGANIZATION_PATTERN
from followthrough.temporal.client import connect
from followthrough.temporal.operations import Workflows
from followthrough.temporal.specs import WorkflowSpecs

NAME = "schedule"
app = typer.Typer(help="Temporal Schedules: start a workflow every N minutes.", no_args_is_help=True)

#: Schedule ids that imply their workflow type.
KNOWN_SCHEDULES = {"data-sync": "DataSyncWorkflow"}

_EVERY = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_every(value: str) -> timedelta:
    """``30s``, ``5m``, ``2h``, ``1d`` → a timedelta (at least a second)."""
    match = _EVERY.match(value.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"--every {value!r}: give a positive number and a unit, e.g. 30s, 5m, 2h, 1d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _id_prefix(schedule_id: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}", schedule_id):
        raise ValueError(f"schedule id {schedule_id!r}: letters, digits, '.', '_' and '-' only")
    return schedule_id


def _summary(desc: ScheduleDescription) -> dict[str, Any]:
    action = desc.schedule.action
    intervals = desc.schedule.spec.intervals
    return {
        "schedule_id": desc.id,
        "workflow": getattr(action, "workflow", None),
        "task_queue": getattr(action, "task_queue", None),
        "every_seconds": intervals[0].every.total_seconds() if intervals else None,
        "paused": desc.schedule.state.paused,
        "actions_taken": desc.info.num_actions,
        "recent_runs": [getattr(a.action, "workflow_id", None) for a in desc.info.recent_actions],
        "next_runs": [t.isoformat() for t in desc.info.next_action_times[:3]],
    }


async def create_schedule(
    client: Client,
    task_queue: str,
    schedule_id: str,
    *,
    every: timedelta,
    workflow_type: str | None = None,
    input: Any = None,
    organization: str | None = None,
    specs: WorkflowSpecs,
) -> tuple[ScheduleDescription, bool]:
    """Create (or update) the schedule; returns its description and whether it is new. Its runs
    belong to ``organization`` (unset: the operator's own, ``default``)."""
    workflow_type = workflow_type or KNOWN_SCHEDULES.get(schedule_id)
    if workflow_type is None:
        raise ValueError(f"--workflow is needed for schedule {schedule_id!r} (known ids: {', '.join(KNOWN_SCHEDULES)})")
    if organization is not None and not re.fullmatch(ORGANIZATION_PATTERN, organization):
        raise ValueError(f"--org must match {ORGANIZATION_PATTERN}")
    ops = Workflows(client, task_queue, specs=specs, organization=organization)
    spec = ops.spec(workflow_type)
    arg = ops.validate_input(spec, input)
    action = ScheduleActionStartWorkflow(
        spec.name,
        *([arg] if spec.input_model is not None else []),
        id=_id_prefix(schedule_id),
        task_queue=task_queue,
        typed_search_attributes=ops.search_attributes(spec.family, None),
    )
    schedule = Schedule(
        action=action,
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        handle = await client.create_schedule(schedule_id, schedule)
        created = True
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(schedule_id)

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await handle.update(replace)
        created = False
    return await handle.describe(), created


async def list_schedules(client: Client) -> list[dict[str, Any]]:
    found = []
    async for entry in await client.list_schedules():
        found.append(_summary(await client.get_schedule_handle(entry.id).describe()))
    return found


def _not_found(exc: RPCError, schedule_id: str) -> Exception:
    if exc.status == RPCStatusCode.NOT_FOUND:
        return ValueError(f"no schedule with id {schedule_id!r}")
    return exc


async def _with_client(action: Any) -> Any:
    settings = settings_or_exit()
    client = await connect(settings)
    return await action(client, settings.temporal_task_queue)


EveryOpt = Annotated[str, typer.Option("--every", help="interval: 30s, 5m, 2h, 1d")]
WorkflowOpt = Annotated[str | None, typer.Option("--workflow", help="workflow type (implied for data-sync)")]
InputOpt = Annotated[str | None, typer.Option("--input", "-i", help="the workflow input as a JSON object")]
OrgOpt = Annotated[str | None, typer.Option("--org", help="the organization its runs belong to (default: default)")]


@app.command("create")
def create(
    ctx: typer.Context,
    schedule_id: str,
    every: EveryOpt = "5m",
    workflow: WorkflowOpt = None,
    input: InputOpt = None,
    org: OrgOpt = None,
) -> None:
    """Create a schedule (or update the one with this id)."""
    data = parse_json(input, "--input")
    specs = workflow_specs(ctx)

    async def go(client: Client, task_queue: str) -> dict[str, Any]:
        desc, created = await create_schedule(
            client,
            task_queue,
            schedule_id,
            every=parse_every(every),
            workflow_type=workflow,
            input=data,
            organization=org,
            specs=specs,
        )
        return {**_summary(desc), "created": created}

    emit(run(_with_client(go)))


@app.command("list")
def list_() -> None:
    """Every schedule of the namespace."""

    async def go(client: Client, _: str) -> list[dict[str, Any]]:
        return await list_schedules(client)

    emit({"schedules": run(_with_client(go))})


@app.command("describe")
def describe(schedule_id: str) -> None:
    """Interval, workflow, runs so far and the next ones."""

    async def go(client: Client, _: str) -> dict[str, Any]:
        try:
            return _summary(await client.get_schedule_handle(schedule_id).describe())
        except RPCError as exc:
            raise _not_found(exc, schedule_id) from None

    emit(run(_with_client(go)))


@app.command("trigger")
def trigger(schedule_id: str) -> None:
    """Start one run now (the overlap policy still applies)."""

    async def go(client: Client, _: str) -> None:
        try:
            await client.get_schedule_handle(schedule_id).trigger()
        except RPCError as exc:
            raise _not_found(exc, schedule_id) from None

    run(_with_client(go))
    emit({"schedule_id": schedule_id, "triggered": True})


@app.command("delete")
def delete(schedule_id: str) -> None:
    """Delete the schedule (runs already started go on)."""

    async def go(client: Client, _: str) -> None:
        try:
            await client.get_schedule_handle(schedule_id).delete()
        except RPCError as exc:
            raise _not_found(exc, schedule_id) from None

    run(_with_client(go))
    emit({"schedule_id": schedule_id, "deleted": True})
