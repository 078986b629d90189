"""The WhatsApp Cloud API client against a local fake: the request Meta expects."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from followthrough.errors import AuthenticationError
from followthrough.providers.contracts.messaging import CatalogMessage, SendMessageInput, TemplateMessage
from followthrough.providers.contracts.templates import parse_whatsapp_templates
from followthrough.providers.messaging import WhatsAppClient, with_approved_template

BASE = "https://graph.fake"


def client(http: httpx.AsyncClient) -> WhatsAppClient:
    return WhatsAppClient(http, token="EAAtoken", phone_number_id="1065", api_version="v21.0", base_url=BASE)


async def test_text_message_request(http: httpx.AsyncClient) -> None:
    with respx.mock:
        route = respx.post(f"{BASE}/v21.0/1065/messages").respond(
            200, json={"messaging_product": "whatsapp", "messages": [{"id": "wamid.ABC"}]}
        )
        result = await client(http).send(SendMessageInput(to="+5215512345678", text="Hola", idempotency_key="k1"))
    assert result.message_id == "wamid.ABC"
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.headers["Authorization"] == "Bearer EAAtoken"
    assert json.loads(request.content) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5215512345678",
        "type": "text",
        "text": {"body": "Hola", "preview_url": False},
    }


async def test_template_message_request(http: httpx.AsyncClient) -> None:
    with respx.mock:
        route = respx.post(f"{BASE}/v21.0/1065/messages").respond(200, json={"messages": [{"id": "wamid.T"}]})
        await client(http).send(
            SendMessageInput(
                to="+34600111222",
                template=TemplateMessage(name="demo_reminder", language="es", parameters=["Ana", "10:00"]),
                idempotency_key="k2",
            )
        )
    body = json.loads(route.calls.last.request.content)
    assert body["type"] == "template"
    assert body["template"] == {
        "name": "demo_reminder",
        "language": {"code": "es"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "10:00"}]}
        ],
    }


async def test_expired_token_code_190_is_authentication_error(http: httpx.AsyncClient) -> None:
    with respx.mock:
        respx.post(f"{BASE}/v21.0/1065/messages").respond(
            400, json={"error": {"message": "Error validating access token", "type": "OAuthException", "code": 190}}
        )
        with pytest.raises(AuthenticationError, match="validating access token"):
            await client(http).send(SendMessageInput(to="+5215512345678", text="x", idempotency_key="k3"))


def test_input_needs_exactly_one_body() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        SendMessageInput(to="+5215512345678", idempotency_key="k")
    with pytest.raises(ValueError):
        SendMessageInput(to="5215512345678", text="no plus", idempotency_key="k")


# --- WHATSAPP_TEMPLATES ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "fault"),
    [
        ("{not json", "is not JSON"),
        ('["payment/link"]', "must be a JSON object"),
        ('{"payment/lnk": {"name": "x"}}', "'payment/lnk' is not a catalog message"),
        ('{"payment/link": {"name": "Payment Link"}}', "payment/link: name: String should match pattern"),
        (
            '{"payment/link": {"name": "p", "parameters": ["amout"]}}',
            "payment/link: parameters: unknown placeholder 'amout'",
        ),
        ('{"payment/link": {"name": "p", "header": "x"}}', "payment/link: header: Extra inputs are not permitted"),
    ],
)
def test_a_bad_template_map_names_its_fault(raw: str, fault: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_whatsapp_templates(raw)
    assert fault in str(info.value)


def test_an_empty_template_map_maps_nothing() -> None:
    assert parse_whatsapp_templates("") == {} and parse_whatsapp_templates("  ") == {}


def test_only_catalog_texts_with_a_mapping_become_templates() -> None:
    templates = parse_whatsapp_templates('{"payment/link": {"name": "payment_link", "parameters": ["url", "name"]}}')
    catalog = CatalogMessage(message="payment/link", language="es", fields={"name": "Ana", "url": "https://p/1"})
    text = SendMessageInput(to="+34600111222", text="Hola Ana", catalog=catalog, idempotency_key="k")
    sent = with_approved_template(text, templates)
    assert (sent.text, sent.template) == (
        None,
        TemplateMessage(name="payment_link", language="es", parameters=["https://p/1", "Ana"]),
    )
    plain = SendMessageInput(to="+34600111222", text="Hola", idempotency_key="k")
    assert with_approved_template(plain, templates) == plain
    other = text.model_copy(update={"catalog": catalog.model_copy(update={"message": "payment/receipt"})})
    assert with_approved_template(other, templates) == other
