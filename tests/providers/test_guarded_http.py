"""The client for users' URLs dials only the address it vetted, with the name's Host and TLS.

The resolver is replaced at the boundary (``asyncio``'s ``getaddrinfo``, or the guard's
resolver); a "network" inner backend maps the public test address onto a loopback server, so
a real HTTP (and HTTPS) exchange proves what was dialled and what the server saw.
"""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from followthrough.errors import RetryableError, UnsafeUrlError
from followthrough.providers.guarded_http import GuardedTransport, guarded_client
from followthrough.providers.urls import UrlGuard

PUBLIC = "93.184.215.14"
NAME = "hooks.partner.example"


@dataclass
class Server:
    port: int
    hosts: list[str] = field(default_factory=list)  # the Host header of each request received


async def start_server(ssl_context: ssl.SSLContext | None = None, redirect_to: str | None = None) -> Any:
    """A loopback HTTP server: records each request's Host, answers 200 (or 302 to ``redirect_to``)."""
    record = Server(port=0)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        host = next(line for line in head.split("\r\n") if line.lower().startswith("host:"))
        record.hosts.append(host.split(":", 1)[1].strip())
        if redirect_to is not None and head.split()[1] == "/redirect":
            answer = f"HTTP/1.1 302 Found\r\nLocation: {redirect_to}\r\nContent-Length: 0\r\n\r\n"
        else:
            answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        writer.write(answer.encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ssl_context)
    record.port = server.sockets[0].getsockname()[1]
    return server, record


@pytest.fixture
async def plain() -> AsyncIterator[Server]:
    server, record = await start_server()
    async with server:
        yield record


class Network(httpcore.AsyncNetworkBackend):
    """Dials what it is asked to, with the public test address routed to loopback; records each dial."""

    def __init__(self) -> None:
        self.dialled: list[str] = []
        self._real = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.dialled.append(host)
        return await self._real.connect_tcp("127.0.0.1" if host == PUBLIC else host, port, timeout)

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)


def answers(*sequence: list[str]) -> Any:
    """A resolver that gives each answer in turn (the last one from then on), counting calls."""
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return sequence[min(len(calls), len(sequence)) - 1]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


async def test_a_name_that_rebinds_to_loopback_after_the_check_never_reaches_it(
    plain: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Public to the check, 127.0.0.1 to the connection: refused, and the server sees nothing."""
    asked: list[str] = []
    real = asyncio.BaseEventLoop.getaddrinfo

    async def getaddrinfo(self, host, port, **kwargs):  # type: ignore[no-untyped-def]
        if host != "rebind.example":
            return await real(self, host, port, **kwargs)
        asked.append(host)
        address = PUBLIC if len(asked) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", getaddrinfo)
    guard = UrlGuard()
    url = f"http://rebind.example:{plain.port}/ok"
    await guard.check(url)  # the check sees the public answer
    async with guarded_client(guard) as client:
        with pytest.raises(UnsafeUrlError, match="loopback"):
            await client.post(url, content=b"{}")
    assert asked == ["rebind.example", "rebind.example"]  # the connection asked again, and was vetted
    assert plain.hosts == []


async def test_the_connection_dials_the_vetted_address_with_the_names_host_header(plain: Server) -> None:
    resolver = answers([PUBLIC], ["127.0.0.1"])  # a second look-up would rebind: there is none
    network = Network()
    transport = GuardedTransport(UrlGuard(resolver=resolver), inner=network)
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(f"http://{NAME}:{plain.port}/ok")
    assert response.status_code == 200 and response.text == "ok"
    assert network.dialled == [PUBLIC] and resolver.calls == [NAME]
    assert plain.hosts == [f"{NAME}:{plain.port}"]


def certificate_for(name: str, directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` (cert, key) in ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_tls_is_checked_against_the_name_not_the_dialled_address(tmp_path: Path) -> None:
    cert, key = certificate_for(NAME, tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    server, record = await start_server(server_context)
    trusted = ssl.create_default_context(cafile=str(cert))
    async with server:
        guard = UrlGuard(resolver=answers([PUBLIC]))
        transport = GuardedTransport(guard, verify=trusted, inner=Network())
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.get(f"https://{NAME}:{record.port}/ok")
            assert response.status_code == 200 and record.hosts == [f"{NAME}:{record.port}"]
            # Another name on the same address gets no pass: the certificate is checked against it.
            guard_other = UrlGuard(resolver=answers([PUBLIC]))
            other = GuardedTransport(guard_other, verify=trusted, inner=Network())
            async with httpx.AsyncClient(transport=other) as impostor:
                with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED|hostname"):
                    await impostor.get(f"https://other.partner.example:{record.port}/ok")


@pytest.mark.parametrize("inside", ["http://rebind-inside.example:{port}/ok", "http://localhost:{port}/ok"])
async def test_a_followed_redirect_to_an_inside_address_is_refused(inside: str) -> None:
    """The operator's allow-listed host may redirect; the redirect's own connection is still vetted."""
    target, target_record = await start_server()
    async with target:
        location = inside.format(port=target_record.port)
        origin, origin_record = await start_server(redirect_to=location)
        async with origin:
            guard = UrlGuard({f"127.0.0.1:{origin_record.port}"}, resolver=answers(["127.0.0.1"]))
            async with guarded_client(guard, follow_redirects=True) as client:
                with pytest.raises(UnsafeUrlError):
                    await client.get(f"http://127.0.0.1:{origin_record.port}/redirect")
        assert len(origin_record.hosts) == 1 and target_record.hosts == []


async def test_an_allow_listed_host_is_dialled_as_it_is(plain: Server) -> None:
    resolver = answers(["127.0.0.1"])
    async with guarded_client(UrlGuard({f"127.0.0.1:{plain.port}"}, resolver=resolver)) as client:
        response = await client.post(f"http://127.0.0.1:{plain.port}/ok", content=b"{}")
    assert response.status_code == 200 and resolver.calls == []


async def test_the_next_vetted_address_is_tried_when_one_does_not_answer(plain: Server) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()

    class OnePortDown(Network):
        async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
            self.dialled.append(host)
            first = host == "93.184.215.15"
            return await self._real.connect_tcp("127.0.0.1", dead_port if first else port, 2.0)

    network = OnePortDown()
    guard = UrlGuard(resolver=answers(["93.184.215.15", PUBLIC]))
    async with httpx.AsyncClient(transport=GuardedTransport(guard, inner=network)) as client:
        response = await client.get(f"http://{NAME}:{plain.port}/ok")
    assert response.status_code == 200 and network.dialled == ["93.184.215.15", PUBLIC]


async def test_a_name_that_does_not_resolve_at_connection_time_is_a_passing_fault() -> None:
    async def unknown(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    async with guarded_client(UrlGuard(resolver=unknown)) as client:
        with pytest.raises(RetryableError, match="could not be resolved"):
            await client.get("https://nowhere.example/h")


async def test_proxy_settings_from_the_environment_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy would resolve the name itself, after the check: the client never takes one."""
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    async with guarded_client(UrlGuard(resolver=answers(["10.0.0.7"]))) as client:
        with pytest.raises(UnsafeUrlError, match="private"):
            await client.get("https://intranet.partner.example/h")
