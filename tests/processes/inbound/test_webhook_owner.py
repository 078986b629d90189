"""Who owns what a WhatsApp message starts (:func:`message_owner`, in the workflow's first
activity), and how often it asks Temporal.

The lead's record names the owner when it can; otherwise the visibility query for the lead's
latest execution is a round trip to Temporal: it is asked afresh for every message of a lead the
record names no owner for (never a stale answer), and never for a lead this very message
created.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from followthrough.processes.inbound.activities import message_owner

_OWNER = SearchAttributeKey.for_keyword("OrganizationId")


class Execution:
    def __init__(self, owner: str) -> None:
        self.typed_search_attributes = TypedSearchAttributes([SearchAttributePair(_OWNER, owner)])


class CountingClient:
    """``list_workflows`` answering from a dict of lead id → latest owner, counting the queries."""

    def __init__(self, owners: dict[str, str]) -> None:
        self.owners = owners
        self.queries: list[str] = []

    def list_workflows(self, query: str, **kwargs: Any) -> AsyncIterator[Execution]:
        self.queries.append(query)
        found = [Execution(owner) for lead, owner in self.owners.items() if f'LeadId = "{lead}"' in query]

        async def page() -> AsyncIterator[Execution]:
            for execution in found[: kwargs.get("limit") or None]:
                yield execution

        return page()


async def owner(client: CountingClient, lead_id: str, organization: str | None = None, created: bool = False) -> str:
    return await message_owner(client, lead_id, organization, created=created)  # type: ignore[arg-type]


async def test_the_record_s_organization_wins_without_a_query() -> None:
    client = CountingClient({"lead-a": "acme"})
    assert await owner(client, "lead-a", organization="globex") == "globex"
    assert client.queries == []


async def test_a_lead_this_message_created_has_no_execution_to_ask_about() -> None:
    client = CountingClient({})
    assert await owner(client, "lead-new", created=True) == "default"
    assert client.queries == []


async def test_the_latest_execution_s_owner_is_asked_every_time_so_a_change_of_owner_counts() -> None:
    client = CountingClient({"lead-b": "acme"})
    assert await owner(client, "lead-b") == "acme"
    client.owners["lead-b"] = "globex"  # another organization ran a process of the lead since
    assert await owner(client, "lead-b") == "globex"
    assert client.queries == ['LeadId = "lead-b" AND OrganizationId IS NOT NULL'] * 2


async def test_a_lead_no_execution_names_belongs_to_the_operator() -> None:
    client = CountingClient({})
    assert await owner(client, "lead-c") == "default"
    assert len(client.queries) == 1
