"""Payload encryption: AES-GCM over every workflow/activity payload, keys by id, rotation.

Leads' phones, emails and names travel in workflow inputs; the Temporal server (and anyone
reading its database) sees only ciphertext. Keys come from ``FOLLOWTHROUGH_CODEC_KEYS``
(``id:base64key,...``; the first encrypts, all decrypt — rotate by putting a new key first and
keeping the old ones until their executions have closed). Each encrypted payload names its key
in the ``encryption-key-id`` metadata. The Web UI shows the plaintext to people who can reach
the codec endpoint (``/codec``, see ``api/routes/codec.py``).

Each payload written for a workflow also names that workflow (``workflow-id`` metadata, from the
SDK's serialization context; ids carry no personal data) and binds it into the cipher's
associated data, so the codec endpoint can tell whose payload it is asked to open — an
organization's key opens only its own workflows' payloads — and a payload moved to another
workflow's history does not decrypt.
"""

from __future__ import annotations

import base64
import copy
import os
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
WORKFLOW_ID = "workflow-id"


class CodecKeyError(ValueError):
    """A key setting is malformed or a payload names a key we do not have."""


def parse_keys(value: str) -> dict[str, bytes]:
    """``id:base64key,...`` → ordered {id: key}; keys must be 16, 24 or 32 bytes."""
    keys: dict[str, bytes] = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        key_id, sep, b64 = part.partition(":")
        if not sep or not key_id:
            raise CodecKeyError(f"expected id:base64key, got {part[:12]!r}…")
        try:
            key = base64.b64decode(b64, validate=True)
        except ValueError:
            raise CodecKeyError(f"key {key_id!r} is not valid base64") from None
        if len(key) not in (16, 24, 32):
            raise CodecKeyError(f"key {key_id!r} must be 16, 24 or 32 bytes, not {len(key)}")
        keys[key_id] = key
    if not keys:
        raise CodecKeyError("no keys given")
    return keys


def load_or_create_dev_key(home: Path) -> str:
    """The embedded default: one key kept under FOLLOWTHROUGH_HOME (created on first use)."""
    path = home / "codec.keys"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        value = f"dev1:{base64.b64encode(secrets.token_bytes(32)).decode()}"
        path.write_text(value)
        os.chmod(path, 0o600)
    return path.read_text().strip()


def _associated(key_id: str, workflow_id: bytes | None) -> bytes:
    return key_id.encode() if workflow_id is None else key_id.encode() + b"\x00" + workflow_id


def workflow_of(payload: Payload) -> str | None:
    """The workflow an encrypted payload was written for, when it names one."""
    value = payload.metadata.get(WORKFLOW_ID)
    return value.decode() if value else None


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    def __init__(self, keys: dict[str, bytes], workflow_id: str | None = None) -> None:
        self._keys = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._active = next(iter(keys))
        self._workflow_id = workflow_id.encode() if workflow_id else None

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        workflow_id = None
        if isinstance(context, WorkflowSerializationContext | ActivitySerializationContext):
            workflow_id = context.workflow_id
        if not workflow_id:
            return self
        # The SDK asks for a codec per serialization context, several times per workflow
        # activation: a copy naming the workflow shares this one's ciphers (AESGCM holds only
        # its key) rather than building them again.
        codec = copy.copy(self)
        codec._workflow_id = workflow_id.encode()
        return codec

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        aead = self._keys[self._active]
        metadata = {"encoding": ENCODING, KEY_ID: self._active.encode()}
        if self._workflow_id is not None:
            metadata[WORKFLOW_ID] = self._workflow_id
        associated = _associated(self._active, self._workflow_id)
        out = []
        for payload in payloads:
            nonce = secrets.token_bytes(12)
            sealed = aead.encrypt(nonce, payload.SerializeToString(), associated)
            out.append(Payload(metadata=metadata, data=nonce + sealed))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decode_one(p) for p in payloads]

    def _decode_one(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption was on: pass through
        key_id = payload.metadata.get(KEY_ID, b"").decode()
        aead = self._keys.get(key_id)
        if aead is None:
            raise CodecKeyError(f"payload encrypted with unknown key {key_id!r}")
        nonce, sealed = payload.data[:12], payload.data[12:]
        inner = Payload()
        inner.ParseFromString(aead.decrypt(nonce, sealed, _associated(key_id, payload.metadata.get(WORKFLOW_ID))))
        return inner

    @property
    def key_ids(self) -> Iterable[str]:
        return self._keys.keys()
