"""What every CLI command shares: settings or a one-line exit, running a coroutine with expected
failures as one line on stderr (exit 1; 2 for configuration), JSON out. The `followthrough`
command (``cli.py``) and every process's and platform's CLI group use it, so none of them
imports another.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import Any, TypeVar

import typer
from temporalio.exceptions import TemporalError
from temporalio.service import RPCError

from followthrough.config import ConfigError, Settings, load_settings
from followthrough.logs import configure_logging
from followthrough.manifest import Catalog
from followthrough.temporal.client import TemporalUnavailable
from followthrough.temporal.operations import (
    HandlerNotPublic,
    InvalidInput,
    QueryFailed,
    QueryNotAnswered,
    StillRunning,
    UnknownHandler,
    UnknownWorkflowType,
    UpdateRejected,
    WorkflowFailed,
    WorkflowNotFound,
    WorkflowTaskFailing,
)
from followthrough.temporal.specs import WorkflowSpecs

T = TypeVar("T")

#: Errors that end a command with one line on stderr and exit status 1 (2 for configuration).
_USER_ERRORS = (
    TemporalUnavailable,
    UnknownWorkflowType,
    WorkflowNotFound,
    UnknownHandler,
    HandlerNotPublic,
    UpdateRejected,
    InvalidInput,
    StillRunning,
    WorkflowFailed,
    WorkflowTaskFailing,
    QueryNotAnswered,
    QueryFailed,
    ValueError,
    OverflowError,
)


def workflow_specs(ctx: typer.Context) -> WorkflowSpecs:
    """The workflow types of the running command's catalog: ``cli.py`` hands its
    :class:`~followthrough.manifest.Catalog` to every group as the context's object, so a
    process's CLI never imports the list that imports it."""
    catalog = ctx.find_object(Catalog)
    if catalog is None:
        raise RuntimeError("no Catalog in the command's context (invoke through followthrough.cli)")
    return catalog.specs


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    configure_logging(settings.log_level, settings.followthrough_log_format)
    return settings


def run(coro: Awaitable[T]) -> T:
    """Run a coroutine, turning expected failures into one line on stderr."""
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    except _USER_ERRORS as exc:
        raise fail(f"error: {_first_line(exc)}") from None
    except RPCError as exc:  # an answer of Temporal's we have no better words for
        raise fail(
            f"error: Temporal answered {exc.status.name if exc.status else 'an error'}: {_first_line(exc)}"
        ) from None
    except TemporalError as exc:
        raise fail(f"error: {type(exc).__name__}: {_first_line(exc)}") from None
    except Exception as exc:
        from followthrough.store import StoreRefused  # here: the CLI starts without the store

        if not isinstance(exc, StoreRefused):
            raise
        # The store refused: a missing table, a lost connection.
        hint = " (run `followthrough db upgrade` first?)" if "no such table" in str(exc.orig) else ""
        raise fail(f"error: the store answered: {_first_line(exc.orig or exc)}{hint}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def emit(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def parse_json(value: str | None, what: str) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise fail(f"error: {what} is not valid JSON: {exc}") from None
