"""leads: the memory summary the integration sync writes

Revision ID: 0002_lead_memory
Revises: 0001_initial
Create Date: 2026-11-24

Issue 4, item 4: the lead's memory summary (``leads.memory_summary``) and the instant it
describes (``leads.memory_updated_at``). A branch of its own from the base revision, so it
does not depend on what other families add; ``upgrade heads`` runs it.

Plain ``ADD COLUMN`` / ``DROP COLUMN`` on every back-end (SQLite has both since 3.35), never a
batch rebuild: rebuilding ``leads`` on SQLite with foreign keys on would cascade-delete the
rows that point at it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from followthrough.store.types import UTCDateTime

revision: str = "0002_lead_memory"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = ("lead_memory",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("leads", sa.Column("memory_summary", sa.Text(), nullable=True))
    op.add_column("leads", sa.Column("memory_updated_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("leads", "memory_updated_at")
    op.drop_column("leads", "memory_summary")
