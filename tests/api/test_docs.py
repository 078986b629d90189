"""`/docs` and `/redoc` render from the package's own files: no CDN, no network but loopback."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from followthrough.catalog import create_app
from followthrough.services import Services
from tests.conftest import serving

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
async def served(services: Services) -> AsyncIterator[str]:
    """The real app behind a real uvicorn on 127.0.0.1 (no Temporal needed for the docs)."""
    async with serving(create_app(services.settings, api_key="k" * 40, services=services)) as url:
        yield url


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_nothing_from_another_host(served: str, page: str) -> None:
    async with httpx.AsyncClient(base_url=served) as client:
        html = (await client.get(page)).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets and all(a.startswith("/") for a in assets), assets
        for asset in assets:
            answer = await client.get(asset)
            assert answer.status_code == 200 and len(answer.content) > 1000, asset


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs the Debian package)")
async def test_swagger_ui_renders_the_operations_with_no_network_but_loopback(served: str, tmp_path: Path) -> None:
    assert CHROMIUM is not None
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        # every host name but loopback fails to resolve: a CDN script could not load
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=15000",
        "--dump-dom",
        f"{served}/docs",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    dom = out.decode()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "/api/workflows/{workflow_type}/start" in dom, dom[:2000]
    assert 'class="swagger-ui' in dom
