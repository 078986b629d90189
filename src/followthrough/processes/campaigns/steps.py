"""Inputs and results of the lead workflow's own activities (``outreach.*`` and
``campaign_executions.*``), and the pure rules that turn a graph node into a provider call."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, Field

from followthrough.processes.campaigns.graph import (
    MAX_NOTE_CHARS,
    AnyNode,
    CampaignGraph,
    LeadOutcome,
    LikePostNode,
    ProfileVisitNode,
    SendInvitationNode,
    SendMessageNode,
    SendWhatsAppNode,
    StepResult,
    WithdrawInvitationNode,
    render_template,
)
from followthrough.processes.campaigns.sending_window import SenderLimits, SlotGrant
from followthrough.providers.contracts.linkedin import (
    InvitationResult,
    LikePostsInput,
    LikePostsResult,
    LinkedInMessageResult,
    Profile,
    SendInvitationInput,
    SendLinkedInMessageInput,
    VisitProfileInput,
    WithdrawInvitationInput,
    WithdrawInvitationResult,
)
from followthrough.providers.contracts.messaging import SendMessageInput, SendMessageResult, TemplateMessage

#: campaign_executions.status values this family writes.
ExecutionStatus = Literal["pending", "in_progress", "completed", "failed", "stopped", "goal_reached"]

EXECUTION_STATUS: dict[LeadOutcome, ExecutionStatus] = {
    LeadOutcome.SUCCEEDED: "completed",
    LeadOutcome.FAILED: "failed",
    LeadOutcome.STOPPED: "stopped",
    LeadOutcome.GOAL_REACHED: "goal_reached",
}


class LeadProfile(BaseModel):
    """What the campaign list holds about a lead (personal data: payloads are encrypted)."""

    lead_id: str
    linkedin_id: str | None = None
    linkedin_url: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    headline: str | None = None
    company: str | None = None
    email: str | None = None
    phone: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def identifier(self) -> str | None:
        """The provider id if known, else the profile URL: what LinkedIn calls take."""
        return self.linkedin_id or self.linkedin_url

    def fields(self) -> dict[str, str | None]:
        """Template fields: the columns, then any extra profile data given as text."""
        values: dict[str, str | None] = {
            str(k): (None if v is None else str(v)) for k, v in self.data.items() if isinstance(v, str | int | float)
        }
        values.update(self.model_dump(exclude={"data", "lead_id"}))
        values.setdefault("name", " ".join(p for p in (self.first_name, self.last_name) if p) or None)
        if values.get("title") is None:
            values["title"] = self.headline
        return values

    def has(self, field: str) -> bool:
        """True when the profile has a non-empty ``field`` (a column or a key of ``data``)."""
        value = self.fields().get(field)
        return value is not None and str(value).strip() != ""


class SenderProfile(BaseModel):
    account_id: str
    #: The account's id at the provider (Unipile); None when it is the same as ``account_id``.
    provider_account_id: str | None = None
    status: str = "connected"
    limits: SenderLimits = Field(default_factory=SenderLimits)

    @property
    def acting_account(self) -> str:
        return self.provider_account_id or self.account_id


class LeadPlan(BaseModel):
    """Everything a lead workflow loads once: the graph, the lead and the sender."""

    graph: CampaignGraph
    lead: LeadProfile
    sender: SenderProfile


class AcquireSlotInput(BaseModel):
    account_id: str
    request_key: str
    action: str
    #: The lead workflow's ``workflow.now()``: no slot before it.
    not_before: datetime


class ReleaseSlotInput(BaseModel):
    account_id: str
    grant: SlotGrant


class OpenLeadInput(BaseModel):
    """``outreach.open_lead``: load the lead's plan and begin its execution record, in one call."""

    campaign_id: str
    lead_id: str
    sender_account_id: str
    workflow_id: str
    started_at: datetime


class BeginExecutionInput(BaseModel):
    campaign_id: str
    lead_id: str
    workflow_id: str
    total_steps: int
    started_at: datetime


class RecordStepInput(BaseModel):
    campaign_id: str
    lead_id: str
    steps: list[StepResult] = Field(min_length=1, description="steps done since the last write, in order")


class FinishExecutionInput(BaseModel):
    campaign_id: str
    lead_id: str
    outcome: LeadOutcome
    current_step: int
    finished_at: datetime
    ended_at_node: str | None = None
    steps: list[StepResult] = Field(default_factory=list, description="steps done and not recorded yet")
    report_to: str | None = Field(
        default=None, description="a workflow id to signal lead_finished to once the record is closed"
    )


# --- from a graph node to a provider call ------------------------------------------------------


@dataclass(frozen=True)
class ProviderCall:
    """The provider activity one action node runs, with its input; ``skip`` says why none runs."""

    activity: str | None = None
    arg: Any = None
    result_type: Any = None
    skip: str | None = None


def idempotency_key(campaign_id: str, lead_id: str, node_id: str) -> str:
    """One key per (campaign, lead, node): a node runs at most once per lead (graphs are acyclic)."""
    key = f"outreach:{campaign_id}:{lead_id}:{node_id}"
    if len(key) <= 255:
        return key
    return "outreach:" + hashlib.sha256(key.encode()).hexdigest()


def provider_call(
    node: AnyNode,
    *,
    lead: LeadProfile,
    sender: SenderProfile,
    key: str,
    invitation_id: str | None,
) -> ProviderCall:
    """The ``linkedin.*`` / ``messaging.send`` call for an action node, or why it is skipped
    (the lead lacks what the action needs). Never raises for a lead's bad data."""
    account = sender.acting_account
    ident = lead.identifier
    try:
        match node:
            case ProfileVisitNode():
                if not ident:
                    return ProviderCall(skip="the lead has no LinkedIn id or URL")
                return ProviderCall(
                    activity="linkedin.visit_profile",
                    arg=VisitProfileInput(account_id=account, identifier=ident, idempotency_key=key),
                    result_type=Profile,
                )
            case LikePostNode(config=cfg):
                if not ident:
                    return ProviderCall(skip="the lead has no LinkedIn id or URL")
                return ProviderCall(
                    activity="linkedin.like_posts",
                    arg=LikePostsInput(
                        account_id=account,
                        identifier=ident,
                        number_of_posts=cfg.number_of_posts,
                        recent_post_days=cfg.recent_post_days,
                        idempotency_key=key,
                    ),
                    result_type=LikePostsResult,
                )
            case SendInvitationNode(config=cfg):
                if not ident:
                    return ProviderCall(skip="the lead has no LinkedIn id or URL")
                note = render_template(cfg.note, lead.fields())[:MAX_NOTE_CHARS] if cfg.note else None
                return ProviderCall(
                    activity="linkedin.send_invitation",
                    arg=SendInvitationInput(
                        account_id=account, identifier=ident, note=note or None, idempotency_key=key
                    ),
                    result_type=InvitationResult,
                )
            case SendMessageNode(config=cfg):
                if not ident:
                    return ProviderCall(skip="the lead has no LinkedIn id or URL")
                text = render_template(cfg.template, lead.fields())
                if not text:
                    return ProviderCall(skip="the message is empty for this lead")
                return ProviderCall(
                    activity="linkedin.send_message",
                    arg=SendLinkedInMessageInput(account_id=account, identifier=ident, text=text, idempotency_key=key),
                    result_type=LinkedInMessageResult,
                )
            case WithdrawInvitationNode():
                if invitation_id is None:
                    return ProviderCall(skip="no invitation was sent to withdraw")
                return ProviderCall(
                    activity="linkedin.withdraw_invitation",
                    arg=WithdrawInvitationInput(account_id=account, invitation_id=invitation_id, idempotency_key=key),
                    result_type=WithdrawInvitationResult,
                )
            case SendWhatsAppNode(config=cfg):
                if not lead.phone:
                    return ProviderCall(skip="the lead has no phone number")
                fields = lead.fields()
                if cfg.template is not None:
                    template = TemplateMessage(
                        name=cfg.template.name,
                        language=cfg.template.language,
                        parameters=[render_template(p, fields) for p in cfg.template.parameters],
                    )
                    arg = SendMessageInput(to=lead.phone, template=template, idempotency_key=key)
                else:
                    arg = SendMessageInput(
                        to=lead.phone, text=render_template(cfg.text or "", fields), idempotency_key=key
                    )
                return ProviderCall(activity="messaging.send", arg=arg, result_type=SendMessageResult)
    except pydantic.ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
        return ProviderCall(skip=f"the lead's data does not fit the action: {reasons}")
    raise ValueError(f"node {node.id!r} is not an action")
