"""`followthrough campaign …` without Temporal: create, refusals, and the progress line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from followthrough.cli import app
from followthrough.processes.campaigns.cli import progress_line
from followthrough.services import Services
from followthrough.store.repositories import CampaignLeads, Campaigns, SenderAccounts

GRAPH = {
    "nodes": [{"id": "visit", "kind": "action", "action": "profile_visit"}, {"id": "done", "kind": "end"}],
    "edges": [{"source": "visit", "target": "done"}],
}


@pytest.fixture
def cli_env(services: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    monkeypatch.setenv("DATABASE_URL", services.settings.effective_database_url)
    from followthrough.cli import _add_command_groups

    _add_command_groups()
    return services


async def invoke(*args: str) -> Result:
    """The CLI runs its own event loop (asyncio.run), so it goes to a thread of its own."""
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def test_create_saves_the_campaign_and_its_csv_leads(cli_env: Services, tmp_path: Path) -> None:
    account = await SenderAccounts(cli_env.database).create(organization_id="org-1", status="connected")
    spec = tmp_path / "campaign.json"
    spec.write_text(json.dumps({"name": "n", "organizationId": "org-1", "senderAccountId": account.id, "graph": GRAPH}))
    leads = tmp_path / "leads.csv"
    leads.write_text("linkedin_url,first_name\nhttps://www.linkedin.com/in/a,A\nhttps://linkedin.com/in/a/,A\n")

    result = await invoke("campaign", "create", str(spec), "--leads-csv", str(leads))
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["leads_added"] == 1 and created["duplicates"] == 1
    assert (await Campaigns(cli_env.database).get(created["campaign_id"])) is not None
    assert await CampaignLeads(cli_env.database).count(created["campaign_id"]) == 1


async def test_create_reports_graph_faults_with_node_ids(cli_env: Services, tmp_path: Path) -> None:
    graph = {"nodes": [{"id": "visit", "kind": "action", "action": "profile_visit"}], "edges": []}
    spec = tmp_path / "campaign.json"
    spec.write_text(json.dumps({"name": "n", "organizationId": "o", "senderAccountId": "s", "graph": graph}))
    result = await invoke("campaign", "create", str(spec))
    assert result.exit_code == 1
    assert "error (422)" in result.output and '"visit"' in result.output and "missing_next" in result.output


def test_progress_line_counts_finished_leads() -> None:
    status = {
        "orchestrator": {
            "state": "running",
            "totals": {"total": 10, "pending": 4, "running": 3, "succeeded": 2, "failed": 1, "stopped": 0},
        }
    }
    done, total, text = progress_line(status)
    assert (done, total) == (3, 10)
    assert text.startswith("running: 3 running, 4 pending")


async def test_watch_off_a_terminal_prints_one_line_per_change(capsys: pytest.CaptureFixture[str]) -> None:
    from followthrough.processes.campaigns.cli import watch_progress

    def status(state: str, succeeded: int, workflow: str = "RUNNING") -> dict[str, object]:
        totals = {"total": 2, "pending": 2 - succeeded, "running": 0, "succeeded": succeeded}
        return {"workflowStatus": workflow, "orchestrator": {"state": state, "totals": totals}}

    answers = [status("running", 0), status("running", 0), status("running", 1), status("completed", 2, "COMPLETED")]

    class Control:
        async def status(self, campaign_id: str) -> dict[str, object]:
            return answers.pop(0)

    final = await watch_progress(Control(), "c1", 0.0, plain=True)  # type: ignore[arg-type]
    assert final["workflowStatus"] == "COMPLETED"
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "c1 0/2 running: 0 running, 2 pending, 0 ok, 0 failed, 0 stopped",
        "c1 1/2 running: 0 running, 1 pending, 1 ok, 0 failed, 0 stopped",
        "c1 2/2 completed: 0 running, 0 pending, 2 ok, 0 failed, 0 stopped",
    ]
