"""SendNotificationWorkflow (Partner Platform): deliver one message on each channel.

Channels are delivered concurrently and independently: each has its own retries (a few
minutes of backoff), and a channel that fails for good is reported failed while the others
still deliver. Every delivery's state is written to ``notification_deliveries`` as it settles;
the result lists one outcome per channel and the notification's overall status
(``delivered`` | ``partial`` | ``failed``).
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from followthrough.messaging.activities import MessagingActivities
    from followthrough.processes.notifications.activities import NotificationActivities
    from followthrough.processes.notifications.rules import (
        Channel,
        ChannelDelivery,
        CreateNotificationInput,
        DeliverInput,
        FinishNotificationInput,
        RecordDeliveryInput,
        SendNotificationInput,
        SendNotificationResult,
        address_for,
        delivery_key,
        overall_status,
        subject_for,
    )
    from followthrough.providers.contracts.messaging import SendMessageInput
    from followthrough.temporal.policies import DEFAULT_RETRY, PROVIDER_CALL_TIMEOUT, STORE_CALL_TIMEOUT, STORE_RETRY
    from followthrough.temporal.steps import Activity, WorkflowSteps

A = TypeVar("A")

#: About four minutes of backoff per channel before it is reported failed.
DELIVERY_RETRY = RetryPolicy(
    initial_interval=DEFAULT_RETRY.initial_interval,
    backoff_coefficient=DEFAULT_RETRY.backoff_coefficient,
    maximum_interval=DEFAULT_RETRY.maximum_interval,
    maximum_attempts=6,
    non_retryable_error_types=DEFAULT_RETRY.non_retryable_error_types,
)


def _message(err: ActivityError) -> str:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type}: {cause.message}" if cause.type else cause.message
    return str(cause or err)


@workflow.defn
class SendNotificationWorkflow:
    #: The ``WorkflowFamily`` search attribute of its executions (stored: never derive it from a file name).
    FAMILY = "notification"

    @workflow.run
    async def run(self, input: SendNotificationInput) -> SendNotificationResult:
        await self._store(
            NotificationActivities.create,
            CreateNotificationInput(
                notification_id=input.notification_id,
                user_id=input.user_id,
                type=input.type,
                message=input.message,
                channels=input.channels,
                workflow_id=workflow.info().workflow_id,
            ),
        )
        deliveries = list(await asyncio.gather(*(self._deliver(input, channel) for channel in input.channels)))
        status = overall_status(deliveries)
        await self._store(
            NotificationActivities.finish, FinishNotificationInput(notification_id=input.notification_id, status=status)
        )
        return SendNotificationResult(notification_id=input.notification_id, status=status, deliveries=deliveries)

    async def _deliver(self, input: SendNotificationInput, channel: Channel) -> ChannelDelivery:
        address, problem = address_for(channel, input.recipient)
        key = delivery_key(input.notification_id, channel)
        if problem is not None:
            delivery = ChannelDelivery(channel=channel, status="failed", error=f"ValidationError: {problem}")
        else:
            try:
                message_id = await self._send(input, channel, address, key)
                delivery = ChannelDelivery(channel=channel, status="delivered", message_id=message_id)
            except ActivityError as err:
                delivery = ChannelDelivery(channel=channel, status="failed", error=_message(err))
        await self._store(
            NotificationActivities.record_delivery,
            RecordDeliveryInput(
                notification_id=input.notification_id,
                channel=channel,
                status=delivery.status,
                message_id=delivery.message_id,
                error=delivery.error,
            ),
        )
        return delivery

    async def _send(self, input: SendNotificationInput, channel: Channel, address: str | None, key: str) -> str:
        if channel == "whatsapp":
            assert address is not None
            sent = await workflow.execute_activity_method(
                MessagingActivities.send,
                SendMessageInput(to=address, text=input.message, idempotency_key=key),
                start_to_close_timeout=PROVIDER_CALL_TIMEOUT,
                retry_policy=DELIVERY_RETRY,
            )
            return sent.message_id
        deliver = NotificationActivities.send_email if channel == "email" else NotificationActivities.send_webhook
        receipt = await workflow.execute_activity_method(
            deliver,
            DeliverInput(
                notification_id=input.notification_id,
                user_id=input.user_id,
                channel=channel,
                type=input.type,
                message=input.message,
                subject=subject_for(input.type, input.subject),
                to=address,
                idempotency_key=key,
            ),
            start_to_close_timeout=PROVIDER_CALL_TIMEOUT,
            retry_policy=DELIVERY_RETRY,
        )
        return receipt.message_id

    @staticmethod
    async def _store(activity: Activity[A, None], arg: A) -> None:
        await WorkflowSteps().run(activity, arg, timeout=STORE_CALL_TIMEOUT, retry=STORE_RETRY)
