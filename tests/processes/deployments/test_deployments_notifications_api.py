"""Deployment and Partner Platform notification routes, through HTTP, on the real dev server with
the package's worker (sandbox providers, migrated SQLite store)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import select
from temporalio.client import Client
from temporalio.worker import Worker

from followthrough.catalog import build_worker
from followthrough.services import Services
from followthrough.store.models import NotificationDelivery

TOKEN = "555666777:AAroutesTelegramTokenThatMustStayHidden1"
DISCORD_TOKEN = "MTIzNDU2Nzg5MDEy.RoutesDiscordTokenThatMustStayHidden"


async def until_closed(api: httpx.AsyncClient, path: str, tries: int = 200) -> dict[str, Any]:
    for _ in range(tries):
        resp = await api.get(path)
        assert resp.status_code == 200, resp.text
        if resp.json()["status"] != "RUNNING":
            return resp.json()  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} still running")


async def test_the_seed_notification_route_starts_and_delivers_on_every_channel(
    api: httpx.AsyncClient, dev_worker: Worker, services: Services
) -> None:
    body = {
        "userId": "user123",
        "message": "Your account has been verified",
        "type": "verification",
        "recipient": {"phone": "+5215512345678", "email": "john@example.com", "webhookUrl": "https://p.example/h"},
    }
    resp = await api.post("/api/temporal/notification/start", json=body)
    assert resp.status_code == 202, resp.text
    started = resp.json()
    assert started["workflowId"] == f"notification-{started['notification_id']}"
    assert started["channels"] == ["whatsapp", "email", "webhook"]

    status = await until_closed(api, f"/api/temporal/workflow/{started['workflowId']}/status")
    assert (status["status"], status["type"]) == ("COMPLETED", "SendNotificationWorkflow")
    result = (await api.get(f"/api/workflows/{started['workflowId']}/result")).json()["result"]
    assert result["status"] == "delivered"
    async with services.database.session() as session:
        rows = await session.scalars(
            select(NotificationDelivery).where(NotificationDelivery.notification_id == started["notification_id"])
        )
        assert {r.channel: r.status for r in rows} == {
            "whatsapp": "delivered",
            "email": "delivered",
            "webhook": "delivered",
        }


async def test_a_notification_started_twice_with_one_id_runs_once(api: httpx.AsyncClient) -> None:
    nid = f"n{uuid.uuid4().hex[:8]}"
    body = {
        "userId": "u1",
        "message": "hi",
        "notificationId": nid,
        "channels": ["email"],
        "recipient": {"email": "a@b.co"},
    }
    first = await api.post("/api/temporal/notification/start", json=body)
    second = await api.post("/api/temporal/notification/start", json=body)
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["run_id"] == second.json()["run_id"]
    await api.post(f"/api/workflows/notification-{nid}/terminate")


async def test_the_seeds_body_alone_reaches_an_onboarded_user_by_email(
    api: httpx.AsyncClient, dev_worker: Worker, services: Services
) -> None:
    user_id = f"user-{uuid.uuid4().hex[:8]}"
    store = services.user_stores().names[0]
    await services.user_stores().create_user(
        store, user_id=user_id, email=f"{user_id}@example.com", name="Ana", onboarding_id=f"onboarding-{user_id}"
    )
    body = {"userId": user_id, "message": "Your account has been verified", "type": "verification"}
    resp = await api.post("/api/temporal/notification/start", json=body)
    assert resp.status_code == 202, resp.text
    started = resp.json()
    assert started["channels"] == ["email"]
    status = await until_closed(api, f"/api/temporal/workflow/{started['workflowId']}/status")
    assert status["status"] == "COMPLETED"
    sent = [e for e in await services.providers.outbox.entries(provider="email") if e.status == "sent"]
    assert [e.request.get("to") for e in sent if started["notification_id"] in e.idempotency_key] == [
        f"{user_id}@example.com"
    ]


async def test_a_notification_with_no_reachable_channel_is_refused(api: httpx.AsyncClient) -> None:
    resp = await api.post("/api/temporal/notification/start", json={"userId": "u1", "message": "hi", "type": "info"})
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "channels"]
    bad = await api.post("/api/temporal/notification/start", json={"message": "hi", "channels": ["fax"]})
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} >= {("body", "userId")}


async def test_a_deployment_through_the_routes_succeeds_and_never_shows_the_token(
    api: httpx.AsyncClient, dev_worker: Worker
) -> None:
    name = f"tg-{uuid.uuid4().hex[:8]}"
    body = {
        "bot_name": name,
        "bot_type": "telegram",
        "config": {"token": TOKEN, "webhook_url": "https://bots.example.com/tg"},
        "owner": "user-123",
    }
    resp = await api.post("/api/deployments", json=body)
    assert resp.status_code == 202, resp.text
    assert resp.json()["workflow_id"] == f"deployment-{name}"

    state = await until_closed(api, f"/api/deployments/{name}")
    assert state["status"] == "COMPLETED"
    assert state["execution_time_ms"] is not None
    assert state["deployment"]["step"] == "active" and state["deployment"]["progress"] == 100
    assert state["result"]["success"] is True and state["result"]["bot_id"]
    assert TOKEN not in str(state)
    history = (await api.get(f"/api/workflows/deployment-{name}/query/status")).json()
    assert history["result"]["state"] == "succeeded"


async def test_the_seeds_camel_case_deployment_body_deploys_and_answers_bot_id(
    api: httpx.AsyncClient, dev_worker: Worker
) -> None:
    name = f"seed-{uuid.uuid4().hex[:8]}"
    body = {"botName": name, "botType": "discord", "config": {"token": DISCORD_TOKEN}, "owner": "user-123"}
    resp = await api.post("/api/deployments", json=body)
    assert resp.status_code == 202, resp.text
    state = await until_closed(api, f"/api/deployments/{name}")
    assert state["status"] == "COMPLETED" and state["result"]["success"] is True
    assert state["result"]["botId"] == state["result"]["bot_id"] and state["result"]["botId"]
    assert DISCORD_TOKEN not in str(state)


async def test_slack_and_whatsapp_bots_deploy_through_the_routes_and_keep_their_secrets(
    api: httpx.AsyncClient, dev_worker: Worker
) -> None:
    secrets = {"slack": "xoxb-9999-RoutesSlackTokenHidden", "whatsapp": "EAAGRoutesWhatsAppTokenHidden"}
    configs: dict[str, dict[str, Any]] = {
        "slack": {"token": secrets["slack"], "signing_secret": "sign-me", "webhook_url": "https://b.example.com/s"},
        "whatsapp": {
            "token": secrets["whatsapp"],
            "verify_token": "verify-me",
            "phone_number_id": "1065550001",
            "business_account_id": "2025550002",
            "webhook_url": "https://b.example.com/wa",
        },
    }
    names = {}
    for bot_type, config in configs.items():
        names[bot_type] = f"{bot_type}-{uuid.uuid4().hex[:8]}"
        body = {"bot_name": names[bot_type], "bot_type": bot_type, "config": config, "owner": "user-9"}
        resp = await api.post("/api/deployments", json=body)
        assert resp.status_code == 202, resp.text
    for bot_type, name in names.items():
        state = await until_closed(api, f"/api/deployments/{name}")
        assert state["status"] == "COMPLETED" and state["result"]["success"] is True, state
        assert state["deployment"]["step"] == "active"
        assert secrets[bot_type] not in str(state)


async def test_pause_then_cancel_through_the_routes(
    api: httpx.AsyncClient, dev_client: Client, services: Services
) -> None:
    name = f"tg-{uuid.uuid4().hex[:8]}"
    body = {
        "bot_name": name,
        "bot_type": "telegram",
        "config": {"token": TOKEN, "webhook_url": "https://bots.example.com/tg"},
        "owner": "user-123",
    }
    # no worker yet: the pause is there before the first step, so the deployment holds at once
    assert (await api.post("/api/deployments", json=body)).status_code == 202
    assert (await api.post(f"/api/deployments/{name}/pause")).status_code == 202
    async with build_worker(dev_client, services):
        for _ in range(100):
            state = (await api.get(f"/api/deployments/{name}")).json()
            if state["deployment"]["paused"]:
                break
            await asyncio.sleep(0.05)
        assert (state["status"], state["deployment"]["step"], state["deployment"]["progress"]) == (
            "RUNNING",
            "pending",
            0,
        )
        assert (await api.post(f"/api/deployments/{name}/cancel")).status_code == 202
        state = await until_closed(api, f"/api/deployments/{name}")
    assert state["status"] == "CANCELED"
    assert (state["deployment"]["state"], state["deployment"]["rolled_back"]) == ("cancelled", [])
    assert state["result"]["success"] is False


async def test_deployment_routes_answer_404_for_an_unknown_bot_and_422_for_bad_input(api: httpx.AsyncClient) -> None:
    assert (await api.get("/api/deployments/no-such-bot")).status_code == 404
    assert (await api.post("/api/deployments/no-such-bot/pause")).status_code == 404
    bad = await api.post("/api/deployments", json={"bot_name": "x", "bot_type": "irc", "owner": "o"})
    assert bad.status_code == 422
    assert ["body", "bot_type"] in [e["loc"] for e in bad.json()["detail"]]


async def test_a_notification_webhook_on_an_internal_address_is_refused(api: httpx.AsyncClient) -> None:
    for url in ("http://127.0.0.1:9/h", "http://localhost:9/h", "http://169.254.169.254/latest/meta-data/"):
        body = {"userId": "u1", "message": "hi", "channels": ["webhook"], "recipient": {"webhookUrl": url}}
        resp = await api.post("/api/temporal/notification/start", json=body)
        assert resp.status_code == 422, resp.text
        assert resp.json()["detail"][0]["loc"] == ["body", "recipient", "webhookUrl"]
        assert resp.headers["x-request-id"]  # logs.RequestIdMiddleware


async def test_a_bot_webhook_on_an_internal_address_is_refused(api: httpx.AsyncClient) -> None:
    body = {
        "bot_name": f"tg-{uuid.uuid4().hex[:8]}",
        "bot_type": "telegram",
        "config": {"token": TOKEN, "webhook_url": "https://10.0.0.5/tg"},
        "owner": "u1",
    }
    resp = await api.post("/api/deployments", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"][0]["loc"] == ["body", "config", "webhook_url"]
    assert TOKEN not in resp.text


async def test_a_bot_without_its_platforms_required_config_is_422_and_nothing_starts(api: httpx.AsyncClient) -> None:
    name = f"tg-{uuid.uuid4().hex[:8]}"
    cases = [
        ({"bot_type": "telegram", "config": {"token": TOKEN}}, "webhook_url"),
        ({"bot_type": "discord", "config": {}}, "token"),
        (
            {"bot_type": "slack", "config": {"token": "xoxb-1234567890abc", "webhook_url": "https://h.example.com/s"}},
            "signing_secret",
        ),
        (
            {"bot_type": "whatsapp", "config": {"token": "t", "webhook_url": "https://h.example.com/w"}},
            "phone_number_id",
        ),
    ]
    for case, field in cases:
        resp = await api.post("/api/deployments", json={"bot_name": name, "owner": "o", **case})
        assert resp.status_code == 422, (case, resp.text)
        assert ["body", "config", field] in [e["loc"] for e in resp.json()["detail"]], resp.text
    assert (await api.get(f"/api/deployments/{name}")).status_code == 404
