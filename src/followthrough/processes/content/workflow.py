"""ContentPipelineWorkflow: generate from a brief, review, publish, notify.

Review is either automatic (a second LLM call scores the draft against a rubric; at or above
the threshold it is approved) or human: the workflow waits for the ``review`` update, reminds
the reviewer when ``reminder_after_hours`` pass, and expires at ``review_timeout_hours``. A
rejected draft is regenerated with the reviewer's notes, up to ``max_rounds`` drafts. The
``review`` validator accepts a decision only while a review is pending, so a second verdict
on a decided draft is refused with a clear message and leaves no trace in the history.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from followthrough.llm.activities import LLMActivities
    from followthrough.messaging.activities import MessagingActivities
    from followthrough.processes.content.activities import ContentActivities
    from followthrough.processes.content.rules import (
        ContentPipelineInput,
        ContentStatus,
        PlanPublishInput,
        PublishContentInput,
        RecordContentInput,
        ReviewDecision,
        ReviewOutcome,
        ReviewRecord,
        generation_prompt,
        parse_rubric,
        review_refusal,
        rubric_prompt,
        split_draft,
    )
    from followthrough.providers.contracts.llm import CompleteInput
    from followthrough.providers.contracts.messaging import SendMessageInput
    from followthrough.temporal.policies import DEFAULT_RETRY, PROVIDER_CALL_TIMEOUT, STORE_CALL_TIMEOUT, STORE_RETRY

#: An LLM call may take a while; retries for an hour before the pipeline fails.
_LLM_TIMEOUT = timedelta(minutes=3)
_GIVE_UP = timedelta(hours=1)


@workflow.defn
class ContentPipelineWorkflow:
    #: The ``WorkflowFamily`` search attribute of its executions (stored: never derive it from a file name).
    FAMILY = "content"
    #: What a client may send through the generic API (the rule: followthrough/temporal/handlers.py).
    PUBLIC_UPDATES = frozenset({"review"})

    def __init__(self) -> None:
        self._status: ContentStatus | None = None
        self._pending_round: int | None = None
        self._decision: ReviewDecision | None = None
        #: The verdict the ``review`` update accepted, until the run loop has recorded it (it
        #: may be busy storing the pending stage when the verdict comes): a second verdict in
        #: that window is refused with the same message as after.
        self._accepted: ReviewRecord | None = None

    @workflow.query
    def status(self) -> ContentStatus:
        if self._status is None:
            raise ApplicationError("the pipeline has not started yet")
        return self._status

    @workflow.update
    async def review(self, decision: ReviewDecision) -> ReviewOutcome:
        if self._pending_round is None or self._status is None:  # a twin accepted in the same task
            raise ApplicationError("the review was already decided", type="ReviewNotPending", non_retryable=True)
        round_ = self._pending_round
        self._pending_round = None
        self._decision = decision
        self._accepted = ReviewRecord(
            round=round_,
            approved=decision.approved,
            notes=decision.notes,
            reviewer=decision.reviewer,
            at=workflow.now(),
        )
        return ReviewOutcome(content_id=self._status.content_id, round=round_, approved=decision.approved)

    @review.validator
    def _review_is_pending(self, decision: ReviewDecision) -> None:
        stage = self._status.stage if self._status else "generating"
        reviews = list(self._status.reviews) if self._status else []
        if self._accepted is not None and not any(r.round == self._accepted.round for r in reviews):
            reviews.append(self._accepted)
        refusal = review_refusal(stage, self._pending_round, reviews)
        if refusal is not None:
            raise ApplicationError(refusal, type="ReviewNotPending", non_retryable=True)

    @workflow.run
    async def run(self, input: ContentPipelineInput) -> ContentStatus:
        status = self._status = ContentStatus(content_id=input.content_id, stage="generating", round=1)
        targets = await workflow.execute_activity_method(
            ContentActivities.plan_publish,
            PlanPublishInput(requested=input.publish_to),
            start_to_close_timeout=STORE_CALL_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
        draft: str | None = None
        notes: str | None = None
        for round_ in range(1, input.max_rounds + 1):
            status.round, status.stage, status.score = round_, "generating", None
            await self._record(input)
            system, prompt = generation_prompt(input.brief, draft, notes)
            draft = await self._complete(system, prompt, f"content:{input.content_id}:round:{round_}:draft")
            status.title, status.body = split_draft(draft)
            decision = await (self._auto_review(input, draft) if input.review_mode == "auto" else self._human(input))
            if decision is None:
                status.stage = "expired"
                await self._record(input)
                return status
            status.reviews.append(decision)
            if decision.approved:
                await self._publish(input, targets.stores)
                return status
            notes = decision.notes
        status.stage = "rejected"
        await self._record(input)
        return status

    async def _auto_review(self, input: ContentPipelineInput, draft: str) -> ReviewRecord:
        assert self._status is not None
        self._status.stage = "reviewing"
        system, prompt = rubric_prompt(input.brief, draft)
        key = f"content:{input.content_id}:round:{self._status.round}:rubric"
        rubric = parse_rubric(await self._complete(system, prompt, key))
        self._status.score = rubric.score
        return ReviewRecord(
            round=self._status.round,
            approved=rubric.score >= input.score_threshold,
            notes=rubric.notes,
            reviewer="auto",
            score=rubric.score,
            at=workflow.now(),
        )

    async def _human(self, input: ContentPipelineInput) -> ReviewRecord | None:
        """Wait for the ``review`` update; remind once, then expire (None)."""
        assert self._status is not None
        status = self._status
        started = workflow.now()
        status.stage, status.review_pending = "pending_review", True
        status.review_deadline = started + timedelta(hours=input.review_timeout_hours)
        self._decision, self._pending_round, self._accepted = None, status.round, None
        await self._record(input)
        decided = await self._wait(timedelta(hours=input.reminder_after_hours))
        if not decided:
            status.reminded = True
            await self._notify_reviewer(input)
            decided = await self._wait(status.review_deadline - workflow.now())
        status.review_pending = False
        if not decided or self._decision is None:
            self._pending_round = None
            return None
        decision = self._decision
        return ReviewRecord(
            round=status.round,
            approved=decision.approved,
            notes=decision.notes,
            reviewer=decision.reviewer,
            at=workflow.now(),
        )

    async def _wait(self, timeout: timedelta) -> bool:
        try:
            await workflow.wait_condition(lambda: self._decision is not None, timeout=max(timeout, timedelta(0)))
        except TimeoutError:
            return False
        return True

    async def _publish(self, input: ContentPipelineInput, stores: list[str]) -> None:
        assert self._status is not None
        status = self._status
        status.stage = "publishing"
        published_at = workflow.now()
        for store in stores:
            await workflow.execute_activity_method(
                ContentActivities.publish,
                PublishContentInput(
                    store=store,
                    content_id=input.content_id,
                    title=status.title,
                    body=status.body or "",
                    workflow_id=workflow.info().workflow_id,
                    published_at=published_at,
                ),
                start_to_close_timeout=STORE_CALL_TIMEOUT,
                schedule_to_close_timeout=_GIVE_UP,
                retry_policy=DEFAULT_RETRY,
            )
            status.published_to.append(store)
        status.stage = "published"
        await self._record(input)
        text = f"New content published: {status.title or input.brief.topic}"
        for phone in input.subscribers:
            key = f"content:{input.content_id}:published:{hashlib.sha256(phone.encode()).hexdigest()[:16]}"
            if await self._send(phone, text, key):
                status.notified += 1

    async def _notify_reviewer(self, input: ContentPipelineInput) -> None:
        if input.reviewer_phone is None:
            workflow.logger.info("review of %s is overdue; no reviewer phone to remind", input.content_id)
            return
        assert self._status is not None
        text = f"Reminder: content '{self._status.title or input.brief.topic}' is waiting for your review."
        await self._send(input.reviewer_phone, text, f"content:{input.content_id}:round:{self._status.round}:reminder")

    async def _send(self, to: str, text: str, key: str) -> bool:
        """A notification; one that cannot be delivered is logged, not fatal to the pipeline."""
        try:
            await workflow.execute_activity_method(
                MessagingActivities.send,
                SendMessageInput(to=to, text=text, idempotency_key=key),
                start_to_close_timeout=PROVIDER_CALL_TIMEOUT,
                schedule_to_close_timeout=_GIVE_UP,
                retry_policy=DEFAULT_RETRY,
            )
        except ActivityError as err:
            workflow.logger.warning("notification %s not delivered: %s", key, err.cause or err)
            return False
        return True

    async def _complete(self, system: str, prompt: str, key: str) -> str:
        result = await workflow.execute_activity_method(
            LLMActivities.complete,
            CompleteInput(system=system, prompt=prompt, idempotency_key=key),
            start_to_close_timeout=_LLM_TIMEOUT,
            schedule_to_close_timeout=_GIVE_UP,
            retry_policy=DEFAULT_RETRY,
        )
        return result.text

    async def _record(self, input: ContentPipelineInput) -> None:
        assert self._status is not None
        await workflow.execute_activity_method(
            ContentActivities.record,
            RecordContentInput(
                status=self._status,
                brief=input.brief,
                review_mode=input.review_mode,
                max_rounds=input.max_rounds,
                workflow_id=workflow.info().workflow_id,
            ),
            start_to_close_timeout=STORE_CALL_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
