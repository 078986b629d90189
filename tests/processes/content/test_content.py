"""ContentPipelineWorkflow on the time-skipping server, with fakes under the provider
contracts (``llm.complete``, ``messaging.send``) and the real content activities."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import select
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from followthrough.catalog import activity_methods
from followthrough.llm.activities import LLMActivities
from followthrough.processes.content.activities import ContentActivities
from followthrough.processes.content.rules import (
    ContentBrief,
    ContentPipelineInput,
    ContentStatus,
    RecordContentInput,
    ReviewDecision,
)
from followthrough.processes.content.workflow import ContentPipelineWorkflow
from followthrough.providers.contracts.llm import CompleteInput, CompleteResult
from followthrough.providers.contracts.messaging import SendMessageInput, SendMessageResult
from followthrough.providers.llm import SANDBOX_REJECT_MARKER, SandboxLLM
from followthrough.services import Services
from followthrough.store.models import ContentItem


class FakeLLM:
    """``llm.complete``: numbered drafts, scripted rubric scores; ``hold`` blocks a round."""

    def __init__(self, scores: list[int] | None = None) -> None:
        self.scores = list(scores or [])
        self.prompts: list[CompleteInput] = []
        self.hold: dict[int, asyncio.Event] = {}

    @activity.defn(name="llm.complete")
    async def complete(self, input: CompleteInput) -> CompleteResult:
        self.prompts.append(input)
        key = input.idempotency_key or ""
        if key.endswith(":rubric"):
            score = self.scores.pop(0)
            return CompleteResult(text=json.dumps({"score": score, "notes": f"scored {score}"}), model="fake")
        round_ = int(key.split(":round:")[1].split(":")[0])
        if round_ in self.hold:
            await self.hold[round_].wait()
        return CompleteResult(text=f"# Draft {round_}\nBody of draft {round_}.", model="fake")


class FakeMessaging:
    def __init__(self) -> None:
        self.sent: list[SendMessageInput] = []

    @activity.defn(name="messaging.send")
    async def send(self, input: SendMessageInput) -> SendMessageResult:
        self.sent.append(input)
        return SendMessageResult(message_id=f"wamid.{len(self.sent)}", to=input.to)


def _input(**overrides: Any) -> ContentPipelineInput:
    values: dict[str, Any] = {
        "content_id": f"c{uuid.uuid4().hex[:12]}",
        "brief": ContentBrief(topic="Durable workflows for sales teams", audience="founders"),
        "subscribers": ["+34600111222"],
        "reviewer_phone": "+34600999888",
    }
    values.update(overrides)
    return ContentPipelineInput(**values)


@asynccontextmanager
async def pipeline(
    env: WorkflowEnvironment, services: Services, llm: FakeLLM, messaging: FakeMessaging, input: ContentPipelineInput
) -> AsyncIterator[WorkflowHandle[Any, ContentStatus]]:
    tq = f"tq-{uuid.uuid4()}"
    acts = [*activity_methods(ContentActivities(services)), llm.complete, messaging.send]
    async with Worker(env.client, task_queue=tq, workflows=[ContentPipelineWorkflow], activities=acts):
        handle = await env.client.start_workflow(
            ContentPipelineWorkflow.run, input, id=input.workflow_id, task_queue=tq
        )
        yield handle


async def wait_for_review(handle: WorkflowHandle[Any, ContentStatus], round_: int) -> ContentStatus:
    for _ in range(200):
        status: ContentStatus = await handle.query(ContentPipelineWorkflow.status)
        if status.review_pending and status.round == round_:
            return status
        await asyncio.sleep(0.02)
    raise AssertionError(f"round {round_} never reached review")


async def stored(services: Services, content_id: str) -> ContentItem | None:
    async with services.database.session() as session:
        return (await session.execute(select(ContentItem).where(ContentItem.id == content_id))).scalar_one_or_none()


async def stored_as(services: Services, content_id: str, status: str) -> ContentItem | None:
    """The stored item once it shows ``status``: the ``status`` query reports a stage a moment
    before the ``content.record`` activity that stores it has run."""
    for _ in range(200):
        item = await stored(services, content_id)
        if item is not None and item.status == status:
            return item
        await asyncio.sleep(0.02)
    return await stored(services, content_id)


async def test_auto_review_above_the_threshold_publishes_and_notifies(
    ts_env: WorkflowEnvironment, services: Services
) -> None:
    llm, messaging = FakeLLM(scores=[85]), FakeMessaging()
    input = _input(review_mode="auto", score_threshold=70)
    async with pipeline(ts_env, services, llm, messaging, input) as handle:
        result = await handle.result()

    assert result.stage == "published" and result.round == 1 and result.score == 85
    assert result.title == "Draft 1" and result.published_to == ["app"]
    assert [m.to for m in messaging.sent] == ["+34600111222"] and result.notified == 1
    item = await stored(services, input.content_id)
    assert item is not None and item.status == "published" and item.body == "Body of draft 1."
    assert item.published_to == ["app"] and item.published_at is not None


async def test_auto_review_below_the_threshold_regenerates_until_the_rounds_run_out(
    ts_env: WorkflowEnvironment, services: Services
) -> None:
    llm, messaging = FakeLLM(scores=[40, 55]), FakeMessaging()
    input = _input(review_mode="auto", score_threshold=70, max_rounds=2)
    async with pipeline(ts_env, services, llm, messaging, input) as handle:
        result = await handle.result()

    assert result.stage == "rejected" and result.round == 2
    assert [r.score for r in result.reviews] == [40, 55] and result.published_to == []
    assert "scored 40" in llm.prompts[2].prompt  # the second draft saw the rubric's notes
    assert messaging.sent == []
    item = await stored(services, input.content_id)
    assert item is not None and item.status == "rejected"


async def _with_the_sandbox_llm(
    env: WorkflowEnvironment, services: Services, messaging: FakeMessaging, input: ContentPipelineInput
) -> ContentStatus:
    """The pipeline with the real ``llm.complete`` over the embedded default, the sandbox LLM."""
    assert isinstance(services.providers.llm, SandboxLLM)
    tq = f"tq-{uuid.uuid4()}"
    acts = [*activity_methods(ContentActivities(services)), *activity_methods(LLMActivities(services)), messaging.send]
    async with Worker(env.client, task_queue=tq, workflows=[ContentPipelineWorkflow], activities=acts):
        return await env.client.execute_workflow(
            ContentPipelineWorkflow.run, input, id=input.workflow_id, task_queue=tq
        )


async def test_auto_review_on_the_sandbox_llm_approves_a_good_brief(
    ts_env: WorkflowEnvironment, services: Services
) -> None:
    messaging = FakeMessaging()
    result = await _with_the_sandbox_llm(ts_env, services, messaging, _input(review_mode="auto"))

    assert result.stage == "published" and result.round == 1 and result.published_to == ["app"]
    assert result.score is not None and result.score >= 80 and result.reviews[0].reviewer == "auto"
    assert result.body and result.body.startswith("[sandbox completion]") and result.notified == 1


async def test_auto_review_on_the_sandbox_llm_rejects_a_brief_marked_bad(
    ts_env: WorkflowEnvironment, services: Services
) -> None:
    brief = ContentBrief(topic=f"Durable workflows for sales teams {SANDBOX_REJECT_MARKER}")
    input = _input(review_mode="auto", brief=brief, max_rounds=2)
    result = await _with_the_sandbox_llm(ts_env, services, FakeMessaging(), input)

    assert result.stage == "rejected" and result.round == 2 and result.published_to == []
    assert [r.approved for r in result.reviews] == [False, False]
    assert all(r.score is not None and r.score < 40 and SANDBOX_REJECT_MARKER in r.notes for r in result.reviews)


async def test_human_approval_publishes(ts_env: WorkflowEnvironment, services: Services) -> None:
    llm, messaging = FakeLLM(), FakeMessaging()
    input = _input()
    async with pipeline(ts_env, services, llm, messaging, input) as handle:
        status = await wait_for_review(handle, 1)
        assert status.stage == "pending_review" and status.title == "Draft 1"
        item = await stored_as(services, input.content_id, "pending_review")
        assert item is not None and item.status == "pending_review"
        outcome = await handle.execute_update(
            ContentPipelineWorkflow.review, ReviewDecision(approved=True, notes="ship it", reviewer="maria")
        )
        result = await handle.result()

    assert outcome.approved and outcome.round == 1
    assert result.stage == "published" and result.reviews[0].reviewer == "maria"
    assert not result.reminded


async def test_human_rejection_then_approval_on_the_second_round(
    ts_env: WorkflowEnvironment, services: Services
) -> None:
    llm, messaging = FakeLLM(), FakeMessaging()
    async with pipeline(ts_env, services, llm, messaging, _input()) as handle:
        await wait_for_review(handle, 1)
        await handle.execute_update(
            ContentPipelineWorkflow.review, ReviewDecision(approved=False, notes="make it shorter", reviewer="maria")
        )
        status = await wait_for_review(handle, 2)
        assert status.title == "Draft 2"
        await handle.execute_update(ContentPipelineWorkflow.review, ReviewDecision(approved=True, reviewer="maria"))
        result = await handle.result()

    assert result.stage == "published" and result.round == 2 and result.body == "Body of draft 2."
    assert [r.approved for r in result.reviews] == [False, True]
    regenerate = llm.prompts[1].prompt
    assert "make it shorter" in regenerate and "Body of draft 1." in regenerate


async def test_review_deadline_reminds_the_reviewer_then_expires(
    ts_env: WorkflowEnvironment, services: Services
) -> None:
    llm, messaging = FakeLLM(), FakeMessaging()
    input = _input(reminder_after_hours=24, review_timeout_hours=48)
    async with pipeline(ts_env, services, llm, messaging, input) as handle:
        result = await handle.result()  # time skips through both timers

    assert result.stage == "expired" and result.reminded and result.published_to == []
    assert [m.to for m in messaging.sent] == ["+34600999888"]
    assert "waiting for your review" in (messaging.sent[0].text or "")
    item = await stored(services, input.content_id)
    assert item is not None and item.status == "expired"


async def test_a_decision_on_an_already_decided_review_is_rejected(
    ts_env: WorkflowEnvironment, services: Services
) -> None:
    llm, messaging = FakeLLM(), FakeMessaging()
    llm.hold[2] = asyncio.Event()  # round 2 is still being written when the second verdict comes
    async with pipeline(ts_env, services, llm, messaging, _input()) as handle:
        await wait_for_review(handle, 1)
        await handle.execute_update(
            ContentPipelineWorkflow.review, ReviewDecision(approved=False, notes="no", reviewer="maria")
        )
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(ContentPipelineWorkflow.review, ReviewDecision(approved=True, reviewer="joe"))
        llm.hold[2].set()
        await wait_for_review(handle, 2)
        await handle.execute_update(ContentPipelineWorkflow.review, ReviewDecision(approved=True, reviewer="maria"))
        result = await handle.result()

    message = str(refused.value.cause)
    assert "round 1 was already decided (rejected by maria)" in message
    assert [r.reviewer for r in result.reviews] == ["maria", "maria"]  # the refused verdict left no trace


async def test_a_second_verdict_while_the_first_is_being_stored_is_refused_as_decided(
    ts_env: WorkflowEnvironment, services: Services
) -> None:
    """The first verdict is accepted while ``content.record`` still stores the pending stage."""
    real, llm, messaging = ContentActivities(services), FakeLLM(), FakeMessaging()
    release = asyncio.Event()

    @activity.defn(name="content.record")
    async def slow_record(input: RecordContentInput) -> None:
        if (input.status.stage, input.status.round) == ("pending_review", 1):
            await release.wait()
        await real.record(input)

    acts = [m for m in activity_methods(real) if m.__name__ != "record"] + [slow_record, llm.complete, messaging.send]
    input, tq = _input(), f"tq-{uuid.uuid4()}"
    async with Worker(ts_env.client, task_queue=tq, workflows=[ContentPipelineWorkflow], activities=acts):
        handle = await ts_env.client.start_workflow(
            ContentPipelineWorkflow.run, input, id=input.workflow_id, task_queue=tq
        )
        await wait_for_review(handle, 1)
        await handle.execute_update(ContentPipelineWorkflow.review, ReviewDecision(approved=False, reviewer="maria"))
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(ContentPipelineWorkflow.review, ReviewDecision(approved=True, reviewer="joe"))
        release.set()
        await wait_for_review(handle, 2)
        await handle.execute_update(ContentPipelineWorkflow.review, ReviewDecision(approved=True, reviewer="maria"))
        result = await handle.result()

    assert "round 1 was already decided (rejected by maria)" in str(refused.value.cause)
    assert [(r.round, r.reviewer, r.approved) for r in result.reviews] == [(1, "maria", False), (2, "maria", True)]


async def test_record_history_for_replay(ts_env: WorkflowEnvironment, services: Services) -> None:
    from tests.record import HISTORIES, save_history

    path = HISTORIES / "content" / "human_reject_then_approve.json"
    llm, messaging = FakeLLM(), FakeMessaging()
    async with pipeline(ts_env, services, llm, messaging, _input(content_id="recorded")) as handle:
        await wait_for_review(handle, 1)
        await handle.execute_update(ContentPipelineWorkflow.review, ReviewDecision(approved=False, reviewer="m"))
        await wait_for_review(handle, 2)
        await handle.execute_update(ContentPipelineWorkflow.review, ReviewDecision(approved=True, reviewer="m"))
        assert (await handle.result()).stage == "published"
        if os.environ.get("RECORD_HISTORIES") == "1" or not path.exists():
            await save_history(handle, "content", "human_reject_then_approve")
    assert path.exists()
