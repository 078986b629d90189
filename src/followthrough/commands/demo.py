"""`followthrough demo`: fill a fresh stack with believable sample data through the public API.

    followthrough demo [--api URL] [--org demo]

As the operator on the store (like ``keys create``) it makes a ``read,write`` key for the
organization and prints it once; then, with that key and over HTTP only, it connects a sandbox
sender account with its limits lifted, creates a five-lead campaign (profile visit → invitation
→ end) and starts it (two at a time, no delay), books a demo tomorrow (so its follow-ups are
scheduled) and starts a payment that waits for its checkout. The Web UI and every status route
then show something real within a minute.

Running it again is safe: the same sender account and the same booking and payment (the same
lead and slot, the same order reference: the API answers with the execution already there), a
new key and a new campaign. Prints a JSON summary (ids, key, URLs to open); an API that does not
answer, or refuses a step, is one line on stderr and exit 1.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import typer

from followthrough.commands.keys import _BadArgument, _with_keys
from followthrough.console import emit, fail, settings_or_exit
from followthrough.processes.campaigns.graph import ActionType
from followthrough.store.repositories.api_keys import ApiKeys, IssuedKey

NAME = "demo"
app = typer.Typer(help="Fill a fresh stack with sample data through the API.", invoke_without_command=True)

#: The sample leads: a campaign reaches them on LinkedIn, the first one also books and pays.
LEADS = (
    ("Marta", "Ruiz", "Head of Sales", "Tienda Norte", "+34600111001"),
    ("Lucas", "Moreau", "COO", "Atelier Lumen", "+33600111002"),
    ("Priya", "Shah", "Founder", "Loop Fitness", "+44700111003"),
    ("Diego", "Fernández", "Marketing lead", "Café Origen", "+52551110004"),
    ("Anna", "Keller", "Operations", "Keller & Söhne", "+49151110005"),
)

#: profile visit → invitation → end.
GRAPH: dict[str, Any] = {
    "nodes": [
        {"id": "visit", "kind": "action", "action": "profile_visit"},
        {"id": "invite", "kind": "action", "action": "send_invitation", "config": {"note": "Hi! Loved your post."}},
        {"id": "done", "kind": "end"},
    ],
    "edges": [{"source": "visit", "target": "invite"}, {"source": "invite", "target": "done"}],
}

#: The sender's limits lifted, so the sandbox campaign runs now rather than in working hours.
LIFTED_LIMITS: dict[str, Any] = {
    "timezone": "UTC",
    "workingHours": "00:00-00:00",
    "workingDays": [1, 2, 3, 4, 5, 6, 7],
    "dailyLimits": {a.value: None for a in ActionType},
    "weeklyInvitations": 0,
    "minSpacingSeconds": 0,
    "maxSpacingSeconds": 0,
}


class _Refused(Exception):
    """The API did not answer, or answered a step with an error: one line for the user."""


def _slug(org: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.:-]", "-", org)[:40] or "org"


def _ascii(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()


def _lead(org: str, n: int) -> dict[str, Any]:
    first, last, _, _, phone = LEADS[n]
    return {"id": f"demo-{_slug(org)}-{first.lower()}", "phone": phone, "name": f"{first} {last}", "language": "es"}


class _Api:
    def __init__(self, base: str, key: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.base = base
        self.http = httpx.Client(base_url=base, headers=headers, timeout=30)

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        try:
            answer = self.http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise _Refused(f"{method} {self.base}{path} failed: {exc}") from None
        try:
            data: Any = answer.json()
        except ValueError:
            data = answer.text
        if not answer.is_success:
            detail = data.get("detail", data) if isinstance(data, dict) else data
            hint = (
                " (does the API use the same store, DATABASE_URL, as this command?)"
                if answer.status_code == 401
                else ""
            )
            raise _Refused(f"{method} {path} answered {answer.status_code}: {_short(detail)}{hint}")
        return data if isinstance(data, dict) else {"answer": data}


def _short(detail: Any) -> str:
    text = detail if isinstance(detail, str) else str(detail)
    return " ".join(text.split())[:300]


def _reachable(base: str) -> None:
    try:
        httpx.get(f"{base}/healthz", timeout=5)  # 200 or 503: the API answers either way
    except httpx.HTTPError as exc:
        raise fail(
            f"error: the API at {base} does not answer ({type(exc).__name__}): run ./scripts/dev first"
        ) from None


def fill(api: _Api, org: str) -> dict[str, Any]:
    """The sample data, created through ``api`` (acting with the organization's key)."""
    account_id = "sandbox-li-" + hashlib.sha256(org.encode()).hexdigest()[:12]
    sender = api.call(
        "POST",
        "/api/sender-accounts",
        {"accountId": account_id, "displayName": "Demo sender (sandbox LinkedIn)", "limits": LIFTED_LIMITS},
    )
    leads = [
        {
            "linkedin_url": f"https://www.linkedin.com/in/{first.lower()}-{_ascii(last)}-demo",
            "first_name": first,
            "last_name": last,
            "headline": headline,
            "company": company,
        }
        for first, last, headline, company, _ in LEADS
    ]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    created = api.call(
        "POST",
        "/api/campaigns",
        {
            "name": f"Demo outreach {stamp}",
            "organizationId": org,
            "senderAccountId": sender["id"],
            "graph": GRAPH,
            "leads": leads,
            "maxConcurrentLeads": 2,
            "leadProcessingDelay": 0,
        },
    )
    campaign_id = created["campaign_id"]
    started = api.call(
        "POST",
        f"/api/campaigns/{campaign_id}/start",
        {"organizationId": org, "maxConcurrentLeads": 2, "leadProcessingDelay": 0},
    )
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, time(15, 0), tzinfo=UTC)
    booking = api.call(
        "POST",
        "/api/bookings",
        {
            "lead": _lead(org, 0),
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=30)).isoformat(),
            "timezone": "Europe/Madrid",
            "notes": "Demo booked by `followthrough demo`",
        },
    )
    payment = api.call(
        "POST",
        "/api/payments",
        {
            "lead": _lead(org, 1),
            "reference": "demo-order-1001",
            "amount": 4900,
            "currency": "eur",
            "description": "Pro plan, 1 month",
        },
    )
    return {
        "senderAccount": {"id": sender["id"], "accountId": account_id, "status": sender.get("status")},
        "campaign": {
            "id": campaign_id,
            "leads": created["leads_added"],
            "workflowId": started.get("workflowId"),
        },
        "booking": {"workflowId": booking["workflow_id"], "leadId": _lead(org, 0)["id"], "start": start.isoformat()},
        "payment": {"workflowId": payment["workflow_id"], "leadId": _lead(org, 1)["id"]},
    }


@app.callback()
def demo(
    api: Annotated[str | None, typer.Option("--api", help="the API's base URL (default: the local API)")] = None,
    org: Annotated[str, typer.Option("--org", help="the organization the sample data belongs to")] = "demo",
) -> None:
    """Create a key for ORG, then a sender, a running campaign, a booking and a payment with it."""
    settings = settings_or_exit()
    base = (api or f"http://{settings.followthrough_api_host}:{settings.followthrough_api_port}").rstrip("/")
    _reachable(base)

    async def make(keys: ApiKeys) -> IssuedKey:
        try:
            return await keys.create(org, ["read", "write"], name="followthrough demo")
        except ValueError as exc:  # an organization name the store refuses
            raise _BadArgument(str(exc)) from None

    issued = _with_keys(make)
    typer.echo(
        f"warning: key {issued.record.id} is shown only once, now: keep it safe, it cannot be shown again", err=True
    )
    client = _Api(base, issued.key)
    try:
        made = fill(client, org)
    except _Refused as exc:
        raise fail(f"error: {exc}") from None
    finally:
        client.http.close()
    host = urlsplit(base).hostname or "127.0.0.1"
    campaign_id = made["campaign"]["id"]
    emit(
        {
            "organization": org,
            "key": issued.key,
            "keyId": issued.record.id,
            **made,
            "urls": {
                "campaignStatus": f"{base}/api/campaigns/{campaign_id}/status",
                "campaigns": f"{base}/api/campaigns",
                "booking": f"{base}/api/bookings/{made['booking']['workflowId']}",
                "payment": f"{base}/api/payments/{made['payment']['workflowId']}",
                "webUi": f"http://{host}:{settings.followthrough_ui_port}/namespaces/{settings.temporal_namespace}/workflows",
                "docs": f"{base}/docs",
            },
        }
    )
