"""The error classes every layer shares.

Providers raise these; activities let them through; Temporal's retry policy reads their type
names. The hierarchy::

    FollowthroughError
    ├── RetryableError            429 (with retry_after), 5xx, timeouts, connection faults
    └── PermanentError            never retried, a saga compensates
        ├── AuthenticationError   401
        ├── InvalidCredentialsError  403, or credentials the provider refuses
        ├── AccountSuspendedError the provider says the account is suspended/restricted
        ├── ValidationError       400/404/422 and domain refusals, with the provider's message
        ├── OutsideCustomerServiceWindow  free text to a WhatsApp lead silent for 24 h, no template
        └── UnsafeUrlError        a user's URL points at an internal address (type ``UnsafeUrl``)

Workflows and activities convert them to :class:`temporalio.exceptions.ApplicationError` with
:func:`to_application_error`, so the type name survives serialisation and the non-retryable
flag is set for permanent errors.

Errors that are not ours but cannot succeed on a retry either — bad data met on the way
(``OverflowError``, ``ValueError`` and its kin: pydantic's and JSON's decode errors,
``UnicodeDecodeError``; SQLAlchemy's ``DataError``, and an ``IntegrityError`` that is not a
duplicate key) — are classified by :func:`classify` as non-retryable ``ValidationError``s, once,
for every activity (:func:`as_temporal_errors` and the worker's activity interceptor). A
duplicate key stays retryable: the next attempt finds the row a concurrent one wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from temporalio.exceptions import ApplicationError


class FollowthroughError(Exception):
    """Base of every error Followthrough raises on purpose."""

    retryable: bool = True
    #: The ApplicationError type; None = the class name.
    type_name: str | None = None

    def __init__(self, message: str, *, provider: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status


class RetryableError(FollowthroughError):
    """A passing fault: Temporal retries with backoff (honouring ``retry_after`` if known)."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, status=status)
        self.retry_after = retry_after


class PermanentError(FollowthroughError):
    """Retrying cannot help."""

    retryable = False


class AuthenticationError(PermanentError):
    pass


class InvalidCredentialsError(PermanentError):
    pass


class AccountSuspendedError(PermanentError):
    pass


class ValidationError(PermanentError):
    pass


class OutsideCustomerServiceWindow(PermanentError):
    """WhatsApp refuses free-form text more than 24 hours after the lead's last message, and no
    approved template is mapped to the message (``WHATSAPP_TEMPLATES``)."""


class UnsafeUrlError(PermanentError):
    """A user-supplied URL would make the worker call an internal address (SSRF)."""

    type_name = "UnsafeUrl"


#: The type names the retry policies list as non-retryable.
NON_RETRYABLE_ERROR_TYPES: list[str] = [
    "AuthenticationError",
    "InvalidCredentialsError",
    "AccountSuspendedError",
    "ValidationError",
    "OutsideCustomerServiceWindow",
    "UnsafeUrl",
]


def to_application_error(exc: FollowthroughError) -> ApplicationError:
    """The Temporal form of ``exc``: same type name, non-retryable when permanent."""
    delay = None
    if isinstance(exc, RetryableError) and exc.retry_after:
        delay = timedelta(seconds=exc.retry_after)
    return ApplicationError(
        exc.message,
        {"provider": exc.provider, "status": exc.status},
        type=exc.type_name or type(exc).__name__,
        non_retryable=not exc.retryable,
        next_retry_delay=delay,
    )


#: Words in a database's message that say an IntegrityError is a duplicate key (PostgreSQL,
#: MySQL, SQLite), which a retry may resolve.
_DUPLICATE_WORDS = ("unique", "duplicate")


def _is_db_error(exc: BaseException, name: str) -> bool:
    return any(c.__name__ == name and c.__module__.startswith("sqlalchemy") for c in type(exc).__mro__)


def permanent_cause(exc: BaseException) -> str | None:
    """Why ``exc`` cannot succeed on retry, or None when a retry may help (or it is ours)."""
    if isinstance(exc, FollowthroughError | ApplicationError):
        return None
    if _is_db_error(exc, "DataError"):
        return "the store refused the value"
    if _is_db_error(exc, "IntegrityError"):
        text = str(getattr(exc, "orig", None) or exc).lower()
        return None if any(w in text for w in _DUPLICATE_WORDS) else "the store refused the row"
    if isinstance(exc, OverflowError):
        return "a value is out of range"
    if isinstance(exc, ValueError | UnicodeError):
        return "the data is invalid"
    return None


def classify(exc: BaseException) -> ApplicationError | None:
    """The Temporal form of ``exc`` when it is ours or permanent; None leaves it as it is
    (Temporal retries it by the activity's policy)."""
    if isinstance(exc, FollowthroughError):
        return to_application_error(exc)
    cause = permanent_cause(exc)
    if cause is None:
        return None
    text = " ".join(str(exc).split())[:1000]
    return ApplicationError(
        f"{cause}: {type(exc).__name__}: {text}",
        {"error": type(exc).__name__},
        type=ValidationError.__name__,
        non_retryable=True,
    )


@contextmanager
def as_temporal_errors() -> Iterator[None]:
    """Inside an activity: re-raise a :class:`FollowthroughError` as its ApplicationError, and
    an error that cannot succeed on retry as a non-retryable ``ValidationError``."""
    try:
        yield
    except Exception as exc:
        converted = classify(exc)
        if converted is None:
            raise
        raise converted from exc
