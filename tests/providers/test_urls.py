"""The SSRF guard: which user-supplied URLs are refused on arrival and when called."""

from __future__ import annotations

import pytest

from followthrough.errors import RetryableError, UnsafeUrlError, to_application_error
from followthrough.providers.urls import UrlGuard, parse_allowed_hosts, url_problem


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/",
        "http://localhost:8080/",
        "http://LOCALHOST./x",
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://10.0.0.7/",
        "http://172.16.3.4/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://240.0.0.1/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://2130706433/",  # 127.0.0.1 as one integer, as resolvers read it
        "http://0x7f.1/",
        "ftp://partner.example/h",
        "file:///etc/passwd",
        "http:///nohost",
    ],
)
def test_internal_or_odd_urls_are_refused_on_arrival(url: str) -> None:
    assert url_problem(url) is not None


def test_public_urls_pass_and_the_allow_list_lets_a_local_host_through() -> None:
    assert url_problem("https://hooks.partner.example/h?x=1") is None
    assert url_problem("https://93.184.215.14/h") is None
    allowed = parse_allowed_hosts(" 127.0.0.1:8081 , Hooks.Local ")
    assert url_problem("http://127.0.0.1:8081/h", allowed) is None
    assert url_problem("http://hooks.local/h", allowed) is None
    assert url_problem("http://127.0.0.1:8082/h", allowed) is not None  # another port is not listed


def test_a_bad_allow_list_entry_is_refused() -> None:
    with pytest.raises(ValueError, match="host"):
        parse_allowed_hosts("http://x.example/")


async def loopback(host: str, port: int) -> list[str]:
    return ["93.184.215.14", "127.0.0.1"]  # one internal answer among public ones is enough


async def test_a_name_that_resolves_to_loopback_is_refused_when_called() -> None:
    with pytest.raises(UnsafeUrlError, match="loopback") as refused:
        await UrlGuard(resolver=loopback).check("https://innocent.example/h")
    error = to_application_error(refused.value)
    assert error.type == "UnsafeUrl" and error.non_retryable
    assert "innocent.example" not in str(refused.value)  # a URL may carry a token: never echoed


async def test_the_real_resolver_is_asked_for_every_address(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import socket

    async def getaddrinfo(self, host, port, **kwargs):  # type: ignore[no-untyped-def]
        assert host == "rebind.example"
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::ffff:10.1.2.3", port, 0, 0))]

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", getaddrinfo)
    with pytest.raises(UnsafeUrlError, match="private"):
        await UrlGuard().check("https://rebind.example/h")


async def test_an_unknown_name_is_a_passing_fault() -> None:
    async def unknown(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(RetryableError):
        await UrlGuard(resolver=unknown).check("https://nowhere.example/h")
