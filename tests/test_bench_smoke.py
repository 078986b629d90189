"""The campaign benchmark runs end to end at a tiny size, so the script cannot rot unnoticed.

It starts its own dev server (in memory here) and one worker process per side; the figures
it prints are checked for shape and sense, not for speed (speed lives in the README's runs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.devserver


def test_campaign_fanout_runs_both_sides_and_reports_their_figures() -> None:
    leads = 12
    run = subprocess.run(
        [sys.executable, "-m", "bench.campaign_fanout", "--leads", str(leads), "--window", "5"]
        + ["--json", "--progress-every", "1", "--server-db", "memory"],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert report["leads"] == leads and report["server"] == "temporal dev server, in memory"
    names = [side["name"] for side in report["sides"]]
    assert names == ["followthrough", "raw SDK"]
    for side in report["sides"]:
        assert side["leads"] == leads
        assert side["seconds"] > 0 and side["leads_per_second"] == pytest.approx(leads / side["seconds"])
        assert side["largest_history"] > 10 and side["worker_peak_rss_mb"] > 20
        assert side["worker_cpu_seconds"] > 0 and side["server_cpu_seconds"] > 0
        assert side["worker_cpu_ms_per_lead"] == pytest.approx(1000 * side["worker_cpu_seconds"] / leads, abs=1)
    ours = report["sides"][0]
    assert (
        "CampaignOrchestratorWorkflow" in ours["largest_history_workflow"]
        or "LeadOutreach" in (ours["largest_history_workflow"])
    )
    assert report["ratio_leads_per_second"] > 0 and report["ratio_worker_cpu_per_lead"] > 0
    assert "warning" not in run.stderr  # every lead succeeded


def test_campaign_fanout_puts_a_file_backed_server_where_it_is_told(tmp_path: Path) -> None:
    """``--server-dir`` (tmpfs at 100,000 leads): the server's SQLite file is written there
    while the run lasts, and the directory the run made there is gone afterwards."""
    leads = 6
    cmd = [sys.executable, "-m", "bench.campaign_fanout", "--leads", str(leads), "--window", "3", "--sides", "raw"]
    cmd += ["--json", "--progress-every", "0", "--server-db", "file", "--server-dir", str(tmp_path)]
    run = subprocess.Popen(
        cmd, cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    seen: set[str] = set()
    deadline = time.monotonic() + 180
    while run.poll() is None and time.monotonic() < deadline:
        seen.update(path.name for path in tmp_path.rglob("*"))
        time.sleep(0.1)
    stdout, stderr = run.communicate(timeout=10)
    assert run.returncode == 0, stderr[-3000:]
    assert "temporal.db" in seen
    report = json.loads(stdout)
    assert report["server"] == "temporal dev server, SQLite file"
    assert [(side["name"], side["leads"]) for side in report["sides"]] == [("raw SDK", leads)]
    assert list(tmp_path.iterdir()) == []  # the run's server directory is removed with it
