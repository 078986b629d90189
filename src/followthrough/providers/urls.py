"""Which user-supplied URLs the worker may call: never an internal address (no SSRF).

A URL a user gives (a notification's ``webhook_url``, a bot's webhook) is checked twice:

* **when it is accepted** — :func:`url_problem`, syntactic: scheme ``http``/``https``, a host,
  no literal IP in a refused range, no internal name (``localhost``, ``metadata.google.internal``,
  ``*.internal``…). The API answers 422 naming the field.
* **when it is called** — :meth:`UrlGuard.check`: the same, then every address the name
  resolves to must be public. Raises :class:`~followthrough.errors.UnsafeUrlError`
  (``ApplicationError`` type ``UnsafeUrl``, never retried).

Refused: loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16 with
the cloud metadata address, fe80::/10), multicast, unspecified, reserved, CGNAT (100.64/10), and
the IPv4-mapped / NAT64 / 6to4 IPv6 forms of those. A host listed in
``FOLLOWTHROUGH_ALLOWED_CALLBACK_HOSTS`` (``name`` or ``name:port``) passes whatever it resolves to.

A check alone cannot stop DNS rebinding: a name may answer a public address to the check and
``127.0.0.1`` to the connection a moment later. The client that calls users' URLs therefore
connects through :mod:`followthrough.providers.guarded_http`, which asks
:meth:`UrlGuard.vetted_addresses` at connection time and dials only the address it vetted (the
``Host`` header, TLS SNI and certificate check stay on the name).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from followthrough.errors import RetryableError, UnsafeUrlError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: (host, port) -> the addresses it resolves to, as strings.
Resolver = Callable[[str, int], Awaitable[list[str]]]

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

#: Names that reach the machine itself or a cloud's metadata service.
_REFUSED_NAMES = frozenset({"localhost", "metadata", "metadata.google.internal", "instance-data"})
_REFUSED_SUFFIXES = (".localhost", ".internal", ".local", ".localdomain", ".home.arpa")


def parse_allowed_hosts(value: str) -> frozenset[str]:
    """``"hooks.local,127.0.0.1:8081"`` -> the entries, lower-cased; ``""`` -> none."""
    entries = [item.strip().lower() for item in value.split(",") if item.strip()]
    for entry in entries:
        if "/" in entry or "@" in entry or entry.startswith(":"):
            raise ValueError(f"expected a host name or host:port, got {entry!r}")
    return frozenset(entries)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped ::ffff:a.b.c.d, NAT64, 6to4), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    return None


def address_problem(address: IPAddress) -> str | None:
    """Why the worker must not call ``address`` (None when it is a public address)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_problem(embedded)
    for refused, label in (
        (address.is_loopback, "loopback"),
        (address.is_unspecified, "unspecified"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_reserved, "reserved"),
        (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT, "shared (CGNAT)"),
        (address.is_private, "private"),
        (not address.is_global, "not public"),
    ):
        if refused:
            return f"{address} is a {label} address"
    return None


def _literal(host: str) -> IPAddress | None:
    """The address ``host`` spells, also in the legacy IPv4 forms resolvers accept
    (``2130706433``, ``127.1``, ``0x7f.0.0.1``), or None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _default_port(scheme: str, port: int | None) -> int:
    return port if port is not None else (443 if scheme == "https" else 80)


def _split(url: str) -> tuple[str, str, int]:
    """(scheme, host, port), or ValueError saying what is wrong."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise ValueError("has no host")
    return scheme, host, _default_port(scheme, port)


def operator_hosts(url: str | None) -> frozenset[str]:
    """The ``host:port`` of a URL the operator configured (trusted like an allow-listed host)."""
    if not url:
        return frozenset()
    try:
        _, host, port = _split(url)
    except ValueError:
        return frozenset()
    return frozenset({f"{host}:{port}"})


def is_allowed(host: str, port: int, allowed_hosts: Iterable[str]) -> bool:
    allowed = set(allowed_hosts)
    return host in allowed or f"{host}:{port}" in allowed or f"[{host}]:{port}" in allowed


def url_problem(url: str, allowed_hosts: Iterable[str] = ()) -> str | None:
    """Why ``url`` must not be accepted, before any DNS look-up (None when it may be)."""
    try:
        scheme, host, port = _split(url)
    except ValueError as exc:
        return str(exc)
    if is_allowed(host, port, allowed_hosts):
        return None
    if host in _REFUSED_NAMES or host.endswith(_REFUSED_SUFFIXES):
        return f"points at an internal host ({host})"
    literal = _literal(host)
    if literal is not None:
        problem = address_problem(literal)
        if problem is not None:
            return f"points at an internal address: {problem}"
    return None


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the event loop's resolver)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class UrlGuard:
    """The call-time check: syntax, then every resolved address (see the module docstring)."""

    def __init__(self, allowed_hosts: Iterable[str] = (), *, resolver: Resolver | None = None) -> None:
        self.allowed_hosts = frozenset(allowed_hosts)
        self._resolve = resolver or resolve

    async def check(self, url: str, *, provider: str = "webhook") -> None:
        """Raise :class:`UnsafeUrlError` unless ``url`` may be called now."""
        problem = url_problem(url, self.allowed_hosts)
        if problem is not None:
            raise UnsafeUrlError(f"{provider} URL {problem}", provider=provider)
        _, host, port = _split(url)
        await self.vetted_addresses(host, port, provider=provider)

    async def vetted_addresses(self, host: str, port: int, *, provider: str = "webhook") -> list[str] | None:
        """The addresses a connection to ``host:port`` may dial, each of them public; None for an
        allow-listed host (dialled as it is). One internal answer refuses them all, as
        :class:`UnsafeUrlError`; a failed look-up is a :class:`RetryableError`."""
        host = host.strip("[]").rstrip(".").lower()
        if is_allowed(host, port, self.allowed_hosts):
            return None
        if host in _REFUSED_NAMES or host.endswith(_REFUSED_SUFFIXES):
            raise UnsafeUrlError(f"{provider} URL points at an internal host", provider=provider)
        literal = _literal(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = await self._resolve(host, port)
            except (OSError, UnicodeError) as exc:  # socket.gaierror: unknown name, resolver down
                raise RetryableError(
                    f"{provider} host could not be resolved: {type(exc).__name__}", provider=provider
                ) from exc
            if not addresses:
                raise RetryableError(f"{provider} host resolved to no address", provider=provider)
        vetted: list[str] = []
        for raw in addresses:
            address = _literal(raw.split("%", 1)[0])
            problem = address_problem(address) if address is not None else f"{raw!r} is not an address"
            if problem is not None:
                raise UnsafeUrlError(f"{provider} URL resolves to an internal address: {problem}", provider=provider)
            if str(address) not in vetted:
                vetted.append(str(address))
        return vetted
