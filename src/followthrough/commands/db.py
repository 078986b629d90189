"""`followthrough db upgrade | current`: the store's schema migrations.

Both act on ``DATABASE_URL`` (unset: the SQLite file under ``FOLLOWTHROUGH_HOME``) and print
JSON: the URL (password hidden) and the revisions the database is at.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import typer

T = TypeVar("T")

NAME = "db"
app = typer.Typer(help="The store's schema: migrate it, show its revision.", no_args_is_help=True)


def _shown(url: str) -> str:
    from followthrough.store import shown_url

    return shown_url(url)


def _run_store(url: str, coro: Awaitable[T]) -> T:
    """Run a store operation; an unreachable or misnamed database is one line on stderr."""
    from followthrough.console import fail, run
    from followthrough.store import StoreError

    try:
        return run(coro)
    except (OSError, StoreError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise fail(f"error: store {_shown(url)} unavailable: {reason}") from None


@app.command()
def upgrade() -> None:
    """Migrate the store to the newest schema (every head); safe to run any number of times."""
    from followthrough.console import emit, settings_or_exit
    from followthrough.store.migrate import current, heads
    from followthrough.store.migrate import upgrade as upgrade_store

    url = settings_or_exit().effective_database_url

    async def go() -> tuple[str, ...]:
        await upgrade_store(url)
        return await current(url)

    revisions = _run_store(url, go())
    emit({"database": _shown(url), "revisions": list(revisions), "heads": list(heads())})


@app.command("current")
def current_revision() -> None:
    """Show the revisions the store is at, and whether it is up to date."""
    from followthrough.console import emit, settings_or_exit
    from followthrough.store.migrate import current, heads

    url = settings_or_exit().effective_database_url
    revisions = _run_store(url, current(url))
    emit(
        {
            "database": _shown(url),
            "revisions": list(revisions),
            "heads": list(heads()),
            "up_to_date": tuple(sorted(revisions)) == heads(),
        }
    )
