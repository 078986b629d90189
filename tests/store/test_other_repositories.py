"""Bot deployments, content items and notifications on every back-end."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from followthrough.store import Database
from followthrough.store.repositories import BotDeployments, ContentItems, Notifications, RecordNotFound


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


async def test_a_bot_deployment_is_created_once_updated_and_deleted_once(database: Database) -> None:
    bots = BotDeployments(database)
    bot_id, owner = uid("bot"), uid("owner")
    first = await bots.create(bot_name="helper", bot_type="telegram", owner=owner, deployment_id=bot_id)
    again = await bots.create(bot_name="helper", bot_type="telegram", owner=owner, deployment_id=bot_id)
    assert again.id == first.id == bot_id and first.status == "pending" and first.progress == 0
    updated = await bots.update(bot_id, status="deploying", step="register", progress=40, platform_bot_id="tg-1")
    assert (updated.step, updated.progress, updated.platform_bot_id) == ("register", 40, "tg-1")
    assert [b.id for b in await bots.for_owner(owner)] == [bot_id]
    assert await bots.delete(bot_id) is True
    assert await bots.delete(bot_id) is False  # a repeated compensation is harmless
    with pytest.raises(RecordNotFound):
        await bots.update(bot_id, progress=50)


async def test_content_goes_through_review_rounds(database: Database) -> None:
    items = ContentItems(database)
    item = await items.create(brief="Launch post", review_mode="human", max_rounds=2, content_id=uid("content"))
    assert item.status == "generating" and item.reviews == []
    await items.save_draft(item.id, round=1, title="v1", body="first")
    rejected = await items.add_review(item.id, approved=False, notes="shorter", reviewer="eva")
    assert rejected.status == "rejected"
    await items.save_draft(item.id, round=2, title="v2", body="second")
    approved = await items.add_review(item.id, approved=True, reviewer="eva", score=0.9)
    assert approved.status == "approved" and approved.score == 0.9
    assert [(r["round"], r["approved"], r["notes"]) for r in approved.reviews] == [
        (1, False, "shorter"),
        (2, True, None),
    ]
    published = await items.mark_published(item.id, ["primary", "analytics"])
    assert published.status == "published" and published.published_to == ["primary", "analytics"]
    stored = await items.get(item.id)
    assert stored is not None and stored.body == "second" and stored.published_at is not None


async def test_notification_deliveries_roll_up_per_channel(database: Database) -> None:
    notes = Notifications(database)
    n = await notes.create(user_id="u-1", type="welcome", message="Hi", channels=["whatsapp", "email", "webhook"])
    assert set(await notes.deliveries(n.id)) == {"whatsapp", "email", "webhook"}
    assert (await notes.record_attempt(n.id, "whatsapp", delivered=True, provider_message_id="wamid.1")).status == (
        "pending"
    )
    await notes.record_attempt(n.id, "email", delivered=False, error="503")
    after_fail = await notes.record_attempt(n.id, "webhook", delivered=False, error="timeout")
    assert after_fail.status == "partial"
    healed = await notes.record_attempt(n.id, "email", delivered=True)
    assert healed.status == "partial"
    assert (await notes.record_attempt(n.id, "webhook", delivered=True)).status == "delivered"
    deliveries = await notes.deliveries(n.id)
    assert deliveries["email"].attempts == 2 and deliveries["email"].error is None
    assert deliveries["whatsapp"].provider_message_id == "wamid.1" and deliveries["whatsapp"].delivered_at is not None
    with pytest.raises(ValueError, match="no channel 'sms'"):
        await notes.record_attempt(n.id, "sms", delivered=True)


async def test_concurrent_deliveries_on_different_channels_are_all_counted(database: Database) -> None:
    notes = Notifications(database)
    channels = ["whatsapp", "email", "webhook"]
    n = await notes.create(user_id="u-2", type="alert", message="x", channels=channels, notification_id=uid("n"))
    await asyncio.gather(*(notes.record_attempt(n.id, c, delivered=True) for c in channels))
    stored = await notes.get(n.id)
    assert stored is not None and stored.status == "delivered"
    again = await notes.create(user_id="u-2", type="alert", message="x", channels=channels, notification_id=n.id)
    assert again.id == n.id and len(await notes.deliveries(n.id)) == 3
