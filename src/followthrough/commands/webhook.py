"""`followthrough webhook send PROVIDER [KEY=VALUE …]`: a correctly signed delivery, for trying
and debugging the provider webhooks without the provider.

    followthrough webhook send whatsapp text="I'll look later" from=+34600111222
    followthrough webhook send stripe type=checkout.session.completed workflow_id=payment-l1-order-1
    followthrough webhook send calcom trigger=BOOKING_CANCELLED lead_id=lead-42
    followthrough webhook send slack                      # Slack's url_verification handshake
    followthrough webhook send unipile from=ACoAAB… account_id=acc-1 --to http://host:8000

The body is built from the fields (each provider's defaults make a delivery the app accepts), or
given whole with ``--body``; it is signed with the secret the settings hold — the same variable
the API reads (``WHATSAPP_APP_SECRET``, ``STRIPE_WEBHOOK_SECRET``, ``CALCOM_WEBHOOK_SECRET``,
``SLACK_SIGNING_SECRET``, ``UNIPILE_WEBHOOK_SECRET``) — and posted to the local API unless
``--to`` names another. Prints the answer as JSON; an answer that is not 2xx is one line on
stderr and exit 1.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
import typer
from pydantic import SecretStr
from slack_sdk.signature import SignatureVerifier

from followthrough.config import Settings
from followthrough.console import emit, fail, settings_or_exit
from followthrough.providers.signatures import hmac_sha256_hex

app = typer.Typer(help="Send signed provider webhooks to the API, for trying and debugging.", no_args_is_help=True)


@dataclass(frozen=True)
class Delivery:
    """One request as the provider would send it."""

    path: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Provider:
    path: str
    secret: Callable[[Settings], SecretStr | None]
    variable: str
    fields: dict[str, str]  # field → what it sets (the --help text)
    build: Callable[[dict[str, str]], dict[str, Any]]
    sign: Callable[[bytes, str], dict[str, str]]


def _whatsapp(f: dict[str, str]) -> dict[str, Any]:
    phone = f.get("from", "+34600111222").lstrip("+")
    message = {
        "from": phone,
        "id": f.get("id", f"wamid.{uuid.uuid4().hex}"),
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": f.get("text", "Hola, me interesa")},
    }
    value = {
        "messaging_product": "whatsapp",
        "contacts": [{"wa_id": phone, "profile": {"name": f.get("name", "Ana")}}],
        "messages": [message],
    }
    return {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": value}]}]}


def _stripe(f: dict[str, str]) -> dict[str, Any]:
    metadata = {"workflow_id": f["workflow_id"]} if "workflow_id" in f else {}
    session = {"id": f.get("session", "cs_test_cli"), "payment_status": f.get("payment_status", "paid")}
    return {
        "id": f.get("id", f"evt_{uuid.uuid4().hex}"),
        "object": "event",
        "type": f.get("type", "checkout.session.completed"),
        "created": int(time.time()),
        "data": {"object": {**session, "metadata": metadata}},
    }


def _calcom(f: dict[str, str]) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "uid": f.get("uid", f"cal-{uuid.uuid4().hex[:12]}"),
        "startTime": f.get("start", "2031-05-01T15:00:00Z"),
        "endTime": f.get("end", "2031-05-01T15:30:00Z"),
        "metadata": {"lead_id": f["lead_id"]} if "lead_id" in f else {},
    }
    kind = f.get("trigger", "BOOKING_RESCHEDULED")
    return {"triggerEvent": kind, "createdAt": datetime.now(UTC).isoformat(), "payload": payload}


def _slack(f: dict[str, str]) -> dict[str, Any]:
    if f.get("type", "url_verification") == "url_verification":
        return {"type": "url_verification", "challenge": f.get("challenge", uuid.uuid4().hex)}
    return {
        "type": f["type"],
        "team_id": f.get("team_id", "T0CLI"),
        "event_id": f.get("event_id", f"Ev{uuid.uuid4().hex[:10].upper()}"),
        "event": {"type": f.get("event", "app_mention"), "text": f.get("text", "hello")},
    }


def _unipile(f: dict[str, str]) -> dict[str, Any]:
    return {
        "event": f.get("event", "message_received"),
        "account_id": f.get("account_id", "unipile-acc-1"),
        "message_id": f.get("message_id", f"msg-{uuid.uuid4().hex[:12]}"),
        "message": f.get("text", "Thanks, let's talk"),
        "sender": {
            "attendee_provider_id": f.get("from", "ACoAABcli"),
            "attendee_profile_url": f.get("profile_url", "https://www.linkedin.com/in/ana-garcia"),
        },
    }


def _slack_headers(body: bytes, secret: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body) or ""
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


def _stripe_headers(body: bytes, secret: str) -> dict[str, str]:
    timestamp = int(time.time())
    return {"Stripe-Signature": f"t={timestamp},v1={hmac_sha256_hex(secret, f'{timestamp}.'.encode() + body)}"}


PROVIDERS: dict[str, Provider] = {
    "whatsapp": Provider(
        "/webhook/whatsapp",
        lambda s: s.whatsapp_app_secret,
        "WHATSAPP_APP_SECRET",
        {"from": "the lead's phone, E.164", "text": "the message", "id": "the wamid", "name": "profile name"},
        _whatsapp,
        lambda body, secret: {"X-Hub-Signature-256": "sha256=" + hmac_sha256_hex(secret, body)},
    ),
    "stripe": Provider(
        "/webhook/stripe",
        lambda s: s.stripe_webhook_secret,
        "STRIPE_WEBHOOK_SECRET",
        {
            "type": "event type (checkout.session.completed, checkout.session.expired, …)",
            "workflow_id": "the payment workflow (metadata.workflow_id)",
            "session": "checkout session id",
            "payment_status": "paid | unpaid",
            "id": "event id",
        },
        _stripe,
        _stripe_headers,
    ),
    "calcom": Provider(
        "/webhook/calcom",
        lambda s: s.calcom_webhook_secret,
        "CALCOM_WEBHOOK_SECRET",
        {
            "trigger": "BOOKING_RESCHEDULED | BOOKING_CANCELLED | …",
            "lead_id": "metadata.lead_id",
            "uid": "booking uid",
            "start": "ISO instant",
            "end": "ISO instant",
        },
        _calcom,
        lambda body, secret: {"X-Cal-Signature-256": hmac_sha256_hex(secret, body)},
    ),
    "slack": Provider(
        "/webhook/slack",
        lambda s: s.slack_signing_secret,
        "SLACK_SIGNING_SECRET",
        {
            "type": "url_verification | event_callback",
            "challenge": "url_verification's challenge",
            "event_id": "event_callback's id",
            "event": "inner event type",
            "team_id": "workspace id",
            "text": "inner event text",
        },
        _slack,
        _slack_headers,
    ),
    "unipile": Provider(
        "/webhook/unipile",
        lambda s: s.unipile_webhook_secret,
        "UNIPILE_WEBHOOK_SECRET",
        {
            "event": "message_received | …",
            "account_id": "the receiving Unipile account",
            "message_id": "message id",
            "from": "sender's LinkedIn provider id",
            "profile_url": "sender's profile URL",
            "text": "the message",
        },
        _unipile,
        lambda body, secret: {"Unipile-Auth": secret},
    ),
}


class DeliveryError(ValueError):
    """The delivery cannot be built: an unknown provider or field, no secret, a bad --body."""


def build_delivery(provider: str, settings: Settings, fields: dict[str, str], body: str | None = None) -> Delivery:
    """The signed request ``provider`` would send, built from ``fields`` (or ``body`` as given)."""
    spec = PROVIDERS.get(provider)
    if spec is None:
        raise DeliveryError(f"unknown provider {provider!r}: one of {', '.join(PROVIDERS)}")
    unknown = sorted(set(fields) - set(spec.fields))
    if unknown:
        raise DeliveryError(f"{provider} has no field {', '.join(unknown)}: it takes {', '.join(spec.fields)}")
    secret = spec.secret(settings)
    if secret is None or not secret.get_secret_value():
        raise DeliveryError(f"{spec.variable} is not set: the API refuses {provider} deliveries without it")
    if body is not None:
        try:
            json.loads(body)
        except json.JSONDecodeError as exc:
            raise DeliveryError(f"--body is not valid JSON: {exc}") from None
        raw = body.encode()
    else:
        raw = json.dumps(spec.build(fields)).encode()
    headers = {"Content-Type": "application/json", **spec.sign(raw, secret.get_secret_value())}
    return Delivery(spec.path, raw, headers)


def _parse_fields(items: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DeliveryError(f"{item!r} is not KEY=VALUE")
        fields[key] = value
    return fields


def _field_help() -> str:
    return "; ".join(f"{name}: {', '.join(spec.fields)}" for name, spec in PROVIDERS.items())


@app.command("send")
def send(
    provider: Annotated[str, typer.Argument(help=f"one of {', '.join(PROVIDERS)}")],
    fields: Annotated[list[str] | None, typer.Argument(help=f"KEY=VALUE fields — {_field_help()}")] = None,
    to: Annotated[str | None, typer.Option("--to", help="the API's base URL (default: the local API)")] = None,
    body: Annotated[str | None, typer.Option("--body", help="send this JSON body as is (signed) instead")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the request, send nothing")] = False,
) -> None:
    """Build a delivery signed with the configured secret and post it to the API."""
    settings = settings_or_exit()
    try:
        delivery = build_delivery(provider, settings, _parse_fields(fields or []), body)
    except DeliveryError as exc:
        raise fail(f"error: {exc}", 2) from None
    base = (to or f"http://{settings.followthrough_api_host}:{settings.followthrough_api_port}").rstrip("/")
    url = base + delivery.path
    if dry_run:
        emit({"url": url, "headers": delivery.headers, "body": json.loads(delivery.body)})
        return
    try:
        answer = httpx.post(url, content=delivery.body, headers=delivery.headers, timeout=30)
    except httpx.HTTPError as exc:
        raise fail(f"error: cannot reach {url}: {exc}") from None
    try:
        data: Any = answer.json()
    except ValueError:
        data = answer.text
    if not answer.is_success:
        raise fail(f"error: {url} answered {answer.status_code}: {json.dumps(data)}")
    emit({"status": answer.status_code, "answer": data})
