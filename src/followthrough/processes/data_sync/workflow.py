"""DataSyncWorkflow: copy what changed in a source table to every target store, page by page.

Each page: detect the rows after the watermark → validate them (bad rows are quarantined with
the reason, never dropped) → upsert the good ones into each target → verify each target
(count and checksum of the batch read back) → only then advance the watermark. A crash at any
point before the watermark moves makes the next run redo the page; upserts by key make that
harmless. After ``pages_per_run`` pages (or when Temporal suggests it) the workflow continues
as new, carrying its plan and totals, so a long catch-up never grows one history.

Started on demand (``followthrough workflow start DataSyncWorkflow``) or by a Temporal Schedule
(``followthrough schedule create data-sync --every 5m``, overlap SKIP: one sync at a time).
"""

from __future__ import annotations

from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

A = TypeVar("A")
R = TypeVar("R")

with workflow.unsafe.imports_passed_through():
    from followthrough.processes.data_sync.activities import DataSyncActivities
    from followthrough.processes.data_sync.rules import (
        AdvanceWatermarkInput,
        BatchDigest,
        ChangeBatch,
        DataSyncInput,
        DataSyncResult,
        DetectChangesInput,
        LoadWatermarkInput,
        QuarantineInput,
        SyncPlan,
        UpsertBatchInput,
        VerifyBatchInput,
        Watermark,
        batch_checksum,
        split_valid,
    )
    from followthrough.temporal.policies import DEFAULT_RETRY, STORE_CALL_TIMEOUT
    from followthrough.temporal.steps import Activity, WorkflowSteps


async def _call(activity: Activity[A, R], arg: A) -> R:
    """A store activity: up to a minute per attempt, retried while the store is unavailable."""
    return await WorkflowSteps().run(activity, arg, timeout=STORE_CALL_TIMEOUT * 4, retry=DEFAULT_RETRY)


@workflow.defn
class DataSyncWorkflow:
    #: The ``WorkflowFamily`` search attribute of its executions (stored: never derive it from a file name).
    FAMILY = "data_sync"

    def __init__(self) -> None:
        self._progress: dict[str, object] = {"stage": "starting"}

    @workflow.query
    def progress(self) -> dict[str, object]:
        return self._progress

    @workflow.run
    async def run(self, input: DataSyncInput) -> DataSyncResult:
        plan = input.plan if input.plan is not None else await _call(DataSyncActivities.plan, input)
        totals = input.totals.model_copy()
        watermark: Watermark = await _call(
            DataSyncActivities.load_watermark, LoadWatermarkInput(sync_name=plan.sync_name)
        )
        for _ in range(input.pages_per_run):
            self._progress = {"stage": "detecting", "page": totals.pages + 1, "watermark": watermark.model_dump()}
            batch: ChangeBatch = await _call(
                DataSyncActivities.detect_changes, DetectChangesInput(plan=plan, after=watermark)
            )
            if not batch.rows or batch.last is None:
                break
            synced, quarantined = await self._sync_page(plan, batch)
            self._progress = {"stage": "advancing watermark", "page": totals.pages + 1}
            watermark = await _call(
                DataSyncActivities.advance_watermark,
                AdvanceWatermarkInput(sync_name=plan.sync_name, watermark=batch.last),
            )
            totals.pages += 1
            totals.rows_seen += len(batch.rows)
            totals.rows_synced += synced
            totals.quarantined += quarantined
            if not batch.has_more:
                break
        else:
            totals.runs += 1
            workflow.continue_as_new(input.model_copy(update={"plan": plan, "totals": totals}))
        self._progress = {"stage": "done"}
        return DataSyncResult(
            sync_name=plan.sync_name, source=plan.source, targets=plan.targets, watermark=watermark, totals=totals
        )

    async def _sync_page(self, plan: SyncPlan, batch: ChangeBatch) -> tuple[int, int]:
        """Quarantine, upsert and verify one page; (rows synced, rows quarantined)."""
        valid, bad = split_valid(batch.rows, plan.rules, plan.key, plan.cursor)
        if bad:
            self._progress["stage"] = "quarantining"
            await _call(
                DataSyncActivities.quarantine, QuarantineInput(sync_name=plan.sync_name, table=plan.table, rows=bad)
            )
        if not valid:
            return 0, len(bad)
        expected = BatchDigest(store=plan.source, count=len(valid), checksum=batch_checksum(valid, plan.key))
        for target in plan.targets:
            self._progress["stage"] = f"upserting into {target}"
            await _call(
                DataSyncActivities.upsert, UpsertBatchInput(store=target, table=plan.table, key=plan.key, rows=valid)
            )
        for target in plan.targets:
            self._progress["stage"] = f"verifying {target}"
            got: BatchDigest = await _call(
                DataSyncActivities.digest,
                VerifyBatchInput(
                    store=target,
                    table=plan.table,
                    key=plan.key,
                    keys=[str(row[plan.key]) for row in valid],
                    columns=list(valid[0]),
                ),
            )
            if (got.count, got.checksum) != (expected.count, expected.checksum):
                raise ApplicationError(
                    f"verification failed in {target}: {got.count} rows (checksum {got.checksum[:12]}) "
                    f"where the source has {expected.count} (checksum {expected.checksum[:12]}); "
                    "the watermark was not advanced",
                    type="SyncVerificationError",
                    non_retryable=True,
                )
        return len(valid), len(bad)
