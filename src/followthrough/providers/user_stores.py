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
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, and_, delete, exc, insert, or_, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from followthrough.errors import AuthenticationError, FollowthroughError, RetryableError, ValidationError
from followthrough.providers.user_stores_mongodb import MongoUserStore, check_mongodb_url, is_mongodb_url
from followthrough.store.types import UTCDateTime, utcnow


class StoreSettings(Protocol):
    """What the user stores read of the settings (``config.Settings`` has them; config.py
    imports this module's parser, so this module does not import config back)."""

    @property
    def user_stores(self) -> str: ...
    @property
    def user_stores_table(self) -> str: ...
    @property
    def effective_database_url(self) -> str: ...


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


def configured_stores(settings: StoreSettings) -> dict[str, str]:
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


#: The published copy of a content item in a user store (created on first use).
CONTENT_TABLE = Table(
    "content_items",
    MetaData(),
    Column("id", String(64), primary_key=True),
    Column("title", String(300), nullable=True),
    Column("body", Text, nullable=False),
    Column("workflow_id", String(255), nullable=True),
    Column("published_at", UTCDateTime(), nullable=False),
)


def to_column(column: Column[Any], value: Any, dialect: str) -> Any:
    """A canonical (JSON) value back in the form the column's driver takes."""
    if value is None or not isinstance(value, str):
        return value
    if isinstance(column.type, DateTime):
        instant = datetime.fromisoformat(value)
        instant = instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)
        keep_zone = dialect == "postgresql" and bool(getattr(column.type, "timezone", False))
        return instant if keep_zone else instant.replace(tzinfo=None)
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return value
    if python_type is int:
        return int(value)
    return value


def _upsert(dialect: str, table: Table, key: str, rows: list[dict[str, Any]]) -> Any:
    """INSERT … ON CONFLICT(key) DO UPDATE in the dialect's own words."""
    updates = [c for c in rows[0] if c != key]
    if dialect == "postgresql":
        pg = postgresql.insert(table).values(rows)
        return pg.on_conflict_do_update(index_elements=[key], set_={c: pg.excluded[c] for c in updates})
    if dialect in ("mysql", "mariadb"):
        my = mysql.insert(table).values(rows)
        return my.on_duplicate_key_update({c: my.inserted[c] for c in updates})
    lite = sqlite.insert(table).values(rows)
    return lite.on_conflict_do_update(index_elements=[key], set_={c: lite.excluded[c] for c in updates})


def _insert_ignore(dialect: str, table: Table, values: Mapping[str, Any]) -> Any:
    """An insert that is a no-op when a concurrent attempt inserted the same id first."""
    if dialect == "postgresql":
        return postgresql.insert(table).values(**values).on_conflict_do_nothing(index_elements=["id"])
    if dialect in ("mysql", "mariadb"):
        return mysql.insert(table).values(**values).prefix_with("IGNORE")
    return sqlite.insert(table).values(**values).on_conflict_do_nothing(index_elements=["id"])


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
        self._tables: dict[tuple[str, str], Table] = {}
        self._mongo = {
            store: MongoUserStore(store, url, collection=table)
            for store, url in self.urls.items()
            if is_mongodb_url(url)
        }

    @classmethod
    def from_settings(cls, settings: StoreSettings) -> UserStores:
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

    # --- tables of any shape (data syncs) ------------------------------------------------------
    async def table(self, store: str, name: str) -> Table:
        """The store's table as it is (reflected once per instance)."""
        if (store, name) not in self._tables:
            async with self.engine(store).connect() as conn:
                table = await conn.run_sync(lambda sync: Table(name, MetaData(), autoload_with=sync))
            self._tables[(store, name)] = table
        return self._tables[(store, name)]

    async def columns(self, store: str, name: str) -> list[str]:
        return list((await self.table(store, name)).c.keys())

    async def rows_after(
        self, store: str, name: str, *, cursor: str, key: str, after: tuple[Any, Any] | None, limit: int
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` rows ordered by (cursor, key), after ``after`` (canonical values of
        the two columns; None: from the start)."""
        table = await self.table(store, name)
        cursor_column, key_column = table.c[cursor], table.c[key]
        dialect = self.dialect(store)
        query = select(table).order_by(cursor_column, key_column).limit(limit)
        if after is not None:
            after_cursor = to_column(cursor_column, after[0], dialect)
            after_key = to_column(key_column, after[1], dialect)
            query = query.where(
                or_(cursor_column > after_cursor, and_(cursor_column == after_cursor, key_column > after_key))
            )
        async with self.engine(store).connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]

    async def upsert_rows(self, store: str, name: str, key: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert the rows (canonical values), or update those whose ``key`` is there; a column
        the table lacks is a ValidationError. Returns how many rows were written."""
        if not rows:
            return 0
        table = await self.table(store, name)
        dialect = self.dialect(store)
        unknown = sorted(set(rows[0]) - set(table.c.keys()))
        if unknown:
            raise ValidationError(f"table {name!r} in store {store!r} lacks {', '.join(unknown)}")
        values = [{c: to_column(table.c[c], v, dialect) for c, v in row.items()} for row in rows]
        async with self.engine(store).begin() as conn:
            await conn.execute(_upsert(dialect, table, key, values))
        return len(values)

    async def rows_by_key(
        self, store: str, name: str, *, key: str, keys: Sequence[Any], columns: Sequence[str]
    ) -> list[dict[str, Any]]:
        """The ``columns`` of the rows whose ``key`` is one of ``keys`` (canonical values)."""
        table = await self.table(store, name)
        dialect = self.dialect(store)
        key_column = table.c[key]
        wanted = [to_column(key_column, k, dialect) for k in keys]
        query = select(*(table.c[c] for c in columns)).where(key_column.in_(wanted))
        async with self.engine(store).connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]

    # --- published content --------------------------------------------------------------------
    async def publish_content(
        self,
        store: str,
        *,
        content_id: str,
        title: str | None,
        body: str,
        workflow_id: str | None,
        published_at: datetime,
    ) -> None:
        """Upsert the content's published copy by id (created with its table on first use), so
        a retry never writes a second copy."""
        values = {
            "id": content_id,
            "title": title,
            "body": body,
            "workflow_id": workflow_id,
            "published_at": published_at,
        }
        table = CONTENT_TABLE
        async with self.engine(store).begin() as conn:
            await conn.run_sync(table.metadata.create_all, checkfirst=True)
            exists = (await conn.execute(select(table.c.id).where(table.c.id == content_id))).first()
            if exists:
                changes = {k: v for k, v in values.items() if k != "id"}
                await conn.execute(update(table).where(table.c.id == content_id).values(**changes))
            else:
                await conn.execute(_insert_ignore(self.dialect(store), table, values))

    async def close(self) -> None:
        self._tables.clear()
        for engine in self._engines.values():
            await engine.dispose()
        self._engines.clear()
        self._ready.clear()
