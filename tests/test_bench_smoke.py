"""The campaign benchmark runs end to end at a tiny size, so the script cannot rot unnoticed.

It starts its own dev server (in memory here) and one worker process per side; the figures
it prints are checked for shape and sense, not for speed (speed lives in the README's runs).
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
