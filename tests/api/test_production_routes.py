"""What production mode changes in the API: no sandbox checkout routes, no loopback codec access."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from followthrough.catalog import create_app
from followthrough.providers.contracts.payments import CreateCheckoutInput, GetCheckoutInput
from followthrough.services import Services

PAYLOADS = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "IjEi"}]}


@asynccontextmanager
async def _app(services: Services, env: str, host: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """The app on ``services`` in ``env``, called without a key from ``host``."""
    settings = services.settings.model_copy(update={"followthrough_env": env})
    app = create_app(settings, api_key="k" * 32, services=services)
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def session_url(services: Services) -> str:
    checkout = CreateCheckoutInput(
        amount=2500,
        currency="usd",
        description="Starter",
        metadata={"workflow_id": "payment-l1-ord-1", "lead_id": "l1"},
        idempotency_key="payment:l1:ord-1:checkout",
    )
    session = await services.providers.payments.create_checkout(checkout)
    return httpx.URL(session.url).path


async def test_the_sandbox_checkout_page_answers_in_development(services: Services, session_url: str) -> None:
    """(Paying it end to end: test_sales_a_api.test_the_sandbox_checkout_page_pays_and_signals_the_workflow.)"""
    async with _app(services, "development") as http:
        page = await http.get(session_url)
    assert page.status_code == 200 and "Pay 25.00 USD" in page.text


async def test_the_sandbox_checkout_routes_do_not_exist_in_production(services: Services, session_url: str) -> None:
    async with _app(services, "production") as http:
        page = await http.get(session_url)
        paid = await http.post(f"{session_url}/pay")
        unknown = await http.get("/payments/nowhere")
    assert page.status_code == paid.status_code == 404
    assert page.json() == unknown.json()  # answered as any unknown path is
    session_id = session_url.rsplit("/", 1)[-1]
    assert (await services.providers.payments.get_checkout(GetCheckoutInput(session_id=session_id))).status == "open"


@pytest.mark.parametrize(("env", "status"), [("development", 200), ("production", 401)])
async def test_the_codec_loopback_exception_holds_only_in_development(
    services: Services, env: str, status: int
) -> None:
    async with _app(services, env) as http:
        answer = await http.post("/codec/decode", json=PAYLOADS)
    assert answer.status_code == status
