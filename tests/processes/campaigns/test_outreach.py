"""From a graph node to the provider call it makes (pure): inputs, rendering, skips."""

from __future__ import annotations

from followthrough.processes.campaigns.graph import (
    DelayNode,
    LikePostConfig,
    LikePostNode,
    ProfileVisitNode,
    SendInvitationConfig,
    SendInvitationNode,
    SendMessageConfig,
    SendMessageNode,
    SendWhatsAppConfig,
    SendWhatsAppNode,
    WhatsAppTemplateRef,
    WithdrawInvitationNode,
)
from followthrough.processes.campaigns.steps import LeadProfile, SenderProfile, idempotency_key, provider_call
from followthrough.providers.contracts.linkedin import LikePostsInput, SendInvitationInput, VisitProfileInput
from followthrough.providers.contracts.messaging import SendMessageInput

LEAD = LeadProfile(
    lead_id="l1",
    linkedin_url="https://www.linkedin.com/in/ana-perez/",
    first_name="Ana",
    company="Acme",
    phone="+34600111222",
    data={"city": "Madrid", "score": 7},
)
SENDER = SenderProfile(account_id="acct-1", provider_account_id="unipile-1")


def call(node: object, lead: LeadProfile = LEAD, invitation_id: str | None = None):  # type: ignore[no-untyped-def]
    return provider_call(node, lead=lead, sender=SENDER, key="k", invitation_id=invitation_id)  # type: ignore[arg-type]


def test_visit_uses_the_providers_account_and_the_public_identifier() -> None:
    made = call(ProfileVisitNode(id="v"))
    assert made.activity == "linkedin.visit_profile"
    assert made.arg == VisitProfileInput(account_id="unipile-1", identifier="ana-perez", idempotency_key="k")


def test_like_posts_carries_its_config() -> None:
    made = call(LikePostNode(id="l", config=LikePostConfig(number_of_posts=3, recent_post_days=14)))
    assert isinstance(made.arg, LikePostsInput)
    assert (made.arg.number_of_posts, made.arg.recent_post_days) == (3, 14)


def test_invitation_note_and_message_are_rendered_for_the_lead() -> None:
    note = call(SendInvitationNode(id="i", config=SendInvitationConfig(note="Hi {first_name} from {city}")))
    assert isinstance(note.arg, SendInvitationInput) and note.arg.note == "Hi Ana from Madrid"
    message = call(SendMessageNode(id="m", config=SendMessageConfig(template="{first_name} at {company}")))
    assert message.arg.text == "Ana at Acme"


def test_a_message_that_renders_empty_is_skipped() -> None:
    made = call(SendMessageNode(id="m", config=SendMessageConfig(template="{nickname}")))
    assert made.activity is None and made.skip == "the message is empty for this lead"


def test_linkedin_actions_without_an_identifier_are_skipped() -> None:
    nobody = LeadProfile(lead_id="l2", first_name="X")
    assert call(ProfileVisitNode(id="v"), lead=nobody).skip == "the lead has no LinkedIn id or URL"


def test_withdraw_needs_an_invitation() -> None:
    assert call(WithdrawInvitationNode(id="w")).skip == "no invitation was sent to withdraw"
    made = call(WithdrawInvitationNode(id="w"), invitation_id="inv-1")
    assert made.activity == "linkedin.withdraw_invitation" and made.arg.invitation_id == "inv-1"


def test_whatsapp_text_and_template() -> None:
    text = call(SendWhatsAppNode(id="w", config=SendWhatsAppConfig(text="Hola {first_name}")))
    assert text.activity == "messaging.send"
    assert text.arg == SendMessageInput(to="+34600111222", text="Hola Ana", idempotency_key="k")
    template = call(
        SendWhatsAppNode(
            id="w",
            config=SendWhatsAppConfig(
                template=WhatsAppTemplateRef(name="intro", language="es", parameters=["{company}"])
            ),
        )
    )
    assert template.arg.template.parameters == ["Acme"]


def test_a_lead_whose_data_does_not_fit_is_skipped_not_crashed() -> None:
    bad_phone = LEAD.model_copy(update={"phone": "600 11 12 22"})
    made = call(SendWhatsAppNode(id="w", config=SendWhatsAppConfig(text="Hola")), lead=bad_phone)
    assert made.activity is None and made.skip is not None and "to" in made.skip
    assert (
        call(
            SendWhatsAppNode(id="w", config=SendWhatsAppConfig(text="Hola")),
            lead=LEAD.model_copy(update={"phone": None}),
        ).skip
        == "the lead has no phone number"
    )


def test_idempotency_keys_are_per_node_and_bounded() -> None:
    assert idempotency_key("c", "l", "n") == "outreach:c:l:n"
    long = idempotency_key("c" * 64, "l" * 64, "n" * 200)
    assert len(long) <= 255 and long.startswith("outreach:")
    assert long == idempotency_key("c" * 64, "l" * 64, "n" * 200)


def test_profile_fields_and_has() -> None:
    assert LEAD.has("phone") and LEAD.has("city") and LEAD.has("company")
    assert not LEAD.has("email")
    assert LEAD.fields()["name"] == "Ana"


def test_a_delay_is_not_an_action() -> None:
    import pytest

    with pytest.raises(ValueError, match="not an action"):
        call(DelayNode(id="d", duration=1))
