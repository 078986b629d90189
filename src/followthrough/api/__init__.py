"""The HTTP API (FastAPI): generic workflow routes, one router per business process, webhooks."""

from followthrough.api.app import create_app

__all__ = ["create_app"]
