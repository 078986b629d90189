"""Sender accounts from the outside: connect, list, show, set limits, remove, and follow
Unipile's status reports. One implementation behind the HTTP routes, the status webhook and the
CLI, so they cannot drift apart; problems come out as :class:`SenderProblem` with the HTTP
status that fits (403, 404, 409, 422, 502).

``organization`` is the caller's (None: the operator): another organization's account answers
exactly like a missing one.

A status change reaches the campaigns: when an account stops being ``connected`` its campaigns
whose orchestrator is running are paused through
:class:`~followthrough.processes.campaigns.control.CampaignControl` with the reason ``sender
account ID: STATUS``, and remembered (``sender_pauses``); when it is ``connected`` again those
campaigns, and only those, resume. A campaign paused by hand is never touched: one running
when the report comes is paused only if its orchestrator reports ``running``, and a person's
pause or resume through ``CampaignControl`` (the API, the CLI) forgets the account's record, so
a campaign paused by hand after the disconnect stays paused on the reconnect.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pydantic

from followthrough.errors import AccountSuspendedError, FollowthroughError, InvalidCredentialsError
from followthrough.processes.campaigns.control import CampaignControl, CampaignProblem
from followthrough.processes.campaigns.seats import orchestrator_workflow_id
from followthrough.processes.senders.rules import (
    CONNECTED,
    DISCONNECTED,
    ConnectSender,
    LimitsPatch,
    account_limits,
    pause_reason,
    status_from_unipile,
    view,
)
from followthrough.services import Services
from followthrough.store.models import SenderAccount
from followthrough.store.repositories.senders import ACTIVE_CAMPAIGN_STATUSES, SenderAccounts, SenderPauses
from followthrough.temporal.operations import (
    QueryFailed,
    QueryNotAnswered,
    WorkflowNotFound,
    Workflows,
    WorkflowTaskFailing,
)

log = logging.getLogger(__name__)

WorkflowsSource = Callable[[], Awaitable[Workflows]]


class SenderProblem(Exception):
    """Why a sender account request cannot be done; ``status`` is the HTTP status."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(detail if isinstance(detail, str) else str(detail))
        self.status = status
        if isinstance(detail, list):  # FastAPI's 422 shape: type, loc, msg
            detail = [{"type": "value_error", **d} for d in detail]
        self.detail = detail


def _invalid(field: str, msg: str) -> SenderProblem:
    return SenderProblem(422, [{"loc": ["body", field], "msg": msg}])


class SenderControl:
    def __init__(
        self, services: Services, *, organization: str | None = None, workflows: WorkflowsSource | None = None
    ) -> None:
        self.services = services
        self.organization = organization
        self._workflows = workflows
        self.accounts = SenderAccounts(services.database)
        self.pauses = SenderPauses(services.database)

    async def _temporal(self) -> Workflows:
        if self._workflows is None:
            raise RuntimeError("this operation needs Temporal")
        return await self._workflows()

    # --- the resource ------------------------------------------------------------------------
    async def get(self, sender_account_id: str) -> SenderAccount:
        account = await self.accounts.get(sender_account_id)
        if account is None or (self.organization is not None and account.organization_id != self.organization):
            raise SenderProblem(404, f"no sender account {sender_account_id!r}")
        return account

    async def list_accounts(self, organization_id: str | None = None) -> list[dict[str, Any]]:
        """The caller's accounts; the operator's: all, or ``organization_id``'s."""
        owner = self.organization if self.organization is not None else organization_id
        if self.organization is not None and organization_id not in (None, self.organization):
            return []  # another organization's list is an empty one, as its accounts are missing ones
        return [view(a) for a in await self.accounts.owned_by(owner)]

    async def connect(self, request: ConnectSender) -> tuple[dict[str, Any], bool]:
        """Check the Unipile account and save it (or refresh the caller's own record of it);
        returns the view and whether a record was created."""
        owner = self.organization or request.organization_id
        if owner is None:
            raise _invalid("organizationId", "the operator's key must name the organization that owns the account")
        if self.organization is not None and request.organization_id not in (None, self.organization):
            raise SenderProblem(
                403,
                f"the body names organization {request.organization_id!r}, "
                f"but this key belongs to {self.organization!r}",
            )
        status = await self._check_with_unipile(request.account_id)
        existing = await self.accounts.acting_as(request.account_id)
        if any(a.organization_id != owner for a in existing):
            raise SenderProblem(409, f"Unipile account {request.account_id!r} is connected to another sender account")
        columns = request.limits.columns() if request.limits else {}
        if request.display_name:
            columns["display_name"] = request.display_name
        self._check_limits(None, columns)
        if existing:
            account = existing[0]
            if columns:
                await self.accounts.update(account.id, **columns)
            await self.apply_status(account.id, status)
            return view(await self.get(account.id)), False
        account = await self.accounts.create(
            organization_id=owner,
            provider="linkedin",
            provider_account_id=request.account_id,
            status=status,
            **{"display_name": request.account_id, **columns},
        )
        return view(account), True

    async def _check_with_unipile(self, account_id: str) -> str:
        try:
            found = await self.services.providers.linkedin.get_account(account_id)
        except InvalidCredentialsError:
            return "credentials_invalid"
        except AccountSuspendedError:
            return "suspended"
        except FollowthroughError as exc:
            if exc.status == 404:
                raise _invalid("accountId", f"Unipile has no account {account_id!r}") from None
            raise SenderProblem(502, f"could not check the account with Unipile: {exc}") from None
        if found.type and found.type.upper() != "LINKEDIN":
            raise _invalid("accountId", f"Unipile account {account_id!r} is a {found.type} account, not LinkedIn")
        return status_from_unipile(found.status) or "disconnected"

    def _check_limits(self, account: SenderAccount | None, columns: dict[str, Any]) -> None:
        """The limits must hold together once merged (a maximum spacing under the minimum …)."""
        base = account or SenderAccount(
            timezone="UTC",
            working_hours={},
            working_days=[],
            daily_limits={},
            weekly_invitation_limit=100,
            min_action_spacing_seconds=60,
            max_action_spacing_seconds=300,
        )
        try:
            account_limits(base, columns)
        except pydantic.ValidationError as exc:
            problem = exc.errors(include_url=False)[0]
            field = "maxSpacingSeconds" if "spacing" in problem["msg"] else "limits"
            raise _invalid(field, problem["msg"]) from None

    async def set_limits(self, sender_account_id: str, patch: LimitsPatch) -> dict[str, Any]:
        account = await self.get(sender_account_id)
        columns = patch.columns()
        self._check_limits(account, columns)
        if columns:
            await self.accounts.update(account.id, **columns)
        return view(await self.get(account.id))

    async def remove(self, sender_account_id: str) -> dict[str, Any]:
        """Delete the record (409 while a running or paused campaign uses it). The account stays
        connected at Unipile; finished campaigns keep their records with no sender."""
        account = await self.get(sender_account_id)
        busy = await self.accounts.campaigns_using(account.id, ACTIVE_CAMPAIGN_STATUSES)
        if busy:
            names = ", ".join(c.id for c in busy[:10])
            raise SenderProblem(409, f"sender account {account.id} is used by running or paused campaigns: {names}")
        await self.accounts.delete(account.id)
        return {"id": account.id, "deleted": True}

    # --- status changes ----------------------------------------------------------------------
    async def unipile_status(self, provider_account_id: str, message: str) -> dict[str, Any]:
        """Apply Unipile's status report to every sender account acting as that account."""
        status = status_from_unipile(message)
        if status is None:
            return {"accountId": provider_account_id, "ignored": message}
        accounts = await self.accounts.acting_as(provider_account_id)
        changes = [await self.apply_status(a.id, status) for a in accounts]
        return {"accountId": provider_account_id, "status": status, "senderAccounts": changes}

    async def apply_status(self, sender_account_id: str, status: str) -> dict[str, Any]:
        """Record the status, then pause (disconnected) or resume (connected) its campaigns.
        Safe to repeat: a redelivered report pauses nothing twice and resumes nothing twice."""
        await self.accounts.set_status(sender_account_id, status)
        paused: list[str] = []
        resumed: list[str] = []
        if status in DISCONNECTED:
            paused = await self._pause_campaigns(sender_account_id, pause_reason(sender_account_id, status))
        elif status == CONNECTED:
            resumed = await self._resume_campaigns(sender_account_id)
        return {"id": sender_account_id, "status": status, "paused": paused, "resumed": resumed}

    async def _pause_campaigns(self, sender_account_id: str, reason: str) -> list[str]:
        campaigns = await self.accounts.campaigns_using(sender_account_id, ACTIVE_CAMPAIGN_STATUSES)
        ours = {p.campaign_id for p in await self.pauses.for_sender(sender_account_id)}
        if not campaigns:
            return []
        workflows = await self._temporal()
        control = CampaignControl(self.services, workflows)
        paused: list[str] = []
        for campaign in campaigns:
            if campaign.id in ours:
                await self.pauses.record(campaign.id, sender_account_id, reason)  # the newer reason
                continue
            if await self._orchestrator_state(workflows, campaign.id) != "running":
                continue  # paused by hand, stopping, or not running at all: not ours to pause
            await self.pauses.record(campaign.id, sender_account_id, reason)  # before the signal
            try:
                await control.pause(campaign.id, reason, by_sender=True)
            except CampaignProblem:  # closed since we looked
                await self.pauses.forget(campaign.id)
                continue
            paused.append(campaign.id)
            log.info("campaign %s paused: %s", campaign.id, reason)
        return paused

    async def _resume_campaigns(self, sender_account_id: str) -> list[str]:
        pauses = await self.pauses.for_sender(sender_account_id)
        if not pauses:
            return []
        control = CampaignControl(self.services, await self._temporal())
        resumed: list[str] = []
        for pause in pauses:
            try:
                await control.resume(pause.campaign_id, by_sender=True)
            except CampaignProblem:  # stopped or gone meanwhile: nothing to resume
                pass
            else:
                resumed.append(pause.campaign_id)
                log.info("campaign %s resumed: sender account %s connected", pause.campaign_id, sender_account_id)
            await self.pauses.forget(pause.campaign_id)
        return resumed

    @staticmethod
    async def _orchestrator_state(workflows: Workflows, campaign_id: str) -> str | None:
        try:
            answer = await workflows.query(orchestrator_workflow_id(campaign_id), "status", internal=True)
        except (WorkflowNotFound, WorkflowTaskFailing, QueryNotAnswered, QueryFailed):
            return None
        state = answer.get("state") if isinstance(answer, dict) else getattr(answer, "state", None)
        return str(state) if state is not None else None
