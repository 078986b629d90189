"""The HTTP client for users' URLs: it dials only an address it has just vetted (no DNS rebinding).

:class:`~followthrough.providers.urls.UrlGuard` checks a URL before the call, but the
connection would resolve the name again, and a name can answer a public address to the check
and ``127.0.0.1`` or ``169.254.169.254`` to the connection (DNS rebinding). So the client from
:func:`guarded_client` connects through :class:`GuardedNetworkBackend`, httpcore's hook for
opening sockets: for every new connection it resolves the name **once**
(:meth:`UrlGuard.vetted_addresses`), refuses if any answer is not public, and dials one of
those very addresses. httpcore keeps the name for everything else, so the ``Host`` header, TLS
SNI and the certificate check are the name's, and a redirect (when a caller follows one) opens
its connection through the same check. Hosts the operator allow-listed
(``FOLLOWTHROUGH_ALLOWED_CALLBACK_HOSTS``, ``NOTIFICATION_WEBHOOK_URL``'s host) are dialled as
they are. The client ignores proxy settings from the environment (a proxy would do the
resolving) and keeps httpx's own error classes for what the network does.

A refusal is raised from inside the request as :class:`~followthrough.errors.UnsafeUrlError`
(never retried); a name that does not resolve as :class:`~followthrough.errors.RetryableError`.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from followthrough.providers.urls import UrlGuard

#: What one socket option is, as httpcore takes it.
SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses the guard vetted in the same breath."""

    def __init__(
        self, guard: UrlGuard, *, provider: str = "webhook", inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self._guard = guard
        self._provider = provider
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._guard.vetted_addresses(host, port, provider=self._provider)
        options = list(socket_options or ())
        last: Exception | None = None
        for address in addresses if addresses is not None else [host]:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:  # the next vetted address
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not reachable from a user's URL")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, whose connection pool opens sockets through the guard."""

    def __init__(
        self,
        guard: UrlGuard,
        *,
        provider: str = "webhook",
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        super().__init__(verify=verify, limits=limits, trust_env=False)
        # httpx builds its pool without a way to pass a network backend: build the same pool
        # with one. ``_pool`` is the one private name this leans on; the rebinding tests fail
        # if an httpx release renames it.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedNetworkBackend(guard, provider=provider, inner=inner),
        )


def guarded_client(guard: UrlGuard, *, provider: str = "webhook", **kwargs: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for users' URLs (see the module docstring); ``kwargs`` go to
    the client (``timeout``…; redirects are not followed unless ``follow_redirects=True``),
    ``verify`` to the transport."""
    transport = GuardedTransport(guard, provider=provider, verify=kwargs.pop("verify", True))
    return httpx.AsyncClient(transport=transport, trust_env=False, **kwargs)
