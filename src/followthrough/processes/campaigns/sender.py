"""SenderWorkflow: the single place that grants one sender account's action slots.

Every action a lead workflow takes for a sender (a profile visit, an invitation, a message…)
first asks ``sender-{account_id}`` for a slot through the ``outreach.acquire_slot`` activity.
Temporal admits at most 10 in-flight updates per workflow, so the activity does not send one
update per lead: each worker process gathers the requests for one sender that arrive while its
previous update is in flight and sends them as one ``acquire_many`` update (with update-with-start,
so the first request of an account starts its coordinator; see
:mod:`followthrough.processes.campaigns.grants`). A burst of 500 leads on one sender is then a
handful of updates, never more than one per sender per worker process in flight. Each lead gets
its own granted instant and ``workflow.sleep``\\s until it. The rule that picks the instant is
:func:`followthrough.processes.campaigns.sending_window.grant_slot`: inside the account's sending window, under its
daily and weekly caps, spaced from every other slot by a human-like random gap.

Why the caps hold with many workers and many campaigns sharing one sender:

* **One ledger, one writer.** Temporal runs at most one open execution per workflow id, and a
  workflow's code runs single-threaded: updates are applied one at a time, in the order the
  server recorded them, each seeing the ledger the previous one left. Two lead workflows
  asking at the same moment, from different workers or campaigns, cannot both read "19 of 20
  used": the second sees 20. There is no read-modify-write across processes to race.
* **Granted means counted.** A slot is counted in its local day and ISO week the moment it is
  granted, not when it is used, so grants for future days count too and nothing is granted
  beyond a cap. A lead that cannot use its slot (paused, stopped) gives it back with the
  ``release`` signal; a lost release only wastes a slot, it never over-sends.
* **Durable and replay-safe.** The ledger is rebuilt by replaying the recorded updates, so a
  worker crash loses nothing; the spacing's randomness comes from ``workflow.random()``, so a
  replay draws the same gaps. A request is granted once: a retried request (same request key,
  e.g. after an activity timeout, in the same batch or a later one) returns the slot already
  granted instead of a second one.
* **Bounded history.** After ``grants_per_run`` grants, or when Temporal suggests it, the
  workflow waits for its handlers to finish and continues as new carrying only the pruned
  ledger (counters of yesterday onwards, this week's invitations, outstanding slots, recent
  request keys). An update that reaches the closing run is retried by the caller's activity
  and lands in the new run, which has the same ledger.

A sender whose limits are lifted (no window, no caps, no spacing) needs no coordination:
``outreach.acquire_slot`` grants "now" without involving this workflow.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from followthrough.processes.campaigns.sending_window import (
        AcquireSlotsRequest,
        ReleaseSlotSignal,
        SenderInput,
        SenderLedger,
        SenderLimits,
        SenderStatus,
        SlotGrants,
        grant_slot,
        prune,
        release_slot,
    )


@workflow.defn
class SenderWorkflow:
    #: The ``WorkflowFamily`` search attribute of its executions (stored: never derive it from a file name).
    FAMILY = "sender"
    #: What a client may send through the generic API (the rule: followthrough/temporal/handlers.py).
    #: Nothing: sending slots are granted and released only by the campaign's own activities.
    PUBLIC_UPDATES: frozenset[str] = frozenset()
    INTERNAL = {
        "acquire_many": "acquire_many is sent only by the campaign's outreach activities",
        "release": "release is sent only by the campaign's outreach activities",
    }

    @workflow.init
    def __init__(self, input: SenderInput) -> None:
        self._account_id = input.account_id
        self._ledger: SenderLedger = input.ledger.model_copy(deep=True)
        self._limits: SenderLimits | None = input.limits
        self._grants_this_run = 0

    @workflow.run
    async def run(self, input: SenderInput) -> None:
        await workflow.wait_condition(
            lambda: self._grants_this_run >= input.grants_per_run or workflow.info().is_continue_as_new_suggested()
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._limits is not None:
            prune(self._ledger, self._limits, workflow.now())
        workflow.continue_as_new(
            SenderInput(
                account_id=self._account_id,
                ledger=self._ledger,
                limits=self._limits,
                grants_per_run=input.grants_per_run,
            )
        )

    @workflow.update
    def acquire_many(self, batch: AcquireSlotsRequest) -> SlotGrants:
        """Book the next allowed slot for each request, in order; each caller sleeps until its ``at``."""
        self._limits = batch.limits
        now = workflow.now()
        grants = []
        for request in batch.requests:
            known = request.request_key in self._ledger.recent
            grants.append(
                grant_slot(
                    self._ledger,
                    batch.limits,
                    request_key=request.request_key,
                    action=request.action,
                    earliest=request.not_before or now,
                    now=now,
                    draw=workflow.random().random(),
                )
            )
            self._grants_this_run += 0 if known else 1
        return SlotGrants(grants=grants)

    @acquire_many.validator
    def _validate_acquire_many(self, batch: AcquireSlotsRequest) -> None:
        for request in batch.requests:
            if request.not_before is not None and request.not_before.tzinfo is None:
                raise ValueError(f"not_before of {request.request_key!r} must be timezone-aware (UTC)")

    @workflow.signal
    def release(self, signal: ReleaseSlotSignal) -> None:
        """Give back a slot the lead did not use, so it counts no more against the caps."""
        release_slot(self._ledger, signal.grant)

    @workflow.query
    def status(self) -> SenderStatus:
        today: dict[str, int] = {}
        week = 0
        if self._limits is not None:
            local = workflow.now().astimezone(self._limits.window.tz).date()
            day = local.isoformat()
            year, number, _ = local.isocalendar()
            for key, count in self._ledger.daily.items():
                action, _, bucket = key.rpartition("|")
                if bucket == day:
                    today[action] = count
            week = self._ledger.used_in("send_invitation", f"{year}-W{number:02d}")
        return SenderStatus(
            account_id=self._account_id,
            granted_total=self._ledger.granted_total,
            released_total=self._ledger.released_total,
            outstanding_slots=sum(1 for at in self._ledger.slots if at > workflow.now()),
            today=today,
            this_week_invitations=week,
            limits=self._limits,
        )
