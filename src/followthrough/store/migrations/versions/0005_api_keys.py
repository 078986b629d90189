"""api_keys: per-organization API keys

Revision ID: 0005_api_keys
Revises: 0001_initial
Create Date: 2026-12-05

Issue 17: each organization gets keys of its own, with scopes, an optional expiry and
revocation, instead of the one shared ``FOLLOWTHROUGH_API_KEY``. Only a SHA-256 digest of
a key's secret is stored. A branch of its own from the base revision; ``upgrade heads`` runs it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from followthrough.store.types import UTCDateTime

revision: str = "0005_api_keys"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = ("api_keys",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("scopes", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_api_keys_organization_id"), "api_keys", ["organization_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_api_keys_organization_id"), table_name="api_keys")
    op.drop_table("api_keys")
