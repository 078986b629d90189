"""The app's own database (SQLAlchemy 2, async): SQLite by default, PostgreSQL or MariaDB in
production via ``DATABASE_URL``."""

from followthrough.store.database import (
    STORE_UNAVAILABLE,
    Database,
    StoreError,
    StoreRefused,
    StoreUnavailable,
    shown_url,
    sqlite_path,
)

__all__ = [
    "STORE_UNAVAILABLE",
    "Database",
    "StoreError",
    "StoreRefused",
    "StoreUnavailable",
    "shown_url",
    "sqlite_path",
]
