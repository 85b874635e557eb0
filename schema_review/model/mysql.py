"""The MySQL (and MariaDB) front end: sqlglot's MySQL trees into model operations."""

from __future__ import annotations

from typing import Any

from schema_review.model.objects import Index, Table
from schema_review.model.sqlglot_front import SqlglotReplayer, _key_name
from schema_review.parse import Statement


class MysqlReplayer(SqlglotReplayer):
    dialect = "mysql"

    def inline_index(self, table: Table, element: Any, statement: Statement) -> None:
        """KEY/INDEX name (columns) in CREATE TABLE (or ADD INDEX)."""
        keys: list[str] = [_key_name(e) for e in element.expressions]
        name = element.name or (keys[0] if keys else "")
        index = Index(
            name,
            schema=table.schema,
            table=table,
            columns=list(keys),
            key_names=list(keys),
        )
        table.indexes.append(index)
        self.model.indexes[(table.schema, name)] = index
        self.born(index, statement)
