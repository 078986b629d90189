"""The OpenAPI document: every request body shows one that the route accepts, and every route
states the error answers it gives (so clients and the fuzz test's status-code check can rely on it)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

#: The lead most examples act for.
LEAD = {"id": "lead-42", "phone": "+34600111222", "name": "Ana García", "language": "es"}


def body_example(example: Any, media_type: str = "application/json") -> dict[str, Any]:
    """``openapi_extra`` for a route whose body FastAPI describes from its model: add the example
    (FastAPI merges this into the generated request body, the schema stays the model's)."""
    return {"requestBody": {"content": {media_type: {"example": example}}}}


# --- the error answers every route documents ---------------------------------------------------
class ErrorAnswer(BaseModel):
    """Every error answer: ``detail`` says what is wrong (a list of field faults for a 422-like
    one), and some add fields (``workflow_id``, ``status``, ``known_types``…)."""

    model_config = ConfigDict(extra="allow")

    detail: str | list[dict[str, Any]]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorAnswer, "description": description}


#: What a route behind an API key can answer, whatever it does (``include_router(responses=…)``).
KEYED_ANSWERS: dict[int | str, dict[str, Any]] = {
    401: _error("No API key, or one that is not valid (`Authorization: Bearer <key>`)."),
    403: _error("The key lacks the scope this route needs, or the resource is another organization's."),
    429: _error("Rate limit of the key exceeded (`FOLLOWTHROUGH_RATE_LIMIT`); `Retry-After` says when to retry."),
    503: _error("Temporal or the store did not answer; try again."),
}

#: What a provider's signed webhook can answer.
WEBHOOK_ANSWERS: dict[int | str, dict[str, Any]] = {
    400: _error("The body is not the provider's event."),
    401: _error("The signature header is missing."),
    403: _error("The signature does not verify, is replayed, or the webhook's secret is not configured."),
    429: _error("Rate limit of the webhook exceeded (`FOLLOWTHROUGH_WEBHOOK_RATE_LIMIT`)."),
    503: _error("The store or Temporal did not answer; the provider should deliver again."),
}


def router_answers(*, public: bool, limited: bool) -> dict[int | str, dict[str, Any]] | None:
    """The answers every route of a router gives, for ``include_router(responses=…)``: the key's
    (without 429 for a probe behind the key, ``/metrics``), a webhook's, or none (a public page)."""
    if not public:
        return KEYED_ANSWERS if limited else {code: a for code, a in KEYED_ANSWERS.items() if code != 429}
    return WEBHOOK_ANSWERS if limited else None


_NOT_FOUND = "No such resource (workflow, record, type or handler), or not one this key may see."
_TOO_LARGE = "The body is larger than the route's limit (`FOLLOWTHROUGH_MAX_BODY_BYTES`…)."
_EXISTING = "The workflow with this id was already started: its current state, nothing new started."
_CONFLICT = "The workflow's state does not allow it (closed, still running, failed, or its id is taken)."
_BAD_VALUE = "A value the route cannot use (said in `detail`)."

#: Route-specific answers beyond the rules of :func:`install_error_answers`: "METHOD path" ->
#: status -> description. Gathered from the routes' code and the fuzz test (tests/api/test_fuzz.py).
ROUTE_ANSWERS: dict[str, dict[int, str]] = {}


def _answers(codes: dict[int, str], *routes: str) -> None:
    for route in routes:
        ROUTE_ANSWERS.setdefault(route, {}).update(codes)


_STARTS = (
    "POST /api/workflows/{workflow_type}/start",
    "POST /api/workflows/{workflow_type}/execute",
    "POST /api/onboarding",
    "POST /api/users",
    "POST /api/followups",
    "POST /api/payments",
    "POST /api/bookings",
    "POST /api/deployments",
    "POST /api/content",
    "POST /api/integrations/sync",
    "POST /api/temporal/notification/start",
    "POST /api/temporal/onboarding/execute",
    "POST /api/campaigns/{campaign_id}/start",
    "POST /api/campaigns/start",
)
_answers({200: _EXISTING, 409: _CONFLICT, 400: _BAD_VALUE}, *_STARTS)
_answers({200: "The account was already registered: it is updated."}, "POST /api/sender-accounts")
_answers(
    {409: _CONFLICT},
    "GET /api/workflows/{workflow_id}/result",
    "GET /api/workflows/{workflow_id}/query/{name}",
    "POST /api/workflows/{workflow_id}/signal/{name}",
    "POST /api/workflows/{workflow_id}/update/{name}",
    "POST /api/workflows/{workflow_id}/cancel",
    "POST /api/workflows/{workflow_id}/terminate",
    "POST /api/temporal/workflow/{workflow_id}/cancel",
    "POST /api/content/{content_id}/review",
    "POST /api/deployments/{id}/pause",
    "POST /api/deployments/{id}/resume",
    "POST /api/deployments/{id}/cancel",
    "POST /api/campaigns/{campaign_id}/pause",
    "POST /api/campaigns/{campaign_id}/resume",
    "POST /api/campaigns/{campaign_id}/stop",
    "POST /api/campaigns/pause",
    "POST /api/campaigns/resume",
    "POST /api/campaigns/stop",
    "POST /payments/sandbox/{session_id}/pay",
    "POST /api/campaigns",
)
_answers(
    {404: _NOT_FOUND},
    "GET /api/campaigns/status",
    "POST /api/campaigns/start",
    "POST /api/campaigns/pause",
    "POST /api/campaigns/resume",
    "POST /api/campaigns/stop",
)
_answers({400: "The visibility query is not valid."}, "GET /api/workflows")
_answers(  # the body is read by the route (JSON, a form or a CSV file): its own 422 answers
    {422: "The campaign's graph (every fault with its node id), leads, CSV or sender is not valid."},
    "POST /api/campaigns",
)
_answers(
    {400: "The body is not a payload JSON object.", 401: KEYED_ANSWERS[401]["description"]},
    "POST /codec/encode",
    "POST /codec/decode",
)
_answers({403: "The codec endpoint needs a key with this scope."}, "POST /codec/encode", "POST /codec/decode")


def install_error_answers(app: FastAPI) -> None:
    """Make the OpenAPI document state the error answers each route really gives, on top of what
    the routers say (``KEYED_ANSWERS``/``WEBHOOK_ANSWERS`` from ``include_router``): 404 where the
    path names a resource, 413 where there is a body, and :data:`ROUTE_ANSWERS`."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault("ErrorAnswer", ErrorAnswer.model_json_schema())
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorAnswer"}}}
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                responses = operation.setdefault("responses", {})
                extra: dict[int, str] = {}
                if "{" in path:
                    extra[404] = _NOT_FOUND
                if "requestBody" in operation:
                    extra[413] = _TOO_LARGE
                extra.update(ROUTE_ANSWERS.get(f"{method.upper()} {path}", {}))
                for code, description in extra.items():
                    if str(code) in responses:
                        continue
                    if 200 <= code < 300:  # another success: the documented one's body
                        success: dict[str, Any] = next(
                            (v for k, v in sorted(responses.items()) if k.startswith("2")), {}
                        )
                        responses[str(code)] = {**success, "description": description}
                    else:
                        responses[str(code)] = {"description": description, "content": error}
                operation["responses"] = dict(sorted(responses.items()))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
