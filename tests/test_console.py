"""What every CLI command shares: failures the store reports are one line, exit 1, no traceback."""

from __future__ import annotations

import sqlite3

import pytest
import typer
from sqlalchemy.exc import OperationalError

from followthrough.console import run


async def _unmigrated() -> None:
    raise OperationalError("SELECT * FROM sender_accounts", {}, sqlite3.OperationalError("no such table: x"))


def test_a_store_error_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as ended:
        run(_unmigrated())
    assert ended.value.exit_code == 1
    err = capsys.readouterr().err
    assert err == "error: the store answered: no such table: x (run `followthrough db upgrade` first?)\n"
