"""Pure rules of deployments and notifications."""

from __future__ import annotations

import pydantic
import pytest

from followthrough.processes.deployments.rules import (
    BotDeploymentInput,
    UnsealError,
    config_problems,
    is_secret_key,
    redact,
    seal,
    seal_config,
    unseal,
)
from followthrough.processes.notifications.rules import (
    ChannelDelivery,
    Recipient,
    SendNotificationInput,
    address_for,
    default_channels,
    delivery_key,
    overall_status,
)

KEY = bytes(range(32))


def test_a_sealed_secret_opens_only_with_its_key_and_context() -> None:
    sealed = seal("tok-123", KEY, context="bot-a")
    assert "tok-123" not in sealed.sealed and "tok-123" not in repr(sealed)
    assert unseal(sealed, KEY, context="bot-a") == "tok-123"
    with pytest.raises(UnsealError):
        unseal(sealed, KEY, context="bot-b")
    with pytest.raises(UnsealError):
        unseal(sealed, b"x" * 32, context="bot-a")


@pytest.mark.parametrize("key", ["token", "bot_token", "botToken", "signing_secret", "api-key", "apiKey", "password"])
def test_secret_keys_are_recognised(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["webhook_url", "phone_number_id", "application_id", "guild"])
def test_plain_keys_are_not_secrets(key: str) -> None:
    assert not is_secret_key(key)


def test_seal_config_splits_public_and_sealed() -> None:
    public, secrets = seal_config({"token": "t", "webhook_url": "https://x"}, KEY, context="b")
    assert public == {"webhook_url": "https://x"} and set(secrets) == {"token"}


def test_the_input_refuses_a_token_in_clear() -> None:
    with pytest.raises(pydantic.ValidationError, match="token must not be given in clear"):
        BotDeploymentInput(bot_name="b", bot_type="discord", config={"token": "abc"}, owner="o")


def test_config_problems_per_bot_type() -> None:
    assert config_problems("discord", {}, {"token": "x"}) == []
    assert config_problems("telegram", {"webhook_url": "http://x"}, {"token": "bad"}) == [
        "config 'webhook_url' must be an https:// URL",
        "secret 'token' does not look like a telegram token",
    ]
    assert config_problems("slack", {}, {}) == [
        "secret 'token' is required for a slack bot",
        "secret 'signing_secret' is required for a slack bot",
        "config 'webhook_url' is required for a slack bot",
    ]


def test_redact_scrubs_clear_and_url_quoted_secrets() -> None:
    text = "GET https://api.telegram.org/bot123:abc/getMe failed (bot123%3Aabc)"
    assert redact(text, ["123:abc"]) == "GET https://api.telegram.org/bot***/getMe failed (bot***)"


def test_notification_rules() -> None:
    everyone = Recipient(phone="+5215512345678", email="a@b.co", webhook_url="https://h.example")
    assert default_channels(everyone, default_webhook=False) == ["whatsapp", "email", "webhook"]
    assert default_channels(Recipient(), default_webhook=True) == ["webhook"]
    assert default_channels(Recipient(), default_webhook=False) == []
    assert address_for("email", Recipient()) == (None, "no email address for this user")
    assert address_for("webhook", Recipient()) == (None, None)  # falls back to NOTIFICATION_WEBHOOK_URL
    assert delivery_key("n1", "email") == "notification:n1:email"
    ok, bad = ChannelDelivery(channel="email", status="delivered"), ChannelDelivery(channel="webhook", status="failed")
    assert (overall_status([ok]), overall_status([ok, bad]), overall_status([bad])) == (
        "delivered",
        "partial",
        "failed",
    )


def test_the_seed_body_shape_is_accepted_and_channels_are_listed_once() -> None:
    n = SendNotificationInput.model_validate(
        {"notificationId": "n1", "userId": "user123", "message": "hi", "type": "verification", "channels": ["email"]}
    )
    assert (n.user_id, n.notification_id) == ("user123", "n1")
    with pytest.raises(pydantic.ValidationError, match="list each channel once"):
        SendNotificationInput(notification_id="n", user_id="u", message="m", channels=["email", "email"])
