"""web_sessions: the web app's sessions, so that signing out ends one for good

Revision ID: 0008_web_sessions
Revises: 0001_initial
Create Date: 2026-12-06

Issue 23: a signed cookie alone stays valid until it expires, even after its owner signs out;
a row per session, checked on every request and ended at sign-out, makes a copied cookie stop
working. A branch of its own from the base revision; ``upgrade heads`` runs it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from followthrough.store.types import UTCDateTime

revision: str = "0008_web_sessions"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = ("web_sessions",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_web_sessions_key_id"), "web_sessions", ["key_id"], unique=False)
    op.create_index(op.f("ix_web_sessions_expires_at"), "web_sessions", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("web_sessions")
