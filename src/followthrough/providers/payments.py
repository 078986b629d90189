"""Payments: Stripe Checkout through the official ``stripe`` SDK.

* :class:`StripePayments` — ``checkout.sessions.create`` with the activity's idempotency key as
  Stripe's ``Idempotency-Key``, and ``retrieve`` (expanding ``payment_intent.latest_charge``:
  a Checkout Session has no paid-at of its own, so :func:`paid_at` reads the charge's
  ``created``); the SDK's own retries are off (Temporal retries) and its errors are mapped by
  status like every other provider.
* :class:`SandboxPayments` — sessions with random ``cs_sandbox_`` ids (the id is the only
  capability the public checkout page asks for, so it is never derived from the lead or the
  reference; the same idempotency key still answers the same session) and a local URL; they
  stay ``open`` until :func:`complete_sandbox_checkout` (what the payments route calls when someone "pays" at
  that URL) or their expiry.
* :func:`verify_stripe_signature` — ``Stripe-Signature: t=…,v1=…`` checked by the SDK's
  ``stripe.Webhook.construct_event``, refused outside the tolerance (the webhook route refuses
  replays and answers redeliveries from the store).

Completing a sandbox checkout (for the payments route)::

    from followthrough.providers.payments import complete_sandbox_checkout
    event = await complete_sandbox_checkout(services.providers.payments, session_id)
    # event.session.metadata["workflow_id"] is the PaymentWorkflow to signal with
    # payment_completed(session_id=event.session.session_id, event_id=event.event_id,
    #                   paid_at=event.created_at)

It raises ``ValidationError`` when payments are not sandboxed, the session is unknown or has
expired; completing twice returns the same event.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import stripe

from followthrough.errors import FollowthroughError, RetryableError, ValidationError
from followthrough.providers.contracts.payments import (
    CheckoutSession,
    CreateCheckoutInput,
    GetCheckoutInput,
    SandboxCheckoutEvent,
)
from followthrough.providers.http import error_for_status
from followthrough.providers.sandbox import Sandbox, stable_id
from followthrough.providers.signatures import InvalidSignature, StaleSignature, hmac_sha256_hex

#: A sandbox checkout's id: this, then 24 random bytes (URL-safe base64).
SANDBOX_SESSION_PREFIX = "cs_sandbox_"
#: Where a sandbox checkout's URL points (the payments routes serve it).
SANDBOX_CHECKOUT_PATH = "/payments/sandbox/{session_id}"


class PaymentsProvider(Protocol):
    name: str

    async def create_checkout(self, input: CreateCheckoutInput) -> CheckoutSession: ...

    async def get_checkout(self, input: GetCheckoutInput) -> CheckoutSession: ...


def checkout_params(input: CreateCheckoutInput, *, success_url: str, cancel_url: str, now: datetime) -> dict[str, Any]:
    """The Checkout Session create parameters: one line item, metadata on the session and its
    payment intent (so both webhooks carry ``workflow_id``)."""
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": input.currency,
                    "unit_amount": input.amount,
                    "product_data": {"name": input.description},
                },
            }
        ],
        "metadata": input.metadata,
        "payment_intent_data": {"metadata": input.metadata},
        "client_reference_id": input.metadata["lead_id"],
        "success_url": input.success_url or success_url,
        "cancel_url": input.cancel_url or cancel_url,
        "expires_at": int((now + timedelta(minutes=input.expires_in_minutes)).timestamp()),
    }
    if input.customer_email:
        params["customer_email"] = input.customer_email
    return params


def stripe_error(exc: stripe.StripeError) -> FollowthroughError:
    """The error class for a Stripe SDK error (by HTTP status, like every provider)."""
    if isinstance(exc, stripe.APIConnectionError) or exc.http_status is None:
        return RetryableError(f"stripe could not be reached: {exc.user_message or exc}", provider="stripe")
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    message = exc.user_message or str(exc)
    return error_for_status("stripe", exc.http_status, message, headers, exc.json_body)


#: What ``retrieve`` expands so the session carries the time of its payment.
CHECKOUT_EXPAND = ["payment_intent.latest_charge"]


def paid_at(session: dict[str, Any]) -> datetime | None:
    """When a paid Checkout Session was paid: its payment intent's latest charge's ``created``,
    else the payment intent's ``created`` (Checkout creates the intent when the customer
    submits the payment), else None. The session's own ``created`` is when the checkout was
    opened, not paid, so it is never used: the workflow then takes the time it read the
    session back (the webhook path has the event's ``created`` instead)."""
    if session.get("payment_status") not in ("paid", "no_payment_required"):
        return None
    intent = session.get("payment_intent")
    if not isinstance(intent, dict):
        return None
    charge = intent.get("latest_charge")
    created = charge.get("created") if isinstance(charge, dict) else None
    created = created or intent.get("created")
    return datetime.fromtimestamp(int(created), UTC) if isinstance(created, int) and created > 0 else None


def _session(obj: Any) -> CheckoutSession:
    return CheckoutSession(
        session_id=obj["id"],
        url=obj.get("url"),
        status=obj.get("status") or "open",
        payment_status=obj.get("payment_status") or "unpaid",
        amount=obj.get("amount_total"),
        currency=obj.get("currency"),
        expires_at=datetime.fromtimestamp(obj["expires_at"], UTC),
        metadata=dict(obj.get("metadata") or {}),
        paid_at=paid_at(obj),
    )


class StripePayments:
    name = "stripe"

    def __init__(
        self,
        api_key: str,
        *,
        success_url: str,
        cancel_url: str,
        base_url: str | None = None,
        timeout: float = 20.0,
        http_client: stripe.HTTPClient | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {}
        if base_url:
            kwargs["base_addresses"] = {"api": base_url.rstrip("/")}
        self._client = stripe.StripeClient(
            api_key,
            http_client=http_client or stripe.HTTPXClient(timeout=timeout),
            max_network_retries=0,  # Temporal retries, with backoff and the same idempotency key
            **kwargs,
        )
        self._success_url = success_url
        self._cancel_url = cancel_url

    async def create_checkout(self, input: CreateCheckoutInput) -> CheckoutSession:
        params = checkout_params(
            input, success_url=self._success_url, cancel_url=self._cancel_url, now=datetime.now(UTC)
        )
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]
                options={"idempotency_key": input.idempotency_key},
            )
        except stripe.StripeError as exc:
            raise stripe_error(exc) from exc
        return _session(session.to_dict())

    async def get_checkout(self, input: GetCheckoutInput) -> CheckoutSession:
        try:
            session = await self._client.v1.checkout.sessions.retrieve_async(
                input.session_id, params={"expand": CHECKOUT_EXPAND}
            )
        except stripe.StripeError as exc:
            raise stripe_error(exc) from exc
        return _session(session.to_dict())

    async def health(self) -> str:
        try:
            balance = await self._client.v1.balance.retrieve_async()
        except stripe.StripeError as exc:
            raise stripe_error(exc) from exc
        return f"stripe livemode={balance.to_dict().get('livemode')}"


class SandboxPayments:
    name = "stripe"

    def __init__(self, sandbox: Sandbox, *, checkout_base_url: str = "http://127.0.0.1:8000") -> None:
        self._sandbox = sandbox
        self._base = checkout_base_url.rstrip("/")

    async def create_checkout(self, input: CreateCheckoutInput) -> CheckoutSession:
        async def respond() -> CheckoutSession:
            session_id = await self._session_for(input.idempotency_key)
            stored = await self._sandbox.get_state(self.name, "session", session_id)
            if stored is not None:  # a retry under the same key: the session already made
                return CheckoutSession.model_validate(stored)
            session = CheckoutSession(
                session_id=session_id,
                url=self._base + SANDBOX_CHECKOUT_PATH.format(session_id=session_id),
                status="open",
                payment_status="unpaid",
                amount=input.amount,
                currency=input.currency,
                expires_at=self._sandbox.now().replace(microsecond=0) + timedelta(minutes=input.expires_in_minutes),
                metadata=input.metadata,
            )
            await self._sandbox.put_state(self.name, "session", session_id, session.model_dump(mode="json"))
            return session

        return await self._sandbox.side_effect(self.name, "checkout", input.idempotency_key, input, respond)

    async def _session_for(self, idempotency_key: str) -> str:
        """The session id kept for ``idempotency_key``: random, drawn on the key's first use
        (the first write wins, so two racing calls with one key agree on it)."""
        ident = stable_id(idempotency_key, length=64)  # a key may be 255 characters; the row's is too
        kept = await self._sandbox.get_state(self.name, "checkout_key", ident)
        if kept is None:
            drawn = {"session_id": SANDBOX_SESSION_PREFIX + secrets.token_urlsafe(24)}
            await self._sandbox.put_state(self.name, "checkout_key", ident, drawn)
            kept = await self._sandbox.get_state(self.name, "checkout_key", ident)
            assert kept is not None
        return str(kept["session_id"])

    async def get_checkout(self, input: GetCheckoutInput) -> CheckoutSession:
        self._sandbox.enter(self.name, "get_checkout", None, input.model_dump(mode="json"))
        return await self._current(input.session_id)

    async def _current(self, session_id: str) -> CheckoutSession:
        stored = await self._sandbox.get_state(self.name, "session", session_id)
        if stored is None:
            raise error_for_status(self.name, 404, f"No such checkout.session: '{session_id}'")
        session = CheckoutSession.model_validate(stored)
        completed = await self._sandbox.get_state(self.name, "completed", session_id)
        if completed is not None:  # paid at the time the checkout page was "paid"
            paid = datetime.fromisoformat(completed["at"])
            return session.model_copy(update={"status": "complete", "payment_status": "paid", "paid_at": paid})
        if await self._sandbox.get_state(self.name, "expired", session_id) is not None:
            return session.model_copy(update={"status": "expired"})
        if self._sandbox.now() >= session.expires_at:
            return session.model_copy(update={"status": "expired"})
        return session

    async def finish(self, session_id: str, outcome: str) -> SandboxCheckoutEvent:
        """Complete (``"completed"``) or expire (``"expired"``) an open sandbox session, once."""
        recorded = await self._sandbox.get_state(self.name, outcome, session_id)
        if recorded is None:
            session = await self._current(session_id)
            if session.status != "open":
                raise ValidationError(f"checkout {session_id} is {session.status}, not open", provider=self.name)
            now = self._sandbox.now()
            await self._sandbox.put_state(
                self.name,
                outcome,
                session_id,
                {"event_id": "evt_test_" + stable_id("stripe", outcome, session_id), "at": now.isoformat()},
            )
            recorded = await self._sandbox.get_state(self.name, outcome, session_id)
            assert recorded is not None
        return SandboxCheckoutEvent(
            event_id=recorded["event_id"],
            type=f"checkout.session.{outcome}",  # type: ignore[arg-type]
            session=await self._current(session_id),
            created_at=datetime.fromisoformat(recorded["at"]),
        )


async def complete_sandbox_checkout(payments: PaymentsProvider, session_id: str) -> SandboxCheckoutEvent:
    """Pay a sandbox checkout, as the local checkout page does. See the module docstring."""
    if not isinstance(payments, SandboxPayments):
        raise ValidationError("payments are not sandboxed: real checkouts are paid on Stripe", provider="stripe")
    return await payments.finish(session_id, "completed")


async def expire_sandbox_checkout(payments: PaymentsProvider, session_id: str) -> SandboxCheckoutEvent:
    """Expire a sandbox checkout now (Stripe's ``checkout.session.expired``)."""
    if not isinstance(payments, SandboxPayments):
        raise ValidationError("payments are not sandboxed", provider="stripe")
    return await payments.finish(session_id, "expired")


def sign_stripe_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header for ``payload`` (what Stripe sends; used by tests and tools)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={hmac_sha256_hex(secret, f'{t}.'.encode() + payload)}"


def verify_stripe_signature(
    payload: bytes,
    header: str | None,
    secret: str,
    *,
    tolerance: int = 300,
) -> dict[str, Any]:
    """Check ``Stripe-Signature`` with ``stripe.Webhook.construct_event`` and return the event.

    Any ``v1`` entry may match (Stripe sends one per active secret during rotation); the
    timestamp must be within ``tolerance`` seconds of now, either way (the SDK looks only at the
    past; a future one is a forged clock). Raises :class:`InvalidSignature` /
    :class:`StaleSignature`.
    """
    if not header:
        raise InvalidSignature("missing Stripe-Signature")
    try:
        event = stripe.Webhook.construct_event(payload, header, secret, tolerance=tolerance)
    except stripe.SignatureVerificationError as exc:
        if "tolerance" in str(exc):
            raise StaleSignature(f"Stripe-Signature timestamp is older than {tolerance}s") from None
        raise InvalidSignature(f"Stripe-Signature refused: {exc.user_message or exc}") from None
    except (ValueError, TypeError, AttributeError):  # signed, but not JSON (nor UTF-8), or not an object
        raise InvalidSignature("the body is not a Stripe event object") from None
    if stripe_timestamp(header) > time.time() + tolerance:
        raise StaleSignature(f"Stripe-Signature timestamp is more than {tolerance}s ahead")
    return event.to_dict()


def stripe_timestamp(header: str) -> int:
    """The ``t=`` of a ``Stripe-Signature`` the SDK accepted, read as the SDK reads it."""
    return int([item[1] for item in (part.split("=", 2) for part in header.split(",")) if item[0] == "t"][0])
