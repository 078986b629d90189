"""The Unipile (LinkedIn) client against a local fake."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx

from followthrough.errors import AccountSuspendedError
from followthrough.providers.contracts.linkedin import (
    InvitationStatusInput,
    LikePostsInput,
    SendInvitationInput,
    SendLinkedInMessageInput,
    VisitProfileInput,
    WithdrawInvitationInput,
    linkedin_identifier,
)
from followthrough.providers.linkedin import UnipileClient, unipile_base_url

BASE = "https://api8.unipile.fake:13851/api/v1"
PROFILE = {"provider_id": "ACoAAjane", "public_identifier": "jane-doe", "first_name": "Jane", "last_name": "Doe"}


def client(http: httpx.AsyncClient) -> UnipileClient:
    return UnipileClient(http, dsn="api8.unipile.fake:13851", api_key="unipile-key")


def test_identifier_rules() -> None:
    assert linkedin_identifier("https://www.linkedin.com/in/jane-doe/?utm=x") == "jane-doe"
    assert linkedin_identifier("ACoAAjane") == "ACoAAjane"
    assert unipile_base_url("api8.unipile.com:13851") == "https://api8.unipile.com:13851/api/v1"
    assert unipile_base_url("http://127.0.0.1:9/api/v1") == "http://127.0.0.1:9/api/v1"


async def test_visit_profile_notifies(http: httpx.AsyncClient) -> None:
    with respx.mock:
        route = respx.get(f"{BASE}/users/jane-doe").respond(200, json=PROFILE)
        profile = await client(http).visit_profile(
            VisitProfileInput(account_id="acc1", identifier="https://www.linkedin.com/in/jane-doe", idempotency_key="v")
        )
    assert (profile.provider_id, profile.name, profile.connected) == ("ACoAAjane", "Jane Doe", False)
    request = route.calls.last.request
    assert request.headers["X-API-KEY"] == "unipile-key"
    assert request.url.params["account_id"] == "acc1"
    assert request.url.params["notify"] == "true"


async def test_like_recent_posts_only(http: httpx.AsyncClient) -> None:
    now = datetime.now(UTC)
    posts = {
        "items": [
            {"social_id": "urn:li:activity:1", "parsed_datetime": (now - timedelta(days=1)).isoformat()},
            {"social_id": "urn:li:activity:2", "parsed_datetime": (now - timedelta(days=30)).isoformat()},
            {"social_id": "urn:li:activity:3", "parsed_datetime": (now - timedelta(days=2)).isoformat()},
            {"social_id": "urn:li:activity:4", "parsed_datetime": (now - timedelta(days=3)).isoformat()},
        ]
    }
    with respx.mock:
        respx.get(f"{BASE}/users/jane-doe").respond(200, json=PROFILE)
        respx.get(f"{BASE}/users/ACoAAjane/posts").respond(200, json=posts)
        react = respx.post(f"{BASE}/posts/reaction").respond(201, json={"object": "ReactionAdded"})
        result = await client(http).like_posts(
            LikePostsInput(
                account_id="acc1", identifier="jane-doe", number_of_posts=2, recent_post_days=7, idempotency_key="l"
            )
        )
    assert result.liked == ["urn:li:activity:1", "urn:li:activity:3"]
    assert [json.loads(c.request.content) for c in react.calls] == [
        {"account_id": "acc1", "post_id": "urn:li:activity:1", "reaction_type": "like"},
        {"account_id": "acc1", "post_id": "urn:li:activity:3", "reaction_type": "like"},
    ]


async def test_send_invitation_with_note(http: httpx.AsyncClient) -> None:
    with respx.mock:
        respx.get(f"{BASE}/users/jane-doe").respond(200, json=PROFILE)
        invite = respx.post(f"{BASE}/users/invite").respond(
            201, json={"object": "UserInvitationSent", "invitation_id": "inv-77"}
        )
        result = await client(http).send_invitation(
            SendInvitationInput(account_id="acc1", identifier="jane-doe", note="Hi Jane", idempotency_key="i")
        )
    assert result.invitation_id == "inv-77"
    assert json.loads(invite.calls.last.request.content) == {
        "provider_id": "ACoAAjane",
        "account_id": "acc1",
        "message": "Hi Jane",
    }


async def test_send_message_starts_a_chat_multipart(http: httpx.AsyncClient) -> None:
    with respx.mock:
        respx.get(f"{BASE}/users/jane-doe").respond(200, json=PROFILE)
        chats = respx.post(f"{BASE}/chats").respond(
            201, json={"object": "ChatStarted", "chat_id": "c1", "message_id": "m1"}
        )
        result = await client(http).send_message(
            SendLinkedInMessageInput(account_id="acc1", identifier="jane-doe", text="Hello!", idempotency_key="m")
        )
    assert (result.chat_id, result.message_id) == ("c1", "m1")
    request = chats.calls.last.request
    assert request.headers["content-type"].startswith("multipart/form-data")
    content = request.content.decode()
    assert 'name="attendees_ids"' in content and "ACoAAjane" in content and "Hello!" in content


@pytest.mark.parametrize(
    ("relationship", "sent", "expected"),
    [(True, [], "accepted"), (False, [{"id": "inv-77"}], "pending"), (False, [{"id": "other"}], "withdrawn")],
)
async def test_invitation_status(
    http: httpx.AsyncClient, relationship: bool, sent: list[object], expected: str
) -> None:
    with respx.mock:
        respx.get(f"{BASE}/users/jane-doe").respond(200, json={**PROFILE, "is_relationship": relationship})
        respx.get(f"{BASE}/users/invite/sent").respond(200, json={"items": sent, "cursor": None})
        result = await client(http).invitation_status(
            InvitationStatusInput(account_id="acc1", identifier="jane-doe", invitation_id="inv-77")
        )
    assert result.status == expected


async def test_withdraw_and_withdraw_gone(http: httpx.AsyncClient) -> None:
    with respx.mock:
        route = respx.delete(f"{BASE}/users/invite/sent/inv-77").mock(
            side_effect=[httpx.Response(200, json={}), httpx.Response(404, json={"detail": "not found"})]
        )
        withdraw = WithdrawInvitationInput(account_id="acc1", invitation_id="inv-77", idempotency_key="w")
        assert (await client(http).withdraw_invitation(withdraw)).withdrawn is True
        assert (await client(http).withdraw_invitation(withdraw)).withdrawn is False
    assert route.calls[0].request.url.params["account_id"] == "acc1"


async def test_restricted_account_is_suspended(http: httpx.AsyncClient) -> None:
    with respx.mock:
        respx.get(f"{BASE}/users/jane-doe").respond(
            422, json={"type": "errors/account_restricted", "title": "Account restricted", "status": 422}
        )
        with pytest.raises(AccountSuspendedError):
            await client(http).visit_profile(
                VisitProfileInput(account_id="a", identifier="jane-doe", idempotency_key="v")
            )


async def test_get_account_reads_the_worst_source_status(http: httpx.AsyncClient) -> None:
    account = {
        "object": "Account",
        "type": "LINKEDIN",
        "id": "acc 1",
        "name": "Ana Lopez",
        "sources": [{"id": "acc_MESSAGING", "status": "OK"}, {"id": "acc_SEARCH", "status": "CREDENTIALS"}],
    }
    with respx.mock:
        route = respx.get(f"{BASE}/accounts/acc%201").respond(200, json=account)
        found = await client(http).get_account("acc 1")
    assert (found.account_id, found.type, found.name, found.status) == ("acc 1", "LINKEDIN", "Ana Lopez", "CREDENTIALS")
    request = route.calls.last.request
    assert request.url.raw_path == b"/api/v1/accounts/acc%201"
    assert request.headers["X-API-KEY"] == "unipile-key"


async def test_get_account_of_an_unknown_id_is_a_404_validation_error(http: httpx.AsyncClient) -> None:
    from followthrough.errors import ValidationError

    with respx.mock:
        respx.get(f"{BASE}/accounts/nope").respond(404, json={"status": 404, "type": "errors/resource_not_found"})
        with pytest.raises(ValidationError) as raised:
            await client(http).get_account("nope")
    assert raised.value.status == 404
