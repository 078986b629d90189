"""Webhook signatures: valid accepted, forged and stale refused, for all three providers that sign."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import stripe

from followthrough.providers.calendar import verify_calcom_signature
from followthrough.providers.messaging import verify_whatsapp_signature, verify_whatsapp_subscription
from followthrough.providers.payments import sign_stripe_payload, verify_stripe_signature
from followthrough.providers.signatures import InvalidSignature, ReplayCache, StaleSignature

SECRET = "whsec_test_secret"


def hub_signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def whatsapp_body(timestamp: float) -> bytes:
    message = {"from": "5215512345678", "id": "wamid.1", "timestamp": str(int(timestamp)), "type": "text"}
    return json.dumps({"entry": [{"changes": [{"value": {"messages": [message]}}]}]}).encode()


# --- WhatsApp ---------------------------------------------------------------------------------
def test_whatsapp_valid_signature_is_accepted() -> None:
    body = whatsapp_body(time.time())
    verify_whatsapp_signature(body, hub_signature(body), SECRET, max_age=300)


@pytest.mark.parametrize(
    "header", [None, "", "sha1=abc", "sha256=" + "0" * 64, hub_signature(b"other body"), hub_signature(b"x", "wrong")]
)
def test_whatsapp_forged_signature_is_refused(header: str | None) -> None:
    with pytest.raises(InvalidSignature):
        verify_whatsapp_signature(whatsapp_body(time.time()), header, SECRET)


def test_whatsapp_stale_or_replayed_delivery_is_refused() -> None:
    old = whatsapp_body(time.time() - 3600)
    with pytest.raises(StaleSignature):
        verify_whatsapp_signature(old, hub_signature(old), SECRET, max_age=300)
    fresh = whatsapp_body(time.time())
    seen = ReplayCache()
    verify_whatsapp_signature(fresh, hub_signature(fresh), SECRET, seen=seen)
    with pytest.raises(StaleSignature, match="replay"):
        verify_whatsapp_signature(fresh, hub_signature(fresh), SECRET, seen=seen)


def test_whatsapp_subscription_handshake() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "vt", "hub.challenge": "1158201444"}
    assert verify_whatsapp_subscription(params, "vt") == "1158201444"
    with pytest.raises(InvalidSignature):
        verify_whatsapp_subscription({**params, "hub.verify_token": "nope"}, "vt")
    with pytest.raises(InvalidSignature):
        verify_whatsapp_subscription({**params, "hub.mode": "unsubscribe"}, "vt")


# --- Stripe -----------------------------------------------------------------------------------
EVENT = json.dumps({"id": "evt_1", "type": "checkout.session.completed", "data": {"object": {"id": "cs_1"}}}).encode()


def test_stripe_valid_signature_is_accepted_and_matches_the_sdk() -> None:
    header = sign_stripe_payload(EVENT, SECRET)
    assert verify_stripe_signature(EVENT, header, SECRET)["id"] == "evt_1"
    # The SDK's own verifier agrees with what we sign and accept.
    assert stripe.WebhookSignature.verify_header(EVENT.decode(), header, SECRET, tolerance=300)


def test_stripe_rotated_secret_any_v1_matches() -> None:
    t = int(time.time())
    good = sign_stripe_payload(EVENT, SECRET, t).split("v1=")[1]
    verify_stripe_signature(EVENT, f"t={t},v1={'f' * 64},v1={good}", SECRET)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "garbage",
        f"t={int(time.time())}",
        f"t={int(time.time())},v1={'a' * 64}",
        sign_stripe_payload(b'{"id": "evt_other"}', SECRET),
        sign_stripe_payload(EVENT, "whsec_wrong"),
    ],
)
def test_stripe_forged_signature_is_refused(header: str | None) -> None:
    with pytest.raises(InvalidSignature):
        verify_stripe_signature(EVENT, header, SECRET)


def test_stripe_stale_or_replayed_event_is_refused() -> None:
    old = sign_stripe_payload(EVENT, SECRET, int(time.time()) - 301)
    with pytest.raises(StaleSignature):
        verify_stripe_signature(EVENT, old, SECRET, tolerance=300)
    seen = ReplayCache()
    verify_stripe_signature(EVENT, sign_stripe_payload(EVENT, SECRET), SECRET, seen=seen)
    with pytest.raises(StaleSignature, match="replay"):
        verify_stripe_signature(EVENT, sign_stripe_payload(EVENT, SECRET), SECRET, seen=seen)


# --- Cal.com ----------------------------------------------------------------------------------
def calcom_body(created: datetime) -> bytes:
    return json.dumps(
        {"triggerEvent": "BOOKING_RESCHEDULED", "createdAt": created.isoformat(), "payload": {"uid": "bk_1"}}
    ).encode()


def cal_signature(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_calcom_valid_signature_is_accepted() -> None:
    body = calcom_body(datetime.now(UTC))
    assert verify_calcom_signature(body, cal_signature(body), SECRET)["payload"]["uid"] == "bk_1"


@pytest.mark.parametrize("header", [None, "", "0" * 64, cal_signature(b"{}"), cal_signature(b"x", "other")])
def test_calcom_forged_signature_is_refused(header: str | None) -> None:
    with pytest.raises(InvalidSignature):
        verify_calcom_signature(calcom_body(datetime.now(UTC)), header, SECRET)


def test_calcom_stale_or_replayed_delivery_is_refused() -> None:
    old = calcom_body(datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(StaleSignature):
        verify_calcom_signature(old, cal_signature(old), SECRET, tolerance=300)
    body = calcom_body(datetime.now(UTC))
    seen = ReplayCache()
    verify_calcom_signature(body, cal_signature(body), SECRET, seen=seen)
    with pytest.raises(StaleSignature, match="replay"):
        verify_calcom_signature(body, cal_signature(body), SECRET, seen=seen)


def test_replay_cache_forgets_after_ttl() -> None:
    seen = ReplayCache(ttl=10)
    seen.check_and_add("a", now=100.0)
    seen.check_and_add("a", now=111.0)  # expired, accepted again
    with pytest.raises(StaleSignature):
        seen.check_and_add("a", now=112.0)
