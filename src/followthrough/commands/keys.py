"""`followthrough keys …`: the organizations' API keys.

    followthrough keys create --org ORG --scope read,write [--expires 90d] [--name NAME] [--json]
    followthrough keys list [--org ORG]
    followthrough keys revoke ID

They act on ``DATABASE_URL`` (unset: the SQLite file under ``FOLLOWTHROUGH_HOME``) and migrate
nothing: a store without the ``api_keys`` table is an error that says to run
``followthrough db upgrade``. A key is printed once, by ``create``, and never again: ``list`` and
``revoke`` print records (:meth:`ApiKeyRecord.as_dict`). A bad argument of ``create`` is a
usage error (status 2), an unknown id status 1, each one line on stderr.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, TypeVar

import typer

from followthrough.commands.db import _run_store, _shown
from followthrough.console import emit, fail, settings_or_exit
from followthrough.store.database import Database
from followthrough.store.repositories.api_keys import MAX_LIFETIME, SCOPES, ApiKeys, IssuedKey
from followthrough.store.repositories.base import RecordNotFound

T = TypeVar("T")

NAME = "keys"
app = typer.Typer(help="Per-organization API keys: create, list, revoke.", no_args_is_help=True)

_DURATION = re.compile(r"([0-9]{1,9})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class _NotMigrated(Exception):
    pass


class _BadArgument(Exception):
    pass


def parse_duration(text: str) -> timedelta:
    """``30m``, ``12h``, ``90d``, ``2w`` as a ``timedelta`` (``ValueError`` otherwise, or past
    the longest lifetime a key may have)."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"--expires {text!r} is not a duration like 30m, 12h, 90d or 2w")
    amount, unit = int(match[1]), match[2]
    if amount == 0:
        raise ValueError(f"--expires {text!r} must be more than zero")
    try:
        lifetime = timedelta(**{_UNITS[unit]: amount})
    except OverflowError:
        lifetime = MAX_LIFETIME + timedelta(days=1)
    if lifetime > MAX_LIFETIME:
        raise ValueError(f"--expires {text!r} is longer than the {MAX_LIFETIME.days} days a key may live")
    return lifetime


def _with_keys(action: Callable[[ApiKeys], Awaitable[T]]) -> T:
    """Run ``action`` on the settings' store, its failures as one line on stderr."""
    url = settings_or_exit().effective_database_url

    async def go() -> T:
        database = Database(url)
        try:
            if not await database.has_table("api_keys"):
                raise _NotMigrated
            return await action(ApiKeys(database))
        finally:
            await database.close()

    try:
        return _run_store(url, go())
    except _NotMigrated:
        raise fail(f"error: store {_shown(url)} has no api_keys table: run `followthrough db upgrade` first") from None
    except _BadArgument as exc:
        raise fail(f"error: {exc}", 2) from None
    except RecordNotFound as exc:
        raise fail(f"error: API key {exc.key!r} not found") from None


@app.command("create")
def create(
    org: Annotated[str, typer.Option("--org", help="the organization the key acts for")],
    scope: Annotated[str, typer.Option("--scope", help=f"comma-separated, some of {','.join(SCOPES)}")],
    expires: Annotated[str | None, typer.Option("--expires", help="lifetime: 30m, 12h, 90d, 2w")] = None,
    name: Annotated[str | None, typer.Option("--name", help="what the key is for")] = None,
    as_json: Annotated[bool, typer.Option("--json", help='print {"id", "key", "organization", "scopes"}')] = False,
) -> None:
    """Make a key and print it: this is the only time it is shown."""
    try:
        expires_in = parse_duration(expires) if expires is not None else None
    except ValueError as exc:
        raise fail(f"error: {exc}", 2) from None
    scopes = [s.strip() for s in scope.split(",") if s.strip()]

    async def make(keys: ApiKeys) -> IssuedKey:
        try:
            return await keys.create(org, scopes, name=name, expires_in=expires_in)
        except ValueError as exc:  # refused before anything is written
            raise _BadArgument(str(exc)) from None

    issued = _with_keys(make)
    record = issued.record
    typer.echo(f"warning: key {record.id} is shown only once, now: keep it safe, it cannot be shown again", err=True)
    if as_json:
        emit({"id": record.id, "key": issued.key, "organization": record.organization, "scopes": sorted(record.scopes)})
    else:
        typer.echo(issued.key)


@app.command("list")
def list_keys(
    org: Annotated[str | None, typer.Option("--org", help="only this organization's keys")] = None,
) -> None:
    """Every key (revoked and expired too), newest first, without secrets."""
    records = _with_keys(lambda keys: keys.list(org))
    emit([r.as_dict() for r in records])


@app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="the key's id, k_…")]) -> None:
    """Refuse the key from the next request on (revoking again keeps the first time)."""
    emit(_with_keys(lambda keys: keys.revoke(key_id)).as_dict())
