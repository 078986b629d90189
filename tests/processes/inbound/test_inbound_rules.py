"""The inbound-message rules: which workflows hear about a message, and how they are found."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from followthrough.leads.models import Lead
from followthrough.processes.inbound.rules import InboundMessageInput, inbound_workflow_id, outreach_queries, plan

LEAD = Lead(id="lead-1", phone="+5215512345678")
AT = datetime(2031, 5, 1, 15, tzinfo=UTC)
EVERY_FOLLOWUP = [
    "followup-lead-1-pre_demo_24h",
    "followup-lead-1-pre_demo_reminder",
    "followup-lead-1-post_demo",
    "followup-lead-1-said_later",
    "followup-lead-1-cold_lead_reengagement",
]


def message(intent: str) -> InboundMessageInput:
    return InboundMessageInput(message_id="wamid.1", lead=LEAD, intent=intent, received_at=AT)  # type: ignore[arg-type]


def test_a_reply_tells_every_followup_and_the_outreach_that_the_lead_replied() -> None:
    todo = plan(message("reply"), LEAD.id)
    assert (todo.followup_signal, todo.followup_ids) == ("lead_replied", EVERY_FOLLOWUP)
    assert (todo.start_said_later, todo.outreach_signal) == (None, "lead_replied")


def test_said_later_starts_said_later_and_leaves_a_running_one_its_timer() -> None:
    todo = plan(message("said_later"), LEAD.id)
    assert todo.followup_signal == "lead_replied"
    assert todo.followup_ids == [i for i in EVERY_FOLLOWUP if not i.endswith("said_later")]
    assert todo.start_said_later == "followup-lead-1-said_later"
    assert todo.outreach_signal == "lead_replied"


def test_an_opt_out_opts_every_followup_out_and_stops_the_outreach() -> None:
    todo = plan(message("opt_out"), LEAD.id)
    assert (todo.followup_signal, todo.followup_ids) == ("opted_out", EVERY_FOLLOWUP)
    assert (todo.start_said_later, todo.outreach_signal) == (None, "stop")


def test_the_workflow_id_is_a_digest_of_the_provider_message_id() -> None:
    assert inbound_workflow_id("wamid.HBgM") == "inbound-" + hashlib.sha256(b"wamid.HBgM").hexdigest()[:32]


def test_the_input_keeps_instants_in_utc_and_refuses_unknown_intents() -> None:
    local = datetime(2031, 5, 1, 9, tzinfo=timezone(timedelta(hours=-6)))
    given = InboundMessageInput(message_id="m", lead=LEAD, intent="reply", received_at=local)
    assert given.received_at == AT and given.received_at.tzinfo == UTC
    with pytest.raises(ValidationError, match="intent"):
        message("maybe")
    with pytest.raises(ValidationError, match="received_at"):
        InboundMessageInput(message_id="m", lead=LEAD, intent="reply", received_at=datetime(2031, 5, 1))


def test_outreach_query_for_one_lead_is_the_plain_visibility_query() -> None:
    assert outreach_queries(["lead-1"]) == [
        'LeadId="lead-1" AND WorkflowType="LeadOutreachWorkflow" AND ExecutionStatus="Running"'
    ]


def test_outreach_queries_cover_every_lead_id_once_in_chunks_and_quote_them() -> None:
    ids = [f"l{n}" for n in range(5)] + ["l0", "", 'x"y']
    queries = outreach_queries(ids, chunk=3)
    assert queries == [
        'LeadId IN ("l0", "l1", "l2") AND WorkflowType="LeadOutreachWorkflow" AND ExecutionStatus="Running"',
        'LeadId IN ("l3", "l4", "x\\"y") AND WorkflowType="LeadOutreachWorkflow" AND ExecutionStatus="Running"',
    ]
    assert outreach_queries([]) == []


def test_the_inbound_workflow_id_does_not_carry_the_wamid_and_its_phone() -> None:
    wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJCNUY3RjQ0QzQ2OUI5MjlGNEIA"  # base64 of +16503879439 inside
    workflow_id = inbound_workflow_id(wamid)
    assert workflow_id.startswith("inbound-") and "HBgL" not in workflow_id and "wamid" not in workflow_id
    assert workflow_id == inbound_workflow_id(wamid)  # a redelivery reaches the same execution
    assert workflow_id != inbound_workflow_id(wamid + "x")
