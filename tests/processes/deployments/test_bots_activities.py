"""Bot activities: tokens never reach the outbox; invalid tokens are non-retryable."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from followthrough.processes.deployments.bot_activities import BotsActivities
from followthrough.providers.contracts.bots import RegisterBotInput
from followthrough.services import Services


async def test_register_masks_the_token_in_the_outbox(services: Services) -> None:
    identity = await ActivityEnvironment().run(
        BotsActivities(services).register,
        RegisterBotInput(platform="discord", token="MTIz.secret-token-value", idempotency_key="deployment-b1:register"),
    )
    entry = await services.providers.outbox.get("deployment-b1:register")
    assert entry is not None and entry.provider == "discord"
    assert "secret-token" not in str(entry.request) and entry.request["token"] == "***alue"
    assert entry.response == identity.model_dump(mode="json")


async def test_invalid_token_is_authentication_error(services: Services) -> None:
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(
            BotsActivities(services).register,
            RegisterBotInput(platform="telegram", token="invalid", idempotency_key="deployment-b2:register"),
        )
    assert (info.value.type, info.value.non_retryable) == ("AuthenticationError", True)
