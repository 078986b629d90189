"""Everything that talks to Temporal is built here, once, so the API, the CLI, the worker and
the tests cannot drift apart: the client and its data converter, the worker, the dev server.

The names below are loaded on first use: a workflow module that imports one retry policy from
``followthrough.temporal.policies`` must not load the worker (and through it the activities,
the providers and the store) into the workflow sandbox."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from followthrough.temporal.client import connect, data_converter
    from followthrough.temporal.devserver import DevServer
    from followthrough.temporal.worker import build_worker

__all__ = ["DevServer", "build_worker", "connect", "data_converter"]

_HOMES = {
    "connect": "followthrough.temporal.client",
    "data_converter": "followthrough.temporal.client",
    "DevServer": "followthrough.temporal.devserver",
    "build_worker": "followthrough.temporal.worker",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'followthrough.temporal' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(home), name)
