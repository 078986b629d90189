"""`followthrough sender connect | list | show | limits | disconnect` on a migrated SQLite store,
the account checked with the sandbox Unipile. No Temporal: nothing here pauses a campaign."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from followthrough.cli import app
from followthrough.services import Services
from followthrough.store.repositories import Campaigns, SenderAccounts


@pytest.fixture
def cli_env(services: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    monkeypatch.setenv("DATABASE_URL", services.settings.effective_database_url)
    monkeypatch.setenv("FOLLOWTHROUGH_HOME", str(services.settings.followthrough_home))
    monkeypatch.setenv("FOLLOWTHROUGH_PROVIDERS", "unipile=sandbox")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    from followthrough.cli import _add_command_groups

    _add_command_groups()
    return services


async def invoke(*args: str) -> Result:
    """The CLI runs its own event loop (asyncio.run), so it goes to a thread of its own."""
    return await asyncio.to_thread(CliRunner().invoke, app, ["sender", *args])


def one_line_error(result: Result) -> str:
    """A refusal: nothing on stdout, one line on stderr, no traceback."""
    assert result.stdout == "", result.output
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "Traceback" not in result.output and not isinstance(result.exception, AssertionError)
    return result.stderr


async def connected(org: str = "org-cli", account: str = "acc-cli") -> dict[str, Any]:
    result = await invoke("connect", account, "--org", org, "--name", "Ana")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


async def test_connect_checks_the_account_and_saves_it_with_its_status(cli_env: Services) -> None:
    shown = await connected()
    assert (shown["organizationId"], shown["providerAccountId"]) == ("org-cli", "acc-cli")
    assert (shown["displayName"], shown["status"]) == ("Ana", "connected")
    stored = await SenderAccounts(cli_env.database).get(shown["id"])
    assert stored is not None and stored.status == "connected"

    stale = await invoke("connect", "acc-credentials-cli", "--org", "org-cli")
    assert stale.exit_code == 0 and json.loads(stale.stdout)["status"] == "credentials_invalid"
    again = await connected()  # the same Unipile account: the same record, refreshed
    assert again["id"] == shown["id"]

    missing = await invoke("connect", "acc-missing", "--org", "org-cli")
    assert missing.exit_code == 1 and "accountId" in one_line_error(missing)
    taken = await invoke("connect", "acc-cli", "--org", "org-other")
    assert taken.exit_code == 1 and "409" in one_line_error(taken)
    assert (await invoke("connect", "acc-cli")).exit_code == 2  # --org is required


async def test_list_and_show_give_the_accounts_as_json(cli_env: Services) -> None:
    ours = await connected("org-cli", "acc-list-1")
    theirs = await connected("org-other", "acc-list-2")

    listed = await invoke("list", "--org", "org-cli")
    assert listed.exit_code == 0, listed.output
    assert [a["id"] for a in json.loads(listed.stdout)] == [ours["id"]]
    everything = await invoke("list")
    assert {a["id"] for a in json.loads(everything.stdout)} == {ours["id"], theirs["id"]}

    shown = await invoke("show", ours["id"])
    assert shown.exit_code == 0 and json.loads(shown.stdout) == ours
    nope = await invoke("show", "nope")
    assert nope.exit_code == 1 and "nope" in one_line_error(nope)


async def test_limits_change_only_the_options_given(cli_env: Services) -> None:
    account = await connected()
    result = await invoke(
        "limits",
        account["id"],
        "--timezone",
        "Europe/Paris",
        "--working-hours",
        "08:30-17:00",
        "--working-days",
        "1,2,3",
        "--daily",
        "profile_visit=150,send_message=none",
        "--weekly-invitations",
        "50",
        "--max-spacing",
        "600",
    )
    assert result.exit_code == 0, result.output
    limits = json.loads(result.stdout)["limits"]
    assert limits == {
        **account["limits"],
        "timezone": "Europe/Paris",
        "workingHours": "08:30-17:00",
        "workingDays": [1, 2, 3],
        "dailyLimits": {"profile_visit": 150, "send_message": None},
        "weeklyInvitations": 50,
        "maxSpacingSeconds": 600,
    }
    stored = await SenderAccounts(cli_env.database).get(account["id"])
    assert stored is not None and stored.timezone == "Europe/Paris" and stored.weekly_invitation_limit == 50


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--timezone", "Mars/Olympus"], "--timezone: unknown IANA time zone"),
        (["--working-hours", "9-5"], "--working-hours: '9-5' is not HH:MM-HH:MM"),
        (["--working-hours", "18:00-09:00"], "--working-hours: the window must end after it starts"),
        (["--working-days", "1,8"], "--working-days: days must be"),
        (["--working-days", "mon"], "--working-days 'mon' is not a list"),
        (["--daily", "profile_visit=lots"], "--daily 'profile_visit=lots'"),
        (["--daily", "profile_visit=0"], "--daily profile_visit: Input should be greater than or equal to 1"),
        (["--weekly-invitations", "-1"], "--weekly-invitations: Input should be greater"),
        (["--min-spacing", "600", "--max-spacing", "60"], "--max-spacing: max_spacing_seconds must not be below"),
        (["--weekly-invitations", "ten"], "--weekly-invitations"),
    ],
)
async def test_a_bad_limit_is_one_line_naming_the_field(cli_env: Services, options: list[str], named: str) -> None:
    account = await connected()
    result = await invoke("limits", account["id"], *options)
    assert result.exit_code in (1, 2), result.output
    if "ten" in options:  # click's own usage error, framed on several lines
        assert named in result.stderr and "Traceback" not in result.output
    else:
        assert named in one_line_error(result)
    stored = await SenderAccounts(cli_env.database).get(account["id"])
    assert stored is not None and stored.timezone == "UTC" and stored.weekly_invitation_limit == 100


async def test_disconnect_is_refused_while_a_campaign_runs(cli_env: Services) -> None:
    account = await connected()
    campaigns = Campaigns(cli_env.database)
    campaign = await campaigns.create(
        name="c", organization_id="org-cli", sender_account_id=account["id"], graph={}, status="running"
    )
    busy = await invoke("disconnect", account["id"])
    assert busy.exit_code == 1
    assert campaign.id in one_line_error(busy)
    assert await SenderAccounts(cli_env.database).get(account["id"]) is not None

    await campaigns.update(campaign.id, status="completed")
    done = await invoke("disconnect", account["id"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"id": account["id"], "deleted": True}
    assert await SenderAccounts(cli_env.database).get(account["id"]) is None
