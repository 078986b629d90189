"""`followthrough dev` as a user runs it: a real process tree (dev server, worker, uvicorn)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from followthrough.temporal.devserver import free_port

KEY = "dev-test-key"


class DevProcess:
    def __init__(self, home: Path) -> None:
        self.env = {
            **os.environ,
            "FOLLOWTHROUGH_HOME": str(home),
            "FOLLOWTHROUGH_DEV_PORT": str(free_port()),
            "FOLLOWTHROUGH_UI_PORT": str(free_port()),
            "FOLLOWTHROUGH_API_PORT": str(free_port()),
            "FOLLOWTHROUGH_API_KEY": KEY,
            "TEMPORAL_TASK_QUEUE": "followthrough",
        }
        self.env.pop("TEMPORAL_ADDRESS", None)
        self.env.pop("DATABASE_URL", None)
        self.log = home / "dev.out"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.env['FOLLOWTHROUGH_API_PORT']}"

    @property
    def ui(self) -> str:
        return f"http://127.0.0.1:{self.env['FOLLOWTHROUGH_UI_PORT']}"

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        readies = self.log.read_text().count("Ready.") if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "followthrough.cli", "dev"], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 90
        while self.log.read_text().count("Ready.") == readies:
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.1)

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.proc = None
        return code


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[DevProcess]:
    process = DevProcess(tmp_path / "home")
    try:
        yield process
    finally:
        if process.proc is not None:
            process.proc.kill()
            process.proc.wait()


async def wait_for(check, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result is not None:
            return result
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def test_dev_serves_api_worker_and_web_ui_and_resumes_after_sigterm(dev: DevProcess) -> None:
    dev.start()
    output = dev.log.read_text()
    assert dev.api in output and dev.ui in output
    assert "Sandboxes  whatsapp, calcom, stripe" in output  # the newcomer sees nothing leaves the machine
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=dev.api, headers=headers, timeout=30) as http:

        async def healthy():  # type: ignore[no-untyped-def]
            resp = await http.get("/healthz")
            return resp.json() if resp.status_code == 200 else None

        health = await wait_for(healthy)
        assert health["temporal"]["ok"] and health["worker"]["ok"] and health["api"]["ok"]

        executed = await http.post("/api/workflows/HealthCheckWorkflow/execute", json={"input": {}})
        assert executed.status_code == 200, executed.text
        assert executed.json()["result"]["ok"] is True
        wid = executed.json()["workflow_id"]

        # GET /metrics: our completion counter beside the SDK's own metrics.
        metrics = (await http.get("/metrics")).text
        counter = 'followthrough_workflow_completions_total{outcome="completed",workflow_type="HealthCheckWorkflow"}'
        assert counter in metrics
        assert "temporal_workflow_completed" in metrics

        # The Web UI is served and its API lists that execution.
        async with httpx.AsyncClient(base_url=dev.ui, timeout=30) as ui:
            page = await ui.get("/")
            assert page.status_code == 200 and "<html" in page.text.lower()

            async def listed():  # type: ignore[no-untyped-def]
                resp = await ui.get("/api/v1/namespaces/default/workflows")
                ids = [e["execution"]["workflowId"] for e in resp.json().get("executions", [])]
                return ids if wid in ids else None

            await wait_for(listed)

        # A workflow that is still pending when the stack stops finishes after a restart.
        started = await http.post(
            "/api/workflows/HealthCheckWorkflow/start",
            json={"input": {}, "workflow_id": "survives-restart", "start_delay_seconds": 3},
        )
        assert started.status_code == 202
    assert dev.stop() == 0
    assert "Stopped." in dev.log.read_text()
    # `dev` migrated the embedded SQLite store before it started the worker.
    with sqlite3.connect(Path(dev.env["FOLLOWTHROUGH_HOME"]) / "followthrough.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"alembic_version", "outbox", "leads"} <= tables
    # The embedded Temporal keeps its file in the write-ahead-log journal by default.
    with sqlite3.connect(Path(dev.env["FOLLOWTHROUGH_HOME"]) / "temporal.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    dev.start()
    async with httpx.AsyncClient(base_url=dev.api, headers=headers, timeout=30) as http:

        async def finished():  # type: ignore[no-untyped-def]
            resp = await http.get("/api/workflows/survives-restart/result")
            return resp.json() if resp.status_code == 200 else None

        result = await wait_for(finished, timeout=60)
        assert result["result"]["ok"] is True
        desc = (await http.get("/api/workflows/survives-restart")).json()
        assert desc["status"] == "COMPLETED"
        assert desc["run_id"] == started.json()["run_id"]
    assert dev.stop() == 0
