"""The campaign workflows' own decision modules stay light: importing them loads no database,
HTTP or web framework (lead.py still does, through records.py and slots.py, until those move)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "httpx", "fastapi")


@pytest.mark.parametrize(
    "module",
    [
        "followthrough.processes.campaigns.bookkeeping",
        "followthrough.processes.campaigns.lead_rules",
        "followthrough.processes.campaigns.orchestrator",
    ],
)
def test_importing_loads_no_database_http_or_web_framework(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
