"""Fixtures of the provider tests: an outbox on the per-test SQLite store, a sandbox over it,
and an ``httpx.AsyncClient`` that respx intercepts (no request leaves the process)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from followthrough.providers.sandbox import Sandbox
from followthrough.services import Services
from followthrough.store.outbox import Outbox


@pytest.fixture
def outbox(services: Services) -> Outbox:
    return services.providers.outbox


@pytest.fixture
def sandbox(outbox: Outbox) -> Sandbox:
    return Sandbox(outbox)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client
