"""The app's records, one class per table, portable across SQLite, PostgreSQL and MariaDB.

Conventions that keep the three backends alike:

* ids are strings (``String(64)``; :func:`~followthrough.store.types.new_id` by default) so a
  record can keep the id a client system gave it (``lead-123``) and workflow ids can carry it;
* every string has a length (MariaDB needs one for indexes), long text is ``Text``;
* instants are :class:`~followthrough.store.types.UTCDateTime`: aware UTC in, aware UTC out;
* statuses are short strings, not database enums (adding a value needs no migration);
* free-form payloads are ``JSON``; money is an integer amount in minor units plus a currency;
* constraint names follow :data:`NAMING_CONVENTION`, so migrations can name what they alter.

Statuses, by table (the values the code writes):

* leads.stage: free (``new``, ``contacted``, ``demo_scheduled``, ``paid``…); the sales family owns it
* appointments.status: ``scheduled`` | ``rescheduled`` | ``cancelled`` | ``completed``
* payments.status: ``pending`` | ``paid`` | ``expired`` | ``failed``
* campaigns.status: ``draft`` | ``running`` | ``paused`` | ``stopped`` | ``completed``
* campaign_executions.status: ``pending`` | ``in_progress`` | ``completed`` | ``failed`` |
  ``stopped`` | ``goal_reached``
* sender_accounts.status: ``connected`` | ``credentials_invalid`` | ``suspended`` | ``disconnected``
* bot_deployments.status: ``pending`` | ``deploying`` | ``active`` | ``failed`` | ``rolled_back``
* content_items.status: ``generating`` | ``pending_review`` | ``approved`` | ``rejected`` |
  ``published`` | ``expired``
* notifications.status / notification_deliveries.status: ``pending`` | ``delivered`` | ``failed``
  (a notification is ``partial`` when some channels failed)
* outbox.status: ``pending`` | ``sent`` | ``failed``

Revisions after the initial one: ``0002_lead_memory`` (``leads.memory_*``), ``0003_sync_state``
(``sync_watermarks``, ``sync_quarantine``), ``0004_campaign_lead_lookups`` (indexes),
``0005_api_keys`` (``api_keys``), ``0006_webhook_deliveries`` (``webhook_deliveries``),
``0007_sender_pauses`` (``sender_pauses``), each a branch of its own from ``0001_initial``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from followthrough.store.types import UTCDateTime, new_id, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
}

#: An auto-increment 64-bit key (SQLite only auto-increments ``INTEGER PRIMARY KEY``).
AutoId = BigInteger().with_variant(Integer(), "sqlite")

ID = String(64)
#: Workflow ids carry business ids (``campaign-{campaign}-lead-{lead}``): room for two ids and more.
WORKFLOW_ID = String(255)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class Timestamps:
    """``created_at`` / ``updated_at``, set by the application (same on every backend)."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- sales assistant (issue 4) ------------------------------------------------------------
class Lead(Timestamps, Base):
    __tablename__ = "leads"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)  # E.164
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    company: Mapped[str | None] = mapped_column(String(200))
    industry: Mapped[str | None] = mapped_column(String(100))
    stage: Mapped[str] = mapped_column(String(32), default="new")
    language: Mapped[str | None] = mapped_column(String(8))
    timezone: Mapped[str | None] = mapped_column(String(64))
    opted_out: Mapped[bool] = mapped_column(default=False)
    opted_out_at: Mapped[datetime | None]
    last_inbound_at: Mapped[datetime | None]
    organization_id: Mapped[str | None] = mapped_column(ID, index=True)
    #: The llm's summary of the conversation (what the lead needs, objections, next steps),
    #: written by the integration sync; ``memory_updated_at`` is the instant it describes.
    memory_summary: Mapped[str | None] = mapped_column(Text)
    memory_updated_at: Mapped[datetime | None]


class InboundMessage(Base):
    """A message a lead sent us (WhatsApp webhook); the provider's id makes redelivery harmless."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(20), default="whatsapp")
    provider_message_id: Mapped[str] = mapped_column(String(255), unique=True)
    text: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]


class Appointment(Timestamps, Base):
    __tablename__ = "appointments"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    calendar_booking_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    workflow_id: Mapped[str | None] = mapped_column(WORKFLOW_ID)
    cancelled_at: Mapped[datetime | None]


class Payment(Timestamps, Base):
    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    reference: Mapped[str | None] = mapped_column(String(128))
    checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    checkout_url: Mapped[str | None] = mapped_column(String(1000))
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    expires_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    workflow_id: Mapped[str | None] = mapped_column(WORKFLOW_ID)


# --- outreach campaigns (issue 5) ---------------------------------------------------------
class SenderAccount(Timestamps, Base):
    """A connected account that sends (a LinkedIn account via Unipile, a WhatsApp number)."""

    __tablename__ = "sender_accounts"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    organization_id: Mapped[str | None] = mapped_column(ID, index=True)
    provider: Mapped[str] = mapped_column(String(20), default="linkedin")
    provider_account_id: Mapped[str | None] = mapped_column(String(128))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20), default="connected")
    #: Caps per action type per day, e.g. ``{"profile_visit": 150, "send_message": 100}``.
    daily_limits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    weekly_invitation_limit: Mapped[int] = mapped_column(Integer, default=100)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    #: ``{"start": "09:00", "end": "18:00"}`` in the account's time zone.
    working_hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: ISO weekdays the account works on, 1 = Monday … 7 = Sunday.
    working_days: Mapped[list[Any]] = mapped_column(default=list)
    #: Human-like spacing between two actions, in seconds (a random value in the range).
    min_action_spacing_seconds: Mapped[int] = mapped_column(Integer, default=60)
    max_action_spacing_seconds: Mapped[int] = mapped_column(Integer, default=300)


class SenderUsage(Base):
    """Actions a sender used per action type and period: atomic counters for its caps.

    ``period`` is a day (``2025-07-01``) or an ISO week (``2025-W27``) in the sender's own
    time zone; see :class:`followthrough.store.repositories.senders.SenderUsageCounters`.
    """

    __tablename__ = "sender_usage"
    __table_args__ = (UniqueConstraint("sender_account_id", "action", "period"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    sender_account_id: Mapped[str] = mapped_column(ForeignKey("sender_accounts.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(10))
    count: Mapped[int] = mapped_column(Integer, default=0)


class SenderPause(Base):
    """A campaign Followthrough paused because its sender account lost its connection.

    Only these are resumed when the account reconnects: a campaign an operator paused by hand
    stays paused. The row goes when the campaign is resumed, when a person pauses or resumes it
    (their pause is theirs to end), or with the campaign or account.
    """

    __tablename__ = "sender_pauses"

    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    sender_account_id: Mapped[str] = mapped_column(ForeignKey("sender_accounts.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(200))
    paused_at: Mapped[datetime] = mapped_column(default=utcnow)


class Campaign(Timestamps, Base):
    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    organization_id: Mapped[str | None] = mapped_column(ID, index=True)
    name: Mapped[str] = mapped_column(String(200))
    sender_account_id: Mapped[str | None] = mapped_column(ForeignKey("sender_accounts.id", ondelete="SET NULL"))
    #: The validated sequence graph (nodes and edges), as the campaigns family defines it.
    graph: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    max_concurrent_leads: Mapped[int] = mapped_column(Integer, default=100)
    lead_processing_delay_seconds: Mapped[int] = mapped_column(Integer, default=30)
    lead_count: Mapped[int] = mapped_column(Integer, default=0)
    workflow_id: Mapped[str | None] = mapped_column(WORKFLOW_ID)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


class CampaignLead(Base):
    """A lead of a campaign's list. ``position`` is dense per campaign and never changes, so the
    orchestrator pages with ``position > cursor`` and a cursor survives continue-as-new."""

    __tablename__ = "campaign_leads"
    __table_args__ = (
        UniqueConstraint("campaign_id", "position"),
        UniqueConstraint("campaign_id", "linkedin_id"),
        UniqueConstraint("campaign_id", "linkedin_url"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(BigInteger)
    linkedin_id: Mapped[str | None] = mapped_column(String(128), index=True)  # 0004: inbound LinkedIn lookups
    linkedin_url: Mapped[str | None] = mapped_column(String(500), index=True)  # normalised
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    headline: Mapped[str | None] = mapped_column(String(300))
    company: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(20), index=True)  # 0004: inbound WhatsApp lookups
    #: Any other profile fields (``profile_has`` conditions read them).
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignExecution(Timestamps, Base):
    """One lead's run through a campaign's graph (the seed's ``campaign_executions``)."""

    __tablename__ = "campaign_executions"
    __table_args__ = (UniqueConstraint("campaign_id", "lead_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    lead_id: Mapped[str] = mapped_column(ID, index=True)
    workflow_execution_id: Mapped[str | None] = mapped_column(WORKFLOW_ID)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    current_step: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    #: Per-step results and whatever the lead workflow needs to keep.
    execution_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


#: A campaign's leads per state (the campaigns list) and its leads not started yet (the funnel's
#: start node) are counted from this index alone (SQLite at 100,000 leads: 225 ms → 12 ms).
Index(
    "ix_campaign_executions_campaign_id_status",
    CampaignExecution.campaign_id,
    CampaignExecution.status,
    CampaignExecution.current_step,
)


# --- bots, content, notifications (issue 6) -----------------------------------------------
class BotDeployment(Timestamps, Base):
    __tablename__ = "bot_deployments"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    bot_name: Mapped[str] = mapped_column(String(100))
    bot_type: Mapped[str] = mapped_column(String(20))  # discord | telegram | slack | whatsapp
    owner: Mapped[str] = mapped_column(String(128), index=True)
    #: Non-secret configuration only: tokens stay in the workflow's (encrypted) payloads.
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    step: Mapped[str | None] = mapped_column(String(64))
    progress: Mapped[int] = mapped_column(Integer, default=0)
    platform_bot_id: Mapped[str | None] = mapped_column(String(128))
    webhook_url: Mapped[str | None] = mapped_column(String(1000))
    error: Mapped[str | None] = mapped_column(Text)
    workflow_id: Mapped[str | None] = mapped_column(WORKFLOW_ID)
    deployed_at: Mapped[datetime | None]


class ContentItem(Timestamps, Base):
    __tablename__ = "content_items"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    brief: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="generating")
    review_mode: Mapped[str] = mapped_column(String(10), default="human")  # auto | human
    round: Mapped[int] = mapped_column(Integer, default=1)
    max_rounds: Mapped[int] = mapped_column(Integer, default=3)
    score: Mapped[float | None]
    #: One entry per decided review: ``{round, approved, notes, reviewer, score, at}``.
    reviews: Mapped[list[Any]] = mapped_column(default=list)
    #: Names of the stores the approved content was published to.
    published_to: Mapped[list[Any]] = mapped_column(default=list)
    published_at: Mapped[datetime | None]
    workflow_id: Mapped[str | None] = mapped_column(WORKFLOW_ID)


class Notification(Timestamps, Base):
    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(128), index=True)
    type: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    channels: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    workflow_id: Mapped[str | None] = mapped_column(WORKFLOW_ID)


class NotificationDelivery(Base):
    """The delivery state of one notification on one channel (channels are delivered apart,
    so each has its own row instead of racing on one JSON column)."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (UniqueConstraint("notification_id", "channel"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    notification_id: Mapped[str] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))  # whatsapp | email | webhook
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- data sync bookkeeping (issue 6) -------------------------------------------------------
class SyncWatermark(Base):
    """How far a data sync has got: the (cursor, key) of the last source row that every target
    was verified to hold. Written only after verification, so a crash re-syncs, never skips."""

    __tablename__ = "sync_watermarks"

    sync_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    cursor_value: Mapped[str | None] = mapped_column(String(64))
    key_value: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime]


class SyncQuarantine(Base):
    """A source row a data sync refused (a schema rule it breaks), kept with the reason; once
    per row version (the UNIQUE key), so re-reading a page does not quarantine it twice."""

    __tablename__ = "sync_quarantine"
    __table_args__ = (
        UniqueConstraint("sync_name", "table_name", "row_key", "cursor_value", name="uq_sync_quarantine_version"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    sync_name: Mapped[str] = mapped_column(String(100))
    table_name: Mapped[str] = mapped_column(String(64))
    row_key: Mapped[str] = mapped_column(String(255))
    cursor_value: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    row: Mapped[dict[str, Any]]
    quarantined_at: Mapped[datetime]


# --- per-organization API keys (issue 17) ---------------------------------------------------
class ApiKey(Base):
    """An API key of one organization. Only a digest of its secret is kept: the key itself is
    shown once, when it is made (see :class:`followthrough.store.repositories.api_keys.ApiKeys`)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the key's public prefix, ``k_…``
    organization_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str | None] = mapped_column(String(100))
    scopes: Mapped[str] = mapped_column(String(64))  # sorted, comma-joined: ``read,write``
    secret_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 hex of the secret
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


# --- web app sessions (issue 23) -----------------------------------------------------------
class WebSession(Base):
    """A browser session of the web app (``/app``). The cookie carries a random nonce, signed;
    only its SHA-256 is kept here. Every request needs the row open and unexpired, so signing
    out (``ended_at``) ends the session for good: a copied cookie stops working with it."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 hex of the nonce
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None]


# --- webhook deliveries accepted (issue 18) -------------------------------------------------
class WebhookDelivery(Base):
    """A provider's delivery (an event id, a signature) accepted by one of the API processes.

    The UNIQUE key is what makes every process refuse the same delivery: the first insert wins
    (see :class:`followthrough.store.repositories.webhooks.WebhookDeliveries`). ``completed_at``
    is empty while the winner processes it; rows past ``expires_at`` are deleted.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("provider", "delivery_id"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(32))
    delivery_id: Mapped[str] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    expires_at: Mapped[datetime] = mapped_column(index=True)


# --- every side effect ---------------------------------------------------------------------
class OutboxRecord(Base):
    """A side effect, recorded under its idempotency key before success is claimed.

    The UNIQUE key is what makes a retried or concurrent call harmless: the second insert fails
    and the caller reads the first row (see :class:`followthrough.store.outbox.Outbox`).
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    response: Mapped[dict[str, Any] | None]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


Index("ix_outbox_provider_operation", OutboxRecord.provider, OutboxRecord.operation)
