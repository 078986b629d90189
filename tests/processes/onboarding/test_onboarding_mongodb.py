"""UserOnboardingWorkflow across a SQL store and a MongoDB store (time-skipping): created in
both, and undone in both when a later store refuses the user. MongoDB is the driver fake of
``tests/mongodb_fake.py``; SQLite is real."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from followthrough.catalog import activity_methods
from followthrough.config import Settings
from followthrough.processes.onboarding.activities import UserStoreActivities
from followthrough.processes.onboarding.rules import OnboardingInput, OnboardingResult, onboarding_workflow_id
from followthrough.processes.onboarding.workflow import UserOnboardingWorkflow
from followthrough.providers.user_stores import UserStores
from followthrough.services import Services
from tests.mongodb_fake import FakeMongo, install
from tests.processes.onboarding.test_onboarding import Sent

MONGO = "mongodb://mongo.local:27017/nexpo"


@pytest.fixture
def fake_mongo(monkeypatch: pytest.MonkeyPatch) -> FakeMongo:
    return install(monkeypatch)


async def _onboard(
    env: WorkflowEnvironment, base: Services, make_settings: Callable[..., Settings], urls: dict[str, str], email: str
) -> OnboardingResult:
    spec = ",".join(f"{name}={url}" for name, url in urls.items())
    services = Services(settings=make_settings(user_stores=spec), database=base.database)
    input = OnboardingInput(email=email, name="Ada Lovelace", phone="+34600111222")
    tq = f"tq-{uuid.uuid4()}"
    acts = [*activity_methods(UserStoreActivities(services)), Sent().send]
    async with Worker(env.client, task_queue=tq, workflows=[UserOnboardingWorkflow], activities=acts):
        return await env.client.execute_workflow(
            UserOnboardingWorkflow.run, input, id=onboarding_workflow_id(email, b"k" * 32), task_queue=tq
        )


async def test_onboarding_writes_a_sql_store_and_a_mongodb_store(
    ts_env: WorkflowEnvironment,
    services: Services,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    fake_mongo: FakeMongo,
) -> None:
    urls = {"local": f"sqlite+aiosqlite:///{tmp_path / 'local.db'}", "docs": MONGO}
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    result = await _onboard(ts_env, services, make_settings, urls, email)
    stores = UserStores(urls)
    try:
        found = {name: (await stores.get_user(name, email=email) or {}).get("id") for name in urls}
    finally:
        await stores.close()
    assert result.success and result.created_in == ["local", "docs"]
    assert found == {"local": result.user_id, "docs": result.user_id}


async def test_a_refusal_after_both_stores_undoes_the_mongodb_and_the_sql_user(
    ts_env: WorkflowEnvironment,
    services: Services,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    fake_mongo: FakeMongo,
) -> None:
    urls = {
        "local": f"sqlite+aiosqlite:///{tmp_path / 'local.db'}",
        "docs": MONGO,
        "last": f"sqlite+aiosqlite:///{tmp_path / 'last.db'}",
    }
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    stores = UserStores(urls)
    try:  # the last store has this email under another user id: a permanent refusal there
        await stores.create_user("last", user_id="someone-else", email=email, name=None, onboarding_id="older")
        result = await _onboard(ts_env, services, make_settings, urls, email)
        found = {name: await stores.get_user(name, email=email) for name in urls}
    finally:
        await stores.close()
    assert not result.success and result.failed_store == "last" and result.error_type == "ValidationError"
    assert result.compensated == ["docs", "local"]
    assert found["local"] is None and found["docs"] is None  # undone in both, MongoDB first
    assert (found["last"] or {}).get("id") == "someone-else"  # the other user is untouched
