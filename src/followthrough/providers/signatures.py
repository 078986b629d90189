"""Webhook signature checks shared by the providers that sign (WhatsApp, Stripe, Cal.com, Slack).

The provider-specific helpers live in their modules (``verify_whatsapp_signature`` in
:mod:`.messaging`, ``verify_stripe_signature`` in :mod:`.payments`, ``verify_calcom_signature``
in :mod:`.calendar`), except Slack's, :func:`verify_slack_signature`, here: Slack's Events API
is not a provider capability, only the bots' event URL. They raise :class:`InvalidSignature`
(forged, missing, malformed) or its subclass :class:`StaleSignature` (too old, or already
seen). A route answers 401 when the signature is missing, 403 otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict


class InvalidSignature(Exception):
    """The webhook's signature is missing, malformed or does not match the body."""


class StaleSignature(InvalidSignature):
    """The signature matches but the delivery is too old or was already accepted (a replay)."""


def hmac_sha256_hex(secret: str | bytes, payload: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


def verify_shared_secret(given: str | None, secret: str) -> None:
    """A header that carries the shared secret itself, for providers that sign nothing (Unipile
    sends the custom headers set on its webhook). Compared in constant time, case and all."""
    if not given:
        raise InvalidSignature("missing")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise InvalidSignature("does not match the configured secret")


class ReplayCache:
    """Ids already accepted, remembered for ``ttl`` seconds (bounded): a second delivery of the
    same id is a replay. Per process; the workflow ids and the outbox dedupe across processes."""

    def __init__(self, ttl: float = 600.0, max_size: int = 100_000) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._seen: OrderedDict[str, float] = OrderedDict()

    def check_and_add(self, ident: str, now: float | None = None) -> None:
        """Raise :class:`StaleSignature` if ``ident`` was seen within ``ttl``; else remember it."""
        now = time.time() if now is None else now
        while self._seen:
            oldest, seen_at = next(iter(self._seen.items()))
            if now - seen_at <= self.ttl and len(self._seen) < self.max_size:
                break
            self._seen.popitem(last=False)
        if ident in self._seen:
            raise StaleSignature(f"delivery {ident[:32]} was already accepted (replay)")
        self._seen[ident] = now


#: How far Slack's ``X-Slack-Request-Timestamp`` may be from now (Slack's guidance: 5 minutes).
SLACK_TOLERANCE_SECONDS = 300.0


def verify_slack_signature(
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    secret: str,
    *,
    tolerance: float = SLACK_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Check Slack's request signing (``X-Slack-Signature`` over ``X-Slack-Request-Timestamp``).

    The signature is ``v0=`` + hex HMAC-SHA256 of ``"v0:{timestamp}:{raw body}"`` keyed with the
    app's signing secret. The timestamp must be within ``tolerance`` seconds of now, either way
    (an old request is a replay; one from the future a forged clock). Raises
    :class:`InvalidSignature` / :class:`StaleSignature`.
    """
    if not signature:
        raise InvalidSignature("missing X-Slack-Signature")
    if not timestamp:
        raise InvalidSignature("missing X-Slack-Request-Timestamp")
    if not timestamp.isascii() or not timestamp.isdigit():
        raise InvalidSignature("X-Slack-Request-Timestamp is not a Unix time")
    version, _, digest = signature.partition("=")
    if version != "v0" or not digest:
        raise InvalidSignature("X-Slack-Signature is not v0=<hex>")
    expected = hmac_sha256_hex(secret, b"v0:" + timestamp.encode() + b":" + body)
    if not same(expected, digest):
        raise InvalidSignature("X-Slack-Signature does not match the body")
    age = (time.time() if now is None else now) - int(timestamp)
    if abs(age) > tolerance:
        raise StaleSignature(f"X-Slack-Request-Timestamp is {age:.0f}s away (tolerance {tolerance:.0f}s)")
