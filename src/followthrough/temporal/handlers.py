"""A workflow's signals, updates and queries, and who may send them.

Each workflow class declares what a client may send it from outside, next to its handlers:

    #: Signals and updates a client may send through the generic API (``/api/workflows/…``,
    #: ``followthrough workflow signal|update``); every other one is internal.
    PUBLIC_SIGNALS = frozenset({"pause", "resume"})
    PUBLIC_UPDATES = frozenset({"review"})
    #: Why each internal one is internal: the 403 names it.
    INTERNAL = {"lead_finished": "lead_finished is sent only by the campaign's lead workflows"}

Nothing declared means nothing public (the rule fails closed). The rule binds the generic API
and CLI only: Followthrough's own code (webhooks, activities, the campaign controls) sends
internal signals through the Temporal client or with ``Workflows.signal(..., internal=True)``.
Queries only read, so every query is open to a client.

This module is pure (``inspect``, ``typing``, pydantic, ``temporalio.workflow``): the catalog
reads it to check a message before it is sent, and the worker's payload guard
(``temporal/guard.py``) reads it inside the sandbox to drop what a handler cannot take.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from temporalio import workflow

Kind = Literal["signal", "update", "query"]


@dataclass(frozen=True)
class HandlerSpec:
    """One handler as a client sees it.

    ``takes_arg``: the handler has a parameter; ``requires_arg``: that parameter has no default
    (so a message without a payload cannot be handled); ``input_model``: the parameter's
    pydantic model (``X | None`` read as ``X``), None when it is not a model.
    """

    name: str
    input_model: type[BaseModel] | None
    takes_arg: bool
    public: bool
    requires_arg: bool = False
    internal_reason: str | None = None


def _model_of(hint: Any) -> type[BaseModel] | None:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        models = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = models[0] if len(models) == 1 else None
    return hint if inspect.isclass(hint) and issubclass(hint, BaseModel) else None


def handler_spec(name: str, fn: Callable[..., Any], *, public: bool, internal_reason: str | None = None) -> HandlerSpec:
    params = [p for p in inspect.signature(fn).parameters.values() if p.name != "self"]
    if len(params) > 1:
        raise TypeError(f"handler {name!r} takes {len(params)} arguments; one input model is the rule")
    hints = typing.get_type_hints(fn)
    model = _model_of(hints.get(params[0].name)) if params else None
    return HandlerSpec(
        name=name,
        input_model=model,
        takes_arg=bool(params),
        public=public,
        requires_arg=bool(params) and params[0].default is inspect.Parameter.empty,
        internal_reason=internal_reason,
    )


def handlers_of(cls: type) -> dict[Kind, dict[str, HandlerSpec]]:
    """Every named signal, update and query of a ``@workflow.defn`` class, with its rule.

    Raises ``TypeError`` when the class declares public a handler it does not have (a typo
    would otherwise close a handler silently).
    """
    defn = workflow._Definition.must_from_class(cls)
    public: dict[Kind, frozenset[str]] = {
        "signal": frozenset(getattr(cls, "PUBLIC_SIGNALS", frozenset())),
        "update": frozenset(getattr(cls, "PUBLIC_UPDATES", frozenset())),
    }
    reasons: Mapping[str, str] = getattr(cls, "INTERNAL", {})
    found: dict[Kind, dict[str, HandlerSpec]] = {"signal": {}, "update": {}, "query": {}}
    handlers: dict[Kind, Mapping[str | None, Any]] = {
        "signal": defn.signals,
        "update": defn.updates,
        "query": defn.queries,
    }
    for kind, defns in handlers.items():
        for name, d in defns.items():
            if name is None:  # a dynamic handler takes anything; nothing to check against
                continue
            is_public = kind == "query" or name in public.get(kind, frozenset())
            found[kind][name] = handler_spec(
                name, d.fn, public=is_public, internal_reason=None if is_public else reasons.get(name)
            )
    for kind, names in public.items():
        missing = names - set(found[kind])
        if missing:
            raise TypeError(f"{cls.__name__} declares public {kind}s it does not have: {sorted(missing)}")
    return found


def payload_problem(spec: HandlerSpec, args: Sequence[Any]) -> tuple[str, str] | None:
    """Why ``args`` (as the SDK decoded them) cannot be given to the handler, or None.

    Returns ``(reason, message)``: ``reason`` a metric label (``missing``, ``arguments``,
    ``wrong_type``), ``message`` for the log and the caller. Both name counts and types only,
    never a value: payloads may hold personal data.
    """
    if not spec.takes_arg:
        return ("arguments", f"it takes no argument, got {len(args)}") if args else None
    if len(args) > 1:
        return "arguments", f"it takes one argument, got {len(args)}"
    if not args or args[0] is None:
        return ("missing", "it needs an argument, got none") if spec.requires_arg else None
    if spec.input_model is not None and not isinstance(args[0], spec.input_model):
        return "wrong_type", f"its argument is a {type(args[0]).__name__}, not a {spec.input_model.__name__}"
    return None
