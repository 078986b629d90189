"""Inbound-message activities: find the lead's running outreach workflows.

``inbound.find_outreach`` reads the campaign leads that share the sales lead's phone (the same
person, under the campaign's own lead id) and asks Temporal's visibility which
``LeadOutreachWorkflow``s run for any of those ``LeadId``s. Read-only, so a retry is harmless.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.service import RPCError, RPCStatusCode

from followthrough.errors import RetryableError, ValidationError, as_temporal_errors
from followthrough.processes.inbound.rules import FindOutreachInput, OutreachFound, outreach_queries
from followthrough.services import Services

_PAGE = 100


class InboundActivities:
    def __init__(self, services: Services) -> None:
        from followthrough.store.repositories.campaigns import CampaignLeads

        self._leads = CampaignLeads(services.database)

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
