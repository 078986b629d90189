"""Payload encryption: what the Temporal server stores is ciphertext; we and the Web UI
(through the codec endpoint) read plaintext."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

import httpx
import pytest
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowFailureError
from temporalio.converter import ActivitySerializationContext, DataConverter, WorkflowSerializationContext
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from followthrough.catalog import create_app
from followthrough.config import ConfigError, load_settings
from followthrough.services import Services
from followthrough.temporal import DevServer
from followthrough.temporal.codec import CodecKeyError, EncryptionCodec, load_or_create_dev_key, parse_keys
from tests.conftest import API_KEY

OLD = "old:" + base64.b64encode(b"o" * 32).decode()
NEW = "new:" + base64.b64encode(b"n" * 32).decode()


def plain(data: bytes) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


async def test_round_trip_names_the_key_and_hides_the_data() -> None:
    codec = EncryptionCodec(parse_keys(NEW))
    [sealed] = await codec.encode([plain(b'{"phone": "+34600000000"}')])
    assert sealed.metadata["encryption-key-id"] == b"new"
    assert b"+34600000000" not in sealed.data
    [opened] = await codec.decode([sealed])
    assert opened == plain(b'{"phone": "+34600000000"}')


async def test_rotation_keeps_old_payloads_readable() -> None:
    [sealed_old] = await EncryptionCodec(parse_keys(OLD)).encode([plain(b"1")])
    rotated = EncryptionCodec(parse_keys(f"{NEW},{OLD}"))
    [sealed_new] = await rotated.encode([plain(b"2")])
    assert sealed_new.metadata["encryption-key-id"] == b"new"
    assert await rotated.decode([sealed_old, sealed_new]) == [plain(b"1"), plain(b"2")]
    with pytest.raises(CodecKeyError, match="unknown key 'old'"):
        await EncryptionCodec(parse_keys(NEW)).decode([sealed_old])


async def test_unencrypted_payloads_pass_through() -> None:
    assert await EncryptionCodec(parse_keys(NEW)).decode([plain(b"x")]) == [plain(b"x")]


async def test_codec_copies_share_ciphers_and_bind_their_own_workflow() -> None:
    codec = EncryptionCodec(parse_keys(NEW))
    one = codec.with_context(WorkflowSerializationContext(namespace="default", workflow_id="campaign-a-lead-1"))
    other = codec.with_context(
        ActivitySerializationContext(
            namespace="default",
            workflow_id="campaign-a-lead-2",
            workflow_type="LeadOutreachWorkflow",
            activity_type="linkedin.visit_profile",
            activity_task_queue="q",
            is_local=False,
            activity_id="1",
        )
    )
    assert one._keys is codec._keys is other._keys  # built once
    assert codec._workflow_id is None  # the original is not changed by its copies

    [sealed] = await one.encode([plain(b'{"n": 1}')])
    assert sealed.metadata["workflow-id"] == b"campaign-a-lead-1"
    assert await one.decode([sealed]) == [plain(b'{"n": 1}')]
    [theirs] = await other.encode([plain(b'{"n": 1}')])
    assert theirs.metadata["workflow-id"] == b"campaign-a-lead-2"
    assert codec.with_context(WorkflowSerializationContext(namespace="default", workflow_id="")) is codec


def test_bad_key_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLLOWTHROUGH_CODEC_KEYS", "k1:" + base64.b64encode(b"short").decode())
    with pytest.raises(ConfigError, match="FOLLOWTHROUGH_CODEC_KEYS: .*must be 16, 24 or 32 bytes"):
        load_settings()


def test_external_temporal_needs_shared_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FOLLOWTHROUGH_CODEC_KEYS")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    with pytest.raises(ConfigError, match="FOLLOWTHROUGH_CODEC_KEYS must be set"):
        load_settings()
    monkeypatch.setenv("FOLLOWTHROUGH_ENCRYPT_PAYLOADS", "false")
    assert load_settings().followthrough_encrypt_payloads is False


def test_dev_key_is_created_once_and_private(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = load_or_create_dev_key(tmp_path)
    assert load_or_create_dev_key(tmp_path) == first
    assert (tmp_path / "codec.keys").stat().st_mode & 0o077 == 0
    parse_keys(first)


async def test_server_stores_ciphertext_only(dev_server: DevServer, dev_client: Client, dev_worker: Worker) -> None:
    marker = f"pii-{uuid.uuid4()}"
    handle = await dev_client.start_workflow(
        "HealthCheckWorkflow",
        {"dependencies": [marker]},
        id=f"health-{uuid.uuid4()}",
        task_queue=dev_worker.task_queue,
    )
    result = await handle.result()
    assert result["dependencies"][0]["name"] == marker  # we read plaintext
    raw = await Client.connect(dev_server.address)  # no codec: what the server holds
    history = await raw.get_workflow_handle(handle.id).fetch_history()
    assert marker not in history.to_json()


async def test_codec_endpoint_decodes_for_key_holders(services: Services) -> None:
    settings = services.settings.model_copy(update={"temporal_address": "127.0.0.1:1"})
    codec = EncryptionCodec(parse_keys(load_settings().followthrough_codec_keys.get_secret_value()))  # type: ignore[union-attr]
    [sealed] = await codec.encode([plain(b'"hello"')])
    body = {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in sealed.metadata.items()},
                "data": base64.b64encode(sealed.data).decode(),
            }
        ]
    }
    app = create_app(settings, api_key=API_KEY, services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("10.1.1.1", 1)), base_url="http://t"
    ) as http:
        denied = await http.post("/codec/decode", json=body)
        allowed = await http.post("/codec/decode", json=body, headers={"Authorization": f"Bearer {API_KEY}"})
    assert denied.status_code == 401
    assert allowed.status_code == 200
    assert base64.b64decode(allowed.json()["payloads"][0]["data"]) == b'"hello"'


# --- failures are encrypted too (issue 18 item 7) -----------------------------------------------


FAILURE_TEXT = "database said: duplicate key ana.garcia@example.com"


@activity.defn(name="test.fails")
async def _fails() -> None:
    raise ApplicationError(FAILURE_TEXT, type="ValidationError", non_retryable=True)


@workflow.defn(name="FailingForCodecTest")
class _FailingWorkflow:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(_fails, start_to_close_timeout=timedelta(seconds=5))


async def test_a_failure_message_is_encrypted_in_history(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    client = ts_env.client
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[_FailingWorkflow],
        activities=[_fails],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await client.start_workflow(_FailingWorkflow.run, id=f"fails-{task_queue}", task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    # With the codec: the root cause's message reads as raised.
    cause = failed.value.cause
    while cause.__cause__ is not None:
        cause = cause.__cause__  # type: ignore[assignment]
    assert str(cause.message) == FAILURE_TEXT  # type: ignore[attr-defined]
    # Without it (the server, the Web UI without the codec server): not a word of it.
    plain = Client(client.service_client, namespace=client.namespace, data_converter=DataConverter.default)
    raw = (await plain.get_workflow_handle(handle.id).fetch_history()).to_json()
    assert "ana.garcia@example.com" not in raw and "duplicate key" not in raw
    assert "Encoded failure" in raw
