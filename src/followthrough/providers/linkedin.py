"""LinkedIn: Unipile's API (``https://{UNIPILE_DSN}/api/v1``, header ``X-API-KEY``).

* :class:`UnipileClient` — profile visit (``GET /users/{identifier}?notify=true``), like recent
  posts (``GET /users/{id}/posts`` then ``POST /posts/reaction``), invitation
  (``POST /users/invite``), message (``POST /chats``, multipart), invitation status (the
  profile's relation, then ``GET /users/invite/sent``) and withdrawal
  (``DELETE /users/invite/sent/{invitation_id}``) and the connected account itself
  (``GET /accounts/{account_id}``). Unipile takes no idempotency key: the outbox covers it.
* :class:`SandboxLinkedIn` — stable ids; an invitation is accepted once
  ``FOLLOWTHROUGH_SANDBOX_INVITATION_ACCEPT_SECONDS`` have passed on the sandbox clock, except
  for identifiers containing ``never-accepts`` (which stay pending, for tests of timeouts).
  Its accounts are ``OK`` unless the id says otherwise: one containing ``credentials``,
  ``stopped``, ``error`` or ``connecting`` has that status, one containing ``missing`` is a 404.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from followthrough.errors import (
    AccountSuspendedError,
    FollowthroughError,
    InvalidCredentialsError,
    ValidationError,
)
from followthrough.providers.contracts.linkedin import (
    InvitationResult,
    InvitationStatusInput,
    InvitationStatusResult,
    LikePostsInput,
    LikePostsResult,
    LinkedInMessageResult,
    Profile,
    SendInvitationInput,
    SendLinkedInMessageInput,
    UnipileAccount,
    VisitProfileInput,
    WithdrawInvitationInput,
    WithdrawInvitationResult,
)
from followthrough.providers.http import error_for_status, send_json
from followthrough.providers.sandbox import Sandbox, stable_id


class LinkedInProvider(Protocol):
    name: str

    async def visit_profile(self, input: VisitProfileInput) -> Profile: ...

    async def like_posts(self, input: LikePostsInput) -> LikePostsResult: ...

    async def send_invitation(self, input: SendInvitationInput) -> InvitationResult: ...

    async def send_message(self, input: SendLinkedInMessageInput) -> LinkedInMessageResult: ...

    async def invitation_status(self, input: InvitationStatusInput) -> InvitationStatusResult: ...

    async def withdraw_invitation(self, input: WithdrawInvitationInput) -> WithdrawInvitationResult: ...

    async def get_account(self, account_id: str) -> UnipileAccount: ...


def unipile_base_url(dsn: str) -> str:
    dsn = dsn.strip().rstrip("/")
    root = dsn if dsn.startswith(("http://", "https://")) else f"https://{dsn}"
    return root if root.endswith("/api/v1") else f"{root}/api/v1"


def _classify(status: int, body: Any, message: str) -> FollowthroughError | None:
    kind = str(body.get("type", "")) if isinstance(body, dict) else ""
    text = f"unipile answered {status} ({kind or 'no type'}): {message}"
    if "disconnected_account" in kind or "invalid_credentials" in kind:
        return InvalidCredentialsError(text, provider="unipile", status=status)
    if "restricted" in kind or "suspended" in kind:
        return AccountSuspendedError(text, provider="unipile", status=status)
    return None


def _profile(data: dict[str, Any]) -> Profile:
    name = " ".join(p for p in (data.get("first_name"), data.get("last_name")) if p) or None
    connected = bool(data.get("is_relationship")) or data.get("network_distance") in ("FIRST_DEGREE", "DISTANCE_1")
    return Profile(
        provider_id=str(data["provider_id"]),
        public_identifier=data.get("public_identifier"),
        name=name,
        connected=connected,
    )


#: How bad each source status is: an account is as healthy as its sickest source.
_SEVERITY = {"OK": 0, "CONNECTING": 1, "ERROR": 2, "STOPPED": 2, "PERMISSIONS": 3, "CREDENTIALS": 3}


def _account(data: dict[str, Any], account_id: str) -> UnipileAccount:
    statuses = [str(s.get("status") or "") for s in data.get("sources") or [] if isinstance(s, dict)]
    statuses = [s for s in statuses if s] or [str(data.get("status") or "OK")]
    worst = max(statuses, key=lambda s: _SEVERITY.get(s.upper(), 2))
    return UnipileAccount(
        account_id=str(data.get("id") or account_id),
        type=str(data.get("type") or ""),
        name=data.get("name") if isinstance(data.get("name"), str) else None,
        status=worst.upper(),
    )


def _post_time(post: dict[str, Any]) -> datetime | None:
    raw = post.get("parsed_datetime") or post.get("date")
    if not isinstance(raw, str):
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class UnipileClient:
    name = "unipile"

    def __init__(self, http: httpx.AsyncClient, *, dsn: str, api_key: str) -> None:
        self._http = http
        self._base = unipile_base_url(dsn)
        self._headers = {"X-API-KEY": api_key, "accept": "application/json"}

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return await send_json(
            self._http, self.name, method, f"{self._base}{path}", headers=self._headers, classify=_classify, **kwargs
        )

    async def _get_profile(self, account_id: str, identifier: str, *, notify: bool = False) -> Profile:
        params = {"account_id": account_id, "notify": "true" if notify else "false"}
        return _profile(await self._call("GET", f"/users/{identifier}", params=params))

    async def visit_profile(self, input: VisitProfileInput) -> Profile:
        return await self._get_profile(input.account_id, input.identifier, notify=True)

    async def like_posts(self, input: LikePostsInput) -> LikePostsResult:
        profile = await self._get_profile(input.account_id, input.identifier)
        data = await self._call(
            "GET",
            f"/users/{profile.provider_id}/posts",
            params={"account_id": input.account_id, "limit": max(10, input.number_of_posts * 3)},
        )
        since = datetime.now(UTC) - timedelta(days=input.recent_post_days)
        liked: list[str] = []
        for post in data.get("items") or []:
            when = _post_time(post)
            post_id = post.get("social_id") or post.get("id")
            if when is None or when < since or not post_id:
                continue
            await self._call(
                "POST",
                "/posts/reaction",
                json={"account_id": input.account_id, "post_id": post_id, "reaction_type": "like"},
            )
            liked.append(str(post_id))
            if len(liked) >= input.number_of_posts:
                break
        return LikePostsResult(liked=liked)

    async def send_invitation(self, input: SendInvitationInput) -> InvitationResult:
        profile = await self._get_profile(input.account_id, input.identifier)
        body: dict[str, Any] = {"provider_id": profile.provider_id, "account_id": input.account_id}
        if input.note:
            body["message"] = input.note
        data = await self._call("POST", "/users/invite", json=body)
        if not data.get("invitation_id"):
            raise ValidationError(f"unipile sent no invitation id: {data}", provider=self.name)
        return InvitationResult(invitation_id=str(data["invitation_id"]), provider_id=profile.provider_id)

    async def send_message(self, input: SendLinkedInMessageInput) -> LinkedInMessageResult:
        profile = await self._get_profile(input.account_id, input.identifier)
        # Unipile's "start a chat" takes multipart/form-data.
        form = {
            "account_id": (None, input.account_id),
            "text": (None, input.text),
            "attendees_ids": (None, profile.provider_id),
        }
        data = await self._call("POST", "/chats", files=form)
        return LinkedInMessageResult(chat_id=str(data["chat_id"]), message_id=data.get("message_id"))

    async def invitation_status(self, input: InvitationStatusInput) -> InvitationStatusResult:
        profile = await self._get_profile(input.account_id, input.identifier)
        if profile.connected:
            return InvitationStatusResult(invitation_id=input.invitation_id, status="accepted")
        cursor: str | None = None
        for _ in range(20):  # at most 20 pages of sent invitations
            params = {"account_id": input.account_id, "limit": 100}
            if cursor:
                params["cursor"] = cursor
            data = await self._call("GET", "/users/invite/sent", params=params)
            if any(str(item.get("id")) == input.invitation_id for item in data.get("items") or []):
                return InvitationStatusResult(invitation_id=input.invitation_id, status="pending")
            cursor = data.get("cursor")
            if not cursor:
                break
        return InvitationStatusResult(invitation_id=input.invitation_id, status="withdrawn")

    async def withdraw_invitation(self, input: WithdrawInvitationInput) -> WithdrawInvitationResult:
        try:
            await self._call(
                "DELETE", f"/users/invite/sent/{input.invitation_id}", params={"account_id": input.account_id}
            )
        except ValidationError as exc:
            if exc.status == 404:  # no longer pending (accepted, declined or withdrawn before)
                return WithdrawInvitationResult(invitation_id=input.invitation_id, withdrawn=False)
            raise
        return WithdrawInvitationResult(invitation_id=input.invitation_id, withdrawn=True)

    async def get_account(self, account_id: str) -> UnipileAccount:
        """The account and the worst status of its sources (404: a ``ValidationError``)."""
        return _account(await self._call("GET", f"/accounts/{quote(account_id, safe='')}"), account_id)

    async def health(self) -> str:
        data = await self._call("GET", "/accounts", params={"limit": 1})
        return f"unipile, {len(data.get('items') or [])}+ accounts"


class SandboxLinkedIn:
    name = "unipile"

    def __init__(self, sandbox: Sandbox, *, accept_after: timedelta = timedelta(minutes=5)) -> None:
        self._sandbox = sandbox
        self._accept_after = accept_after

    @staticmethod
    def _provider_id(identifier: str) -> str:
        return "ACoAA" + stable_id("unipile", identifier, length=20)

    async def _invitation(self, invitation_id: str) -> dict[str, Any]:
        state = await self._sandbox.get_state(self.name, "invitation", invitation_id)
        if state is None:
            raise error_for_status(self.name, 404, f"invitation {invitation_id} not found")
        return state

    def _accepted(self, state: dict[str, Any]) -> bool:
        if "never-accepts" in state["identifier"]:
            return False
        return self._sandbox.now() - datetime.fromisoformat(state["sent_at"]) >= self._accept_after

    async def visit_profile(self, input: VisitProfileInput) -> Profile:
        async def respond() -> Profile:
            return Profile(
                provider_id=self._provider_id(input.identifier),
                public_identifier=input.identifier,
                name=input.identifier.replace("-", " ").title(),
            )

        return await self._sandbox.side_effect(self.name, "visit_profile", input.idempotency_key, input, respond)

    async def like_posts(self, input: LikePostsInput) -> LikePostsResult:
        async def respond() -> LikePostsResult:
            ids = [
                f"urn:li:activity:{int(stable_id(input.identifier, str(i), length=15), 16)}"
                for i in range(input.number_of_posts)
            ]
            return LikePostsResult(liked=ids)

        return await self._sandbox.side_effect(self.name, "like_posts", input.idempotency_key, input, respond)

    async def send_invitation(self, input: SendInvitationInput) -> InvitationResult:
        async def respond() -> InvitationResult:
            invitation_id = str(int(stable_id("unipile", input.idempotency_key, length=15), 16))
            state = {
                "identifier": input.identifier,
                "account_id": input.account_id,
                "sent_at": self._sandbox.now().isoformat(),
            }
            await self._sandbox.put_state(self.name, "invitation", invitation_id, state)
            return InvitationResult(invitation_id=invitation_id, provider_id=self._provider_id(input.identifier))

        return await self._sandbox.side_effect(self.name, "send_invitation", input.idempotency_key, input, respond)

    async def send_message(self, input: SendLinkedInMessageInput) -> LinkedInMessageResult:
        async def respond() -> LinkedInMessageResult:
            return LinkedInMessageResult(
                chat_id=stable_id("unipile-chat", input.account_id, input.identifier, length=22),
                message_id=stable_id("unipile-message", input.idempotency_key, length=22),
            )

        return await self._sandbox.side_effect(self.name, "send_message", input.idempotency_key, input, respond)

    async def invitation_status(self, input: InvitationStatusInput) -> InvitationStatusResult:
        self._sandbox.enter(self.name, "invitation_status", None, input.model_dump(mode="json"))
        state = await self._invitation(input.invitation_id)
        if await self._sandbox.get_state(self.name, "withdrawn", input.invitation_id) is not None:
            return InvitationStatusResult(invitation_id=input.invitation_id, status="withdrawn")
        if self._accepted(state):
            return InvitationStatusResult(invitation_id=input.invitation_id, status="accepted")
        return InvitationStatusResult(invitation_id=input.invitation_id, status="pending")

    async def withdraw_invitation(self, input: WithdrawInvitationInput) -> WithdrawInvitationResult:
        async def respond() -> WithdrawInvitationResult:
            state = await self._invitation(input.invitation_id)
            if self._accepted(state):
                return WithdrawInvitationResult(invitation_id=input.invitation_id, withdrawn=False)
            await self._sandbox.put_state(
                self.name, "withdrawn", input.invitation_id, {"at": self._sandbox.now().isoformat()}
            )
            return WithdrawInvitationResult(invitation_id=input.invitation_id, withdrawn=True)

        return await self._sandbox.side_effect(self.name, "withdraw_invitation", input.idempotency_key, input, respond)

    async def get_account(self, account_id: str) -> UnipileAccount:
        self._sandbox.enter(self.name, "get_account", None, {"account_id": account_id})
        lowered = account_id.lower()
        if "missing" in lowered:
            raise error_for_status(self.name, 404, f"account {account_id} not found")
        status = next((s for s in ("credentials", "stopped", "error", "connecting") if s in lowered), "ok")
        return UnipileAccount(
            account_id=account_id, type="LINKEDIN", name=f"Sandbox {account_id}", status=status.upper()
        )
