"""Statements and expressions printed back as SQL.

Statements: pglast's deparser, for the schema export. This builds pglast's Node objects (the
slow path): it runs only when `schema --format sql` asks for a function's or a view's
definition, never during a lint. Expressions: `expression_sql` prints the common shapes
straight from libpg_query's JSON, as pglast would.
"""

from __future__ import annotations

import re
from typing import Any


def _first_statement(text: str) -> Any:
    import pglast

    try:
        statements = pglast.parse_sql(text)
    except pglast.parser.ParseError:
        return None
    return statements[0].stmt if statements else None


def function_definition(statement_text: str, schema: str, name: str) -> str | None:
    """`CREATE OR REPLACE FUNCTION schema.name(...) ...` for the function (or procedure) that
    `statement_text` created, under its current name; None if it cannot be printed."""
    from pglast import ast
    from pglast.stream import RawStream

    node = _first_statement(statement_text)
    if type(node).__name__ != "CreateFunctionStmt":
        return None
    node.funcname = (ast.String(sval=schema), ast.String(sval=name))
    node.replace = True
    try:
        return str(RawStream()(node))
    except Exception:  # pglast cannot print every statement
        return None


def view_query(statement_text: str) -> str | None:
    """The SELECT of a CREATE VIEW or CREATE MATERIALIZED VIEW statement, as SQL."""
    from pglast.stream import RawStream

    node = _first_statement(statement_text)
    kind = type(node).__name__
    if kind not in ("ViewStmt", "CreateTableAsStmt"):
        return None
    try:
        return str(RawStream()(node.query))
    except Exception:  # pglast cannot print every statement
        return None


def partition_clause(statement_text: str, which: str) -> str | None:
    """The partition key (`which="partspec"`: `range (created_at)`) of a CREATE TABLE, or the
    bound (`"partbound"`: `FOR VALUES FROM (...) TO (...)`) of a CREATE TABLE ... PARTITION OF
    or an ALTER TABLE ... ATTACH PARTITION."""
    from pglast.stream import RawStream

    node = _first_statement(statement_text)
    value = getattr(node, which, None)
    if value is None and type(node).__name__ == "AlterTableStmt" and which == "partbound":
        for command in node.cmds or ():
            partition = getattr(command, "def_", None)
            value = getattr(partition, "bound", None)
            if value is not None:
                break
    if value is None:
        return None
    try:
        return str(RawStream()(value))
    except Exception:  # pglast cannot print every fragment
        return None


def type_definition(statement_text: str, schema: str, name: str) -> str | None:
    """The CREATE TYPE (range, composite) or CREATE DOMAIN statement that made a type,
    under its current name."""
    from pglast import ast
    from pglast.stream import RawStream

    node = _first_statement(statement_text)
    kind = type(node).__name__
    if kind == "CreateRangeStmt":
        node.typeName = (ast.String(sval=schema), ast.String(sval=name))
    elif kind == "CreateDomainStmt":
        node.domainname = (ast.String(sval=schema), ast.String(sval=name))
    elif kind == "CompositeTypeStmt":
        node.typevar.schemaname, node.typevar.relname = schema, name
    else:
        return None
    try:
        return str(RawStream()(node))
    except Exception:  # pglast cannot print every statement
        return None


# -- expressions printed straight from libpg_query's JSON ------------------------------------
#
# `expressions.deparse` prints an expression node with pglast's RawStream, which means parsing
# the statement again into pglast's Node objects (and importing pglast's Node classes and
# printers: ~75 ms on a cold start). The few shapes most index keys, predicates and defaults
# take (COALESCE, IS [NOT] NULL, comparisons joined by AND / OR, ARRAY[...] casts) are printed
# here from the JSON as RawStream prints them, character for character; anything else is left
# to pglast (None). tests/test_deparse.py compares the two on every expression of the examples.

JsonNode = dict[str, Any]

_SIMPLE_NAME = re.compile(r"[a-z_][a-z0-9_]*$")


def _name(name: str) -> str:
    """pglast's `maybe_double_quote_name`."""
    from schema_review.parse.postgres import RESERVED_WORDS

    if not _SIMPLE_NAME.match(name) or name in RESERVED_WORDS:
        return '"' + name.replace('"', '""') + '"'
    return name


def _names(items: Any) -> str | None:
    if not isinstance(items, list) or not items:
        return None
    names = []
    for item in items:
        string = item.get("String") if isinstance(item, dict) else None
        if not isinstance(string, dict):
            return None
        names.append(_name(string.get("sval", "")))
    return ".".join(names)


def _constant(fields: JsonNode) -> str | None:
    if fields.get("isnull"):
        return "NULL"
    if "ival" in fields:
        value = fields["ival"].get("ival", 0)
        return str(value) if type(value) is int else None
    if "fval" in fields:
        text = fields["fval"].get("fval")
        return text if isinstance(text, str) else None
    if "boolval" in fields:
        return "TRUE" if fields["boolval"].get("boolval") else "FALSE"
    if "sval" in fields:
        text = fields["sval"].get("sval", "")
        return "'" + text.replace("'", "''") + "'" if isinstance(text, str) else None
    return None


def _list(items: Any) -> str | None:
    if not isinstance(items, list) or not items:
        return None
    printed = [_atom(item) for item in items]
    if any(text is None for text in printed):
        return None
    return ", ".join(printed)  # type: ignore[arg-type]


_CALL_FIELDS = frozenset(("funcname", "args", "funcformat", "location"))


def _atom(node: Any) -> str | None:
    """An operand that never takes parentheses (pglast's precedence ATOM), or None."""
    if not isinstance(node, dict) or len(node) != 1:
        return None
    ((kind, fields),) = node.items()
    if not isinstance(fields, dict):
        return None
    if kind == "ColumnRef":
        return _names(fields.get("fields"))
    if kind == "A_Const":
        return _constant(fields)
    if kind == "CoalesceExpr":
        arguments = _list(fields.get("args"))
        return None if arguments is None else f"COALESCE({arguments})"
    if kind == "A_ArrayExpr":
        if "elements" not in fields:
            return "ARRAY[]"
        elements = _list(fields["elements"])
        return None if elements is None else f"ARRAY[{elements}]"
    if kind == "FuncCall":
        # A plain call f(a, ...): no star, DISTINCT, ORDER BY, FILTER, OVER or VARIADIC, and
        # not a pg_catalog function (SQL-syntax forms such as EXTRACT print differently) nor
        # one named by a column-name keyword (pglast quotes those).
        if not set(fields) <= _CALL_FIELDS or fields.get("funcformat") != "COERCE_EXPLICIT_CALL":
            return None
        name = _names(fields.get("funcname"))
        if name is None or len(fields["funcname"]) != 1 or not _SIMPLE_NAME.match(name):
            return None
        from pglast.keywords import COL_NAME_KEYWORDS

        if name in COL_NAME_KEYWORDS:
            return None
        if "args" not in fields:
            return f"{name}()"
        arguments = _list(fields["args"])
        return None if arguments is None else f"{name}({arguments})"
    if kind == "TypeCast":
        argument = _atom(fields.get("arg"))
        type_name = fields.get("typeName")
        if argument is None or not isinstance(type_name, dict):
            return None
        # A type named by one plain word (no pg_catalog type, which pglast spells its own
        # way), without modifiers; `[]` for each array dimension without a size.
        if not set(type_name) <= {"names", "arrayBounds", "typemod", "location"}:
            return None
        if type_name.get("typemod", -1) != -1 or len(type_name.get("names") or ()) != 1:
            return None
        name = _names(type_name["names"])
        if name is None or not _SIMPLE_NAME.match(name) or name == "char":
            return None
        bounds = type_name.get("arrayBounds") or []
        if any(bound != {"Integer": {"ival": -1}} for bound in bounds):
            return None
        return f"CAST({argument} AS {name}{'[]' * len(bounds)})"
    return None


def _test(node: Any) -> str | None:
    """A comparison of two operands, an IS [NOT] NULL test, or an operand; or None."""
    if not isinstance(node, dict) or len(node) != 1:
        return None
    ((kind, fields),) = node.items()
    if not isinstance(fields, dict):
        return None
    if kind == "NullTest":
        argument = _atom(fields.get("arg"))
        test = fields.get("nulltesttype")
        if argument is None or test not in ("IS_NULL", "IS_NOT_NULL"):
            return None
        return f"{argument} IS NOT NULL" if test == "IS_NOT_NULL" else f"{argument} IS NULL"
    if kind == "A_Expr":
        if fields.get("kind") != "AEXPR_OP":
            return None
        operator = fields.get("name")
        if not isinstance(operator, list) or len(operator) != 1:
            return None
        symbol = (
            operator[0].get("String", {}).get("sval") if isinstance(operator[0], dict) else None
        )
        left, right = _atom(fields.get("lexpr")), _atom(fields.get("rexpr"))
        if not isinstance(symbol, str) or not symbol or left is None or right is None:
            return None
        return f"{left} {symbol} {right}"
    return _atom(node)


def _boolean(node: Any) -> str | None:
    """`a AND b`, `a OR (b AND c)`: AND and OR joining tests, nested ones in parentheses."""
    if isinstance(node, dict) and len(node) == 1 and "BoolExpr" in node:
        fields = node["BoolExpr"]
        operator = {"AND_EXPR": " AND ", "OR_EXPR": " OR "}.get(fields.get("boolop"))
        arguments = fields.get("args")
        if operator is None or not isinstance(arguments, list) or not arguments:
            return None
        printed = []
        for argument in arguments:
            if isinstance(argument, dict) and "BoolExpr" in argument:
                text = _boolean(argument)
                text = None if text is None else f"({text})"
            else:
                text = _test(argument)
            if text is None:
                return None
            printed.append(text)
        return operator.join(printed)
    return _test(node)


def expression_sql(node: JsonNode) -> str | None:
    """What pglast's RawStream prints for the expression `node`, from its JSON; None when the
    node is not one of the shapes printed here (pglast prints it then)."""
    return _boolean(node)
