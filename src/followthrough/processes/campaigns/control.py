"""Campaigns from the outside: create, add leads, start, pause, resume, stop and status.

One implementation behind both the HTTP routes (``api/routes/campaigns.py``) and the CLI
(``followthrough campaign …``), so they cannot drift apart. Problems come out as
:class:`CampaignProblem` with the HTTP status that fits (404, 409, 422); the CLI prints them.
"""

from __future__ import annotations

import asyncio
import csv
import io
from contextvars import ContextVar
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from temporalio.client import WorkflowExecutionStatus

from followthrough.bounds import Text
from followthrough.processes.campaigns.activities import start_problem
from followthrough.processes.campaigns.graph import parse_graph
from followthrough.processes.campaigns.seats import (
    MAX_CONCURRENT_LEADS,
    CampaignOrchestratorInput,
    LeadsAddedSignal,
    PauseCampaignSignal,
    ResumeCampaignSignal,
    StopCampaignSignal,
    orchestrator_workflow_id,
)
from followthrough.services import Services
from followthrough.store.repositories import (
    CampaignLeads,
    Campaigns,
    LeadIdTaken,
    NewCampaignLead,
    SenderAccounts,
    SenderPauses,
)
from followthrough.temporal.client import TemporalUnavailable
from followthrough.temporal.operations import (
    QueryFailed,
    QueryNotAnswered,
    StartOutcome,
    WorkflowNotFound,
    Workflows,
    WorkflowTaskFailing,
)
from followthrough.temporal.tenancy import ForeignOrganization

#: How long the status route waits for the orchestrator's own answer (the route answers in 2 s).
STATUS_QUERY_TIMEOUT = 1.5


class CampaignProblem(Exception):
    """Why a campaign request cannot be done; ``status`` is the HTTP status, ``detail`` the body."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(detail if isinstance(detail, str) else str(detail))
        self.status = status
        if isinstance(detail, list):  # a 422's items have FastAPI's shape: loc, msg and type
            detail = [{"type": "value_error", **d} if isinstance(d, dict) else d for d in detail]
        self.detail = detail


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class CreateCampaign(_Camel):
    name: str = Field(min_length=1, max_length=200)
    organization_id: str = Field(min_length=1, max_length=64)
    sender_account_id: str = Field(min_length=1, max_length=64)
    graph: dict[str, Any]
    leads: list[dict[str, Any]] = Field(default_factory=list, description="leads as JSON objects")
    leads_csv: str | None = Field(default=None, description="or the lead list as CSV text with a header row")
    max_concurrent_leads: int = Field(default=100, ge=1, le=MAX_CONCURRENT_LEADS)
    lead_processing_delay: int = Field(default=30, ge=0, le=86_400, description="seconds between lead starts")


class StartCampaign(_Camel):
    organization_id: str = Field(min_length=1, max_length=64)
    max_concurrent_leads: int | None = Field(default=None, ge=1, le=MAX_CONCURRENT_LEADS)
    lead_processing_delay: float | None = Field(default=None, ge=0, le=86_400, allow_inf_nan=False)


class StopCampaign(_Camel):
    complete_current_executions: bool = False
    reason: Text | None = None


class PauseCampaign(_Camel):
    reason: Text | None = None


# The seed's (Clento's) routes name the campaign in the body: ``POST /api/campaigns/start
# {campaignId, organizationId, maxConcurrentLeads, leadProcessingDelay}`` and the like.
class _NamesCampaign(_Camel):
    campaign_id: str = Field(min_length=1, max_length=64)


class StartNamedCampaign(StartCampaign, _NamesCampaign):
    pass


class PauseNamedCampaign(PauseCampaign, _NamesCampaign):
    pass


class ResumeNamedCampaign(_NamesCampaign):
    pass


class StopNamedCampaign(StopCampaign, _NamesCampaign):
    pass


class CreatedCampaign(BaseModel):
    campaign_id: str
    leads_added: int
    duplicates: int


#: CSV columns that map to lead fields; any other column goes to the lead's ``data``.
_LEAD_COLUMNS = frozenset(NewCampaignLead.model_fields) - {"data"}


def decode_csv(data: bytes, where: str = "file") -> str:
    """CSV bytes (a ``text/csv`` body or an uploaded file) as text; UTF-8, a BOM dropped; 422 if not."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CampaignProblem(
            422, [{"loc": [where], "msg": f"the CSV is not UTF-8 text (byte {exc.start}: {exc.reason})"}]
        ) from None


#: How many leads one request may carry, JSON objects and CSV rows together
#: (``FOLLOWTHROUGH_MAX_CSV_ROWS``). The API sets it for each request from its settings
#: (:mod:`followthrough.api.limits`), so a parser called by a route needs no settings of its own.
max_leads_per_request: ContextVar[int] = ContextVar("max_leads_per_request", default=100_000)


def _too_many(where: str, limit: int) -> CampaignProblem:
    return CampaignProblem(
        422,
        [
            {
                "loc": [where],
                "msg": f"more than {limit} leads in one request (FOLLOWTHROUGH_MAX_CSV_ROWS); split the list",
            }
        ],
    )


def _csv_rows(csv_text: str, max_rows: int) -> list[tuple[int, dict[str | None, str | None]]]:
    """The data rows of CSV text with their line numbers (the header is line 1); 422 if unreadable
    or longer than ``max_rows`` (reading stops there: the rest is never parsed)."""
    reader = csv.DictReader(io.StringIO(csv_text.lstrip("\ufeff")))
    rows: list[tuple[int, dict[str | None, str | None]]] = []
    try:
        for row in reader:
            if len(rows) == max_rows:
                raise _too_many(f"csv line {reader.line_num}", max_rows)
            rows.append((reader.line_num, row))
    except csv.Error as exc:  # raised before the bad line is counted, hence + 1
        raise CampaignProblem(
            422, [{"loc": [f"csv line {reader.line_num + 1}"], "msg": f"unreadable CSV: {exc}"}]
        ) from None
    return rows


def parse_leads(
    rows: list[dict[str, Any]] | None = None, csv_text: str | None = None, *, max_rows: int | None = None
) -> list[NewCampaignLead]:
    """Validate leads from JSON objects and/or CSV text; 422 names every bad row and field, and
    refuses more than ``max_rows`` leads in all (default: :data:`max_leads_per_request`)."""
    limit = max_rows if max_rows is not None else max_leads_per_request.get()
    if len(rows or []) > limit:
        raise _too_many("body", limit)
    raw: list[tuple[str, dict[str, Any]]] = [(f"leads[{i}]", row) for i, row in enumerate(rows or [])]
    if csv_text:
        for line, cells in _csv_rows(csv_text, limit - len(raw)):
            fields: dict[str, Any] = {"data": {}}
            for key, value in cells.items():
                if key is None or value is None or value.strip() == "":
                    continue
                name = key.strip().lower()
                if name in _LEAD_COLUMNS:
                    fields[name] = value.strip()
                else:
                    fields["data"][name] = value.strip()
            raw.append((f"csv line {line}", fields))
    leads: list[NewCampaignLead] = []
    errors: list[dict[str, Any]] = []
    for where, row in raw:
        try:
            lead = NewCampaignLead.model_validate(row)
        except pydantic.ValidationError as exc:
            errors.extend(
                {"loc": [where, *e["loc"]], "msg": e["msg"]}
                for e in exc.errors(include_url=False, include_context=False)
            )
            continue
        if not (lead.linkedin_url or "").strip() and not (lead.linkedin_id or "").strip():
            errors.append({"loc": [where], "msg": "a lead needs linkedin_url or linkedin_id"})
            continue
        leads.append(lead)
    if errors:
        raise CampaignProblem(422, errors)
    return leads


def _ids_taken(exc: LeadIdTaken) -> CampaignProblem:
    return CampaignProblem(422, [{"loc": ["leads", "id"], "msg": str(exc), "type": "value_error"}])


class CampaignControl:
    """Campaign operations over the store and Temporal (``workflows`` may be None for create).

    ``organization`` is the caller's (None: the operator, who sees every organization): a
    campaign or sender account of another organization is answered as one that does not exist,
    and a body naming another organization is a 403 naming both. Unless given, it is the
    organization ``workflows`` act for."""

    def __init__(
        self, services: Services, workflows: Workflows | None = None, *, organization: str | None = None
    ) -> None:
        self.services = services
        self._workflows = workflows
        self.organization = organization or (workflows.organization if workflows is not None else None)
        database = services.database
        self.campaigns = Campaigns(database)
        self.leads = CampaignLeads(database)
        self.senders = SenderAccounts(database)
        self.sender_pauses = SenderPauses(database)

    @property
    def workflows(self) -> Workflows:
        if self._workflows is None:
            raise RuntimeError("this operation needs Temporal")
        return self._workflows

    def _check_named(self, organization: str) -> None:
        if self.organization is not None and organization != self.organization:
            raise CampaignProblem(403, str(ForeignOrganization(organization, self.organization)))

    async def create(self, request: CreateCampaign) -> CreatedCampaign:
        self._check_named(request.organization_id)
        graph, faults = parse_graph(request.graph)
        if graph is None:
            raise CampaignProblem(
                422, [{"loc": ["graph", f.node_id or "graph"], **f.model_dump(mode="json")} for f in faults]
            )
        leads = parse_leads(
            request.leads, request.leads_csv, max_rows=self.services.settings.followthrough_max_csv_rows
        )
        account = await self.senders.get(request.sender_account_id)
        if account is None or (self.organization is not None and account.organization_id != self.organization):
            raise CampaignProblem(422, [{"loc": ["senderAccountId"], "msg": "no such sender account"}])
        taken = await self.leads.taken([lead.id for lead in leads if lead.id])
        if taken:  # refused before the campaign is written: nothing half-made is left
            raise _ids_taken(LeadIdTaken(taken))
        campaign = await self.campaigns.create(
            name=request.name,
            organization_id=request.organization_id,
            sender_account_id=request.sender_account_id,
            graph=request.graph,
            max_concurrent_leads=request.max_concurrent_leads,
            lead_processing_delay_seconds=request.lead_processing_delay,
        )
        try:
            added = await self.leads.add(campaign.id, leads)
        except LeadIdTaken as exc:  # taken by a concurrent list since the check
            raise _ids_taken(exc) from None
        return CreatedCampaign(campaign_id=campaign.id, leads_added=added.added, duplicates=added.duplicates)

    async def add_leads(self, campaign_id: str, leads: list[NewCampaignLead]) -> CreatedCampaign:
        """Append leads. A running campaign picks them up: they take the next positions, after
        its cursor, and the orchestrator is told to read again (``leads_added``), so its total
        counts them at once and it runs them before it completes."""
        await self._campaign(campaign_id)
        try:
            added = await self.leads.add(campaign_id, leads)
        except LeadIdTaken as exc:
            raise _ids_taken(exc) from None
        if added.added and self._workflows is not None:
            workflow_id = orchestrator_workflow_id(campaign_id)
            try:
                if await self._running(workflow_id):
                    await self.workflows.signal(workflow_id, "leads_added", LeadsAddedSignal(), internal=True)
            except (WorkflowNotFound, TemporalUnavailable):  # closed meanwhile, or Temporal down:
                pass  # its final read before completing still finds them if it runs
        return CreatedCampaign(campaign_id=campaign_id, leads_added=added.added, duplicates=added.duplicates)

    async def start(self, campaign_id: str, request: StartCampaign, **tuning: Any) -> StartOutcome:
        """Validate (sender connected, not running) and start ``campaign-{id}``; 409 if it runs."""
        campaign = await self._campaign(campaign_id)
        self._check_named(request.organization_id)
        account = await self.senders.get(campaign.sender_account_id) if campaign.sender_account_id else None
        problem = start_problem(campaign, account, request.organization_id)
        if problem is not None:
            raise CampaignProblem(422, problem)
        if await self.leads.count(campaign_id) == 0:
            raise CampaignProblem(422, "the campaign has no leads")
        workflow_id = orchestrator_workflow_id(campaign_id)
        if await self._running(workflow_id):
            raise CampaignProblem(409, f"campaign {campaign_id} is already running ({workflow_id})")
        if campaign.status == "paused":  # left by a run that is gone (terminated): its pause ended with it,
            await self.campaigns.update(campaign_id, status="stopped")  # and would hold every action
        arg = CampaignOrchestratorInput(
            campaign_id=campaign_id,
            organization_id=request.organization_id,
            sender_account_id=campaign.sender_account_id or "",
            max_concurrent_leads=request.max_concurrent_leads or campaign.max_concurrent_leads,
            lead_processing_delay_seconds=(
                request.lead_processing_delay
                if request.lead_processing_delay is not None
                else campaign.lead_processing_delay_seconds
            ),
            **tuning,
        )
        outcome = await self.workflows.start(
            "CampaignOrchestratorWorkflow",
            arg,
            workflow_id=workflow_id,
            search_attributes={"CampaignId": campaign_id, "OrganizationId": request.organization_id},
            # No execution timeout: Temporal's spans every continue-as-new run, and a campaign paced
            # by its sender's caps may rightly take months (1,000 invitations at 100 a week are ten
            # weeks). Each lead keeps the seed's 30 days itself (lead_rules.LEAD_DEADLINE).
            execution_timeout=None,
        )
        if not outcome.created:  # started by a concurrent request between our check and now
            raise CampaignProblem(409, f"campaign {campaign_id} is already running ({workflow_id})")
        return outcome

    async def pause(self, campaign_id: str, reason: str | None = None, *, by_sender: bool = False) -> None:
        """Pause: the store's status first, then the orchestrator. Every lead's LinkedIn action
        checks that status as it runs (``linkedin_activities``), so once this returns no action of
        the campaign goes out, whatever state a lead's start is in; the signal then holds the
        leads themselves (and the orchestrator's starts) until ``resume``.

        A pause by a person (``by_sender`` False) takes the campaign over from a sender account's
        disconnect: the record of that pause (``sender_pauses``) goes, so the account's reconnect
        leaves the campaign paused. Only the sender accounts' control passes ``by_sender=True``."""
        await self._check_running(campaign_id)
        await self.campaigns.update(campaign_id, status="paused")
        if not by_sender:
            await self.sender_pauses.forget(campaign_id)
        await self._signal(campaign_id, "pause", PauseCampaignSignal(reason=reason))

    async def resume(self, campaign_id: str, *, by_sender: bool = False) -> None:
        """Resume. A resume by a person also ends a sender account's pause (its record goes), so
        the account's next disconnect report pauses the campaign again and its reconnect finds
        nothing of its own to resume."""
        await self._check_running(campaign_id)
        await self.campaigns.update(campaign_id, status="running")
        if not by_sender:
            await self.sender_pauses.forget(campaign_id)
        await self._signal(campaign_id, "resume", ResumeCampaignSignal())

    async def stop(self, campaign_id: str, request: StopCampaign) -> None:
        signal = StopCampaignSignal(
            complete_current_executions=request.complete_current_executions, reason=request.reason
        )
        await self._signal(campaign_id, "stop", signal)

    async def status(self, campaign_id: str) -> dict[str, Any]:
        """The store's record, visibility's count of lead workflows by status, and the orchestrator's
        own totals (its ``status`` query), side by side."""
        campaign = await self._campaign(campaign_id)
        workflow_id = orchestrator_workflow_id(campaign_id)
        orchestrator: dict[str, Any] | None = None
        state: str | None = None
        try:
            info = await self.workflows.describe(workflow_id)
            state = info.status
            # Bounded well below the generic query's limit: with no worker the route still
            # answers from the store and visibility within 2 s.
            answer = await asyncio.wait_for(
                self.workflows.query(workflow_id, "status", internal=True), STATUS_QUERY_TIMEOUT
            )
            orchestrator = answer.model_dump(mode="json") if hasattr(answer, "model_dump") else answer
        except WorkflowNotFound:
            pass
        except TimeoutError:
            orchestrator = {
                "error": f"the orchestrator's live status is unavailable: no answer within "
                f"{STATUS_QUERY_TIMEOUT} s (no worker?)"
            }
        except (WorkflowTaskFailing, QueryNotAnswered, QueryFailed) as exc:  # e.g. a closed run, no worker
            orchestrator = {"error": f"the orchestrator's live status is unavailable: {exc}"}
        return {
            "campaignId": campaign_id,
            "name": campaign.name,
            "status": campaign.status,
            "leadCount": await self.leads.count(campaign_id),
            "workflowId": workflow_id,
            "workflowStatus": state,
            "orchestrator": orchestrator,
            "leadWorkflows": await self.lead_workflow_counts(campaign_id),
        }

    async def lead_workflow_counts(self, campaign_id: str) -> dict[str, int]:
        """Lead workflows of the campaign by execution status, counted by visibility (through
        :class:`Workflows`: bounded in time, Temporal down is a 503)."""
        query = f'CampaignId = "{campaign_id}" AND WorkflowType = "LeadOutreachWorkflow"'
        counts = await self.workflows.count(query, group_by="ExecutionStatus")
        result: dict[str, int] = {}
        for group in counts.groups:
            value = group.group_values[0] if group.group_values else "Unknown"
            result[str(value).upper()] = group.count
        result["TOTAL"] = counts.count
        return result

    async def _campaign(self, campaign_id: str) -> Any:
        campaign = await self.campaigns.get(campaign_id)
        if campaign is None or (self.organization is not None and campaign.organization_id != self.organization):
            raise CampaignProblem(404, f"no campaign {campaign_id!r}")
        return campaign

    async def _running(self, workflow_id: str) -> bool:
        try:
            return (await self.workflows.describe(workflow_id)).status == WorkflowExecutionStatus.RUNNING.name
        except WorkflowNotFound:
            return False

    async def _check_running(self, campaign_id: str) -> None:
        await self._campaign(campaign_id)
        if not await self._running(orchestrator_workflow_id(campaign_id)):
            raise CampaignProblem(409, f"campaign {campaign_id} is not running")

    async def _signal(self, campaign_id: str, name: str, arg: BaseModel) -> None:
        await self._check_running(campaign_id)
        await self.workflows.signal(orchestrator_workflow_id(campaign_id), name, arg, internal=True)
