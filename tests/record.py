"""Record histories for the replay tests: run a workflow on the time-skipping server and
write its history to ``tests/histories/<family>/<case>.json``.

Used by the workflow tests' recording helpers; run ``python -m tests.record`` to refresh
the health-check history.
"""

from __future__ import annotations

from pathlib import Path

from temporalio.client import WorkflowHandle

HISTORIES = Path(__file__).parent / "histories"


async def save_history(handle: WorkflowHandle, family: str, case: str) -> Path:  # type: ignore[type-arg]
    """Write the (closed) execution's history; returns the path."""
    path = HISTORIES / family / f"{case}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    history = await handle.fetch_history()
    path.write_text(history.to_json())
    return path
