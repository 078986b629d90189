"""data sync bookkeeping: sync_watermarks and sync_quarantine

Revision ID: 0003_sync_state
Revises: 0001_initial
Create Date: 2026-11-24

The DataSyncWorkflow's own records (issue 6, item 4) in the app's database: how far each sync
has got, and the source rows it refused with their reasons. A branch of its own from the base
revision; ``upgrade heads`` runs it.

Before this revision the data-sync activities created both tables on first use, so a database
may hold them already, with this very definition: such a table is adopted, not created again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from followthrough.store.types import UTCDateTime

revision: str = "0003_sync_state"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = ("data_sync",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    offline = op.get_context().as_sql  # ``--sql``: no database to look at, write every table
    existing = set() if offline else set(sa.inspect(op.get_bind()).get_table_names())
    if "sync_watermarks" not in existing:
        op.create_table(
            "sync_watermarks",
            sa.Column("sync_name", sa.String(length=100), nullable=False),
            sa.Column("cursor_value", sa.String(length=64), nullable=True),
            sa.Column("key_value", sa.String(length=255), nullable=True),
            sa.Column("updated_at", UTCDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("sync_name"),
        )
    if "sync_quarantine" not in existing:
        op.create_table(
            "sync_quarantine",
            sa.Column("id", sa.String(length=64), nullable=False),
            sa.Column("sync_name", sa.String(length=100), nullable=False),
            sa.Column("table_name", sa.String(length=64), nullable=False),
            sa.Column("row_key", sa.String(length=255), nullable=False),
            sa.Column("cursor_value", sa.String(length=64), nullable=True),
            sa.Column("reason", sa.Text(), nullable=False),
            sa.Column("row", sa.JSON(), nullable=False),
            sa.Column("quarantined_at", UTCDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint(
                "sync_name", "table_name", "row_key", "cursor_value", name="uq_sync_quarantine_version"
            ),
        )


def downgrade() -> None:
    op.drop_table("sync_quarantine")
    op.drop_table("sync_watermarks")
