"""MySQL and SQLite histories go through sqlglot into the same model (issue 15's skeleton;
tests/test_mysql.py and tests/test_sqlite.py hold each engine's own cases)."""

from __future__ import annotations

from schema_review.model import replay
from schema_review.parse import SourceFile
from schema_review.parse.sqlglot_parse import parse_sqlglot
from schema_review.profile import Profile


def _model(sql: str, dialect: str):  # type: ignore[no-untyped-def]
    statements, problems = parse_sqlglot(SourceFile("0001.sql", sql), dialect)
    return replay(statements, Profile(dialect=dialect)), statements, problems


def test_mysql_statements_keep_their_place_and_replay() -> None:
    sql = (
        "CREATE TABLE `users` (\n  `id` bigint NOT NULL AUTO_INCREMENT,\n"
        "  `org_id` bigint,\n  PRIMARY KEY (`id`),\n  KEY `idx_org` (`org_id`)\n"
        ") ENGINE=InnoDB;\n# a MySQL comment\n"
        "ALTER TABLE users ADD COLUMN name varchar(80) NOT NULL;\n"
    )
    model, statements, problems = _model(sql, "mysql")
    assert not problems
    assert [(s.kind, s.line, s.column) for s in statements] == [("Create", 1, 1), ("Alter", 8, 1)]
    table = model.tables[("main", "users")]
    assert list(table.columns) == ["id", "org_id", "name"]
    assert table.columns["name"].not_null and str(table.columns["name"].type) == "varchar(80)"
    assert [index.name for index in table.indexes if index.constraint is None] == ["idx_org"]
    assert [c.kind for c in model.changes] == ["create_table", "add_column"]


def test_sqlite_history_replays_renames_and_drops() -> None:
    sql = (
        "CREATE TABLE a (id INTEGER PRIMARY KEY, x TEXT NOT NULL DEFAULT 'x' CHECK (x <> ''));\n"
        "CREATE UNIQUE INDEX a_x ON a (x) WHERE x > 'a';\n"
        "ALTER TABLE a RENAME COLUMN x TO y;\n"
        "ALTER TABLE a RENAME TO b;\n"
        "DROP INDEX a_x;\n"
    )
    model, _, problems = _model(sql, "sqlite")
    assert not problems
    table = model.tables[("main", "b")]
    assert list(table.columns) == ["id", "y"]
    assert table.columns["y"].default is not None and table.columns["y"].default.sql == "'x'"
    assert not [index for index in table.live_indexes if index.constraint is None]
    assert [c.kind for c in model.changes] == [
        "create_table",
        "create_index",
        "rename_column",
        "rename_table",
        "drop_index",
    ]


def test_a_statement_that_does_not_parse_is_located_and_costs_only_itself() -> None:
    sql = "CREATE TABLE a (id int);\nCREATE TABLE (;\nCREATE TABLE b (id int);\n"
    model, statements, problems = _model(sql, "sqlite")
    assert [(p.line, p.column) for p in problems] == [(2, 14)]
    assert sorted(name for _, name in model.tables) == ["a", "b"]
    assert len(statements) == 2
