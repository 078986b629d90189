"""Importing a workflow module stays light: no SQLAlchemy, httpx or FastAPI.

A workflow module imports its process's models and its activity classes (for their
signatures), and the pure parts of the foundations. The activity modules therefore import the
store, the providers and httpx only for typing or inside functions, and ``Services`` builds
them at run time. Each workflow module (found by ``@workflow.defn`` in the source; the catalog's
workflows must all be among them) is imported in a fresh interpreter; when a heavy package is
loaded, the failure names the chain of modules that pulled it in.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import followthrough
from followthrough.catalog import workflow_classes

PACKAGE = Path(followthrough.__file__).parent
HEAVY = ("sqlalchemy", "httpx", "fastapi")


#: Run in the child: record, for the first import of each heavy package, the modules whose
#: top-level code was running (outermost first), then import the workflow module.
_PROBE = """
import importlib, importlib.abc, json, sys
HEAVY = {heavy!r}
chains = {{}}

class Probe(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in HEAVY and top not in chains:
            frame, chain = sys._getframe(1), []
            while frame is not None:
                if frame.f_code.co_name == "<module>":
                    chain.append(frame.f_globals.get("__name__", "?"))
                frame = frame.f_back
            chains[top] = [m for m in reversed(chain) if m != "__main__" and not m.startswith(("importlib", "_frozen"))]
        return None

sys.meta_path.insert(0, Probe())
importlib.import_module({module!r})
print(json.dumps({{top: chains.get(top, ["?"]) for top in HEAVY if top in sys.modules}}))
"""


def _module_name(path: Path) -> str:
    return ".".join(("followthrough", *path.relative_to(PACKAGE).with_suffix("").parts))


def _defines_workflow(source: str) -> bool:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if ast.unparse(target) == "workflow.defn":
                    return True
    return False


WORKFLOW_MODULES = sorted(_module_name(p) for p in PACKAGE.rglob("*.py") if _defines_workflow(p.read_text()))


def heavy_imports(module: str) -> dict[str, list[str]]:
    """The heavy packages importing ``module`` loads in a fresh interpreter, each with the chain
    of modules (outermost first) whose import pulled it in."""
    probe = _PROBE.format(heavy=HEAVY, module=module)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"importing {module} failed:\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_every_catalog_workflow_is_scanned() -> None:
    catalog = {cls.__module__ for cls in workflow_classes()}
    assert catalog <= set(WORKFLOW_MODULES), catalog - set(WORKFLOW_MODULES)
    assert len(WORKFLOW_MODULES) >= len(catalog) >= 10


@pytest.mark.parametrize(
    "module",
    WORKFLOW_MODULES,
)
def test_importing_a_workflow_module_loads_no_sqlalchemy_httpx_or_fastapi(module: str) -> None:
    loaded = heavy_imports(module)
    assert not loaded, f"importing {module} loads " + "; ".join(
        f"{top} through {' -> '.join(chain)}" for top, chain in loaded.items()
    )


def test_the_probe_names_the_chain_that_pulls_a_heavy_package() -> None:
    """Known to look: the store's own module loads SQLAlchemy, and the chain says through what."""
    loaded = heavy_imports("followthrough.store.outbox")
    assert "sqlalchemy" in loaded
    # The package's __init__ runs before the module itself, and it imports the engine's module.
    assert loaded["sqlalchemy"] == ["followthrough.store", "followthrough.store.database"]
