"""Small typed repositories over the store's records, one class per record family.

Each takes a :class:`~followthrough.store.Database`, opens one transaction per call and
returns detached ORM objects (safe to read after the call; change them through the repository).
They hold the queries every family needs; a family adds its own specific ones beside its code.
Writes that can race (upserts, de-duplication, counters) are safe under concurrency on all
three back-ends: they rely on UNIQUE constraints and atomic ``UPDATE … WHERE``, not on reads.
"""

from followthrough.store.repositories.api_keys import SCOPES, ApiKeyRecord, ApiKeys, IssuedKey
from followthrough.store.repositories.base import RecordNotFound
from followthrough.store.repositories.bots import BotDeployments
from followthrough.store.repositories.campaigns import (
    AddLeadsResult,
    CampaignExecutions,
    CampaignLeads,
    Campaigns,
    LeadIdTaken,
    NewCampaignLead,
    normalize_linkedin_url,
)
from followthrough.store.repositories.content import ContentItems
from followthrough.store.repositories.leads import InboundResult, LeadData, Leads, ensure_lead
from followthrough.store.repositories.notifications import Notifications
from followthrough.store.repositories.sales import Appointments, Payments
from followthrough.store.repositories.senders import Reservation, SenderAccounts, SenderPauses, SenderUsageCounters
from followthrough.store.repositories.webhooks import Claim, WebhookDeliveries

__all__ = [
    "SCOPES",
    "AddLeadsResult",
    "ApiKeyRecord",
    "ApiKeys",
    "Appointments",
    "BotDeployments",
    "CampaignExecutions",
    "CampaignLeads",
    "Campaigns",
    "Claim",
    "ContentItems",
    "InboundResult",
    "IssuedKey",
    "LeadData",
    "Leads",
    "LeadIdTaken",
    "NewCampaignLead",
    "Notifications",
    "Payments",
    "RecordNotFound",
    "Reservation",
    "SenderAccounts",
    "SenderPauses",
    "SenderUsageCounters",
    "WebhookDeliveries",
    "ensure_lead",
    "normalize_linkedin_url",
]
