"""Cross-database sync (Nexpo): models and the pure rules — row validation, canonical values
and batch checksums.

A page of changed rows travels as JSON-safe dicts in canonical form (:func:`canonical`):
instants as UTC ISO-8601 with microseconds, decimals as strings, bytes as hex. The source's
checksum of a batch is computed from those values and each target's from the same rows read
back and put in the same form, so a row that a target stored differently (truncated,
rounded, missing) shows up as a checksum mismatch.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from followthrough.bounds import INT64_MAX, MAX_ITEMS, MAX_STORES, Id, Name

#: A column or table name: what a SQL identifier may be here.
_COLUMN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
#: A running total carried across continue-as-new.
_TOTAL = Field(default=0, ge=0, le=INT64_MAX)

ColumnType = Literal["string", "integer", "number", "boolean", "datetime", "email"]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ColumnRule(BaseModel):
    """A schema rule for one column; a row that breaks one is quarantined with the reason."""

    column: Name
    required: bool = False
    type: ColumnType | None = None
    max_length: int | None = Field(default=None, gt=0, le=2**31 - 1)
    pattern: str | None = Field(default=None, max_length=500)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"is not a regular expression: {exc}") from None
        return value


#: The rules for the users table the onboarding writes (USER_STORES_TABLE).
USER_TABLE_RULES: list[ColumnRule] = [
    ColumnRule(column="id", required=True, type="string", max_length=64),
    ColumnRule(column="email", required=True, type="email", max_length=320),
    ColumnRule(column="name", type="string", max_length=200),
    ColumnRule(column="updated_at", required=True, type="datetime"),
]


class SyncTotals(BaseModel):
    pages: int = _TOTAL
    rows_seen: int = _TOTAL
    rows_synced: int = _TOTAL
    quarantined: int = _TOTAL
    runs: int = Field(default=1, ge=0, le=INT64_MAX)


class SyncPlan(BaseModel):
    """What one sync moves, resolved from the input and the settings once per execution chain."""

    sync_name: Id
    source: Id
    targets: list[Id] = Field(max_length=MAX_STORES)
    table: str = Field(pattern=_COLUMN)
    key: Name
    cursor: Name
    batch_size: int = Field(gt=0, le=5000)
    rules: list[ColumnRule] = Field(default_factory=list, max_length=MAX_ITEMS)


class DataSyncInput(BaseModel):
    """Every field optional: ``followthrough workflow start DataSyncWorkflow`` syncs with the
    settings (DATA_SYNC_*). ``plan`` and ``totals`` are carried across continue-as-new."""

    sync_name: str = Field(default="data-sync", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    source: Id | None = None
    targets: list[Id] = Field(default_factory=list, max_length=MAX_STORES)
    table: str | None = Field(default=None, pattern=_COLUMN)
    key: Name | None = None
    cursor: Name | None = None
    batch_size: int | None = Field(default=None, gt=0, le=5000)
    #: None = the users-table rules when the table is USER_STORES_TABLE, else no rules.
    rules: list[ColumnRule] | None = Field(default=None, max_length=MAX_ITEMS)
    #: Pages per execution before continuing as new (keeps each history small).
    pages_per_run: int = Field(default=20, gt=0, le=1000)
    plan: SyncPlan | None = None
    totals: SyncTotals = Field(default_factory=SyncTotals)


class Watermark(BaseModel):
    """The last synced position: the change cursor's canonical value and the key as text."""

    cursor: Any = None
    key: str | None = None


class LoadWatermarkInput(BaseModel):
    sync_name: str


class DetectChangesInput(BaseModel):
    plan: SyncPlan
    after: Watermark


class ChangeBatch(BaseModel):
    rows: list[dict[str, Any]]
    last: Watermark | None = None
    has_more: bool = False


class QuarantinedRow(BaseModel):
    key: str
    cursor: Any = None
    reason: str
    row: dict[str, Any]


class QuarantineInput(BaseModel):
    sync_name: str
    table: str
    rows: list[QuarantinedRow]


class UpsertBatchInput(BaseModel):
    store: str
    table: str
    key: str
    rows: list[dict[str, Any]]


class VerifyBatchInput(BaseModel):
    store: str
    table: str
    key: str
    keys: list[str]
    columns: list[str]


class BatchDigest(BaseModel):
    store: str
    count: int
    checksum: str


class AdvanceWatermarkInput(BaseModel):
    sync_name: str
    watermark: Watermark


class DataSyncResult(BaseModel):
    sync_name: str
    source: str
    targets: list[str]
    watermark: Watermark
    totals: SyncTotals


# --- pure rules ----------------------------------------------------------------------------
def canonical(value: Any) -> Any:
    """A JSON-safe value that means the same on every backend."""
    if isinstance(value, datetime):
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return aware.isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b16encode(bytes(value)).decode().lower()
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def canonical_row(row: dict[str, Any]) -> dict[str, Any]:
    return {column: canonical(value) for column, value in row.items()}


def batch_checksum(rows: list[dict[str, Any]], key: str) -> str:
    """SHA-256 over the rows sorted by key, each as canonical JSON with sorted columns."""
    digest = hashlib.sha256()
    for row in sorted(rows, key=lambda r: str(r[key])):
        digest.update(json.dumps(canonical_row(row), sort_keys=True, separators=(",", ":")).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _type_error(value: Any, kind: ColumnType) -> str | None:
    if kind == "string" and not isinstance(value, str):
        return "is not text"
    if kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
        return "is not an integer"
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float | str)):
        return "is not a number"
    if kind == "number" and isinstance(value, str):
        try:
            Decimal(value)
        except ArithmeticError:
            return "is not a number"
    if kind == "boolean" and not isinstance(value, bool | int):
        return "is not a boolean"
    if kind == "datetime":
        try:
            datetime.fromisoformat(str(value))
        except ValueError:
            return "is not an instant"
    if kind == "email" and not (isinstance(value, str) and _EMAIL.match(value)):
        return "is not an email address"
    return None


def row_violation(row: dict[str, Any], rules: list[ColumnRule]) -> str | None:
    """The first rule the (canonical) row breaks, as 'column: reason', or None."""
    for rule in rules:
        value = row.get(rule.column)
        if value is None or value == "":
            if rule.required:
                return f"{rule.column}: is required"
            continue
        if rule.type is not None and (problem := _type_error(value, rule.type)):
            return f"{rule.column}: {problem}"
        if rule.max_length is not None and len(str(value)) > rule.max_length:
            return f"{rule.column}: longer than {rule.max_length} characters"
        if rule.pattern is not None and not re.fullmatch(rule.pattern, str(value)):
            return f"{rule.column}: does not match {rule.pattern}"
    return None


def split_valid(
    rows: list[dict[str, Any]], rules: list[ColumnRule], key: str, cursor: str
) -> tuple[list[dict[str, Any]], list[QuarantinedRow]]:
    """The rows to sync, and the rows to quarantine with their reason (none is dropped)."""
    valid: list[dict[str, Any]] = []
    bad: list[QuarantinedRow] = []
    for row in rows:
        reason = row_violation(row, rules) if row.get(key) is not None else f"{key}: is required"
        if reason is None:
            valid.append(row)
        else:
            bad.append(QuarantinedRow(key=str(row.get(key)), cursor=row.get(cursor), reason=reason, row=row))
    return valid, bad
