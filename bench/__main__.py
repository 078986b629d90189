"""Every headline benchmark, ours beside the raw SDK's twin in the same run: one command.

    python -m bench                         # every workload, full sizes (10,000 leads: ~20-30 min here)
    python -m bench --quick                 # every workload at smoke sizes (under 3 min on 2 cores)
    python -m bench --only campaign --leads 100000 --server-dir /dev/shm
    python -m bench --only webhook,flow
    python -m bench table                   # the README's table from the latest runs' JSON
    python -m bench combine OURS.json RAW.json   # one report from the campaign's two sides run apart

Workloads (each side measured in this run; the machine's load is recorded with the figures):

* ``campaign``: :mod:`bench.campaign_fanout` — our campaign of ``--leads`` leads against a raw
  parent keeping the same window of children; a fresh dev server per side (the rate depends on
  what the server's tables hold, so neither side pays for the other's) and a fresh worker
  process per side. Leads/s, server and worker CPU per lead, worker peak RSS, the largest
  history, events per lead in the parent and in each lead's history, the rate per window.
* ``webhook``: :mod:`bench.webhook_latency` — ``POST /webhook/whatsapp`` against a bare route that
  only calls the raw SDK's ``start_workflow``, on one uvicorn and one server, their requests
  interleaved in one phase, at each of ``--webhook-concurrency`` (10 and 50): p50/p95/p99.
* ``flow`` and ``timers``: :mod:`bench.flows` — follow-ups started as the API starts them against
  a raw workflow of the same shape (workflows/s, start latency, history per workflow), and the
  same with every timer due at one instant (how late each fired, how late its activity started).

Each run writes ``bench/runs/<date>-<time>-<full|quick>.json``: the date, the git commit, the
machine (cores, memory, load average before and after), every workload's figures on both sides,
the ratios and the target each is compared with (``targets``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.report import SCHEMA, WORKLOADS, campaign_targets, flow_targets, latest_rows, markdown, webhook_targets

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "bench" / "runs"

FULL = {"leads": 10_000, "requests": 2000, "workflows": 1000}
QUICK = {"leads": 100, "requests": 100, "workflows": 50}


# --- the run ----------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    memory = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) // 1024
    except OSError:
        pass
    try:  # the binary the runs start (beside this Python first), not whichever is on PATH
        from followthrough.temporal.devserver import find_binary

        binary = str(find_binary("temporal", "FOLLOWTHROUGH_TEMPORAL_BIN"))
        cli = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError, RuntimeError):
        cli = ""
    return {
        "cpus": os.cpu_count(),
        "memory_mb": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "temporalio": version("temporalio"),
        "temporal_cli": cli,
    }


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_campaign(args: argparse.Namespace) -> dict[str, Any]:
    from bench import campaign_fanout

    options = argparse.Namespace(
        leads=args.leads,
        window=args.window,
        continue_as_new_after=1000,
        raw_batch=1000,  # as our orchestrator: a run per 1,000 (the 100,000-lead configuration)
        sides=["ours", "raw"],
        progress_every=args.progress_every,
        server_db=args.server_db,
        server_dir=args.server_dir,
        reconcile_every=0,  # the campaign's own pass (an hour)
    )
    return asyncio.run(campaign_fanout.run_bench(options))


def run_webhook(args: argparse.Namespace) -> dict[str, Any]:
    from bench import webhook_latency

    # A quick run does not wait long for the inbound workflows to drain (not a target figure).
    drain = 5.0 if args.quick else 600.0
    return asyncio.run(webhook_latency.measure(args.requests, args.webhook_concurrency, drain_seconds=drain))


def run_flows(workloads: list[str], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    from datetime import timedelta

    from bench import flows

    delay = timedelta(seconds=args.flow_delay)
    return asyncio.run(flows.measure(workloads, args.workflows, args.flow_concurrency, delay))


def new_report(began: datetime, quick: bool, label: str, commit: str = "") -> dict[str, Any]:
    """A report's head (what ran, when, where), its workloads and targets still empty."""
    return {
        "schema": SCHEMA,
        "date": began.isoformat(timespec="seconds"),
        "commit": commit or git("rev-parse", "--short", "HEAD"),
        "quick": quick,
        "label": label,
        "argv": sys.argv[1:],
        "machine": machine(),
        "workloads": {},
        "targets": [],
    }


def run(args: argparse.Namespace) -> Path:
    only = [w.strip() for w in args.only.split(",")] if args.only else list(WORKLOADS)
    unknown = sorted(set(only) - set(WORKLOADS))
    if unknown:
        raise SystemExit(f"--only: unknown workload {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
    sizes = QUICK if args.quick else FULL
    for key, default in sizes.items():
        if getattr(args, key) is None:
            setattr(args, key, default)
    began = datetime.now(UTC)
    report = new_report(began, args.quick, args.label)
    report["dirty"] = bool(git("status", "--porcelain", "--untracked-files=no"))
    report["machine"]["load_average_before"] = load_average()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{began:%Y-%m-%d-%H%M%S}-{'quick' if args.quick else 'full'}.json"
    failed: list[str] = []
    for workload in (w for w in WORKLOADS if w in only):
        if workload == "timers" and "flow" in only:
            continue  # measured with flow, on its server and workers
        print(f"== {workload}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            if workload == "campaign":
                done = {workload: run_campaign(args)}
            elif workload == "webhook":
                done = {workload: run_webhook(args)}
            else:
                done = run_flows([w for w in ("flow", "timers") if w in only], args)
        except Exception as exc:  # one workload's crash must not lose the others' figures
            traceback.print_exc()
            failed.append(workload)
            report["workloads"][workload] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            done = {}
        for name, figures in done.items():
            figures["wall_seconds"] = round(time.perf_counter() - started, 1)
            report["workloads"][name] = figures
            report["targets"].extend(
                campaign_targets(figures)
                if name == "campaign"
                else webhook_targets(figures)
                if name == "webhook"
                else flow_targets(name, figures)
            )
        # Written after every workload: a later crash or a stopped run keeps what was measured.
        report["complete"] = False
        path.write_text(json.dumps(report, indent=2) + "\n")
    report["complete"] = not failed
    report["machine"]["load_average_after"] = load_average()
    report["seconds"] = round((datetime.now(UTC) - began).total_seconds(), 1)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown([(report, row) for row in report["targets"]]))
    print(f"\nwritten: {path}", file=sys.stderr)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)} (the report keeps the figures of the others)")
    return path


def combine(args: argparse.Namespace) -> Path:
    """One report of the campaign workload from its two sides, each run on its own with
    ``python -m bench.campaign_fanout --sides ours|raw --json`` one after the other on this machine
    (at 100,000 leads a side takes about an hour here: running them apart keeps the first side's
    figures if the session ends during the second). Written beside the other runs, so the table
    takes its rows; the report names the files it came from."""
    from bench.campaign_fanout import combine_reports

    if len(args.reports) != 2:
        raise SystemExit("combine: give the two one-side reports (ours and raw)")
    campaign = combine_reports(args.reports)
    # When the first side began: from the reports, or --date for reports written before they said.
    said = campaign.pop("began", [])
    dates = [args.date] if args.date else said
    if not dates:
        raise SystemExit("combine: the reports do not say when they began; give --date (ISO, UTC)")
    began = min(datetime.fromisoformat(d).astimezone(UTC) for d in dates)
    report = new_report(began, False, args.label or "campaign sides run one after the other, combined", args.commit)
    report["workloads"]["campaign"] = campaign
    report["targets"] = campaign_targets(campaign)
    report["complete"] = True
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{began:%Y-%m-%d-%H%M%S}-full-combined.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown([(report, row) for row in report["targets"]]))
    print(f"\nwritten: {path}", file=sys.stderr)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", nargs="?", default="run", choices=["run", "table", "combine"])
    parser.add_argument("reports", nargs="*", help="combine: the campaign's two one-side --json reports")
    parser.add_argument("--commit", default="", help="combine: the commit the sides ran (default: HEAD)")
    parser.add_argument("--date", default="", help="combine: when the first side began (default: from the reports)")
    parser.add_argument("--only", default="", help=f"comma-separated workloads ({','.join(WORKLOADS)}); default all")
    parser.add_argument("--quick", action="store_true", help="smoke sizes: " + json.dumps(QUICK))
    parser.add_argument("--leads", type=int, help=f"campaign leads (default {FULL['leads']:,}; quick {QUICK['leads']})")
    parser.add_argument("--window", type=int, default=100, help="campaign: lead workflows in flight")
    parser.add_argument(
        "--server-db", choices=["file", "memory"], default="file", help="campaign: dev-server persistence"
    )
    parser.add_argument("--server-dir", default="", help="campaign: where the server's SQLite file goes (/dev/shm)")
    parser.add_argument("--progress-every", type=float, default=0, help="campaign: seconds between samples (0: auto)")
    parser.add_argument(
        "--requests", type=int, help=f"webhook: requests per route and concurrency (default {FULL['requests']})"
    )
    parser.add_argument("--webhook-concurrency", type=int, nargs="+", default=[10, 50])
    parser.add_argument(
        "--workflows", type=int, help=f"flow and timers: executions per side (default {FULL['workflows']})"
    )
    parser.add_argument("--flow-concurrency", type=int, default=50, help="flow and timers: starts in flight")
    parser.add_argument("--flow-delay", type=float, default=5.0, help="flow and timers: seconds from start to due")
    parser.add_argument("--label", default="", help="a note kept in the report (what this run tries)")
    parser.add_argument("--out", default=str(RUNS), help="where the report goes, and where `table` reads")
    args = parser.parse_intermixed_args()  # combine's reports may follow its options
    if args.command == "table":
        print(markdown(latest_rows(Path(args.out))))
        return
    if args.command == "combine":
        combine(args)
        return
    if not args.progress_every:
        # Samples for the rate per window: every minute on long runs, often enough on short ones.
        leads = args.leads or (QUICK if args.quick else FULL)["leads"]
        args.progress_every = 60.0 if leads >= 20_000 else 10.0 if leads >= 2000 else 1.0
    run(args)


if __name__ == "__main__":
    main()
