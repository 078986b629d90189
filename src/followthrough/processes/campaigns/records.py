"""A lead's ``campaign_executions`` record: created when its workflow starts, given the steps
done whenever the lead comes to rest (one step or several in a call), closed with the outcome.
One record per (campaign, lead), so every write is an upsert and a retried activity (or a
re-run lead workflow) rewrites the same row instead of adding one. The statements (Core,
prepared once) are :mod:`followthrough.store.repositories.executions`'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from temporalio import activity

from followthrough.processes.campaigns.graph import LeadFinishedSignal, LeadOutcome, StepResult
from followthrough.processes.campaigns.steps import (
    EXECUTION_STATUS,
    BeginExecutionInput,
    FinishExecutionInput,
    RecordStepInput,
)
from followthrough.services import Services
from followthrough.temporal.client import signal_if_running

if TYPE_CHECKING:
    from followthrough.store.database import SyncConnection


def begin_in(conn: SyncConnection, input: BeginExecutionInput) -> None:
    """Create the record in ``in_progress`` (or reset it for this workflow run), inside a
    transaction of the caller's (``outreach.open_lead``'s). It raises IntegrityError when a
    concurrent begin inserted the row first: then retry."""
    from followthrough.store.repositories.executions import begin_in as begin

    begin(
        conn,
        campaign_id=input.campaign_id,
        lead_id=input.lead_id,
        workflow_id=input.workflow_id,
        total_steps=input.total_steps,
        started_at=input.started_at,
    )


class CampaignExecutionActivities:
    def __init__(self, services: Services) -> None:
        from followthrough.store.repositories.executions import ExecutionRecords

        self._records = ExecutionRecords(services.database)

    @activity.defn(name="campaign_executions.record_step")
    async def record_step(self, input: RecordStepInput) -> None:
        """Store the results of the steps done since the last write (one, or several that ran
        back to back; each replacing a previous write of the same step) and move
        ``current_step`` forward."""
        # False: no record, the campaign was deleted meanwhile (nothing to write).
        await self._records.record_steps(input.campaign_id, input.lead_id, _json(input.steps))

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
        recorded = await self._records.close(
            input.campaign_id,
            input.lead_id,
            status=EXECUTION_STATUS[input.outcome],
            outcome=input.outcome.value,
            ended_at_node=input.ended_at_node,
            current_step=input.current_step,
            finished_at=input.finished_at,
            steps=_json(input.steps or []),
        )
        return LeadOutcome(recorded) if recorded in _OUTCOMES else input.outcome


_OUTCOMES = frozenset(outcome.value for outcome in LeadOutcome)


def _json(steps: list[StepResult]) -> list[dict[str, Any]]:
    return [step.model_dump(mode="json") for step in steps]


async def _report_finished(workflow_id: str, signal: LeadFinishedSignal) -> None:
    """Signal ``lead_finished`` to the current run of ``workflow_id``. A retried call signals
    again, which the orchestrator ignores (a lead no longer in flight is not counted twice); an
    orchestrator that is gone has nobody to tell."""
    if not await signal_if_running(activity.client(), workflow_id, "lead_finished", signal):
        activity.logger.warning("could not tell %s that lead %s finished: it is gone", workflow_id, signal.lead_id)
