"""SendNotificationWorkflow on the time-skipping server: the real notification activities on a
migrated SQLite store with sandbox email/webhook providers, and a fake ``messaging.send``."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from followthrough.catalog import activity_methods
from followthrough.processes.notifications.activities import NotificationActivities
from followthrough.processes.notifications.rules import Recipient, SendNotificationInput, SendNotificationResult
from followthrough.processes.notifications.workflow import SendNotificationWorkflow
from followthrough.providers.contracts.messaging import SendMessageInput, SendMessageResult
from followthrough.providers.email import EmailMessage, EmailReceipt
from followthrough.services import Services
from followthrough.store.models import Notification, NotificationDelivery
from followthrough.store.outbox import Outbox


class FakeWhatsApp:
    def __init__(self, *, fail: str | None = None) -> None:
        self.sent: list[SendMessageInput] = []
        self.fail = fail

    def activity(self) -> Callable[..., Any]:
        @activity.defn(name="messaging.send")
        async def send(input: SendMessageInput) -> SendMessageResult:
            self.sent.append(input)
            if self.fail == "permanent":
                raise ApplicationError(
                    "whatsapp answered 400: not a WhatsApp user", type="ValidationError", non_retryable=True
                )
            return SendMessageResult(message_id=f"wamid.{input.idempotency_key}", to=input.to)

        return send


class FlakyEmail:
    """Fails with a retryable error ``failures`` times, then sends."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    name = "email"

    async def send(self, message: EmailMessage) -> EmailReceipt:
        from followthrough.errors import RetryableError

        self.calls += 1
        if self.calls <= self.failures:
            raise RetryableError("email answered 503: try later", provider="email", status=503)
        return EmailReceipt(message_id=f"em-{self.calls}")


def notification(**overrides: Any) -> SendNotificationInput:
    values: dict[str, Any] = {
        "notification_id": f"n-{uuid.uuid4().hex[:10]}",
        "user_id": "user123",
        "message": "Your account has been verified",
        "type": "verification",
        "channels": ["whatsapp", "email", "webhook"],
        "recipient": Recipient(
            phone="+5215512345678", email="john@example.com", webhook_url="https://partner.example/hook"
        ),
    }
    values.update(overrides)
    return SendNotificationInput(**values)


async def run(
    env: WorkflowEnvironment,
    tq: str,
    services: Services,
    input: SendNotificationInput,
    *,
    whatsapp: FakeWhatsApp,
    acts: NotificationActivities | None = None,
) -> SendNotificationResult:
    acts = acts or NotificationActivities(services)
    async with Worker(
        env.client,
        task_queue=tq,
        workflows=[SendNotificationWorkflow],
        activities=[*activity_methods(acts), whatsapp.activity()],
    ):
        return await env.client.execute_workflow(
            SendNotificationWorkflow.run, input, id=f"notification-{input.notification_id}", task_queue=tq
        )


async def deliveries(services: Services, notification_id: str) -> dict[str, NotificationDelivery]:
    async with services.database.session() as session:
        rows = await session.scalars(
            select(NotificationDelivery).where(NotificationDelivery.notification_id == notification_id)
        )
        return {r.channel: r for r in rows}


async def test_every_channel_is_delivered_and_recorded(
    ts_env: WorkflowEnvironment, task_queue: str, services: Services
) -> None:
    whatsapp = FakeWhatsApp()
    input = notification()
    result = await run(ts_env, task_queue, services, input, whatsapp=whatsapp)

    assert result.status == "delivered"
    assert [(d.channel, d.status) for d in result.deliveries] == [
        ("whatsapp", "delivered"),
        ("email", "delivered"),
        ("webhook", "delivered"),
    ]
    assert whatsapp.sent[0].idempotency_key == f"notification:{input.notification_id}:whatsapp"
    rows = await deliveries(services, input.notification_id)
    assert {c: r.status for c, r in rows.items()} == {
        "whatsapp": "delivered",
        "email": "delivered",
        "webhook": "delivered",
    }
    assert all(r.delivered_at is not None and r.provider_message_id for r in rows.values())
    async with services.database.session() as session:
        stored = await session.get(Notification, input.notification_id)
    assert stored is not None and stored.status == "delivered" and stored.user_id == "user123"
    keys = {e.idempotency_key for e in await Outbox(services.database).entries()}
    assert {f"notification:{input.notification_id}:{c}" for c in ("email", "webhook")} <= keys


async def test_a_channel_that_fails_for_good_does_not_hold_back_the_others(
    ts_env: WorkflowEnvironment, task_queue: str, services: Services
) -> None:
    input = notification()
    result = await run(ts_env, task_queue, services, input, whatsapp=FakeWhatsApp(fail="permanent"))
    by_channel = {d.channel: d for d in result.deliveries}
    assert result.status == "partial"
    assert by_channel["whatsapp"].status == "failed"
    assert by_channel["whatsapp"].error == "ValidationError: whatsapp answered 400: not a WhatsApp user"
    assert by_channel["email"].status == by_channel["webhook"].status == "delivered"
    rows = await deliveries(services, input.notification_id)
    assert rows["whatsapp"].status == "failed" and "not a WhatsApp user" in (rows["whatsapp"].error or "")


async def test_a_passing_fault_is_retried_and_counted(
    ts_env: WorkflowEnvironment, task_queue: str, services: Services
) -> None:
    acts = NotificationActivities(services)
    acts.email = FlakyEmail(failures=2)
    input = notification(channels=["email"])
    result = await run(ts_env, task_queue, services, input, whatsapp=FakeWhatsApp(), acts=acts)
    assert result.status == "delivered"
    assert result.deliveries[0].message_id == "em-3"
    rows = await deliveries(services, input.notification_id)
    assert rows["email"].attempts == 3


async def test_a_channel_without_an_address_fails_with_the_reason(
    ts_env: WorkflowEnvironment, task_queue: str, services: Services
) -> None:
    input = notification(channels=["email", "webhook"], recipient=Recipient())
    result = await run(ts_env, task_queue, services, input, whatsapp=FakeWhatsApp())
    assert result.status == "failed"
    errors = {d.channel: d.error for d in result.deliveries}
    assert errors["email"] == "ValidationError: no email address for this user"
    assert errors["webhook"] == "ValidationError: no webhook URL for this user and NOTIFICATION_WEBHOOK_URL is not set"


async def test_a_second_run_with_the_same_id_sends_nothing_twice(
    ts_env: WorkflowEnvironment, task_queue: str, services: Services
) -> None:
    acts = NotificationActivities(services)
    flaky = FlakyEmail(failures=0)
    acts.email = flaky
    input = notification(channels=["email"])
    first = await run(ts_env, task_queue, services, input, whatsapp=FakeWhatsApp(), acts=acts)
    second = await run(ts_env, f"{task_queue}-again", services, input, whatsapp=FakeWhatsApp(), acts=acts)
    assert flaky.calls == 1
    assert first.deliveries[0].message_id == second.deliveries[0].message_id == "em-1"


async def test_record_history_for_replay(ts_env: WorkflowEnvironment, task_queue: str, services: Services) -> None:
    from tests.record import HISTORIES, save_history

    path = HISTORIES / "notification" / "partial.json"
    if not path.exists() or os.environ.get("RECORD_HISTORIES") == "1":
        input = notification(notification_id="recorded-partial")
        acts = NotificationActivities(services)
        async with Worker(
            ts_env.client,
            task_queue=task_queue,
            workflows=[SendNotificationWorkflow],
            activities=[*activity_methods(acts), FakeWhatsApp(fail="permanent").activity()],
        ):
            handle = await ts_env.client.start_workflow(
                SendNotificationWorkflow.run,
                input,
                id=f"notification-recorded-{uuid.uuid4().hex[:6]}",
                task_queue=task_queue,
            )
            await handle.result()
            await save_history(handle, "notification", "partial")
    assert path.exists()
