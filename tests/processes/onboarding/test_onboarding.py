"""UserOnboardingWorkflow against real SQLite, PostgreSQL and MariaDB stores (time-skipping)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from followthrough.catalog import activity_methods
from followthrough.config import Settings
from followthrough.processes.onboarding.activities import UserStoreActivities
from followthrough.processes.onboarding.rules import (
    DeleteStoreUserInput,
    OnboardingInput,
    OnboardingResult,
    onboarding_workflow_id,
)
from followthrough.processes.onboarding.workflow import UserOnboardingWorkflow
from followthrough.providers.contracts.messaging import SendMessageInput, SendMessageResult
from followthrough.providers.user_stores import UserStores
from followthrough.services import Services
from followthrough.temporal.devserver import free_port
from tests.backends import (
    backend_urls,
    drop_tables,
    execute,
    require_all_backends,
    server_url,
    tcp_proxy,
    unique_table,
)


class Sent:
    """A fake ``messaging.send`` under the contract name, recording what it was asked."""

    def __init__(self) -> None:
        self.calls: list[SendMessageInput] = []

    @activity.defn(name="messaging.send")
    async def send(self, input: SendMessageInput) -> SendMessageResult:
        self.calls.append(input)
        return SendMessageResult(message_id=f"wamid.{len(self.calls)}", to=input.to)


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[dict[str, str], str]]:
    """Every backend of this machine as a user store, with a users table unique to the test."""
    urls, table = backend_urls(tmp_path), unique_table()
    try:
        yield urls, table
    finally:
        await drop_tables(urls, table)


def _services(base: Services, make_settings: Callable[..., Settings], urls: dict[str, str], table: str) -> Services:
    spec = ",".join(f"{name}={url}" for name, url in urls.items())
    return Services(settings=make_settings(user_stores=spec, user_stores_table=table), database=base.database)


async def _onboard(
    env: WorkflowEnvironment, services: Services, input: OnboardingInput, sent: Sent | None = None
) -> OnboardingResult:
    tq = f"tq-{uuid.uuid4()}"
    acts = [*activity_methods(UserStoreActivities(services)), (sent or Sent()).send]
    async with Worker(env.client, task_queue=tq, workflows=[UserOnboardingWorkflow], activities=acts):
        return await env.client.execute_workflow(UserOnboardingWorkflow.run, input, id=_id(input), task_queue=tq)


#: The ids' key (the API derives its own from FOLLOWTHROUGH_SECRETS_KEY).
ID_KEY = b"k" * 32


def _id(input: OnboardingInput) -> str:
    return onboarding_workflow_id(input.email, ID_KEY)


async def _rows(urls: dict[str, str], table: str, email: str) -> dict[str, list[dict[str, object]]]:
    return {
        name: await execute(url, f"SELECT id, onboarding_id FROM {table} WHERE email = :e", e=email)
        for name, url in urls.items()
    }


def _email() -> str:
    return f"ada-{uuid.uuid4().hex[:8]}@example.com"


async def test_creates_the_user_in_every_store_in_order_then_welcomes(
    ts_env: WorkflowEnvironment, services: Services, make_settings: Callable[..., Settings], stores: Any
) -> None:
    urls, table = stores
    sent = Sent()
    input = OnboardingInput(email=_email(), name="Ada Lovelace", phone="+34600111222")
    result = await _onboard(ts_env, _services(services, make_settings, urls, table), input, sent)

    assert result.success and result.created_in == list(urls) and result.compensated == []
    rows = await _rows(urls, table, input.email)
    assert all(len(found) == 1 and found[0]["id"] == result.user_id for found in rows.values())
    assert result.welcome_message_id == "wamid.1"
    assert sent.calls[0].to == "+34600111222" and "Ada" in (sent.calls[0].text or "")


async def test_permanent_failure_in_the_last_store_leaves_the_user_in_none(
    ts_env: WorkflowEnvironment, services: Services, make_settings: Callable[..., Settings], stores: Any
) -> None:
    """Across the three real engines: the last store refuses the row (a CHECK constraint)."""
    require_all_backends()
    urls, table = stores
    urls = {"local": urls["local"], "analytics": urls["analytics"], "primary": urls["primary"]}
    last = "primary"
    # The last store's table exists already and refuses this domain: a permanent refusal.
    engine_stores = UserStores({last: urls[last]}, table=table)
    await engine_stores.ensure_users_table(last)
    await execute(
        urls[last], f"ALTER TABLE {table} ADD CONSTRAINT {table}_no_refused CHECK (email NOT LIKE '%@refused.example')"
    )
    email = f"ada-{uuid.uuid4().hex[:8]}@refused.example"
    sent = Sent()

    result = await _onboard(
        ts_env,
        _services(services, make_settings, urls, table),
        OnboardingInput(email=email, phone="+34600111222"),
        sent,
    )

    assert not result.success
    assert result.failed_store == last and result.error_type == "ValidationError"
    assert result.compensated == ["analytics", "local"]
    assert result.created_in == []
    assert await _rows(urls, table, email) == {name: [] for name in urls}
    assert sent.calls == []  # no welcome for a user who does not exist


async def test_the_same_email_twice_is_idempotent(
    ts_env: WorkflowEnvironment, services: Services, make_settings: Callable[..., Settings], stores: Any
) -> None:
    urls, table = stores
    svc = _services(services, make_settings, urls, table)
    sent = Sent()
    email = _email()
    first = await _onboard(ts_env, svc, OnboardingInput(email=email, name="Ada", phone="+34600111222"), sent)
    # Same email, other spelling: same workflow id, same user, no second row anywhere.
    again = OnboardingInput(email=f"  {email.upper()} ", name="Ada", phone="+34600111222")
    assert _id(again) == onboarding_workflow_id(email, ID_KEY)
    second = await _onboard(ts_env, svc, again, sent)

    assert second.success and second.user_id == first.user_id and second.created_in == first.created_in
    rows = await _rows(urls, table, email)
    assert all(len(found) == 1 for found in rows.values())
    # The welcome is sent under one idempotency key, so the outbox keeps it to one message.
    assert len({call.idempotency_key for call in sent.calls}) == 1


async def test_rollback_never_deletes_a_user_that_was_there_before(
    ts_env: WorkflowEnvironment, services: Services, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    urls = {"a": f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", "b": f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"}
    table = unique_table()
    email = _email()
    input = OnboardingInput(email=email)
    existing = UserStores({"a": urls["a"]}, table=table)
    user_id = input.user_id_under(_id(input))
    assert await existing.create_user("a", user_id=user_id, email=email, name=None, onboarding_id="crm-import")
    b = UserStores({"b": urls["b"]}, table=table)
    await b.ensure_users_table("b")
    await execute(
        urls["b"], f"CREATE TRIGGER refuse BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )

    result = await _onboard(ts_env, _services(services, make_settings, urls, table), input)

    assert not result.success and result.failed_store == "b"
    assert result.already_present_in == ["a"] and result.compensated == []
    assert (await _rows(urls, table, email))["a"] == [{"id": user_id, "onboarding_id": "crm-import"}]


async def test_a_store_that_is_down_then_recovers_is_retried_not_compensated(
    ts_env: WorkflowEnvironment, services: Services, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """PostgreSQL behind a port that refuses connections until the 'outage' ends."""
    require_all_backends()
    postgres, port = make_url(server_url("postgresql") or ""), free_port()
    proxied = postgres.set(port=port).render_as_string(hide_password=False)
    table = unique_table()
    urls = {"local": f"sqlite+aiosqlite:///{tmp_path / 'l.db'}", "primary": proxied}
    direct = {"local": urls["local"], "primary": postgres.render_as_string(hide_password=False)}
    svc = _services(services, make_settings, urls, table)
    email = _email()
    tq = f"tq-{uuid.uuid4()}"
    acts = [*activity_methods(UserStoreActivities(svc)), Sent().send]
    try:
        async with Worker(ts_env.client, task_queue=tq, workflows=[UserOnboardingWorkflow], activities=acts):
            handle = await ts_env.client.start_workflow(
                UserOnboardingWorkflow.run, OnboardingInput(email=email), id=f"onb-{uuid.uuid4()}", task_queue=tq
            )
            await _wait_for_failed_attempts(handle, 2)
            async with tcp_proxy(port, postgres.port or 5432):
                result = await handle.result()
        rows = await _rows(direct, table, email)
    finally:
        await drop_tables(direct, table)

    assert result.success and result.created_in == ["local", "primary"] and result.compensated == []
    assert all(len(found) == 1 for found in rows.values())


async def _wait_for_failed_attempts(handle: Any, attempts: int) -> None:
    """Until the pending create_user activity has failed ``attempts`` times (store down)."""
    for _ in range(200):
        desc = await handle.describe()
        pending = desc.raw_description.pending_activities
        # The failure's message is encrypted (the codec encodes failures); its type is not.
        failure = pending[0].last_failure if pending else None
        if failure and pending[0].attempt > attempts and failure.application_failure_info.type == "RetryableError":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the activity never failed against the down store")


class RecordingStores(UserStoreActivities):
    """The real user-store activities, noting which store each delete went to, in order."""

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.deleted: list[str] = []

    @activity.defn(name="user_stores.delete_user")
    async def delete_user(self, input: DeleteStoreUserInput) -> bool:
        self.deleted.append(input.store)
        return await super().delete_user(input)


async def test_cancel_mid_saga_undoes_the_stores_written_newest_first(
    ts_env: WorkflowEnvironment, services: Services, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    urls = {
        "a": f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
        "b": f"sqlite+aiosqlite:///{tmp_path / 'b.db'}",
        "down": "postgresql+asyncpg://x@127.0.0.1:1/none",
    }
    written = {name: url for name, url in urls.items() if name != "down"}
    table = unique_table()
    stores = RecordingStores(_services(services, make_settings, urls, table))
    email = _email()
    tq = f"tq-{uuid.uuid4()}"
    acts: list[Callable[..., Any]] = [stores.plan, stores.create_user, stores.delete_user, Sent().send]
    async with Worker(ts_env.client, task_queue=tq, workflows=[UserOnboardingWorkflow], activities=acts):
        handle = await ts_env.client.start_workflow(
            UserOnboardingWorkflow.run, OnboardingInput(email=email), id=f"onb-{uuid.uuid4()}", task_queue=tq
        )
        await _wait_for_failed_attempts(handle, 1)
        assert all(found for found in (await _rows(written, table, email)).values())
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert isinstance(failure.value.cause, CancelledError)
    assert stores.deleted == ["b", "a"]
    assert await _rows(written, table, email) == {"a": [], "b": []}


async def test_record_history_for_replay(
    ts_env: WorkflowEnvironment, services: Services, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    from tests.record import HISTORIES, save_history

    urls = {"a": f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", "b": f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"}
    svc = _services(services, make_settings, urls, unique_table())
    tq = f"tq-{uuid.uuid4()}"
    acts = [*activity_methods(UserStoreActivities(svc)), Sent().send]
    path = HISTORIES / "onboarding" / "two_stores_welcomed.json"
    async with Worker(ts_env.client, task_queue=tq, workflows=[UserOnboardingWorkflow], activities=acts):
        handle = await ts_env.client.start_workflow(
            UserOnboardingWorkflow.run,
            OnboardingInput(email="recorded@example.com", phone="+34600111222"),
            id="onboarding-recorded",
            task_queue=tq,
        )
        assert (await handle.result()).success
        if os.environ.get("RECORD_HISTORIES") == "1" or not path.exists():
            await save_history(handle, "onboarding", "two_stores_welcomed")
    assert path.exists()
