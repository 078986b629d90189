"""Unipile's account status webhook without campaigns (no Temporal): the shared secret, the map."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from followthrough.catalog import create_app
from followthrough.services import Services
from followthrough.store.repositories import SenderAccounts
from tests.conftest import API_KEY

SECRET = "unipile-webhook-secret"


def event(account_id: str, message: str) -> dict[str, object]:
    return {"AccountStatus": {"account_id": account_id, "account_type": "LINKEDIN", "message": message}}


async def test_the_status_webhook_needs_the_secret_and_maps_unipiles_statuses(services: Services) -> None:
    settings = services.settings.model_copy(update={"unipile_webhook_secret": SecretStr(SECRET)})
    app = create_app(settings, api_key=API_KEY, services=services)
    account = await SenderAccounts(services.database).create(
        organization_id="org-1", provider_account_id="acc-ws", status="connected"
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        path = "/webhook/unipile/accounts"
        assert (await http.post(path, json=event("acc-ws", "CREDENTIALS"))).status_code == 401
        forged = await http.post(path, json=event("acc-ws", "CREDENTIALS"), headers={"Unipile-Auth": "nope"})
        assert forged.status_code == 403
        signed = {"Unipile-Auth": SECRET}
        cases = (("CREDENTIALS", "credentials_invalid"), ("STOPPED", "disconnected"), ("OK", "connected"))
        for message, expected in cases:
            resp = await http.post(path, json=event("acc-ws", message), headers=signed)
            assert resp.status_code == 200, resp.text
            assert (await SenderAccounts(services.database).get(account.id)).status == expected  # type: ignore[union-attr]
        unknown = await http.post(path, json=event("acc-ws", "SYNC_PAUSED_FOREVER"), headers=signed)
        assert unknown.json()["ignored"] == "SYNC_PAUSED_FOREVER"
        assert (await http.post(path, json={"x": 1}, headers=signed)).status_code == 400
