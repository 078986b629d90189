"""``python -m bench`` runs every workload end to end at a tiny size, so it cannot rot unnoticed.

It starts its own dev servers and worker processes; the report it writes is checked for shape
and for both sides having run, not for speed (speed lives in ``bench/runs/`` and the README).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.devserver


def test_one_command_runs_every_workload_on_both_sides_and_writes_its_report(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path), "--label", "smoke"]
    cmd += ["--leads", "6", "--window", "3", "--server-db", "memory"]
    cmd += ["--requests", "6", "--webhook-concurrency", "2", "--workflows", "3", "--flow-concurrency", "3"]
    cmd += ["--flow-delay", "1"]
    run = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    [path] = list(tmp_path.glob("*-quick.json"))
    report = json.loads(path.read_text())
    assert report["schema"] == "followthrough-bench/1" and report["quick"] is True and report["label"] == "smoke"
    assert len(report["commit"]) >= 7 and report["machine"]["cpus"] >= 1
    assert set(report["workloads"]) == {"campaign", "webhook", "flow", "timers"}

    campaign = report["workloads"]["campaign"]
    assert [side["name"] for side in campaign["sides"]] == ["followthrough", "raw SDK"]
    for side in campaign["sides"]:
        assert side["leads"] == 6 and side["seconds"] > 0 and side["worker_cpu_seconds"] > 0
        assert side["server_cpu_seconds"] > 0 and side["largest_history"] > 10 and side["lead_history_events"] > 5
    assert "warning" not in run.stderr  # every lead of ours succeeded

    for concurrency in ("2",):
        routes = report["workloads"]["webhook"]["concurrency"][concurrency]
        for route in ("noop", "raw", "ours"):
            assert routes[route]["requests"] == 6
            assert 0 < routes[route]["p50_ms"] <= routes[route]["p95_ms"] <= routes[route]["p99_ms"]

    for workload in ("flow", "timers"):
        ours, raw = report["workloads"][workload]["sides"]
        assert (ours["name"], raw["name"]) == ("followthrough", "raw SDK")
        for side in (ours, raw):
            assert side["workflows"] == 3 and side["workflows_per_second"] > 0 and side["start_p50_ms"] > 0
            assert side["history_events_per_workflow"] > 4 and side["worker_cpu_ms_per_workflow"] > 0

    # Every target row names both sides' figures, and the ones with a target say met or not.
    measures = {(row["workload"], row["measure"]) for row in report["targets"]}
    assert ("campaign 6 leads", "leads/s") in measures and ("webhook, concurrency 2", "p99 ms") in measures
    for row in report["targets"]:
        assert row["ours"] is not None
        assert (row["target"] is None) == (row["met"] is None) or row["ours"] is None

    table = subprocess.run(
        [sys.executable, "-m", "bench", "table", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert table.returncode == 0, table.stderr
    assert "| campaign 6 leads | leads/s |" in table.stdout and "(quick)" in table.stdout


def test_the_campaign_bench_reports_the_servers_storage_calls_per_lead() -> None:
    """``--server-metrics``: the dev server serves its metrics, and each side reports what the
    server did per lead, read from them (each lead is created once, and written many times)."""
    # Enough leads for a few progress lines (readings) before the end: 6 leads took under a second.
    cmd = [sys.executable, "-m", "bench.campaign_fanout", "--leads", "40", "--window", "5", "--sides", "ours"]
    cmd += ["--server-db", "memory", "--progress-every", "0.25", "--server-metrics", "--json"]
    run = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    [side] = json.loads(run.stdout)["sides"]
    ops = side["server_ops_per_lead"]
    # 40 leads and the orchestrator's runs (and the dev server's own system workflows, if any
    # start meanwhile): at least 41 executions created over 40 leads.
    assert 41 / 40 - 0.01 <= ops["CreateWorkflowExecution"] <= 2
    assert ops["UpdateWorkflowExecution"] > 5 and ops["RecordWorkflowExecutionClosed"] >= 1
    assert list(ops.values()) == sorted(ops.values(), reverse=True)
    # And per window of the run (readings at each progress line): the leads of the windows are
    # leads the run finished, and the server spent CPU on them.
    windows = side["server_windows"]
    assert windows and sum(w["leads"] for w in windows) <= 40
    assert all(w["leads"] > 0 and w["server_cpu_ms_per_lead"] > 0 for w in windows)
    assert "ms in storage calls" in run.stderr
