"""What ``python -m bench`` makes of the figures: each workload's targets (ours beside raw, the
ratio, the limit it is held to) and the README's markdown table from the latest reports.

Pure functions of the reports' JSON: no server, no run (``bench/__main__.py`` runs the
workloads and writes the reports).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

WORKLOADS = ("campaign", "webhook", "flow", "timers")
#: The report's shape; ``table`` reads only reports that carry it.
SCHEMA = "followthrough-bench/1"


# --- the targets ------------------------------------------------------------------------------
def ratio(ours: float | None, raw: float | None) -> float | None:
    return round(ours / raw, 3) if ours is not None and raw else None


def check(
    workload: str, measure: str, ours: float | None, raw: float | None, target: str | None, limit: float | None
) -> dict[str, Any]:
    """One row of ``targets``: ``target`` is ``"ratio >= x"``, ``"ratio <= x"``, ``"ours < x"``,
    ``"ours <= x"``, ``"ours >= x"`` or None (reported beside raw, no target set). A figure the
    run could not measure is None: shown "unknown", its target neither met nor missed."""
    value = ratio(ours, raw)
    met: bool | None = None
    if target is not None and limit is not None:
        subject = value if target.startswith("ratio") else ours
        if subject is not None:
            met = {
                ">=": subject >= limit,
                "<=": subject <= limit,
                "<": subject < limit,
            }[target.split()[1]]
    return {
        "workload": workload,
        "measure": measure,
        "ours": ours,
        "raw": raw,
        "ratio": value,
        "target": f"{target} {limit:g}" if target is not None and limit is not None else None,
        "met": met,
    }


def rate_fall(rates: list[float]) -> float | None:
    """How far the rate fell, at its lowest, below the first window's (0.25 = 25 % lower)."""
    if len(rates) < 2 or rates[0] <= 0:
        return None
    return round(max(0.0, 1 - min(rates[1:]) / rates[0]), 3)


def campaign_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    ours, raw = report["sides"]
    leads = report["leads"]
    # The server's file on tmpfs makes a run of its own kind: its rows stand beside the disk's.
    name = f"campaign {leads:,} leads" + (", server on tmpfs" if "tmpfs" in report.get("server", "") else "")
    speed = 0.85 if leads >= 100_000 else 0.9
    rows = [
        check(name, "leads/s", ours["leads_per_second"], raw["leads_per_second"], "ratio >=", speed),
        check(
            name,
            "server CPU ms per lead",
            ours["server_cpu_ms_per_lead"],
            raw["server_cpu_ms_per_lead"],
            "ratio <=",
            1.2,
        ),
        check(
            name, "worker CPU ms per lead", ours["worker_cpu_ms_per_lead"], raw["worker_cpu_ms_per_lead"], None, None
        ),
        check(
            name,
            "worker peak RSS MB",
            round(ours["worker_peak_rss_mb"], 1),
            round(raw["worker_peak_rss_mb"], 1),
            "ours <",
            400,
        ),
        check(name, "largest history (events)", ours["largest_history"], raw["largest_history"], "ours <", 10_000),
        check(
            name, "parent events per lead", ours["parent_events_per_lead"], raw["parent_events_per_lead"], None, None
        ),
        check(name, "events per lead history", ours["lead_history_events"], raw["lead_history_events"], None, None),
        check(name, "bytes per lead history", ours["lead_history_bytes"], raw["lead_history_bytes"], None, None),
    ]
    fall = rate_fall(ours["rate_per_window"])
    if fall is not None:
        raw_fall = rate_fall(raw["rate_per_window"])
        window = f"{ours['rate_window_seconds']:g} s"
        rows.append(check(name, f"rate fall per {window} window", fall, raw_fall, "ours <=", 0.2))
        rows[-1]["ratio"] = None  # a fall is compared with 20 %, not with raw's
    return rows


def webhook_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for concurrency, routes in report["concurrency"].items():
        name = f"webhook, concurrency {concurrency}"
        ours, raw = routes["ours"], routes["raw"]
        rows.append(check(name, "p99 ms", ours["p99_ms"], raw["p99_ms"], "ratio <=", 1.2))
        rows.append(check(name, "p95 ms", ours["p95_ms"], raw["p95_ms"], None, None))
        rows.append(check(name, "p50 ms", ours["p50_ms"], raw["p50_ms"], None, None))
    return rows


def flow_targets(workload: str, report: dict[str, Any]) -> list[dict[str, Any]]:
    ours, raw = report["sides"]
    name = f"{workload}, {report['workflows']:,} workflows"
    rows = [
        check(
            name,
            "completed as planned",
            ours["completed_as_planned"],
            raw["completed_as_planned"],
            "ours >=",
            report["workflows"],
        ),
        check(name, "workflows/s", ours["workflows_per_second"], raw["workflows_per_second"], None, None),
        check(name, "start p99 ms", ours["start_p99_ms"], raw["start_p99_ms"], None, None),
        check(
            name,
            "server CPU ms per workflow",
            ours["server_cpu_ms_per_workflow"],
            raw["server_cpu_ms_per_workflow"],
            None,
            None,
        ),
        check(
            name,
            "worker CPU ms per workflow",
            ours["worker_cpu_ms_per_workflow"],
            raw["worker_cpu_ms_per_workflow"],
            None,
            None,
        ),
        check(
            name,
            "events per history",
            ours["history_events_per_workflow"],
            raw["history_events_per_workflow"],
            None,
            None,
        ),
    ]
    if workload == "timers":
        rows.append(
            check(
                name,
                "activity start late p99 ms",
                ours["activity_started_late_p99_ms"],
                raw["activity_started_late_p99_ms"],
                None,
                None,
            )
        )
    return rows


# --- the table --------------------------------------------------------------------------------
def latest_rows(directory: Path) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each (workload, measure) row from the latest report holding it; full runs win over quick
    ones (a quick run's row appears only where no full run has that row)."""
    reports = []
    for path in sorted(directory.glob("*.json")):
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(report, dict) and report.get("schema") == SCHEMA:
            reports.append(report)
    reports.sort(key=lambda r: (not r["quick"], r["date"]))  # quick first, then full; oldest first
    chosen: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}
    for report in reports:
        for row in report["targets"]:
            # "rate fall per 156.7 s window": one measure whatever the run's window was.
            measure = re.sub(r"per [0-9.]+ s window", "per window", row["measure"])
            chosen[(row["workload"], measure)] = (report, row)
    return sorted(chosen.values(), key=lambda pair: _order(pair[1]))


def _order(row: dict[str, Any]) -> tuple[int, str]:
    prefix = next((i for i, w in enumerate(WORKLOADS) if row["workload"].startswith(w)), len(WORKLOADS))
    return prefix, row["workload"]


def _number(value: Any, missing: str = "—") -> str:
    if value is None:
        return missing
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.1f}"
    return f"{int(value):,}"


def markdown(rows: list[tuple[dict[str, Any], dict[str, Any]]]) -> str:
    lines = [
        "| workload | measure | ours | raw SDK | ratio | target | met | run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for report, row in rows:
        met = {True: "**yes**", False: "**no**", None: "—"}[row["met"]]
        run_name = f"{report['date'][:10]} {report['commit']}{'+' if report.get('dirty') else ''}"
        if report["quick"]:
            run_name += " (quick)"
        lines.append(
            f"| {row['workload']} | {row['measure']} | {_number(row['ours'], 'unknown')} | "
            f"{_number(row['raw'], 'unknown')} | "
            f"{_number(row['ratio'])} | {row['target'] or '—'} | {met} | {run_name} |"
        )
    return "\n".join(lines)
