"""`followthrough sender …`: sender accounts from the terminal, as the operator.

    followthrough sender connect ACCOUNT_ID --org ORG [--name NAME]
    followthrough sender list [--org ORG]
    followthrough sender show ID
    followthrough sender limits ID [--timezone Europe/Paris] [--working-hours 09:00-18:00]
        [--working-days 1,2,3,4,5] [--daily profile_visit=150,send_message=100]
        [--weekly-invitations 100] [--min-spacing 60] [--max-spacing 300] [--name NAME]
    followthrough sender disconnect ID

The same code as the HTTP routes does the work (:mod:`followthrough.processes.senders.accounts`),
on the store the settings name; ``connect`` checks the account with Unipile (or the sandbox), and
a status change that pauses or resumes campaigns connects to Temporal. Output is JSON; a problem
is one line on stderr (status 1, a bad argument 2).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, TypeVar

import pydantic
import typer
from pydantic.alias_generators import to_camel

from followthrough.console import emit, fail, run, settings_or_exit, workflow_specs
from followthrough.processes.senders.accounts import SenderControl, SenderProblem
from followthrough.processes.senders.rules import ConnectSender, LimitsPatch, view
from followthrough.services import Services
from followthrough.temporal.client import connect as connect_temporal
from followthrough.temporal.operations import Workflows

NAME = "sender"
app = typer.Typer(help="Sender accounts: connect, list, show, limits, disconnect.", no_args_is_help=True)

T = TypeVar("T")


def _with_control(ctx: typer.Context, action: Callable[[SenderControl], Awaitable[T]]) -> T:
    settings = settings_or_exit()
    specs = workflow_specs(ctx)

    async def go() -> T:
        services = await Services.open(settings)

        async def workflows() -> Workflows:
            return Workflows(await connect_temporal(settings), settings.temporal_task_queue, specs=specs)

        try:
            return await action(SenderControl(services, workflows=workflows))
        finally:
            await services.close()

    try:
        return run(go())
    except SenderProblem as exc:
        detail = exc.detail if isinstance(exc.detail, str) else "; ".join(_line(d) for d in exc.detail)
        raise fail(f"error ({exc.status}): {detail}") from None


#: The option that sets each limit, by its name in the model and in the API's 422.
_OPTIONS = {
    "display_name": "--name",
    "timezone": "--timezone",
    "working_hours": "--working-hours",
    "working_days": "--working-days",
    "daily_limits": "--daily",
    "weekly_invitations": "--weekly-invitations",
    "min_spacing_seconds": "--min-spacing",
    "max_spacing_seconds": "--max-spacing",
}
_OPTIONS.update({to_camel(name): option for name, option in _OPTIONS.items()})


def _where(loc: Sequence[Any]) -> str:
    """A problem's place as the user typed it: the option, then any key below it."""
    if not loc:
        return "arguments"
    head, *rest = (str(p) for p in loc)
    return " ".join([_OPTIONS.get(head, head), *rest])


def _message(problem: dict[str, Any]) -> str:
    return f"{_where(problem.get('loc', []))}: {str(problem.get('msg')).removeprefix('Value error, ')}"


def _line(problem: dict[str, Any]) -> str:
    return _message({**problem, "loc": problem.get("loc", [])[1:]})  # the API's "body" dropped


def _validated(model: type[pydantic.BaseModel], values: dict[str, Any]) -> Any:
    try:
        return model.model_validate(values)
    except pydantic.ValidationError as exc:
        raise fail(f"error: {_message(dict(exc.errors(include_url=False)[0]))}", 2) from None


def _daily(text: str) -> dict[str, int | None]:
    caps: dict[str, int | None] = {}
    for item in (p.strip() for p in text.split(",") if p.strip()):
        action, sep, value = item.partition("=")
        if not sep:
            raise fail(f"error: --daily {item!r} is not ACTION=N (like profile_visit=150)", 2)
        if value.strip().lower() in ("none", "null", ""):
            caps[action.strip()] = None
            continue
        try:
            caps[action.strip()] = int(value)
        except ValueError:
            raise fail(f"error: --daily {item!r}: {value!r} is not a whole number", 2) from None
    return caps


def _days(text: str) -> list[int]:
    try:
        return [int(d) for d in text.split(",") if d.strip()]
    except ValueError:
        raise fail(f"error: --working-days {text!r} is not a list like 1,2,3,4,5", 2) from None


@app.command("connect")
def connect(
    ctx: typer.Context,
    account_id: Annotated[str, typer.Argument(help="Unipile's account id")],
    org: Annotated[str, typer.Option("--org", help="the organization that owns the account")],
    name: Annotated[str | None, typer.Option("--name", help="a display name")] = None,
) -> None:
    """Check the account with Unipile and save it with its status."""
    request = _validated(ConnectSender, {"account_id": account_id, "organization_id": org, "display_name": name})
    shown, _ = _with_control(ctx, lambda control: control.connect(request))
    emit(shown)


@app.command("list")
def list_senders(
    ctx: typer.Context, org: Annotated[str | None, typer.Option("--org", help="only this organization's")] = None
) -> None:
    emit(_with_control(ctx, lambda control: control.list_accounts(org)))


@app.command("show")
def show(ctx: typer.Context, sender_id: Annotated[str, typer.Argument(help="the sender account's id")]) -> None:
    async def shown(control: SenderControl) -> dict[str, Any]:
        return view(await control.get(sender_id))

    emit(_with_control(ctx, shown))


@app.command("limits")
def limits(
    ctx: typer.Context,
    sender_id: Annotated[str, typer.Argument(help="the sender account's id")],
    timezone: Annotated[str | None, typer.Option("--timezone", help="IANA, e.g. Europe/Paris")] = None,
    working_hours: Annotated[str | None, typer.Option("--working-hours", help="HH:MM-HH:MM")] = None,
    working_days: Annotated[str | None, typer.Option("--working-days", help="ISO weekdays: 1,2,3,4,5")] = None,
    daily: Annotated[str | None, typer.Option("--daily", help="profile_visit=150,send_message=100")] = None,
    weekly_invitations: Annotated[int | None, typer.Option("--weekly-invitations", help="0: no cap")] = None,
    min_spacing: Annotated[int | None, typer.Option("--min-spacing", help="seconds")] = None,
    max_spacing: Annotated[int | None, typer.Option("--max-spacing", help="seconds")] = None,
    name: Annotated[str | None, typer.Option("--name", help="a display name")] = None,
) -> None:
    """Change limits; options left out keep their values."""
    values: dict[str, Any] = {
        "display_name": name,
        "timezone": timezone,
        "working_hours": working_hours,
        "working_days": _days(working_days) if working_days is not None else None,
        "daily_limits": _daily(daily) if daily is not None else None,
        "weekly_invitations": weekly_invitations,
        "min_spacing_seconds": min_spacing,
        "max_spacing_seconds": max_spacing,
    }
    patch = _validated(LimitsPatch, {k: v for k, v in values.items() if v is not None})
    emit(_with_control(ctx, lambda control: control.set_limits(sender_id, patch)))


@app.command("disconnect")
def disconnect(ctx: typer.Context, sender_id: Annotated[str, typer.Argument(help="the sender account's id")]) -> None:
    """Remove the account (refused while a running or paused campaign uses it)."""
    emit(_with_control(ctx, lambda control: control.remove(sender_id)))
