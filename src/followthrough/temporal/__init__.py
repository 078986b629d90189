"""Everything that talks to Temporal is built here, once, so the API, the CLI, the worker and
the tests cannot drift apart: the client and its data converter, the worker, the dev server."""

from followthrough.temporal.client import connect, data_converter
from followthrough.temporal.devserver import DevServer
from followthrough.temporal.worker import build_worker

__all__ = ["DevServer", "build_worker", "connect", "data_converter"]
