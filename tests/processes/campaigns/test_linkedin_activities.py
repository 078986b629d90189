"""LinkedIn activities on the sandbox: idempotent invitation, acceptance on the attempt clock."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from temporalio.testing import ActivityEnvironment

from followthrough.processes.campaigns.linkedin_activities import LinkedInActivities
from followthrough.providers.contracts.linkedin import InvitationStatusInput, LikePostsInput, SendInvitationInput
from followthrough.services import Services


async def test_invitation_once_per_key_and_accepted_on_the_attempt_clock(services: Services) -> None:
    activities = LinkedInActivities(services)
    env = ActivityEnvironment()
    invite = SendInvitationInput(
        account_id="acc",
        identifier="https://linkedin.com/in/jane-doe",
        note="Hola",
        idempotency_key="campaign:c1:lead:l1:invite",
    )
    first = await env.run(activities.send_invitation, invite)
    assert await env.run(activities.send_invitation, invite) == first
    assert len([c for c in services.providers.sandbox.calls if c[1] == "send_invitation"]) == 1

    status = InvitationStatusInput(account_id="acc", identifier="jane-doe", invitation_id=first.invitation_id)
    assert (await env.run(activities.invitation_status, status)).status == "pending"
    later = ActivityEnvironment()
    # What the time-skipping server does: the attempt is scheduled after the skipped days.
    later.info = dataclasses.replace(later.info, current_attempt_scheduled_time=datetime.now(UTC) + timedelta(days=3))
    assert (await later.run(activities.invitation_status, status)).status == "accepted"


async def test_like_posts_records_and_a_quick_call_costs_no_heartbeat(services: Services) -> None:
    beats: list[object] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    result = await env.run(
        LinkedInActivities(services).like_posts,
        LikePostsInput(account_id="acc", identifier="jane-doe", number_of_posts=3, idempotency_key="like:1"),
    )
    # It beats only once a call has taken HEARTBEAT_SECONDS (tests/providers/test_heartbeating.py):
    # each beat is an RPC and a write on the server, and the sandbox answers at once.
    assert len(result.liked) == 3 and beats == []
    assert (await services.providers.outbox.get("like:1")) is not None
