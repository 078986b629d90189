"""Campaign sequence graphs: the models, their validation and the pure rules that walk them.

A campaign's sequence is a directed acyclic graph of nodes joined by edges::

    {"nodes": [
        {"id": "visit", "kind": "action", "action": "profile_visit"},
        {"id": "invite", "kind": "action", "action": "send_invitation", "config": {"note": "Hi!"}},
        {"id": "accepted", "kind": "condition", "condition": "invitation_accepted", "within_days": 7},
        {"id": "wait", "kind": "delay", "duration": 2, "unit": "sending_days"},
        {"id": "hello", "kind": "action", "action": "send_message", "config": {"template": "Hi {first_name}"}},
        {"id": "done", "kind": "goal"},
        {"id": "give_up", "kind": "end"}],
     "edges": [
        {"source": "visit", "target": "invite"}, {"source": "invite", "target": "accepted"},
        {"source": "accepted", "target": "wait", "branch": "true"},
        {"source": "accepted", "target": "give_up", "branch": "false"},
        {"source": "wait", "target": "hello"}, {"source": "hello", "target": "done"}]}

The start node is the one node no edge points at. Actions and delays have exactly one outgoing
edge; conditions exactly one ``true`` and one ``false`` edge; ``end`` and ``goal`` none.

:func:`validate_graph` returns *every* fault, each with the id of the node it concerns, so the
API can show all of them at once; :func:`parse_graph` does the same for raw JSON, turning
pydantic's type errors into faults on the node they occurred in. The interpreter helpers
(:func:`start_node`, :func:`next_node_id`, :func:`total_steps`, :func:`render_template`) are
what :class:`~followthrough.processes.campaigns.lead.LeadOutreachWorkflow` calls; they are pure,
so the workflow stays deterministic and the rules are unit-tested directly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from followthrough.bounds import INT32_MAX, MAX_ITEMS, Id, Name, Text

# --- bounds -----------------------------------------------------------------------------------

#: LinkedIn refuses invitation notes longer than this.
MAX_NOTE_CHARS = 300
MAX_MESSAGE_CHARS = 8000
MAX_WHATSAPP_CHARS = 4096
POSTS_RANGE = (1, 10)
RECENT_POST_DAYS_RANGE = (1, 365)
#: A delay of more than this many days (sending or calendar) is almost surely a typo.
DELAY_DAYS_MAX = 90
DELAY_HOURS_MAX = DELAY_DAYS_MAX * 24
WITHIN_DAYS_RANGE = (1, 90)
REPLIED_WITHIN_DAYS_RANGE = (0, 90)
MAX_NODES = 200
#: Most nodes or edges a graph may list: past MAX_NODES the graph is refused with every fault
#: (``too_many_nodes``); past this it is not even read.
MAX_GRAPH_ITEMS = 10 * MAX_NODES
#: Lead fields a ``profile_has`` condition may test (what the lead record can hold).
PROFILE_FIELDS: frozenset[str] = frozenset(
    {
        "email",
        "phone",
        "company",
        "title",
        "headline",
        "location",
        "website",
        "linkedin_url",
        "linkedin_id",
        "first_name",
        "last_name",
    }
)


_TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- action configs ---------------------------------------------------------------------------


class ActionType(StrEnum):
    PROFILE_VISIT = "profile_visit"
    LIKE_POST = "like_post"
    SEND_INVITATION = "send_invitation"
    SEND_MESSAGE = "send_message"
    WITHDRAW_INVITATION = "withdraw_invitation"
    SEND_WHATSAPP = "send_whatsapp"


class LikePostConfig(_Model):
    number_of_posts: int = Field(default=1, ge=-INT32_MAX, le=INT32_MAX)
    recent_post_days: int = Field(default=7, ge=-INT32_MAX, le=INT32_MAX)


class SendInvitationConfig(_Model):
    note: str | None = None


class SendMessageConfig(_Model):
    #: Text with ``{field}`` placeholders filled from the lead (see :func:`render_template`).
    template: str


class WhatsAppTemplateRef(_Model):
    name: str = Field(max_length=512)
    language: str = Field(default="en", max_length=16)
    parameters: list[Text] = Field(default_factory=list, max_length=MAX_ITEMS)


class SendWhatsAppConfig(_Model):
    """Free text (inside WhatsApp's 24-hour window) or an approved template; exactly one."""

    text: str | None = None
    template: WhatsAppTemplateRef | None = None


class EmptyConfig(_Model):
    pass


# --- nodes ------------------------------------------------------------------------------------


class _Node(_Model):
    id: Id
    label: Name | None = None


class ProfileVisitNode(_Node):
    kind: Literal["action"] = "action"
    action: Literal["profile_visit"] = "profile_visit"
    config: EmptyConfig = EmptyConfig()


class LikePostNode(_Node):
    kind: Literal["action"] = "action"
    action: Literal["like_post"] = "like_post"
    config: LikePostConfig = LikePostConfig()


class SendInvitationNode(_Node):
    kind: Literal["action"] = "action"
    action: Literal["send_invitation"] = "send_invitation"
    config: SendInvitationConfig = SendInvitationConfig()


class SendMessageNode(_Node):
    kind: Literal["action"] = "action"
    action: Literal["send_message"] = "send_message"
    config: SendMessageConfig


class WithdrawInvitationNode(_Node):
    kind: Literal["action"] = "action"
    action: Literal["withdraw_invitation"] = "withdraw_invitation"
    config: EmptyConfig = EmptyConfig()


class SendWhatsAppNode(_Node):
    kind: Literal["action"] = "action"
    action: Literal["send_whatsapp"] = "send_whatsapp"
    config: SendWhatsAppConfig


ActionNode = Annotated[
    ProfileVisitNode | LikePostNode | SendInvitationNode | SendMessageNode | WithdrawInvitationNode | SendWhatsAppNode,
    Field(discriminator="action"),
]
ACTION_NODE_TYPES = (
    ProfileVisitNode,
    LikePostNode,
    SendInvitationNode,
    SendMessageNode,
    WithdrawInvitationNode,
    SendWhatsAppNode,
)


class DelayNode(_Node):
    """Wait ``duration`` sending days (days the sender's window opens) or calendar time."""

    kind: Literal["delay"] = "delay"
    duration: int = Field(ge=-INT32_MAX, le=INT32_MAX)
    unit: Literal["sending_days", "calendar"] = "calendar"
    #: For ``calendar`` delays: what ``duration`` counts.
    calendar_unit: Literal["days", "hours", "minutes"] = "days"


class InvitationAcceptedNode(_Node):
    """True when the invitation sent earlier is accepted within ``within_days`` (polled daily)."""

    kind: Literal["condition"] = "condition"
    condition: Literal["invitation_accepted"] = "invitation_accepted"
    within_days: int = Field(default=7, ge=-INT32_MAX, le=INT32_MAX)


class RepliedNode(_Node):
    """True when the lead has replied (waiting up to ``within_days``; 0 = check now).

    Only meaningful when the graph sets ``stop_on_reply`` to false; otherwise a reply ends the
    lead's sequence with ``goal_reached`` before any condition sees it.
    """

    kind: Literal["condition"] = "condition"
    condition: Literal["replied"] = "replied"
    within_days: int = Field(default=0, ge=-INT32_MAX, le=INT32_MAX)


class ProfileHasNode(_Node):
    """True when the lead's profile has a non-empty ``field``."""

    kind: Literal["condition"] = "condition"
    condition: Literal["profile_has"] = "profile_has"
    field: Name


ConditionNode = Annotated[
    InvitationAcceptedNode | RepliedNode | ProfileHasNode,
    Field(discriminator="condition"),
]
CONDITION_NODE_TYPES = (InvitationAcceptedNode, RepliedNode, ProfileHasNode)


class EndNode(_Node):
    kind: Literal["end"] = "end"


class GoalNode(_Node):
    """The sequence reached its goal (outcome ``goal_reached``)."""

    kind: Literal["goal"] = "goal"


Node = Annotated[ActionNode | DelayNode | ConditionNode | EndNode | GoalNode, Field(discriminator="kind")]
AnyNode = (
    ProfileVisitNode
    | LikePostNode
    | SendInvitationNode
    | SendMessageNode
    | WithdrawInvitationNode
    | SendWhatsAppNode
    | DelayNode
    | InvitationAcceptedNode
    | RepliedNode
    | ProfileHasNode
    | EndNode
    | GoalNode
)
TERMINAL_KINDS = frozenset({"end", "goal"})


class Edge(_Model):
    source: Id
    target: Id
    #: ``"true"``/``"false"`` on a condition's edges; absent elsewhere.
    branch: Literal["true", "false"] | None = None


class CampaignGraph(_Model):
    nodes: list[Node] = Field(max_length=MAX_GRAPH_ITEMS)
    edges: list[Edge] = Field(default_factory=list, max_length=MAX_GRAPH_ITEMS)
    #: A reply ends the lead's sequence with ``goal_reached`` (the usual goal of outreach).
    stop_on_reply: bool = True

    def node(self, node_id: str) -> AnyNode:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)


# --- validation -------------------------------------------------------------------------------


class FaultCode(StrEnum):
    INVALID_NODE = "invalid_node"
    DUPLICATE_NODE_ID = "duplicate_node_id"
    NO_START_NODE = "no_start_node"
    MULTIPLE_START_NODES = "multiple_start_nodes"
    UNKNOWN_EDGE_SOURCE = "unknown_edge_source"
    UNKNOWN_EDGE_TARGET = "unknown_edge_target"
    CYCLE = "cycle"
    MISSING_NEXT = "missing_next"
    AMBIGUOUS_NEXT = "ambiguous_next"
    MISSING_BRANCH = "missing_branch"
    BAD_BRANCH = "bad_branch"
    EDGE_FROM_TERMINAL = "edge_from_terminal"
    OUT_OF_BOUNDS = "out_of_bounds"
    TOO_MANY_NODES = "too_many_nodes"


class GraphFault(_Model):
    """One reason a graph is refused; ``node_id`` is None only for graph-wide faults."""

    node_id: str | None
    code: FaultCode
    message: str
    field: str | None = None


class GraphInvalid(ValueError):
    """Raised by :func:`require_valid`; carries every fault."""

    def __init__(self, faults: list[GraphFault]) -> None:
        super().__init__("; ".join(f"{f.node_id or 'graph'}: {f.message}" for f in faults))
        self.faults = faults


def _fault(node_id: str | None, code: FaultCode, message: str, field: str | None = None) -> GraphFault:
    return GraphFault(node_id=node_id, code=code, message=message, field=field)


def _bounds(node_id: str, field: str, value: int, low: int, high: int) -> list[GraphFault]:
    if low <= value <= high:
        return []
    return [_fault(node_id, FaultCode.OUT_OF_BOUNDS, f"{field} must be between {low} and {high}, got {value}", field)]


def _text(node_id: str, field: str, value: str | None, limit: int, *, required: bool) -> list[GraphFault]:
    if value is None or not value.strip():
        return [_fault(node_id, FaultCode.OUT_OF_BOUNDS, f"{field} must not be empty", field)] if required else []
    if len(value) > limit:
        return [_fault(node_id, FaultCode.OUT_OF_BOUNDS, f"{field} is {len(value)} characters, at most {limit}", field)]
    return []


def config_faults(node: AnyNode) -> list[GraphFault]:
    """Bounds of one node's configuration."""
    nid = node.id
    match node:
        case LikePostNode(config=cfg):
            return _bounds(nid, "config.number_of_posts", cfg.number_of_posts, *POSTS_RANGE) + _bounds(
                nid, "config.recent_post_days", cfg.recent_post_days, *RECENT_POST_DAYS_RANGE
            )
        case SendInvitationNode(config=cfg):
            return _text(nid, "config.note", cfg.note, MAX_NOTE_CHARS, required=False)
        case SendMessageNode(config=cfg):
            return _text(nid, "config.template", cfg.template, MAX_MESSAGE_CHARS, required=True)
        case SendWhatsAppNode(config=cfg):
            if (cfg.text is None) == (cfg.template is None):
                return [_fault(nid, FaultCode.OUT_OF_BOUNDS, "give exactly one of config.text and config.template")]
            if cfg.template is not None:
                if not _TEMPLATE_NAME.fullmatch(cfg.template.name):
                    return [
                        _fault(
                            nid,
                            FaultCode.OUT_OF_BOUNDS,
                            "a WhatsApp template name is lower-case letters, digits and _",
                            "config.template.name",
                        )
                    ]
                return _text(nid, "config.template.name", cfg.template.name, 512, required=True)
            return _text(nid, "config.text", cfg.text, MAX_WHATSAPP_CHARS, required=True)
        case DelayNode():
            if node.unit == "calendar" and node.calendar_unit == "hours":
                return _bounds(nid, "duration", node.duration, 1, DELAY_HOURS_MAX)
            if node.unit == "calendar" and node.calendar_unit == "minutes":
                return _bounds(nid, "duration", node.duration, 1, DELAY_HOURS_MAX * 60)
            return _bounds(nid, "duration", node.duration, 1, DELAY_DAYS_MAX)
        case InvitationAcceptedNode():
            return _bounds(nid, "within_days", node.within_days, *WITHIN_DAYS_RANGE)
        case RepliedNode():
            return _bounds(nid, "within_days", node.within_days, *REPLIED_WITHIN_DAYS_RANGE)
        case ProfileHasNode():
            if node.field not in PROFILE_FIELDS:
                known = ", ".join(sorted(PROFILE_FIELDS))
                return [_fault(nid, FaultCode.OUT_OF_BOUNDS, f"unknown profile field {node.field!r}; known: {known}")]
            return []
    return []


def validate_graph(graph: CampaignGraph) -> list[GraphFault]:
    """Every fault of ``graph``, in node order; empty when the graph can run."""
    faults: list[GraphFault] = []
    if len(graph.nodes) > MAX_NODES:
        faults.append(_fault(None, FaultCode.TOO_MANY_NODES, f"{len(graph.nodes)} nodes, at most {MAX_NODES}"))

    nodes: dict[str, AnyNode] = {}
    for node in graph.nodes:
        if node.id in nodes:
            faults.append(_fault(node.id, FaultCode.DUPLICATE_NODE_ID, f"node id {node.id!r} is used more than once"))
        else:
            nodes[node.id] = node
        faults.extend(config_faults(node))

    outgoing: dict[str, list[Edge]] = {nid: [] for nid in nodes}
    incoming: dict[str, int] = dict.fromkeys(nodes, 0)
    for edge in graph.edges:
        known_source, known_target = edge.source in nodes, edge.target in nodes
        if not known_source:
            faults.append(
                _fault(edge.source, FaultCode.UNKNOWN_EDGE_SOURCE, f"edge to {edge.target!r} starts at no node")
            )
        if not known_target:
            faults.append(
                _fault(edge.source, FaultCode.UNKNOWN_EDGE_TARGET, f"edge points at unknown node {edge.target!r}")
            )
        if known_source and known_target:
            outgoing[edge.source].append(edge)
            incoming[edge.target] += 1

    faults.extend(_edge_shape_faults(nodes, outgoing))

    starts = [nid for nid in nodes if incoming[nid] == 0]
    if nodes and not starts:
        faults.append(_fault(None, FaultCode.NO_START_NODE, "every node has an incoming edge, so none can start"))
    for extra in starts[1:]:
        faults.append(
            _fault(
                extra,
                FaultCode.MULTIPLE_START_NODES,
                f"no edge points at {extra!r}, so it would be a second start node besides {starts[0]!r}",
            )
        )
    if not nodes:
        faults.append(_fault(None, FaultCode.NO_START_NODE, "the graph has no nodes"))

    faults.extend(_cycle_faults(nodes, outgoing))
    return faults


def _edge_shape_faults(nodes: Mapping[str, AnyNode], outgoing: Mapping[str, list[Edge]]) -> list[GraphFault]:
    faults: list[GraphFault] = []
    for nid, node in nodes.items():
        edges = outgoing[nid]
        if node.kind in TERMINAL_KINDS:
            if edges:
                faults.append(_fault(nid, FaultCode.EDGE_FROM_TERMINAL, f"a {node.kind} node cannot have next nodes"))
        elif node.kind == "condition":
            for edge in edges:
                if edge.branch is None:
                    faults.append(
                        _fault(nid, FaultCode.BAD_BRANCH, f"edge to {edge.target!r} needs branch 'true' or 'false'")
                    )
            for branch in ("true", "false"):
                count = sum(1 for e in edges if e.branch == branch)
                if count == 0:
                    faults.append(_fault(nid, FaultCode.MISSING_BRANCH, f"the condition has no {branch!r} branch"))
                elif count > 1:
                    faults.append(_fault(nid, FaultCode.AMBIGUOUS_NEXT, f"the condition has {count} {branch!r} edges"))
        else:
            for edge in edges:
                if edge.branch is not None:
                    faults.append(
                        _fault(nid, FaultCode.BAD_BRANCH, f"only conditions have branches (edge to {edge.target!r})")
                    )
            if not edges:
                faults.append(
                    _fault(nid, FaultCode.MISSING_NEXT, f"the {node.kind} has no next node; end the branch with end")
                )
            elif len(edges) > 1:
                faults.append(_fault(nid, FaultCode.AMBIGUOUS_NEXT, f"the {node.kind} has {len(edges)} next nodes"))
    return faults


def _cycle_faults(nodes: Mapping[str, AnyNode], outgoing: Mapping[str, list[Edge]]) -> list[GraphFault]:
    """One fault per cycle found by depth-first search, on the node that closes it."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(nodes, white)
    faults: list[GraphFault] = []
    for root in nodes:
        if colour[root] != white:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = [root]
        colour[root] = grey
        while stack:
            nid, index = stack[-1]
            edges = outgoing[nid]
            if index < len(edges):
                stack[-1] = (nid, index + 1)
                target = edges[index].target
                if colour[target] == grey:
                    loop = path[path.index(target) :] + [target]
                    faults.append(_fault(nid, FaultCode.CYCLE, "cycle " + " -> ".join(loop)))
                elif colour[target] == white:
                    colour[target] = grey
                    stack.append((target, 0))
                    path.append(target)
            else:
                colour[nid] = black
                stack.pop()
                path.pop()
    return faults


def parse_graph(raw: Any) -> tuple[CampaignGraph | None, list[GraphFault]]:
    """Parse and validate raw JSON: the graph when it is valid, otherwise every fault found.

    Type errors inside a node (a missing ``template``, an unknown ``action``) are reported on
    that node's id, not on its list index.
    """
    try:
        graph = CampaignGraph.model_validate(raw)
    except pydantic.ValidationError as exc:
        return None, _pydantic_faults(raw, exc)
    faults = validate_graph(graph)
    return (None if faults else graph), faults


def _pydantic_faults(raw: Any, exc: pydantic.ValidationError) -> list[GraphFault]:
    nodes = raw.get("nodes") if isinstance(raw, Mapping) else None
    faults = []
    for error in exc.errors(include_url=False, include_context=False):
        loc = list(error["loc"])
        node_id: str | None = None
        field = ".".join(map(str, loc))
        if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int) and isinstance(nodes, list):
            item = nodes[loc[1]] if loc[1] < len(nodes) else None
            node_id = str(item.get("id")) if isinstance(item, Mapping) and item.get("id") is not None else None
            # Skip the union tag pydantic adds (e.g. 'action', 'like_post') to name the real field.
            rest = [str(p) for p in loc[2:] if not _is_tag(p)]
            field = ".".join(rest) or None  # type: ignore[assignment]
            if node_id is None:
                node_id = f"#{loc[1]}"
        faults.append(_fault(node_id, FaultCode.INVALID_NODE, str(error["msg"]), field))
    return faults


_TAGS = {"action", "delay", "condition", "end", "goal"} | {a.value for a in ActionType}
_TAGS |= {"invitation_accepted", "replied", "profile_has"}


def _is_tag(part: object) -> bool:
    return isinstance(part, str) and part in _TAGS


def require_valid(raw: Any) -> CampaignGraph:
    """The parsed graph, or :class:`GraphInvalid` listing every fault."""
    graph, faults = parse_graph(raw)
    if graph is None:
        raise GraphInvalid(faults)
    return graph


# --- interpreter helpers ----------------------------------------------------------------------


def start_node(graph: CampaignGraph) -> AnyNode:
    """The one node no edge points at (the graph must be valid)."""
    targets = {e.target for e in graph.edges}
    for node in graph.nodes:
        if node.id not in targets:
            return node
    raise ValueError("graph has no start node")


def next_node_id(graph: CampaignGraph, node_id: str, branch: bool | None = None) -> str | None:
    """The node after ``node_id``: its one edge, or the ``true``/``false`` edge of a condition."""
    wanted = None if branch is None else ("true" if branch else "false")
    for edge in graph.edges:
        if edge.source == node_id and edge.branch == wanted:
            return edge.target
    return None


def total_steps(graph: CampaignGraph) -> int:
    """Steps on the longest path: the most nodes (end/goal excluded) a lead can go through."""
    children: dict[str, list[str]] = {}
    for edge in graph.edges:
        children.setdefault(edge.source, []).append(edge.target)
    memo: dict[str, int] = {}

    def longest(nid: str) -> int:
        if nid not in memo:
            own = 0 if graph.node(nid).kind in TERMINAL_KINDS else 1
            memo[nid] = own + max((longest(c) for c in children.get(nid, [])), default=0)
        return memo[nid]

    return longest(start_node(graph).id)


_PLACEHOLDER = re.compile(r"\{\{?\s*([a-z_]+)\s*\}?\}")


def render_template(template: str, fields: Mapping[str, str | None]) -> str:
    """Fill ``{first_name}`` (or ``{{first_name}}``) placeholders; unknown or empty ones vanish."""

    def fill(match: re.Match[str]) -> str:
        return fields.get(match.group(1)) or ""

    return re.sub(r"[ \t]{2,}", " ", _PLACEHOLDER.sub(fill, template)).strip()


# --- the lead workflow's contract -------------------------------------------------------------


class LeadOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"
    GOAL_REACHED = "goal_reached"


class LeadOutreachInput(BaseModel):
    """Ids only: the graph and the lead's data are loaded by activities, never passed in."""

    campaign_id: Id
    organization_id: Id
    lead_id: Id
    sender_account_id: Id
    #: The orchestrator to signal ``lead_finished`` when done; None for a lead run on its own.
    parent_workflow_id: str | None = Field(default=None, max_length=400)


class LeadFinishedSignal(BaseModel):
    lead_id: Id
    outcome: LeadOutcome


class StopSignal(BaseModel):
    """``complete_current_executions``: let an action already under way finish (True) or
    cancel it (False); either way no further step starts."""

    complete_current_executions: bool = False


class StepResult(BaseModel):
    """What one executed node did, as recorded in the execution record's per-step results."""

    step: int
    node_id: str
    kind: str
    action: str | None = None
    status: Literal["done", "failed", "skipped", "cancelled"] = "done"
    branch: bool | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class LeadOutreachResult(BaseModel):
    lead_id: str
    outcome: LeadOutcome
    steps: list[StepResult]
    ended_at_node: str | None = None


class LeadOutreachStatus(BaseModel):
    state: Literal["loading", "running", "waiting", "paused", "finished"]
    current_node: str | None
    current_step: int
    total_steps: int
    outcome: LeadOutcome | None = None
