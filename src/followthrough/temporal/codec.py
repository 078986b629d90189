"""Payload encryption: AES-GCM over every workflow/activity payload, keys by id, rotation.

Leads' phones, emails and names travel in workflow inputs; the Temporal server (and anyone
reading its database) sees only ciphertext. Keys come from ``FOLLOWTHROUGH_CODEC_KEYS``
(``id:base64key,...``; the first encrypts, all decrypt — rotate by putting a new key first and
keeping the old ones until their executions have closed). Each encrypted payload names its key
in the ``encryption-key-id`` metadata. The Web UI shows the plaintext to people who can reach
the codec endpoint (``/codec``, see ``api/routes/codec.py``).
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"


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


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: dict[str, bytes]) -> None:
        self._keys = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._active = next(iter(keys))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        aead = self._keys[self._active]
        out = []
        for payload in payloads:
            nonce = secrets.token_bytes(12)
            sealed = aead.encrypt(nonce, payload.SerializeToString(), self._active.encode())
            out.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID: self._active.encode()},
                    data=nonce + sealed,
                )
            )
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
        inner.ParseFromString(aead.decrypt(nonce, sealed, key_id.encode()))
        return inner

    @property
    def key_ids(self) -> Iterable[str]:
        return self._keys.keys()
