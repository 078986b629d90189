"""The campaign orchestrator's contract: its input, signals, status, the progress it carries
across continue-as-new, and the inputs and results of its activities (``campaigns.*``).

The orchestrator (``CampaignOrchestratorWorkflow``, id ``campaign-{campaign_id}``) keeps a
sliding window of lead workflows in flight and continues-as-new long before its history nears
Temporal's limits (51,200 events, 2,000 pending children). What crosses a continue-as-new is
:class:`CampaignProgress` only: the cursor (position of the last lead handed to a lead
workflow), the counters, the state and the ids of the leads in flight (bounded by the window).
Leads themselves are read from the store a page at a time, never passed in a payload. What the
orchestrator does with all this, and why no lead is lost, twinned or counted twice, is in
:mod:`followthrough.processes.campaigns.bookkeeping`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from followthrough.bounds import MAX_DURATION, Name, Seconds, Text

#: What a campaign is doing. ``stopping`` drains (or stops) the leads in flight.
CampaignState = Literal["running", "paused", "stopping", "stopped", "completed"]

#: How one lead's workflow ended (LeadOutreachWorkflow's ``lead_finished`` signal).
LeadOutcome = Literal["succeeded", "failed", "stopped", "goal_reached"]

#: Temporal's limit is 2,000 pending children per execution; the window stays well below it.
MAX_CONCURRENT_LEADS = 1000


def orchestrator_workflow_id(campaign_id: str) -> str:
    return f"campaign-{campaign_id}"


#: The lead workflow's type, as the orchestrator and ``campaigns.start_leads`` start it.
LEAD_WORKFLOW = "LeadOutreachWorkflow"


def lead_workflow_id(campaign_id: str, lead_id: str) -> str:
    return f"campaign-{campaign_id}-lead-{lead_id}"


def lead_search_attributes(campaign_id: str, organization_id: str, lead_id: str, family: str) -> TypedSearchAttributes:
    """A lead workflow's search attributes: ids only, since search attributes are not encrypted;
    ``family`` is the lead workflow's ``FAMILY``."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(SearchAttributeKey.for_keyword("CampaignId"), campaign_id),
            SearchAttributePair(SearchAttributeKey.for_keyword("OrganizationId"), organization_id),
            SearchAttributePair(SearchAttributeKey.for_keyword("LeadId"), lead_id),
            SearchAttributePair(SearchAttributeKey.for_keyword("WorkflowFamily"), family),
        ]
    )


# --- state carried across continue-as-new ---------------------------------------------------
class CampaignCounters(BaseModel):
    """Exact counts; every lead is counted once in ``started`` and once in one outcome."""

    total: int = Field(default=0, ge=0, description="leads in the campaign (from the last page read)")
    started: int = Field(default=0, ge=0, description="leads whose lead workflow was started or found")
    succeeded: int = 0
    goal_reached: int = 0
    failed: int = 0
    stopped: int = 0
    already_started: int = Field(default=0, description="starts that found the lead workflow already there")


class LeadRef(BaseModel):
    """A lead as the orchestrator needs it: an id and its place in the list, no personal data."""

    lead_id: str
    position: int


class CampaignProgress(BaseModel):
    """Everything one run hands to the next: bounded by the window, never by the lead count."""

    cursor: int = Field(default=0, ge=0, description="position of the last lead handed to a lead workflow")
    counters: CampaignCounters = Field(default_factory=CampaignCounters)
    in_flight: list[str] = Field(default_factory=list, description="lead ids whose workflow has not reported")
    state: CampaignState = "running"
    stop_completes_current: bool = True
    runs: int = Field(default=0, ge=0, description="how many times the orchestrator continued as new")
    started_status_recorded: bool = False
    reconcile_at: datetime | None = Field(
        default=None, description="when the next check of the leads in flight is due (workflow time)"
    )
    buffer: list[LeadRef] = Field(
        default_factory=list,
        description="leads read after the cursor and not started yet, in order (at most a window "
        "and a page): the next run starts them at once instead of reading them again",
    )


class CampaignOrchestratorInput(BaseModel):
    campaign_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")
    organization_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")
    sender_account_id: str = Field(min_length=1, max_length=200)
    max_concurrent_leads: int = Field(default=100, ge=1, le=MAX_CONCURRENT_LEADS)
    lead_processing_delay_seconds: float = Field(
        default=0.0, ge=0, le=86_400, allow_inf_nan=False, description="spacing of starts"
    )
    page_size: int = Field(default=200, ge=1, le=1000, description="leads read from the store per activity")
    continue_as_new_after: int = Field(
        default=1000, ge=1, le=5000, description="lead workflows started per run before continuing as new"
    )
    max_history_events: int = Field(default=10_000, ge=200, le=40_000)
    stop_grace_seconds: float = Field(
        default=600,
        ge=0,
        le=MAX_DURATION.total_seconds(),
        allow_inf_nan=False,
        description="wait for stopped leads before cancelling",
    )
    reconcile_every_seconds: Seconds = Field(
        default=3600,
        description="how often the leads in flight are described, to count any that closed without reporting",
    )
    lead_task_queue: Name | None = Field(default=None, description="default: the orchestrator's own")
    tag_leads: bool = Field(
        default=True,
        description="set CampaignId/OrganizationId/LeadId on lead workflows (off only where the server has no "
        "custom search attributes, like the time-skipping test server)",
    )
    progress: CampaignProgress | None = Field(default=None, description="set by continue-as-new only")


# --- signals ---------------------------------------------------------------------------------
class PauseCampaignSignal(BaseModel):
    reason: Text | None = None


class ResumeCampaignSignal(BaseModel):
    pass


class LeadsAddedSignal(BaseModel):
    """Sent by the control after it appended leads to a running campaign: read again."""


class StopCampaignSignal(BaseModel):
    complete_current_executions: bool = False
    reason: Text | None = None


# --- status ----------------------------------------------------------------------------------
class CampaignTotals(BaseModel):
    total: int
    pending: int = Field(description="not started yet")
    running: int = Field(description="lead workflows in flight")
    succeeded: int = Field(description="finished, including goal_reached")
    failed: int
    stopped: int
    goal_reached: int = 0


class CampaignStatus(BaseModel):
    campaign_id: str
    state: CampaignState
    totals: CampaignTotals
    cursor: int
    runs: int
    history_length: int = 0
    starting: int = Field(
        default=0,
        ge=0,
        description="leads whose start is issued, not confirmed nor reported (in totals.pending; each holds a seat)",
    )


class CampaignResult(BaseModel):
    campaign_id: str
    state: CampaignState
    totals: CampaignTotals
    runs: int


# --- activities' inputs and results -------------------------------------------------------------
class LoadLeadsInput(BaseModel):
    campaign_id: str
    after_position: int = Field(ge=0)
    limit: int = Field(ge=1, le=1000)


class LeadPage(BaseModel):
    leads: list[LeadRef]
    total: int
    has_more: bool


class CheckStartInput(BaseModel):
    campaign_id: str
    organization_id: str
    sender_account_id: str


class SetCampaignStatusInput(BaseModel):
    campaign_id: str
    status: CampaignState


class LeadExecutionsInput(BaseModel):
    campaign_id: str
    lead_ids: list[str] = Field(max_length=MAX_CONCURRENT_LEADS)


class LeadExecution(BaseModel):
    lead_id: str
    running: bool
    outcome: LeadOutcome | None = Field(default=None, description="set when the lead workflow has closed")


class StartLeadsInput(BaseModel):
    """A batch of lead workflows for ``campaigns.start_leads`` to start (ids only)."""

    campaign_id: str
    organization_id: str
    sender_account_id: str
    lead_ids: list[str] = Field(min_length=1, max_length=MAX_CONCURRENT_LEADS)
    task_queue: str
    parent_workflow_id: str = Field(description="the orchestrator, which each lead tells when it is done")
    started_by: str = Field(description="this batch's key, kept in each lead's memo, so a retry knows its own")
    tag_leads: bool = True


class StartLeadsResult(BaseModel):
    started: list[str] = Field(default_factory=list, description="started by this batch (any attempt)")
    existing: list[LeadExecution] = Field(
        default_factory=list, description="already there before this batch (an earlier campaign run)"
    )


# --- rules -------------------------------------------------------------------------------------
def outcome_from_close_status(status: str, result: object = None) -> LeadOutcome:
    """The outcome of a lead workflow that closed without reporting (from visibility).

    A completed execution's own result is trusted when it names an outcome (``outcome`` or
    ``state``); otherwise completed means succeeded, cancelled or terminated means stopped, and
    anything else (failed, timed out) means failed.
    """
    if status == "COMPLETED":
        if isinstance(result, dict):
            for key in ("outcome", "state"):
                value = result.get(key)
                if value in ("succeeded", "failed", "stopped", "goal_reached"):
                    return value  # type: ignore[no-any-return]
        return "succeeded"
    if status in ("CANCELED", "CANCELLED", "TERMINATED"):
        return "stopped"
    return "failed"
