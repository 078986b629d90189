"""webhook_deliveries: provider deliveries accepted, shared by every API process

Revision ID: 0006_webhook_deliveries
Revises: 0001_initial
Create Date: 2026-12-12

Issue 18, item 7: the webhooks remembered the deliveries they accepted in each process's memory,
so another process took a replay, and a provider's redelivery of an event already handled was
refused 403 (Stripe then retries it for days). The ids now live here, UNIQUE per provider. A
branch of its own from the base revision; ``upgrade heads`` runs it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from followthrough.store.types import UTCDateTime

revision: str = "0006_webhook_deliveries"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = ("webhook_deliveries",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("delivery_id", sa.String(length=255), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "delivery_id", name=op.f("uq_webhook_deliveries_provider_delivery_id")),
    )
    op.create_index(op.f("ix_webhook_deliveries_expires_at"), "webhook_deliveries", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_webhook_deliveries_expires_at"), table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
