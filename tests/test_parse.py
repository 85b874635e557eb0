"""Parsing: statement positions are characters of the file, whatever its encoding needs."""

from __future__ import annotations

from schema_review.parse import SourceFile, parse_postgres
from tests.helpers import LintSql, findings_of


def test_positions_are_characters_in_non_ascii_text() -> None:
    # libpg_query counts bytes of UTF-8: each é is two bytes, each emoji four.
    text = "SELECT 'ééé 🎉' AS x;\nCREATE TABLE t (\"naïve\" int, b text DEFAULT 'ü');\nSELECT 3;"
    statements, problems = parse_postgres(SourceFile("a.sql", text))
    assert not problems
    assert [s.text for s in statements] == [
        "SELECT 'ééé 🎉' AS x",
        "CREATE TABLE t (\"naïve\" int, b text DEFAULT 'ü')",
        "SELECT 3",
    ]
    assert [s.line for s in statements] == [1, 2, 3]
    column = statements[1].node["tableElts"][0]["ColumnDef"]
    assert text[statements[1].offset_of(column) :].startswith('"naïve" int')


def test_non_ascii_file_with_a_syntax_error_keeps_its_other_statements(
    lint_sql: LintSql,
) -> None:
    sql = (
        "-- file: 0001_auftrag.sql\n"
        "CREATE TABLE IF NOT EXISTS auftrag (id bigint PRIMARY KEY, größe text);\n"
        "-- file: 0002_index.sql\n"
        "-- Überblick: Tabellen für Aufträge 📦\n"
        "CREATE TABEL kaputt (x int);\n"
        "CREATE INDEX auftrag_größe_idx ON auftrag (größe);\n"
    )
    run = lint_sql(sql, select=("parse-error", "create-index-not-concurrently"))
    (error,) = findings_of(run, "parse-error")
    assert (error.line, error.column) == (2, 8)
    (index,) = findings_of(run, "create-index-not-concurrently")
    assert (index.line, index.column) == (3, 1)
