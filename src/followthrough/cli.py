"""The `followthrough` command.

    followthrough dev                 dev server + worker + API, one command
    followthrough worker | api        the two halves, against any TEMPORAL_ADDRESS
    followthrough workflow ...        start|execute|describe|result|signal|query|update|cancel|terminate|list

Every command prints JSON on stdout where it returns data, and one clear line on stderr with a
non-zero exit status when something is wrong (bad setting, unknown type, Temporal down).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from followthrough.config import Settings
from followthrough.console import emit, fail, parse_json, run, settings_or_exit
from followthrough.temporal.client import connect
from followthrough.temporal.operations import (
    Workflows,
    decode_page_token,
    encode_page_token,
)

T = TypeVar("T")

app = typer.Typer(help="Durable business workflows on Temporal.", no_args_is_help=True, add_completion=False)
workflow_app = typer.Typer(help="Start, inspect and steer workflows (JSON in and out).", no_args_is_help=True)
app.add_typer(workflow_app, name="workflow")


def _add_command_groups() -> None:
    """Every process's and the platform's groups, each handed the catalog as its context's
    object (:func:`followthrough.console.workflow_specs` reads it)."""
    from followthrough.catalog import catalog

    for name, group in catalog().commands:
        app.add_typer(group, name=name, context_settings={"obj": catalog()})


# --- processes --------------------------------------------------------------------------
def startable(settings: Settings, *, serves_api: bool) -> Settings:
    """In production, print every fault of the configuration (one line each, on stderr) and
    refuse to start on any error; warnings let the start go on. Development starts as is."""
    if not settings.production:
        return settings
    from followthrough.production import production_faults

    faults = production_faults(settings, serves_api=serves_api)
    for fault in faults:
        typer.echo(str(fault), err=True)
    if any(fault.level == "error" for fault in faults):
        raise fail("refusing to start in production (FOLLOWTHROUGH_ENV=production): fix the lines above", 2)
    return settings


@app.command()
def dev() -> None:
    """Start the Temporal dev server (Web UI on 8233), a worker and the API (8000)."""
    from followthrough.serve import run_dev

    run(run_dev(startable(settings_or_exit(), serves_api=True), echo=typer.echo))


@app.command()
def worker() -> None:
    """Run a worker against TEMPORAL_ADDRESS (start as many as you like)."""
    from followthrough.serve import run_worker

    run(run_worker(startable(settings_or_exit(), serves_api=False), echo=typer.echo))


@app.command()
def api() -> None:
    """Run the HTTP API against TEMPORAL_ADDRESS (needs FOLLOWTHROUGH_API_KEY)."""
    from followthrough.serve import run_api

    run(run_api(startable(settings_or_exit(), serves_api=True), echo=typer.echo))


# --- workflow client wrapper ------------------------------------------------------------
def with_workflows(action: Callable[[Workflows], Awaitable[T]]) -> T:
    settings = settings_or_exit()

    async def go() -> T:
        from followthrough.catalog import catalog

        client = await connect(settings)
        return await action(Workflows(client, settings.temporal_task_queue, specs=catalog().specs))

    return run(go())


InputOpt = Annotated[str | None, typer.Option("--input", "-i", help="the input as a JSON object")]
IdOpt = Annotated[str | None, typer.Option("--id", help="workflow id (default: <family>-<uuid>)")]
SearchOpt = Annotated[str | None, typer.Option("--search-attributes", help='JSON, e.g. {"LeadId": "l1"}')]


@workflow_app.command("start")
def wf_start(workflow_type: str, input: InputOpt = None, id: IdOpt = None, search: SearchOpt = None) -> None:
    """Start a workflow; a running one with the same id is returned instead of a twin."""
    data, attrs = parse_json(input, "--input"), parse_json(search, "--search-attributes")
    outcome = with_workflows(lambda wf: wf.start(workflow_type, data, workflow_id=id, search_attributes=attrs))
    emit({"workflow_id": outcome.workflow_id, "run_id": outcome.run_id, "created": outcome.created})


@workflow_app.command("execute")
def wf_execute(workflow_type: str, input: InputOpt = None, id: IdOpt = None, search: SearchOpt = None) -> None:
    """Start a workflow and wait for its result."""
    data, attrs = parse_json(input, "--input"), parse_json(search, "--search-attributes")
    outcome, result = with_workflows(
        lambda wf: wf.execute(workflow_type, data, workflow_id=id, search_attributes=attrs)
    )
    emit({"workflow_id": outcome.workflow_id, "result": result})


@workflow_app.command("describe")
def wf_describe(workflow_id: str) -> None:
    """Status, times and task queue of an execution."""
    emit(with_workflows(lambda wf: wf.describe(workflow_id)).as_dict())


@workflow_app.command("result")
def wf_result(workflow_id: str, wait: Annotated[bool, typer.Option(help="wait if still running")] = False) -> None:
    """The result of a closed execution (or wait for it with --wait)."""
    emit({"workflow_id": workflow_id, "result": with_workflows(lambda wf: wf.result(workflow_id, wait=wait))})


@workflow_app.command("signal")
def wf_signal(workflow_id: str, name: str, input: InputOpt = None) -> None:
    """Send one of the workflow's public signals with its JSON payload (checked first)."""
    payload = parse_json(input, "--input")
    with_workflows(lambda wf: wf.signal(workflow_id, name, payload))
    emit({"workflow_id": workflow_id, "signal": name, "delivered": True})


@workflow_app.command("query")
def wf_query(workflow_id: str, name: str) -> None:
    """Run a query and print its answer."""
    emit(
        {
            "workflow_id": workflow_id,
            "query": name,
            "result": with_workflows(lambda wf: wf.query(workflow_id, name)),
        }
    )


@workflow_app.command("update")
def wf_update(workflow_id: str, name: str, input: InputOpt = None) -> None:
    """Run one of the workflow's public updates with its JSON payload and print the result."""
    payload = parse_json(input, "--input")
    result = with_workflows(lambda wf: wf.update(workflow_id, name, payload))
    emit({"workflow_id": workflow_id, "update": name, "result": result})


@workflow_app.command("cancel")
def wf_cancel(workflow_id: str) -> None:
    """Request cancellation (the workflow compensates and closes)."""
    with_workflows(lambda wf: wf.cancel(workflow_id))
    emit({"workflow_id": workflow_id, "cancel_requested": True})


@workflow_app.command("terminate")
def wf_terminate(workflow_id: str, reason: Annotated[str | None, typer.Option()] = None) -> None:
    """Terminate at once (no compensation runs)."""
    with_workflows(lambda wf: wf.terminate(workflow_id, reason))
    emit({"workflow_id": workflow_id, "terminated": True})


@workflow_app.command("history")
def wf_history(
    workflow_id: str,
    out: Annotated[Path | None, typer.Option(help="write to this file (default: stdout)")] = None,
) -> None:
    """The event history as JSON, e.g. to record a replay test under tests/histories/."""
    text = with_workflows(lambda wf: wf.history_json(workflow_id))
    if out is None:
        typer.echo(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        typer.echo(f"wrote {out}", err=True)


@workflow_app.command("list")
def wf_list(
    query: Annotated[str | None, typer.Argument(help='e.g. WorkflowType="HealthCheckWorkflow"')] = None,
    page_size: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    page_token: Annotated[str | None, typer.Option(help="next_page_token of the previous page")] = None,
) -> None:
    """List executions matching a visibility query, one page at a time."""
    try:
        token = decode_page_token(page_token) if page_token else None
    except ValueError as exc:
        raise fail(f"error: {exc}") from None
    items, next_token = with_workflows(lambda wf: wf.list(query, page_size=page_size, page_token=token))
    emit(
        {
            "executions": [i.as_dict() for i in items],
            "next_page_token": encode_page_token(next_token) if next_token else None,
        }
    )


def main() -> None:
    """Entry point. Ends with ``os._exit`` after flushing: the Temporal core's threads may call
    into Python while the interpreter finalizes, which aborts the process (SIGABRT) at random
    after the command already succeeded; nothing is left to finalize once we have flushed."""
    _add_command_groups()
    try:
        app()
        code = 0
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            code = 1
        else:
            code = exc.code or 0
    except KeyboardInterrupt:
        code = 130
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
