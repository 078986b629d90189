"""What an inbound WhatsApp text means for the follow-ups, in Spanish and English.

Three answers, checked in this order:

* ``opt_out`` — the lead asks to stop receiving messages (``STOP``, ``BAJA``, "darme de baja",
  "unsubscribe"…). Only short messages that *are* the request count: "can't stop thinking about
  it" is not an opt-out.
* ``said_later`` — the lead will look later ("lo reviso más tarde", "luego lo veo",
  "I'll look later", "maybe later"…): a ``said_later`` follow-up is due 12 h on.
* ``reply`` — anything else: a reply, which stops the lead's running follow-ups.

Pure and cheap: text is lower-cased, stripped of accents and punctuation, then matched.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class Intent(StrEnum):
    OPT_OUT = "opt_out"
    SAID_LATER = "said_later"
    REPLY = "reply"


#: Whole-message opt-out requests (after normalisation), optionally with "please"/"por favor".
_OPT_OUT = re.compile(
    r"^(?:"
    r"stop(?: all)?(?: messages| messaging| sending(?: me)?(?: messages)?)?"
    r"|unsubscribe(?: me)?"
    r"|opt ?out"
    r"|baja"
    r"|(?:dame|darme|deme|denme|quiero darme|me doy) de baja"
    r"|cancelar(?: suscripcion)?"
    r"|no (?:me )?(?:escribas|escriban|envies|envien|mandes|manden)(?: mas)?(?: mensajes)?"
    r"|(?:please )?do not (?:message|text|contact) me(?: again)?"
    r"|dont (?:message|text|contact) me(?: again)?"
    r")(?: (?:please|por favor|gracias|thanks|thank you))?$"
)

_LATER_WORDS = r"(?:mas tarde|luego|despues|en un rato|manana|otro dia|later|tomorrow|another time)"

#: "I'll look later" in its usual forms; searched anywhere in the message.
_SAID_LATER = re.compile(
    r"(?:"
    # es: lo reviso/veo/miro/leo … más tarde/luego/después; luego lo veo; después lo reviso
    rf"\b(?:lo |la |los |las |te )?(?:reviso|revisare|veo|vere|miro|mirare|leo|leere|checo|chequeo|contesto|respondo"
    rf"|aviso|escribo)(?: \w+)? {_LATER_WORDS}\b"
    r"|\b(?:luego|despues|mas tarde|en un rato|manana) (?:lo |la |te )?"
    r"(?:veo|reviso|miro|leo|checo|contesto|respondo|aviso|escribo|hablamos)\b"
    r"|\bahora no (?:puedo|tengo tiempo)\b"
    r"|\b(?:mas tarde|luego) (?:te )?(?:digo|confirmo)\b"
    # en: I'll look/check/read … later; maybe later; not now; get back to you
    rf"|\b(?:ill|i will|let me|im going to|gonna|will) (?:\w+ ){{0,3}}{_LATER_WORDS}\b"
    r"|\b(?:maybe|perhaps|probably) later\b"
    r"|\bnot (?:right )?now\b"
    r"|\b(?:ill|i will|let me) get back to you\b"
    r"|\b(?:talk|speak|chat) (?:to you )?later\b"
    r"|^(?:later|mas tarde|luego|despues)$"
    r")"
)


def normalize(text: str) -> str:
    """Lower case, no accents, apostrophes dropped, other punctuation as spaces, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = re.sub(r"['’`´]", "", plain)
    plain = re.sub(r"[^\w\s]", " ", plain)
    return " ".join(plain.split())


def classify(text: str) -> Intent:
    """The intent of one inbound message."""
    norm = normalize(text)
    if not norm:
        return Intent.REPLY
    if _OPT_OUT.match(norm):
        return Intent.OPT_OUT
    if _SAID_LATER.search(norm):
        return Intent.SAID_LATER
    return Intent.REPLY
