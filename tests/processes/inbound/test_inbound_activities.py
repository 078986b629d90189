"""``inbound.signal_followups``: the follow-ups by id, through the client.
``inbound.find_outreach``: the campaign leads with the lead's phone, and visibility's running
``LeadOutreachWorkflow``s for any of those ``LeadId``s.

Visibility needs the dev server; the executions found are started on a task queue nobody polls
(a workflow is ``Running`` from its start, whether or not a worker ever picks it up).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from followthrough.leads.models import LeadRepliedSignal
from followthrough.processes.followups.rules import OptedOutSignal
from followthrough.processes.inbound.activities import InboundActivities
from followthrough.processes.inbound.rules import FindOutreachInput, OutreachFound, SignalFollowups
from followthrough.services import Services
from tests.processes.campaigns.outreach_support import seed

PHONE = "+5215598765432"
GRAPH = {"nodes": [{"id": "done", "kind": "end"}], "edges": []}


@pytest.fixture
async def started(dev_client: Client) -> AsyncIterator[list[WorkflowHandle]]:  # type: ignore[type-arg]
    handles: list[WorkflowHandle] = []  # type: ignore[type-arg]
    yield handles
    for handle in handles:
        try:
            await handle.terminate("test over")
        except Exception:  # noqa: BLE001  (already closed)
            pass


async def run_nowhere(
    client: Client,
    handles: list[WorkflowHandle],  # type: ignore[type-arg]
    workflow_type: str,
    lead_id: str,
) -> WorkflowHandle:  # type: ignore[type-arg]
    handle = await client.start_workflow(
        workflow_type,
        id=f"{workflow_type}-{uuid.uuid4().hex[:8]}",
        task_queue=f"nobody-polls-{uuid.uuid4().hex[:8]}",
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(SearchAttributeKey.for_keyword("LeadId"), lead_id)]
        ),
    )
    handles.append(handle)
    return handle


@pytest.mark.devserver
async def test_finds_running_outreach_of_the_lead_and_of_campaign_leads_with_its_phone(
    dev_client: Client,
    services: Services,
    started: list[WorkflowHandle],  # type: ignore[type-arg]
) -> None:
    lead_id = f"lead-{uuid.uuid4().hex[:8]}"
    same_person = await seed(services, GRAPH, leads=2, lead_fields={"phone": PHONE})
    stranger = await seed(services, GRAPH, lead_fields={"phone": "+5215500000000"})
    expected = {
        (await run_nowhere(dev_client, started, "LeadOutreachWorkflow", lead_id)).id,
        (await run_nowhere(dev_client, started, "LeadOutreachWorkflow", same_person.lead_ids[0])).id,
        (await run_nowhere(dev_client, started, "LeadOutreachWorkflow", same_person.lead_ids[1])).id,
    }
    await run_nowhere(dev_client, started, "FollowUpWorkflow", lead_id)  # another type
    await run_nowhere(dev_client, started, "LeadOutreachWorkflow", stranger.lead_ids[0])  # another person
    closed = await run_nowhere(dev_client, started, "LeadOutreachWorkflow", lead_id)
    await closed.terminate("closed before the reply")

    find = InboundActivities(services).find_outreach
    deadline = time.monotonic() + 15
    while True:  # visibility catches up with the starts within moments
        found: OutreachFound = await ActivityEnvironment(client=dev_client).run(
            find, FindOutreachInput(lead_id=lead_id, phone=PHONE)
        )
        if set(found.workflow_ids) == expected or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert set(found.workflow_ids) == expected
    assert found.visibility
    assert set(found.lead_ids) == {lead_id, *same_person.lead_ids}


async def test_without_visibility_it_finds_nothing_and_says_so(ts_env: WorkflowEnvironment, services: Services) -> None:
    seeded = await seed(services, GRAPH, lead_fields={"phone": PHONE})
    found = await ActivityEnvironment(client=ts_env.client).run(
        InboundActivities(services).find_outreach, FindOutreachInput(lead_id="lead-x", phone=PHONE)
    )
    assert found == OutreachFound(workflow_ids=[], lead_ids=sorted(["lead-x", *seeded.lead_ids]), visibility=False)


# --- inbound.signal_followups ---------------------------------------------------------------
@pytest.mark.devserver
async def test_signals_the_running_followups_and_leaves_out_the_others(
    dev_client: Client,
    services: Services,
    started: list[WorkflowHandle],  # type: ignore[type-arg]
) -> None:
    lead_id = f"lead-{uuid.uuid4().hex[:8]}"
    running = await run_nowhere(dev_client, started, "FollowUpWorkflow", lead_id)
    closed = await run_nowhere(dev_client, started, "FollowUpWorkflow", lead_id)
    await closed.terminate("closed before the reply")
    never = f"followup-{lead_id}-never-started"
    received_at = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)

    took = await ActivityEnvironment(client=dev_client).run(
        InboundActivities(services).signal_followups,
        SignalFollowups(
            workflow_ids=[running.id, closed.id, never],
            signal="lead_replied",
            message_id="wamid.signal-test",
            received_at=received_at,
        ),
    )
    assert took.workflow_ids == [running.id]
    signals = [
        event.workflow_execution_signaled_event_attributes
        for event in (await running.fetch_history()).events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    assert [s.signal_name for s in signals] == ["lead_replied"]
    [payload] = await dev_client.data_converter.decode(signals[0].input.payloads, [LeadRepliedSignal])
    assert payload == LeadRepliedSignal(message_id="wamid.signal-test", received_at=received_at)


async def test_an_opt_out_carries_its_reason_and_a_server_fault_is_retried(services: Services) -> None:
    sent: list[tuple[str, str, object]] = []
    fail_with: list[RPCStatusCode] = []

    class Handle:  # the client's handle, as far as the activity uses it
        def __init__(self, workflow_id: str) -> None:
            self.id = workflow_id

        async def signal(self, name: str, arg: object) -> None:
            if fail_with:
                raise RPCError("history service busy", fail_with[0], b"")
            sent.append((self.id, name, arg))

    class FakeClient:
        def get_workflow_handle(self, workflow_id: str) -> Handle:
            return Handle(workflow_id)

    given = SignalFollowups(
        workflow_ids=["followup-a-post_demo"],
        signal="opted_out",
        message_id="wamid.stop",
        received_at=datetime(2026, 12, 7, tzinfo=UTC),
        reason="inbound whatsapp message wamid.stop",
    )
    act = InboundActivities(services).signal_followups
    took = await ActivityEnvironment(client=FakeClient()).run(act, given)  # type: ignore[arg-type]
    assert took.workflow_ids == ["followup-a-post_demo"]
    assert sent == [("followup-a-post_demo", "opted_out", OptedOutSignal(reason="inbound whatsapp message wamid.stop"))]

    fail_with.append(RPCStatusCode.UNAVAILABLE)  # not "not found": the activity fails and is retried
    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment(client=FakeClient()).run(act, given)  # type: ignore[arg-type]
    assert not failed.value.non_retryable and "history service busy" in failed.value.message
