"""Every workflow names its ``WorkflowFamily`` once, in its class's ``FAMILY``.

The API and the CLI tag an execution with ``WorkflowSpec.family`` (read from ``FAMILY``); a
workflow that starts a child tags it too, and a family written there by hand drifts the day the
class's ``FAMILY`` is renamed: visibility then finds the child under a family no class declares.
The scan reads every module of the package and finds each place that sets the attribute: a
``family=`` argument, a ``SearchAttributePair`` whose key is ``WorkflowFamily``, a
``{"WorkflowFamily": …}`` mapping. A literal there must name a catalog family and sit in a
module listed below (those still to be moved to their class's ``FAMILY``). A child started
with ``start_abandoned(TheWorkflowClass, …)`` sets none by hand: the helper reads ``FAMILY``.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

import followthrough
from followthrough.catalog import workflow_classes

PACKAGE = Path(followthrough.__file__).parent
KEY = "WorkflowFamily"

#: Modules that still write a family by hand (owned by other work at the time of writing); each
#: is to derive it from its class's ``FAMILY`` and leave this list.
LITERALS_LEFT: set[str] = set()


class Setting(NamedTuple):
    line: int
    literal: str | None  # the family written by hand, if it is a string


def _is_key(node: ast.AST) -> bool:
    """``"WorkflowFamily"`` itself, or a call naming it (``SearchAttributeKey.for_keyword(...)``),
    or a name bound to one (``_FAMILY``)."""
    if isinstance(node, ast.Constant):
        return node.value == KEY
    if isinstance(node, ast.Call):
        return any(isinstance(a, ast.Constant) and a.value == KEY for a in node.args)
    return isinstance(node, ast.Name) and node.id in {"_FAMILY", "FAMILY_KEY"}


def _literal(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def family_settings(source: str) -> list[Setting]:
    found: list[Setting] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            for kw in node.keywords:
                if kw.arg == "family":
                    found.append(Setting(node.lineno, _literal(kw.value)))
            if name == "SearchAttributePair" and len(node.args) == 2 and _is_key(node.args[0]):
                found.append(Setting(node.lineno, _literal(node.args[1])))
        elif isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if k is not None and _is_key(k):
                    found.append(Setting(node.lineno, _literal(v)))
    return found


def test_every_catalog_workflow_declares_its_own_family() -> None:
    families = {cls.__name__: getattr(cls, "FAMILY", None) for cls in workflow_classes()}
    assert all(isinstance(f, str) and f for f in families.values()), families
    duplicated = {f for f in families.values() if list(families.values()).count(f) > 1}
    assert not duplicated, families


def test_every_place_that_sets_a_family_takes_it_from_the_class() -> None:
    known = {cls.FAMILY for cls in workflow_classes()}  # type: ignore[attr-defined]
    stray, unknown = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE).as_posix()
        for setting in family_settings(path.read_text()):
            if setting.literal is not None:
                if where not in LITERALS_LEFT:
                    stray.append(f"{where}:{setting.line} {setting.literal!r}")
                if setting.literal not in known:
                    unknown.append(f"{where}:{setting.line} {setting.literal!r}")
    assert not stray, f"a family written by hand; use the class's FAMILY: {stray}"
    assert not unknown, f"a family no catalog workflow declares: {unknown} (known: {sorted(known)})"


def test_the_scan_finds_each_way_of_setting_a_family() -> None:
    planted = """
start_abandoned("FollowUpWorkflow", x, id=i, lead_id=l, family="followup")
SearchAttributePair(SearchAttributeKey.for_keyword("WorkflowFamily"), "sender")
attrs = {"WorkflowFamily": "campaign", "LeadId": lead}
start_abandoned(FollowUpWorkflow, x, id=i, lead_id=l)
WorkflowSpec(name=n, family=cls.FAMILY)
"""
    found = family_settings(planted)
    assert sorted(s.literal for s in found if s.literal) == ["campaign", "followup", "sender"]
    assert len(found) == 4  # and the spec's family, which is not written by hand
