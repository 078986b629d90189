"""Children that outlive the workflow that starts them: the follow-ups a booking or a message
starts, the integration syncs of a lead's events.

Each is started with ``ParentClosePolicy.ABANDON`` (Temporal would otherwise end it when its
parent closes) and tagged with the lead and its family, so visibility finds it by ``LeadId``
like any workflow started from a route. Its id carries its meaning, so a second start of the
same id finds the running one instead of a twin.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError

_LEAD_ID = SearchAttributeKey.for_keyword("LeadId")
_FAMILY = SearchAttributeKey.for_keyword("WorkflowFamily")
_OWNER = SearchAttributeKey.for_keyword("OrganizationId")


async def start_abandoned(child: type, arg: Any, *, id: str, lead_id: str) -> bool:
    """Start ``child``, a workflow class, as an abandoned child ``id``; False when one with that
    id already runs (it is left as it is). Its type name and ``WorkflowFamily`` come from the
    class (its ``FAMILY``), so a rename cannot drift. Started by type name, not by its run method:
    the parent never reads (nor decodes) the child's result."""
    workflow_type = workflow._Definition.must_from_class(child).name or child.__name__
    family: str = child.FAMILY  # type: ignore[attr-defined]
    pairs = [SearchAttributePair(_LEAD_ID, lead_id), SearchAttributePair(_FAMILY, family)]
    owner = workflow.info().typed_search_attributes.get(_OWNER)
    if owner is not None:  # the child belongs to whoever its parent belongs to
        pairs.append(SearchAttributePair(_OWNER, owner))
    try:
        await workflow.start_child_workflow(
            workflow_type,
            arg,
            id=id,
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            search_attributes=TypedSearchAttributes(pairs),
        )
    except WorkflowAlreadyStartedError:
        return False
    return True
