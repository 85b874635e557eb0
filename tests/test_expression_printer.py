"""Expressions printed from libpg_query's JSON (parse/deparse.py's `expression_sql`) read
exactly as pglast's RawStream prints them: every node of these statements and of the
examples' PostgreSQL migrations that the JSON printer handles is printed both ways."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schema_review.parse.deparse import expression_sql
from schema_review.parse.expressions import Expression, pglast_sql, simple_sql, walk_dicts
from schema_review.parse.postgres import pg_parser

ROOT = Path(__file__).resolve().parent.parent

STATEMENTS = [
    "CREATE INDEX a1 ON t (coalesce(\"User\", 'it''s', E'back\\\\slash', 1.5, -2, true, false,"
    " null))",
    "CREATE INDEX a2 ON t ((data ->> 'k')) WHERE \"order\" IS NOT NULL AND x >= -1"
    " AND (y = 'a' OR z <> 2.5e3)",
    "CREATE INDEX a3 ON t (x) WHERE (a IS NULL OR b IS NULL) AND (c = TRUE OR d = FALSE)"
    " AND e ~ 'x'",
    'CREATE TABLE t2 (a text[] DEFAULT ARRAY[]::text[], b "MyType"[] DEFAULT'
    " ARRAY['x']::\"MyType\"[], c int[] DEFAULT ARRAY[1,2]::int[],"
    " d varchar[] DEFAULT array['a']::varchar(3)[])",
    "CREATE TABLE t3 (a text DEFAULT coalesce(current_setting('x', true), 'y'),"
    " b text DEFAULT lower(coalesce(a, b)), c int CHECK (c > 0 AND c < 10 OR c IS NULL))",
    'CREATE INDEX a4 ON t (coalesce(t.a, s.t.b), "weird""name") WHERE "select" IS NULL'
    " AND \"Mixed\" = 'x' AND user_id <> 0 AND left(a, 2) = 'x'",
    "CREATE INDEX a5 ON t (f(a, b), g()) WHERE a.b.c IS NOT NULL AND x = ANY('{1}')"
    " AND x IN (1,2) AND x LIKE 'a%' AND NOT y AND (x + 1) > 2",
    "CREATE TABLE t5 (a int CHECK ((a > 1) AND ((b < 2) AND (c = 3))),"
    " b text CHECK (coalesce(b, '') <> ''), c text CHECK (char_length(c) <= 255),"
    " d jsonb CHECK (jsonb_typeof(d) = 'object'), e text CHECK (e = any(array['a','b'])))",
    "CREATE INDEX a6 ON t (coalesce(a, 0::bigint), coalesce(b, '1970-01-01'::timestamptz),"
    " coalesce(c, '{}'::jsonb), coalesce(d, cast('x' AS \"Foo\")))",
    "CREATE INDEX a7 ON t (x) WHERE deleted_at IS NULL AND status::text <> 'gone'"
    ' AND "type" = \'a\' AND "between" = 1 AND "left" = 1 AND public.f(x) = 1'
    " AND pg_catalog.lower(x) = 'a'",
    "CREATE TABLE t6 (a text[] DEFAULT '{}', b text[] DEFAULT array[]::character varying[],"
    " c int[][] DEFAULT array[array[1]]::int[][], d text[] DEFAULT ARRAY['a', null]::text[3],"
    ' e "char" DEFAULT coalesce(x, \'a\'::"char"))',
]


def _statements() -> list[str]:
    texts = list(STATEMENTS)
    for path in sorted(ROOT.glob("examples/*/migrations/*.sql")):
        if "mysql" in path.parts[-3] or "sqlite" in path.parts[-3]:
            continue
        text = path.read_text(encoding="utf-8")
        raw = text.encode()
        try:
            statements = json.loads(pg_parser.parse_sql_json(text))["stmts"]
        except pg_parser.ParseError:  # an example of a parse error
            continue
        for item in statements:
            start = item.get("stmt_location", 0)
            piece = raw[start : start + item.get("stmt_len", len(raw) - start)]
            if piece.isascii():  # locations are bytes: keep them characters too
                texts.append(piece.decode())
    return texts


def _printed_both_ways() -> list[tuple[str, str | None, str]]:
    """(JSON printer's text, pglast's text, node kind) of every node printed from JSON."""
    found = []
    for text in _statements():
        for item in walk_dicts(json.loads(pg_parser.parse_sql_json(text))):
            for kind, fields in item.items():
                if not isinstance(fields, dict) or "location" not in fields:
                    continue
                node = {kind: fields}
                if simple_sql(node) is not None:  # deparse never asks pglast for these
                    continue
                mine = expression_sql(node)
                if mine is not None:
                    found.append((mine, pglast_sql(text, kind, fields["location"]), kind))
    return found


def test_json_printer_reads_as_pglast_prints() -> None:
    printed = _printed_both_ways()
    kinds = {kind for _, _, kind in printed}
    # The shapes it is for are all exercised.
    assert {"CoalesceExpr", "NullTest", "BoolExpr", "A_Expr", "TypeCast", "A_ArrayExpr"} <= kinds
    assert [(mine, theirs) for mine, theirs, _ in printed if mine != theirs] == []


@pytest.mark.parametrize(
    "node",
    [
        {"SubLink": {"location": 1}},
        {"BoolExpr": {"boolop": "NOT_EXPR", "args": [{"ColumnRef": {"fields": []}}]}},
        {"A_Expr": {"kind": "AEXPR_LIKE", "name": [{"String": {"sval": "~~"}}]}},
        {"FuncCall": {"funcname": [{"String": {"sval": "count"}}], "agg_star": True}},
    ],
)
def test_other_shapes_are_left_to_pglast(node: dict[str, object]) -> None:
    assert expression_sql(node) is None


def test_expression_prints_the_index_key_of_a_fix() -> None:
    text = "CREATE INDEX i ON t (coalesce(close_time, '9999-12-31 23:59:59'))"
    tree = json.loads(pg_parser.parse_sql_json(text))
    key = tree["stmts"][0]["stmt"]["IndexStmt"]["indexParams"][0]["IndexElem"]["expr"]
    assert str(Expression(text, 0, key)) == "COALESCE(close_time, '9999-12-31 23:59:59')"


def test_a_renamed_column_prints_as_pglast_prints_it_renamed() -> None:
    text = "CREATE INDEX i ON t (coalesce(a, t.a, b)) WHERE a IS NOT NULL AND b = 'x'"
    tree = json.loads(pg_parser.parse_sql_json(text))
    index = tree["stmts"][0]["stmt"]["IndexStmt"]
    for node in (index["indexParams"][0]["IndexElem"]["expr"], index["whereClause"]):
        renamed = Expression(text, 0, node).with_column_renamed("a", "Renamed", "t")
        ((kind, fields),) = node.items()
        expected = pglast_sql(text, kind, fields["location"], renamed.renames)
        assert str(renamed) == expected
        assert '"Renamed"' in expected
