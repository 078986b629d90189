"""The shapes of the product's list: :class:`Process` (one business process's workflows,
activity classes, routers and CLI groups) and :class:`Catalog` (all of them, with the lists each
foundation takes).

The list itself is ``followthrough/catalog.py``, the composition root: it imports every process
and hands a :class:`Catalog` down to the foundations that need one (``api.app.create_app``, the
CLI's groups; the worker takes the workflows and activities it is given). A foundation imports
this module, never ``catalog.py``, so no arrow points back up from a process to the list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from followthrough.temporal.specs import WorkflowSpec, workflow_specs

if TYPE_CHECKING:
    from followthrough.services import Services


@dataclass(frozen=True)
class Process:
    """One business process: what it registers on the worker, the API and the CLI."""

    name: str
    workflows: tuple[type, ...] = ()
    activities: tuple[type, ...] = ()
    #: (router, public): a public router checks the provider's signature instead of the API key.
    routers: tuple[tuple[Any, bool], ...] = ()
    #: (name, typer app): ``followthrough NAME ...``.
    commands: tuple[tuple[str, Any], ...] = field(default=())


@dataclass(frozen=True)
class Catalog:
    """Every process, and the flat lists the worker, the API and the CLI read."""

    processes: tuple[Process, ...]

    @property
    def workflows(self) -> tuple[type, ...]:
        return tuple(cls for process in self.processes for cls in process.workflows)

    @property
    def activity_groups(self) -> tuple[type, ...]:
        """Classes whose ``@activity.defn`` methods the worker registers (built with Services)."""
        return tuple(cls for process in self.processes for cls in process.activities)

    @property
    def routers(self) -> tuple[tuple[Any, bool], ...]:
        """(router, public) of every process."""
        return tuple(router for process in self.processes for router in process.routers)

    @property
    def commands(self) -> tuple[tuple[str, Any], ...]:
        return tuple(command for process in self.processes for command in process.commands)

    @cached_property
    def specs(self) -> dict[str, WorkflowSpec]:
        """What the API and CLI know of each workflow type, by name."""
        return workflow_specs(self.workflows)

    def activities(self, services: Services) -> list[Callable[..., Any]]:
        """Every activity, bound to one instance of its group built with ``services``."""
        return [m for group in self.activity_groups for m in activity_methods(group(services))]


def activity_methods(instance: object) -> list[Callable[..., Any]]:
    """The bound ``@activity.defn`` methods of one group instance."""
    return [
        getattr(instance, name)
        for name, attr in sorted(vars(type(instance)).items())
        if hasattr(attr, "__temporal_activity_definition")
    ]
