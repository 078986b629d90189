"""A workflow never fails its task on a signal or update it cannot take (temporal/guard.py).

The messages go through the raw Temporal client, as an old client or the ``temporal`` CLI
would, past the API's checks; the worker is the package's (real activities, sandbox providers,
``worker_interceptors()``) on the time-skipping server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from followthrough.catalog import build_activities
from followthrough.leads.models import Lead, LeadRepliedSignal
from followthrough.metrics import SIGNALS_DROPPED, worker_interceptors
from followthrough.processes.campaigns.sender import SenderWorkflow
from followthrough.processes.campaigns.sending_window import SenderInput, SenderLimits
from followthrough.processes.followups.rules import FollowUpInput
from followthrough.processes.followups.workflow import FollowUpWorkflow
from followthrough.processes.integrations.workflow import IntegrationSyncWorkflow
from followthrough.processes.payments.rules import PaymentCompletedSignal, PaymentInput
from followthrough.processes.payments.workflow import PaymentWorkflow
from followthrough.providers.payments import complete_sandbox_checkout
from followthrough.services import Services
from tests.processes.campaigns.test_sender import ALWAYS, request

LEAD = Lead(id="lead-guard", phone="+5215500001111", name="Ana Ruiz", email="ana@example.com", language="en")
T = TypeVar("T")


def _worker(env: WorkflowEnvironment, services: Services, task_queue: str, **options: Any) -> Worker:
    return Worker(
        env.client,
        task_queue=task_queue,
        workflows=[FollowUpWorkflow, PaymentWorkflow, IntegrationSyncWorkflow, SenderWorkflow],
        activities=build_activities(services),
        interceptors=worker_interceptors(),
        **options,
    )


def _dropped(workflow_type: str, signal: str, reason: str) -> float:
    return SIGNALS_DROPPED.labels(workflow_type=workflow_type, signal=signal, reason=reason)._value.get()


async def _when(read: Callable[[], Any], ready: Callable[[T], bool]) -> T:
    """``read()``'s answer once ``ready`` (signals are handled in the next workflow task)."""
    for _ in range(100):
        answer: T = await read()
        if ready(answer):
            return answer
        await asyncio.sleep(0.05)
    return answer


async def _task_failures(handle: WorkflowHandle[Any, Any]) -> int:
    history = await handle.fetch_history()
    return sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)


async def _start_followup(env: WorkflowEnvironment, task_queue: str) -> WorkflowHandle[Any, Any]:
    return await env.client.start_workflow(
        FollowUpWorkflow.run,
        FollowUpInput(lead=LEAD, type="cold_lead_reengagement"),
        id=f"followup-{uuid.uuid4()}",
        task_queue=task_queue,
    )


async def test_followup_drops_bad_signals_and_acts_on_a_valid_one(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    before = {
        reason: _dropped("FollowUpWorkflow", signal, reason)
        for signal, reason in [("lead_replied", "missing"), ("opted_out", "arguments"), ("lead_replied", "undecodable")]
    }
    async with _worker(ts_env, services, task_queue):
        handle = await _start_followup(ts_env, task_queue)
        await handle.signal("lead_replied")  # no payload: the handler would raise TypeError
        await handle.signal("opted_out", args=[{}, {}])  # two payloads: decoded without type hints
        await handle.signal("lead_replied", [1, 2])  # a wrong shape: does not decode
        await handle.signal("demo_changed", {"cancelled": "perhaps"})  # a wrong field type
        status = await _when(
            lambda: handle.query(FollowUpWorkflow.status),
            lambda _: _dropped("FollowUpWorkflow", "demo_changed", "undecodable") >= 1,
        )
        assert status.state == "running" and status.stopped_by is None
        await handle.signal(FollowUpWorkflow.lead_replied, LeadRepliedSignal(message_id="wamid.1"))
        result = await handle.result()
    assert result.stopped_by == "lead_replied"
    assert await _task_failures(handle) == 0
    assert _dropped("FollowUpWorkflow", "lead_replied", "missing") == before["missing"] + 1
    assert _dropped("FollowUpWorkflow", "opted_out", "arguments") == before["arguments"] + 1
    assert _dropped("FollowUpWorkflow", "lead_replied", "undecodable") == before["undecodable"] + 1


async def test_a_dropped_signal_logs_no_payload(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "+5215599990000"
    async with _worker(ts_env, services, task_queue):
        handle = await _start_followup(ts_env, task_queue)
        await handle.signal("lead_replied", {"message_id": [secret]})
        await handle.signal("lead_replied", args=[{"message_id": secret}, {}])
        await _when(lambda: handle.query(FollowUpWorkflow.status), lambda _: "arguments" in caplog.text)
        await handle.terminate()
    assert "dropped" in caplog.text and "lead_replied" in caplog.text
    assert secret not in caplog.text


async def test_a_new_worker_over_the_same_history_does_not_jam(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    # No cache: every task (and the second worker's first) replays the history from the start,
    # bad signals included, as a restarted worker does; no sticky queue outlives the first one.
    async with _worker(ts_env, services, task_queue, max_cached_workflows=0):
        handle = await _start_followup(ts_env, task_queue)
        await handle.signal("lead_replied")
        await handle.signal("lead_replied", ["garbage"])
        await _when(lambda: handle.query(FollowUpWorkflow.status), lambda s: s.state == "running")
    async with _worker(ts_env, services, task_queue, max_cached_workflows=0):
        assert (await handle.query(FollowUpWorkflow.status)).state == "running"
        await handle.signal(FollowUpWorkflow.lead_replied, LeadRepliedSignal())
        result = await handle.result()
    assert result.stopped_by == "lead_replied" and await _task_failures(handle) == 0


async def test_payment_drops_bad_signals_and_pays_only_what_the_provider_confirms(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    input = PaymentInput(lead=LEAD, reference="ord-guard", amount=9900, currency="usd", description="Starter")
    async with _worker(ts_env, services, task_queue):
        handle = await ts_env.client.start_workflow(
            PaymentWorkflow.run, input, id=f"payment-{uuid.uuid4()}", task_queue=task_queue
        )
        waiting = await _when(lambda: handle.query(PaymentWorkflow.status), lambda s: s.session_id is not None)
        session_id = waiting.session_id
        assert session_id is not None
        await handle.signal("payment_completed")
        await handle.signal("payment_completed", {"unexpected": [1, 2]})
        forged = PaymentCompletedSignal(session_id=session_id, event_id="evt_forged", paid_at=datetime.now(UTC))
        await handle.signal(PaymentWorkflow.payment_completed, forged)  # the sandbox says: still open
        status = await _when(lambda: handle.query(PaymentWorkflow.status), lambda s: s.unconfirmed_completions > 0)
        assert status.state == "awaiting_payment" and status.unconfirmed_completions == 1
        event = await complete_sandbox_checkout(services.providers.payments, session_id)
        paid = PaymentCompletedSignal(session_id=session_id, event_id=event.event_id, paid_at=event.created_at)
        await handle.signal(PaymentWorkflow.payment_completed, paid)
        result = await handle.result()
    assert result.state == "paid" and result.completion_event_id == event.event_id
    assert await _task_failures(handle) == 0


async def test_an_update_with_a_bad_payload_is_rejected_and_the_workflow_goes_on(
    ts_env: WorkflowEnvironment, services: Services, task_queue: str
) -> None:
    limits = SenderLimits(window=ALWAYS, daily_caps={"profile_visit": 5}, min_spacing_seconds=0, max_spacing_seconds=0)
    async with _worker(ts_env, services, task_queue):
        handle = await ts_env.client.start_workflow(
            SenderWorkflow.run, SenderInput(account_id="acct-guard"), id=f"sender-{uuid.uuid4()}", task_queue=task_queue
        )
        for args in ([], [{}, {}], [{"requests": [{"request_key": 5}]}]):
            with pytest.raises(WorkflowUpdateFailedError):
                await handle.execute_update("acquire_many", args=args)
        await handle.signal("release")  # a signal without its payload, dropped as well
        now = await ts_env.get_current_time()
        later = now + timedelta(hours=1)
        answer = await handle.execute_update(SenderWorkflow.acquire_many, request("k1", limits, later))
        [grant] = answer.grants
        status = await handle.query(SenderWorkflow.status)
        await handle.terminate()
    assert grant.request_key == "k1" and status.granted_total == 1
    assert await _task_failures(handle) == 0
