"""Notifications (Partner Platform, seed 004): ``POST /api/temporal/notification/start``.

The seed's body — ``{"userId", "message", "type"}`` — is accepted as is (snake_case too), with
optional ``channels`` and ``recipient`` (``phone``, ``email``, ``webhookUrl``). A recipient with
neither phone nor email is looked up by ``userId`` in the user stores (``USER_STORES``, where
onboarding put the user), so the seed's body alone reaches an onboarded user by e-mail. Without
``channels`` the notification goes to every channel the recipient can be reached on (and to
``NOTIFICATION_WEBHOOK_URL`` when set). A ``webhookUrl`` on an internal address (loopback,
private, link-local, metadata…) is refused with 422 unless ``FOLLOWTHROUGH_ALLOWED_CALLBACK_HOSTS``
lists its host. Follow it with ``GET /api/temporal/workflow/{id}/status``.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Response
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from followthrough.api.deps import ServicesDep, SettingsDep, WorkflowsDep
from followthrough.api.listing import ListPageDep
from followthrough.api.openapi import body_example
from followthrough.api.routes.workflows import started
from followthrough.errors import FollowthroughError
from followthrough.processes.notifications.rules import (
    CHANNELS,
    ID_PATTERN,
    Channel,
    Recipient,
    SendNotificationInput,
    default_channels,
    notification_workflow_id,
)
from followthrough.providers.urls import url_problem
from followthrough.services import Services

router = APIRouter(prefix="/api/temporal", tags=["partner-platform"])


class NotificationRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    user_id: str = Field(min_length=1, max_length=128, validation_alias=AliasChoices("userId", "user_id"))
    message: str = Field(min_length=1, max_length=4096)
    type: str = Field(default="info", min_length=1, max_length=64)
    channels: list[Channel] | None = Field(default=None, max_length=len(CHANNELS))
    recipient: Recipient = Field(default_factory=Recipient)
    subject: str | None = Field(default=None, max_length=200)
    notification_id: str | None = Field(
        default=None, pattern=ID_PATTERN, validation_alias=AliasChoices("notificationId", "notification_id")
    )


class NotificationStarted(BaseModel):
    workflowId: str  # noqa: N815 - the seed's field name
    workflow_id: str
    run_id: str
    created: bool
    notification_id: str
    channels: list[Channel]
    status: str = "RUNNING"
    result: Any = None
    error: dict[str, Any] | None = None


@router.post(
    "/notification/start",
    status_code=202,
    response_model=NotificationStarted,
    openapi_extra=body_example(
        {
            "userId": "user-7",
            "message": "Your report is ready",
            "channels": ["email"],
            "recipient": {"email": "ana@example.com"},
        }
    ),
)
async def start_notification(
    body: NotificationRequest, response: Response, wf: WorkflowsDep, settings: SettingsDep, services: ServicesDep
) -> NotificationStarted:
    unsafe = body.recipient.webhook_url and url_problem(body.recipient.webhook_url, settings.allowed_callback_hosts)
    if unsafe:
        loc = ["body", "recipient", "webhookUrl"]
        raise HTTPException(422, [{"loc": loc, "msg": f"webhookUrl {unsafe}", "type": "value_error"}])
    recipient = await _known_addresses(body.recipient, body.user_id, services)
    default_webhook = settings.notification_webhook_url is not None
    channels = body.channels or default_channels(recipient, default_webhook=default_webhook)
    if not channels:
        raise HTTPException(
            422,
            [
                {
                    "loc": ["body", "channels"],
                    "msg": f"no channel to deliver on: user {body.user_id!r} is in no user store; give "
                    "channels and a recipient address, or set NOTIFICATION_WEBHOOK_URL",
                    "type": "value_error",
                }
            ],
        )
    notification_id = body.notification_id or uuid.uuid4().hex
    input: dict[str, Any] = {
        "notification_id": notification_id,
        "user_id": body.user_id,
        "message": body.message,
        "type": body.type,
        "channels": channels,
        "recipient": recipient.model_dump(),
        "subject": body.subject,
    }
    outcome = await wf.start(
        "SendNotificationWorkflow",
        SendNotificationInput.model_validate(input),
        workflow_id=notification_workflow_id(notification_id),
    )
    return NotificationStarted(
        workflowId=outcome.workflow_id,
        notification_id=notification_id,
        channels=channels,
        **await started(wf, outcome, response),
    )


@router.get("/notification")
async def list_notifications(page: ListPageDep, wf: WorkflowsDep) -> dict[str, Any]:
    """The notifications the key sees, newest first; ``status``, paginated."""
    return await page.list(wf, "SendNotificationWorkflow")


async def _known_addresses(recipient: Recipient, user_id: str, services: Services) -> Recipient:
    """The recipient as given, or, when it has neither phone nor email, with the e-mail address
    the user stores hold for ``user_id``. A store that cannot answer is a 503 (try again)."""
    if recipient.phone or recipient.email:
        return recipient
    try:
        user = await services.user_stores().find_user(user_id)
    except FollowthroughError as exc:
        raise HTTPException(503, f"could not look up user {user_id!r}: {exc}") from None
    if user is None or not user.get("email"):
        return recipient
    return recipient.model_copy(update={"email": user["email"]})
