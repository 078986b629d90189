"""Masking secrets and personal data in text: log lines, tracebacks and span URLs.

Bearer tokens, ``bot<id>:<token>`` paths and bare Telegram tokens, API-key-looking strings
(``sk_live_…``, ``xoxb-…``, ``EAA…``, ``key=value`` pairs named token/secret/key/password),
e-mail addresses and phone numbers (7–15 digits, ``+`` optional, spaces or dashes allowed).
``logs.py`` applies it to every log record and ``tracing.py`` to every span's URL.
"""

from __future__ import annotations

import re

_SECRET_NAMES = r"(?:api[_-]?key|access[_-]?token|token|secret|password|passwd|signing[_-]?secret|client[_-]?secret)"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Tokens and keys first: a Telegram token starts with digits a phone pattern would eat.
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1[token]"),
    (re.compile(r"(?i)\bbot\d{3,}:[A-Za-z0-9_-]{10,}"), "bot[token]"),
    (re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}"), "[token]"),
    (re.compile(r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"), "[key]"),
    (re.compile(r"\b(?:whsec|re|key)_[A-Za-z0-9]{16,}"), "[key]"),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), "[key]"),
    (re.compile(r"\bEAA[A-Za-z0-9]{20,}"), "[key]"),
    (re.compile(r"\b[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{20,}"), "[token]"),  # JWT, Discord
    (re.compile(rf"(?i)\b({_SECRET_NAMES})([\"']?\s*[:=]\s*[\"']?)([^\s\"',;&]{{6,}})"), r"\1\2[secret]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[email]"),
    # 7-15 digits, with an optional leading + and single spaces or dashes between them; an ISO
    # date (2026-12-06) is left alone.
    (re.compile(r"(?<![\w+])(?!\d{4}-\d{2}-\d{2})\+?\d(?:[ -]?\d){6,14}(?![\w])"), "[phone]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
