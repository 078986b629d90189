"""Pure rules of onboarding, the content pipeline and the data sync."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from followthrough.processes.content.rules import (
    ContentBrief,
    ContentPipelineInput,
    ReviewRecord,
    generation_prompt,
    parse_rubric,
    review_refusal,
    split_draft,
)
from followthrough.processes.data_sync.rules import (
    USER_TABLE_RULES,
    ColumnRule,
    batch_checksum,
    canonical,
    row_violation,
    split_valid,
)
from followthrough.processes.onboarding.rules import (
    OnboardingInput,
    default_user_id,
    onboarding_workflow_id,
    welcome_idempotency_key,
    welcome_text,
)
from followthrough.providers.user_stores import parse_user_stores

KEY, OTHER_KEY = b"k" * 32, b"o" * 32


def test_onboarding_id_hashes_the_normalised_email_and_hides_it() -> None:
    workflow_id = onboarding_workflow_id(" Ada@Example.COM ", KEY)
    assert workflow_id == onboarding_workflow_id("ada@example.com", KEY)
    assert "ada" not in workflow_id and "example" not in workflow_id
    assert OnboardingInput(userId="u1", email="a@b.co").user_id == "u1"
    with pytest.raises(ValidationError, match="email"):
        OnboardingInput(email="not-an-email")
    assert welcome_text("Ada Lovelace", "es").startswith("¡Bienvenido, Ada!")


def test_onboarding_id_is_a_keyed_hash_not_the_emails_sha256() -> None:
    """Hashing guessed emails finds nothing without the key; the same key always agrees."""
    email = "ada@example.com"
    bare = hashlib.sha256(email.encode()).hexdigest()
    workflow_id = onboarding_workflow_id(email, KEY)
    assert bare[:32] not in workflow_id
    assert workflow_id != onboarding_workflow_id(email, OTHER_KEY)
    assert workflow_id == onboarding_workflow_id(email, KEY)
    # What derives from the id carries no more than the id does, and no email.
    assert default_user_id(workflow_id) == "usr_" + workflow_id.removeprefix("onboarding-")[:24]
    assert welcome_idempotency_key(workflow_id) == f"onboarding:{workflow_id.removeprefix('onboarding-')}:welcome"
    assert OnboardingInput(email=email).user_id_under(workflow_id) == default_user_id(workflow_id)


def test_user_stores_setting_is_parsed_in_order_and_bad_entries_named() -> None:
    stores = parse_user_stores("primary=postgresql+asyncpg://u@h/db, local=sqlite+aiosqlite:///x.db")
    assert list(stores) == ["primary", "local"]
    with pytest.raises(ValueError, match="expected name=url"):
        parse_user_stores("primary")
    with pytest.raises(ValueError, match="named twice"):
        parse_user_stores("a=sqlite://,a=sqlite://")


def test_rubric_is_read_from_json_or_a_score_line_and_unreadable_never_approves() -> None:
    assert parse_rubric('Here: {"score": 82, "notes": "tighten the intro"}').score == 82
    assert parse_rubric("Score: 64/100 — too long").score == 64
    assert parse_rubric('{"score": 140}').score == 100
    assert parse_rubric("looks great!").score == 0


def test_regeneration_prompt_carries_the_previous_draft_and_the_notes() -> None:
    _, first = generation_prompt(ContentBrief(topic="t"))
    _, second = generation_prompt(ContentBrief(topic="t"), "old draft", "shorter")
    assert "rejected" not in first and "old draft" in second and "shorter" in second


def test_draft_title_is_split_from_the_body() -> None:
    assert split_draft("# Hello\n\nBody") == ("Hello", "Body")
    assert split_draft("Title: Hi\nBody") == ("Hi", "Body")
    assert split_draft("Just text") == (None, "Just text")


def test_only_a_pending_review_can_be_decided() -> None:
    decided = [ReviewRecord(round=1, approved=False, reviewer="maria", at=datetime.now(UTC))]
    assert review_refusal("pending_review", 1, []) is None
    assert "already decided (rejected by maria)" in (review_refusal("generating", None, decided) or "")
    assert "expired" in (review_refusal("expired", None, []) or "")
    assert "no review is pending" in (review_refusal("generating", None, []) or "")


def test_content_input_refuses_a_reminder_after_the_deadline() -> None:
    with pytest.raises(ValidationError, match="reminder_after_hours"):
        ContentPipelineInput(
            content_id="c1", brief=ContentBrief(topic="t"), reminder_after_hours=5, review_timeout_hours=4
        )


def test_rows_breaking_a_rule_are_quarantined_with_the_reason_not_dropped() -> None:
    ok = {"id": "u1", "email": "a@b.co", "name": "A", "updated_at": "2026-01-01T00:00:00.000000+00:00"}
    rows = [ok, {**ok, "id": "u2", "email": "bad"}, {**ok, "id": "u3", "updated_at": "yesterday"}]
    valid, bad = split_valid(rows, USER_TABLE_RULES, "id", "updated_at")
    assert valid == [ok]
    assert [(b.key, b.reason) for b in bad] == [
        ("u2", "email: is not an email address"),
        ("u3", "updated_at: is not an instant"),
    ]
    assert row_violation({"n": "x" * 5}, [ColumnRule(column="n", max_length=4)]) == "n: longer than 4 characters"
    assert row_violation({"n": 3}, [ColumnRule(column="n", type="integer")]) is None


def test_canonical_values_and_checksums_agree_across_backends() -> None:
    aware = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    naive_utc = datetime(2026, 1, 1, 10, 0)
    assert canonical(aware) == canonical(naive_utc) == "2026-01-01T10:00:00.000000+00:00"
    assert canonical(Decimal("1.50")) == "1.5"
    a = [{"id": "1", "v": 1}, {"id": "2", "v": 2}]
    assert batch_checksum(a, "id") == batch_checksum(list(reversed(a)), "id")
    assert batch_checksum(a, "id") != batch_checksum([{"id": "1", "v": 1}, {"id": "2", "v": 3}], "id")
