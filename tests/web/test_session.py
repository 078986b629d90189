"""The web app's sign-in, session and tenancy, through HTTP (no browser, no Temporal)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from followthrough.catalog import create_app
from followthrough.services import Services
from followthrough.store.repositories import ApiKeys, Campaigns, SenderAccounts
from tests.conftest import API_KEY

BASE = "http://testserver"
SAME = {"Origin": BASE}


@pytest.fixture
async def web(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(services.settings, api_key=API_KEY, services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        yield client


async def sign_in(web: httpx.AsyncClient, key: str) -> httpx.Response:
    return await web.post("/app/sign-in", data={"api_key": key}, headers=SAME)


async def campaign_of(services: Services, organization: str) -> str:
    sender = await SenderAccounts(services.database).create(organization_id=organization, display_name="Ana")
    graph = {"nodes": [{"id": "visit", "kind": "action", "action": "profile_visit"}, {"id": "done", "kind": "end"}],
             "edges": [{"source": "visit", "target": "done"}]}  # fmt: skip
    created = await Campaigns(services.database).create(
        name=f"{organization} spring", organization_id=organization, sender_account_id=sender.id, graph=graph
    )
    return created.id


async def test_sign_in_sets_an_httponly_strict_session_without_the_key(
    web: httpx.AsyncClient, services: Services
) -> None:
    issued = await ApiKeys(services.database).create("org-a", ["read", "write"])
    resp = await sign_in(web, issued.key)
    assert resp.status_code == 303 and resp.headers["location"] == "/app/campaigns"
    cookie = resp.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/app" in cookie
    assert issued.key not in cookie and issued.key.split("_", 2)[2] not in cookie
    page = await web.get("/app/campaigns")
    assert page.status_code == 200 and "org-a" in page.text


async def test_a_wrong_key_or_the_operators_key_does_not_sign_in(web: httpx.AsyncClient) -> None:
    for key in ["ft_k_000000000000_" + "x" * 43, API_KEY, ""]:
        resp = await sign_in(web, key)
        assert resp.status_code == 401 and "set-cookie" not in resp.headers
    assert (await web.get("/app/campaigns")).status_code == 303


async def test_a_revoked_key_ends_its_session_at_the_next_request(web: httpx.AsyncClient, services: Services) -> None:
    keys = ApiKeys(services.database)
    issued = await keys.create("org-a", ["read"])
    await sign_in(web, issued.key)
    assert (await web.get("/app/campaigns")).status_code == 200
    await keys.revoke(issued.record.id)
    resp = await web.get("/app/campaigns")
    assert resp.status_code == 303 and resp.headers["location"] == "/app/sign-in"
    polled = await web.get("/app/campaigns/rows", headers={"HX-Request": "true"})
    assert polled.status_code == 401 and polled.headers["hx-redirect"] == "/app/sign-in"


async def test_a_forged_cookie_is_no_session(web: httpx.AsyncClient, services: Services) -> None:
    issued = await ApiKeys(services.database).create("org-a", ["read"])
    await sign_in(web, issued.key)
    value = web.cookies["ft_session"]
    web.cookies.clear()
    web.cookies.set("ft_session", value[:-2] + ("00" if not value.endswith("00") else "11"), path="/app")
    assert (await web.get("/app/campaigns")).status_code == 303


async def test_another_organizations_campaign_answers_like_a_missing_one(
    web: httpx.AsyncClient, services: Services
) -> None:
    issued = await ApiKeys(services.database).create("org-a", ["read", "write"])
    mine, theirs = await campaign_of(services, "org-a"), await campaign_of(services, "org-b")
    await sign_in(web, issued.key)
    listing = (await web.get("/app/campaigns")).text
    assert "org-a spring" in listing and "org-b spring" not in listing
    assert (await web.get(f"/app/campaigns/{mine}")).status_code == 200
    foreign, missing = await web.get(f"/app/campaigns/{theirs}"), await web.get("/app/campaigns/no-such-id")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.text == missing.text
    pause = await web.post(f"/app/campaigns/{theirs}/pause", headers=SAME)
    assert pause.status_code == 404 and pause.text == missing.text


async def test_a_cross_site_post_is_refused_before_anything_changes(web: httpx.AsyncClient, services: Services) -> None:
    issued = await ApiKeys(services.database).create("org-a", ["read", "write"])
    await sign_in(web, issued.key)
    campaign = await campaign_of(services, "org-a")
    for headers in [{"Origin": "https://evil.example"}, {}, {"Referer": "https://evil.example/x"}]:
        resp = await web.post(f"/app/campaigns/{campaign}/stop", headers=headers)
        assert resp.status_code == 403
    assert (await sign_in_elsewhere(web, issued.key)).status_code == 403


async def sign_in_elsewhere(web: httpx.AsyncClient, key: str) -> httpx.Response:
    return await web.post("/app/sign-in", data={"api_key": key}, headers={"Origin": "https://evil.example"})


async def test_a_read_only_key_cannot_pause(web: httpx.AsyncClient, services: Services) -> None:
    issued = await ApiKeys(services.database).create("org-a", ["read"])
    await sign_in(web, issued.key)
    campaign = await campaign_of(services, "org-a")
    assert (await web.post(f"/app/campaigns/{campaign}/pause", headers=SAME)).status_code == 403


async def test_pages_are_not_in_the_openapi_document(web: httpx.AsyncClient) -> None:
    paths = (await web.get("/openapi.json", headers={"Authorization": f"Bearer {API_KEY}"})).json()["paths"]
    assert not [p for p in paths if p.startswith("/app")]
    assert (await web.get("/app/static/htmx.min.js")).status_code == 200


async def test_a_copied_cookie_stops_working_after_sign_out(web: httpx.AsyncClient, services: Services) -> None:
    issued = await ApiKeys(services.database).create("org-a", ["read", "write"])
    await sign_in(web, issued.key)
    copied = web.cookies["ft_session"]
    app = web._transport.app  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as thief:
        thief.cookies.set("ft_session", copied, path="/app")
        assert (await thief.get("/app/campaigns")).status_code == 200  # a copy works while signed in
        out = await web.post("/app/sign-out", headers=SAME)
        assert out.status_code == 303 and out.headers["location"] == "/app/sign-in"
        assert (await thief.get("/app/campaigns")).status_code == 303
        polled = await thief.get("/app/today/live", headers={"HX-Request": "true"})
        assert polled.status_code == 401
        assert (await thief.post("/app/campaigns/x/pause", headers=SAME)).status_code == 303
    # signing in again opens a new session; the old cookie stays dead
    await sign_in(web, issued.key)
    assert web.cookies["ft_session"] != copied
    assert (await web.get("/app/campaigns")).status_code == 200


async def test_a_cookie_signed_for_a_session_never_opened_is_no_session(
    web: httpx.AsyncClient, services: Services
) -> None:
    """Whoever learns the signing secret still cannot mint a session the store did not open."""
    import json
    import time
    from types import SimpleNamespace

    from followthrough.web.session import _sign

    issued = await ApiKeys(services.database).create("org-a", ["read"])
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(api_key=API_KEY)))
    payload = json.dumps({"k": issued.record.id, "t": int(time.time()), "n": "never-opened"}).encode()
    web.cookies.set("ft_session", _sign(request, payload), path="/app")  # type: ignore[arg-type]
    assert (await web.get("/app/campaigns")).status_code == 303
