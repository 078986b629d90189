"""The user stores: the external databases a user is created in (Nexpo's multi-database
onboarding), named in ``USER_STORES`` and reached with SQLAlchemy's async engines — or, for a
``mongodb://`` / ``mongodb+srv://`` URL (MongoDB, Cosmos DB's API for MongoDB), with the official
async driver (:mod:`followthrough.providers.user_stores_mongodb`), behind the same create/find/delete.

``USER_STORES="primary=postgresql+asyncpg://…,docs=mongodb://…/app,local=sqlite+aiosqlite:///…"``
lists them in creation order (an empty value means one store, ``local``, on the app's own
database; Supabase is a PostgreSQL URL). Each SQL store gets the same ``users`` table
(``USER_STORES_TABLE``), created on first use if it is missing (``CREATE TABLE IF NOT EXISTS``:
an existing table is used as it is); a MongoDB store a collection of that name. Content
publishing and data syncs run SQL statements, so they take SQL stores only.

Engines use no connection pool (:class:`~sqlalchemy.pool.NullPool`): onboarding and syncs
touch a store a few times per run, a store that was down is reconnected on the next attempt
without a stale pool to drain, and nothing is left open between activities, whatever event
loop runs them.

Database faults are translated into the error classes (:func:`translate_db_error`, in a block
``with db_errors(store):``): a store
that is unreachable, locked or timing out is a :class:`~followthrough.errors.RetryableError`
(Temporal retries; a saga does not compensate); a row the store refuses (constraint, bad
data, missing table) is a permanent :class:`~followthrough.errors.ValidationError`; a refused
login is an :class:`~followthrough.errors.AuthenticationError`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, delete, exc, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from followthrough.config import Settings
from followthrough.errors import AuthenticationError, FollowthroughError, RetryableError, ValidationError
from followthrough.providers.user_stores_mongodb import MongoUserStore, check_mongodb_url, is_mongodb_url
from followthrough.store.types import UTCDateTime, utcnow

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
#: The name of the app's own database when used as a store (content publishing).
APP_STORE = "app"


def parse_user_stores(spec: str) -> dict[str, str]:
    """``"a=url,b=url"`` → ``{"a": url, "b": url}`` in order; ``ValueError`` names the bad entry."""
    stores: dict[str, str] = {}
    for raw in (part.strip() for part in spec.split(",")):
        if not raw:
            continue
        name, sep, url = raw.partition("=")
        name, url = name.strip(), url.strip()
        if not sep or not name or not url:
            raise ValueError(f"expected name=url, got {raw!r}")
        if not _NAME.match(name):
            raise ValueError(f"store name {name!r} must be letters, digits, _ or - (starting with a letter)")
        if name in stores:
            raise ValueError(f"store {name!r} is named twice")
        if is_mongodb_url(url):
            try:
                check_mongodb_url(url)
            except ValueError as error:
                raise ValueError(f"store {name!r}: {error}") from None
            stores[name] = url
            continue
        try:
            make_url(url)
        except exc.ArgumentError:
            raise ValueError(f"store {name!r}: {url!r} is not a SQLAlchemy URL") from None
        stores[name] = url
    return stores


def configured_stores(settings: Settings) -> dict[str, str]:
    """The enabled user stores, in creation order."""
    return parse_user_stores(settings.user_stores) or {"local": settings.effective_database_url}


def users_table(name: str = "users", metadata: MetaData | None = None) -> Table:
    """The users table every store has (same columns on SQLite, PostgreSQL and MariaDB).

    ``onboarding_id`` marks rows an onboarding created, so its compensation deletes only
    those, never a user that was there before.
    """
    return Table(
        name,
        metadata or MetaData(),
        Column("id", String(64), primary_key=True),
        Column("email", String(320), nullable=False, unique=True),
        Column("name", String(200), nullable=True),
        Column("onboarding_id", String(255), nullable=True),
        Column("created_at", UTCDateTime(), nullable=False, default=utcnow),
        Column("updated_at", UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow),
    )


def _text(error: BaseException) -> str:
    return " ".join(str(error).split())[:500]


def translate_db_error(error: BaseException, store: str) -> FollowthroughError:
    """The error class for a database fault in ``store`` (see the module docstring)."""
    if isinstance(error, FollowthroughError):
        return error
    message = _text(getattr(error, "orig", None) or error)
    lowered = message.lower()
    if "password authentication failed" in lowered or "access denied" in lowered:
        return AuthenticationError(f"store {store!r} refused the login: {message}", provider=store)
    if isinstance(error, exc.NoSuchTableError):
        return ValidationError(f"store {store!r} has no table {message}", provider=store)
    if isinstance(error, exc.IntegrityError | exc.DataError):
        return ValidationError(f"store {store!r} refused the row: {message}", provider=store)
    if isinstance(error, exc.ProgrammingError):
        return ValidationError(f"store {store!r} rejected the statement: {message}", provider=store)
    if isinstance(error, exc.ArgumentError | exc.CompileError):
        return ValidationError(f"store {store!r}: {message}", provider=store)
    # Unreachable, locked, timed out, connection lost: the store may come back.
    return RetryableError(f"store {store!r} is unavailable: {message}", provider=store)


@contextlib.contextmanager
def db_errors(store: str) -> Iterator[None]:
    """Raise a database fault inside the block as its error class (:func:`translate_db_error`);
    the package's own errors pass through as they are."""
    try:
        yield
    except FollowthroughError:
        raise
    except Exception as error:
        raise translate_db_error(error, store) from error


def _engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"poolclass": NullPool}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    elif parsed.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"timeout": 10}
    elif parsed.get_backend_name() in ("mysql", "mariadb"):
        kwargs["connect_args"] = {"connect_timeout": 10}
    return create_async_engine(url, **kwargs)


class UserStores:
    """Named engines over the configured stores, and the users-table operations on them."""

    def __init__(self, urls: Mapping[str, str], *, table: str = "users") -> None:
        self.urls = dict(urls)
        self.table_name = table
        self._engines: dict[str, AsyncEngine] = {}
        self._ready: set[str] = set()
        self._mongo = {
            store: MongoUserStore(store, url, collection=table)
            for store, url in self.urls.items()
            if is_mongodb_url(url)
        }

    @classmethod
    def from_settings(cls, settings: Settings) -> UserStores:
        return cls(configured_stores(settings), table=settings.user_stores_table)

    @property
    def names(self) -> list[str]:
        return list(self.urls)

    def engine(self, store: str) -> AsyncEngine:
        if store not in self.urls:
            known = ", ".join(self.urls) or "none"
            raise ValidationError(f"unknown store {store!r}; configured: {known}")
        if store in self._mongo:
            raise ValidationError(f"store {store!r} is a MongoDB store; this step needs a SQL store", provider=store)
        if store not in self._engines:
            self._engines[store] = _engine(self.urls[store])
        return self._engines[store]

    def dialect(self, store: str) -> str:
        if store in self._mongo:
            return "mongodb"
        return make_url(self.urls[store]).get_backend_name()

    async def ensure_users_table(self, store: str) -> Table:
        table = users_table(self.table_name)
        if store not in self._ready:
            async with self.engine(store).begin() as conn:
                await conn.run_sync(table.metadata.create_all, checkfirst=True)
            self._ready.add(store)
        return table

    async def create_user(self, store: str, *, user_id: str, email: str, name: str | None, onboarding_id: str) -> bool:
        """Insert the user unless it is there; True when the row is this onboarding's.

        Idempotent: a retry after a lost answer, or a second onboarding of the same email,
        finds the row and reports it without writing twice. An email that belongs to another
        user id is a permanent refusal.
        """
        if store in self._mongo:
            return await self._mongo[store].create_user(
                user_id=user_id, email=email, name=name, onboarding_id=onboarding_id
            )
        with db_errors(store):
            table = await self.ensure_users_table(store)
            for _ in range(2):  # a concurrent insert of the same user loses the race once, then reads
                try:
                    async with self.engine(store).begin() as conn:
                        row = (await conn.execute(select(table).where(table.c.email == email))).mappings().first()
                        if row is None:
                            now = utcnow()
                            values = {"id": user_id, "email": email, "name": name, "onboarding_id": onboarding_id}
                            await conn.execute(insert(table).values(**values, created_at=now, updated_at=now))
                            return True
                except exc.IntegrityError:
                    continue
                if row["id"] != user_id:
                    raise ValidationError(
                        f"store {store!r} already has this email under another user id", provider=store
                    )
                return bool(row["onboarding_id"] == onboarding_id)
            raise ValidationError(f"store {store!r} refused the user id {user_id!r} (taken)", provider=store)

    async def delete_user(self, store: str, *, user_id: str, onboarding_id: str) -> bool:
        """Delete the user if this onboarding created it; True when a row went away."""
        if store in self._mongo:
            return await self._mongo[store].delete_user(user_id=user_id, onboarding_id=onboarding_id)
        with db_errors(store):
            table = await self.ensure_users_table(store)
            async with self.engine(store).begin() as conn:
                result = await conn.execute(
                    delete(table).where(table.c.id == user_id, table.c.onboarding_id == onboarding_id)
                )
                return bool(result.rowcount)

    async def get_user(self, store: str, *, email: str) -> dict[str, Any] | None:
        if store in self._mongo:
            return await self._mongo[store].get_user(email=email)
        with db_errors(store):
            table = await self.ensure_users_table(store)
            async with self.engine(store).connect() as conn:
                row = (await conn.execute(select(table).where(table.c.email == email))).mappings().first()
                return dict(row) if row is not None else None

    async def find_user(self, user_id: str) -> dict[str, Any] | None:
        """The user with this id in the first store (in creation order) that has it, or None."""
        for store in self.names:
            if store in self._mongo:
                found = await self._mongo[store].find_user(user_id)
                if found is not None:
                    return found
                continue
            with db_errors(store):
                table = await self.ensure_users_table(store)
                async with self.engine(store).connect() as conn:
                    row = (await conn.execute(select(table).where(table.c.id == user_id))).mappings().first()
            if row is not None:
                return dict(row)
        return None

    async def close(self) -> None:
        for engine in self._engines.values():
            await engine.dispose()
        self._engines.clear()
        self._ready.clear()
