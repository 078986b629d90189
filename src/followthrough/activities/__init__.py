"""Side effects, grouped by what they touch: one class per group, constructed with
:class:`~followthrough.services.Services`, whose ``@activity.defn`` methods the worker
registers. Groups are discovered (:func:`followthrough.registry.activity_groups`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from followthrough.services import Services


def activity_methods(instance: object) -> list[Callable[..., Any]]:
    """The bound ``@activity.defn`` methods of one group instance."""
    return [
        getattr(instance, name)
        for name, attr in sorted(vars(type(instance)).items())
        if hasattr(attr, "__temporal_activity_definition")
    ]


def build_activities(services: Services) -> list[Callable[..., Any]]:
    from followthrough.registry import activity_groups

    return [m for group in activity_groups() for m in activity_methods(group(services))]
