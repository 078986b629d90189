"""What the API and CLI know of each workflow type: its class, input model and family."""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass

from pydantic import BaseModel
from temporalio import workflow

from followthrough.registry import workflow_classes


@dataclass(frozen=True)
class WorkflowSpec:
    name: str
    cls: type
    input_model: type[BaseModel] | None
    result_model: type | None
    family: str


def _spec(cls: type) -> WorkflowSpec:
    defn = workflow._Definition.must_from_class(cls)
    run_fn = defn.run_fn
    hints = typing.get_type_hints(run_fn)
    params = [p for p in inspect.signature(run_fn).parameters.values() if p.name != "self"]
    input_model = hints.get(params[0].name) if params else None
    if not (inspect.isclass(input_model) and issubclass(input_model, BaseModel)):
        input_model = None
    family = cls.__module__.rsplit(".", 1)[-1]
    return WorkflowSpec(
        name=defn.name or cls.__name__,
        cls=cls,
        input_model=input_model,
        result_model=hints.get("return"),
        family=family,
    )


def catalog() -> dict[str, WorkflowSpec]:
    specs = (_spec(cls) for cls in workflow_classes())
    return {spec.name: spec for spec in specs}
