"""A campaign's funnel: the store's step counts laid onto its graph, and the graph's drawing.

Pure functions (no I/O): :func:`funnel` maps
:meth:`~followthrough.store.repositories.CampaignExecutions.step_counts` onto the nodes — how
many leads reached, passed, wait at and failed at each — and :func:`layout` places the nodes in
rows by their depth from the start node, in the order the graph lists them, for the SVG.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from followthrough.processes.campaigns.graph import CampaignGraph, next_node_id, start_node
from followthrough.store.repositories.campaigns import StepCount

NODE_WIDTH, NODE_HEIGHT, COLUMN_GAP, ROW_GAP, MARGIN = 210, 78, 24, 46, 12


@dataclass
class NodeCounts:
    reached: int = 0
    passed: int = 0
    waiting: int = 0
    failed: int = 0


@dataclass
class Funnel:
    nodes: dict[str, NodeCounts]
    #: Leads that took each edge, by (source, target).
    edges: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def waiting(self) -> int:
        return sum(n.waiting for n in self.nodes.values())

    @property
    def failed(self) -> int:
        return sum(n.failed for n in self.nodes.values())


def funnel(graph: CampaignGraph, counts: list[StepCount], unstarted: int) -> Funnel:
    """Per node: ``reached`` = leads with a step there or waiting there; ``passed`` = its step
    done (or skipped); ``failed`` = its step failed; ``waiting`` = leads in progress whose last
    recorded step leads to it (or, with no step yet, at the start node)."""
    nodes = {node.id: NodeCounts() for node in graph.nodes}
    edges: dict[tuple[str, str], int] = defaultdict(int)
    kinds = {node.id: node.kind for node in graph.nodes}
    nodes[start_node(graph).id].waiting += unstarted
    for count in counts:
        here = nodes.get(count.node_id)
        if here is None:  # a step of a node the graph no longer has
            continue
        here.reached += count.count
        if count.status == "failed":
            here.failed += count.count
        elif count.status in ("done", "skipped"):
            here.passed += count.count
            branch = count.branch if kinds.get(count.node_id) == "condition" else None
            following = next_node_id(graph, count.node_id, branch)
            if following is not None:
                edges[(count.node_id, following)] += count.count
                if count.resting and following in nodes:
                    nodes[following].waiting += count.count
    for node in nodes.values():
        node.reached += node.waiting
    # Leads that reached an end or goal node: they passed the edge into it.
    for (_, target), n in edges.items():
        if kinds.get(target) in ("end", "goal"):
            nodes[target].reached += n
            nodes[target].passed += n
    return Funnel(nodes=nodes, edges=dict(edges))


@dataclass
class Box:
    id: str
    x: int
    y: int


@dataclass
class Layout:
    boxes: dict[str, Box]
    width: int
    height: int


def layout(graph: CampaignGraph) -> Layout:
    """Rows by the longest path from the start (a DAG), each row in the graph's own order."""
    depth = {start_node(graph).id: 0}
    order = [node.id for node in graph.nodes]
    for _ in range(len(order)):  # relax: at most one pass per node in a DAG
        changed = False
        for edge in graph.edges:
            if edge.source in depth and depth.get(edge.target, -1) < depth[edge.source] + 1:
                depth[edge.target] = depth[edge.source] + 1
                changed = True
        if not changed:
            break
    rows: dict[int, list[str]] = defaultdict(list)
    for node_id in order:
        rows[depth.get(node_id, max(depth.values(), default=0) + 1)].append(node_id)
    widest = max((len(r) for r in rows.values()), default=1)
    width = MARGIN * 2 + widest * NODE_WIDTH + (widest - 1) * COLUMN_GAP
    boxes: dict[str, Box] = {}
    for row_index, row in enumerate(sorted(rows)):
        ids = rows[row]
        row_width = len(ids) * NODE_WIDTH + (len(ids) - 1) * COLUMN_GAP
        left = (width - row_width) // 2
        for column, node_id in enumerate(ids):
            boxes[node_id] = Box(
                node_id, left + column * (NODE_WIDTH + COLUMN_GAP), MARGIN + row_index * (NODE_HEIGHT + ROW_GAP)
            )
    height = MARGIN * 2 + len(rows) * NODE_HEIGHT + (len(rows) - 1) * ROW_GAP
    return Layout(boxes=boxes, width=width, height=height)
