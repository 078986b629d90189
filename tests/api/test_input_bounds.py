"""Every route refuses out-of-range input with a 422 that names the field, and starts nothing.

The app talks to the dev server (the routes that start through ``Workflows`` need a client
before they read the body) but no worker runs; the 422 comes from validation, before any start.
The body limit is raised so the models' own bounds answer for the 10 MB strings (the default
1 MiB limit would answer 413).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from followthrough.catalog import create_app
from followthrough.config import Settings
from followthrough.services import Services
from tests.conftest import API_KEY, copy_sqlite

HUGE = 10**19
FAR = 1e300
TEN_MB = "x" * (10 << 20)
MANY = ["a"] * 10_000
LEAD = {"id": "lead-1", "phone": "+5215512345678"}
SOON = datetime.now(UTC) + timedelta(days=2)


@pytest.fixture
async def client(
    make_settings: Callable[..., Settings], migrated_sqlite_template: Path, dev_client: Client
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(followthrough_max_body_bytes=64 << 20, followthrough_rate_limit="")
    copy_sqlite(migrated_sqlite_template, settings.effective_database_url)
    services = await Services.open(settings)
    app = create_app(settings, api_key=API_KEY, services=services, client=dev_client)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers={"Authorization": f"Bearer {API_KEY}"}
        ) as http:
            yield http
    finally:
        await services.close()


def _with(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    body = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    *parents, last = path.split(".")
    target = body
    for key in parents:
        target = target[key]
    target[last] = value
    return body


PAYMENT = {"lead": LEAD, "reference": "order-1", "amount": 1000, "currency": "mxn", "description": "Plan"}
CONTENT = {"brief": {"topic": "Durable workflows"}}
FOLLOWUP = {"lead": LEAD, "type": "said_later"}
BOOKING = {"lead": LEAD, "start": SOON.isoformat(), "end": (SOON + timedelta(minutes=30)).isoformat()}
DEPLOYMENT = {"botName": "bot-1", "botType": "discord", "owner": "owner-1"}
NOTIFICATION = {"userId": "user-1", "message": "hello", "channels": ["webhook"]}
ONBOARDING = {"email": "ana@example.com"}
SYNC = {"lead": LEAD, "event": "lead_created", "event_id": "ev-1", "occurred_at": SOON.isoformat()}
CAMPAIGN = {
    "name": "c",
    "organizationId": "org-1",
    "senderAccountId": "acct-1",
    "graph": {"nodes": [{"id": "visit", "kind": "action", "action": "profile_visit"}], "edges": []},
}

CASES: list[tuple[str, dict[str, Any], str, Any]] = [
    # (route, valid body, field, extreme value)
    ("/api/payments", PAYMENT, "amount", HUGE),
    ("/api/payments", PAYMENT, "amount", 100_000_001),  # over FOLLOWTHROUGH_MAX_PAYMENT_AMOUNT
    ("/api/payments", PAYMENT, "amount", -1),
    ("/api/payments", PAYMENT, "description", TEN_MB),
    ("/api/payments", PAYMENT, "lead.name", TEN_MB),
    ("/api/content", CONTENT, "review_timeout_hours", FAR),
    ("/api/content", CONTENT, "reminder_after_hours", -1),
    ("/api/content", CONTENT, "review_timeout_hours", 366 * 24 + 1),
    ("/api/content", CONTENT, "subscribers", MANY),
    ("/api/content", CONTENT, "publish_to", MANY),
    ("/api/content", CONTENT, "brief.topic", TEN_MB),
    ("/api/followups", FOLLOWUP, "triggered_at", "9999-12-31T00:00:00Z"),
    ("/api/followups", FOLLOWUP, "triggered_at", "0001-01-01T00:00:00Z"),
    ("/api/followups", FOLLOWUP, "triggered_at", "2090-01-01T00:00:00Z"),  # > ten years from now
    ("/api/followups", FOLLOWUP, "lead.id", "a" * 201),
    ("/api/bookings", BOOKING, "start", "9999-12-31T00:00:00Z"),
    ("/api/bookings", BOOKING, "end", "0001-01-01T00:00:00Z"),
    ("/api/bookings", BOOKING, "event_type_id", HUGE),
    ("/api/bookings", BOOKING, "timezone", TEN_MB),
    ("/api/deployments", DEPLOYMENT, "healthTimeoutSeconds", FAR),
    ("/api/deployments", DEPLOYMENT, "healthPollSeconds", -1),
    ("/api/deployments", DEPLOYMENT, "config", {f"k{i}": i for i in range(10_000)}),
    ("/api/deployments", DEPLOYMENT, "owner", TEN_MB),
    ("/api/temporal/notification/start", NOTIFICATION, "message", TEN_MB),
    ("/api/temporal/notification/start", NOTIFICATION, "channels", ["webhook"] * 10_000),
    ("/api/users", ONBOARDING, "stores", MANY),
    ("/api/users", ONBOARDING, "name", TEN_MB),
    ("/api/onboarding", ONBOARDING, "phone", TEN_MB),
    ("/api/integrations/sync", SYNC, "occurred_at", "9999-12-31T00:00:00Z"),
    ("/api/integrations/sync", SYNC, "occurred_at", "0001-01-01T00:00:00Z"),
    ("/api/integrations/sync", _with(SYNC, "event", "payment_completed") | {"currency": "usd"}, "value", HUGE),
    ("/api/integrations/sync", SYNC, "targets", ["hubspot"] * 10_000),
    ("/api/campaigns", CAMPAIGN, "leadProcessingDelay", FAR),
    ("/api/campaigns", CAMPAIGN, "maxConcurrentLeads", HUGE),
    ("/api/campaigns", CAMPAIGN, "name", TEN_MB),
    ("/api/campaigns/camp-1/start", {"organizationId": "org-1"}, "leadProcessingDelay", FAR),
    ("/api/campaigns/camp-1/start", {"organizationId": "org-1"}, "maxConcurrentLeads", -1),
    ("/api/campaigns/stop", {"campaignId": "camp-1"}, "reason", TEN_MB),
    ("/api/workflows/PaymentWorkflow/start", {"input": PAYMENT}, "start_delay_seconds", FAR),
    ("/api/workflows/PaymentWorkflow/start", {"input": PAYMENT}, "start_delay_seconds", -1),
]


@pytest.mark.parametrize(
    ("route", "base", "field", "value"),
    CASES,
    ids=[f"{r}:{f}={str(v)[:12]}" for r, _, f, v in CASES],
)
async def test_an_extreme_value_is_a_422_naming_the_field(
    client: httpx.AsyncClient, route: str, base: dict[str, Any], field: str, value: Any
) -> None:
    answer = await client.post(route, json=_with(base, field, value))

    assert answer.status_code == 422, answer.text[:500]
    assert field.split(".")[-1] in answer.text[:5000]
