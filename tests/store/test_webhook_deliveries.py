"""Webhook deliveries on every back-end: claimed once across processes, handed over, expired."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from followthrough.store import Database
from followthrough.store.models import WebhookDelivery
from followthrough.store.repositories import Claim, WebhookDeliveries
from followthrough.store.types import utcnow

TTL = timedelta(days=7)


def provider() -> str:
    """A provider name of the test's own, so tests sharing the database never collide."""
    return f"p-{uuid.uuid4().hex[:12]}"


async def _rows(database: Database, name: str) -> int:
    async with database.transaction() as conn:
        return int(await conn.scalar(select(func.count()).where(WebhookDelivery.provider == name)) or 0)


async def test_a_delivery_is_new_once_then_a_duplicate(database: Database) -> None:
    deliveries, name = WebhookDeliveries(database), provider()
    assert await deliveries.claim(name, "evt_1", TTL) is Claim.NEW
    await deliveries.complete(name, "evt_1")
    assert await deliveries.claim(name, "evt_1", TTL) is Claim.DONE
    assert await deliveries.claim(name, "evt_2", TTL) is Claim.NEW
    assert await deliveries.claim(provider(), "evt_1", TTL) is Claim.NEW  # the id is per provider
    assert await _rows(database, name) == 2


async def test_a_claim_being_handled_is_busy_and_a_released_one_new_again(database: Database) -> None:
    deliveries, name = WebhookDeliveries(database), provider()
    assert (await deliveries.claim(name, "evt", TTL)).new
    assert await deliveries.claim(name, "evt", TTL) is Claim.BUSY
    await deliveries.release(name, "evt")
    assert await deliveries.claim(name, "evt", TTL) is Claim.NEW


async def test_a_claim_recorded_done_is_a_duplicate_at_once(database: Database) -> None:
    deliveries, name = WebhookDeliveries(database), provider()
    assert await deliveries.claim(name, "sig", TTL, done=True) is Claim.NEW
    assert await deliveries.claim(name, "sig", TTL, done=True) is Claim.DONE
    await deliveries.release(name, "sig")  # a handled delivery is never released
    assert await deliveries.claim(name, "sig", TTL) is Claim.DONE


async def test_concurrent_claims_from_two_processes_make_exactly_one_new(database: Database) -> None:
    other = Database(database.url)  # a second process: its own engine and connections
    try:
        name = provider()
        claims = await asyncio.gather(
            *(WebhookDeliveries(db).claim(name, "evt_race", TTL) for db in [database, other] * 4)
        )
    finally:
        await other.close()
    assert claims.count(Claim.NEW) == 1 and set(claims) == {Claim.NEW, Claim.BUSY}
    assert await _rows(database, name) == 1


async def test_an_abandoned_claim_is_taken_over_after_its_lease(database: Database) -> None:
    deliveries, name = WebhookDeliveries(database, lease=timedelta(seconds=30)), provider()
    assert (await deliveries.claim(name, "evt", TTL)).new
    assert await deliveries.claim(name, "evt", TTL) is Claim.BUSY
    async with database.transaction() as conn:  # the claimer died a minute ago
        await conn.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.provider == name)
            .values(received_at=utcnow() - timedelta(minutes=1))
        )
    claims = await asyncio.gather(*(deliveries.claim(name, "evt", TTL) for _ in range(4)))
    assert claims.count(Claim.NEW) == 1


async def test_an_expired_delivery_is_new_again_and_cleaned_up_in_bounded_batches(database: Database) -> None:
    deliveries, name = WebhookDeliveries(database), provider()
    for i in range(5):
        assert (await deliveries.claim(name, f"evt_{i}", TTL, done=True)).new
    later = utcnow() + TTL + timedelta(seconds=1)
    async with database.transaction() as conn:  # evt_0 … evt_2 expire before ``later``
        await conn.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.provider == name, WebhookDelivery.delivery_id.in_(["evt_0", "evt_1", "evt_2"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await deliveries.claim(name, "evt_0", TTL) is Claim.NEW  # expired, not yet deleted
    assert await deliveries.claim(name, "evt_3", TTL) is Claim.DONE
    deleted = 0
    while gone := await deliveries.cleanup(limit=1):
        assert gone == 1
        deleted += gone
    assert deleted >= 2  # evt_1 and evt_2 (and rows other tests left expired)
    async with database.transaction() as conn:
        left = set(await conn.scalars(select(WebhookDelivery.delivery_id).where(WebhookDelivery.provider == name)))
    assert left == {"evt_0", "evt_3", "evt_4"}
    assert await deliveries.cleanup(now=later) >= 3  # all of them, once their ttl is over


async def test_claim_cleans_up_at_most_once_per_interval(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    deliveries = WebhookDeliveries(database, cleanup_interval=3600)
    calls: list[int] = []
    real = deliveries.cleanup

    async def counted(*args: object, **kwargs: object) -> int:
        calls.append(1)
        return await real()

    monkeypatch.setattr(deliveries, "cleanup", counted)
    name = provider()
    for i in range(3):
        await deliveries.claim(name, f"evt_{i}", TTL)
    assert len(calls) == 1


@pytest.mark.parametrize(("name", "delivery_id"), [("", "x"), ("p" * 33, "x"), ("p", ""), ("p", "x" * 256)])
async def test_ids_out_of_bounds_are_refused_before_the_store(database: Database, name: str, delivery_id: str) -> None:
    with pytest.raises(ValueError):
        await WebhookDeliveries(database).claim(name, delivery_id, TTL)
