"""errors.classify: what cannot succeed on retry is non-retryable, what may is left to retry."""

from __future__ import annotations

import json

import pydantic
import pytest
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from temporalio.exceptions import ApplicationError

from followthrough.errors import (
    AuthenticationError,
    RetryableError,
    as_temporal_errors,
    classify,
)


def _pydantic_error() -> pydantic.ValidationError:
    try:
        pydantic.TypeAdapter(int).validate_python("x")
    except pydantic.ValidationError as exc:
        return exc
    raise AssertionError("unreachable")


def _json_error() -> ValueError:
    try:
        json.loads("{")
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    "error",
    [
        OverflowError("Python int too large to convert to SQLite INTEGER"),
        ValueError("bad data"),
        _pydantic_error(),
        _json_error(),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
        DataError("INSERT", {}, Exception("value out of range for type bigint")),
        IntegrityError("INSERT", {}, Exception("NOT NULL constraint failed: payments.amount")),
    ],
    ids=lambda e: type(e).__name__,
)
def test_bad_data_is_a_non_retryable_validation_error(error: BaseException) -> None:
    converted = classify(error)

    assert converted is not None and converted.non_retryable and converted.type == "ValidationError"
    assert type(error).__name__ in converted.message


@pytest.mark.parametrize(
    "error",
    [
        IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: outbox.key")),
        IntegrityError("INSERT", {}, Exception('duplicate key value violates unique constraint "x"')),
        OperationalError("SELECT", {}, Exception("database is locked")),
        ConnectionError("reset by peer"),
        TimeoutError(),
    ],
    ids=lambda e: f"{type(e).__name__}:{str(e)[-20:]}",
)
def test_what_a_retry_may_fix_is_left_to_retry(error: BaseException) -> None:
    assert classify(error) is None


def test_our_own_errors_keep_their_class_and_retryability() -> None:
    permanent = classify(AuthenticationError("401", provider="stripe"))
    passing = classify(RetryableError("503", provider="stripe", retry_after=3))

    assert permanent is not None and permanent.type == "AuthenticationError" and permanent.non_retryable
    assert passing is not None and passing.type == "RetryableError" and not passing.non_retryable


def test_as_temporal_errors_raises_the_classified_form() -> None:
    with pytest.raises(ApplicationError) as raised, as_temporal_errors():
        raise OverflowError("too large")
    assert raised.value.non_retryable and isinstance(raised.value.__cause__, OverflowError)

    with pytest.raises(ConnectionError), as_temporal_errors():
        raise ConnectionError("reset")
