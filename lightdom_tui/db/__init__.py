"""Storage: SQLModel tables, the SQLite engine and migrations."""

from lightdom_tui.db.engine import create_db_engine, migrate, session_scope

__all__ = ["create_db_engine", "migrate", "session_scope"]
