"""`followthrough workflow ...`: the client wrapper on the command line, JSON in and out."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from typing import Any

from temporalio.worker import Worker

from followthrough.temporal import DevServer


async def cli(server: DevServer, task_queue: str, *args: str) -> tuple[int, Any, str]:
    env = {**os.environ, "TEMPORAL_ADDRESS": server.address, "TEMPORAL_TASK_QUEUE": task_queue}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "followthrough.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    return proc.returncode or 0, json.loads(text) if text.strip().startswith("{") else text, err.decode()


async def test_execute_describe_and_list(dev_server: DevServer, dev_worker: Worker) -> None:
    tq = dev_worker.task_queue
    wid = f"health-cli-{uuid.uuid4()}"
    code, out, err = await cli(
        dev_server,
        tq,
        "workflow",
        "execute",
        "HealthCheckWorkflow",
        "--input",
        "{}",
        "--id",
        wid,
        "--search-attributes",
        json.dumps({"LeadId": wid}),
    )
    assert code == 0, err
    assert out["workflow_id"] == wid and out["result"]["ok"] is True

    code, out, _ = await cli(dev_server, tq, "workflow", "describe", wid)
    assert (out["status"], out["type"], out["task_queue"]) == ("COMPLETED", "HealthCheckWorkflow", tq)

    code, out, _ = await cli(dev_server, tq, "workflow", "result", wid)
    assert out["result"]["ok"] is True

    for _ in range(50):
        code, out, _ = await cli(dev_server, tq, "workflow", "list", f'LeadId="{wid}" AND ExecutionStatus="Completed"')
        if out["executions"]:
            break
    assert [e["workflow_id"] for e in out["executions"]] == [wid]


async def test_start_twice_then_terminate(dev_server: DevServer, task_queue: str) -> None:
    wid = f"health-cli-{uuid.uuid4()}"
    first = await cli(dev_server, task_queue, "workflow", "start", "HealthCheckWorkflow", "--id", wid)
    second = await cli(dev_server, task_queue, "workflow", "start", "HealthCheckWorkflow", "--id", wid)
    assert first[1]["created"] is True and second[1]["created"] is False
    assert first[1]["run_id"] == second[1]["run_id"]
    code, _, err = await cli(dev_server, task_queue, "workflow", "result", wid)
    assert code == 1 and "still running" in err
    code, out, _ = await cli(dev_server, task_queue, "workflow", "terminate", wid, "--reason", "test")
    assert out == {"workflow_id": wid, "terminated": True}
    code, out, _ = await cli(dev_server, task_queue, "workflow", "describe", wid)
    assert out["status"] == "TERMINATED"


async def test_errors_are_one_line_without_traceback(dev_server: DevServer, task_queue: str) -> None:
    code, _, err = await cli(dev_server, task_queue, "workflow", "start", "Nope")
    assert code == 1 and err.startswith("error: unknown workflow type 'Nope'") and "Traceback" not in err
    code, _, err = await cli(dev_server, task_queue, "workflow", "describe", f"missing-{uuid.uuid4()}")
    assert code == 1 and "no workflow with id" in err
    code, _, err = await cli(dev_server, task_queue, "workflow", "start", "HealthCheckWorkflow", "--input", "{bad")
    assert code == 1 and "--input is not valid JSON" in err
    code, _, err = await cli(
        dev_server, task_queue, "workflow", "start", "HealthCheckWorkflow", "--input", '{"dependencies": 3}'
    )
    assert code == 1 and "input.dependencies" in err


async def test_server_reported_errors_are_one_line_and_exit_1(dev_server: DevServer, task_queue: str) -> None:
    wid = f"health-cli-{uuid.uuid4()}"
    await cli(dev_server, task_queue, "workflow", "start", "HealthCheckWorkflow", "--id", wid)  # no worker: it runs
    code, _, err = await cli(dev_server, task_queue, "workflow", "query", wid, "nope")
    assert code == 1 and err.startswith("error: unknown query 'nope'"), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    code, _, err = await cli(dev_server, task_queue, "workflow", "describe", "missing")
    assert (code, err.strip()) == (1, "error: no workflow with id 'missing'")
    code, _, err = await cli(dev_server, task_queue, "workflow", "list", "--page-token", "null")
    assert code == 1 and err.startswith("error: page_token:") and len(err.strip().splitlines()) == 1
    await cli(dev_server, task_queue, "workflow", "terminate", wid)


async def test_unreachable_temporal_names_the_address(task_queue: str) -> None:
    from followthrough.temporal.devserver import free_port

    class Nowhere:
        address = f"127.0.0.1:{free_port()}"

    code, _, err = await cli(Nowhere(), task_queue, "workflow", "list")  # type: ignore[arg-type]
    assert code == 1
    assert f"Temporal is unreachable at {Nowhere.address}" in err
    assert len(err.strip().splitlines()) == 1


async def test_history_writes_replayable_json(dev_server: DevServer, dev_worker: Worker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tq = dev_worker.task_queue
    wid = f"health-cli-{uuid.uuid4()}"
    await cli(dev_server, tq, "workflow", "execute", "HealthCheckWorkflow", "--id", wid)
    target = tmp_path / "h.json"
    code, _, err = await cli(dev_server, tq, "workflow", "history", wid, "--out", str(target))
    assert code == 0, err
    events = json.loads(target.read_text())["events"]
    assert events[0]["eventType"] in ("EVENT_TYPE_WORKFLOW_EXECUTION_STARTED", "WorkflowExecutionStarted")
