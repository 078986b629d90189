"""A stand-in for LeadOutreachWorkflow with its name, input and signals (campaign tests).

It lives in its own module, importing only the domain, so the workflow sandbox can re-import
it without the store's SQLAlchemy models.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ApplicationError

from followthrough.processes.campaigns.graph import (
    LeadFinishedSignal,
    LeadOutcome,
    LeadOutreachInput,
    StopSignal,
)
from followthrough.temporal.signals import PauseSignal, ResumeSignal


class LeadPlan(BaseModel):
    steps: int
    step_minutes: int
    outcome: str
    crash: bool = False


class LeadEvent(BaseModel):
    lead_id: str
    at: datetime
    outcome: str | None = None


@workflow.defn(name="LeadOutreachWorkflow")
class FakeLeadWorkflow:
    def __init__(self) -> None:
        self._paused = False
        self._stop: StopSignal | None = None

    @workflow.signal
    def pause(self, _: PauseSignal) -> None:
        self._paused = True

    @workflow.signal
    def resume(self, _: ResumeSignal) -> None:
        self._paused = False

    @workflow.signal
    def stop(self, signal: StopSignal) -> None:
        self._stop = signal

    @workflow.run
    async def run(self, input: LeadOutreachInput) -> dict[str, Any]:
        timeout = timedelta(seconds=10)
        plan: LeadPlan = await workflow.execute_activity(
            "fake.lead_started",
            LeadEvent(lead_id=input.lead_id, at=workflow.now()),
            start_to_close_timeout=timeout,
            result_type=LeadPlan,
        )
        outcome = plan.outcome
        for _ in range(plan.steps):
            await workflow.wait_condition(lambda: not self._paused or self._stop is not None)
            if self._stop is not None:
                break
            if plan.step_minutes == 0:  # an action that lasts until the lead is stopped
                await workflow.wait_condition(lambda: self._stop is not None)
            else:  # one "action" takes step_minutes; stop interrupts it
                try:
                    await workflow.wait_condition(
                        lambda: self._stop is not None, timeout=timedelta(minutes=plan.step_minutes)
                    )
                except TimeoutError:
                    pass
        if self._stop is not None:
            outcome = "stopped"
        if plan.crash:
            raise ApplicationError("lead crashed without reporting", non_retryable=True)
        await workflow.execute_activity(
            "fake.lead_ended",
            LeadEvent(lead_id=input.lead_id, at=workflow.now(), outcome=outcome),
            start_to_close_timeout=timeout,
        )
        if input.parent_workflow_id:
            parent = workflow.get_external_workflow_handle(input.parent_workflow_id)
            await parent.signal(
                "lead_finished", LeadFinishedSignal(lead_id=input.lead_id, outcome=LeadOutcome(outcome))
            )
        return {"outcome": outcome}
