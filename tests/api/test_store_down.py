"""A store that cannot serve: every route that needs it answers 503 with a Retry-After, never a
500, and the answer names no host (the cause goes to the server log)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from followthrough.catalog import create_app
from followthrough.config import Settings
from followthrough.services import Services
from followthrough.store import Database, StoreUnavailable
from tests.conftest import API_KEY

#: Nothing listens on port 1 of loopback: the connection is refused at once.
UNREACHABLE = {
    "postgresql": "postgresql+asyncpg://u:secret@127.0.0.1:1/none",
    "mariadb": "mysql+asyncmy://u:secret@127.0.0.1:1/none",
}


@pytest.mark.parametrize("backend", sorted(UNREACHABLE))
async def test_routes_answer_503_while_the_store_cannot_be_reached(
    backend: str, make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(database_url=UNREACHABLE[backend])
    services = await Services.open(settings)
    app = create_app(settings, api_key=API_KEY, services=services)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    headers = {"Authorization": f"Bearer {API_KEY}"}
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as http:
            answers = [await http.get(path) for path in ("/api/campaigns", "/api/sender-accounts")]
    finally:
        await services.close()
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "5"
        assert "store is unavailable" in answer.json()["detail"]
        assert "127.0.0.1" not in answer.text and "secret" not in answer.text
    assert any("store unavailable" in record.getMessage() for record in caplog.records)


async def test_an_unreachable_server_store_raises_store_unavailable_not_a_bare_oserror() -> None:
    db = Database(UNREACHABLE["postgresql"])
    try:
        with pytest.raises(StoreUnavailable, match="cannot be reached: ConnectionRefusedError") as info:
            await db.ping()
        assert isinstance(info.value.__cause__, OSError)
    finally:
        await db.close()
