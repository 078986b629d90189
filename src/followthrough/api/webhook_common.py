"""What the provider webhooks share: secrets, refusals, deliveries seen, signalling follow-ups.

Kept outside ``api/routes/`` so route discovery does not take it for a routes module. Every
webhook checks its provider's signature over the raw body instead of the API key: a missing
signature is 401, a wrong or stale one 403, a body that is not the provider's JSON 400, an
event this service does not use 200 ``{"ignored": …}``; never a 500.

Providers deliver at least once, and every API process must answer alike, so what was accepted
is recorded in the store (:class:`~followthrough.store.repositories.WebhookDeliveries`), not in
memory:

Each webhook states only what differs: :class:`Signature` reads the body, checks the provider's
signature (or shared secret) and refuses what does not hold; :func:`refuse_replay` and
:func:`once` claim the delivery; :func:`workflows` and :func:`signal_running` act on it.

* :func:`refuse_replay` — the same signed delivery sent again (the signature covers a
  timestamp: Stripe, Slack) is a replay by someone else: 403, as a forgery.
* :func:`once` — an event handled before (same event id, a fresh valid signature: the
  provider's redelivery) is answered 200 ``{"duplicate": true, …}`` and changes nothing. The
  first delivery claims the id, handles it and marks it done; if handling fails the claim is
  released, so the provider's next delivery handles it; a delivery arriving while another
  process handles the same event is 503 with ``Retry-After``.

When the store cannot be reached the answer is 503: the provider delivers again later.

Each delivery is counted in ``followthrough_webhook_deliveries_total{provider, result}``:
``refused`` by :func:`refuse` and :func:`refuse_replay`, ``duplicate`` and ``accepted`` (handled)
by :func:`once`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from fastapi import HTTPException, Request, status
from pydantic import SecretStr

from followthrough.metrics import record_webhook
from followthrough.processes.followups.rules import FOLLOWUP_TYPES, followup_workflow_id
from followthrough.providers.signatures import InvalidSignature, verify_shared_secret
from followthrough.store import StoreError
from followthrough.store.repositories.webhooks import MAX_DELIVERY_ID, Claim, WebhookDeliveries
from followthrough.temporal.operations import WorkflowNotFound, Workflows

log = logging.getLogger(__name__)

#: The prefix every webhook router uses (``/webhook/<provider>``).
PREFIX = "/webhook"
#: How long a handled event id is remembered: past every provider's retries (Stripe's: 3 days).
EVENT_TTL = timedelta(days=7)
#: How long an accepted signature is remembered: past it, its timestamp makes it stale anyway.
SIGNATURE_TTL = timedelta(minutes=10)
#: What a provider is asked to wait while another process handles the same event.
RETRY_AFTER_SECONDS = 30

T = TypeVar("T")


def configured_secret(value: SecretStr | None, variable: str) -> str:
    """The configured secret; 403 when it is not set (unconfigured is refused, never accepted unsigned)."""
    if value is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"webhook refused: {variable} is not configured")
    return value.get_secret_value()


def deliveries(request: Request) -> WebhookDeliveries:
    """The deliveries every API process accepted (one repository per app, for its clean-up pace)."""
    repo: WebhookDeliveries | None = getattr(request.app.state, "webhook_deliveries", None)
    if repo is None:
        repo = request.app.state.webhook_deliveries = WebhookDeliveries(request.app.state.services.database)
    return repo


def digest(*parts: str | bytes) -> str:
    """SHA-256 hex of the parts, each ended by a NUL (so no two splits of one text collide)."""
    sha = hashlib.sha256()
    for part in parts:
        sha.update(part if isinstance(part, bytes) else part.encode())
        sha.update(b"\0")
    return sha.hexdigest()


def delivery_key(*parts: str) -> str:
    """A delivery id from its parts: joined with ``:`` when that fits the store, else a digest."""
    joined = ":".join(parts)
    return joined if 0 < len(joined) <= MAX_DELIVERY_ID else digest(*parts)


async def _claim(request: Request, provider: str, delivery_id: str, ttl: timedelta, *, done: bool = False) -> Claim:
    try:
        return await deliveries(request).claim(provider, delivery_id, ttl, done=done)
    except StoreError:
        log.exception("webhook %s: the store is unreachable; asking the provider to deliver again", provider)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the store is unavailable; deliver again") from None


async def refuse_replay(request: Request, provider: str, signed: str, header: str) -> None:
    """403 when this very signed delivery (``signed``: a digest of what the signature covers)
    was accepted before, by any API process."""
    claim = await _claim(request, f"{provider}:signature", signed, SIGNATURE_TTL, done=True)
    if not claim.new:
        record_webhook(provider, "refused")
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{header} refused: this signed delivery was accepted before")


async def once(
    request: Request,
    provider: str,
    event_id: str | None,
    handle: Callable[[], Awaitable[dict[str, Any]]],
    duplicate: dict[str, Any],
) -> dict[str, Any]:
    """``handle()`` the event the first time ``event_id`` is delivered, by any API process; a
    redelivery of a handled event answers ``{"duplicate": True, **duplicate}`` and does nothing.
    An event without an id (None or empty) has nothing to be told apart by: it is handled."""
    if not event_id:
        return await handle()
    claim = await _claim(request, provider, event_id, EVENT_TTL)
    if claim is Claim.DONE:
        log.info("webhook %s: event already handled; redelivery acknowledged", provider)
        record_webhook(provider, "duplicate")
        return {"duplicate": True, **duplicate}
    if claim is Claim.BUSY:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "this event is being handled by another delivery; deliver again later",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    repo = deliveries(request)
    try:
        result = await handle()
    except BaseException:
        try:  # the provider's next delivery handles it (a failed release leaves it to the lease)
            await repo.release(provider, event_id)
        except StoreError:
            log.warning("webhook %s: could not release a failed claim", provider, exc_info=True)
        raise
    record_webhook(provider, "accepted")
    try:
        await repo.complete(provider, event_id)
    except StoreError:  # handled: a redelivery within the lease is 503, then handled again
        log.warning("webhook %s: handled, but not marked done", provider, exc_info=True)
    return result


def refuse(header: str, exc: InvalidSignature, given: str | None, *, provider: str) -> HTTPException:
    """401 when the signature is missing, 403 when it is forged, malformed or stale."""
    record_webhook(provider, "refused")
    code = status.HTTP_401_UNAUTHORIZED if not given else status.HTTP_403_FORBIDDEN
    return HTTPException(code, f"{header} refused: {exc}")


@dataclass(frozen=True)
class Signed(Generic[T]):
    """A delivery whose signature held: its raw body, the header as given, what the check returned."""

    body: bytes
    signature: str | None
    checked: T


@dataclass(frozen=True)
class Signature(Generic[T]):
    """How a provider authenticates its deliveries: the header it sends, the setting that holds the
    secret, and ``check(body, header value, secret)``, which raises :class:`InvalidSignature`."""

    provider: str
    header: str
    variable: str
    check: Callable[[bytes, str | None, str], T]

    async def verify(self, request: Request, secret: SecretStr | None) -> Signed[T]:
        """The delivery once the check holds: 403 when the secret is not configured, then 401/403
        by :func:`refuse` when the check fails."""
        body = await request.body()
        given = request.headers.get(self.header)
        key = configured_secret(secret, self.variable)
        try:
            return Signed(body, given, self.check(body, given, key))
        except InvalidSignature as exc:
            raise refuse(self.header, exc, given, provider=self.provider) from None


def shared_secret(provider: str, header: str, variable: str) -> Signature[None]:
    """For a provider that signs nothing and sends the secret itself in ``header``."""
    return Signature(provider, header, variable, lambda _body, given, key: verify_shared_secret(given, key))


def parse_json(body: bytes) -> Any:
    """The body as JSON; 400 when it is not."""
    try:
        return json.loads(body)
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the body is not JSON") from None


async def temporal_client(request: Request) -> Any:
    """The app's Temporal client (imported late: ``deps`` connects on first use)."""
    from followthrough.api.deps import get_client

    return await get_client(request)


async def workflows(request: Request) -> Workflows:
    """The workflow operations a public webhook acts with (they see every organization's)."""
    from followthrough.api.deps import get_workflows

    return await get_workflows(request, await temporal_client(request))


async def signal_running(wf: Workflows, workflow_id: str, name: str, arg: Any) -> bool:
    """Signal ``workflow_id``; False when it is not running (never started, or already closed)."""
    try:
        await wf.signal(workflow_id, name, arg, internal=True)
    except WorkflowNotFound:
        return False
    return True


async def running_followups(wf: Workflows, lead_id: str, types: Iterable[str] = FOLLOWUP_TYPES) -> set[str]:
    """The lead's follow-up ids: the deterministic ones, plus any visibility finds running."""
    wanted = set(types)
    ids = {followup_workflow_id(lead_id, t) for t in wanted}
    query = f'LeadId="{lead_id}" AND WorkflowType="FollowUpWorkflow" AND ExecutionStatus="Running"'
    try:
        found, _ = await wf.list(query, page_size=100)
        ids |= {e.workflow_id for e in found if wanted == set(FOLLOWUP_TYPES) or e.workflow_id in ids}
    except Exception:  # visibility is an extra; the time-skipping server does not serve it
        log.debug("visibility query failed; signalling the deterministic follow-up ids only")
    return ids


async def signal_followups(
    wf: Workflows,
    lead_id: str,
    name: str,
    arg: Any,
    *,
    types: Iterable[str] = FOLLOWUP_TYPES,
    skip: set[str] | None = None,
) -> list[str]:
    """Signal every running follow-up of the lead; returns the ids that took the signal."""
    ids = sorted((await running_followups(wf, lead_id, types)) - (skip or set()))

    async def one(workflow_id: str) -> str | None:
        return workflow_id if await signal_running(wf, workflow_id, name, arg) else None

    return [i for i in await asyncio.gather(*(one(i) for i in ids)) if i is not None]
