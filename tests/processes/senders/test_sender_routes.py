"""``/api/sender-accounts`` through HTTP: connect (checked with the sandbox Unipile), list,
show, limits, remove, and the trust boundary. No Temporal: nothing here pauses a campaign."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from followthrough.catalog import create_app
from followthrough.services import Services
from followthrough.store.repositories import ApiKeys, Campaigns
from tests.conftest import API_KEY

Clients = Callable[[str], httpx.AsyncClient]


@pytest.fixture
async def clients(services: Services) -> AsyncIterator[Clients]:
    app = create_app(services.settings, api_key=API_KEY, services=services)
    opened: list[httpx.AsyncClient] = []

    def make(key: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {key}"},
        )
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.aclose()


async def org_key(services: Services, org: str) -> str:
    return (await ApiKeys(services.database).create(org, ["read", "write"])).key


async def test_connect_checks_the_account_with_unipile_and_stores_its_status(
    clients: Clients, services: Services
) -> None:
    api = clients(await org_key(services, "org-1"))
    resp = await api.post("/api/sender-accounts", json={"accountId": "acc-ana", "displayName": "Ana"})
    assert resp.status_code == 201, resp.text
    account = resp.json()
    owner, unipile_id = account["organizationId"], account["providerAccountId"]
    assert (owner, unipile_id, account["status"]) == ("org-1", "acc-ana", "connected")
    assert account["limits"]["workingHours"] == "09:00-18:00"
    assert ("unipile", "get_account", {"account_id": "acc-ana"}) in services.providers.sandbox.calls

    stale = await api.post("/api/sender-accounts", json={"accountId": "acc-credentials-1"})
    assert stale.status_code == 201 and stale.json()["status"] == "credentials_invalid"
    again = await api.post("/api/sender-accounts", json={"accountId": "acc-ana"})
    assert again.status_code == 200 and again.json()["id"] == account["id"]

    missing = await api.post("/api/sender-accounts", json={"accountId": "acc-missing"})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "accountId"]


async def test_the_operator_must_name_the_organization_and_an_org_key_only_its_own(
    clients: Clients, services: Services
) -> None:
    operator = clients(API_KEY)
    unnamed = await operator.post("/api/sender-accounts", json={"accountId": "acc-op"})
    assert unnamed.status_code == 422 and unnamed.json()["detail"][0]["loc"] == ["body", "organizationId"]
    named = await operator.post("/api/sender-accounts", json={"accountId": "acc-op", "organizationId": "org-2"})
    assert named.status_code == 201 and named.json()["organizationId"] == "org-2"

    api = clients(await org_key(services, "org-1"))
    other = await api.post("/api/sender-accounts", json={"accountId": "acc-x", "organizationId": "org-2"})
    assert other.status_code == 403 and "org-2" in other.text and "org-1" in other.text
    taken = await api.post("/api/sender-accounts", json={"accountId": "acc-op"})
    assert taken.status_code == 409 and "org-2" not in taken.text


async def test_list_show_patch_and_delete_see_only_the_callers_accounts(clients: Clients, services: Services) -> None:
    one, two = clients(await org_key(services, "org-1")), clients(await org_key(services, "org-2"))
    mine = (await one.post("/api/sender-accounts", json={"accountId": "acc-1"})).json()["id"]
    theirs = (await two.post("/api/sender-accounts", json={"accountId": "acc-2"})).json()["id"]

    assert [a["id"] for a in (await one.get("/api/sender-accounts")).json()["senderAccounts"]] == [mine]
    narrowed = await one.get("/api/sender-accounts", params={"organizationId": "org-2"})
    assert narrowed.json()["senderAccounts"] == []
    everyone = await clients(API_KEY).get("/api/sender-accounts")
    assert {mine, theirs} <= {a["id"] for a in everyone.json()["senderAccounts"]}
    only_two = await clients(API_KEY).get("/api/sender-accounts", params={"organizationId": "org-2"})
    assert {a["id"] for a in only_two.json()["senderAccounts"]} == {theirs}

    assert (await one.get(f"/api/sender-accounts/{mine}")).status_code == 200
    for method, kwargs in (("GET", {}), ("PATCH", {"json": {"timezone": "UTC"}}), ("DELETE", {})):
        foreign = await one.request(method, f"/api/sender-accounts/{theirs}", **kwargs)
        absent = await one.request(method, "/api/sender-accounts/nope", **kwargs)
        assert foreign.status_code == absent.status_code == 404
        assert foreign.json()["detail"].replace(theirs, "ID") == absent.json()["detail"].replace("nope", "ID")

    patched = await one.patch(
        f"/api/sender-accounts/{mine}",
        json={
            "timezone": "Europe/Paris",
            "workingHours": "08:30-17:00",
            "workingDays": [1, 2, 3],
            "dailyLimits": {"profile_visit": 80, "send_message": None},
            "weeklyInvitations": 60,
            "minSpacingSeconds": 90,
            "maxSpacingSeconds": 400,
        },
    )
    assert patched.status_code == 200, patched.text
    limits = patched.json()["limits"]
    window = (limits["timezone"], limits["workingHours"], limits["workingDays"])
    assert window == ("Europe/Paris", "08:30-17:00", [1, 2, 3])
    assert limits["dailyLimits"] == {"profile_visit": 80, "send_message": None}
    assert (limits["weeklyInvitations"], limits["minSpacingSeconds"], limits["maxSpacingSeconds"]) == (60, 90, 400)

    deleted = await one.delete(f"/api/sender-accounts/{mine}")
    assert deleted.status_code == 200 and deleted.json() == {"id": mine, "deleted": True}
    assert (await one.get(f"/api/sender-accounts/{mine}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"workingHours": "9-18"}, "workingHours"),
        ({"workingHours": "18:00-09:00"}, "workingHours"),
        ({"workingDays": [0, 8]}, "workingDays"),
        ({"dailyLimits": {"teleport": 3}}, "dailyLimits"),
        ({"dailyLimits": {"profile_visit": 0}}, "dailyLimits"),
        ({"weeklyInvitations": -1}, "weeklyInvitations"),
        ({"minSpacingSeconds": 500}, "maxSpacingSeconds"),
        ({"color": "blue"}, "color"),
    ],
)
async def test_bad_limits_are_422_naming_the_field(
    body: dict[str, object], field: str, clients: Clients, services: Services
) -> None:
    api = clients(await org_key(services, "org-1"))
    account = (await api.post("/api/sender-accounts", json={"accountId": "acc-limits"})).json()["id"]
    resp = await api.patch(f"/api/sender-accounts/{account}", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"][0]["loc"][:2] == ["body", field], resp.text


async def test_delete_is_409_while_a_running_campaign_uses_the_account(clients: Clients, services: Services) -> None:
    api = clients(await org_key(services, "org-1"))
    account = (await api.post("/api/sender-accounts", json={"accountId": "acc-busy"})).json()["id"]
    campaign = await Campaigns(services.database).create(
        name="c", organization_id="org-1", sender_account_id=account, graph={}
    )
    for status in ("running", "paused"):
        await Campaigns(services.database).update(campaign.id, status=status)
        busy = await api.delete(f"/api/sender-accounts/{account}")
        assert busy.status_code == 409 and campaign.id in busy.json()["detail"]
    await Campaigns(services.database).update(campaign.id, status="completed")
    assert (await api.delete(f"/api/sender-accounts/{account}")).status_code == 200
    assert (await Campaigns(services.database).get(campaign.id)).sender_account_id is None  # type: ignore[union-attr]
