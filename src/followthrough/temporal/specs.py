"""What the API and CLI know of each workflow type: its class, input model, family and the
signals, updates and queries it handles (with who may send them, see ``temporal/handlers.py``).

The classes come from the caller (the composition root, ``followthrough/catalog.py``): this
module lists no workflow itself."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel
from temporalio import workflow

from followthrough.temporal.handlers import HandlerSpec, Kind, handlers_of


@dataclass(frozen=True)
class WorkflowSpec:
    name: str
    cls: type
    input_model: type[BaseModel] | None
    result_model: type | None
    family: str
    signals: dict[str, HandlerSpec] = field(default_factory=dict)
    updates: dict[str, HandlerSpec] = field(default_factory=dict)
    queries: dict[str, HandlerSpec] = field(default_factory=dict)

    def handlers(self, kind: Kind) -> dict[str, HandlerSpec]:
        return {"signal": self.signals, "update": self.updates, "query": self.queries}[kind]


def workflow_spec(cls: type) -> WorkflowSpec:
    defn = workflow._Definition.must_from_class(cls)
    run_fn = defn.run_fn
    hints = typing.get_type_hints(run_fn)
    params = [p for p in inspect.signature(run_fn).parameters.values() if p.name != "self"]
    input_model = hints.get(params[0].name) if params else None
    if not (inspect.isclass(input_model) and issubclass(input_model, BaseModel)):
        input_model = None
    family = getattr(cls, "FAMILY", None)
    if not isinstance(family, str):
        raise TypeError(f"{cls.__name__} declares no FAMILY (its WorkflowFamily search attribute)")
    handlers = handlers_of(cls)
    return WorkflowSpec(
        name=defn.name or cls.__name__,
        cls=cls,
        input_model=input_model,
        result_model=hints.get("return"),
        family=family,
        signals=handlers["signal"],
        updates=handlers["update"],
        queries=handlers["query"],
    )


#: Every workflow type the API and CLI may start or steer, by its registered name.
WorkflowSpecs = Mapping[str, WorkflowSpec]


def workflow_specs(classes: Iterable[type]) -> dict[str, WorkflowSpec]:
    specs = (workflow_spec(cls) for cls in classes)
    return {spec.name: spec for spec in specs}
