"""Per-organization API keys: made once, checked on every request, revoked at once.

A key reads ``ft_<id>_<secret>``: ``id`` (``k_`` and 12 hex characters) is public and finds
the row; ``secret`` (``secrets.token_urlsafe(32)``, 256 bits) is shown once and never stored,
only its SHA-256 digest is. :meth:`ApiKeys.authenticate` reads the row on every call (no cache),
so a revocation holds from the next request in every API process.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from followthrough.store.models import ApiKey
from followthrough.store.repositories.base import Repository
from followthrough.store.types import utcnow

SCOPES: tuple[str, ...] = ("read", "write", "admin")
ORGANIZATION_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
MAX_NAME_LENGTH = 100
MAX_LIFETIME = timedelta(days=3660)

_KEY = re.compile(r"ft_(k_[0-9a-f]{12})_([A-Za-z0-9_-]{43,128})")
#: Tries at a fresh id when one is taken (48 random bits: a clash is rare, not impossible).
_ID_ATTEMPTS = 3


@dataclass(frozen=True)
class ApiKeyRecord:
    """What is known of a key, never its secret."""

    id: str
    organization: str
    scopes: frozenset[str]
    name: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def active_at(self, instant: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > instant)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly: instants as ISO strings, scopes as a sorted list."""

        def iso(instant: datetime | None) -> str | None:
            return instant.isoformat() if instant is not None else None

        return {
            "id": self.id,
            "organization": self.organization,
            "scopes": sorted(self.scopes),
            "name": self.name,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
            "active": self.active_at(utcnow()),
        }


@dataclass(frozen=True)
class IssuedKey:
    """A key just made: ``key`` is the only time its secret exists outside the caller."""

    record: ApiKeyRecord
    key: str


def _digest(secret: str) -> str:
    # A plain SHA-256 is enough: the secret carries 256 random bits, so there is nothing to
    # guess at and a slow password hash (bcrypt, argon2) would only slow every request down.
    return hashlib.sha256(secret.encode()).hexdigest()


def _record(row: ApiKey) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id,
        organization=row.organization_id,
        scopes=frozenset(row.scopes.split(",")),
        name=row.name,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def _valid_scopes(scopes: Iterable[str]) -> frozenset[str]:
    if isinstance(scopes, str):
        raise ValueError(f"scopes must be a collection of scope names, not the string {scopes!r}")
    chosen = frozenset(scopes)
    if not chosen:
        raise ValueError(f"scopes must name at least one of {list(SCOPES)}")
    unknown = sorted(s for s in chosen if s not in SCOPES)
    if unknown:
        raise ValueError(f"scopes: unknown scope(s) {unknown} (expected some of {list(SCOPES)})")
    return chosen


def _validate(organization: str, name: str | None, expires_in: timedelta | None) -> None:
    if not isinstance(organization, str) or not re.fullmatch(ORGANIZATION_PATTERN, organization):
        raise ValueError(f"organization {organization!r} must match {ORGANIZATION_PATTERN}")
    if name is not None and len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"name is {len(name)} characters long, at most {MAX_NAME_LENGTH} allowed")
    if expires_in is not None and not timedelta(0) < expires_in <= MAX_LIFETIME:
        raise ValueError(f"expires_in must be more than 0 and at most {MAX_LIFETIME.days} days, got {expires_in}")


class ApiKeys(Repository):
    async def create(
        self,
        organization: str,
        scopes: Iterable[str],
        *,
        name: str | None = None,
        expires_in: timedelta | None = None,
    ) -> IssuedKey:
        """Make a key for ``organization`` (a bad argument is a ``ValueError`` naming it)."""
        chosen = _valid_scopes(scopes)
        _validate(organization, name, expires_in)
        for attempt in range(1, _ID_ATTEMPTS + 1):
            key_id, secret = f"k_{secrets.token_hex(6)}", secrets.token_urlsafe(32)
            now = utcnow()
            row = ApiKey(
                id=key_id,
                organization_id=organization,
                name=name,
                scopes=",".join(sorted(chosen)),
                secret_hash=_digest(secret),
                created_at=now,
                expires_at=now + expires_in if expires_in is not None else None,
            )
            try:
                async with self.database.session() as session:
                    session.add(row)
            except IntegrityError:
                if attempt == _ID_ATTEMPTS:
                    raise
                continue
            return IssuedKey(record=_record(row), key=f"ft_{key_id}_{secret}")
        raise AssertionError("unreachable")

    async def authenticate(self, presented: str) -> ApiKeyRecord | None:
        """The record of an active key whose secret matches, else None (never an exception
        for what a client may send)."""
        if not isinstance(presented, str):
            return None
        match = _KEY.fullmatch(presented)
        if match is None:
            return None
        key_id, secret = match.groups()
        row = await self._get(ApiKey, key_id)
        if row is None or not hmac.compare_digest(row.secret_hash, _digest(secret)):
            return None
        record = _record(row)
        return record if record.active_at(utcnow()) else None

    async def active(self, key_id: str) -> ApiKeyRecord | None:
        """The record of key ``key_id`` while it is active (not revoked, not expired), else None:
        what a session made from that key re-checks on every request."""
        row = await self._get(ApiKey, key_id)
        record = _record(row) if row is not None else None
        return record if record is not None and record.active_at(utcnow()) else None

    async def list(self, organization: str | None = None) -> builtins.list[ApiKeyRecord]:
        """Every key (of one organization when given), newest first; revoked and expired too."""
        query = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
        if organization is not None:
            query = query.where(ApiKey.organization_id == organization)
        async with self.database.session() as session:
            return [_record(row) for row in (await session.scalars(query)).all()]

    async def revoke(self, key_id: str) -> ApiKeyRecord:
        """Revoke a key from now on; a key revoked before keeps its first ``revoked_at``
        (``RecordNotFound`` for an unknown id)."""
        async with self.database.session() as session:
            row = await self._require(session, ApiKey, key_id, lock=True)
            if row.revoked_at is None:
                row.revoked_at = utcnow()
        return _record(row)
