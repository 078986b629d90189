"""The app's own database (SQLAlchemy 2, async): SQLite by default, PostgreSQL or MariaDB in
production via ``DATABASE_URL``."""

from followthrough.store.database import Database, StoreError, StoreRefused, shown_url, sqlite_path

__all__ = ["Database", "StoreError", "StoreRefused", "shown_url", "sqlite_path"]
