"""The embedded dev server's SQLite file: its journal mode, and what a file made in one mode
does when the server next opens it in the other."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from followthrough.temporal.devserver import DevServer, DevServerError, free_port, set_journal_mode


def journal_mode(db: Path) -> str:
    """The mode stored in the file, read beside the running server (read-only)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])


def test_a_file_backed_server_is_started_with_the_journal_it_is_given(tmp_path: Path) -> None:
    command = DevServer(tmp_path, port=7300, ui_port=None).command()
    assert command[command.index("--sqlite-pragma") + 1] == "journal_mode=wal"  # the default
    command = DevServer(tmp_path, port=7300, ui_port=None, journal_mode="delete").command()
    assert command[command.index("--sqlite-pragma") + 1] == "journal_mode=delete"
    in_memory = DevServer(tmp_path, port=7300, ui_port=None, db_filename=None).command()
    assert "--sqlite-pragma" not in in_memory and "--db-filename" not in in_memory


def test_the_file_is_switched_before_the_server_opens_it_and_a_held_one_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "temporal.db"
    with contextlib.closing(sqlite3.connect(db)) as made:  # a file made in SQLite's default mode
        made.execute("CREATE TABLE t (x)")
    assert journal_mode(db) == "delete"
    set_journal_mode(db, "wal")
    assert journal_mode(db) == "wal"
    set_journal_mode(db, "delete")
    assert journal_mode(db) == "delete"
    set_journal_mode(db, "wal")
    # Another process with the file open (here a reader inside a transaction): SQLite will not
    # switch it, and the server is not started on a file it would fail on.
    with contextlib.closing(sqlite3.connect(db)) as holder:
        holder.execute("BEGIN")
        holder.execute("SELECT * FROM t").fetchall()
        with pytest.raises(DevServerError, match="temporal.db"):
            set_journal_mode(db, "delete")
        holder.rollback()
    assert journal_mode(db) == "wal"
    with pytest.raises(ValueError, match="journal_mode must be one of wal, delete"):
        DevServer(tmp_path, journal_mode="memory")


@pytest.mark.parametrize(("first", "then"), [("wal", "delete"), ("delete", "wal")])
async def test_the_file_keeps_its_workflows_when_reopened_in_the_other_journal(
    tmp_path: Path, first: str, then: str
) -> None:
    run_ids = []
    for mode in (first, then):
        server = DevServer(tmp_path, port=free_port(), ui_port=None, journal_mode=mode)
        await server.start()
        try:
            assert server.db_path is not None and journal_mode(server.db_path) == mode
            client = await Client.connect(server.address)
            if mode == first:  # no worker polls this queue: the execution waits in the file
                handle = await client.start_workflow("NothingPolls", id="kept", task_queue="nobody-polls")
                run_ids.append(handle.result_run_id)
            described = await client.get_workflow_handle("kept").describe()
            assert described.status == WorkflowExecutionStatus.RUNNING
            run_ids.append(described.run_id)
        finally:
            await server.stop()
    assert run_ids[0] == run_ids[1] == run_ids[2]
