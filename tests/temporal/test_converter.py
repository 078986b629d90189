"""The data converter the SDK derives per workflow activation stays cheap: derived copies share
one payload converter's state (its pydantic TypeAdapter cache). The codec's copies are tested in
test_codec.py."""

from __future__ import annotations

import base64

import pytest
from pydantic import BaseModel
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import DataConverter, WorkflowSerializationContext

from followthrough.config import load_settings
from followthrough.temporal.converter import SharedPayloadConverter, data_converter

KEY = "k:" + base64.b64encode(b"k" * 32).decode()


class Order(BaseModel):
    number: int
    customer: str


def context(workflow_id: str) -> WorkflowSerializationContext:
    return WorkflowSerializationContext(namespace="default", workflow_id=workflow_id)


def json_converter(converter: object) -> PydanticJSONPlainPayloadConverter:
    found = [c for c in converter.converters.values() if isinstance(c, PydanticJSONPlainPayloadConverter)]  # type: ignore[attr-defined]
    assert len(found) == 1
    return found[0]


def test_converters_built_per_activation_share_one_type_adapter_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLLOWTHROUGH_CODEC_KEYS", KEY)
    base = data_converter(load_settings())
    # What the SDK's worker does for each workflow activation: a new data converter from the
    # configured classes (and, in with_context, a dataclass copy that builds one as well).
    first, second = (
        DataConverter(
            payload_converter_class=base.payload_converter_class,
            payload_codec=base.payload_codec,
            failure_converter_class=base.failure_converter_class,
        ).with_context(context(workflow_id))
        for workflow_id in ("wf-1", "wf-2")
    )
    inner = [c.payload_converter._inner_payload_converter for c in (first, second)]  # type: ignore[attr-defined]
    assert all(isinstance(c, SharedPayloadConverter) for c in inner) and inner[0] is not inner[1]

    cache = json_converter(inner[0])._type_adapter
    assert json_converter(inner[1])._type_adapter is cache
    payloads = first.payload_converter.to_payloads([Order(number=7, customer="Ada")])
    assert first.payload_converter.from_payloads(payloads, [Order]) == [Order(number=7, customer="Ada")]
    hits = cache.cache_info().hits
    # The other activation's converter finds the adapter the first one built.
    assert second.payload_converter.from_payloads(payloads, [Order]) == [Order(number=7, customer="Ada")]
    assert cache.cache_info().hits == hits + 1
    # Each has its own table of converters: one's change does not reach the others.
    assert inner[0].converters is not inner[1].converters
