"""Alembic environment for the store, with the async drivers the app uses.

At run time :func:`followthrough.store.migrate.upgrade` hands over an open connection in
``config.attributes["connection"]``; the ``alembic`` command (developers writing a revision)
connects itself to the URL in ``config.attributes["url"]``, ``sqlalchemy.url`` or the settings.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from followthrough.store.models import Base
from followthrough.store.types import UTCDateTime

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if url:
        return str(url)
    from followthrough.config import load_settings

    return load_settings().effective_database_url


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render the store's own column types as an import, not as a module path."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        autogen_context.imports.add("from followthrough.store.types import UTCDateTime")
        return "UTCDateTime()"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_item=render_item,
        **kwargs,
    )


def _run(connection: Connection) -> None:
    # SQLite cannot ALTER most things: later revisions rebuild tables in batch mode there.
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    from followthrough.store.database import Database

    database = Database(_url())
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await database.close()


if context.is_offline_mode():
    _configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (shared := config.attributes.get("connection")) is not None:
    _run(shared)
else:
    asyncio.run(_run_async())
