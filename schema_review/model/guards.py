"""Catalog checks in DO blocks, answered from the model.

`IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'status') THEN CREATE TYPE ...`:
migrations guard DDL with questions to the catalog. The model holds the same objects the
catalog would, so the common questions (does a type, table, column, index, constraint,
schema, function, trigger or policy of this name exist; how many) are answered here, and the
branch PostgreSQL takes is the one replayed. A question about something the model does not
know (roles, available extensions, settings) is None: the caller falls back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from schema_review.model.schema import SchemaModel
from schema_review.parse import node_name

Json = dict[str, Any]
# One row per object a catalog view lists: its columns, as the catalog names them.
Row = dict[str, str]


def _rows(model: SchemaModel) -> dict[str, Callable[[], Iterable[Row]]]:
    """The catalogs the model can answer for, as functions giving their rows."""

    def tables() -> Iterable[Row]:
        for table in model.live_tables():
            yield {"schema": table.schema, "table": table.name, "name": table.name}

    def columns() -> Iterable[Row]:
        for table in model.live_tables():
            for column in table.columns:
                row = {"schema": table.schema, "table": table.name, "name": column}
                yield {**row, "column": column}

    def indexes() -> Iterable[Row]:
        for index in model.indexes.values():
            yield {"schema": index.schema, "table": index.table.name, "name": index.name}

    def constraints() -> Iterable[Row]:
        for table in model.live_tables():
            for name in table.constraints:
                yield {"schema": table.schema, "table": table.name, "name": name}

    def relations() -> Iterable[Row]:
        yield from tables()
        yield from indexes()
        for registry in (model.sequences, model.views):
            for schema, name in registry:
                yield {"schema": schema, "name": name}

    def types() -> Iterable[Row]:
        for schema, name in model.types:
            yield {"schema": schema, "name": name}
        for table in model.live_tables():  # every table has its row type
            yield {"schema": table.schema, "name": table.name}

    def owned(kind: str) -> Callable[[], Iterable[Row]]:
        def rows() -> Iterable[Row]:
            for table in model.live_tables():
                objects = table.triggers if kind == "trigger" else table.policies
                for name in objects:
                    yield {"schema": table.schema, "table": table.name, "name": name}

        return rows

    def functions() -> Iterable[Row]:
        for schema, name, _ in model.functions:
            yield {"schema": schema, "name": name}

    def schemas() -> Iterable[Row]:
        for name in (*model.schemas, "public"):
            yield {"schema": name, "name": name}

    def extensions() -> Iterable[Row]:
        for name in model.extensions:
            yield {"name": name}

    def views() -> Iterable[Row]:
        for schema, name in model.views:
            yield {"schema": schema, "table": name, "name": name}

    return {
        "pg_type": types,
        "pg_class": relations,
        "pg_tables": tables,
        "pg_indexes": indexes,
        "pg_constraint": constraints,
        "pg_trigger": owned("trigger"),
        "pg_policy": owned("policy"),
        "pg_policies": owned("policy"),
        "pg_proc": functions,
        "pg_namespace": schemas,
        "pg_extension": extensions,
        "pg_views": views,
        "pg_sequences": lambda: ({"schema": s, "name": n} for s, n in model.sequences),
        "tables": tables,
        "columns": columns,
        "table_constraints": constraints,
        "schemata": schemas,
        "routines": functions,
        "triggers": owned("trigger"),
        "views": views,
    }


# What each catalog's columns mean in a row (the name the WHERE clause filters on).
_COLUMNS = {
    "typname": "name",
    "relname": "name",
    "tablename": "table",
    "indexname": "name",
    "conname": "name",
    "tgname": "name",
    "polname": "name",
    "policyname": "name",
    "proname": "name",
    "nspname": "name",
    "extname": "name",
    "viewname": "name",
    "sequencename": "name",
    "schemaname": "schema",
    "table_name": "table",
    "column_name": "column",
    "constraint_name": "name",
    "schema_name": "name",
    "table_schema": "schema",
    "constraint_schema": "schema",
    "routine_name": "name",
    "routine_schema": "schema",
    "trigger_name": "name",
    "trigger_schema": "schema",
    "event_object_table": "table",
    "sequence_name": "name",
}
_REG_FUNCTIONS = {"to_regclass": "pg_class", "to_regtype": "pg_type", "to_regproc": "pg_proc"}


class GuardEvaluator:
    """Evaluates a DO block's IF condition against the model."""

    def __init__(self, model: SchemaModel) -> None:
        self.catalogs = _rows(model)

    def truth(self, node: Json | None) -> bool | None:
        """The condition's value, or None when the model cannot tell."""
        value = self.value(node)
        return value if isinstance(value, bool) else None

    def value(self, node: Json | None) -> Any:
        if not isinstance(node, dict) or len(node) != 1:
            return None
        ((kind, fields),) = node.items()
        if kind == "BoolExpr":
            args = [self.truth(a) for a in fields.get("args", ())]
            op = fields.get("boolop")
            if op == "NOT_EXPR":
                return None if args[0] is None else not args[0]
            if op == "AND_EXPR":
                return False if False in args else (None if None in args else True)
            return True if True in args else (None if None in args else False)
        if kind == "SubLink":
            return self.sublink(fields)
        if kind == "A_Const":
            if "ival" in fields:
                return int(fields["ival"].get("ival", 0))
            if "boolval" in fields:
                return bool(fields["boolval"].get("boolval"))
            return None
        if kind == "A_Expr" and fields.get("kind") == "AEXPR_OP":
            return _compare(
                node_name(fields.get("name")),
                self.value(fields.get("lexpr")),
                self.value(fields.get("rexpr")),
            )
        if kind == "NullTest":
            arg = fields.get("arg") or {}
            if "SubLink" in arg:  # (SELECT oid FROM pg_class WHERE ...) IS NULL
                count = self.count(arg["SubLink"].get("subselect", {}).get("SelectStmt", {}))
                found = None if count is None else count > 0
            else:
                found = self.registered(arg)
            if found is None:
                return None
            return found if fields.get("nulltesttype") == "IS_NOT_NULL" else not found
        if kind == "TypeCast":
            return self.value(fields.get("arg"))
        return None

    def sublink(self, fields: Json) -> Any:
        select = fields.get("subselect", {}).get("SelectStmt", {})
        link = fields.get("subLinkType")
        if link == "EXISTS_SUBLINK":
            count = self.count(select)
            return None if count is None else count > 0
        if link != "EXPR_SUBLINK":
            return None
        targets = select.get("targetList", ())
        if len(targets) != 1:
            return None
        target = targets[0].get("ResTarget", {}).get("val", {})
        count = self.count(select)
        if count is None:
            return None
        if _is_count(target):
            return count
        expression = target.get("A_Expr")
        if expression is not None and _is_count(expression.get("lexpr", {})):
            return _compare(
                node_name(expression.get("name")), count, self.value(expression.get("rexpr"))
            )
        if "A_Const" in target or "ColumnRef" in target:  # SELECT 1 / SELECT oid ...
            return None if count > 1 else (None if count == 0 else True)
        return None

    def count(self, select: Json) -> int | None:
        """How many rows a catalog query returns, by the model."""
        sources = [item["RangeVar"] for item in select.get("fromClause", ()) if "RangeVar" in item]
        if len(sources) != 1 or len(select.get("fromClause", ())) != 1:
            return None
        rows = self.catalogs.get(sources[0].get("relname", ""))
        if rows is None:
            return None
        tests = _equalities(select.get("whereClause"))
        if tests is None:
            return None
        return sum(
            1
            for row in rows()
            if all(row.get(column) in values for column, values in tests.items())
        )

    def registered(self, node: Json | None) -> bool | None:
        """to_regclass('name') and the like: whether the object exists."""
        call = (node or {}).get("FuncCall")
        if call is None:
            return None
        catalog = _REG_FUNCTIONS.get(node_name(call.get("funcname"))[-1])
        args = call.get("args", ())
        text = _string(args[0]) if args else None
        if catalog is None or text is None:
            return None
        schema, _, name = text.rpartition(".")
        name = name.strip('"')
        return any(
            row["name"] == name and (not schema or row.get("schema") == schema.strip('"'))
            for row in self.catalogs[catalog]()
        )


def _is_count(node: Json) -> bool:
    call = node.get("FuncCall")
    return call is not None and node_name(call.get("funcname"))[-1:] == ["count"]


def _compare(operator: list[str], left: Any, right: Any) -> bool | None:
    if not isinstance(left, int) or not isinstance(right, int) or len(operator) != 1:
        return None
    tests = {
        "=": left == right,
        "<>": left != right,
        "!=": left != right,
        ">": left > right,
        ">=": left >= right,
        "<": left < right,
        "<=": left <= right,
    }
    return tests.get(operator[0])


def _string(node: Json) -> str | None:
    while "TypeCast" in node:
        node = node["TypeCast"].get("arg", {})
    value = node.get("A_Const", {}).get("sval")
    return None if value is None else str(value.get("sval", ""))


def _equalities(node: Json | None) -> dict[str, set[str]] | None:
    """`column = 'x'` and `column IN ('x', 'y')` tests of a WHERE clause joined by AND, by
    what the column means; other tests are ignored (they narrow what these already pick)."""
    tests: dict[str, set[str]] = {}
    stack = [node] if node else []
    while stack:
        item = stack.pop()
        boolean = item.get("BoolExpr")
        if boolean is not None:
            if boolean.get("boolop") != "AND_EXPR":
                return None  # OR / NOT: not a simple lookup
            stack.extend(boolean.get("args", ()))
            continue
        expression = item.get("A_Expr")
        if expression is None:
            continue
        column = node_name(expression.get("lexpr", {}).get("ColumnRef", {}).get("fields"))
        meaning = _COLUMNS.get(column[-1]) if column else None
        if meaning is None:
            continue
        right = expression.get("rexpr", {})
        if expression.get("kind") == "AEXPR_OP" and node_name(expression.get("name")) == ["="]:
            value = _string(right)
            if value is not None:
                tests.setdefault(meaning, set()).add(value)
        elif expression.get("kind") == "AEXPR_IN" and isinstance(right, dict):
            values = [_string(v) for v in right.get("List", {}).get("items", ())]
            if values and None not in values:
                tests.setdefault(meaning, set()).update(v for v in values if v is not None)
    return tests
