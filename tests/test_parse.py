"""Parsing: statement positions are characters of the file, whatever its encoding needs."""

from __future__ import annotations

import pytest

from schema_review.parse import SourceFile, parse_postgres, source
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


@pytest.mark.parametrize("piece", [1, 3, 1 << 20])
def test_line_and_column_of_every_offset(piece: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The line index is built by pieces of the text (a long file's lines are never all
    split at once): a line that crosses from one piece into the next is one line."""
    monkeypatch.setattr(source, "_PIECE", piece)
    text = "ab\n\ncdé\r\nf\n\n\ngh"
    expected = []
    line, column = 1, 1
    for character in text:
        expected.append((line, column))
        line, column = (line + 1, 1) if character == "\n" else (line, column + 1)
    expected.append((line, column))  # the end of the text
    file = SourceFile("f.sql", text)
    assert [file.position(offset) for offset in range(len(text) + 1)] == expected


FOREIGN_KEYS = """CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer bigint REFERENCES customers (id) ON DELETE CASCADE,
    note text DEFAULT 'a, b ) c' /* ON UPDATE , ) */,
    shop bigint REFERENCES shops ON UPDATE SET NULL ON DELETE RESTRICT,
    label text DEFAULT $$ ON DELETE $$,
    other bigint,
    FOREIGN KEY (other) REFERENCES others (id) ON UPDATE CASCADE
)"""


@pytest.mark.parametrize("window", [1, 8, 30, 45, 70, 256])
def test_the_actions_a_references_clause_writes_do_not_depend_on_how_much_is_scanned_first(
    window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from schema_review.parse import postgres

    starts = [at + len("REFERENCES ") for at in range(len(FOREIGN_KEYS))]
    starts = [
        at for at in starts if FOREIGN_KEYS[at - len("REFERENCES ") :].startswith("REFERENCES")
    ]
    expected = [
        postgres._references_actions(postgres._scan(FOREIGN_KEYS[at:]), 0)[1] for at in starts
    ]
    assert expected == [("delete",), ("delete", "update"), ("update",)]
    monkeypatch.setattr(postgres, "_CLAUSE_WINDOW", window)
    for at, actions in zip(starts, expected, strict=True):
        assert postgres.references_actions_written(FOREIGN_KEYS, at) == actions
        for cut in range(at, len(FOREIGN_KEYS)):  # a statement ending anywhere after it
            text = FOREIGN_KEYS[:cut]
            whole = postgres._references_actions(postgres._scan(text[at:]), 0)[1]
            assert postgres.references_actions_written(text, at) == whole


def test_split_statements_takes_whole_only_the_tokens_that_token_returns_as_matched() -> None:
    from schema_review.parse import script

    pattern = script._compiled(script._SQL_TOKEN, script._VERBOSE_DOTALL)
    searched = {"dollar", "block_comment", *script._LITERAL_ENDS}
    assert set(pattern.groupindex) == script._WHOLE | searched
    assert not script._WHOLE & searched


def test_function_names_are_worked_out_once_a_text_and_given_as_a_new_list() -> None:
    """Expressions of the same text share their function names (worked out once); each
    answer is a list of its own, and a renamed expression, another text, has its own."""
    from schema_review.parse import expressions
    from schema_review.parse.expressions import Expression

    [statement], _ = parse_postgres(
        SourceFile("f.sql", "CREATE TABLE t (a uuid DEFAULT pg_catalog.gen_random_uuid());")
    )
    default = statement.node["tableElts"][0]["ColumnDef"]["constraints"][0]["Constraint"]
    first = Expression("", 0, default["raw_expr"])
    second = Expression("", 40, default["raw_expr"])
    names = first.function_names
    assert names == ["pg_catalog.gen_random_uuid"]
    assert expressions._FUNCTION_NAMES[first._node] == ("pg_catalog.gen_random_uuid",)  # type: ignore[index]
    names.append("changed by a caller")
    assert second.function_names == ["pg_catalog.gen_random_uuid"]
    call = {"FuncCall": {"funcname": [{"String": {"sval": "now"}}], "location": 0}}
    assert Expression("", 0, call).function_names == ["now"]


def test_expressions_keep_their_values_through_the_compact_text() -> None:
    """An expression is kept as compact JSON (orjson's): it reads back as the node without
    its locations, non-ASCII text included; what orjson cannot write (a lone surrogate, a
    node nested past its 255 levels) is kept as the node itself."""
    from schema_review.parse.expressions import Expression

    node = {"A_Const": {"sval": {"sval": 'héllo ☃ "q" \\ ok'}, "location": 12}}
    expression = Expression("", 0, node)
    assert type(expression._node) is str
    assert expression.node == {"A_Const": {"sval": {"sval": 'héllo ☃ "q" \\ ok'}}}
    lone = {"A_Const": {"sval": {"sval": "bad \udc80"}, "location": 3}}
    assert Expression("", 0, lone).node is lone
    deep: dict[str, object] = {"A_Const": {"ival": {"ival": 1}}}
    for _ in range(300):
        deep = {"A_Expr": {"lexpr": deep}}
    assert Expression("", 0, deep).node is deep
    [statement], _ = parse_postgres(
        SourceFile("e.sql", "CREATE TABLE t (c text DEFAULT 'naïve' CHECK (c <> 'ß'));")
    )
    column = statement.node["tableElts"][0]["ColumnDef"]
    default = column["constraints"][0]["Constraint"]["raw_expr"]
    printed = statement.expression(default)
    assert printed is not None and printed.sql == "'naïve'"
