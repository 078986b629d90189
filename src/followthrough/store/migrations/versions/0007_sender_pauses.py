"""sender_pauses: campaigns paused because their sender account lost its connection

Revision ID: 0007_sender_pauses
Revises: 0001_initial
Create Date: 2026-12-20

Issue 20, item 1: when Unipile reports a sender account's credentials invalid (or the account
stopped), its running campaigns pause; when it reconnects, only those campaigns resume, not one
an operator paused by hand. The orchestrator keeps no pause reason, so the store does. A branch
of its own from the base revision; ``upgrade heads`` runs it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from followthrough.store.types import UTCDateTime

revision: str = "0007_sender_pauses"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = ("sender_pauses",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sender_pauses",
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("sender_account_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("paused_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_sender_pauses_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sender_account_id"],
            ["sender_accounts.id"],
            name=op.f("fk_sender_pauses_sender_account_id_sender_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id"),
    )
    op.create_index(op.f("ix_sender_pauses_sender_account_id"), "sender_pauses", ["sender_account_id"], unique=False)


def downgrade() -> None:
    # The table takes its index with it (MariaDB refuses to drop an index a foreign key needs).
    op.drop_table("sender_pauses")
