"""Discovery of the package's parts, so adding a business process touches no shared list.

* workflows: every ``@workflow.defn`` class defined in a module of ``followthrough.workflows``;
* activities: every class defined in a module of ``followthrough.activities`` that has
  ``@activity.defn`` methods (its constructor takes :class:`~followthrough.services.Services`);
* API routers: the ``router`` of every module in ``followthrough.api.routes``; a module that
  sets ``PUBLIC = True`` (webhooks, which carry the provider's signature) is not behind the key;
* CLI groups: the ``app`` (a ``typer.Typer``) of every module in ``followthrough.commands``,
  added under the module's ``NAME``.

Discovery is deterministic (modules and classes in name order) and cached per process.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import cache
from types import ModuleType
from typing import Any


def _modules(package: str) -> list[ModuleType]:
    pkg = importlib.import_module(package)
    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"{package}.{name}") for name in names]


def _own_classes(module: ModuleType) -> list[type]:
    return [obj for _, obj in sorted(inspect.getmembers(module, inspect.isclass)) if obj.__module__ == module.__name__]


@cache
def workflow_classes() -> tuple[type, ...]:
    return tuple(
        cls
        for module in _modules("followthrough.workflows")
        for cls in _own_classes(module)
        if hasattr(cls, "__temporal_workflow_definition")
    )


def has_activities(cls: type) -> bool:
    return any(hasattr(attr, "__temporal_activity_definition") for attr in vars(cls).values())


@cache
def activity_groups() -> tuple[type, ...]:
    return tuple(
        cls for module in _modules("followthrough.activities") for cls in _own_classes(module) if has_activities(cls)
    )


@cache
def routers() -> tuple[tuple[Any, bool], ...]:
    """(router, public) for every routes module."""
    return tuple(
        (module.router, bool(getattr(module, "PUBLIC", False)))
        for module in _modules("followthrough.api.routes")
        if hasattr(module, "router")
    )


@cache
def command_groups() -> tuple[tuple[str, Any], ...]:
    return tuple(
        (getattr(module, "NAME", module.__name__.rsplit(".", 1)[-1]), module.app)
        for module in _modules("followthrough.commands")
        if hasattr(module, "app")
    )
