"""campaign_executions: an index on (campaign_id, status, current_step)

Revision ID: 0009_campaign_execution_states
Revises: 0001_initial
Create Date: 2026-12-06

Issue 23: the web app's campaigns list counts each campaign's leads per state on every refresh,
and the funnel counts the leads not started yet. With 100,000 leads in a campaign the unique key
(campaign_id, lead_id) finds the rows but each must be read for its state: SQLite took 225 ms
for the list's counts, 12 ms from this index alone (``python -m bench.web_funnel``). A branch of
its own from the base revision; ``upgrade heads`` runs it.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009_campaign_execution_states"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = ("campaign_execution_states",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_campaign_executions_campaign_id_status",
        "campaign_executions",
        ["campaign_id", "status", "current_step"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_campaign_executions_campaign_id_status", table_name="campaign_executions")
