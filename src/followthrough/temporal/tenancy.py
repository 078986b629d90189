"""Every execution has an owner: the organization in its ``OrganizationId`` search attribute.

:class:`OrganizationWorkflows` is :class:`~followthrough.temporal.operations.Workflows` seen
through one organization's key: what it starts carries that organization, and an execution of
another organization answers exactly as an id that does not exist (``WorkflowNotFound``), on
every operation. Lists are narrowed on the server by :func:`scoped_query`, which treats the
caller's visibility query as hostile text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowExecutionDescription
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from followthrough.temporal.operations import (
    DEFAULT_EXECUTION_TIMEOUT,
    ExecutionInfo,
    StartOutcome,
    WorkflowNotFound,
    Workflows,
)
from followthrough.temporal.specs import WorkflowSpecs

OWNER = "OrganizationId"
_OWNER_KEY = SearchAttributeKey.for_keyword(OWNER)


class ForeignOrganization(PermissionError):
    """A body names an organization other than the caller's key (403, naming both)."""

    def __init__(self, named: str, own: str) -> None:
        super().__init__(f"the body names organization {named!r}, but this key belongs to {own!r}")
        self.named = named
        self.own = own


class IdTaken(RuntimeError):
    """A start under an id whose execution another owner holds (409; nothing is said of it)."""

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow id {workflow_id!r} is taken; choose another id")
        self.workflow_id = workflow_id


class UnsafeQuery(ValueError):
    """A visibility query that cannot be narrowed to one organization safely (422)."""


def owner_of(info: ExecutionInfo) -> str | None:
    value = info.search_attributes.get(OWNER)
    return value if isinstance(value, str) else None


async def lead_owner(client: Client, lead_id: str) -> str | None:
    """The organization of the lead's latest execution: the owner of what a provider's webhook
    starts for a lead whose record names none (lead ids are ``[A-Za-z0-9_.:-]``, safe in quotes)."""
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,200}", lead_id):
        return None
    try:
        async for execution in client.list_workflows(
            f'LeadId = "{lead_id}" AND {OWNER} IS NOT NULL', page_size=1, limit=1
        ):
            return execution.typed_search_attributes.get(_OWNER_KEY) or None
    except RPCError as exc:
        if exc.status == RPCStatusCode.UNIMPLEMENTED:  # a server without visibility (the test server)
            return None
        raise
    return None


# --- visibility queries ----------------------------------------------------------------------
# Temporal's list filter is a small SQL-like language: names, operators, quoted strings,
# parentheses, AND/OR/NOT, BETWEEN, IN (...), STARTS_WITH, IS NULL, ORDER BY. The caller's text is
# tokenized; anything outside that language (comments, semicolons, backticks, stray quotes) is
# refused, parentheses must balance, and ORDER BY (which cannot sit inside parentheses) is split
# off and kept last. What remains is wrapped in parentheses and ANDed with the owner's filter,
# so no text can widen it.
_TOKEN = re.compile(
    r"""\s+
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op>!=|<=|>=|<|>|=|,)
      | (?P<open>\()
      | (?P<close>\))
    """,
    re.VERBOSE,
)
MAX_QUERY_LENGTH = 2_000


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise UnsafeQuery(f"query: unexpected text at character {position + 1}: {text[position : position + 12]!r}")
        if match.lastgroup is not None:
            tokens.append((match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    return tokens


def scoped_query(query: str | None, organization: str) -> str:
    """``query`` narrowed to ``organization``'s executions; :class:`UnsafeQuery` if it cannot be."""
    owner_filter = f'{OWNER} = "{organization}"'
    text = (query or "").strip()
    if not text:
        return owner_filter
    if len(text) > MAX_QUERY_LENGTH:
        raise UnsafeQuery(f"query: at most {MAX_QUERY_LENGTH} characters")
    tokens = _tokens(text)
    depth = 0
    order_at: int | None = None
    for index, (kind, value) in enumerate(tokens):
        if kind == "open":
            depth += 1
        elif kind == "close":
            depth -= 1
            if depth < 0:
                raise UnsafeQuery("query: a closing parenthesis without its opening one")
        elif kind == "word" and value.upper() == "ORDER":
            following = tokens[index + 1] if index + 1 < len(tokens) else ("", "")
            if depth or following[1].upper() != "BY" or order_at is not None:
                raise UnsafeQuery("query: ORDER BY only once, at the end, outside parentheses")
            order_at = index
    if depth:
        raise UnsafeQuery("query: unbalanced parentheses")
    where = tokens if order_at is None else tokens[:order_at]
    order = [] if order_at is None else tokens[order_at:]
    if any(kind in ("open", "close", "string") for kind, _ in order):
        raise UnsafeQuery("query: ORDER BY takes attribute names only")

    def joined(part: list[tuple[str, str]]) -> str:
        return " ".join(value for _, value in part)

    narrowed = owner_filter if not where else f"({joined(where)}) AND {owner_filter}"
    return f"{narrowed} {joined(order)}" if order else narrowed


# --- operations seen through one organization --------------------------------------------------
class OrganizationWorkflows(Workflows):
    """:class:`Workflows` for one organization's key (the operator's key uses plain ``Workflows``)."""

    def __init__(self, client: Client, task_queue: str, organization: str, specs: WorkflowSpecs) -> None:
        super().__init__(client, task_queue, specs=specs, organization=organization)
        self.organization: str = organization

    async def _describe(self, workflow_id: str, run_id: str | None = None) -> WorkflowExecutionDescription:
        """Every describe of the base class comes through here (``describe``, the query's task
        check, cancel's and terminate's running check), so each of those operations answers
        another owner's execution exactly as an id that does not exist."""
        desc = await super()._describe(workflow_id, run_id)
        if desc.typed_search_attributes.get(_OWNER_KEY) != self.organization:
            raise WorkflowNotFound(workflow_id)
        return desc

    async def start(
        self,
        workflow_type: str,
        input: Any = None,
        *,
        workflow_id: str | None = None,
        search_attributes: Mapping[str, str] | None = None,
        start_delay: timedelta | None = None,
        execution_timeout: timedelta | None = DEFAULT_EXECUTION_TIMEOUT,
        rerun_closed: bool | None = None,
    ) -> StartOutcome:
        named = (search_attributes or {}).get(OWNER)
        if named is not None and named != self.organization:
            raise ForeignOrganization(named, self.organization)
        try:
            return await super().start(
                workflow_type,
                input,
                workflow_id=workflow_id,
                search_attributes={**(search_attributes or {}), OWNER: self.organization},
                start_delay=start_delay,
                execution_timeout=execution_timeout,
                rerun_closed=rerun_closed,
            )
        except WorkflowNotFound:  # the id runs under another owner: the base start described it
            raise IdTaken(workflow_id or "") from None

    async def result(self, workflow_id: str, *, wait: bool = False) -> Any:
        if wait:  # without waiting, the base class describes it first
            await self.describe(workflow_id)
        return await super().result(workflow_id, wait=wait)

    # Signals and updates sent with ``internal=True`` (or their type known) skip the base class's
    # describe: the owner is checked here, and the type it gives spares a second describe.
    async def signal(self, workflow_id: str, name: str, arg: Any = None, **kwargs: Any) -> None:
        info = await self.describe(workflow_id)
        kwargs.setdefault("workflow_type", info.type)
        await super().signal(workflow_id, name, arg, **kwargs)

    async def update(self, workflow_id: str, name: str, arg: Any = None, **kwargs: Any) -> Any:
        info = await self.describe(workflow_id)
        kwargs.setdefault("workflow_type", info.type)
        return await super().update(workflow_id, name, arg, **kwargs)

    async def history_json(self, workflow_id: str, run_id: str | None = None) -> str:
        await self.describe(workflow_id, run_id)
        return await super().history_json(workflow_id, run_id)

    async def list(
        self, query: str | None = None, *, page_size: int = 50, page_token: bytes | None = None
    ) -> tuple[list[ExecutionInfo], bytes | None]:
        return await super().list(scoped_query(query, self.organization), page_size=page_size, page_token=page_token)

    async def count(self, query: str, *, group_by: str | None = None) -> Any:
        return await super().count(scoped_query(query, self.organization), group_by=group_by)
