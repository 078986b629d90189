"""The data converter: pydantic models in and out of every workflow and activity, encrypted
by :class:`~followthrough.temporal.codec.EncryptionCodec` when keys are configured.

All inputs and results are pydantic models (DESIGN: one input model per workflow and
activity), so fields can be added without breaking running executions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from followthrough.temporal.codec import EncryptionCodec, load_or_create_dev_key, parse_keys

if TYPE_CHECKING:
    from followthrough.config import Settings


class SharedPayloadConverter(PydanticPayloadConverter):
    """The pydantic payload converter, built once per process and shared by every copy.

    The SDK builds a new payload converter whenever it derives a data converter, which it does
    several times per workflow activation (once per serialization context: the workflow's, each
    activity's) and for each codec context. Each new ``PydanticPayloadConverter`` starts with an
    empty cache of pydantic ``TypeAdapter``s, so every activation rebuilt its converters and
    its adapters (~6 % of a campaign worker's Python time, 2026-12-06). Every instance of this
    class shares the first one's converters: they hold no state but that cache, a
    ``functools.lru_cache``, safe across the worker's threads.
    """

    _first: ClassVar[PydanticPayloadConverter | None] = None

    def __init__(self) -> None:
        first = SharedPayloadConverter._first
        if first is None:
            super().__init__()
            SharedPayloadConverter._first = self
        else:
            self.__dict__.update(first.__dict__)
            self.converters = dict(first.converters)  # a copy: with_context may set its own


#: Pydantic models in and out, no codec (tests, and a deployment with encryption off).
PLAIN = DataConverter(payload_converter_class=SharedPayloadConverter)


def codec_for(settings: Settings) -> EncryptionCodec | None:
    if not settings.followthrough_encrypt_payloads:
        return None
    if settings.followthrough_codec_keys is not None:
        raw = settings.followthrough_codec_keys.get_secret_value()
    elif settings.production:
        from followthrough.config import ConfigError

        raise ConfigError("configuration error: FOLLOWTHROUGH_CODEC_KEYS is required in production")
    else:
        raw = load_or_create_dev_key(settings.home)
    return EncryptionCodec(parse_keys(raw))


def data_converter(settings: Settings | None = None) -> DataConverter:
    """Plain pydantic converter, or with the encryption codec for ``settings``.

    With the codec, failures' messages and stack traces are moved into an encoded attributes
    payload (``encode_common_attributes``) and so encrypted too: an error's text may hold a
    provider's answer or a database's, and the history shows only "Encoded failure".
    """
    codec = codec_for(settings) if settings is not None else None
    if codec is None:
        return PLAIN
    return DataConverter(
        payload_converter_class=SharedPayloadConverter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
