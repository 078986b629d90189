"""Templates per message and language; amounts in minor units."""

from datetime import UTC, datetime

import pytest

from followthrough.leads.models import Lead
from followthrough.processes.followups.rules import SCHEDULES
from followthrough.providers.contracts.templates import TEMPLATES, followup_message, format_amount, render

DEMO = datetime(2025, 3, 12, 16, 5, tzinfo=UTC)


@pytest.mark.parametrize("language", ["es", "en"])
def test_every_followup_step_has_a_template_in_each_language(language: str) -> None:
    for type, steps in SCHEDULES.items():
        for name, _, _ in steps:
            assert language in TEMPLATES[f"{type}/{name}"], f"{type}/{name} lacks {language}"


def test_messages_follow_the_leads_language_and_name() -> None:
    es = Lead(id="l", phone="+5215512345678", name="Ana Pérez", language="es")
    en = es.model_copy(update={"language": "en"})
    assert followup_message("pre_demo_24h", "24h_before", es, DEMO) == (
        "Hola Ana, te recordamos tu demo mañana, 2025-03-12 a las 16:05 (UTC). ¡Te esperamos!"
    )
    assert followup_message("pre_demo_reminder", "30min_before", en, DEMO) == (
        "Hi Ana, your demo starts in 30 minutes (16:05 UTC)."
    )


def test_a_lead_without_a_name_gets_no_dangling_comma() -> None:
    lead = Lead(id="l", phone="+5215512345678", language="en")
    assert followup_message("said_later", "12h_after", lead, None).startswith("Hi, did you get a chance")


def test_unknown_template_is_a_clear_error() -> None:
    lead = Lead(id="l", phone="+5215512345678")
    with pytest.raises(KeyError, match="no template 'nope/x'"):
        render("nope/x", lead)


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [(150000, "mxn", "1,500.00 MXN"), (5, "usd", "0.05 USD"), (1200, "jpy", "1,200 JPY")],
)
def test_amounts_are_minor_units(amount: int, currency: str, text: str) -> None:
    assert format_amount(amount, currency) == text
