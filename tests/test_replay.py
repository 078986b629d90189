"""Replay every recorded history in ``tests/histories`` against today's workflow code.

A change to a workflow that alters the commands it issues for an already-recorded history
fails here. Before 1.0 the change replaces the code and its history is recorded again (the
test that records it, with ``RECORD_HISTORIES=1``); from the first tagged release on it must go
behind ``workflow.patched(...)`` (docs/CONVENTIONS.md, "Versions and patches"). Record a history with
``followthrough workflow history <id> --out tests/histories/<family>/<case>.json`` (or, in a
test, ``(await handle.fetch_history()).to_json()``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from followthrough.catalog import workflow_classes
from tests.conftest import suite_converter

HISTORIES = sorted((Path(__file__).parent / "histories").rglob("*.json"))


@pytest.mark.parametrize("path", HISTORIES, ids=[str(p.relative_to(p.parents[1])) for p in HISTORIES])
async def test_history_replays_deterministically(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=list(workflow_classes()), data_converter=suite_converter())
    await replayer.replay_workflow(history)  # raises NondeterminismError on a breaking change


def test_every_workflow_has_a_recorded_history() -> None:
    recorded = {
        path.read_text().split('"workflowType":', 1)[1].split('"name":', 1)[1].split('"')[1] for path in HISTORIES
    }
    missing = {cls.__temporal_workflow_definition.name for cls in workflow_classes()} - recorded
    assert not missing, f"record a history for: {sorted(missing)}"
