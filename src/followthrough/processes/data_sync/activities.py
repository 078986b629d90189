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

from typing import TYPE_CHECKING

from temporalio import activity

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
from followthrough.services import Services

if TYPE_CHECKING:
    from followthrough.config import Settings

#: The default target on the embedded defaults (see the module docstring).
REPLICA_STORE = "replica"


def sync_stores(settings: Settings) -> dict[str, str]:
    """The stores a sync may read and write, in order: the user stores, and on the embedded
    defaults (``USER_STORES`` unset) :data:`REPLICA_STORE` after ``local``."""
    from followthrough.providers.user_stores import configured_stores, parse_user_stores

    stores = configured_stores(settings)
    if not parse_user_stores(settings.user_stores):
        stores[REPLICA_STORE] = f"sqlite+aiosqlite:///{settings.home / 'replica.db'}"
    return stores


class DataSyncActivities:
    def __init__(self, services: Services) -> None:
        from followthrough.providers.user_stores import UserStores
        from followthrough.store.repositories.sync import SyncState

        self._services = services
        #: The source and target stores (external databases: the user-stores provider).
        self.stores = UserStores(sync_stores(services.settings), table=services.settings.user_stores_table)
        #: The watermark and the quarantine, in the app's own database.
        self._state = SyncState(services.database)

    # --- activities ------------------------------------------------------------------------
    @activity.defn(name="data_sync.plan")
    async def plan(self, input: DataSyncInput) -> SyncPlan:
        """Resolve the input against the settings and check the stores and columns exist."""
        from followthrough.providers.user_stores import configured_stores, db_errors

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
                    columns = await self.stores.columns(store, table)
                missing = [c for c in (plan.key, plan.cursor) if c not in columns]
                if missing:
                    raise ValidationError(f"table {table!r} in store {store!r} has no column {', '.join(missing)}")
            return plan

    @activity.defn(name="data_sync.load_watermark")
    async def load_watermark(self, input: LoadWatermarkInput) -> Watermark:
        from followthrough.providers.user_stores import APP_STORE, db_errors

        with as_temporal_errors():
            with db_errors(APP_STORE):
                mark = await self._state.watermark(input.sync_name)
            if mark is None:
                return Watermark()
            return Watermark(cursor=mark[0], key=mark[1])

    @activity.defn(name="data_sync.detect_changes")
    async def detect_changes(self, input: DetectChangesInput) -> ChangeBatch:
        """The next page of rows after the watermark, ordered by (cursor, key)."""
        from followthrough.providers.user_stores import db_errors

        plan = input.plan
        after = None if input.after.cursor is None else (input.after.cursor, input.after.key)
        with as_temporal_errors():
            with db_errors(plan.source):
                found = await self.stores.rows_after(
                    plan.source, plan.table, cursor=plan.cursor, key=plan.key, after=after, limit=plan.batch_size + 1
                )
                rows = [canonical_row(row) for row in found]
            has_more = len(rows) > plan.batch_size
            rows = rows[: plan.batch_size]
            last = Watermark(cursor=rows[-1][plan.cursor], key=str(rows[-1][plan.key])) if rows else None
            return ChangeBatch(rows=rows, last=last, has_more=has_more)

    @activity.defn(name="data_sync.quarantine")
    async def quarantine(self, input: QuarantineInput) -> int:
        """Keep the bad rows with their reasons (once per row version); returns how many."""
        import uuid

        from followthrough.providers.user_stores import APP_STORE, db_errors
        from followthrough.store.types import utcnow

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
                await self._state.quarantine(entries)
            return len(entries)

    @activity.defn(name="data_sync.upsert")
    async def upsert(self, input: UpsertBatchInput) -> int:
        from followthrough.providers.user_stores import db_errors

        with as_temporal_errors():
            if not input.rows:
                return 0
            with db_errors(input.store):
                return await self.stores.upsert_rows(input.store, input.table, input.key, input.rows)

    @activity.defn(name="data_sync.digest")
    async def digest(self, input: VerifyBatchInput) -> BatchDigest:
        """Count and checksum of the batch's rows as the target has them now."""
        from followthrough.providers.user_stores import db_errors

        with as_temporal_errors():
            with db_errors(input.store):
                rows = await self.stores.rows_by_key(
                    input.store, input.table, key=input.key, keys=input.keys, columns=input.columns
                )
            return BatchDigest(store=input.store, count=len(rows), checksum=batch_checksum(rows, input.key))

    @activity.defn(name="data_sync.advance_watermark")
    async def advance_watermark(self, input: AdvanceWatermarkInput) -> Watermark:
        from followthrough.providers.user_stores import APP_STORE, db_errors

        mark = input.watermark
        with as_temporal_errors():
            with db_errors(APP_STORE):
                await self._state.advance(input.sync_name, None if mark.cursor is None else str(mark.cursor), mark.key)
            return mark
