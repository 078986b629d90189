"""What the workflow sandbox checks at run time, checked in the source of every workflow module.

Two workflows run outside the sandbox (``sandboxed=False``, see docs/CONVENTIONS.md), so a
call to the wall clock or to ``random`` there would not be refused: it would make replays
diverge. This test reads the module of every workflow in the catalog and refuses the calls and
imports that are non-deterministic or do I/O. It also fails on a planted violation, so it is
known to look.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from followthrough.catalog import workflow_classes
from followthrough.processes.campaigns import lead_action
from followthrough.temporal.children import start_abandoned

#: Workflow code outside a workflow's own module: the abandoned-children helper, a lead's action.
HELPERS = {Path(inspect.getfile(start_abandoned)), Path(inspect.getfile(lead_action))}
MODULES = sorted({Path(inspect.getfile(cls)) for cls in workflow_classes()} | HELPERS)

#: ``module.attribute`` calls that read the wall clock, draw randomness or block.
FORBIDDEN_CALLS = {
    "datetime.now",
    "datetime.utcnow",
    "datetime.today",
    "date.today",
    "time.time",
    "time.time_ns",
    "time.monotonic",
    "time.perf_counter",
    "time.sleep",
    "asyncio.sleep",
    "uuid.uuid1",
    "uuid.uuid4",
    "os.urandom",
    "os.getenv",
    "secrets.token_bytes",
    "secrets.token_hex",
}
#: Modules a workflow must not import (I/O, threads, randomness): activities do that.
FORBIDDEN_IMPORTS = {
    "random",
    "secrets",
    "threading",
    "subprocess",
    "socket",
    "httpx",
    "requests",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
}
#: Names that must not be called at all.
FORBIDDEN_NAMES = {"open", "input"}


def violations(source: str) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            for name in names:
                if name.split(".")[0] in FORBIDDEN_IMPORTS:
                    found.append(f"line {node.lineno}: import {name}")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in FORBIDDEN_NAMES:
                found.append(f"line {node.lineno}: {func.id}()")
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name | ast.Attribute):
                owner = func.value.id if isinstance(func.value, ast.Name) else func.value.attr
                if f"{owner}.{func.attr}" in FORBIDDEN_CALLS:
                    found.append(f"line {node.lineno}: {owner}.{func.attr}()")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "os" and node.attr == "environ":
                found.append(f"line {node.lineno}: os.environ")
    return found


def test_there_are_workflow_modules() -> None:
    assert len(MODULES) >= 10


@pytest.mark.parametrize("path", MODULES, ids=lambda p: f"{p.parent.name}.{p.stem}")
def test_workflow_module_is_pure(path: Path) -> None:
    assert violations(path.read_text()) == []


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("from datetime import datetime\nx = datetime.now()", "datetime.now()"),
        ("import time\ntime.sleep(1)", "time.sleep()"),
        ("import random", "import random"),
        ("from sqlalchemy import select", "import sqlalchemy"),
        ("import uuid\nuuid.uuid4()", "uuid.uuid4()"),
        ("open('f')", "open()"),
        ("import os\nos.environ['X']", "os.environ"),
        ("import datetime\ndatetime.datetime.now()", "datetime.now()"),
    ],
)
def test_a_planted_violation_is_found(snippet: str, expected: str) -> None:
    assert any(expected in v for v in violations(snippet))


# --- imports the sandbox passes through -----------------------------------------------------
SRC = Path(inspect.getfile(start_abandoned)).parents[2]  # src/


def submodule_imports(source: str) -> list[str]:
    """``from followthrough.pkg import module`` lines: the sandbox re-creates ``pkg`` for each
    execution and Python loads a from-list module without the sandbox's import hook, so
    ``module`` would be executed afresh for every workflow run, passed through or not (one
    such line cost the follow-up worker ~14 % of its CPU building pydantic models)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("followthrough") and not node.level:
            package = SRC.joinpath(*(node.module or "").split("."))
            for alias in node.names:
                if (package / f"{alias.name}.py").exists() or (package / alias.name).is_dir():
                    found.append(f"line {node.lineno}: from {node.module} import {alias.name}")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: f"{p.parent.name}.{p.stem}")
def test_workflow_module_imports_modules_by_their_full_name(path: Path) -> None:
    assert submodule_imports(path.read_text()) == []


def test_a_from_list_module_import_is_found() -> None:
    planted = "with x:\n    from followthrough.processes.followups import rules\n"
    assert submodule_imports(planted) == ["line 2: from followthrough.processes.followups import rules"]
    assert submodule_imports("import followthrough.processes.followups.rules as rules") == []
