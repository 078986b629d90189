"""Organization keys across real API processes: two ``followthrough api`` processes on one store,
a key made and revoked with the CLI (a third process). The revocation holds at the very next
request in both, with no restart: every request reads the key's row."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from followthrough.temporal import DevServer
from followthrough.temporal.devserver import free_port

pytestmark = pytest.mark.devserver

OPERATOR_KEY = "operator-key-for-the-process-test-0123456789"


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "followthrough.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def environment(tmp_path: Path, dev_server: DevServer) -> dict[str, str]:
    env = {
        **os.environ,
        "FOLLOWTHROUGH_HOME": str(tmp_path / "home"),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'store.db'}",
        "TEMPORAL_ADDRESS": dev_server.address,
        "FOLLOWTHROUGH_API_KEY": OPERATOR_KEY,
    }
    migrated = _cli(env, "db", "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    return env


@pytest.fixture
def two_apis(environment: dict[str, str], tmp_path: Path) -> Iterator[list[str]]:
    processes, urls = [], []
    for n in range(2):
        port = free_port()
        log = (tmp_path / f"api-{n}.log").open("wb")
        env = {**environment, "FOLLOWTHROUGH_API_PORT": str(port)}
        processes.append(
            subprocess.Popen([sys.executable, "-m", "followthrough.cli", "api"], env=env, stdout=log, stderr=log)
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        for url, process in zip(urls, processes, strict=True):
            while True:
                assert process.poll() is None, (tmp_path / "api-0.log").read_text()
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code in (200, 503):
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "an API process never answered"
                time.sleep(0.2)
        yield urls
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)


def test_a_key_revoked_with_the_cli_is_refused_by_every_api_process_at_the_next_request(
    environment: dict[str, str], two_apis: list[str]
) -> None:
    created = _cli(environment, "keys", "create", "--org", "acme", "--scope", "read", "--json")
    assert created.returncode == 0, created.stderr
    issued = json.loads(created.stdout)
    headers = {"Authorization": f"Bearer {issued['key']}"}
    for url in two_apis:
        listed = httpx.get(f"{url}/api/workflows", headers=headers, timeout=10)
        assert listed.status_code == 200, listed.text
        assert httpx.post(f"{url}/api/workflows/x/cancel", headers=headers, timeout=10).status_code == 403

    revoked = _cli(environment, "keys", "revoke", issued["id"])
    assert revoked.returncode == 0, revoked.stderr
    for url in two_apis:
        refused = httpx.get(f"{url}/api/workflows", headers=headers, timeout=10)
        assert refused.status_code == 401, refused.text
        operator = httpx.get(f"{url}/api/workflows", headers={"Authorization": f"Bearer {OPERATOR_KEY}"}, timeout=10)
        assert operator.status_code == 200
