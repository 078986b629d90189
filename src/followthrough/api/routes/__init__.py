"""Routers of the API. Add a business router to :data:`PROTECTED` (behind the API key) or,
for webhooks that carry the provider's own signature, to :data:`PUBLIC`."""

from fastapi import APIRouter

from followthrough.api.routes import health, partner, workflows

PROTECTED: list[APIRouter] = [workflows.router, partner.router]
PUBLIC: list[APIRouter] = [health.router]
