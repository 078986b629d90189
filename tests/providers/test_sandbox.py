"""Sandbox clients: they answer like the service, record in the outbox, inject seeded faults."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from followthrough.config import ConfigError, Settings
from followthrough.errors import AuthenticationError, RetryableError, ValidationError
from followthrough.providers import sandbox as sandbox_module
from followthrough.providers.bots import BotPlatforms, SandboxBots
from followthrough.providers.calendar import SandboxCalendar
from followthrough.providers.contracts.bots import BotHealthInput, RegisterBotInput, SetWebhookInput, UnregisterBotInput
from followthrough.providers.contracts.calendar import CancelBookingInput, CreateBookingInput, ListSlotsInput
from followthrough.providers.contracts.crm import UpsertContactInput
from followthrough.providers.contracts.linkedin import (
    InvitationStatusInput,
    SendInvitationInput,
    WithdrawInvitationInput,
)
from followthrough.providers.contracts.llm import CompleteInput
from followthrough.providers.contracts.messaging import SendMessageInput
from followthrough.providers.contracts.payments import CreateCheckoutInput, GetCheckoutInput
from followthrough.providers.crm import SandboxCRM
from followthrough.providers.factory import build_providers, provider_modes
from followthrough.providers.linkedin import SandboxLinkedIn
from followthrough.providers.llm import SANDBOX_REJECT_MARKER, SandboxLLM
from followthrough.providers.messaging import SandboxMessaging, WhatsAppClient
from followthrough.providers.payments import SandboxPayments, complete_sandbox_checkout, expire_sandbox_checkout
from followthrough.providers.sandbox import Sandbox, using_time
from followthrough.providers.selection import parse_faults, parse_provider_modes
from followthrough.store.outbox import Outbox


def message(key: str) -> SendMessageInput:
    return SendMessageInput(to="+5215512345678", text="hola", idempotency_key=key)


def checkout(key: str = "pay:lead-1:ref") -> CreateCheckoutInput:
    return CreateCheckoutInput(
        amount=2500,
        currency="eur",
        description="Plan",
        metadata={"workflow_id": "payment-lead-1-ref", "lead_id": "lead-1"},
        idempotency_key=key,
    )


# --- settings -----------------------------------------------------------------------------------
def test_fault_spec_is_parsed() -> None:
    faults = parse_faults("whatsapp.send=0.3:503, stripe.checkout=0.1:timeout,unipile.*=1:429")
    assert [(f.provider, f.operation, f.probability, f.status) for f in faults] == [
        ("whatsapp", "send", 0.3, 503),
        ("stripe", "checkout", 0.1, None),
        ("unipile", "*", 1.0, 429),
    ]


@pytest.mark.parametrize(
    "spec",
    ["whatsapp.send", "whatsap.send=0.1:500", "whatsapp.sned=0.1:500", "whatsapp.send=2:500", "whatsapp.send=0.1:200"],
)
def test_bad_fault_spec_is_refused_at_start(make_settings: Callable[..., Settings], spec: str) -> None:
    with pytest.raises(ConfigError, match="FOLLOWTHROUGH_SANDBOX_FAULTS"):
        make_settings(followthrough_sandbox_faults=spec)


def test_provider_modes_follow_credentials_and_override(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(
        stripe_api_key="sk_test_x", hubspot_token="pat", followthrough_providers="hubspot=sandbox,llm=real"
    )
    modes = provider_modes(settings)
    assert (modes["stripe"], modes["hubspot"], modes["openai"], modes["whatsapp"]) == (
        "real",
        "sandbox",
        "real",
        "sandbox",
    )
    assert parse_provider_modes("bots=real") == {"discord": "real", "telegram": "real", "slack": "real"}
    with pytest.raises(ConfigError, match="FOLLOWTHROUGH_PROVIDERS"):
        make_settings(followthrough_providers="fax=real")


async def test_real_without_credentials_is_a_config_error(
    make_settings: Callable[..., Settings], outbox: Outbox
) -> None:
    with pytest.raises(ConfigError, match="WHATSAPP_TOKEN"):
        build_providers(make_settings(followthrough_providers="whatsapp=real"), outbox)


async def test_credentials_select_the_real_client(make_settings: Callable[..., Settings], outbox: Outbox) -> None:
    providers = build_providers(make_settings(whatsapp_token="t", whatsapp_phone_number_id="1"), outbox)
    try:
        assert isinstance(providers.messaging, WhatsAppClient)
        assert isinstance(providers.payments, SandboxPayments)
        assert set(providers.health_checks()) == {"provider.whatsapp"}
    finally:
        await providers.aclose()


# --- recording and faults ---------------------------------------------------------------------
async def test_sandbox_send_is_recorded_once_per_key(sandbox: Sandbox, outbox: Outbox) -> None:
    messaging = SandboxMessaging(sandbox)
    first = await messaging.send(message("m1"))
    again = await messaging.send(message("m1"))
    assert first.message_id == again.message_id and first.message_id.startswith("wamid.")
    entries = await outbox.entries(provider="whatsapp")
    assert [(e.operation, e.idempotency_key, e.status) for e in entries] == [("send", "m1", "sent")]
    assert entries[0].response == first.model_dump(mode="json")


async def test_a_sandbox_call_inside_the_activitys_outbox_call_leaves_one_row(sandbox: Sandbox, outbox: Outbox) -> None:
    messaging = SandboxMessaging(sandbox)

    async def call() -> dict[str, Any]:
        return (await messaging.send(message("m2"))).model_dump(mode="json")

    entry = await outbox.once(provider="whatsapp", operation="send", idempotency_key="m2", request={"n": 1}, call=call)
    rows = [e for e in await outbox.entries(provider="whatsapp") if e.idempotency_key == "m2"]
    assert [(e.status, e.attempts, e.request) for e in rows] == [("sent", 1, {"n": 1})]  # the activity's row
    assert rows[0].response == entry.response and str(entry.response["message_id"]).startswith("wamid.")


async def test_faults_are_seeded_and_repeat(outbox: Outbox) -> None:
    def run(seed: int) -> list[bool]:
        sandbox = Sandbox(outbox, parse_faults("whatsapp.send=0.5:503"), seed=seed)
        outcomes = []
        for i in range(40):
            try:
                sandbox.enter("whatsapp", "send", f"k{i}", {})
                outcomes.append(True)
            except RetryableError:
                outcomes.append(False)
        return outcomes

    assert run(7) == run(7)
    assert run(7) != run(8)
    assert 8 < run(7).count(False) < 32


def outcomes(sandbox: Sandbox, keys: list[str]) -> list[bool]:
    """Whether each call (one per key, in order) got through the sandbox's faults."""
    results = []
    for key in keys:
        try:
            sandbox.enter("whatsapp", "send", key, {"key": key})
            results.append(True)
        except RetryableError:
            results.append(False)
    return results


async def test_a_long_lived_sandbox_keeps_its_last_calls_and_attempts_only(
    outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = parse_faults("whatsapp.send=0.5:503")
    alone = outcomes(Sandbox(outbox, faults, seed=3), ["a"] * 8)  # attempts 1..8 of one key
    assert True in alone and False in alone

    monkeypatch.setattr(sandbox_module, "KEPT_CALLS", 3)
    sandbox = Sandbox(outbox, faults, seed=3)
    # "a" retried with two other keys in between is still counted: attempts 1-2, then 3-4 ...
    got = outcomes(sandbox, ["a", "a", "b", "c", "a", "a"])
    assert [got[i] for i in (0, 1, 4, 5)] == alone[:4]
    # ... and forgotten once three other keys came after it: it draws from attempt 1 again
    got = outcomes(sandbox, ["d", "e", "f", "a", "a"])
    assert got[3:] == alone[:2]
    assert [call[2]["key"] for call in sandbox.calls] == ["f", "a", "a"]  # the last three calls

    quiet = Sandbox(outbox)  # no faults: nothing to count, every call goes through
    assert outcomes(quiet, [f"k{i}" for i in range(10)]) == [True] * 10
    assert [call[2]["key"] for call in quiet.calls] == ["k7", "k8", "k9"]


async def test_fault_statuses_map_like_real_answers(outbox: Outbox) -> None:
    sandbox = Sandbox(outbox, parse_faults("whatsapp.send=1:401,stripe.checkout=1:timeout,hubspot.*=1:429"))
    with pytest.raises(AuthenticationError):
        await SandboxMessaging(sandbox).send(message("x"))
    with pytest.raises(RetryableError, match="timed out"):
        await SandboxPayments(sandbox).create_checkout(checkout())
    with pytest.raises(RetryableError) as info:
        await SandboxCRM(sandbox).upsert_contact(UpsertContactInput(email="a@b.c", idempotency_key="c"))
    assert info.value.retry_after == 1.0
    assert await outbox.entries(provider="whatsapp") == []  # a failed call records nothing


# --- payments ---------------------------------------------------------------------------------
async def test_sandbox_checkout_completes_through_the_helper(sandbox: Sandbox) -> None:
    payments = SandboxPayments(sandbox, checkout_base_url="http://127.0.0.1:8000")
    session = await payments.create_checkout(checkout())
    assert session.session_id.startswith("cs_sandbox_") and session.status == "open"
    assert session.url == f"http://127.0.0.1:8000/payments/sandbox/{session.session_id}"
    event = await complete_sandbox_checkout(payments, session.session_id)
    assert event.type == "checkout.session.completed"
    assert event.session.metadata["workflow_id"] == "payment-lead-1-ref"
    assert (await complete_sandbox_checkout(payments, session.session_id)).event_id == event.event_id
    current = await payments.get_checkout(GetCheckoutInput(session_id=session.session_id))
    assert (current.status, current.payment_status) == ("complete", "paid")
    assert current.paid_at == event.created_at  # the pay time, however much later it is read
    with pytest.raises(ValidationError, match="complete, not open"):
        await expire_sandbox_checkout(payments, session.session_id)


async def test_sandbox_checkout_expires_on_its_clock(sandbox: Sandbox) -> None:
    payments = SandboxPayments(sandbox)
    session = await payments.create_checkout(checkout("pay:exp"))
    with using_time(datetime.now(UTC) + timedelta(hours=25)):
        assert (await payments.get_checkout(GetCheckoutInput(session_id=session.session_id))).status == "expired"
        with pytest.raises(ValidationError):
            await complete_sandbox_checkout(payments, session.session_id)
    with pytest.raises(ValidationError, match="No such checkout"):
        await payments.get_checkout(GetCheckoutInput(session_id="cs_test_unknown"))


async def test_sandbox_checkout_ids_are_random_and_kept_per_idempotency_key(sandbox: Sandbox) -> None:
    payments = SandboxPayments(sandbox)
    first = await payments.create_checkout(checkout("payment:lead-1:ord-7:checkout"))
    again = await payments.create_checkout(checkout("payment:lead-1:ord-7:checkout"))
    other_reference = await payments.create_checkout(checkout("payment:lead-1:ord-8:checkout"))
    other_lead = await payments.create_checkout(checkout("payment:lead-2:ord-7:checkout"))

    assert again.session_id == first.session_id and again.url == first.url
    assert len({first.session_id, other_reference.session_id, other_lead.session_id}) == 3
    for session in (first, other_reference, other_lead):
        assert session.session_id.startswith("cs_sandbox_")
        assert "lead" not in session.session_id and "ord" not in session.session_id
    # Not the old derivation either: a fresh sandbox draws another id for the same key.
    assert first.session_id != "cs_test_" + sandbox_module.stable_id(
        "stripe", "payment:lead-1:ord-7:checkout", length=48
    )


async def test_another_process_finds_the_same_sandbox_checkout_under_the_key(outbox: Outbox) -> None:
    """The id is kept in the store, so a retry on another worker (another Sandbox) agrees."""
    first = await SandboxPayments(Sandbox(outbox)).create_checkout(checkout("payment:lead-1:ord-7:checkout"))
    retried = await SandboxPayments(Sandbox(outbox)).create_checkout(checkout("payment:lead-1:ord-7:checkout"))
    assert retried == first


# --- calendar, linkedin, bots -----------------------------------------------------------------
async def test_sandbox_booking_and_cancel(sandbox: Sandbox) -> None:
    calendar = SandboxCalendar(sandbox)
    start = datetime(2030, 3, 4, 15, 0, tzinfo=UTC)
    booking = await calendar.create_booking(
        CreateBookingInput(start=start, attendee_name="A", attendee_email="a@b.c", idempotency_key="b1")
    )
    assert booking.end - booking.start == timedelta(minutes=30) and booking.status == "accepted"
    cancelled = await calendar.cancel_booking(CancelBookingInput(uid=booking.uid, idempotency_key="c1"))
    assert cancelled.status == "cancelled"
    with pytest.raises(ValidationError, match="not found"):
        await calendar.cancel_booking(CancelBookingInput(uid="nope", idempotency_key="c2"))
    slots = await calendar.list_slots(ListSlotsInput(start=start, end=start + timedelta(days=1)))
    assert slots.slots[0] == start and all(9 <= s.hour < 17 for s in slots.slots)


async def test_sandbox_invitation_is_accepted_after_the_delay(sandbox: Sandbox) -> None:
    linkedin = SandboxLinkedIn(sandbox, accept_after=timedelta(hours=2))
    t0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    with using_time(t0):
        invitation = await linkedin.send_invitation(
            SendInvitationInput(account_id="acc", identifier="jane-doe", idempotency_key="inv1")
        )
    status = InvitationStatusInput(account_id="acc", identifier="jane-doe", invitation_id=invitation.invitation_id)
    with using_time(t0 + timedelta(hours=1)):
        assert (await linkedin.invitation_status(status)).status == "pending"
    with using_time(t0 + timedelta(hours=2)):
        assert (await linkedin.invitation_status(status)).status == "accepted"
        withdraw = WithdrawInvitationInput(
            account_id="acc", invitation_id=invitation.invitation_id, idempotency_key="w"
        )
        assert (await linkedin.withdraw_invitation(withdraw)).withdrawn is False


async def test_sandbox_withdrawn_invitation_stays_withdrawn(sandbox: Sandbox) -> None:
    linkedin = SandboxLinkedIn(sandbox, accept_after=timedelta(0))
    invitation = await linkedin.send_invitation(
        SendInvitationInput(account_id="acc", identifier="never-accepts-bob", idempotency_key="inv2")
    )
    status = InvitationStatusInput(account_id="acc", identifier="x", invitation_id=invitation.invitation_id)
    assert (await linkedin.invitation_status(status)).status == "pending"
    withdraw = WithdrawInvitationInput(account_id="acc", invitation_id=invitation.invitation_id, idempotency_key="w2")
    assert (await linkedin.withdraw_invitation(withdraw)).withdrawn is True
    assert (await linkedin.invitation_status(status)).status == "withdrawn"


async def test_sandbox_bots(sandbox: Sandbox) -> None:
    bots = BotPlatforms({"telegram": SandboxBots(sandbox, "telegram")})
    identity = await bots.register(RegisterBotInput(platform="telegram", token="123:abc", idempotency_key="r"))
    assert identity.username.startswith("sandbox_telegram_")
    await bots.set_webhook(
        SetWebhookInput(platform="telegram", token="123:abc", url="https://x.test/h", idempotency_key="w")
    )
    assert (await bots.health(BotHealthInput(platform="telegram", token="123:abc"))).webhook_url == "https://x.test/h"
    assert (
        await bots.unregister(UnregisterBotInput(platform="telegram", token="123:abc", idempotency_key="u"))
    ).removed
    assert (await bots.health(BotHealthInput(platform="telegram", token="123:abc"))).webhook_url is None
    with pytest.raises(AuthenticationError):
        await bots.register(RegisterBotInput(platform="telegram", token="invalid-token", idempotency_key="r2"))


# --- llm --------------------------------------------------------------------------------------
GRADER = 'Score it 0-100. Answer with JSON only: {"score": <int>, "notes": "<what to improve>"}.'
GOOD_DRAFT = "# Follow-ups that finish\nEvery lead gets its follow-up, even when a server restarts mid-way."


async def test_sandbox_llm_grades_deterministically_by_the_brief(sandbox: Sandbox) -> None:
    llm = SandboxLLM(sandbox)

    async def grade(brief: str, draft: str) -> dict[str, Any]:
        answer = await llm.complete(CompleteInput(system=GRADER, prompt=f"Brief: {brief}\n\nDraft:\n{draft}"))
        return json.loads(answer.text)

    good = await grade('{"topic": "durable follow-ups"}', GOOD_DRAFT)
    assert 80 <= good["score"] <= 99 and good == await grade('{"topic": "durable follow-ups"}', GOOD_DRAFT)
    marked = await grade(f'{{"topic": "durable follow-ups {SANDBOX_REJECT_MARKER}"}}', GOOD_DRAFT)
    assert 20 <= marked["score"] <= 39 and SANDBOX_REJECT_MARKER in marked["notes"]
    for stub in ("", "# Title\nToo short."):
        short = await grade('{"topic": "durable follow-ups"}', stub)
        assert 20 <= short["score"] <= 39 and "fewer than 8" in short["notes"]


async def test_sandbox_llm_writes_text_when_not_asked_for_a_score(sandbox: Sandbox) -> None:
    answer = await SandboxLLM(sandbox).complete(CompleteInput(system="You write.", prompt="Topic: durable follow-ups"))
    assert answer.text == "[sandbox completion] Topic: durable follow-ups"
