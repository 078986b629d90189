"""Side effects, grouped by what they touch. Each group is a class whose constructor takes
:class:`~followthrough.services.Services`; :func:`build_activities` instantiates every group
and returns its ``@activity.defn`` methods for the worker. Add a new group to
:data:`ACTIVITY_GROUPS`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from followthrough.activities.health import HealthActivities
from followthrough.services import Services

ACTIVITY_GROUPS: list[type] = [
    HealthActivities,
]


def activity_methods(instance: object) -> list[Callable[..., Any]]:
    """The bound ``@activity.defn`` methods of one group instance."""
    methods = []
    for name in dir(type(instance)):
        attr = getattr(type(instance), name)
        if callable(attr) and hasattr(attr, "__temporal_activity_definition"):
            methods.append(getattr(instance, name))
    return methods


def build_activities(services: Services) -> list[Callable[..., Any]]:
    return [m for group in ACTIVITY_GROUPS for m in activity_methods(group(services))]
