"""Inbound-message activities: record the message, tell the lead's follow-ups, find the lead's
running outreach workflows.

``inbound.record`` is the workflow's first step: the message, the lead it comes from (created
when the phone is new), its ``last_inbound_at`` and, for a STOP, the opt-out, in one store
transaction, idempotent on the provider's message id (a retry writes nothing and answers the
same lead). It also names the owner of what the message starts (:func:`message_owner`).

``inbound.signal_followups`` signals the lead's follow-ups by their ids through the client: the
common id with nothing running costs the server one "not found" read and no history event.

``inbound.find_outreach`` reads the campaign leads that share the sales lead's phone (the same
person, under the campaign's own lead id) and asks Temporal's visibility which
``LeadOutreachWorkflow``s run for any of those ``LeadId``s. Read-only, so a retry is harmless.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from followthrough.config import DEFAULT_ORGANIZATION
from followthrough.errors import RetryableError, ValidationError, as_temporal_errors
from followthrough.leads.models import Lead, LeadRepliedSignal
from followthrough.processes.followups.rules import OptedOutSignal
from followthrough.processes.inbound.rules import (
    FindOutreachInput,
    FollowupsSignalled,
    InboundRecorded,
    OutreachFound,
    RecordInbound,
    SignalFollowups,
    outreach_queries,
)
from followthrough.services import Services
from followthrough.temporal.client import signal_if_running
from followthrough.temporal.tenancy import lead_owner

if TYPE_CHECKING:
    from followthrough.store.models import Lead as StoredLead

_PAGE = 100

#: A message the store already holds is handled again (the first attempt of this very workflow
#: recorded it, then its result was lost) only if it is at most this old. An older one is a
#: redelivery whose first workflow closed and left the namespace's retention (24 h or more):
#: it ran already, so nothing runs twice. Keep it within the retention.
REDISPATCH_WINDOW = timedelta(hours=24)


async def message_owner(client: Client, lead_id: str, organization: str | None, *, created: bool) -> str:
    """The organization that owns what the message starts: the lead record's; else the owner of
    the lead's latest execution (a visibility query, asked afresh each time: an answer kept for
    later could hand the lead's message to an organization that no longer runs its processes);
    else the operator's. A lead this very message created has no execution yet: no query."""
    if organization is not None:
        return organization
    if created:
        return DEFAULT_ORGANIZATION
    try:
        return await lead_owner(client, lead_id) or DEFAULT_ORGANIZATION
    except RPCError as exc:
        raise RetryableError(f"visibility: {exc.status.name if exc.status else ''} {exc.message}") from exc


def lead_model(row: StoredLead, phone: str) -> Lead:
    """The lead a workflow carries, from its store record (``phone``: the message's sender)."""
    return Lead(
        id=row.id,
        phone=row.phone or phone,
        name=row.name,
        email=row.email,
        language="en" if row.language == "en" else "es",
    )


class InboundActivities:
    def __init__(self, services: Services) -> None:
        from followthrough.store.repositories.campaigns import CampaignLeads
        from followthrough.store.repositories.leads import Leads

        self._leads = CampaignLeads(services.database)
        self._sales_leads = Leads(services.database)

    @activity.defn(name="inbound.record")
    async def record(self, input: RecordInbound) -> InboundRecorded:
        with as_temporal_errors():
            recorded = await self._sales_leads.record_message_from(
                input.phone,
                name=input.name,
                provider_message_id=input.message_id,
                text=input.text,
                received_at=input.received_at,
                opt_out=input.opt_out,
            )
            row = recorded.lead
            lead = lead_model(row, input.phone)
            created = recorded.fresh and recorded.new_lead
            owner = await message_owner(activity.client(), lead.id, row.organization_id, created=created)
            stale = not recorded.fresh and datetime.now(UTC) - input.received_at > REDISPATCH_WINDOW
            return InboundRecorded(lead=lead, new_lead=recorded.new_lead, organization=owner, stale=stale)

    @activity.defn(name="inbound.signal_followups")
    async def signal_followups(self, input: SignalFollowups) -> FollowupsSignalled:
        """Signal each follow-up by its id, all at once; one that is not running (never
        started, or closed) answers "not found" and is left out. A retry signals again: a
        follow-up stops on the first ``lead_replied`` or ``opted_out`` and ignores the next."""
        arg: LeadRepliedSignal | OptedOutSignal = (
            OptedOutSignal(reason=input.reason)
            if input.signal == "opted_out"
            else LeadRepliedSignal(message_id=input.message_id, received_at=input.received_at)
        )
        client = activity.client()

        async def one(workflow_id: str) -> str | None:
            try:
                took = await signal_if_running(client, workflow_id, input.signal, arg)
            except RPCError as exc:
                raise RetryableError(f"signal {input.signal} to {workflow_id}: {exc.message}") from exc
            return workflow_id if took else None

        with as_temporal_errors():
            took = await asyncio.gather(*(one(i) for i in input.workflow_ids))
        return FollowupsSignalled(workflow_ids=[i for i in took if i is not None])

    @activity.defn(name="inbound.find_outreach")
    async def find_outreach(self, input: FindOutreachInput) -> OutreachFound:
        with as_temporal_errors():
            lead_ids = {input.lead_id} | await self._campaign_leads_with_phone(input.phone)
            found: set[str] = set()
            client = activity.client()
            for query in outreach_queries(lead_ids):
                try:
                    async for execution in client.list_workflows(query, page_size=_PAGE):
                        found.add(execution.id)
                except RPCError as exc:
                    if exc.status == RPCStatusCode.UNIMPLEMENTED:
                        # The time-skipping test server has no visibility: nothing can be found there.
                        activity.logger.warning("visibility is not served by this Temporal server")
                        return OutreachFound(lead_ids=sorted(lead_ids), visibility=False)
                    if exc.status == RPCStatusCode.INVALID_ARGUMENT:
                        raise ValidationError(f"visibility refused the query {query!r}: {exc.message}") from exc
                    raise RetryableError(f"visibility: {exc.status.name if exc.status else ''} {exc.message}") from exc
            return OutreachFound(workflow_ids=sorted(found), lead_ids=sorted(lead_ids))

    async def _campaign_leads_with_phone(self, phone: str | None) -> set[str]:
        if not phone:
            return set()
        return await self._leads.ids_with_phone(phone)
