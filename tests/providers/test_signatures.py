"""Webhook signatures: valid accepted, forged and stale refused, for every provider that signs."""

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
from followthrough.providers.signatures import (
    InvalidSignature,
    StaleSignature,
    verify_shared_secret,
    verify_slack_signature,
)

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


def test_whatsapp_stale_delivery_is_refused() -> None:
    old = whatsapp_body(time.time() - 3600)
    with pytest.raises(StaleSignature):
        verify_whatsapp_signature(old, hub_signature(old), SECRET, max_age=300)
    fresh = whatsapp_body(time.time())
    verify_whatsapp_signature(fresh, hub_signature(fresh), SECRET, max_age=300)


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
    # the headers hold the time: named ids keep collection the same in every parallel worker
    ids=["missing", "garbage", "no-signature", "wrong-signature", "another-body", "another-secret"],
)
def test_stripe_forged_signature_is_refused(header: str | None) -> None:
    with pytest.raises(InvalidSignature):
        verify_stripe_signature(EVENT, header, SECRET)


@pytest.mark.parametrize("offset", [-301, 301])
def test_stripe_event_signed_more_than_the_tolerance_away_is_stale(offset: int) -> None:
    signed = sign_stripe_payload(EVENT, SECRET, int(time.time()) + offset)
    with pytest.raises(StaleSignature):
        verify_stripe_signature(EVENT, signed, SECRET, tolerance=300)


@pytest.mark.parametrize("body", [b"not json", b"\xff\xfe", b"[1, 2]", b'"text"'])
def test_stripe_signed_body_that_is_not_an_event_is_refused_not_raised(body: bytes) -> None:
    with pytest.raises(InvalidSignature):
        verify_stripe_signature(body, sign_stripe_payload(body, SECRET), SECRET)


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


def test_calcom_stale_delivery_is_refused() -> None:
    old = calcom_body(datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(StaleSignature):
        verify_calcom_signature(old, cal_signature(old), SECRET, tolerance=300)


# --- Slack ------------------------------------------------------------------------------------
#: Slack's worked example (api.slack.com/authentication/verifying-requests-from-slack).
SLACK_DOC_SECRET, SLACK_DOC_TS = "8f742231b10e8888abcd99yyyzzz85a5", "1531420618"
SLACK_DOC_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def slack_signature(body: bytes, timestamp: str, secret: str = SECRET) -> str:
    return "v0=" + hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()


def test_slack_documented_example_is_accepted() -> None:
    now = int(SLACK_DOC_TS) + 60
    verify_slack_signature(SLACK_DOC_BODY, SLACK_DOC_SIGNATURE, SLACK_DOC_TS, SLACK_DOC_SECRET, now=now)


@pytest.mark.parametrize(
    ("signature", "timestamp"),
    [
        (None, SLACK_DOC_TS),
        ("", SLACK_DOC_TS),
        (SLACK_DOC_SIGNATURE, None),
        (SLACK_DOC_SIGNATURE, "not-a-time"),
        (SLACK_DOC_SIGNATURE, str(int(SLACK_DOC_TS) + 1)),  # the timestamp is signed too
        (SLACK_DOC_SIGNATURE.replace("v0=", "v1="), SLACK_DOC_TS),
        ("v0=" + "0" * 64, SLACK_DOC_TS),
        (slack_signature(SLACK_DOC_BODY, SLACK_DOC_TS, "other-secret"), SLACK_DOC_TS),
        (slack_signature(b"other body", SLACK_DOC_TS, SLACK_DOC_SECRET), SLACK_DOC_TS),
    ],
)
def test_slack_forged_signature_is_refused(signature: str | None, timestamp: str | None) -> None:
    with pytest.raises(InvalidSignature) as refused:
        verify_slack_signature(SLACK_DOC_BODY, signature, timestamp, SLACK_DOC_SECRET, now=int(SLACK_DOC_TS))
    assert not isinstance(refused.value, StaleSignature)


@pytest.mark.parametrize("offset", [-301, 301])
def test_slack_request_more_than_five_minutes_away_is_stale(offset: int) -> None:
    now = time.time()
    timestamp = str(int(now) + offset)
    body = b'{"type": "event_callback"}'
    with pytest.raises(StaleSignature):
        verify_slack_signature(body, slack_signature(body, timestamp), timestamp, SECRET, now=now)
    inside = str(int(now) - 299)
    verify_slack_signature(body, slack_signature(body, inside), inside, SECRET, now=now)


def test_slack_body_not_utf8_or_header_not_ascii_is_refused_not_raised() -> None:
    timestamp = str(int(time.time()))
    with pytest.raises(InvalidSignature):
        verify_slack_signature(b"\xff\xfe", slack_signature(b"\xff\xfe", timestamp), timestamp, SECRET)
    with pytest.raises(InvalidSignature):
        verify_slack_signature(b"{}", "v0=\u00e9" * 8, timestamp, SECRET)


@pytest.mark.parametrize("given", [None, "", "wrong", SECRET.upper(), SECRET + " "])
def test_a_shared_secret_header_must_match_exactly(given: str | None) -> None:
    with pytest.raises(InvalidSignature):
        verify_shared_secret(given, SECRET)
    verify_shared_secret(SECRET, SECRET)
