"""The sender's caps under real concurrency on the real dev server: many ``outreach.acquire_slot``
calls at once, from two client connections, racing to start the coordinator with
update-with-start. None is refused, one coordinator serves them all, no day exceeds its cap."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from followthrough.processes.campaigns.sender import SenderWorkflow
from followthrough.processes.campaigns.sending_window import SlotGrant
from followthrough.processes.campaigns.slots import OutreachActivities
from followthrough.processes.campaigns.steps import AcquireSlotInput
from followthrough.services import Services
from tests.processes.campaigns.outreach_support import seed

pytestmark = pytest.mark.devserver

GRAPH = {
    "nodes": [{"id": "a", "kind": "action", "action": "send_invitation"}, {"id": "z", "kind": "end"}],
    "edges": [{"source": "a", "target": "z"}],
}
ALWAYS_OPEN_7_A_DAY = {
    "timezone": "Europe/Madrid",
    "working_hours": {"start": "00:00", "end": "00:00"},
    "working_days": [1, 2, 3, 4, 5, 6, 7],
    "daily_limits": {"send_invitation": 7},
    "weekly_invitation_limit": 0,
    "min_action_spacing_seconds": 0,
    "max_action_spacing_seconds": 0,
}


def activity_env(client: Client, task_queue: str) -> ActivityEnvironment:
    env = ActivityEnvironment(client=client)
    env.info = dataclasses.replace(env.info, task_queue=task_queue)
    return env


async def test_concurrent_acquires_from_two_connections_never_exceed_the_daily_cap(
    dev_client: Client, services: Services, task_queue: str
) -> None:
    seeded = await seed(services, GRAPH, account=ALWAYS_OPEN_7_A_DAY)
    other = await Client.connect(dev_client.service_client.config.target_host, data_converter=dev_client.data_converter)
    outreach = OutreachActivities(services)
    envs = [activity_env(dev_client, task_queue), activity_env(other, task_queue)]
    now = datetime.now(UTC)
    async with Worker(dev_client, task_queue=task_queue, workflows=[SenderWorkflow]):
        grants: list[SlotGrant] = await asyncio.gather(
            *(
                envs[i % 2].run(
                    outreach.acquire_slot,
                    AcquireSlotInput(
                        account_id=seeded.account_id,
                        request_key=f"req-{i}-{uuid.uuid4().hex[:6]}",
                        action="send_invitation",
                        not_before=now,
                    ),
                )
                for i in range(30)
            )
        )
        sender = dev_client.get_workflow_handle(f"sender-{seeded.account_id}")
        status = await sender.query(SenderWorkflow.status)
        await sender.terminate("test over")
    per_day = Counter(g.day for g in grants)
    assert sorted(per_day.values(), reverse=True) == [7, 7, 7, 7, 2]
    assert status.granted_total == 30
