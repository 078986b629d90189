import logging

import pytest

from followthrough.logs import RedactingFilter
from followthrough.redaction import redact


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("sent to +34 600 123 456 ok", "sent to [phone] ok"),
        ("lead +521234567890 replied", "lead [phone] replied"),
        ("contact ana.garcia@example.com upserted", "contact [email] upserted"),
        ("Authorization: Bearer sk_live_abcdefgh12345", "Authorization: Bearer [token]"),
        ("workflow followup-lead-42-post_demo started", "workflow followup-lead-42-post_demo started"),
    ],
)
def test_personal_data_is_masked(line: str, expected: str) -> None:
    assert redact(line) == expected


def test_filter_masks_formatted_arguments(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("followthrough.test")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="followthrough.test"):
        logger.info("sending to %s <%s>", "+34600123456", "a@b.io")
    assert caplog.messages == ["sending to [phone] <[email]>"]


# --- redaction in formatted lines, tracebacks and JSON (issue 18 item 6) ---------------------
import io  # noqa: E402
import json  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402

import httpx  # noqa: E402
import respx  # noqa: E402

from followthrough.logs import formatter_for, quiet_libraries  # noqa: E402

TELEGRAM_TOKEN = "123456789:AAFakeTelegramTokenThatMustNeverLeak_xyz"


@contextmanager
def captured(log_format: str = "text") -> Iterator[io.StringIO]:
    """Every record at INFO and above, as the processes write them (configure_logging's set-up)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter_for(log_format))
    root = logging.getLogger()
    level, quiet = root.level, {n: logging.getLogger(n).level for n in ("httpx", "httpcore")}
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    quiet_libraries()
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for name, old in quiet.items():
            logging.getLogger(name).setLevel(old)


@pytest.mark.parametrize(
    "line",
    [
        f"HTTP Request: POST https://api.telegram.org/bot{TELEGRAM_TOKEN}/getMe",
        f"token={TELEGRAM_TOKEN}",
        "calling with api_key: 'abcd1234efgh' now",
        "stripe key sk_live_51Habcdefghijk",
        "slack xoxb-1234567890-SlackTokenThatMustNeverLeak",
        "call 600-123-456 or 600 123 456 or 0034600123456",
    ],
)
def test_tokens_keys_and_phones_without_a_plus_are_masked(line: str) -> None:
    cleaned = redact(line)
    for secret in (TELEGRAM_TOKEN, "abcd1234efgh", "sk_live_51H", "xoxb-", "600-123-456", "600 123 456", "0034600"):
        assert secret not in cleaned


def test_dates_ports_and_short_numbers_stay_readable() -> None:
    line = "2026-12-06 12:46:08 lead 42 on 127.0.0.1:8080 took 1234 ms"
    assert redact(line) == line


def test_a_traceback_is_redacted_too() -> None:
    logger = logging.getLogger("followthrough.test.traceback")
    with captured() as stream:
        try:
            raise ValueError(f"could not reach ana@example.com at +34 600 123 456 with bot{TELEGRAM_TOKEN}")
        except ValueError:
            logger.exception("delivery failed")
    text = stream.getvalue()
    assert "Traceback" in text and "delivery failed" in text
    assert "ana@example.com" not in text and "600 123 456" not in text and TELEGRAM_TOKEN not in text


async def test_a_telegram_deployment_logs_no_token() -> None:
    """The real Telegram client against a fake API: httpx's request lines (with the token in
    the path) are held back, and nothing else carries it."""
    from followthrough.providers.bots import TelegramBots

    api = "https://api.telegram.org"
    with captured() as stream, respx.mock:
        respx.post(f"{api}/bot{TELEGRAM_TOKEN}/getMe").respond(
            200, json={"ok": True, "result": {"id": 123456789, "username": "helper_bot", "is_bot": True}}
        )
        respx.post(f"{api}/bot{TELEGRAM_TOKEN}/setWebhook").respond(
            400, json={"ok": False, "description": f"bad webhook for bot{TELEGRAM_TOKEN}"}
        )
        async with httpx.AsyncClient() as http:
            bots = TelegramBots(http)
            await bots.register(TELEGRAM_TOKEN)
            try:
                await bots.set_webhook(TELEGRAM_TOKEN, "https://bots.example.com/tg", None)
            except Exception:
                logging.getLogger("temporalio.activity").warning("Completing activity as failed", exc_info=True)
    text = stream.getvalue()
    assert "Completing activity as failed" in text
    assert TELEGRAM_TOKEN not in text and TELEGRAM_TOKEN.split(":")[1] not in text


async def test_a_failed_booking_logs_no_email_phone_or_text() -> None:
    from followthrough.providers.calendar import CalComClient
    from followthrough.providers.contracts.calendar import CreateBookingInput

    attendee = {"email": "ana.garcia@example.com", "phoneNumber": "+34600123456", "notes": "call me after lunch"}
    with captured() as stream, respx.mock:
        respx.post("https://api.cal.com/v2/bookings").respond(200, json={"status": "success", "data": attendee})
        async with httpx.AsyncClient() as http:
            calcom = CalComClient(http, api_key="cal_live_0123456789abcdef", event_type_id=7)
            booking = CreateBookingInput(
                start=datetime.now(UTC) + timedelta(days=1),
                attendee_name="Ana Garcia",
                attendee_email="ana.garcia@example.com",
                attendee_phone="+34600123456",
                idempotency_key="booking:l1",
            )
            with pytest.raises(Exception) as failed:
                await calcom.create_booking(booking)
            logging.getLogger("temporalio.activity").warning("Completing activity as failed", exc_info=failed.value)
    text = stream.getvalue()
    assert "calcom answered no booking" in text
    for secret in ("ana.garcia@example.com", "+34600123456", "600123456", "call me after lunch", "cal_live_"):
        assert secret not in text


def test_the_json_format_is_one_object_per_line_with_the_ids() -> None:
    from followthrough.logs import request_id_var

    logger = logging.getLogger("followthrough.test.json")
    token = request_id_var.set("req-1")
    try:
        with captured("json") as stream:
            logger.info("sent to %s", "ana@example.com")
            logger.warning(
                "activity failed", extra={"temporal_activity": {"workflow_id": "booking-l1-s1", "activity_type": "x"}}
            )
            try:
                raise RuntimeError("+34 600 123 456")
            except RuntimeError:
                logger.exception("boom\nsecond line")
    finally:
        request_id_var.reset(token)
    lines = stream.getvalue().splitlines()
    entries = [json.loads(line) for line in lines]
    assert len(entries) == 3
    assert {"time", "level", "logger", "message", "request_id"} <= set(entries[0])
    assert entries[0]["message"] == "sent to [email]" and entries[0]["request_id"] == "req-1"
    assert entries[1]["workflow_id"] == "booking-l1-s1" and entries[1]["level"] == "WARNING"
    assert "Traceback" in entries[2]["exception"] and "600 123 456" not in lines[2]
