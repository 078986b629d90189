"""campaign_leads: indexes for finding a lead by phone and by LinkedIn id

Revision ID: 0004_campaign_lead_lookups
Revises: 0001_initial
Create Date: 2026-11-22

An inbound WhatsApp message looks up campaign leads by ``phone``, an inbound LinkedIn
message (Unipile's webhook) by ``linkedin_id`` or profile URL, across every campaign. The
unique constraints on (campaign_id, linkedin_id) and (campaign_id, linkedin_url) do not serve
a lookup without the campaign, so the three columns get an index of their own. A branch of
its own from the base revision; ``upgrade heads`` runs it.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004_campaign_lead_lookups"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = ("campaign_lookups",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_campaign_leads_phone"), "campaign_leads", ["phone"], unique=False)
    op.create_index(op.f("ix_campaign_leads_linkedin_id"), "campaign_leads", ["linkedin_id"], unique=False)
    op.create_index(op.f("ix_campaign_leads_linkedin_url"), "campaign_leads", ["linkedin_url"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_campaign_leads_linkedin_url"), table_name="campaign_leads")
    op.drop_index(op.f("ix_campaign_leads_linkedin_id"), table_name="campaign_leads")
    op.drop_index(op.f("ix_campaign_leads_phone"), table_name="campaign_leads")
