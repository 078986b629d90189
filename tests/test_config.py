import base64
import subprocess
import sys

import pytest

from followthrough.config import ConfigError, load_settings


def test_defaults_run_embedded_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TEMPORAL_ADDRESS", "DATABASE_URL", "FOLLOWTHROUGH_HOME", "TEMPORAL_TASK_QUEUE"):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings()
    assert settings.embedded
    assert settings.target_address == "127.0.0.1:7233"
    assert settings.temporal_namespace == "default"
    assert settings.temporal_task_queue == "followthrough"
    assert settings.temporal_max_concurrent_activities == 100
    assert settings.temporal_max_concurrent_workflows == 50
    assert settings.temporal_max_activities_per_second == 200
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.effective_database_url.endswith(".followthrough/followthrough.db")
    assert settings.followthrough_dev_sqlite_journal == "wal"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.example:7233")
    monkeypatch.setenv("TEMPORAL_MAX_CONCURRENT_ACTIVITIES", "7")
    settings = load_settings()
    assert not settings.embedded
    assert settings.target_address == "temporal.example:7233"
    assert settings.temporal_max_concurrent_activities == 7


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        (
            "TEMPORAL_MAX_CONCURRENT_ACTIVITIES",
            "many",
            "TEMPORAL_MAX_CONCURRENT_ACTIVITIES: Input should be a valid integer",
        ),
        ("TEMPORAL_MAX_CONCURRENT_WORKFLOWS", "0", "TEMPORAL_MAX_CONCURRENT_WORKFLOWS: Input should be greater than 0"),
        ("TEMPORAL_ADDRESS", "no-port", "TEMPORAL_ADDRESS: expected host:port"),
        ("TEMPORAL_TLS_CERT", "%%%not-base64", "TEMPORAL_TLS_CERT: is not valid base64"),
        ("TEMPORAL_TLS_CERT_PATH", "/nonexistent/cert.pem", "TEMPORAL_TLS_CERT_PATH: no such file"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL: unknown log level"),
        ("FOLLOWTHROUGH_DEV_SQLITE_JOURNAL", "memory", "FOLLOWTHROUGH_DEV_SQLITE_JOURNAL: Input should be 'wal' or"),
    ],
)
def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, var: str, value: str, expected: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_tls_cert_without_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_TLS_CERT", base64.b64encode(b"pem").decode())
    with pytest.raises(ConfigError, match="must be given together"):
        load_settings()


def test_tls_material_decodes_base64(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_TLS_CERT", base64.b64encode(b"CERT").decode())
    monkeypatch.setenv("TEMPORAL_TLS_KEY", base64.b64encode(b"KEY").decode())
    assert load_settings().tls_material() == (b"CERT", b"KEY")


def test_cli_prints_one_line_and_exits_2_on_bad_setting() -> None:
    env = {"PATH": "", "TEMPORAL_MAX_CONCURRENT_ACTIVITIES": "lots"}
    proc = subprocess.run(
        [sys.executable, "-m", "followthrough.cli", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "configuration error: TEMPORAL_MAX_CONCURRENT_ACTIVITIES: Input should be a valid integer, "
        "unable to parse string as an integer"
    ]
    assert "Traceback" not in proc.stderr


def test_external_temporal_needs_a_shared_secrets_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FOLLOWTHROUGH_SECRETS_KEY")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    with pytest.raises(ConfigError, match="FOLLOWTHROUGH_SECRETS_KEY must be set"):
        load_settings()


def _secret(value: object) -> str:
    return value.get_secret_value()  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize(
    ("seed_var", "value", "field", "read"),
    [
        ("TEMPORAL_SERVER_URL", "nexpo.example:7233", "temporal_address", str),
        ("TEMPORAL_CLOUD_NAMESPACE", "nexpo-prod.a1b2c", "temporal_namespace", str),
        ("TEMPORAL_CLOUD_API_KEY", "cloud-key", "temporal_api_key", _secret),
        ("TEMPORAL_CLIENT_CERT", base64.b64encode(b"PEM").decode(), "temporal_tls_cert", _secret),
        ("WHATSAPP_ACCESS_TOKEN", "EAA-token", "whatsapp_token", _secret),
        ("STRIPE_SECRET_KEY", "sk_test_1", "stripe_api_key", _secret),
        ("CAL_API_KEY", "cal_live_1", "calcom_api_key", _secret),
        ("CAL_EVENT_TYPE_ID", "42", "calcom_event_type_id", str),
        ("HUBSPOT_API_KEY", "pat-1", "hubspot_token", _secret),
    ],
)
def test_the_seeds_variable_names_are_read_too(
    monkeypatch: pytest.MonkeyPatch, seed_var: str, value: str, field: str, read: object
) -> None:
    canonical = field.upper()
    monkeypatch.delenv(canonical, raising=False)
    monkeypatch.setenv(seed_var, value)
    if field == "temporal_tls_cert":  # a cert needs its key
        monkeypatch.setenv("TEMPORAL_CLIENT_KEY", base64.b64encode(b"KEY").decode())
    if field == "temporal_address":  # a remote Temporal needs shared keys
        monkeypatch.setenv("FOLLOWTHROUGH_CODEC_KEYS", "k1:" + base64.b64encode(b"k" * 32).decode())
        monkeypatch.setenv("FOLLOWTHROUGH_SECRETS_KEY", base64.b64encode(b"s" * 32).decode())
    assert read(getattr(load_settings(), field)) == value  # type: ignore[operator]


def test_our_variable_wins_over_the_seeds_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", "sk_ours")
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_seed")
    settings = load_settings()
    assert settings.stripe_api_key is not None and settings.stripe_api_key.get_secret_value() == "sk_ours"
    assert load_settings(stripe_api_key="sk_given").stripe_api_key.get_secret_value() == "sk_given"  # type: ignore[union-attr]


def test_a_bad_value_under_the_seeds_name_is_reported_under_that_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEMPORAL_ADDRESS", raising=False)
    monkeypatch.setenv("TEMPORAL_SERVER_URL", "no-port")
    with pytest.raises(ConfigError, match="TEMPORAL_SERVER_URL: expected host:port"):
        load_settings()
