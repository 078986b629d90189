"""`followthrough db upgrade | current` on the embedded SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from followthrough.catalog import command_groups
from followthrough.commands.db import app
from followthrough.store.migrate import heads

runner = CliRunner()


def test_the_db_group_is_discovered() -> None:
    assert ("db", app) in command_groups()


def test_upgrade_migrates_the_sqlite_store_under_home_and_current_reports_it(tmp_path: Path) -> None:
    env = {"FOLLOWTHROUGH_HOME": str(tmp_path / "home"), "DATABASE_URL": "", "LOG_LEVEL": "WARNING"}
    before = runner.invoke(app, ["current"], env=env)
    assert before.exit_code == 0, before.output
    assert json.loads(before.stdout)["up_to_date"] is False

    upgraded = runner.invoke(app, ["upgrade"], env=env)
    assert upgraded.exit_code == 0, upgraded.output
    out = json.loads(upgraded.stdout)
    assert out["revisions"] == list(heads())
    assert out["database"].endswith(str(tmp_path / "home" / "followthrough.db"))
    assert (tmp_path / "home" / "followthrough.db").is_file()

    after = runner.invoke(app, ["current"], env=env)
    assert json.loads(after.stdout) | {"database": ""} == {
        "database": "",
        "revisions": list(heads()),
        "heads": list(heads()),
        "up_to_date": True,
    }


def test_an_unreachable_database_is_one_line_and_status_1(tmp_path: Path) -> None:
    env = {"DATABASE_URL": "postgresql+asyncpg://nobody:secret@127.0.0.1:1/none", "LOG_LEVEL": "WARNING"}
    result = runner.invoke(app, ["upgrade"], env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: store postgresql+asyncpg://nobody:***@127.0.0.1:1/none unavailable")
    assert "secret" not in result.output and "Traceback" not in result.output
