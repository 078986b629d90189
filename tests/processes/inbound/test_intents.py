"""Classifying inbound WhatsApp texts: opt-out, "I'll look later", or a plain reply."""

import pytest

from followthrough.processes.inbound.intents import Intent, classify, normalize


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        "Stop.",
        "BAJA",
        "baja!",
        "Baja por favor",
        "darme de baja",
        "Quiero darme de baja",
        "unsubscribe",
        "Unsubscribe me please",
        "stop sending me messages",
        "No me escribas más",
        "no me envíen mensajes",
        "Don't message me again",
        "opt out",
    ],
)
def test_opt_out_requests_are_recognised(text: str) -> None:
    assert classify(text) is Intent.OPT_OUT


@pytest.mark.parametrize(
    "text",
    [
        "Lo reviso más tarde",
        "lo reviso mas tarde, gracias",
        "Luego lo veo",
        "luego lo veo 👍",
        "Lo veo luego",
        "Después lo reviso",
        "te aviso luego",
        "ahora no puedo",
        "Más tarde",
        "lo miro mañana",
        "I'll look later",
        "I'll check it later",
        "I will read it later",
        "let me look at it tomorrow",
        "Maybe later",
        "not now, sorry",
        "I'll get back to you",
        "talk later",
        "later",
    ],
)
def test_look_later_messages_are_recognised(text: str) -> None:
    assert classify(text) is Intent.SAID_LATER


@pytest.mark.parametrize(
    "text",
    [
        "Hola, me interesa",
        "Yes please book me",
        "¿Cuánto cuesta?",
        "I can't stop thinking about it",
        "La baja de precios me interesa",
        "stop by tomorrow at 5?",
        "",
        "   ",
        "ok",
        "Perfecto, nos vemos",
    ],
)
def test_other_messages_are_replies(text: str) -> None:
    assert classify(text) is Intent.REPLY


def test_normalize_drops_accents_case_and_punctuation() -> None:
    assert normalize("¡Lo REVISO más tarde!  ") == "lo reviso mas tarde"
    assert normalize("I'll  look…later") == "ill look later"
