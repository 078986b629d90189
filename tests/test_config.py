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
