"""Who owns what a WhatsApp message starts (:func:`message_owner`), and how often it asks Temporal.

The lead's record names the owner when it can; otherwise the visibility query for the lead's
latest execution is a round trip to Temporal: the webhook asks it afresh for every message of a
lead the record names no owner for (never a stale answer), and never for a lead this very
message created.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from followthrough.leads.models import Lead
from followthrough.processes.inbound.intents import Intent
from followthrough.processes.inbound.webhook import InboundText, Recorded, message_owner, start_inbound
from followthrough.temporal.operations import ExecutionInfo, WorkflowNotFound


class CountingWorkflows:
    """The two operations the webhook uses, answering from a dict of lead id → latest owner."""

    def __init__(self, owners: dict[str, str]) -> None:
        self.owners = owners
        self.queries: list[str] = []
        self.started: list[dict[str, Any]] = []

    async def list(self, query: str, page_size: int = 100) -> tuple[list[ExecutionInfo], None]:
        self.queries.append(query)
        found = [
            ExecutionInfo("w", "r", "T", "RUNNING", None, None, None, None, {"OrganizationId": owner})
            for lead, owner in self.owners.items()
            if f'LeadId = "{lead}"' in query
        ]
        return found[:page_size], None

    async def describe(self, workflow_id: str) -> Any:
        raise WorkflowNotFound(workflow_id)

    async def start(self, workflow_type: str, input: Any, **kwargs: Any) -> None:
        self.started.append(kwargs)


def recorded(lead_id: str, *, organization: str | None = None, fresh: bool = True, new_lead: bool = False) -> Recorded:
    message = InboundText(f"wamid.{uuid.uuid4().hex}", "+5215512345678", "hola", datetime.now(UTC))
    lead = Lead(id=lead_id, phone=message.phone, language="es")
    return Recorded(message, lead, Intent.REPLY, fresh=fresh, new_lead=new_lead, organization=organization)


async def test_the_record_s_organization_wins_without_a_query() -> None:
    wf = CountingWorkflows({"lead-a": "acme"})
    assert await message_owner(wf, recorded("lead-a", organization="globex")) == "globex"  # type: ignore[arg-type]
    assert wf.queries == []


async def test_a_lead_this_message_created_has_no_execution_to_ask_about() -> None:
    wf = CountingWorkflows({})
    assert await message_owner(wf, recorded("lead-new", new_lead=True)) == "default"  # type: ignore[arg-type]
    assert wf.queries == []
    # A redelivery of that first message may come after executions of the lead: it asks.
    assert await message_owner(wf, recorded("lead-new", new_lead=True, fresh=False)) == "default"  # type: ignore[arg-type]
    assert len(wf.queries) == 1


async def test_the_latest_execution_s_owner_is_asked_every_time_so_a_change_of_owner_counts() -> None:
    wf = CountingWorkflows({"lead-b": "acme"})
    assert await message_owner(wf, recorded("lead-b")) == "acme"  # type: ignore[arg-type]
    wf.owners["lead-b"] = "globex"  # another organization ran a process of the lead since
    assert await message_owner(wf, recorded("lead-b")) == "globex"  # type: ignore[arg-type]
    assert len(wf.queries) == 2


async def test_a_lead_no_execution_names_belongs_to_the_operator() -> None:
    wf = CountingWorkflows({})
    assert await message_owner(wf, recorded("lead-c")) == "default"  # type: ignore[arg-type]
    assert len(wf.queries) == 1


async def test_a_start_carries_the_owner_of_the_lead_s_latest_execution() -> None:
    wf = CountingWorkflows({"lead-d": "acme"})
    await start_inbound(wf, recorded("lead-d"))  # type: ignore[arg-type]
    assert [s["search_attributes"]["OrganizationId"] for s in wf.started] == ["acme"]
