"""PaymentWorkflow: Stripe Checkout, the link, reminders while unpaid, then paid or expired.

Timeline from the start: checkout session (idempotency key ``payment:{lead}:{reference}``) →
payment link → read-backs at +15 min and +1 h → reminders at +12 h and +20 h unless paid → at
+24 h, expired (``rules.checkpoints``). ``payment_completed``
(the Stripe webhook) ends the wait once the checkout, read back from Stripe, says it is paid:
payment recorded paid, lead moved to ``customer``, receipt sent. A completion Stripe does not
confirm (a forged or mistaken signal) is logged and counted in ``unconfirmed_completions``, and
the wait goes on. At each read-back, before each reminder and at the deadline the checkout is
read back too, so a webhook that never arrived is noticed within minutes and cannot make us nag
a customer who paid or expire a paid order. ``paid_at`` is the provider's: the webhook event's
``created``, or the paid checkout's ``paid_at`` when a read-back finds it (the time of the
read-back only when the provider does not say).
Once paid (unless the input says ``sync_integrations: false``), ``payment_completed`` with its
amount goes to HubSpot, Meta and the lead's memory through an ``IntegrationSyncWorkflow`` child
that outlives this one.

The first steps (checkout, record, link) are written once, :func:`open_checkout`: with
``USE_TEMPORAL_PAYMENTS`` off, ``POST /api/payments`` runs them inline and stops there.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from followthrough.leads.activities import LeadActivities
    from followthrough.leads.models import SetStageInput
    from followthrough.messaging.activities import MessagingActivities
    from followthrough.processes.integrations.rules import IntegrationSyncInput
    from followthrough.processes.integrations.workflow import start_sync
    from followthrough.processes.payments.activities import PaymentsActivities
    from followthrough.processes.payments.records import PaymentRecordActivities
    from followthrough.processes.payments.rules import (
        PAYMENT_WINDOW,
        MarkPaymentInput,
        PaymentCompletedSignal,
        PaymentExpiredSignal,
        PaymentInput,
        PaymentStatus,
        checkout_request,
        checkpoints,
        payment_message,
        read_back_paid_at,
        record_checkout_request,
    )
    from followthrough.providers.contracts.payments import CheckoutSession, GetCheckoutInput
    from followthrough.temporal.policies import DEFAULT_RETRY, PROVIDER_CALL_TIMEOUT, STORE_CALL_TIMEOUT, STORE_RETRY
    from followthrough.temporal.saga import failure_of
    from followthrough.temporal.steps import STEP_FAILURES, Steps, WorkflowSteps

#: A payment message that cannot go out within this long is reported, not retried for ever.
MESSAGE_DEADLINE = timedelta(hours=1)


async def open_checkout(steps: Steps, input: PaymentInput, status: PaymentStatus) -> CheckoutSession:
    """Create the checkout, record it, send the link; ``status`` follows (a failed link is
    listed in ``failed_messages``, not raised: the link is in the status)."""
    checkout = await steps.run(
        PaymentsActivities.create_checkout,
        checkout_request(input, steps.workflow_id),
        timeout=PROVIDER_CALL_TIMEOUT,
        retry=DEFAULT_RETRY,
    )
    status.session_id, status.checkout_url = checkout.session_id, checkout.url
    await steps.run(
        PaymentRecordActivities.record_checkout,
        record_checkout_request(input, steps.workflow_id, checkout),
        timeout=STORE_CALL_TIMEOUT,
        retry=STORE_RETRY,
    )
    status.state = "awaiting_payment"
    await send_payment_message(steps, input, status, "link")
    return checkout


async def send_payment_message(steps: Steps, input: PaymentInput, status: PaymentStatus, kind: str) -> None:
    """One payment message; one that cannot be sent is listed in ``failed_messages``."""
    try:
        await steps.run(
            MessagingActivities.send,
            payment_message(input, kind, status.checkout_url),
            timeout=PROVIDER_CALL_TIMEOUT,
            retry=DEFAULT_RETRY,
            deadline=MESSAGE_DEADLINE,
        )
    except STEP_FAILURES as err:
        status.failed_messages.append(f"{kind}: {failure_of(err)}")


@workflow.defn
class PaymentWorkflow:
    #: The ``WorkflowFamily`` search attribute of its executions (stored: never derive it from a file name).
    FAMILY = "payment"
    #: What a client may send through the generic API (the rule: followthrough/temporal/handlers.py).
    #: Nothing: only the provider reports a payment, through its signed webhook.
    PUBLIC_SIGNALS: frozenset[str] = frozenset()
    INTERNAL = {
        "payment_completed": "payment_completed is delivered only by the payment provider's webhook",
        "payment_expired": "payment_expired is delivered only by the payment provider's webhook",
    }

    @workflow.init
    def __init__(self, input: PaymentInput) -> None:
        self._input = input
        self._status = PaymentStatus(lead_id=input.lead.id, reference=input.reference)
        self._completion: PaymentCompletedSignal | None = None
        #: Completions signalled but not yet confirmed with the provider, oldest first.
        self._claims: list[PaymentCompletedSignal] = []
        self._expired = False
        self._steps = WorkflowSteps()

    @workflow.run
    async def run(self, input: PaymentInput) -> PaymentStatus:
        status = self._status
        started = workflow.now()
        status.started_at, status.deadline = started, started + PAYMENT_WINDOW
        checkout = await open_checkout(self._steps, input, status)

        for offset, reminder in checkpoints():
            if await self._settled_by(started + offset) or await self._paid_per_stripe():
                break
            if reminder is not None:
                await self._message(reminder)
                status.reminders_sent.append(workflow.now())
        else:
            await self._settled_by(status.deadline)
            if self._completion is None:
                await self._paid_per_stripe()

        if self._completion is not None:
            await self._paid(self._completion)
        else:
            await self._mark(MarkPaymentInput(session_id=checkout.session_id, state="expired", at=workflow.now()))
            status.state = "expired"
        return status

    def _settled(self) -> bool:
        return self._completion is not None or self._expired

    async def _settled_by(self, at: datetime) -> bool:
        """Wait until ``at`` unless paid or expired first; True when settled. A signalled
        completion counts only once the provider confirms it (:meth:`_confirm_claims`)."""
        while not self._settled():
            if not self._claims:
                delay = at - workflow.now()
                if delay <= timedelta(0):
                    break
                try:
                    await workflow.wait_condition(
                        lambda: bool(self._claims) or self._settled(), timeout=delay, timeout_summary="unpaid"
                    )
                except TimeoutError:
                    break
            await self._confirm_claims()
        return self._settled()

    async def _confirm_claims(self) -> None:
        """Check each signalled completion against the checkout as the provider reports it."""
        while self._claims and not self._settled():
            claim = self._claims.pop(0)
            if await self._read_paid_checkout() is not None:
                self._completion = claim
            else:
                self._status.unconfirmed_completions += 1
                workflow.logger.warning("payment_completed not confirmed by the provider; still waiting")
        self._status.duplicate_completions += len(self._claims) if self._completion is not None else 0
        if self._completion is not None:
            self._claims.clear()

    async def _read_paid_checkout(self) -> CheckoutSession | None:
        """The checkout as the provider reports it, when paid; None while it is not."""
        assert self._status.session_id is not None
        session = await self._steps.run(
            PaymentsActivities.get_checkout,
            GetCheckoutInput(session_id=self._status.session_id),
            timeout=PROVIDER_CALL_TIMEOUT,
            retry=DEFAULT_RETRY,
        )
        paid = session.status == "complete" and session.payment_status in ("paid", "no_payment_required")
        return session if paid else None

    async def _paid_per_stripe(self) -> bool:
        """Read the checkout back; a completed one counts as the (lost) webhook's completion."""
        if self._claims:
            await self._confirm_claims()
        elif self._completion is None and (session := await self._read_paid_checkout()) is not None:
            assert self._status.session_id is not None and self._status.started_at is not None
            self._completion = PaymentCompletedSignal(
                session_id=self._status.session_id,
                event_id=f"poll:{self._status.session_id}",
                paid_at=read_back_paid_at(session.paid_at, self._status.started_at, workflow.now()),
            )
        return self._settled()

    async def _paid(self, completion: PaymentCompletedSignal) -> None:
        status = self._status
        status.state = "paid"
        status.paid_at, status.completion_event_id = completion.paid_at, completion.event_id
        assert status.session_id is not None
        await self._mark(
            MarkPaymentInput(
                session_id=status.session_id, state="paid", at=completion.paid_at, event_id=completion.event_id
            )
        )
        status.previous_stage = await self._steps.run(
            LeadActivities.set_stage,
            SetStageInput(lead_id=self._input.lead.id, stage="customer"),
            timeout=STORE_CALL_TIMEOUT,
            retry=STORE_RETRY,
        )
        await self._message("receipt")
        if self._input.sync_integrations:
            status.integration_sync = await start_sync(
                IntegrationSyncInput(
                    lead=self._input.lead,
                    event="payment_completed",
                    event_id=self._input.reference,
                    occurred_at=completion.paid_at,
                    value=self._input.amount,
                    currency=self._input.currency,
                )
            )

    async def _mark(self, mark: MarkPaymentInput) -> None:
        await self._steps.run(PaymentRecordActivities.mark, mark, timeout=STORE_CALL_TIMEOUT, retry=STORE_RETRY)

    async def _message(self, kind: str) -> None:
        await send_payment_message(self._steps, self._input, self._status, kind)

    # --- signals and query ----------------------------------------------------------------
    @workflow.signal(name="payment_completed")
    def payment_completed(self, signal: PaymentCompletedSignal) -> None:
        if self._status.session_id is not None and signal.session_id != self._status.session_id:
            workflow.logger.warning("completion for another checkout session ignored: %s", signal.session_id)
            return
        if self._completion is not None or self._status.state in ("paid", "expired"):
            self._status.duplicate_completions += 1
            return
        self._claims.append(signal)  # confirmed with the provider before it counts

    @workflow.signal(name="payment_expired")
    def payment_expired(self, signal: PaymentExpiredSignal) -> None:
        if signal.session_id is None or signal.session_id == self._status.session_id:
            self._expired = True

    @workflow.query(name="status")
    def status(self) -> PaymentStatus:
        return self._status
