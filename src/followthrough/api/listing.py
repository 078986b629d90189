"""The list side of the business routes: ``GET /api/bookings?lead_id=&status=&page_token=`` and
its siblings, each a few lines over :class:`ListPage`.

One function, :func:`visibility_query`, turns a route's filters into Temporal's visibility
query: the workflow type, then ``LeadId`` and ``ExecutionStatus`` when given. Values are checked
against a safe charset before they are quoted, so no filter can change the query's shape; the
caller's :class:`~followthrough.temporal.tenancy.OrganizationWorkflows` then ANDs its own
organization to it, like every list. Pages come with the generic list's tokens
(``encode_page_token``), newest first in the visibility store's own order: running executions by
start time, then closed ones by close time (a SQL visibility store takes no ``ORDER BY``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Query

from followthrough.temporal.operations import InvalidInput, Workflows, decode_page_token, encode_page_token

#: What a filter value may hold: our own ids (leads, bots, contents) are within it.
SAFE_VALUE = re.compile(r"[A-Za-z0-9_.:@+-]{1,200}")

#: ``status`` as the API spells it (describe's ``status``) → Temporal's ``ExecutionStatus``.
STATUSES = {
    "RUNNING": "Running",
    "COMPLETED": "Completed",
    "FAILED": "Failed",
    "CANCELED": "Canceled",
    "CANCELLED": "Canceled",
    "TERMINATED": "Terminated",
    "TIMED_OUT": "TimedOut",
    "CONTINUED_AS_NEW": "ContinuedAsNew",
}


def _invalid(field: str, msg: str) -> InvalidInput:
    return InvalidInput([{"loc": ["query", field], "msg": msg, "type": "value_error"}])


def visibility_query(workflow_type: str, *, lead_id: str | None = None, status: str | None = None) -> str:
    """The visibility query for one process's executions, narrowed by the filters given;
    :class:`InvalidInput` (422 naming the field) for a value outside the safe charset."""
    clauses = [f'WorkflowType = "{workflow_type}"']
    if lead_id is not None:
        if not SAFE_VALUE.fullmatch(lead_id):
            raise _invalid("lead_id", "letters, digits and _.:@+- only, at most 200")
        clauses.append(f'LeadId = "{lead_id}"')
    if status is not None:
        execution_status = STATUSES.get(status.upper())
        if execution_status is None:
            raise _invalid("status", f"one of {', '.join(sorted(set(STATUSES) - {'CANCELLED'}))}")
        clauses.append(f'ExecutionStatus = "{execution_status}"')
    return " AND ".join(clauses)


class ListPage:
    """The query parameters every business list route takes (a FastAPI dependency)."""

    def __init__(
        self,
        lead_id: str | None = Query(default=None, description="only this lead's executions (LeadId)"),
        status: str | None = Query(default=None, description="RUNNING, COMPLETED, FAILED, CANCELED, TERMINATED …"),
        page_size: int = Query(default=50, ge=1, le=1000),
        page_token: str | None = Query(default=None, description="next_page_token of the previous page"),
    ) -> None:
        self.lead_id = lead_id
        self.status = status
        self.page_size = page_size
        self.page_token = page_token

    async def list(self, wf: Workflows, workflow_type: str) -> dict[str, Any]:
        """One page of ``workflow_type``'s executions that the caller's key sees."""
        query = visibility_query(workflow_type, lead_id=self.lead_id, status=self.status)
        token = decode_page_token(self.page_token) if self.page_token else None
        items, next_token = await wf.list(query, page_size=self.page_size, page_token=token)
        return {
            "executions": [i.as_dict() for i in items],
            "next_page_token": encode_page_token(next_token) if next_token else None,
        }


ListPageDep = Annotated[ListPage, Depends()]
