"""Per-organization API keys on every back-end: made once, checked, expired, revoked, listed."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from followthrough.store import Database
from followthrough.store.models import ApiKey
from followthrough.store.repositories import ApiKeys, RecordNotFound
from followthrough.store.types import utcnow


def org() -> str:
    return f"org-{uuid.uuid4().hex[:12]}"


async def test_a_created_key_authenticates_as_its_record(database: Database) -> None:
    keys = ApiKeys(database)
    organization = org()
    issued = await keys.create(organization, ["write", "read"], name="ci", expires_in=timedelta(days=90))
    record = issued.record
    assert issued.key.startswith(f"ft_{record.id}_") and len(record.id) == 14 and record.id.startswith("k_")
    assert (record.organization, record.scopes, record.name, record.revoked_at) == (
        organization,
        frozenset({"read", "write"}),
        "ci",
        None,
    )
    assert record.created_at.tzinfo is not None and record.expires_at is not None
    assert timedelta(days=90) - timedelta(seconds=1) < record.expires_at - record.created_at <= timedelta(days=90)
    assert await keys.authenticate(issued.key) == record
    assert record.as_dict() | {"created_at": None, "expires_at": None} == {
        "id": record.id,
        "organization": organization,
        "scopes": ["read", "write"],
        "name": "ci",
        "created_at": None,
        "expires_at": None,
        "revoked_at": None,
        "active": True,
    }


async def test_the_stored_row_holds_a_digest_never_the_secret(database: Database) -> None:
    issued = await ApiKeys(database).create(org(), ["read"])
    secret = issued.key.removeprefix(f"ft_{issued.record.id}_")
    async with database.transaction() as conn:
        row = (await conn.execute(select(ApiKey.__table__).where(ApiKey.id == issued.record.id))).mappings().one()
    stored = " ".join(str(value) for value in row.values())
    assert secret not in stored and issued.key not in stored
    assert len(row["secret_hash"]) == 64 and row["scopes"] == "read"


@pytest.mark.parametrize(
    "presented",
    ["", "ft_", "ft_k_", "random text", "Bearer whatever", "ft_k_0123456789ab_", "ft_K_0123456789AB_" + "a" * 43],
)
async def test_malformed_keys_are_refused_without_an_error(database: Database, presented: str) -> None:
    assert await ApiKeys(database).authenticate(presented) is None


async def test_a_wrong_secret_is_refused_even_with_a_real_id(database: Database) -> None:
    keys = ApiKeys(database)
    issued, other = await keys.create(org(), ["read"]), await keys.create(org(), ["read"])
    other_secret = other.key.removeprefix(f"ft_{other.record.id}_")
    assert await keys.authenticate(f"ft_{issued.record.id}_{other_secret}") is None
    assert await keys.authenticate(issued.key[:-1] + ("A" if issued.key[-1] != "A" else "B")) is None
    assert await keys.authenticate(issued.key + "x") is None
    assert await keys.authenticate(f"ft_k_{uuid.uuid4().hex[:12]}_{other_secret}") is None  # no such id


async def test_an_expired_key_is_refused(database: Database) -> None:
    keys = ApiKeys(database)
    issued = await keys.create(org(), ["read"], expires_in=timedelta(hours=1))
    assert await keys.authenticate(issued.key) is not None
    async with database.transaction() as conn:
        await conn.execute(update(ApiKey).where(ApiKey.id == issued.record.id).values(expires_at=utcnow()))
    assert await keys.authenticate(issued.key) is None
    [listed] = await keys.list(issued.record.organization)
    assert listed.as_dict()["active"] is False


async def test_a_revoked_key_is_refused_from_the_next_call_and_keeps_its_first_revocation(database: Database) -> None:
    keys = ApiKeys(database)
    issued = await keys.create(org(), ["admin"])
    assert await keys.authenticate(issued.key) is not None
    revoked = await keys.revoke(issued.record.id)
    assert revoked.revoked_at is not None and revoked.id == issued.record.id
    assert await keys.authenticate(issued.key) is None
    again = await keys.revoke(issued.record.id)
    assert again.revoked_at == revoked.revoked_at
    assert again.as_dict()["active"] is False


async def test_revoking_an_unknown_key_is_record_not_found(database: Database) -> None:
    with pytest.raises(RecordNotFound):
        await ApiKeys(database).revoke("k_000000000000")


async def test_list_is_filtered_by_organization_and_newest_first(database: Database) -> None:
    keys = ApiKeys(database)
    mine, theirs = org(), org()
    first = await keys.create(mine, ["read"], name="first")
    other = await keys.create(theirs, ["read"])
    second = await keys.create(mine, ["write"], name="second")
    assert [r.id for r in await keys.list(mine)] == [second.record.id, first.record.id]
    assert [r.id for r in await keys.list(theirs)] == [other.record.id]
    everything = [r.id for r in await keys.list()]
    assert everything.index(second.record.id) < everything.index(other.record.id) < everything.index(first.record.id)


@pytest.mark.parametrize(
    ("organization", "scopes", "options", "field"),
    [
        ("", ["read"], {}, "organization"),
        ("org with spaces", ["read"], {}, "organization"),
        ("o" * 65, ["read"], {}, "organization"),
        ("org-1", [], {}, "scopes"),
        ("org-1", ["read", "owner"], {}, "scopes"),
        ("org-1", "read", {}, "scopes"),
        ("org-1", ["read"], {"name": "n" * 101}, "name"),
        ("org-1", ["read"], {"expires_in": timedelta(0)}, "expires_in"),
        ("org-1", ["read"], {"expires_in": timedelta(seconds=-5)}, "expires_in"),
        ("org-1", ["read"], {"expires_in": timedelta(days=3661)}, "expires_in"),
    ],
)
async def test_create_refuses_bad_values_naming_the_field(
    database: Database, organization: str, scopes: list[str], options: dict[str, object], field: str
) -> None:
    keys = ApiKeys(database)
    before = len(await keys.list("org-1"))
    with pytest.raises(ValueError, match=field):
        await keys.create(organization, scopes, **options)  # type: ignore[arg-type]
    assert len(await keys.list("org-1")) == before  # nothing was written


async def test_create_accepts_the_limits(database: Database) -> None:
    keys = ApiKeys(database)
    issued = await keys.create(
        "A.b_c:d-" + "9" * 56, ["admin", "read", "write"], name="n" * 100, expires_in=timedelta(days=3660)
    )
    assert await keys.authenticate(issued.key) == issued.record
