"""Notifications (Partner Platform): one message, delivered on each channel independently.

``SendNotificationWorkflow`` (id ``notification-{notification_id}``) delivers on WhatsApp
(``messaging.send``), email and a signed webhook, each with its own retries, so one channel
failing never holds back another; each delivery is idempotent under
``notification:{notification_id}:{channel}`` and its state is kept in ``notification_deliveries``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from followthrough.bounds import MAX_URL
from followthrough.leads.models import E164_PATTERN

Channel = Literal["whatsapp", "email", "webhook"]
CHANNELS: tuple[Channel, ...] = ("whatsapp", "email", "webhook")
DeliveryStatus = Literal["delivered", "failed"]
NotificationStatus = Literal["delivered", "partial", "failed"]

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"


class Recipient(BaseModel):
    """Where the user is reached; a channel without its address fails with a clear reason."""

    model_config = ConfigDict(populate_by_name=True)

    phone: str | None = Field(default=None, pattern=E164_PATTERN)
    email: str | None = Field(default=None, pattern=EMAIL_PATTERN, max_length=320)
    webhook_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        max_length=MAX_URL,
        validation_alias=AliasChoices("webhook_url", "webhookUrl"),
        description="unset = NOTIFICATION_WEBHOOK_URL",
    )


class SendNotificationInput(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    notification_id: str = Field(pattern=ID_PATTERN, validation_alias=AliasChoices("notification_id", "notificationId"))
    user_id: str = Field(min_length=1, max_length=128, validation_alias=AliasChoices("user_id", "userId"))
    message: str = Field(min_length=1, max_length=4096)
    type: str = Field(default="info", min_length=1, max_length=64)
    channels: list[Channel] = Field(min_length=1, max_length=len(CHANNELS))
    recipient: Recipient = Field(default_factory=Recipient)
    subject: str | None = Field(default=None, max_length=200)

    @field_validator("channels")
    @classmethod
    def _each_once(cls, value: list[Channel]) -> list[Channel]:
        if len(set(value)) != len(value):
            raise ValueError("list each channel once")
        return value


class ChannelDelivery(BaseModel):
    channel: Channel
    status: DeliveryStatus
    message_id: str | None = None
    error: str | None = None


class SendNotificationResult(BaseModel):
    notification_id: str
    status: NotificationStatus
    deliveries: list[ChannelDelivery]


# --- activity inputs and results -------------------------------------------------------------
class CreateNotificationInput(BaseModel):
    notification_id: str
    user_id: str
    type: str
    message: str
    channels: list[Channel]
    workflow_id: str


class DeliverInput(BaseModel):
    """One delivery on email or webhook (WhatsApp goes through ``messaging.send``)."""

    notification_id: str
    user_id: str
    channel: Channel
    type: str
    message: str
    subject: str
    to: str | None = Field(default=None, description="address; unset webhook = NOTIFICATION_WEBHOOK_URL")
    idempotency_key: str


class DeliveryReceipt(BaseModel):
    message_id: str


class RecordDeliveryInput(BaseModel):
    notification_id: str
    channel: Channel
    status: DeliveryStatus
    message_id: str | None = None
    error: str | None = None


class FinishNotificationInput(BaseModel):
    notification_id: str
    status: NotificationStatus


# --- pure rules --------------------------------------------------------------------------------
def notification_workflow_id(notification_id: str) -> str:
    return f"notification-{notification_id}"


def delivery_key(notification_id: str, channel: str) -> str:
    return f"notification:{notification_id}:{channel}"


def address_for(channel: Channel, recipient: Recipient) -> tuple[str | None, str | None]:
    """(address, problem): the channel's address, or why there is none.

    A webhook may have no address here: the activity falls back to NOTIFICATION_WEBHOOK_URL.
    """
    if channel == "whatsapp":
        return (recipient.phone, None) if recipient.phone else (None, "no phone number for this user")
    if channel == "email":
        return (recipient.email, None) if recipient.email else (None, "no email address for this user")
    return recipient.webhook_url, None


def default_channels(recipient: Recipient, *, default_webhook: bool) -> list[Channel]:
    """The channels a notification goes to when the caller names none: every one reachable."""
    channels: list[Channel] = []
    if recipient.phone:
        channels.append("whatsapp")
    if recipient.email:
        channels.append("email")
    if recipient.webhook_url or default_webhook:
        channels.append("webhook")
    return channels


def subject_for(type: str, subject: str | None) -> str:
    return subject or f"Notification: {type.replace('_', ' ')}"


def overall_status(deliveries: Iterable[ChannelDelivery]) -> NotificationStatus:
    statuses = {d.status for d in deliveries}
    if statuses == {"delivered"}:
        return "delivered"
    if "delivered" in statuses:
        return "partial"
    return "failed"
