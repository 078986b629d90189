"""The one place where an HTTP outcome becomes an error class.

Every real client sends through :func:`send` (or maps an SDK's status with
:func:`error_for_status`), so the rules hold for all providers at once::

    429                      RetryableError, retry_after from Retry-After (seconds or HTTP date)
    408, 5xx                 RetryableError
    timeout, connect error   RetryableError
    401                      AuthenticationError
    403                      InvalidCredentialsError, or AccountSuspendedError when the provider
                             says the account is suspended/restricted
    400, 404, 409, 422, ...  ValidationError carrying the provider's own message

Providers with their own error codes inside a 400 (Meta's Graph API) pass a ``classify`` hook
that may decide first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from followthrough.errors import (
    AccountSuspendedError,
    AuthenticationError,
    FollowthroughError,
    InvalidCredentialsError,
    RetryableError,
    ValidationError,
)

#: A provider-specific rule: (status, parsed body, message) -> an error, or None for the defaults.
Classifier = Callable[[int, Any, str], FollowthroughError | None]

_SUSPENDED = re.compile(r"suspend|restrict|banned|locked|disabled account|account.*disabled", re.IGNORECASE)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def parse_body(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def provider_message(body: Any, text: str = "") -> str:
    """The human message inside the usual error shapes (Graph/OpenAI/Stripe ``error.message``,
    HubSpot/Cal.com ``message``, Unipile ``detail``/``title``, Telegram ``description``)."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            for key in ("message", "error_user_msg", "details"):
                if isinstance(error.get(key), str) and error[key]:
                    return str(error[key])
        for key in ("message", "detail", "description", "title", "error_description", "error"):
            if isinstance(body.get(key), str) and body[key]:
                return str(body[key])
    return text.strip()[:500] or "no message"


def error_for_status(
    provider: str,
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    classify: Classifier | None = None,
) -> FollowthroughError:
    """The error class for a non-2xx ``status``."""
    if classify is not None:
        special = classify(status, body, message)
        if special is not None:
            return special
    text = f"{provider} answered {status}: {message}"
    if status == 429:
        retry_after = parse_retry_after((headers or {}).get("retry-after") or (headers or {}).get("Retry-After"))
        return RetryableError(text, provider=provider, status=status, retry_after=retry_after)
    if status == 408 or status >= 500:
        retry_after = parse_retry_after((headers or {}).get("retry-after") or (headers or {}).get("Retry-After"))
        return RetryableError(text, provider=provider, status=status, retry_after=retry_after)
    if status == 401:
        return AuthenticationError(text, provider=provider, status=status)
    if status == 403:
        if _SUSPENDED.search(message) or _SUSPENDED.search(json.dumps(body) if body is not None else ""):
            return AccountSuspendedError(text, provider=provider, status=status)
        return InvalidCredentialsError(text, provider=provider, status=status)
    return ValidationError(text, provider=provider, status=status)


def raise_for_response(provider: str, response: httpx.Response, classify: Classifier | None = None) -> None:
    """Raise the mapped error unless the response is a success (2xx)."""
    if response.is_success:
        return
    body = parse_body(response.text)
    message = provider_message(body, response.text)
    raise error_for_status(provider, response.status_code, message, response.headers, body, classify)


def transport_error(provider: str, exc: Exception) -> RetryableError:
    """A timeout or connection fault: always worth another try."""
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "could not be reached"
    return RetryableError(f"{provider} {kind}: {type(exc).__name__}: {exc}", provider=provider)


async def send(
    client: httpx.AsyncClient,
    provider: str,
    method: str,
    url: str,
    *,
    classify: Classifier | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """One request; a transport fault or a non-2xx answer raises the mapped error class."""
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        raise transport_error(provider, exc) from exc
    raise_for_response(provider, response, classify)
    return response


async def send_json(
    client: httpx.AsyncClient,
    provider: str,
    method: str,
    url: str,
    *,
    classify: Classifier | None = None,
    **kwargs: Any,
) -> Any:
    """:func:`send`, then the JSON body (an empty body is ``{}``)."""
    response = await send(client, provider, method, url, classify=classify, **kwargs)
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError as exc:
        raise RetryableError(f"{provider} answered {response.status_code} with a body that is not JSON") from exc


def graph_api_classifier(provider: str) -> Classifier:
    """Meta's Graph API (WhatsApp Cloud API, Conversions API) puts the meaning in ``error.code``."""

    def classify(status: int, body: Any, message: str) -> FollowthroughError | None:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return None
        code = error.get("code")
        text = f"{provider} answered {status} (code {code}): {message}"
        if code == 190:  # invalid or expired access token
            return AuthenticationError(text, provider=provider, status=status)
        if code in (4, 17, 32, 613, 80007, 130429, 131048, 131056):  # rate and spam limits
            return RetryableError(text, provider=provider, status=status)
        if code in (368, 131031):  # blocked for policy / business account locked
            return AccountSuspendedError(text, provider=provider, status=status)
        if code in (10, 200, 131005):  # permission not granted
            return InvalidCredentialsError(text, provider=provider, status=status)
        return None

    return classify
