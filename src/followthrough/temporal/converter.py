"""The data converter: pydantic models in and out of every workflow and activity, encrypted
by :class:`~followthrough.temporal.codec.EncryptionCodec` when keys are configured.

All inputs and results are pydantic models (DESIGN: one input model per workflow and
activity), so fields can be added without breaking running executions.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from followthrough.temporal.codec import EncryptionCodec, load_or_create_dev_key, parse_keys

if TYPE_CHECKING:
    from followthrough.config import Settings


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
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
