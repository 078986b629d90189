import logging

import pytest

from followthrough.logs import RedactingFilter, redact


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
