"""The campaign benchmark's ``--combine``: two one-side reports (at 100,000 leads each side is a
run of its own) become one report with the ratios, and reports that do not match are refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def side(name: str, seconds: float, history: int, rss: float, worker_cpu: float, server_cpu: float) -> dict[str, Any]:
    leads = 1000
    return {
        "name": name,
        "leads": leads,
        "seconds": seconds,
        "leads_per_second": leads / seconds,
        "largest_history": history,
        "largest_history_workflow": f"{name}-parent",
        "worker_peak_rss_mb": rss,
        "worker_cpu_seconds": worker_cpu,
        "server_cpu_seconds": server_cpu,
        "worker_cpu_ms_per_lead": 1000 * worker_cpu / leads,
        "server_cpu_ms_per_lead": 1000 * server_cpu / leads,
    }


def write(path: Path, one_side: dict[str, Any], **overrides: Any) -> Path:
    report = {"leads": 1000, "window": 100, "server": "temporal dev server, SQLite file", "sides": [one_side]}
    path.write_text(json.dumps(report | overrides))
    return path


def combine(*paths: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "bench.campaign_fanout", "--combine", *map(str, paths), "--json"]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("raw_first", [False, True])
def test_two_one_side_reports_combine_into_one_with_the_ratios(tmp_path: Path, raw_first: bool) -> None:
    ours = write(tmp_path / "ours.json", side("followthrough", 50.0, 2000, 300.0, 40.0, 60.0))
    raw = write(tmp_path / "raw.json", side("raw SDK", 25.0, 5000, 200.0, 20.0, 80.0))
    run = combine(*((raw, ours) if raw_first else (ours, raw)))
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert [s["name"] for s in report["sides"]] == ["followthrough", "raw SDK"]  # ours first, whatever the order
    assert (report["leads"], report["window"]) == (1000, 100)
    assert report["ratio_leads_per_second"] == 0.5  # 20 against 40 leads/s
    assert report["ratio_largest_history"] == 0.4
    assert report["ratio_worker_peak_rss"] == 1.5
    assert report["ratio_worker_cpu_per_lead"] == 2.0
    assert report["ratio_server_cpu_per_lead"] == 0.75
    assert sorted(report["combined_from"]) == ["ours.json", "raw.json"]


def test_reports_of_different_sizes_or_the_same_side_are_refused(tmp_path: Path) -> None:
    ours = write(tmp_path / "ours.json", side("followthrough", 50.0, 2000, 300.0, 40.0, 60.0))
    bigger = write(tmp_path / "raw.json", side("raw SDK", 25.0, 5000, 200.0, 20.0, 80.0), leads=100_000)
    run = combine(ours, bigger)
    assert run.returncode != 0 and "differ in leads" in run.stderr
    run = combine(ours, ours)
    assert run.returncode != 0 and "one report of each side" in run.stderr
