"""Data-sync activities: read a page of changes from the source store, quarantine bad rows,
upsert into a target, read a batch back for verification, and keep the watermark.

Upserts are by primary key (``ON CONFLICT … DO UPDATE`` on PostgreSQL and SQLite, ``ON
DUPLICATE KEY UPDATE`` on MariaDB/MySQL), so syncing a page twice — after a crash between the
upsert and the watermark — rewrites the same rows instead of adding copies. The watermark and
the quarantine live in the app's own database (``sync_watermarks``, ``sync_quarantine``: store
models, created by the store's migrations).

The stores are the user stores (``USER_STORES``); on the embedded defaults (``USER_STORES``
unset: one store, ``local``, the app's own database) a sync also has :data:`REPLICA_STORE`, a
SQLite file under ``FOLLOWTHROUGH_HOME``, as its default target, so the defaults sync something
instead of failing for want of a second store. The users table (``USER_STORES_TABLE``) is
created where it is missing, as onboarding does; any other table must exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, Table, and_, or_, select
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from temporalio import activity

from followthrough.config import Settings
from followthrough.errors import ValidationError, as_temporal_errors
from followthrough.processes.data_sync.rules import (
    USER_TABLE_RULES,
    AdvanceWatermarkInput,
    BatchDigest,
    ChangeBatch,
    DataSyncInput,
    DetectChangesInput,
    LoadWatermarkInput,
    QuarantineInput,
    SyncPlan,
    UpsertBatchInput,
    VerifyBatchInput,
    Watermark,
    batch_checksum,
    canonical_row,
)
from followthrough.providers.user_stores import (
    APP_STORE,
    UserStores,
    configured_stores,
    db_errors,
    parse_user_stores,
)
from followthrough.services import Services
from followthrough.store.models import Base, SyncQuarantine, SyncWatermark
from followthrough.store.types import utcnow

#: The sync's own records in the app's database (``store.models``; revision ``0003_sync_state``).
WATERMARKS: Table = Base.metadata.tables[SyncWatermark.__tablename__]
QUARANTINE: Table = Base.metadata.tables[SyncQuarantine.__tablename__]
#: The default target on the embedded defaults (see the module docstring).
REPLICA_STORE = "replica"


def sync_stores(settings: Settings) -> dict[str, str]:
    """The stores a sync may read and write, in order: the user stores, and on the embedded
    defaults (``USER_STORES`` unset) :data:`REPLICA_STORE` after ``local``."""
    stores = configured_stores(settings)
    if not parse_user_stores(settings.user_stores):
        stores[REPLICA_STORE] = f"sqlite+aiosqlite:///{settings.home / 'replica.db'}"
    return stores


def _upsert(dialect: str, table: Table, key: str, rows: list[dict[str, Any]]) -> Any:
    """INSERT … ON CONFLICT(key) DO UPDATE in the dialect's own words."""
    updates = [c for c in rows[0] if c != key]
    if dialect == "postgresql":
        pg = pg_insert(table).values(rows)
        return pg.on_conflict_do_update(index_elements=[key], set_={c: pg.excluded[c] for c in updates})
    if dialect in ("mysql", "mariadb"):
        my = mysql_insert(table).values(rows)
        return my.on_duplicate_key_update({c: my.inserted[c] for c in updates})
    lite = sqlite_insert(table).values(rows)
    return lite.on_conflict_do_update(index_elements=[key], set_={c: lite.excluded[c] for c in updates})


def _insert_ignore(dialect: str, table: Table, rows: list[dict[str, Any]]) -> Any:
    if dialect == "postgresql":
        return pg_insert(table).values(rows).on_conflict_do_nothing()
    if dialect in ("mysql", "mariadb"):
        return mysql_insert(table).values(rows).prefix_with("IGNORE")
    return sqlite_insert(table).values(rows).on_conflict_do_nothing()


def _to_column(column: Column[Any], value: Any, dialect: str) -> Any:
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


class DataSyncActivities:
    def __init__(self, services: Services) -> None:
        self._services = services
        self.stores = UserStores(sync_stores(services.settings), table=services.settings.user_stores_table)
        self._tables: dict[tuple[str, str], Table] = {}

    # --- plumbing --------------------------------------------------------------------------
    async def _table(self, store: str, name: str) -> Table:
        """The store's table as it is (reflected once per process)."""
        if (store, name) not in self._tables:
            engine = self.stores.engine(store)
            async with engine.connect() as conn:
                table = await conn.run_sync(lambda sync: Table(name, MetaData(), autoload_with=sync))
            self._tables[(store, name)] = table
        return self._tables[(store, name)]

    # --- activities ------------------------------------------------------------------------
    @activity.defn(name="data_sync.plan")
    async def plan(self, input: DataSyncInput) -> SyncPlan:
        """Resolve the input against the settings and check the stores and columns exist."""
        settings = self._services.settings
        with as_temporal_errors():
            known = list(self.stores.urls)
            source = input.source or settings.data_sync_source or known[0]
            default_targets = [t.strip() for t in settings.data_sync_targets.split(",") if t.strip()]
            targets = input.targets or default_targets or [name for name in known if name != source]
            for name in [source, *targets]:
                if name not in known:
                    raise ValidationError(f"unknown store {name!r}; the sync's stores are: {', '.join(known)}")
            if source in targets:
                raise ValidationError(f"store {source!r} cannot be both the source and a target")
            if not targets:
                raise ValidationError("no target store: set DATA_SYNC_TARGETS or give targets")
            table = input.table or settings.data_sync_table
            rules = input.rules
            if rules is None:
                rules = USER_TABLE_RULES if table == settings.user_stores_table else []
            plan = SyncPlan(
                sync_name=input.sync_name,
                source=source,
                targets=targets,
                table=table,
                key=input.key or settings.data_sync_key,
                cursor=input.cursor or settings.data_sync_cursor,
                batch_size=input.batch_size or settings.data_sync_batch_size,
                rules=rules,
            )
            if REPLICA_STORE in targets and REPLICA_STORE not in configured_stores(settings):
                settings.home.mkdir(parents=True, exist_ok=True)  # where its SQLite file goes
            for store in [source, *targets]:
                with db_errors(store):
                    if table == settings.user_stores_table:
                        await self.stores.ensure_users_table(store)
                    columns = (await self._table(store, table)).c
                missing = [c for c in (plan.key, plan.cursor) if c not in columns]
                if missing:
                    raise ValidationError(f"table {table!r} in store {store!r} has no column {', '.join(missing)}")
            return plan

    @activity.defn(name="data_sync.load_watermark")
    async def load_watermark(self, input: LoadWatermarkInput) -> Watermark:
        with as_temporal_errors():
            with db_errors(APP_STORE):
                engine = self._services.database.engine
                async with engine.connect() as conn:
                    query = select(WATERMARKS).where(WATERMARKS.c.sync_name == input.sync_name)
                    row = (await conn.execute(query)).mappings().first()
            if row is None:
                return Watermark()
            return Watermark(cursor=row["cursor_value"], key=row["key_value"])

    @activity.defn(name="data_sync.detect_changes")
    async def detect_changes(self, input: DetectChangesInput) -> ChangeBatch:
        """The next page of rows after the watermark, ordered by (cursor, key)."""
        plan = input.plan
        with as_temporal_errors():
            with db_errors(plan.source):
                table = await self._table(plan.source, plan.table)
                cursor, key = table.c[plan.cursor], table.c[plan.key]
                dialect = self.stores.dialect(plan.source)
                query = select(table).order_by(cursor, key).limit(plan.batch_size + 1)
                if input.after.cursor is not None:
                    after_cursor = _to_column(cursor, input.after.cursor, dialect)
                    after_key = _to_column(key, input.after.key, dialect)
                    query = query.where(or_(cursor > after_cursor, and_(cursor == after_cursor, key > after_key)))
                async with self.stores.engine(plan.source).connect() as conn:
                    rows = [canonical_row(dict(r)) for r in (await conn.execute(query)).mappings()]
            has_more = len(rows) > plan.batch_size
            rows = rows[: plan.batch_size]
            last = Watermark(cursor=rows[-1][plan.cursor], key=str(rows[-1][plan.key])) if rows else None
            return ChangeBatch(rows=rows, last=last, has_more=has_more)

    @activity.defn(name="data_sync.quarantine")
    async def quarantine(self, input: QuarantineInput) -> int:
        """Keep the bad rows with their reasons (once per row version); returns how many."""
        import uuid

        entries = [
            {
                "id": str(uuid.uuid4()),
                "sync_name": input.sync_name,
                "table_name": input.table,
                "row_key": bad.key,
                "cursor_value": None if bad.cursor is None else str(bad.cursor),
                "reason": bad.reason,
                "row": bad.row,
                "quarantined_at": utcnow(),
            }
            for bad in input.rows
        ]
        with as_temporal_errors():
            with db_errors(APP_STORE):
                engine = self._services.database.engine
                if entries:
                    async with engine.begin() as conn:
                        await conn.execute(_insert_ignore(self._services.database.dialect, QUARANTINE, entries))
            return len(entries)

    @activity.defn(name="data_sync.upsert")
    async def upsert(self, input: UpsertBatchInput) -> int:
        with as_temporal_errors():
            if not input.rows:
                return 0
            with db_errors(input.store):
                table = await self._table(input.store, input.table)
                dialect = self.stores.dialect(input.store)
                unknown = sorted(set(input.rows[0]) - set(table.c.keys()))
                if unknown:
                    raise ValidationError(f"table {input.table!r} in store {input.store!r} lacks {', '.join(unknown)}")
                rows = [{c: _to_column(table.c[c], v, dialect) for c, v in row.items()} for row in input.rows]
                async with self.stores.engine(input.store).begin() as conn:
                    await conn.execute(_upsert(dialect, table, input.key, rows))
            return len(rows)

    @activity.defn(name="data_sync.digest")
    async def digest(self, input: VerifyBatchInput) -> BatchDigest:
        """Count and checksum of the batch's rows as the target has them now."""
        with as_temporal_errors():
            with db_errors(input.store):
                table = await self._table(input.store, input.table)
                dialect = self.stores.dialect(input.store)
                key = table.c[input.key]
                keys = [_to_column(key, k, dialect) for k in input.keys]
                query = select(*(table.c[c] for c in input.columns)).where(key.in_(keys))
                async with self.stores.engine(input.store).connect() as conn:
                    rows = [dict(r) for r in (await conn.execute(query)).mappings()]
            return BatchDigest(store=input.store, count=len(rows), checksum=batch_checksum(rows, input.key))

    @activity.defn(name="data_sync.advance_watermark")
    async def advance_watermark(self, input: AdvanceWatermarkInput) -> Watermark:
        mark = input.watermark
        values: Mapping[str, Any] = {
            "cursor_value": None if mark.cursor is None else str(mark.cursor),
            "key_value": mark.key,
            "updated_at": utcnow(),
        }
        with as_temporal_errors():
            with db_errors(APP_STORE):
                engine = self._services.database.engine
                async with engine.begin() as conn:
                    query = select(WATERMARKS.c.sync_name).where(WATERMARKS.c.sync_name == input.sync_name)
                    if (await conn.execute(query)).first() is None:
                        await conn.execute(WATERMARKS.insert().values(sync_name=input.sync_name, **values))
                    else:
                        where = WATERMARKS.c.sync_name == input.sync_name
                        await conn.execute(WATERMARKS.update().where(where).values(**values))
            return mark
