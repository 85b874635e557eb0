"""The comparison of two schema documents, and the expression normalisation it stands on.

Each normalisation rule is a pair the server really produces (printed by pg_get_expr on
PostgreSQL 18) beside what a migration writes; each has a counterpart that must still
differ, so that no rule swallows a real difference.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pglast.parser import parse_sql_json

from schema_review.parse import strip_locations
from schema_review.verify.compare import compare, normalise, same_expression

# (as written, as the server prints it back)
SAME = {
    "casts": ("status = 'active'", "(status = 'active'::text)"),
    "cast of a column": ("lower(email)", "lower((email)::text)"),
    "negative constant": ("-1", "'-1'::integer"),
    "constant of another type": ("0", "(0)::numeric"),
    "boolean as text": ("'true'", "true"),
    "null default": ("NULL", "NULL::text"),
    "IN list": (
        "b IN ('x', 'y')",
        "((b)::text = ANY ((ARRAY['x'::varchar, 'y'::varchar])::text[]))",
    ),
    "IN of one": ("c IN ('q')", "(c = 'q'::text)"),
    "NOT IN": ("b NOT IN ('z', 'w')", "((b)::text <> ALL (ARRAY['z'::text, 'w'::text]))"),
    "IN subquery": ("a IN (SELECT id FROM t)", "(a = ANY (SELECT t.id FROM t))"),
    "BETWEEN": ("a BETWEEN 1 AND 5", "((a >= 1) AND (a <= 5))"),
    "NOT BETWEEN": ("a NOT BETWEEN 1 AND 5", "((a < 1) OR (a > 5))"),
    "LIKE": ("c LIKE 'a%'", "(c ~~ 'a%'::text)"),
    "NOT ILIKE": ("c NOT ILIKE 'a%'", "(c !~~* 'a%'::text)"),
    "SIMILAR TO": ("b SIMILAR TO 'x%'", "((b)::text ~ similar_to_escape('x%'::text))"),
    "!=": ("c != 'y'", "(c <> 'y'::text)"),
    "nested AND": ("a > 1 AND (b > 2 AND c > 3)", "((a > 1) AND (b > 2) AND (c > 3))"),
    "public schema": ("EXISTS (SELECT 1 FROM public.members)", "(EXISTS ( SELECT 1 FROM members))"),
    "function schema": ("extensions.uuid_generate_v4()", "uuid_generate_v4()"),
    "pg_catalog function": ("pg_catalog.now()", "now()"),
    "qualified operator": ("a OPERATOR(pg_catalog.+) 1", "(a + 1)"),
    "own table qualifier": ("orders.total >= 0", "(total >= (0)::numeric)"),
    "subquery qualifiers and the AS the server adds": (
        "team_id IN (SELECT team_id FROM members WHERE user_id = (SELECT auth.uid()))",
        "(team_id IN ( SELECT members.team_id FROM members"
        " WHERE (members.user_id = ( SELECT auth.uid() AS uid))))",
    ),
    "alias qualifier": (
        "EXISTS (SELECT 1 FROM members m WHERE team_id = orders.id)",
        "(EXISTS ( SELECT 1 FROM members m WHERE (m.team_id = orders.id)))",
    ),
    "AT TIME ZONE": ("now() at time zone 'utc'", "(now() AT TIME ZONE 'utc'::text)"),
    "interval units": ("now() + CAST('3 minutes' AS interval)", "(now() + '00:03:00'::interval)"),
    "weeks": ("'1 week'::interval", "'7 days'::interval"),
    "epoch": ("'epoch'::timestamptz", "'1970-01-01 00:00:00+00'::timestamp with time zone"),
    "timestamp offset": ("'1970-01-01 00:00:01+00:00'", "'1970-01-01 00:00:01'::timestamp"),
    "regclass text": ("nextval('public.orders_id_seq')", "nextval('orders_id_seq'::regclass)"),
    "regclass case": ("nextval('Orders_Seq'::regclass)", "nextval('orders_seq'::regclass)"),
    "call syntax": ("substring(x from 2)", "substring(x, 2)"),
}

DIFFERENT = {
    "constants": ("a > 1", "a > 2"),
    "operators": ("a > 1", "a >= 1"),
    "AND / OR grouping": ("a AND b OR c", "a AND (b OR c)"),
    "IN lists": ("b IN ('x', 'y')", "b IN ('x', 'z')"),
    "IN vs NOT IN": ("b IN ('x', 'y')", "b NOT IN ('x', 'y')"),
    "functions": ("now()", "CURRENT_TIMESTAMP"),
    "another schema's table": (
        "EXISTS (SELECT 1 FROM app.members)",
        "EXISTS (SELECT 1 FROM members)",
    ),
    "a qualifier not in scope": ("other.total >= 0", "total >= 0"),
    "another sequence": ("nextval('a_seq')", "nextval('b_seq'::regclass)"),
    "a quoted mixed-case sequence": (
        "nextval('Orders_seq')",
        "nextval('\"Orders_seq\"'::regclass)",
    ),
    "another interval": ("'1 day'::interval", "'24:00:00'::interval"),
    "another moment": ("'epoch'::timestamptz", "'1970-01-01 00:00:01+00'::timestamptz"),
    "a kept alias": ("(SELECT auth.uid() AS who)", "(SELECT auth.uid())"),
    "texts": ("'a'", "'b'"),
}


def _tree(expression: str) -> Any:
    """The parse tree without positions: what the comparison would see without its rules."""
    tree = json.loads(parse_sql_json("SELECT " + expression))
    return strip_locations(tree["stmts"][0]["stmt"])


@pytest.mark.parametrize("written, printed", SAME.values(), ids=list(SAME))
def test_the_server_spelling_is_the_same_expression(written: str, printed: str) -> None:
    # Each pair needs its rule: the plain trees differ.
    assert _tree(written) != _tree(printed)
    table = "orders" if "orders" in written else "t"
    assert same_expression(written, printed, table), (normalise(written), normalise(printed))


@pytest.mark.parametrize("left, right", DIFFERENT.values(), ids=list(DIFFERENT))
def test_different_expressions_stay_different(left: str, right: str) -> None:
    assert not same_expression(left, right, "orders")


def test_parentheses_are_not_in_the_tree() -> None:
    assert same_expression("((a + b)) * 2", "((a + b) * 2)")
    assert not same_expression("a + b * 2", "(a + b) * 2")


def test_text_that_does_not_parse_is_compared_as_text() -> None:
    assert same_expression("room  WITH =", "ROOM WITH =")
    assert not same_expression("room WITH =", "room WITH &&")


# -- documents -------------------------------------------------------------------------------


def _table(**changes: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "schema": "public",
        "name": "orders",
        "external": False,
        "partitioned": False,
        "partition_of": None,
        "inherits": [],
        "unlogged": False,
        "columns_known": True,
        "columns": [
            {
                "name": "id",
                "type": "integer",
                "not_null": True,
                "default": "nextval('orders_id_seq'::regclass)",
                "identity": None,
                "generated": None,
            },
            {
                "name": "status",
                "type": "text",
                "not_null": True,
                "default": "'active'::text",
                "identity": None,
                "generated": None,
            },
        ],
        "primary_key": {"name": "orders_pkey", "columns": ["id"], "deferrable": False},
        "unique": [],
        "foreign_keys": [],
        "checks": [
            {
                "name": "orders_status_check",
                "expression": "(status = ANY (ARRAY['active'::text, 'closed'::text]))",
                "valid": True,
            }
        ],
        "exclusions": [],
        "indexes": [
            {
                "name": "orders_pkey",
                "keys": [{"column": "id"}],
                "include": [],
                "predicate": None,
                "method": "btree",
                "unique": True,
                "constraint": "orders_pkey",
            },
            {
                "name": "orders_lower_idx",
                "keys": [{"expression": "lower(status)"}],
                "include": [],
                "predicate": "(status <> 'closed'::text)",
                "method": "btree",
                "unique": False,
                "constraint": None,
            },
        ],
        "triggers": [],
        "row_level_security": {"enabled": False, "forced": False},
        "policies": [],
    }
    table.update(changes)
    return table


def _document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "format": "schema-review.schema",
        "version": 1,
        "history": "db",
        "schemas": [{"name": "app"}],
        "extensions": [],
        "types": [],
        "sequences": [
            {"schema": "public", "name": "orders_id_seq", "owned_by": "public.orders.id"}
        ],
        "tables": [_table()],
        "views": [],
        "functions": [
            {
                "schema": "public",
                "name": "touch",
                "kind": "function",
                "arguments": ["uuid", "text"],
                "returns": "trigger",
                "returns_set": False,
                "language": "plpgsql",
                "security_definer": True,
                "volatility": "volatile",
                "search_path": '""',
            }
        ],
    }
    document.update(changes)
    return document


def _model_written_as_written() -> dict[str, Any]:
    """The server's document as the model prints it: expressions as written."""
    model = _document(history="other")
    table = model["tables"][0]
    table["columns"][1]["default"] = "'active'"
    table["checks"][0]["expression"] = "status in ('active', 'closed')"
    table["indexes"][1]["predicate"] = "status != 'closed'"
    model["functions"][0]["search_path"] = "''"
    return model


def test_equal_documents_match_object_by_object() -> None:
    result = compare(_document(), _model_written_as_written())
    assert result.ok, [str(d) for d in result.differences]
    # schema, sequence, function, table, 2 columns, primary key, check, 2 indexes
    assert (result.compared, result.matched) == (10, 10)
    assert result.summary() == "10/10 objects match (100.0%)"


def test_a_field_that_differs_is_one_readable_line() -> None:
    model = _model_written_as_written()
    model["tables"][0]["columns"][1]["type"] = "integer"
    server = _document()
    server["tables"][0]["columns"][1]["type"] = "bigint"
    result = compare(server, model)
    assert [str(d) for d in result.differences] == [
        "table public.orders: column status: type integer (model) vs bigint (server)"
    ]
    assert result.differences[0].object == "column public.orders.status"
    assert (result.compared, result.matched) == (10, 9)
    assert result.per_kind["column"] == [2, 1]


def test_objects_on_one_side_only() -> None:
    model = _model_written_as_written()
    del model["tables"][0]["indexes"][1]
    model["schemas"].append({"name": "extra"})
    result = compare(_document(), model)
    assert sorted(map(str, result.differences)) == [
        "schema extra: not on server (the model has it)",
        "table public.orders: index orders_lower_idx: missing in model",
    ]
    assert set(result.by_kind()) == {"index", "schema"}


def test_an_object_named_otherwise_is_one_difference_of_name() -> None:
    model = _model_written_as_written()
    model["tables"][0]["checks"][0]["name"] = "orders_check"
    result = compare(_document(), model)
    assert [str(d) for d in result.differences] == [
        "table public.orders: check orders_status_check: name orders_check (model) vs "
        "orders_status_check (server)"
    ]


def test_expressions_that_differ_are_reported() -> None:
    model = _model_written_as_written()
    model["tables"][0]["indexes"][1]["keys"] = [{"expression": "upper(status)"}]
    model["tables"][0]["columns"][1]["default"] = "'closed'"
    result = compare(_document(), model)
    assert sorted(d.object for d in result.differences) == [
        "column public.orders.status",
        "index public.orders.orders_lower_idx",
    ]


def test_functions_by_signature() -> None:
    model = _model_written_as_written()
    model["functions"][0]["arguments"] = ["uuid"]
    model["functions"][0]["search_path"] = "public"
    result = compare(_document(), model)
    assert [str(d) for d in result.differences] == [
        "function public.touch(uuid): arguments (uuid) (model) vs (uuid, text) (server)",
        'function public.touch(uuid): search_path public (model) vs "" (server)',
    ]


def test_column_order_is_part_of_the_table() -> None:
    model = _model_written_as_written()
    model["tables"][0]["columns"].reverse()
    result = compare(_document(), model)
    assert [str(d) for d in result.differences] == [
        "table public.orders: column order status, id (model) vs id, status (server)"
    ]


def test_columns_of_a_table_the_model_cannot_know_are_not_compared() -> None:
    model = _model_written_as_written()
    model["tables"][0]["columns"] = []
    model["tables"][0]["columns_known"] = False
    result = compare(_document(), model)
    assert result.ok
    assert result.per_kind["column"] == [0, 0]


def test_exclusions_leave_objects_out_on_both_sides() -> None:
    server = _document()
    partition = copy.deepcopy(server["tables"][0])
    partition["name"] = "orders_20260101"
    server["tables"].append(partition)
    result = compare(server, _model_written_as_written(), exclude=["table public.orders_2*"])
    assert result.ok
    assert result.excluded_objects == ["table public.orders_20260101"]
    assert result.summary() == "10/10 objects match (100.0%), 1 excluded"
    without = compare(server, _model_written_as_written())
    assert [str(d) for d in without.differences] == [
        "table public.orders_20260101: missing in model"
    ]
