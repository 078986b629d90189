"""A campaign's steps counted in the database, on every back-end (the funnel's source)."""

from __future__ import annotations

from typing import Any

from followthrough.store import Database
from followthrough.store.repositories import CampaignExecutions, Campaigns, SenderAccounts
from followthrough.store.repositories.campaigns import StepCount


def step(n: int, node: str, status: str = "done", branch: bool | None = None) -> dict[str, Any]:
    return {"step": n, "node_id": node, "kind": "action", "status": status, "branch": branch}


async def test_step_counts_group_every_leads_steps_by_node_result_and_rest(database: Database) -> None:
    sender = await SenderAccounts(database).create(display_name="Sales", organization_id="org-1")
    campaign = (await Campaigns(database).create(name="F", organization_id="org-1", sender_account_id=sender.id)).id
    other = (await Campaigns(database).create(name="G", organization_id="org-1", sender_account_id=sender.id)).id
    executions = CampaignExecutions(database)
    visit, replied = step(1, "visit"), step(2, "replied", branch=True)
    records = {
        "resting-after-visit": ("in_progress", 1, [visit]),
        "resting-too": ("in_progress", 1, [visit]),
        "done": ("completed", 3, [visit, replied, step(3, "hello")]),
        "no-reply": ("completed", 2, [visit, step(2, "replied", branch=False)]),
        "failed": ("failed", 1, [step(1, "visit", "failed")]),
        "not-yet": ("in_progress", 0, []),
    }
    for lead, (status, current, steps) in records.items():
        await executions.upsert(campaign, lead, status=status, current_step=current, execution_data={"steps": steps})
    await executions.upsert(other, "elsewhere", status="in_progress", current_step=1, execution_data={"steps": [visit]})

    counts, unstarted = await executions.step_counts(campaign)

    assert unstarted == 1
    assert sorted(counts, key=lambda c: (c.node_id, c.status, str(c.branch), c.resting)) == [
        StepCount("hello", "done", None, False, 1),
        StepCount("replied", "done", False, False, 1),
        StepCount("replied", "done", True, False, 1),
        StepCount("visit", "done", None, False, 2),
        StepCount("visit", "done", None, True, 2),
        StepCount("visit", "failed", None, False, 1),
    ]
    assert await executions.step_counts("no-such-campaign") == ([], 0)
