"""A user store on MongoDB (and Cosmos DB's API for MongoDB), through the official async
driver, :class:`pymongo.AsyncMongoClient`.

Selected in ``USER_STORES`` by a ``mongodb://`` or ``mongodb+srv://`` URL; the database is the
URL's path (``mongodb://host/app`` → ``app``; none: ``followthrough``) and the collection is
``USER_STORES_TABLE``. A user is one document keyed by its id (``_id``), with a unique index
on ``email`` (created on first use; an existing one is kept), so it behaves like the SQL
stores' ``users`` table:

* create — an upsert keyed by the id (``$setOnInsert``): a retry or a second onboarding finds
  the document and writes nothing; an email another user id has is a permanent refusal;
* delete — only the document this onboarding created (``onboarding_id``), as compensation;
* find — by id or by email.

Like the SQL stores' unpooled engines, a client is opened per operation and closed after it:
onboarding touches a store a few times per run, and nothing is left bound to the event loop
of one activity. Driver faults become the error classes (:func:`translate_mongo_error`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pymongo import AsyncMongoClient, errors

from followthrough.errors import AuthenticationError, FollowthroughError, RetryableError, ValidationError
from followthrough.store.types import utcnow

SCHEMES = ("mongodb", "mongodb+srv")
#: The database when the URL names none.
DEFAULT_DATABASE = "followthrough"
#: Defaults a URL may override: fail over to Temporal's retry after 10 s rather than pymongo's 30 s.
_OPTIONS: dict[str, Any] = {"serverSelectionTimeoutMS": 10_000, "connectTimeoutMS": 10_000, "appname": "followthrough"}
#: MongoDB's codes for a refused login and a missing privilege.
_AUTH_CODES = frozenset({18, 13})


def is_mongodb_url(url: str) -> bool:
    return urlsplit(url).scheme in SCHEMES


def check_mongodb_url(url: str) -> None:
    """ValueError unless ``url`` is a MongoDB URL with a host (nothing is resolved or dialled)."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.netloc.rpartition("@")[2]:
        raise ValueError(f"{url!r} is not a mongodb:// or mongodb+srv:// URL with a host")


def database_name(url: str) -> str:
    return urlsplit(url).path.strip("/") or DEFAULT_DATABASE


@contextlib.asynccontextmanager
async def _connect(url: str) -> AsyncIterator[Any]:
    given = {key.lower() for key in parse_qs(urlsplit(url).query)}
    # The URL's own options win (pymongo would let these keywords override them).
    options = {k: v for k, v in _OPTIONS.items() if k.lower() not in given}
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, tz_aware=True, **options)
    try:
        yield client
    finally:
        await client.close()


#: How a store reaches its server: ``connect(url)`` → an async context of a client. Tests may
#: put a driver fake here.
connect: Callable[[str], AbstractAsyncContextManager[Any]] = _connect


def translate_mongo_error(error: BaseException, store: str) -> FollowthroughError:
    """A driver fault in ``store`` as its error class: a refused login is an
    :class:`AuthenticationError`, a document or command the server refuses a
    :class:`ValidationError`, anything else (unreachable, timed out, failover) a
    :class:`RetryableError`."""
    if isinstance(error, FollowthroughError):
        return error
    message = " ".join(str(error).split())[:500]
    if isinstance(error, errors.OperationFailure) and error.code in _AUTH_CODES:
        return AuthenticationError(f"store {store!r} refused the login: {message}", provider=store)
    if isinstance(error, errors.DuplicateKeyError):
        return ValidationError(f"store {store!r} refused the document: {message}", provider=store)
    if isinstance(error, errors.ConnectionFailure):  # includes timeouts and server selection
        return RetryableError(f"store {store!r} is unavailable: {message}", provider=store)
    if isinstance(error, errors.OperationFailure | errors.ConfigurationError | errors.InvalidURI):
        return ValidationError(f"store {store!r} rejected the operation: {message}", provider=store)
    return RetryableError(f"store {store!r} is unavailable: {message}", provider=store)


@contextlib.contextmanager
def mongo_errors(store: str) -> Iterator[None]:
    try:
        yield
    except FollowthroughError:
        raise
    except Exception as error:
        raise translate_mongo_error(error, store) from error


def _as_row(document: dict[str, Any] | None) -> dict[str, Any] | None:
    """A document in the SQL stores' row shape (``id`` for ``_id``, aware UTC instants)."""
    if document is None:
        return None
    row = {"id": document["_id"], **{k: v for k, v in document.items() if k != "_id"}}
    for key in ("created_at", "updated_at"):
        value = row.get(key)
        if isinstance(value, datetime) and value.tzinfo is None:
            row[key] = value.replace(tzinfo=UTC)
    return row


class MongoUserStore:
    """The users collection of one MongoDB store."""

    def __init__(self, name: str, url: str, *, collection: str = "users") -> None:
        self.name = name
        self.url = url
        self.collection = collection
        self._indexed = False

    @contextlib.asynccontextmanager
    async def _users(self) -> AsyncIterator[Any]:
        with mongo_errors(self.name):
            async with connect(self.url) as client:
                users = client[database_name(self.url)][self.collection]
                if not self._indexed:
                    await users.create_index("email", unique=True, name="email_unique")
                    self._indexed = True
                yield users

    async def create_user(self, *, user_id: str, email: str, name: str | None, onboarding_id: str) -> bool:
        """Upsert the user by id; True when the document is this onboarding's."""
        now = utcnow()
        fields = {"email": email, "name": name, "onboarding_id": onboarding_id, "created_at": now, "updated_at": now}
        async with self._users() as users:
            try:
                result = await users.update_one({"_id": user_id}, {"$setOnInsert": fields}, upsert=True)
                if result.upserted_id is not None:
                    return True
            except errors.DuplicateKeyError:
                owner = await users.find_one({"email": email}, {"_id": 1})
                if owner is not None and owner["_id"] != user_id:
                    raise ValidationError(
                        f"store {self.name!r} already has this email under another user id", provider=self.name
                    ) from None
                # else a concurrent upsert of the same id won the race: read what it wrote
            existing = await users.find_one({"_id": user_id})
            if existing is None:
                raise RetryableError(f"store {self.name!r} lost the user {user_id!r} mid-write", provider=self.name)
            if existing.get("email") != email:
                raise ValidationError(
                    f"store {self.name!r} refused the user id {user_id!r} (taken)", provider=self.name
                )
            return bool(existing.get("onboarding_id") == onboarding_id)

    async def delete_user(self, *, user_id: str, onboarding_id: str) -> bool:
        """Delete the user if this onboarding created it; True when a document went away."""
        async with self._users() as users:
            result = await users.delete_one({"_id": user_id, "onboarding_id": onboarding_id})
            return bool(result.deleted_count)

    async def get_user(self, *, email: str) -> dict[str, Any] | None:
        async with self._users() as users:
            return _as_row(await users.find_one({"email": email}))

    async def find_user(self, user_id: str) -> dict[str, Any] | None:
        async with self._users() as users:
            return _as_row(await users.find_one({"_id": user_id}))
