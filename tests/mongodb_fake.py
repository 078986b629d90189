"""A fake of the MongoDB driver for the user-store tests: no MongoDB-wire server can run on
this machine (no Debian package, no PyPI wheel that ships one; FerretDB would need Go and its
module downloads). ``mongomock-motor`` answers the async collection API the store uses
(``update_one`` with upsert, ``find_one``, ``delete_one``, ``create_index`` with a unique
index and its ``DuplicateKeyError``) with mongomock's implementation of MongoDB's semantics."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mongomock_motor import AsyncMongoMockClient

from followthrough.providers import user_stores_mongodb


class FakeMongo:
    """One in-memory server per URL's host, shared by every connection a test opens."""

    def __init__(self) -> None:
        self.servers: dict[str, Any] = {}
        self.connections = 0

    def server(self, url: str) -> Any:
        host = url.split("://", 1)[1].split("/", 1)[0].rpartition("@")[2]
        return self.servers.setdefault(host, AsyncMongoMockClient(tz_aware=True))

    @contextlib.asynccontextmanager
    async def connect(self, url: str) -> AsyncIterator[Any]:
        self.connections += 1
        yield self.server(url)


def install(monkeypatch: pytest.MonkeyPatch) -> FakeMongo:
    """Make every MongoDB user store of the test connect to a fresh fake."""
    fake = FakeMongo()
    monkeypatch.setattr(user_stores_mongodb, "connect", fake.connect)
    return fake
