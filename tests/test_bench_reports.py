"""The campaign benchmark's ``--combine``: two one-side reports (at 100,000 leads each side is a
run of its own) become one report with the ratios, and reports that do not match are refused;
and what the report and its table say of a run (targets, windows, a server on tmpfs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEXT: dict[str, Any] = {"capture_output": True, "text": True, "timeout": 120}


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


def test_bench_combine_writes_a_report_the_table_takes_its_campaign_rows_from(tmp_path: Path) -> None:
    """``python -m bench combine``: the sides of a 100,000-lead run, each run on its own, become one
    report of the bench's shape, dated when the first side began, with the campaign's targets."""
    rates = {"rate_per_window": [30.0, 27.0, 25.0], "rate_window_seconds": 600.0, "lead_history_events": 25}
    ours = side("followthrough", 40.0, 2000, 300.0, 40.0, 60.0) | rates
    raw = side("raw SDK", 36.0, 5000, 200.0, 20.0, 55.0) | rates | {"rate_per_window": [30.0, 30.0, 29.0]}
    reports = tmp_path / "reports"
    reports.mkdir()
    write(reports / "ours.json", ours, leads=1000, began=["2026-12-07T06:25:29+00:00"])
    write(reports / "raw.json", raw, leads=1000, began=["2026-12-07T07:40:02+00:00"])
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "bench", "combine", "--out", str(out), "--commit", "abc1234"]
    run = subprocess.run([*cmd, str(reports / "raw.json"), str(reports / "ours.json")], cwd=ROOT, **TEXT)
    assert run.returncode == 0, run.stderr
    [path] = out.glob("*.json")
    assert path.name == "2026-12-07-062529-full-combined.json"  # the first side's start
    report = json.loads(path.read_text())
    assert (report["date"], report["commit"], report["quick"]) == ("2026-12-07T06:25:29+00:00", "abc1234", False)
    assert report["workloads"]["campaign"]["combined_from"] == ["raw.json", "ours.json"]
    targets = {row["measure"]: row for row in report["targets"]}
    assert targets["leads/s"]["ratio"] == 0.9 and targets["leads/s"]["met"] is True  # 25 against 27.8 leads/s
    assert targets["server CPU ms per lead"]["ratio"] == 1.091 and targets["server CPU ms per lead"]["met"] is True
    fall = targets["rate fall per 600 s window"]
    assert (fall["ours"], fall["raw"], fall["met"]) == (0.167, 0.033, True)
    table = subprocess.run([sys.executable, "-m", "bench", "table", "--out", str(out)], cwd=ROOT, **TEXT)
    expected = "| campaign 1,000 leads | leads/s | 25 | 27.78 | 0.90 | ratio >= 0.9 | **yes** | 2026-12-07 abc1234 |"
    assert expected in table.stdout.splitlines()


def test_bench_combine_needs_to_know_when_the_sides_ran(tmp_path: Path) -> None:
    ours = write(tmp_path / "ours.json", side("followthrough", 40.0, 2000, 300.0, 40.0, 60.0))
    raw = write(tmp_path / "raw.json", side("raw SDK", 36.0, 5000, 200.0, 20.0, 55.0))
    cmd = [sys.executable, "-m", "bench", "combine", "--out", str(tmp_path / "runs"), str(ours), str(raw)]
    run = subprocess.run(cmd, cwd=ROOT, **TEXT)
    assert run.returncode != 0 and "give --date" in run.stderr and not (tmp_path / "runs").exists()
    run = subprocess.run([*cmd, "--date", "2026-12-07T06:25:29+00:00"], cwd=ROOT, **TEXT)
    assert run.returncode == 0, run.stderr
    assert [p.name for p in (tmp_path / "runs").glob("*.json")] == ["2026-12-07-062529-full-combined.json"]


# --- python -m bench: targets and the table, from reports written by hand -----------------------
def test_rate_windows_are_fifths_of_a_short_run_and_ten_minutes_of_a_long_one() -> None:
    from bench.campaign_fanout import rate_windows

    # 100 s, 10 leads/s for 60 s then 5/s: fifths of 20 s, interpolated between samples.
    rates, window = rate_windows([(30.0, 300), (60.0, 600), (90.0, 750)], 100.0, 800)
    assert window == 20.0 and rates == [10.0, 10.0, 10.0, 5.0, 5.0]
    rates, window = rate_windows([(600.0, 6000), (1200.0, 9000)], 1900.0, 12_000)
    assert window == 600.0 and rates == [10.0, 5.0, 4.29]  # 3,000 leads in 700 s; the partial window is left out


def test_the_window_fill_counts_only_samples_taken_while_a_full_window_was_possible() -> None:
    from bench.campaign_fanout import Figures, running_query, with_fill

    figures = Figures("followthrough", 1000, 100.0, 10.0, 0, "", 0.0)
    # (leads done, lead workflows running): the last two samples had no more than a window left.
    with_fill(figures, [(0, 90), (300, 100), (600, 80), (900, 60), (990, 10)], window=100)
    assert (figures.leads_running_mean, figures.leads_running_min) == (90.0, 80)
    assert 'ExecutionStatus = "Running"' in running_query("q") and 'WorkflowType = "RawLeadWorkflow"' in running_query(
        "q"
    )


def test_a_target_is_met_or_not_by_the_ratio_or_by_our_own_figure() -> None:
    from bench.report import check, rate_fall

    assert check("c", "leads/s", 9.0, 10.0, "ratio >=", 0.9)["met"] is True
    assert check("c", "leads/s", 8.9, 10.0, "ratio >=", 0.9)["met"] is False
    assert check("c", "RSS", 399.0, 150.0, "ours <", 400)["met"] is True
    assert check("c", "RSS", 400.0, 150.0, "ours <", 400)["met"] is False
    row = check("w", "p99 ms", 130.0, 100.0, "ratio <=", 1.2)
    assert (row["ratio"], row["target"], row["met"]) == (1.3, "ratio <= 1.2", False)
    assert check("f", "workflows/s", 5.0, 4.0, None, None)["met"] is None
    assert rate_fall([20.0, 18.0, 15.0, 19.0]) == 0.25 and rate_fall([10.0]) is None


def test_a_history_visibility_did_not_list_is_unknown_not_zero() -> None:
    from bench.campaign_fanout import Figures, Histories, with_histories
    from bench.report import check, markdown

    figures = Figures("followthrough", 100, 10.0, 10.0, 30, "campaign-1", 120.0)
    figures = with_histories(figures, Histories(), leads_per_run=1000)  # visibility listed nothing
    assert (figures.parent_events_per_lead, figures.lead_history_events, figures.lead_history_bytes) == (None,) * 3
    row = check("campaign 100 leads", "parent events per lead", figures.parent_events_per_lead, 4.2, None, None)
    assert (row["ratio"], row["met"]) == (None, None)
    report = {"date": "2026-12-06T10:00:00+00:00", "commit": "abc1234", "quick": True}
    assert "| parent events per lead | unknown | 4.20 | — |" in markdown([(report, row)])
    found = with_histories(
        Figures("raw SDK", 100, 10.0, 10.0, 30, "p", 90.0), Histories(420, "p", 420, 23.0, 2500.0), 1000
    )
    assert (found.parent_events_per_lead, found.lead_history_events) == (4.2, 23.0)


def bench_report(date: str, quick: bool, leads_per_second: float) -> dict[str, Any]:
    from bench.report import SCHEMA, check

    row = check("campaign 10,000 leads", "leads/s", leads_per_second, 20.0, "ratio >=", 0.9)
    return {"schema": SCHEMA, "date": date, "commit": "abc1234", "quick": quick, "targets": [row]}


def test_the_table_takes_each_row_from_the_latest_full_run_before_any_quick_one(tmp_path: Path) -> None:
    runs = {
        "a.json": bench_report("2026-12-01T10:00:00+00:00", False, 10.0),
        "b.json": bench_report("2026-12-02T10:00:00+00:00", False, 19.0),
        "c.json": bench_report("2026-12-03T10:00:00+00:00", True, 30.0),  # quick: never over a full run
    }
    for name, report in runs.items():
        (tmp_path / name).write_text(json.dumps(report))
    (tmp_path / "old-format.json").write_text(json.dumps({"leads": 5, "sides": []}))  # ignored
    run = subprocess.run(
        [sys.executable, "-m", "bench", "table", "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| campaign")]
    expected = "| campaign 10,000 leads | leads/s | 19 | 20 | 0.95 | ratio >= 0.9 | **yes** | 2026-12-02 abc1234 |"
    assert rows == [expected]


MOUNTS = """/dev/vda / ext4 rw,relatime 0 0
tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0
tmpfs /dev/shm/deep tmpfs rw 0 0
/dev/vdb /work/data xfs rw 0 0
"""


def test_the_longest_mount_point_names_the_file_system(tmp_path: Path) -> None:
    from bench.campaign_fanout import filesystem_of

    mounts = tmp_path / "mounts"
    mounts.write_text(MOUNTS)
    assert filesystem_of(Path("/dev/shm/bench-1"), str(mounts)) == "tmpfs"
    assert filesystem_of(Path("/dev/shmem"), str(mounts)) == "ext4"  # a prefix of the name is not the mount
    assert filesystem_of(Path("/work/data/x"), str(mounts)) == "xfs"
    assert filesystem_of(Path("/work/other"), str(mounts)) == "ext4"
    assert filesystem_of(Path("/x"), str(tmp_path / "missing")) == ""


def full_side(leads_per_second: float) -> dict[str, float]:
    return {
        "leads_per_second": leads_per_second,
        "server_cpu_ms_per_lead": 60.0,
        "worker_cpu_ms_per_lead": 40.0,
        "worker_peak_rss_mb": 200.0,
        "largest_history": 1500,
        "parent_events_per_lead": 1.5,
        "lead_history_events": 25,
        "lead_history_bytes": 9000,
        "rate_per_window": [10.0, 9.0],
        "rate_window_seconds": 100.0,
    }


def test_campaign_rows_name_a_tmpfs_server() -> None:
    from bench.report import campaign_targets

    report = {"leads": 10_000, "sides": [full_side(9.0), full_side(10.0)]}
    on_disk = campaign_targets(report | {"server": "temporal dev server, SQLite file on disk"})
    on_tmpfs = campaign_targets(report | {"server": "temporal dev server, SQLite file on tmpfs"})
    assert {row["workload"] for row in on_disk} == {"campaign 10,000 leads"}
    assert {row["workload"] for row in on_tmpfs} == {"campaign 10,000 leads, server on tmpfs"}
    speed = next(row for row in on_tmpfs if row["measure"] == "leads/s")
    assert speed["ratio"] == 0.9 and speed["met"] is True


def test_a_later_run_replaces_the_rate_row_whatever_its_window(tmp_path: Path) -> None:
    from bench.report import SCHEMA, check, latest_rows

    runs = (("a", "2026-12-01T10:00:00+00:00", "156.7 s", 0.09), ("b", "2026-12-02T10:00:00+00:00", "302.6 s", 0.27))
    for name, date, window, fall in runs:
        row = check("campaign 10,000 leads", f"rate fall per {window} window", fall, 0.05, "ours <=", 0.2)
        report = {"schema": SCHEMA, "date": date, "quick": False, "commit": name, "targets": [row]}
        (tmp_path / f"{name}.json").write_text(json.dumps(report))
    [(report, row)] = latest_rows(tmp_path)
    assert report["commit"] == "b" and row["measure"] == "rate fall per 302.6 s window" and row["met"] is False


#: Lines as ``temporal server start-dev --metrics-port`` serves them (1.32), trimmed.
METRICS = """# HELP persistence_requests persistence_requests counter
# TYPE persistence_requests counter
persistence_requests{namespace="default",operation="UpdateWorkflowExecution",service_name="history"} 40
persistence_requests{namespace="all",operation="UpdateWorkflowExecution",service_name="history"} 2
persistence_requests{namespace="default",operation="CreateTasks",service_name="matching"} 9
persistence_latency_count{operation="UpdateWorkflowExecution",service_name="history"} 999
visibility_persistence_requests{namespace="default",operation="RecordWorkflowExecutionClosed",service_name="history"} 3
persistence_requests_total_bogus{operation="UpdateWorkflowExecution"} 7
"""


def test_the_servers_storage_calls_are_summed_by_operation_and_divided_per_lead() -> None:
    from bench.campaign_fanout import ops_per_lead, server_ops

    ops = server_ops(METRICS)
    assert ops == {"UpdateWorkflowExecution": 42.0, "CreateTasks": 9.0, "RecordWorkflowExecutionClosed": 3.0}
    before = {"UpdateWorkflowExecution": 12.0, "CreateTasks": 9.0}
    assert ops_per_lead(before, ops, leads=3) == {"UpdateWorkflowExecution": 10.0, "RecordWorkflowExecutionClosed": 1.0}
    assert list(ops_per_lead({}, ops, leads=1, top=1)) == ["UpdateWorkflowExecution"]


def test_the_servers_time_in_storage_calls_is_summed_by_operation() -> None:
    from bench.campaign_fanout import server_latency

    text = METRICS + (
        "# TYPE persistence_latency histogram\n"
        'persistence_latency_bucket{operation="UpdateWorkflowExecution",le="0.01"} 3\n'
        'persistence_latency_sum{operation="UpdateWorkflowExecution",service_name="history"} 0.25\n'
        'persistence_latency_sum{operation="UpdateWorkflowExecution",service_name="matching"} 0.5\n'
        'persistence_latency_count{operation="UpdateWorkflowExecution"} 4\n'
        "# TYPE visibility_persistence_latency histogram\n"
        'visibility_persistence_latency_sum{operation="RecordWorkflowExecutionClosed"} 0.125\n'
    )
    assert server_latency(text) == {"UpdateWorkflowExecution": 0.75, "RecordWorkflowExecutionClosed": 0.125}


def test_a_long_run_shows_what_the_server_did_per_lead_in_each_window() -> None:
    """Readings at each progress line become windows of whole progress intervals, each with the
    server's and worker's CPU, the time in storage calls and the calls themselves per lead."""
    from bench.campaign_fanout import Reading, ServerProbe

    probe = ServerProbe("http://unused", None, None, None)

    def reading(elapsed: float, done: int, cpu: float, writes: float, seconds_in_writes: float) -> Reading:
        ops = {"UpdateWorkflowExecution": writes, "CreateTasks": done * 2.0}
        return Reading(elapsed, done, cpu, cpu / 2, ops, {"UpdateWorkflowExecution": seconds_in_writes}, 2_000_000)

    # 100 leads a minute; the second window's writes take twice the time per lead.
    probe.readings = [reading(60.0 * k, 100 * k, 6.0 * k, 1100.0 * k, 0.5 * k + 0.5 * max(k - 2, 0)) for k in range(5)]
    first, second = probe.windows(120)
    assert (first["from_seconds"], first["to_seconds"], second["to_seconds"]) == (0, 120, 240)
    assert first["leads"] == second["leads"] == 200 and first["leads_per_second"] == round(200 / 120, 2)
    assert first["server_cpu_ms_per_lead"] == 60.0 and first["worker_cpu_ms_per_lead"] == 30.0
    assert first["ops_per_lead"] == {"UpdateWorkflowExecution": 11.0, "CreateTasks": 2.0}
    assert first["storage_ms_per_lead"] == 5.0 and second["storage_ms_per_lead"] == 10.0
    assert second["storage_ms_per_lead_by_op"] == {"UpdateWorkflowExecution": 10.0}
    assert first["db_mb"] == 2.0
    # A window with no lead finished is not a window (the per-lead figures would divide by 0).
    probe.readings.append(reading(400.0, 400, 30.0, 4400.0, 2.5))
    assert len(probe.windows(120)) == 2


def progress_log(lines: list[tuple[int, int, float, int]], total: int = 100_000) -> str:
    """A side's stderr as the bench writes it: (seconds, done, server ms CPU per lead, running)."""
    text = ["starting the ours side", "progress:      30 s  not answered (RPCError: continue-as-new in flight)"]
    for seconds, done, cpu, running in lines:
        text.append(
            f"progress: {seconds:7d} s  {done}/{total} done ({done / seconds:.1f}/s), {running} lead workflows "
            f"running, run 1, history 40 events; since the last line, per lead: server {cpu} ms CPU, "
            f"100.0 ms in storage calls; file 10.0 MB"
        )
    return "\n".join(text) + "\n"


def test_two_stopped_sides_compare_over_the_leads_both_covered(tmp_path: Path) -> None:
    # Ours: 1,000 leads at 50 ms, then 2,000 more at 80 ms, then past raw's last count.
    ours = tmp_path / "ours.log"
    ours.write_text(progress_log([(900, 1000, 50.0, 90), (1800, 3000, 80.0, 70), (2400, 5000, 99.0, 80)]))
    # Raw stopped at 3,500 leads: the range compared is 0-3,500, ours' last line in it is 3,000.
    raw = tmp_path / "raw.log"
    raw.write_text(progress_log([(600, 1500, 100.0, 20), (1400, 3500, 60.0, 10)]))
    cmd = [sys.executable, "-m", "bench.campaign_fanout", "--compare-logs", str(ours), str(raw), "--json"]
    run = subprocess.run(cmd, cwd=ROOT, **TEXT)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["compared_upto_leads"] == 3500
    ours_side, raw_side = report["sides"]["followthrough"], report["sides"]["raw SDK"]
    assert (ours_side["leads"], ours_side["seconds"], ours_side["leads_per_second"]) == (3000, 1800, 1.67)
    assert (raw_side["leads"], raw_side["seconds"], raw_side["leads_per_second"]) == (3500, 1400, 2.5)
    # Server CPU per lead is weighted by the leads each line covers, not a mean of the lines.
    assert ours_side["server_cpu_ms_per_lead"] == 70.0  # (1000*50 + 2000*80) / 3000
    assert raw_side["server_cpu_ms_per_lead"] == round((1500 * 100 + 2000 * 60) / 3500, 1)
    # Ten-minute windows once a run is half an hour, interpolated between lines; it rose, no fall.
    assert ours_side["rate_per_window"] == [1.11, 1.67, 2.22]
    assert ours_side["rate_fall"] == 0.0
    assert raw_side["rate_per_window"] == [2.5, 2.5, 2.5, 2.5, 2.5]  # a shorter run: its fifths
    assert (ours_side["leads_running_mean"], raw_side["leads_running_mean"]) == (80, 15)
    assert report["ratio_leads_per_second"] == 0.667  # (3000 / 1800) / (3500 / 1400)
    assert report["ratio_server_cpu_per_lead"] == round(70.0 / raw_side["server_cpu_ms_per_lead"], 3)
    readable = subprocess.run(cmd[:-1], cwd=ROOT, **TEXT)
    assert "compared over 0-3,500 leads" in readable.stdout
    assert "ratios followthrough/raw: leads/s 0.667, server CPU per lead 0.908" in readable.stdout


def test_a_log_without_progress_lines_is_refused(tmp_path: Path) -> None:
    ours = tmp_path / "ours.log"
    ours.write_text(progress_log([(600, 1000, 50.0, 90)]))
    empty = tmp_path / "raw.log"
    empty.write_text("Traceback (most recent call last):\n  ...\n")
    cmd = [sys.executable, "-m", "bench.campaign_fanout", "--compare-logs", str(ours), str(empty)]
    run = subprocess.run(cmd, cwd=ROOT, **TEXT)
    assert run.returncode != 0
    assert "each log needs progress lines" in run.stderr


def test_a_file_backed_server_is_described_with_its_journal(tmp_path: Path) -> None:
    from bench.campaign_fanout import server_kind

    assert server_kind("memory", "", "wal") == "temporal dev server, in memory"
    described = server_kind("file", str(tmp_path), "delete")
    assert described.startswith("temporal dev server, SQLite file (DELETE journal) on ")
    assert server_kind("file", str(tmp_path)).startswith("temporal dev server, SQLite file (WAL journal) on ")


def test_the_servers_file_is_measured_with_its_write_ahead_log(tmp_path: Path) -> None:
    from bench.campaign_fanout import file_bytes

    db = tmp_path / "temporal.db"
    assert file_bytes(None) == file_bytes(db) == 0  # in memory, or not yet created
    db.write_bytes(b"x" * 4096)
    assert file_bytes(db) == 4096
    (tmp_path / "temporal.db-wal").write_bytes(b"y" * 1000)
    (tmp_path / "temporal.db-shm").write_bytes(b"z" * 32768)  # the index, not data: not counted
    assert file_bytes(db) == 5096
