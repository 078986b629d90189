"""Today's refresh costs a bounded number of backend calls, however many executions run.

Temporal is replaced at the page's one seam (``workflows_for``) by a counting fake that lists
as many executions as asked; the store is the real one (SQLite)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from followthrough.catalog import create_app
from followthrough.services import Services
from followthrough.store.models import ContentItem, Lead, Payment
from followthrough.store.repositories import ApiKeys
from followthrough.temporal.operations import ExecutionInfo, WorkflowFailed
from followthrough.web import today
from tests.conftest import API_KEY

BASE = "http://testserver"
RUNNING = 200  # of each kind: far more than a refresh may ask about


def info(kind: str, workflow_id: str) -> ExecutionInfo:
    now = datetime.now(UTC)
    return ExecutionInfo(workflow_id, f"run-{workflow_id}", kind, "RUNNING", now, None, None, "tq", {})


class CountingWorkflows:
    """Lists :data:`RUNNING` executions of each kind; counts every call by name."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.now = datetime.now(UTC)

    async def list(self, query: str, *, page_size: int = 50, page_token: bytes | None = None) -> Any:
        self.calls["list"] += 1
        if "FollowUpWorkflow" in query:
            return [info("FollowUpWorkflow", f"followup-lead{i}-said_later") for i in range(page_size)], b"more"
        if "ContentPipelineWorkflow" in query:
            return [info("ContentPipelineWorkflow", f"content-c{i}") for i in range(page_size)], b"more"
        if '"Failed"' in query:
            return [info("PaymentWorkflow", f"payment-f{i}") for i in range(page_size)], b"more"
        return [], None

    async def query(self, workflow_id: str, name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls["query"] += 1
        lead = workflow_id.split("-")[1]
        due = self.now + timedelta(hours=12)
        return {"lead_id": lead, "steps": [{"name": "12h_after", "state": "pending", "due_at": due.isoformat()}]}

    async def result(self, workflow_id: str, **kwargs: Any) -> Any:
        self.calls["result"] += 1
        raise WorkflowFailed(workflow_id, "FAILED", "card declined", "PaymentDeclined")


@pytest.fixture
async def signed_in(services: Services, monkeypatch: pytest.MonkeyPatch) -> Any:
    fake = CountingWorkflows()

    async def workflows_for(request: Any) -> CountingWorkflows:
        return fake

    monkeypatch.setattr(today, "workflows_for", workflows_for)
    app = create_app(services.settings, api_key=API_KEY, services=services)
    issued = await ApiKeys(services.database).create("org-a", ["read", "write"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web:
        await web.post("/app/sign-in", data={"api_key": issued.key}, headers={"Origin": BASE})
        yield web, fake


async def seed_store(services: Services) -> None:
    async with services.database.session() as session:
        session.add_all(
            [
                Lead(id="lead-a", organization_id="org-a"),
                Lead(id="lead-b", organization_id="org-b"),
                Payment(id="pay-a", lead_id="lead-a", amount=4900, currency="eur", reference="inv-a"),
                Payment(id="pay-b", lead_id="lead-b", amount=100, currency="eur", reference="inv-b"),
                Payment(id="pay-paid", lead_id="lead-a", amount=100, currency="eur", reference="inv-p", status="paid"),
                ContentItem(id="c3", brief="{}", title="Spring post", status="pending_review"),
                ContentItem(id="c4", brief="{}", title="Published post", status="published"),
                ContentItem(id="elsewhere", brief="{}", title="Not listed", status="pending_review"),
            ]
        )


async def test_a_refresh_makes_a_bounded_number_of_backend_calls(signed_in: Any, services: Services) -> None:
    web, fake = signed_in
    await seed_store(services)
    page = await web.get("/app/today/live")
    assert page.status_code == 200
    # 3 visibility lists; follow-up statuses and root causes capped per refresh
    assert fake.calls == {"list": 3, "query": today.MAX_QUERIES, "result": today.MAX_CAUSES}
    assert page.text.count('data-lead="lead') == today.MAX_QUERIES
    assert f"{today.PAGE - today.MAX_QUERIES} more follow-ups being read" in page.text
    # store sections: the organization's pending payment only; drafts waiting among its pipelines only
    assert 'data-payment="inv-a"' in page.text and "inv-b" not in page.text and "inv-p" not in page.text
    assert 'data-content="c3"' in page.text and "c4" not in page.text and "elsewhere" not in page.text
    assert page.text.count("card declined (PaymentDeclined)") == today.MAX_CAUSES

    fake.calls.clear()
    again = await web.get("/app/today/live")
    # the next refresh reads the next follow-ups and causes, never the ones it already has
    assert fake.calls == {"list": 3, "query": today.MAX_QUERIES, "result": today.MAX_CAUSES}
    assert again.text.count('data-lead="lead') == 2 * today.MAX_QUERIES
    assert again.text.count("card declined (PaymentDeclined)") == 2 * today.MAX_CAUSES
