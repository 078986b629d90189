"""`followthrough demo`: sample data through the real API (uvicorn on 127.0.0.1 over the dev
server, a worker polling), seen with the printed key and hidden from another organization."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Worker
from typer.testing import CliRunner, Result

from followthrough.catalog import create_app
from followthrough.cli import app
from followthrough.services import Services
from followthrough.store.repositories.api_keys import ApiKeys
from followthrough.temporal.devserver import free_port
from tests.conftest import serving


@pytest.fixture
async def api_url(
    dev_client: Client, services: Services, dev_worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    """The real app behind uvicorn; the CLI's settings name the same store and task queue."""
    from followthrough.cli import _add_command_groups

    _add_command_groups()
    settings = services.settings
    monkeypatch.setenv("DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("FOLLOWTHROUGH_HOME", str(settings.followthrough_home))
    monkeypatch.setenv("TEMPORAL_TASK_QUEUE", settings.temporal_task_queue)
    async with serving(create_app(settings, api_key="k" * 40, services=services, client=dev_client)) as url:
        yield url


async def invoke(*args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def test_demo_fills_the_stack_for_its_organization_only(api_url: str, services: Services) -> None:
    result = await invoke("demo", "--api", api_url, "--org", "demo-co")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["organization"] == "demo-co" and summary["key"].startswith("ft_k_")
    assert summary["urls"]["docs"] == f"{api_url}/docs"
    campaign = summary["campaign"]["id"]
    booking, payment = summary["booking"]["workflowId"], summary["payment"]["workflowId"]

    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {summary['key']}"}) as api:
        status = (await api.get(f"/api/campaigns/{campaign}/status")).json()
        assert status["campaignId"] == campaign and status["leadCount"] == 5 == summary["campaign"]["leads"], status
        listed = (await api.get("/api/campaigns")).json()
        assert campaign in [c["campaignId"] for c in listed["campaigns"]], listed
        assert (await api.get(f"/api/bookings/{booking}")).status_code == 200
        assert (await api.get(f"/api/payments/{payment}")).status_code == 200
        # the worker runs the leads at once (lifted limits, no delay): within a minute all succeed
        for _ in range(120):
            status = (await api.get(f"/api/campaigns/{campaign}/status")).json()
            if (status["orchestrator"] or {}).get("totals", {}).get("succeeded") == 5:
                break
            await asyncio.sleep(0.5)
        assert status["orchestrator"]["totals"]["succeeded"] == 5, status
        assert status["leadWorkflows"]["COMPLETED"] == 5, status

    other = await ApiKeys(services.database).create("other-co", ["read", "write"])
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {other.key}"}) as api:
        assert (await api.get(f"/api/campaigns/{campaign}/status")).status_code == 404
        assert (await api.get(f"/api/bookings/{booking}")).status_code == 404
        assert (await api.get(f"/api/payments/{payment}")).status_code == 404
        assert (await api.get("/api/campaigns")).json()["campaigns"] == []
        assert (await api.get("/api/sender-accounts")).json()["senderAccounts"] == []

    again = await invoke("demo", "--api", api_url, "--org", "demo-co")
    assert again.exit_code == 0, again.output
    second = json.loads(again.stdout)
    assert second["senderAccount"]["id"] == summary["senderAccount"]["id"]
    assert second["booking"]["workflowId"] == booking and second["payment"]["workflowId"] == payment
    assert second["campaign"]["id"] != campaign and second["key"] != summary["key"]


async def test_a_closed_port_is_one_line_and_exit_1() -> None:
    result = await invoke("demo", "--api", f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "does not answer" in lines[0] and "./scripts/dev" in lines[0], result.output
