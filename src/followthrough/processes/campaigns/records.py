"""A lead's ``campaign_executions`` record: created when its workflow starts, given the steps
done whenever the lead comes to rest (one step or several in a call), closed with the outcome.
One record per (campaign, lead), so every write is an upsert and a retried activity (or a
re-run lead workflow) rewrites the same row instead of adding one.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection
from temporalio import activity
from temporalio.service import RPCError, RPCStatusCode

from followthrough.processes.campaigns.graph import LeadFinishedSignal, LeadOutcome, StepResult
from followthrough.processes.campaigns.steps import (
    EXECUTION_STATUS,
    BeginExecutionInput,
    FinishExecutionInput,
    RecordStepInput,
)
from followthrough.services import Services
from followthrough.store.models import CampaignExecution

#: Every lead writes its record three or four times: the statements are built once, with bound
#: parameters, and run in Core (an ORM session's unit of work cost more CPU than the writes).
#: The columns' defaults still apply (``id``, ``created_at``; ``updated_at`` on every update).
_T = cast(Table, CampaignExecution.__table__)
_THIS = (_T.c.campaign_id == bindparam("b_campaign"), _T.c.lead_id == bindparam("b_lead"))
_READ = select(_T.c.current_step, _T.c.execution_data, _T.c.started_at, _T.c.status).where(*_THIS)
#: Statuses a record ends in: once one is written, it is the record's for good.
_FINAL = frozenset(EXECUTION_STATUS.values())
_INSERT = _T.insert()  # the columns come from each call's parameters
_UPDATE = _T.update().where(*_THIS)  # the SET clause too


async def _find(conn: AsyncConnection, campaign_id: str, lead_id: str) -> Row[Any, Any, Any, Any] | None:
    return (await conn.execute(_READ, {"b_campaign": campaign_id, "b_lead": lead_id})).first()


async def _update(conn: AsyncConnection, campaign_id: str, lead_id: str, **values: Any) -> None:
    await conn.execute(_UPDATE, {"b_campaign": campaign_id, "b_lead": lead_id, **values})


def _put_steps(data: dict[str, Any] | None, current_step: int, new: list[StepResult]) -> tuple[dict[str, Any], int]:
    """The record's data with these steps' results stored (each replacing an earlier write of
    the same step), and ``current_step`` moved forward."""
    data = dict(data or {})
    numbers = {step.step for step in new}
    steps = [s for s in data.get("steps", []) if s.get("step") not in numbers]
    steps.extend(step.model_dump(mode="json") for step in new)
    steps.sort(key=lambda s: s["step"])
    data["steps"] = steps
    return data, max([current_step, *numbers])


async def begin_in(conn: AsyncConnection, input: BeginExecutionInput) -> None:
    """Create the record in ``in_progress`` (or reset it for this workflow run), inside a
    transaction of the caller's (``outreach.open_lead``'s). It raises IntegrityError when a
    concurrent begin inserted the row first: then retry."""
    row = await _find(conn, input.campaign_id, input.lead_id)
    values: dict[str, Any] = {
        "workflow_execution_id": input.workflow_id,
        "status": "in_progress",
        "total_steps": input.total_steps,
        "completed_at": None,
    }
    if row is None:
        await conn.execute(
            _INSERT,
            {
                **values,
                "campaign_id": input.campaign_id,
                "lead_id": input.lead_id,
                "current_step": 0,
                "started_at": input.started_at,
                "execution_data": {"steps": []},
            },
        )
        return
    values["started_at"] = row.started_at or input.started_at
    if row.current_step == 0:
        values["execution_data"] = {"steps": []}
    await _update(conn, input.campaign_id, input.lead_id, **values)


class CampaignExecutionActivities:
    def __init__(self, services: Services) -> None:
        self._services = services

    @activity.defn(name="campaign_executions.record_step")
    async def record_step(self, input: RecordStepInput) -> None:
        """Store the results of the steps done since the last write (one, or several that ran
        back to back; each replacing a previous write of the same step) and move
        ``current_step`` forward."""
        async with self._services.database.transaction() as conn:
            row = await _find(conn, input.campaign_id, input.lead_id)
            if row is None:
                return  # the campaign was deleted meanwhile
            data, current = _put_steps(row.execution_data, row.current_step, input.steps)
            await _update(conn, input.campaign_id, input.lead_id, execution_data=data, current_step=current)

    @activity.defn(name="campaign_executions.finish")
    async def finish(self, input: FinishExecutionInput) -> None:
        """Close the record with the outcome, storing the steps not recorded yet when they come
        along (``steps``: one call instead of a ``record_step`` and this one), then tell
        ``report_to`` (the orchestrator) that the lead finished, when one is given.

        First writer wins: a record already closed keeps its outcome, and the report carries
        that recorded outcome, so a lead whose closing task ran twice (a stop arriving during
        it) reports the same outcome twice, which the orchestrator counts once."""
        outcome = await self._close_record(input)
        if input.report_to:
            await _report_finished(input.report_to, LeadFinishedSignal(lead_id=input.lead_id, outcome=outcome))

    async def _close_record(self, input: FinishExecutionInput) -> LeadOutcome:
        """Close the record unless it is closed already; the outcome it holds."""
        async with self._services.database.transaction() as conn:
            row = await _find(conn, input.campaign_id, input.lead_id)
            if row is None:
                return input.outcome
            if row.status in _FINAL:
                recorded = (row.execution_data or {}).get("outcome")
                return LeadOutcome(recorded) if recorded in _OUTCOMES else input.outcome
            data: dict[str, Any] = dict(row.execution_data or {})
            if input.steps:
                data, _ = _put_steps(data, row.current_step, input.steps)
            data["outcome"] = input.outcome.value
            data["ended_at_node"] = input.ended_at_node
            await _update(
                conn,
                input.campaign_id,
                input.lead_id,
                status=EXECUTION_STATUS[input.outcome],
                current_step=input.current_step,
                completed_at=input.finished_at,
                execution_data=data,
            )
        return input.outcome


_OUTCOMES = frozenset(outcome.value for outcome in LeadOutcome)


async def _report_finished(workflow_id: str, signal: LeadFinishedSignal) -> None:
    """Signal ``lead_finished`` to the current run of ``workflow_id``. A retried call signals
    again, which the orchestrator ignores (a lead no longer in flight is not counted twice); an
    orchestrator that is gone has nobody to tell."""
    handle = activity.client().get_workflow_handle(workflow_id)
    try:
        await handle.signal("lead_finished", signal)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        activity.logger.warning("could not tell %s that lead %s finished: it is gone", workflow_id, signal.lead_id)
