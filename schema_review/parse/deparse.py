"""Statements printed back as SQL (pglast's deparser), for the schema export.

This builds pglast's Node objects (the slow path): it runs only when `schema --format sql`
asks for a function's or a view's definition, never during a lint.
"""

from __future__ import annotations

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
