"""The SQLite front end: sqlglot's SQLite trees into model operations."""

from __future__ import annotations

from schema_review.model.sqlglot_front import SqlglotReplayer


class SqliteReplayer(SqlglotReplayer):
    dialect = "sqlite"
