"""``notifications.send_webhook`` never calls an internal address, never follows a redirect to
one, and returns what the receiver answered as status and length only."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from followthrough.config import Settings
from followthrough.processes.notifications.activities import NotificationActivities
from followthrough.processes.notifications.rules import CreateNotificationInput, DeliverInput
from followthrough.services import Services
from tests.conftest import copy_sqlite

SECRET_BODY = "root:x:0:0:internal-secret-answer"
#: Port of a running ``local_server`` -> how many requests it received.
HITS: dict[int, int] = {}


@pytest.fixture
async def local_server() -> AsyncIterator[int]:
    """A loopback HTTP server: ``/ok`` answers 200 with a body, ``/redirect`` 302 to ``/ok``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        HITS[writer.get_extra_info("sockname")[1]] += 1
        length = next((int(h.split(":")[1]) for h in head.split("\r\n") if h.lower().startswith("content-length")), 0)
        await reader.readexactly(length)
        port = writer.get_extra_info("sockname")[1]
        if head.split()[1] == "/redirect":
            answer = f"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{port}/ok\r\nContent-Length: 0\r\n\r\n"
        else:
            answer = f"HTTP/1.1 200 OK\r\nContent-Length: {len(SECRET_BODY)}\r\n\r\n{SECRET_BODY}"
        writer.write(answer.encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    HITS[port] = 0
    try:
        yield port
    finally:
        server.close()
        await server.wait_closed()


def delivery(url: str) -> DeliverInput:
    return DeliverInput(
        notification_id="n1",
        user_id="u1",
        channel="webhook",
        type="info",
        message="hello",
        subject="Hi",
        to=url,
        idempotency_key=f"notification:n1:webhook:{url}",
    )


async def open_services(
    make_settings: Callable[..., Settings], migrated_sqlite_template: Any, **overrides: Any
) -> Services:
    settings = make_settings(webhook_delivery_provider="http", **overrides)
    copy_sqlite(migrated_sqlite_template, settings.effective_database_url)
    services = await Services.open(settings)
    created = CreateNotificationInput(
        notification_id="n1", user_id="u1", type="info", message="hello", channels=["webhook"], workflow_id="w"
    )
    await ActivityEnvironment().run(NotificationActivities(services).create, created)
    return services


async def send(services: Services, url: str) -> Any:
    return await ActivityEnvironment().run(NotificationActivities(services).send_webhook, delivery(url))


async def test_a_name_resolving_to_loopback_is_refused_when_called(
    make_settings: Callable[..., Settings],
    migrated_sqlite_template: Any,
    local_server: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = asyncio.BaseEventLoop.getaddrinfo

    async def getaddrinfo(self, host, port, **kwargs):  # type: ignore[no-untyped-def]
        if host == "partner-hooks.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return await real(self, host, port, **kwargs)

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", getaddrinfo)
    services = await open_services(make_settings, migrated_sqlite_template)
    try:
        with pytest.raises(ApplicationError) as refused:
            await send(services, f"http://partner-hooks.example:{local_server}/ok")
        assert refused.value.type == "UnsafeUrl" and refused.value.non_retryable
        with pytest.raises(ApplicationError) as metadata:
            await send(services, "http://169.254.169.254/latest/meta-data/")
        assert metadata.value.type == "UnsafeUrl"
        with pytest.raises(ApplicationError) as localhost:
            await send(services, f"http://localhost:{local_server}/ok")
        assert localhost.value.type == "UnsafeUrl"
    finally:
        await services.close()


async def test_a_name_that_rebinds_to_loopback_after_the_check_is_refused_unreached(
    make_settings: Callable[..., Settings],
    migrated_sqlite_template: Any,
    local_server: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: public to the call-time check, 127.0.0.1 to the connection."""
    real = asyncio.BaseEventLoop.getaddrinfo
    asked: list[str] = []

    async def getaddrinfo(self, host, port, **kwargs):  # type: ignore[no-untyped-def]
        if host != "rebind.example":
            return await real(self, host, port, **kwargs)
        asked.append(host)
        address = "93.184.215.14" if len(asked) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", getaddrinfo)
    services = await open_services(make_settings, migrated_sqlite_template)
    try:
        with pytest.raises(ApplicationError) as refused:
            await send(services, f"http://rebind.example:{local_server}/ok")
        assert refused.value.type == "UnsafeUrl" and refused.value.non_retryable
        assert "loopback" in refused.value.message and len(asked) == 2
    finally:
        await services.close()
    assert HITS[local_server] == 0


async def test_the_allow_list_lets_a_local_server_through_and_the_answer_is_not_reflected(
    make_settings: Callable[..., Settings], migrated_sqlite_template: Any, local_server: int
) -> None:
    services = await open_services(
        make_settings, migrated_sqlite_template, followthrough_allowed_callback_hosts=f"127.0.0.1:{local_server}"
    )
    try:
        receipt = await send(services, f"http://127.0.0.1:{local_server}/ok")
        assert SECRET_BODY not in receipt.model_dump_json() and HITS[local_server] == 1
    finally:
        await services.close()


async def test_a_redirect_is_not_followed_and_its_answer_is_summarised(
    make_settings: Callable[..., Settings], migrated_sqlite_template: Any, local_server: int
) -> None:
    services = await open_services(
        make_settings, migrated_sqlite_template, followthrough_allowed_callback_hosts=f"127.0.0.1:{local_server}"
    )
    try:
        with pytest.raises(ApplicationError) as refused:
            await send(services, f"http://127.0.0.1:{local_server}/redirect")
        assert refused.value.non_retryable
        assert refused.value.message == "webhook answered 302 (0 bytes): redirects are not followed"
    finally:
        await services.close()
