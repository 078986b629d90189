"""Webhook signature checks shared by the providers that sign (WhatsApp, Stripe, Cal.com, Slack).

The provider-specific helpers live in their modules (``verify_whatsapp_signature`` in
:mod:`.messaging`, ``verify_stripe_signature`` in :mod:`.payments`, ``verify_calcom_signature``
in :mod:`.calendar`), except Slack's, :func:`verify_slack_signature`, here: Slack's Events API
is not a provider capability, only the bots' event URL. Stripe's and Slack's go through the
provider's own SDK (``stripe.Webhook.construct_event``, ``slack_sdk.signature.SignatureVerifier``);
WhatsApp, Cal.com and Unipile have none. They raise :class:`InvalidSignature` (forged, missing,
malformed) or its subclass :class:`StaleSignature` (too old, or a replay). A route answers 401
when the signature is missing, 403 otherwise. Replays and redeliveries are told apart by the
routes, from the deliveries every API process records in the store
(:mod:`followthrough.api.webhook_common`).
"""

from __future__ import annotations

import hashlib
import hmac

from slack_sdk.signature import Clock, SignatureVerifier


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


#: How far Slack's ``X-Slack-Request-Timestamp`` may be from now (Slack's guidance: 5 minutes).
SLACK_TOLERANCE_SECONDS = 300.0


def verify_slack_signature(
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    secret: str,
    *,
    now: float | None = None,
) -> None:
    """Check Slack's request signing with ``slack_sdk.signature.SignatureVerifier``.

    The signature is ``v0=`` + hex HMAC-SHA256 of ``"v0:{timestamp}:{raw body}"`` keyed with the
    app's signing secret; the timestamp must be within :data:`SLACK_TOLERANCE_SECONDS` of now,
    either way (an old request is a replay; one from the future a forged clock). What the SDK
    answers with a bare ``False`` is told apart here, so the refusal says why. Raises
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
    clock = _FixedClock(now) if now is not None else Clock()
    try:
        verifier = SignatureVerifier(secret, clock)
        valid = verifier.is_valid(body, timestamp, signature)
        expected = verifier.generate_signature(timestamp=timestamp, body=body) or ""
        matches = valid or hmac.compare_digest(expected, signature)
    except (ValueError, TypeError) as exc:  # an empty secret, a body not UTF-8, a header not ASCII
        raise InvalidSignature(f"X-Slack-Signature cannot be checked: {exc}") from None
    if not matches:
        raise InvalidSignature("X-Slack-Signature does not match the body")
    if not valid:
        age = clock.now() - int(timestamp)
        raise StaleSignature(f"X-Slack-Request-Timestamp is {age:.0f}s away (tolerance {SLACK_TOLERANCE_SECONDS:.0f}s)")


class _FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now
