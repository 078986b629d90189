"""Every request body in the OpenAPI document has a schema and an example, per content type."""

from __future__ import annotations

from typing import Any

import pytest

from followthrough.catalog import create_app
from followthrough.config import Settings
from followthrough.processes.campaigns.control import CreateCampaign, parse_leads


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(Settings(), api_key="k" * 40).openapi()


def _bodies(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", content_type, media)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
        for content_type, media in operation["requestBody"]["content"].items()
    ]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_every_request_body_has_a_schema_and_an_example(document: dict[str, Any]) -> None:
    bodies = _bodies(document)
    assert len(bodies) >= 25
    missing = [(op, ct) for op, ct, media in bodies if not media.get("schema") or "example" not in media]
    assert missing == []


def test_json_examples_name_every_required_field(document: dict[str, Any]) -> None:
    for operation, content_type, media in _bodies(document):
        schema, example = _resolve(document, media["schema"]), media["example"]
        if content_type == "application/json" and isinstance(example, dict):
            assert set(schema.get("required", [])) <= set(example), operation


def test_the_campaign_examples_are_accepted_as_campaign_and_leads(document: dict[str, Any]) -> None:
    create = document["paths"]["/api/campaigns"]["post"]["requestBody"]["content"]
    assert CreateCampaign.model_validate(create["application/json"]["example"]).leads
    form = create["multipart/form-data"]["example"]
    CreateCampaign.model_validate_json(form["campaign"])
    assert parse_leads(csv_text=form["file"])
    leads = document["paths"]["/api/campaigns/{campaign_id}/leads"]["post"]["requestBody"]["content"]
    assert set(leads) == {"application/json", "text/csv", "multipart/form-data"}
    assert parse_leads(csv_text=leads["text/csv"]["example"]) == parse_leads(leads["application/json"]["example"])
