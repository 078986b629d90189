"""IntegrationSyncWorkflow on the time-skipping server, with fake activities under the contract names."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from followthrough.leads.models import (
    ConversationMessage,
    Lead,
    RecentConversation,
    RecentConversationInput,
    SaveMemoryInput,
)
from followthrough.processes.integrations.rules import IntegrationSyncInput, IntegrationSyncResult
from followthrough.processes.integrations.workflow import IntegrationSyncWorkflow
from followthrough.providers.contracts.conversions import SendEventInput, SendEventResult
from followthrough.providers.contracts.crm import UpsertContactInput, UpsertContactResult
from followthrough.providers.contracts.llm import CompleteInput, CompleteResult

LEAD = Lead(id="lead-3", phone="+5215511112222", name="María José Ruiz", email="mj@example.com", language="es")
AT = datetime(2025, 5, 1, 18, 30, tzinfo=UTC)


@dataclass
class Fakes:
    calls: dict[str, list[Any]] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)

    def _note(self, name: str, arg: Any) -> None:
        self.calls.setdefault(name, []).append(arg)
        if name in self.failing:
            raise ApplicationError(f"{name} refused", type="AuthenticationError", non_retryable=True)

    def activities(self) -> list[Any]:
        @activity.defn(name="crm.upsert_contact")
        async def upsert(input: UpsertContactInput) -> UpsertContactResult:
            self._note("crm", input)
            return UpsertContactResult(contact_id="hs-501", created=True)

        @activity.defn(name="conversions.send_event")
        async def send_event(input: SendEventInput) -> SendEventResult:
            self._note("capi", input)
            return SendEventResult(events_received=1, fbtrace_id="trace-1")

        @activity.defn(name="leads.recent_conversation")
        async def recent(input: RecentConversationInput) -> RecentConversation:
            self._note("conversation", input)
            return RecentConversation(
                lead_id=input.lead_id,
                messages=[ConversationMessage(direction="inbound", text="¿Cuánto cuesta el plan Pro?", at=AT)],
            )

        @activity.defn(name="llm.complete")
        async def complete(input: CompleteInput) -> CompleteResult:
            self._note("llm", input)
            return CompleteResult(text="- Pregunta por el precio del plan Pro\n", model="fake")

        @activity.defn(name="leads.save_memory")
        async def save_memory(input: SaveMemoryInput) -> bool:
            self._note("save", input)
            return True

        return [upsert, send_event, recent, complete, save_memory]


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
async def worker(ts_env: WorkflowEnvironment, fakes: Fakes, task_queue: str) -> AsyncIterator[Worker]:
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=[IntegrationSyncWorkflow], activities=fakes.activities()
    ) as running:
        yield running


async def _run(env: WorkflowEnvironment, task_queue: str, **fields: Any) -> IntegrationSyncResult:
    values: dict[str, Any] = {"lead": LEAD, "event": "demo_scheduled", "event_id": "bk-1", "occurred_at": AT}
    values.update(fields)
    return await env.client.execute_workflow(
        IntegrationSyncWorkflow.run,
        IntegrationSyncInput(**values),
        id=f"integration-{uuid.uuid4()}",
        task_queue=task_queue,
    )


async def test_every_target_is_synced_and_reported(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    result = await _run(ts_env, task_queue)
    by_target = {t.target: t for t in result.targets}
    assert result.ok and set(by_target) == {"hubspot", "meta_capi", "memory"}
    assert by_target["hubspot"].external_id == "hs-501"
    assert by_target["memory"].detail == "- Pregunta por el precio del plan Pro"
    [crm] = fakes.calls["crm"]
    assert (crm.first_name, crm.last_name, crm.email, crm.lifecycle_stage) == (
        "María",
        "José Ruiz",
        "mj@example.com",
        "salesqualifiedlead",
    )
    assert crm.idempotency_key == "sync:lead-3:hubspot:demo_scheduled:bk-1"
    [capi] = fakes.calls["capi"]
    assert capi.event_name == "Schedule" and capi.event_time == AT and capi.value is None
    [llm] = fakes.calls["llm"]
    assert "¿Cuánto cuesta el plan Pro?" in llm.prompt and "Lead language: es" in llm.prompt
    [saved] = fakes.calls["save"]
    assert (saved.lead_id, saved.summary) == ("lead-3", "- Pregunta por el precio del plan Pro")
    assert saved.updated_at.tzinfo is not None


async def test_a_memory_that_cannot_be_saved_fails_only_the_memory_target(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    fakes.failing = {"save"}
    result = await _run(ts_env, task_queue)
    by_target = {t.target: t for t in result.targets}
    assert not by_target["memory"].ok and by_target["memory"].detail == "AuthenticationError: save refused"
    assert by_target["hubspot"].ok and by_target["meta_capi"].ok
    assert len(fakes.calls["llm"]) == 1  # the summary was made; only keeping it failed


@pytest.mark.parametrize(
    ("event", "conversion"),
    [("lead_created", "Lead"), ("demo_scheduled", "Schedule"), ("payment_completed", "Purchase")],
)
async def test_the_conversion_event_matches_the_lead_event(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str, event: str, conversion: str
) -> None:
    await _run(ts_env, task_queue, event=event, value=149900, currency="mxn", targets=["meta_capi"])
    [capi] = fakes.calls["capi"]
    assert capi.event_name == conversion
    assert (capi.value, capi.currency) == ((149900, "mxn") if conversion == "Purchase" else (None, None))
    assert "crm" not in fakes.calls and "llm" not in fakes.calls


async def test_one_failing_target_does_not_block_the_others(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    fakes.failing = {"crm"}
    result = await _run(ts_env, task_queue)
    by_target = {t.target: t for t in result.targets}
    assert not result.ok
    assert not by_target["hubspot"].ok and by_target["hubspot"].detail == "AuthenticationError: crm refused"
    assert by_target["meta_capi"].ok and by_target["memory"].ok


async def test_every_target_failing_is_still_a_result(
    ts_env: WorkflowEnvironment, worker: Worker, fakes: Fakes, task_queue: str
) -> None:
    fakes.failing = {"crm", "capi", "llm"}
    result = await _run(ts_env, task_queue)
    assert [t.ok for t in result.targets] == [False, False, False]


async def test_record_history_for_replay(ts_env: WorkflowEnvironment, fakes: Fakes, task_queue: str) -> None:
    """tests/histories/integration_sync/one_target_failed.json."""
    from tests.record import HISTORIES, save_history

    path = HISTORIES / "integration_sync" / "one_target_failed.json"
    fakes.failing = {"capi"}
    async with Worker(
        ts_env.client, task_queue=task_queue, workflows=[IntegrationSyncWorkflow], activities=fakes.activities()
    ):
        handle = await ts_env.client.start_workflow(
            IntegrationSyncWorkflow.run,
            IntegrationSyncInput(lead=LEAD, event="demo_scheduled", event_id="bk-1", occurred_at=AT),
            id="integration-lead-3-demo_scheduled-bk-1",
            task_queue=task_queue,
        )
        await handle.result()
        if os.environ.get("RECORD_HISTORIES") == "1" or not path.exists():
            await save_history(handle, "integration_sync", "one_target_failed")
    assert path.exists()
