"""Webhook signature checks shared by the providers that sign (WhatsApp, Stripe, Cal.com).

The provider-specific helpers live in their modules (``verify_whatsapp_signature`` in
:mod:`.messaging`, ``verify_stripe_signature`` in :mod:`.payments`, ``verify_calcom_signature``
in :mod:`.calendar`); they raise :class:`InvalidSignature` (forged, missing, malformed) or its
subclass :class:`StaleSignature` (too old, or already seen). A route answers 400/401 on either.
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
