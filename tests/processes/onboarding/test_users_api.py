"""Nexpo's ``POST /api/users``: the onboarding saga with Temporal on, its steps inline with
``ENABLE_TEMPORAL`` (or ``TEMPORAL_ENABLED``) off — undone in reverse on a permanent failure."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from temporalio.worker import Worker

from followthrough.catalog import create_app
from followthrough.config import Settings, load_settings
from followthrough.services import Services


@pytest.fixture
async def two_store_services(make_settings: Callable[..., Settings], tmp_path: Path) -> AsyncIterator[Services]:
    stores = f"first=sqlite+aiosqlite:///{tmp_path / 'first.db'},second=sqlite+aiosqlite:///{tmp_path / 'second.db'}"
    services = await Services.open(make_settings(user_stores=stores, enable_temporal=False))
    try:
        yield services
    finally:
        await services.close()


@pytest.fixture
async def inline_api(two_store_services: Services) -> AsyncIterator[httpx.AsyncClient]:
    # No Temporal at all (an unreachable address): the inline path must not need it.
    settings = two_store_services.settings.model_copy(update={"temporal_address": "127.0.0.1:9"})
    app = create_app(settings, api_key="k", services=two_store_services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers={"Authorization": "Bearer k"}
    ) as client:
        yield client


async def test_with_temporal_off_the_user_is_created_in_every_store_inline(
    inline_api: httpx.AsyncClient, two_store_services: Services
) -> None:
    resp = await inline_api.post("/api/users", json={"userId": "u-1", "email": "Ana@Example.com", "name": "Ana"})
    assert resp.status_code == 202, resp.text
    answer = resp.json()
    assert answer["mode"] == "inline" and answer["state"] == "COMPLETED"
    assert answer["workflowId"] == answer["workflow_id"] and answer["workflow_id"].startswith("onboarding-")
    assert answer["status"]["success"] is True and answer["status"]["created_in"] == ["first", "second"]
    stores = two_store_services.user_stores()
    for store in ("first", "second"):
        assert (await stores.get_user(store, email="ana@example.com") or {}).get("id") == "u-1"
    # The same email again is the same onboarding: it finds its own rows and writes no twins.
    again = (await inline_api.post("/api/users", json={"userId": "u-1", "email": "ana@example.com"})).json()
    assert again["workflow_id"] == answer["workflow_id"] and again["status"]["success"] is True
    for store in ("first", "second"):
        async with stores.engine(store).connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM users"))).scalar() == 1


async def test_with_temporal_off_a_refusal_undoes_the_stores_already_written(
    inline_api: httpx.AsyncClient, two_store_services: Services
) -> None:
    stores = two_store_services.user_stores()
    await stores.create_user("second", user_id="someone-else", email="bob@example.com", name=None, onboarding_id="x")
    answer = (await inline_api.post("/api/users", json={"userId": "u-2", "email": "bob@example.com"})).json()
    assert answer["state"] == "COMPLETED"
    status = answer["status"]
    assert (status["success"], status["failed_store"], status["error_type"]) == (False, "second", "ValidationError")
    assert status["compensated"] == ["first"] and status["created_in"] == []
    assert await stores.get_user("first", email="bob@example.com") is None  # undone
    assert (await stores.get_user("second", email="bob@example.com") or {}).get("id") == "someone-else"  # untouched


def test_opencells_temporal_enabled_is_the_same_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ENABLED", "false")
    assert load_settings().enable_temporal is False
    monkeypatch.setenv("ENABLE_TEMPORAL", "true")
    assert load_settings().enable_temporal is True  # ours wins


@pytest.mark.devserver
async def test_with_temporal_on_the_route_starts_the_onboarding_saga(
    api: httpx.AsyncClient, dev_worker: Worker, services: Services
) -> None:
    resp = await api.post("/api/users", json={"userId": "u-3", "email": "carla@example.com", "name": "Carla"})
    assert resp.status_code == 202, resp.text
    answer = resp.json()
    assert answer["mode"] == "temporal" and answer["workflowId"].startswith("onboarding-")
    result: dict[str, Any] = {}
    for _ in range(200):
        got = await api.get(f"/api/workflows/{answer['workflowId']}/result")
        if got.status_code == 200:
            result = got.json()["result"]
            break
        await asyncio.sleep(0.05)
    assert result["success"] is True and result["user_id"] == "u-3"
    store = services.user_stores().names[0]
    assert (await services.user_stores().get_user(store, email="carla@example.com") or {}).get("id") == "u-3"


async def test_the_seeds_workflow_id_is_the_executions_id(api: httpx.AsyncClient) -> None:
    workflow_id = f"nexpo-user-{uuid.uuid4().hex[:8]}"
    resp = await api.post("/api/users", json={"workflowId": workflow_id, "email": "dora@example.com"})
    assert resp.status_code == 202, resp.text
    assert resp.json()["workflowId"] == resp.json()["workflow_id"] == workflow_id
    described = await api.get(f"/api/workflows/{workflow_id}")
    assert described.status_code == 200 and described.json()["type"] == "UserOnboardingWorkflow"
    again = await api.post("/api/users", json={"workflowId": workflow_id, "email": "dora@example.com"})
    assert again.status_code == 200 and again.json()["created"] is False


@pytest.mark.parametrize("bad", ["", "dora@example.com", "has space", "x" * 201])
async def test_a_workflow_id_outside_our_ids_charset_is_422_naming_it(api: httpx.AsyncClient, bad: str) -> None:
    resp = await api.post("/api/users", json={"workflowId": bad, "email": "eve@example.com"})
    assert resp.status_code == 422, resp.text
    assert ["body", "workflowId"] in [e["loc"] for e in resp.json()["detail"]]
