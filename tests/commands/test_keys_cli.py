"""`followthrough keys create | list | revoke` on a migrated SQLite store."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from followthrough.cli import app
from followthrough.commands.keys import parse_duration
from followthrough.services import Services
from followthrough.store.repositories import ApiKeys


@pytest.fixture
def cli_env(services: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    monkeypatch.setenv("DATABASE_URL", services.settings.effective_database_url)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    from followthrough.cli import _add_command_groups

    _add_command_groups()
    return services


async def invoke(*args: str) -> Result:
    """The CLI runs its own event loop (asyncio.run), so it goes to a thread of its own."""
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def test_create_prints_a_key_that_authenticates(cli_env: Services) -> None:
    result = await invoke("keys", "create", "--org", "org-cli", "--scope", "write,read", "--expires", "90d", "--json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert set(created) == {"id", "key", "organization", "scopes"}
    assert (created["organization"], created["scopes"]) == ("org-cli", ["read", "write"])
    assert "shown only once" in result.stderr and len(result.stderr.splitlines()) == 1
    record = await ApiKeys(cli_env.database).authenticate(created["key"])
    assert record is not None and record.id == created["id"] and record.expires_at is not None


async def test_create_without_json_prints_only_the_key_on_stdout(cli_env: Services) -> None:
    result = await invoke("keys", "create", "--org", "org-cli", "--scope", "read", "--name", "ci")
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    record = await ApiKeys(cli_env.database).authenticate(key)
    assert record is not None and record.name == "ci" and record.expires_at is None


async def test_list_shows_the_key_without_its_secret(cli_env: Services) -> None:
    created = json.loads((await invoke("keys", "create", "--org", "org-list", "--scope", "read", "--json")).stdout)
    await invoke("keys", "create", "--org", "org-other", "--scope", "read")
    result = await invoke("keys", "list", "--org", "org-list")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [k["id"] for k in listed] == [created["id"]]
    assert listed[0]["active"] is True and listed[0]["scopes"] == ["read"]
    secret = created["key"].removeprefix(f"ft_{created['id']}_")
    assert secret not in result.output
    everything = json.loads((await invoke("keys", "list")).stdout)
    assert {k["organization"] for k in everything} == {"org-list", "org-other"}


async def test_revoke_makes_the_key_fail_authentication(cli_env: Services) -> None:
    created = json.loads((await invoke("keys", "create", "--org", "org-r", "--scope", "admin", "--json")).stdout)
    result = await invoke("keys", "revoke", created["id"])
    assert result.exit_code == 0, result.output
    revoked = json.loads(result.stdout)
    assert revoked["id"] == created["id"] and revoked["revoked_at"] is not None and revoked["active"] is False
    assert await ApiKeys(cli_env.database).authenticate(created["key"]) is None


@pytest.mark.parametrize("expires", ["90", "90x", "d", "-1d", "0d", "1.5h", "3661d", "99999999w", "999999999w"])
async def test_a_bad_expires_is_a_usage_error_of_one_line(cli_env: Services, expires: str) -> None:
    result = await invoke("keys", "create", "--org", "org-x", "--scope", "read", "--expires", expires)
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1 and "--expires" in result.stderr
    assert await ApiKeys(cli_env.database).list("org-x") == []


@pytest.mark.parametrize(
    ("args", "word"),
    [(("--org", "bad org", "--scope", "read"), "organization"), (("--org", "o", "--scope", "read,owner"), "scopes")],
)
async def test_a_bad_organization_or_scope_is_a_usage_error_of_one_line(
    cli_env: Services, args: tuple[str, ...], word: str
) -> None:
    result = await invoke("keys", "create", *args)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.splitlines()) == 1 and word in result.stderr and "Traceback" not in result.output


async def test_revoking_an_unknown_id_is_one_line_and_status_1(cli_env: Services) -> None:
    result = await invoke("keys", "revoke", "k_000000000000")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == ["error: API key 'k_000000000000' not found"]


def test_an_unmigrated_store_says_to_run_db_upgrade(tmp_path: Path) -> None:
    from followthrough.cli import _add_command_groups

    _add_command_groups()
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}", "LOG_LEVEL": "WARNING"}
    result = CliRunner().invoke(app, ["keys", "list"], env=env)
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1 and "followthrough db upgrade" in result.stderr


def test_durations_read_minutes_hours_days_and_weeks() -> None:
    assert [parse_duration(t) for t in ("30m", "12h", "90d", "2w")] == [
        timedelta(minutes=30),
        timedelta(hours=12),
        timedelta(days=90),
        timedelta(weeks=2),
    ]
