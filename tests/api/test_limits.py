"""Request limits: body sizes (413), leads per request and short answers (422), rate limits (429).

Every app here runs without Temporal: the routes used answer from the store or refuse before
reaching it. The Redis test needs the Redis these machines run on 127.0.0.1:6379; it skips when
nothing answers there, unless ``FOLLOWTHROUGH_REQUIRE_REDIS`` is set (CI), where it fails.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from limits.aio.storage import MemoryStorage, RedisStorage

from followthrough.catalog import create_app
from followthrough.config import Settings
from followthrough.services import Services
from followthrough.store.repositories.api_keys import ApiKeys
from tests.conftest import API_KEY, copy_sqlite

REDIS = ("127.0.0.1", 6379)
KiB = 1024
JSON = {"content-type": "application/json"}

MakeApp = Callable[..., Any]


@pytest.fixture
async def make_app(
    make_settings: Callable[..., Settings], migrated_sqlite_template: Path, tmp_path: Path
) -> AsyncIterator[MakeApp]:
    """``await make_app(**settings)`` → (app, its Services): each app its own store."""
    async with AsyncExitStack() as stack:

        async def make(**overrides: Any) -> tuple[FastAPI, Services]:
            database = tmp_path / f"store-{uuid.uuid4().hex[:8]}.db"
            settings = make_settings(database_url=f"sqlite+aiosqlite:///{database}", **overrides)
            copy_sqlite(migrated_sqlite_template, settings.effective_database_url)
            services = await Services.open(settings)
            stack.push_async_callback(services.close)
            return create_app(settings, api_key=API_KEY, services=services), services

        yield make


def client(app: FastAPI, key: str | None = API_KEY, address: str = "127.0.0.1") -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers)


def campaign(**fields: Any) -> dict[str, Any]:
    graph = {"nodes": [{"id": "visit", "kind": "action", "action": "profile_visit"}, {"id": "done", "kind": "end"}]}
    graph["edges"] = [{"source": "visit", "target": "done"}]
    return {"name": "c", "organizationId": "default", "senderAccountId": "s", "graph": graph, **fields}


# --- body size: 413 ---------------------------------------------------------------------------
async def test_a_json_body_over_the_limit_is_413_naming_the_limit(make_app: MakeApp) -> None:
    app, _ = await make_app(followthrough_max_body_bytes=64 * KiB)
    async with client(app) as http:
        response = await http.post("/api/workflows/HealthCheckWorkflow/start", content=b"x" * (65 * KiB))
    assert response.status_code == 413
    assert "64 KiB" not in response.json()["detail"]  # named in bytes or MiB, with its variable
    assert "65536 bytes" in response.json()["detail"]
    assert "FOLLOWTHROUGH_MAX_BODY_BYTES" in response.json()["detail"]


async def test_a_webhook_over_its_limit_is_413(make_app: MakeApp) -> None:
    app, _ = await make_app(followthrough_max_webhook_bytes=1 << 20)
    async with client(app, key=None) as http:
        response = await http.post("/webhook/stripe", content=b"{" + b" " * (1 << 20) + b"}")
    assert response.status_code == 413
    assert "1 MiB" in response.json()["detail"] and "FOLLOWTHROUGH_MAX_WEBHOOK_BYTES" in response.json()["detail"]


async def test_a_csv_upload_over_its_limit_is_413_while_a_json_sized_one_passes(make_app: MakeApp) -> None:
    app, _ = await make_app(followthrough_max_body_bytes=16 * KiB, followthrough_max_upload_bytes=64 * KiB)
    csv_text = "linkedin_id\n" + "".join(f"lead-{i:06}\n" for i in range(2_000))  # ~24 KiB: over JSON's limit
    async with client(app) as http:
        small = await http.post("/api/campaigns/nope/leads", content=csv_text, headers={"content-type": "text/csv"})
        files = {"file": ("leads.csv", csv_text * 3, "text/csv")}
        large = await http.post("/api/campaigns", data={"campaign": json.dumps(campaign())}, files=files)
    assert small.status_code == 404  # read and parsed: the campaign does not exist
    assert large.status_code == 413
    assert "FOLLOWTHROUGH_MAX_UPLOAD_BYTES" in large.json()["detail"]


async def test_a_chunked_body_without_a_length_is_refused_before_it_is_read_whole(make_app: MakeApp) -> None:
    app, _ = await make_app(followthrough_max_body_bytes=64 * KiB)
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(1_000):  # 16 MiB if it were all read
            sent += 1
            yield b" " * (16 * KiB)

    async with client(app) as http:
        response = await http.post("/api/workflows/HealthCheckWorkflow/start", content=chunks(), headers=JSON)
    assert response.status_code == 413
    assert sent <= 6  # stopped at the first chunk past 64 KiB (plus what was already in flight)


# --- leads per request and short 422s -----------------------------------------------------------
async def test_more_csv_rows_than_the_limit_is_422_naming_the_limit(make_app: MakeApp) -> None:
    app, _ = await make_app(followthrough_max_csv_rows=5)
    csv_text = "linkedin_id\n" + "".join(f"lead-{i}\n" for i in range(6))
    async with client(app) as http:
        as_text = await http.post("/api/campaigns/nope/leads", content=csv_text, headers={"content-type": "text/csv"})
        as_json = await http.post("/api/campaigns/nope/leads", json=[{"linkedin_id": f"l{i}"} for i in range(6)])
        on_create = await http.post("/api/campaigns", json=campaign(leadsCsv=csv_text))
        within = await http.post(
            "/api/campaigns/nope/leads", content=csv_text[:-8], headers={"content-type": "text/csv"}
        )
    for response in (as_text, as_json, on_create):
        assert response.status_code == 422, response.text
        assert "more than 5 leads" in response.text and "FOLLOWTHROUGH_MAX_CSV_ROWS" in response.text
    assert as_text.json()["detail"][0]["loc"] == ["csv line 7"]
    assert within.status_code == 404  # five rows pass the limit; the campaign does not exist


async def test_a_2_mb_body_that_fails_validation_gets_a_short_422(make_app: MakeApp) -> None:
    app, _ = await make_app(followthrough_max_body_bytes=4 << 20)
    huge = "x" * 2_000_000
    async with client(app) as http:
        too_long = await http.post("/api/campaigns", json=campaign(name=huge))
        not_an_object = await http.post("/api/campaigns", json=campaign(graph=[huge]))
        broken = await http.post("/api/campaigns", content=b'{"name": "' + huge.encode(), headers=JSON)
    for response in (too_long, not_an_object, broken):
        assert response.status_code == 422, response.text[:300]
        assert len(response.content) < 2_000, len(response.content)
    fault = too_long.json()["detail"][0]
    assert fault["loc"] == ["body", "name"] and fault["type"] == "string_too_long"
    assert fault["input"].startswith("x" * 200 + "…") and "2000000 characters" in fault["input"]
    assert not_an_object.json()["detail"][0] == {
        "loc": ["body", "graph"],
        "msg": "Input should be an object",
        "type": "dict_type",
        "input": "<array of 1 items>",
    }
    assert broken.json()["detail"][0]["type"] == "json_invalid"


# --- rate limits: 429 -------------------------------------------------------------------------
async def test_a_key_past_its_rate_limit_gets_429_with_retry_after_and_other_keys_do_not(make_app: MakeApp) -> None:
    app, services = await make_app(followthrough_rate_limit="3/minute", redis_url=None)
    assert isinstance(app.state.rate_limiter.storage, MemoryStorage)  # no REDIS_URL: this process's memory
    organization_key = (await ApiKeys(services.database).create("acme", ["read", "write"])).key
    async with client(app) as operator, client(app, organization_key) as acme, client(app, key=None) as anonymous:
        answers = [(await operator.post("/api/campaigns/nope/leads", json=[])).status_code for _ in range(4)]
        other = await acme.post("/api/campaigns/nope/leads", json=[])
        refused = await operator.post("/api/campaigns/nope/leads", json=[])
        health = [(await anonymous.get("/healthz")).status_code for _ in range(5)]
    assert answers == [404, 404, 404, 429]
    assert other.status_code == 404  # its own bucket
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "FOLLOWTHROUGH_RATE_LIMIT" in refused.json()["detail"]
    assert 429 not in health


async def test_a_webhook_source_past_its_rate_limit_gets_429_and_other_sources_do_not(make_app: MakeApp) -> None:
    app, _ = await make_app(followthrough_webhook_rate_limit="2/minute")
    async with client(app, key=None) as meta, client(app, key=None, address="10.0.0.9") as elsewhere:
        answers = [(await meta.post("/webhook/stripe", content=b"{}")).status_code for _ in range(3)]
        other_provider = await meta.post("/webhook/calcom", content=b"{}")
        other_address = await elsewhere.post("/webhook/stripe", content=b"{}")
    assert answers[:2] != [429, 429] and answers[2] == 429
    assert other_provider.status_code != 429 and other_address.status_code != 429


def _redis_answers() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


async def test_the_rate_limit_holds_across_api_processes_through_redis(make_app: MakeApp) -> None:
    if not _redis_answers():
        if os.environ.get("FOLLOWTHROUGH_REQUIRE_REDIS"):
            pytest.fail(f"Redis does not answer on {REDIS[0]}:{REDIS[1]} (and FOLLOWTHROUGH_REQUIRE_REDIS asks for it)")
        pytest.skip(f"Redis does not answer on {REDIS[0]}:{REDIS[1]}")
    shared = {
        "redis_url": f"redis://{REDIS[0]}:{REDIS[1]}/0",
        "followthrough_rate_limit": "3/minute",
        "followthrough_rate_limit_prefix": f"test-{uuid.uuid4().hex}",  # this run's own counters
    }
    (first, _), (second, _) = await make_app(**shared), await make_app(**shared)
    assert isinstance(first.state.rate_limiter.storage, RedisStorage)
    async with client(first) as one, client(second) as two:
        answers = [(await http.post("/api/campaigns/nope/leads", json=[])).status_code for http in (one, two, one, two)]
    assert answers == [404, 404, 404, 429]


async def test_a_redis_that_does_not_answer_lets_requests_through(make_app: MakeApp) -> None:
    app, _ = await make_app(redis_url="redis://127.0.0.1:1/0", followthrough_rate_limit="1/minute")
    async with client(app) as http:
        answers = [(await http.post("/api/campaigns/nope/leads", json=[])).status_code for _ in range(3)]
    assert answers == [404, 404, 404]  # not refused, not a 500: the limit is off while its store is down
