"""`followthrough campaign …`: outreach campaigns from the terminal.

    followthrough campaign create campaign.json [--leads-csv leads.csv]
    followthrough campaign start ID --organization-id ORG [--max-concurrent 100] [--delay 30]
    followthrough campaign pause ID | resume ID | stop ID [--complete-current]
    followthrough campaign status ID [--watch]     follow it until it ends (a line per change off a terminal)

``campaign.json`` is the body of ``POST /api/campaigns`` (name, organizationId,
senderAccountId, graph, leads). The same code as the HTTP routes does the work
(:mod:`followthrough.processes.campaigns.control`), against the store and Temporal the settings name.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pydantic
import typer

from followthrough.console import emit, fail, run, settings_or_exit, workflow_specs
from followthrough.processes.campaigns.control import (
    CampaignControl,
    CampaignProblem,
    CreateCampaign,
    StartCampaign,
    StopCampaign,
)
from followthrough.services import Services
from followthrough.temporal.client import connect
from followthrough.temporal.operations import Workflows

NAME = "campaign"
app = typer.Typer(help="Outreach campaigns: create, start, pause, resume, stop, status.", no_args_is_help=True)

T = TypeVar("T")


def _with_control(ctx: typer.Context, action: Callable[[CampaignControl], Awaitable[T]], *, temporal: bool = True) -> T:
    settings = settings_or_exit()
    specs = workflow_specs(ctx) if temporal else {}

    async def go() -> T:
        services = await Services.open(settings)
        try:
            workflows = None
            if temporal:
                workflows = Workflows(await connect(settings), settings.temporal_task_queue, specs=specs)
            return await action(CampaignControl(services, workflows))
        finally:
            await services.close()

    try:
        return run(go())
    except CampaignProblem as exc:
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail, indent=2)
        raise fail(f"error ({exc.status}): {detail}") from None


@app.command("create")
def create(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="campaign JSON (the POST /api/campaigns body)", exists=True)],
    leads_csv: Annotated[Path | None, typer.Option("--leads-csv", help="lead list as CSV", exists=True)] = None,
) -> None:
    """Validate and save a campaign: its graph, sender account and leads."""
    try:
        data = json.loads(file.read_text())
        if leads_csv is not None:
            data["leadsCsv"] = leads_csv.read_text(encoding="utf-8-sig")
        request = CreateCampaign.model_validate(data)
    except (json.JSONDecodeError, pydantic.ValidationError) as exc:
        raise fail(f"error: {file}: {exc}") from None
    created = _with_control(ctx, lambda c: c.create(request), temporal=False)
    emit(created.model_dump())


@app.command("start")
def start(
    ctx: typer.Context,
    campaign_id: str,
    organization_id: Annotated[str, typer.Option("--organization-id", help="the campaign's organization")],
    max_concurrent: Annotated[int | None, typer.Option(min=1, max=1000, help="lead workflows in flight")] = None,
    delay: Annotated[float | None, typer.Option(min=0, help="seconds between lead starts")] = None,
) -> None:
    """Start the campaign's orchestrator (refused if the sender is not connected or it runs)."""
    request = StartCampaign(
        organization_id=organization_id, max_concurrent_leads=max_concurrent, lead_processing_delay=delay
    )
    outcome = _with_control(ctx, lambda c: c.start(campaign_id, request))
    emit({"campaignId": campaign_id, "workflowId": outcome.workflow_id, "runId": outcome.run_id})


@app.command("pause")
def pause(ctx: typer.Context, campaign_id: str) -> None:
    """No new leads start; running leads hold before their next action."""
    _with_control(ctx, lambda c: c.pause(campaign_id))
    emit({"campaignId": campaign_id, "signal": "pause"})


@app.command("resume")
def resume(ctx: typer.Context, campaign_id: str) -> None:
    _with_control(ctx, lambda c: c.resume(campaign_id))
    emit({"campaignId": campaign_id, "signal": "resume"})


@app.command("stop")
def stop(
    ctx: typer.Context,
    campaign_id: str,
    complete_current: Annotated[bool, typer.Option("--complete-current", help="let running leads finish")] = False,
) -> None:
    """Stop the campaign: running leads stop now, or finish first with --complete-current."""
    _with_control(ctx, lambda c: c.stop(campaign_id, StopCampaign(complete_current_executions=complete_current)))
    emit({"campaignId": campaign_id, "signal": "stop"})


@app.command("status")
def status(
    ctx: typer.Context,
    campaign_id: str,
    watch: Annotated[
        bool, typer.Option("--watch", help="follow it to the end: a bar, or a line per change off a terminal")
    ] = False,
    interval: Annotated[float, typer.Option(min=0.2, help="seconds between refreshes")] = 1.0,
) -> None:
    """The campaign's totals: from the orchestrator's query and from visibility."""
    if not watch:
        emit(_with_control(ctx, lambda c: c.status(campaign_id)))
        return
    final = _with_control(ctx, lambda c: watch_progress(c, campaign_id, interval))
    emit(final)


def progress_line(status: dict[str, Any]) -> tuple[int, int, str]:
    """(done, total, description) of a status answer, for the progress bar."""
    orchestrator = status.get("orchestrator") or {}
    totals = orchestrator.get("totals") or {}
    total = int(totals.get("total") or status.get("leadCount") or 0)
    done = int(totals.get("succeeded", 0)) + int(totals.get("failed", 0)) + int(totals.get("stopped", 0))
    state = orchestrator.get("state") or status.get("status") or "?"
    description = (
        f"{state}: {totals.get('running', 0)} running, {totals.get('pending', total)} pending, "
        f"{totals.get('succeeded', 0)} ok, {totals.get('failed', 0)} failed, {totals.get('stopped', 0)} stopped"
    )
    return done, total, description


async def watch_progress(
    control: CampaignControl, campaign_id: str, interval: float, *, plain: bool | None = None
) -> dict[str, Any]:
    """Follow the status until the orchestrator closes: a rich progress bar on a terminal, else
    (a pipe, a log file, CI) one plain line per change; the final status follows as JSON."""
    if plain if plain is not None else not sys.stdout.isatty():
        return await _watch_lines(control, campaign_id, interval)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(campaign_id, total=None)
        while True:
            current = await control.status(campaign_id)
            done, total, description = progress_line(current)
            bar.update(task, completed=done, total=total or None, description=description)
            if _finished(current):
                return current
            await asyncio.sleep(interval)


async def _watch_lines(control: CampaignControl, campaign_id: str, interval: float) -> dict[str, Any]:
    last = None
    while True:
        current = await control.status(campaign_id)
        done, total, description = progress_line(current)
        line = f"{campaign_id} {done}/{total} {description}"
        if line != last:
            typer.echo(line)
            last = line
        if _finished(current):
            return current
        await asyncio.sleep(interval)


def _finished(status: dict[str, Any]) -> bool:
    return status.get("workflowStatus") not in ("RUNNING", None) or status.get("status") in ("draft",)
