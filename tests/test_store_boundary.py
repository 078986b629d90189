"""One door to the database: only ``store/`` imports SQLAlchemy.

Activities, routes and commands call the repositories under ``store/repositories/``; the one
provider that speaks SQL to the customers' own databases (``providers/user_stores.py``) is the
documented exception (docs/CONVENTIONS.md). The scan reads every module's source (an import
under ``if TYPE_CHECKING:`` or inside a function counts too), and fails on a planted import, so
it is known to look.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import followthrough

PACKAGE = Path(followthrough.__file__).parent
STORE = PACKAGE / "store"

#: Modules outside store/ allowed to import SQLAlchemy, and why.
ALLOWED = {
    "providers/user_stores.py": "a provider: it speaks SQL to the customers' own databases",
}


def sqlalchemy_imports(source: str) -> list[int]:
    """The line numbers of the imports of ``sqlalchemy`` (or a submodule) in ``source``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(name == "sqlalchemy" or name.startswith("sqlalchemy.") for name in names):
            lines.append(node.lineno)
    return lines


def importers() -> dict[str, list[int]]:
    """Modules of the package outside store/ that import SQLAlchemy, by path under the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(STORE):
            continue
        lines = sqlalchemy_imports(path.read_text())
        if lines:
            found[path.relative_to(PACKAGE).as_posix()] = lines
    return found


def test_only_the_store_and_the_named_exceptions_import_sqlalchemy() -> None:
    outside = {path: lines for path, lines in importers().items() if path not in ALLOWED}
    assert not outside, (
        "these modules import SQLAlchemy outside store/ (call a repository under store/repositories/ instead): "
        + ", ".join(f"{path} (line {', '.join(map(str, lines))})" for path, lines in outside.items())
    )


@pytest.mark.parametrize("path", sorted(ALLOWED))
def test_every_exception_is_still_needed(path: str) -> None:
    assert path in importers(), f"{path} no longer imports SQLAlchemy: remove it from the exceptions"


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import sqlalchemy\n", [1]),
        ("from sqlalchemy.exc import IntegrityError\n", [1]),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sqlalchemy import Table\n", [3]),
        ("def f():\n    import sqlalchemy.orm as orm\n", [2]),
        ("from followthrough.store import StoreError\nimport sqlalchemy_utils\n", []),
        ("from .sqlalchemy import x\n", []),
    ],
)
def test_the_scan_finds_every_form_of_import(source: str, found: list[int]) -> None:
    assert sqlalchemy_imports(source) == found
