"""Examples for the OpenAPI document: every request body shows one that the route accepts."""

from __future__ import annotations

from typing import Any

#: The lead most examples act for.
LEAD = {"id": "lead-42", "phone": "+34600111222", "name": "Ana García", "language": "es"}


def body_example(example: Any, media_type: str = "application/json") -> dict[str, Any]:
    """``openapi_extra`` for a route whose body FastAPI describes from its model: add the example
    (FastAPI merges this into the generated request body, the schema stays the model's)."""
    return {"requestBody": {"content": {media_type: {"example": example}}}}
