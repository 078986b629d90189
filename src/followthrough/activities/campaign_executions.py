"""A lead's ``campaign_executions`` record: created when its workflow starts, updated after each
step, closed with the outcome. One record per (campaign, lead), so every write is an upsert
and a retried activity (or a re-run lead workflow) rewrites the same row instead of adding one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.service import RPCError, RPCStatusCode

from followthrough.domain.campaign import LeadFinishedSignal, StepResult
from followthrough.domain.outreach import (
    EXECUTION_STATUS,
    BeginExecutionInput,
    FinishExecutionInput,
    RecordStepInput,
)
from followthrough.services import Services
from followthrough.store.models import CampaignExecution


async def _find(session: AsyncSession, campaign_id: str, lead_id: str) -> CampaignExecution | None:
    return await session.scalar(
        select(CampaignExecution).where(
            CampaignExecution.campaign_id == campaign_id, CampaignExecution.lead_id == lead_id
        )
    )


def _put_step(row: CampaignExecution, step: StepResult) -> None:
    """Store one step's result (replacing an earlier write of the same step), move ``current_step``."""
    data: dict[str, Any] = dict(row.execution_data or {})
    steps = [s for s in data.get("steps", []) if s.get("step") != step.step]
    steps.append(step.model_dump(mode="json"))
    steps.sort(key=lambda s: s["step"])
    data["steps"] = steps
    row.execution_data = data
    row.current_step = max(row.current_step, step.step)


async def begin_in(session: AsyncSession, input: BeginExecutionInput) -> None:
    """``campaign_executions.begin`` inside a transaction of the caller's (it may raise
    IntegrityError at commit when a concurrent begin inserted the row first: then retry)."""
    row = await _find(session, input.campaign_id, input.lead_id)
    if row is None:
        row = CampaignExecution(campaign_id=input.campaign_id, lead_id=input.lead_id)
        session.add(row)
    row.workflow_execution_id = input.workflow_id
    row.status = "in_progress"
    row.total_steps = input.total_steps
    row.started_at = row.started_at or input.started_at
    row.completed_at = None
    if row.current_step == 0:
        row.execution_data = {"steps": []}


class CampaignExecutionActivities:
    def __init__(self, services: Services) -> None:
        self._services = services

    @activity.defn(name="campaign_executions.begin")
    async def begin(self, input: BeginExecutionInput) -> None:
        """Create the record in ``in_progress`` (or reset it for this workflow run)."""
        for _ in range(2):  # a concurrent insert of the same (campaign, lead) wins once; then update
            try:
                async with self._services.database.session() as session:
                    await begin_in(session, input)
                return
            except IntegrityError:
                continue
        raise RuntimeError("could not create the execution record")  # pragma: no cover - retried by Temporal

    @activity.defn(name="campaign_executions.record_step")
    async def record_step(self, input: RecordStepInput) -> None:
        """Store one step's result (replacing a previous write of the same step) and move
        ``current_step`` forward."""
        async with self._services.database.session() as session:
            row = await _find(session, input.campaign_id, input.lead_id)
            if row is None:
                return  # the campaign was deleted meanwhile
            _put_step(row, input.step)

    @activity.defn(name="campaign_executions.finish")
    async def finish(self, input: FinishExecutionInput) -> None:
        """Close the record with the outcome, storing the walk's last step too when it comes
        along (``last_step``: one call instead of a ``record_step`` and this one), then tell
        ``report_to`` (the orchestrator) that the lead finished, when one is given."""
        await self._close_record(input)
        if input.report_to:
            await _report_finished(input.report_to, LeadFinishedSignal(lead_id=input.lead_id, outcome=input.outcome))

    async def _close_record(self, input: FinishExecutionInput) -> None:
        async with self._services.database.session() as session:
            row = await _find(session, input.campaign_id, input.lead_id)
            if row is None:
                return
            if input.last_step is not None:
                _put_step(row, input.last_step)
            row.status = EXECUTION_STATUS[input.outcome]
            row.current_step = input.current_step
            row.completed_at = input.finished_at
            data: dict[str, Any] = dict(row.execution_data or {})
            data["outcome"] = input.outcome.value
            data["ended_at_node"] = input.ended_at_node
            row.execution_data = data


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
