"""Campaign graph validation: one test per kind of fault, each fault carrying its node id."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from followthrough.processes.campaigns.graph import (
    MAX_NODES,
    CampaignGraph,
    FaultCode,
    GraphInvalid,
    next_node_id,
    parse_graph,
    render_template,
    require_valid,
    start_node,
    total_steps,
    validate_graph,
)

VALID: dict[str, Any] = {
    "nodes": [
        {"id": "visit", "kind": "action", "action": "profile_visit"},
        {"id": "like", "kind": "action", "action": "like_post", "config": {"number_of_posts": 2}},
        {"id": "invite", "kind": "action", "action": "send_invitation", "config": {"note": "Hi!"}},
        {"id": "accepted", "kind": "condition", "condition": "invitation_accepted", "within_days": 7},
        {"id": "wait", "kind": "delay", "duration": 2, "unit": "sending_days"},
        {"id": "hello", "kind": "action", "action": "send_message", "config": {"template": "Hi {first_name}"}},
        {"id": "done", "kind": "goal"},
        {"id": "withdraw", "kind": "action", "action": "withdraw_invitation"},
        {"id": "give_up", "kind": "end"},
    ],
    "edges": [
        {"source": "visit", "target": "like"},
        {"source": "like", "target": "invite"},
        {"source": "invite", "target": "accepted"},
        {"source": "accepted", "target": "wait", "branch": "true"},
        {"source": "accepted", "target": "withdraw", "branch": "false"},
        {"source": "wait", "target": "hello"},
        {"source": "hello", "target": "done"},
        {"source": "withdraw", "target": "give_up"},
    ],
}


def graph(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(VALID)
    raw.update(changes)
    return raw


def faults_of(raw: dict[str, Any]) -> list[tuple[str | None, FaultCode]]:
    parsed, faults = parse_graph(raw)
    assert parsed is None, "expected the graph to be refused"
    return [(f.node_id, f.code) for f in faults]


def node(raw: dict[str, Any], node_id: str) -> dict[str, Any]:
    return next(n for n in raw["nodes"] if n["id"] == node_id)


def test_a_valid_graph_has_no_faults_and_round_trips() -> None:
    parsed, faults = parse_graph(VALID)
    assert faults == []
    assert parsed is not None
    assert CampaignGraph.model_validate(parsed.model_dump(mode="json")) == parsed


def test_duplicate_node_id() -> None:
    raw = graph()
    raw["nodes"].append({"id": "done", "kind": "end"})
    assert (("done", FaultCode.DUPLICATE_NODE_ID)) in faults_of(raw)


def test_two_start_nodes_name_the_second() -> None:
    raw = graph()
    raw["nodes"].append({"id": "orphan", "kind": "end"})
    assert faults_of(raw) == [("orphan", FaultCode.MULTIPLE_START_NODES)]


def test_no_start_node_when_everything_is_a_target() -> None:
    raw = {
        "nodes": [
            {"id": "a", "kind": "action", "action": "profile_visit"},
            {"id": "b", "kind": "action", "action": "profile_visit"},
        ],
        "edges": [{"source": "a", "target": "b"}, {"source": "b", "target": "a"}],
    }
    found = faults_of(raw)
    assert (None, FaultCode.NO_START_NODE) in found
    assert any(code == FaultCode.CYCLE for _, code in found)


def test_empty_graph_has_no_start_node() -> None:
    assert faults_of({"nodes": [], "edges": []}) == [(None, FaultCode.NO_START_NODE)]


def test_edge_to_unknown_node_names_its_source() -> None:
    raw = graph()
    raw["edges"][-1] = {"source": "withdraw", "target": "nowhere"}
    found = faults_of(raw)
    assert ("withdraw", FaultCode.UNKNOWN_EDGE_TARGET) in found


def test_edge_from_unknown_node() -> None:
    raw = graph()
    raw["edges"].append({"source": "ghost", "target": "done"})
    assert faults_of(raw) == [("ghost", FaultCode.UNKNOWN_EDGE_SOURCE)]


def test_cycle_is_reported_on_the_node_that_closes_it() -> None:
    raw = graph()
    # hello -> wait closes wait -> hello; hello loses its edge to done, done becomes a 2nd start
    raw["edges"][6] = {"source": "hello", "target": "wait"}
    found = faults_of(raw)
    assert ("hello", FaultCode.CYCLE) in found
    parsed, faults = parse_graph(raw)
    cycle = next(f for f in faults if f.code == FaultCode.CYCLE)
    assert "wait -> hello -> wait" in cycle.message


def test_branch_that_does_not_end() -> None:
    raw = graph()
    raw["edges"] = [e for e in raw["edges"] if e["source"] != "withdraw"]
    raw["nodes"] = [n for n in raw["nodes"] if n["id"] != "give_up"]
    assert faults_of(raw) == [("withdraw", FaultCode.MISSING_NEXT)]


def test_condition_missing_a_branch() -> None:
    raw = graph()
    raw["edges"] = [e for e in raw["edges"] if e.get("branch") != "false" and e["source"] != "withdraw"]
    raw["nodes"] = [n for n in raw["nodes"] if n["id"] not in ("withdraw", "give_up")]
    assert faults_of(raw) == [("accepted", FaultCode.MISSING_BRANCH)]


def test_condition_edge_without_branch_label() -> None:
    raw = graph()
    raw["edges"][4] = {"source": "accepted", "target": "withdraw"}
    found = faults_of(raw)
    assert ("accepted", FaultCode.BAD_BRANCH) in found
    assert ("accepted", FaultCode.MISSING_BRANCH) in found


def test_action_with_two_next_nodes() -> None:
    raw = graph()
    raw["edges"].append({"source": "visit", "target": "give_up"})
    assert faults_of(raw) == [("visit", FaultCode.AMBIGUOUS_NEXT)]


def test_terminal_node_with_next() -> None:
    raw = graph()
    raw["nodes"].append({"id": "after", "kind": "end"})
    raw["edges"].append({"source": "done", "target": "after"})
    assert faults_of(raw) == [("done", FaultCode.EDGE_FROM_TERMINAL)]


@pytest.mark.parametrize(
    ("node_id", "change", "field"),
    [
        ("invite", {"config": {"note": "x" * 301}}, "config.note"),
        ("like", {"config": {"number_of_posts": 0}}, "config.number_of_posts"),
        ("like", {"config": {"number_of_posts": 11}}, "config.number_of_posts"),
        ("like", {"config": {"recent_post_days": 0}}, "config.recent_post_days"),
        ("hello", {"config": {"template": "   "}}, "config.template"),
        ("wait", {"duration": 0}, "duration"),
        ("wait", {"duration": 91}, "duration"),
        ("accepted", {"within_days": 0}, "within_days"),
    ],
)
def test_config_out_of_bounds(node_id: str, change: dict[str, Any], field: str) -> None:
    raw = graph()
    node(raw, node_id).update(change)
    parsed, faults = parse_graph(raw)
    assert parsed is None
    assert [(f.node_id, f.code, f.field) for f in faults] == [(node_id, FaultCode.OUT_OF_BOUNDS, field)]


def test_note_of_exactly_300_characters_is_accepted() -> None:
    raw = graph()
    node(raw, "invite")["config"]["note"] = "x" * 300
    assert parse_graph(raw)[1] == []


def test_whatsapp_needs_exactly_one_of_text_and_template() -> None:
    raw = graph()
    node(raw, "hello").update({"action": "send_whatsapp", "config": {}})
    assert faults_of(raw) == [("hello", FaultCode.OUT_OF_BOUNDS)]
    node(raw, "hello")["config"] = {"template": {"name": "Intro Message", "language": "es"}}
    assert faults_of(raw) == [("hello", FaultCode.OUT_OF_BOUNDS)]
    node(raw, "hello")["config"] = {"template": {"name": "intro", "language": "es"}}
    assert parse_graph(raw)[1] == []


def test_profile_has_unknown_field() -> None:
    raw = graph()
    raw["nodes"][3] = {"id": "accepted", "kind": "condition", "condition": "profile_has", "field": "shoe_size"}
    assert faults_of(raw) == [("accepted", FaultCode.OUT_OF_BOUNDS)]


def test_type_errors_are_reported_on_the_node_id_not_the_index() -> None:
    raw = graph()
    node(raw, "hello")["config"] = {}
    node(raw, "visit")["action"] = "teleport"
    parsed, faults = parse_graph(raw)
    assert parsed is None
    assert {(f.node_id, f.code) for f in faults} == {
        ("visit", FaultCode.INVALID_NODE),
        ("hello", FaultCode.INVALID_NODE),
    }
    assert next(f for f in faults if f.node_id == "hello").field == "config.template"


def test_too_many_nodes() -> None:
    nodes = [{"id": f"n{i}", "kind": "action", "action": "profile_visit"} for i in range(MAX_NODES)]
    nodes.append({"id": "end", "kind": "end"})
    edges = [{"source": f"n{i}", "target": f"n{i + 1}"} for i in range(MAX_NODES - 1)]
    edges.append({"source": f"n{MAX_NODES - 1}", "target": "end"})
    assert faults_of({"nodes": nodes, "edges": edges}) == [(None, FaultCode.TOO_MANY_NODES)]


def test_all_faults_are_reported_at_once() -> None:
    raw = graph()
    node(raw, "invite")["config"]["note"] = "x" * 400
    node(raw, "like")["config"]["number_of_posts"] = 50
    raw["edges"].append({"source": "hello", "target": "nowhere"})
    found = faults_of(raw)
    assert ("invite", FaultCode.OUT_OF_BOUNDS) in found
    assert ("like", FaultCode.OUT_OF_BOUNDS) in found
    assert ("hello", FaultCode.UNKNOWN_EDGE_TARGET) in found


def test_require_valid_raises_with_every_fault() -> None:
    raw = graph()
    node(raw, "invite")["config"]["note"] = "x" * 400
    with pytest.raises(GraphInvalid) as info:
        require_valid(raw)
    assert [f.node_id for f in info.value.faults] == ["invite"]
    assert "invite: config.note is 400 characters, at most 300" in str(info.value)


def test_interpreter_walks_the_graph() -> None:
    g = require_valid(VALID)
    assert start_node(g).id == "visit"
    assert next_node_id(g, "visit") == "like"
    assert next_node_id(g, "accepted", True) == "wait"
    assert next_node_id(g, "accepted", False) == "withdraw"
    assert next_node_id(g, "done") is None
    # visit, like, invite, accepted, wait, hello
    assert total_steps(g) == 6
    assert validate_graph(g) == []


def test_render_template_fills_known_fields_and_drops_unknown() -> None:
    text = render_template("Hi {first_name}, how is {{ company }}? {missing}", {"first_name": "Ana", "company": "Acme"})
    assert text == "Hi Ana, how is Acme?"
