"""The MongoDB user store (``mongodb://`` in USER_STORES) behind the SQL stores' interface,
against a fake of the driver (see ``tests/mongodb_fake.py`` for why not a server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymongo import errors

from followthrough.errors import AuthenticationError, RetryableError, ValidationError
from followthrough.providers.user_stores import UserStores, parse_user_stores
from followthrough.providers.user_stores_mongodb import MongoUserStore, database_name, translate_mongo_error
from tests.mongodb_fake import FakeMongo, install

URL = "mongodb://app:secret@mongo.local:27017/nexpo?authSource=admin"


@pytest.fixture
def fake_mongo(monkeypatch: pytest.MonkeyPatch) -> FakeMongo:
    return install(monkeypatch)


def store() -> MongoUserStore:
    return MongoUserStore("docs", URL, collection="users")


async def test_create_is_an_upsert_keyed_by_the_user_id(fake_mongo: FakeMongo) -> None:
    users = store()
    assert await users.create_user(user_id="u-1", email="ada@example.com", name="Ada", onboarding_id="on-1")
    assert await users.create_user(user_id="u-1", email="ada@example.com", name="Ada", onboarding_id="on-1")  # retry
    assert not await users.create_user(user_id="u-1", email="ada@example.com", name="Ada", onboarding_id="on-2")
    documents = await fake_mongo.server(URL)["nexpo"]["users"].find({}).to_list(None)
    assert [(d["_id"], d["onboarding_id"]) for d in documents] == [("u-1", "on-1")]  # one document, first writer's


async def test_an_email_under_another_user_id_is_refused(fake_mongo: FakeMongo) -> None:
    users = store()
    await users.create_user(user_id="u-1", email="ada@example.com", name=None, onboarding_id="on-1")
    with pytest.raises(ValidationError, match="already has this email under another user id"):
        await users.create_user(user_id="u-2", email="ada@example.com", name=None, onboarding_id="on-2")
    with pytest.raises(ValidationError, match="refused the user id 'u-1'"):
        await users.create_user(user_id="u-1", email="other@example.com", name=None, onboarding_id="on-3")


async def test_delete_removes_only_the_document_this_onboarding_created(fake_mongo: FakeMongo) -> None:
    users = store()
    await users.create_user(user_id="u-1", email="ada@example.com", name=None, onboarding_id="on-1")
    assert not await users.delete_user(user_id="u-1", onboarding_id="on-other")
    assert await users.find_user("u-1") is not None
    assert await users.delete_user(user_id="u-1", onboarding_id="on-1")
    assert not await users.delete_user(user_id="u-1", onboarding_id="on-1")  # compensation retried
    assert await users.find_user("u-1") is None


async def test_found_users_have_the_sql_stores_row_shape(fake_mongo: FakeMongo) -> None:
    users = store()
    await users.create_user(user_id="u-1", email="ada@example.com", name="Ada", onboarding_id="on-1")
    row = await users.get_user(email="ada@example.com")
    assert row is not None and row == await users.find_user("u-1")
    assert (row["id"], row["email"], row["name"], row["onboarding_id"]) == ("u-1", "ada@example.com", "Ada", "on-1")
    assert row["created_at"].tzinfo is not None


async def test_user_stores_route_a_mongodb_url_to_the_mongodb_store(fake_mongo: FakeMongo, tmp_path: Path) -> None:
    stores = UserStores({"local": f"sqlite+aiosqlite:///{tmp_path / 'u.db'}", "docs": URL})
    try:
        assert await stores.create_user("docs", user_id="u-9", email="b@example.com", name=None, onboarding_id="o")
        assert (await stores.get_user("docs", email="b@example.com") or {}).get("id") == "u-9"
        assert await stores.get_user("local", email="b@example.com") is None
        assert (await stores.find_user("u-9") or {}).get("email") == "b@example.com"  # found past the SQL store
        assert stores.dialect("docs") == "mongodb"
        with pytest.raises(ValidationError, match="MongoDB store; this step needs a SQL store"):
            stores.engine("docs")
        assert await stores.delete_user("docs", user_id="u-9", onboarding_id="o")
    finally:
        await stores.close()


def test_mongodb_urls_are_accepted_in_user_stores() -> None:
    spec = f"primary=postgresql+asyncpg://u@h/db, docs={URL}, cosmos=mongodb+srv://u:p@acct.mongo.cosmos.azure.com/"
    assert list(parse_user_stores(spec)) == ["primary", "docs", "cosmos"]
    with pytest.raises(ValueError, match="store 'docs': 'mongodb:///x' is not a mongodb"):
        parse_user_stores("docs=mongodb:///x")
    assert (database_name(URL), database_name("mongodb+srv://u:p@h/")) == ("nexpo", "followthrough")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (errors.ServerSelectionTimeoutError("no servers"), RetryableError),
        (errors.NetworkTimeout("timed out"), RetryableError),
        (errors.AutoReconnect("primary stepped down"), RetryableError),
        (errors.OperationFailure("Authentication failed.", code=18), AuthenticationError),
        (errors.DuplicateKeyError("E11000 duplicate key", code=11000), ValidationError),
        (errors.OperationFailure("invalid update", code=9), ValidationError),
    ],
)
def test_driver_faults_become_the_error_classes(error: Exception, expected: type[Exception]) -> None:
    assert type(translate_mongo_error(error, "docs")) is expected


async def test_an_unreachable_server_is_retryable_through_the_real_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    """The official client itself, against a port nobody listens on (short selection timeout)."""
    from followthrough.temporal.devserver import free_port

    url = f"mongodb://127.0.0.1:{free_port()}/nexpo?serverSelectionTimeoutMS=300&connectTimeoutMS=300"
    with pytest.raises(RetryableError, match="store 'docs' is unavailable"):
        await MongoUserStore("docs", url).find_user("u-1")
