"""Helpers over libpg_query JSON nodes: names, canonical forms, and SQL text on demand."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson

from schema_review.parse import json_tree

if TYPE_CHECKING:
    from schema_review.parse.source import SourceFile

JsonNode = dict[str, Any]


_PLAIN_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_$]*$")


@lru_cache(maxsize=1)
def _keywords() -> frozenset[str]:
    """Words that must be quoted to be a name: every keyword but the unreserved ones (read
    on first use: importing pglast early would undo parse.postgres's lazy loading)."""
    from pglast import keywords

    return frozenset(
        {
            *keywords.RESERVED_KEYWORDS,
            *keywords.COL_NAME_KEYWORDS,
            *keywords.TYPE_FUNC_NAME_KEYWORDS,
        }
    )


def quote_ident(name: object) -> str:
    """An identifier as SQL must spell it: quoted when it has capitals or odd characters, or
    is a keyword other than an unreserved one (PostgreSQL's quote_ident)."""
    text = str(name)
    if _PLAIN_IDENTIFIER.match(text) and text not in _keywords():
        return text
    return '"' + text.replace('"', '""') + '"'


def node_name(items: list[JsonNode] | None) -> list[str]:
    """The strings of a libpg_query name list (`[{"String": {"sval": "x"}}, ...]`), interned:
    the model keeps them, and a long history names the same columns over and over."""
    if not items:
        return []
    try:  # the usual list, of strings only: one pass in a comprehension
        return [sys.intern(item["String"]["sval"]) for item in items]
    except (KeyError, TypeError):  # a `*`, a string without its value: item by item
        pass
    names: list[str] = []
    for item in items:
        string = item.get("String")
        if string is not None:
            names.append(sys.intern(string.get("sval", "")))
        elif "A_Star" in item:
            names.append("*")
    return names


def walk_dicts(node: Any) -> Iterator[JsonNode]:
    """Every dict of a JSON node tree (the node itself included), depth first."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def column_refs(node: Any) -> list[str]:
    """Column names an expression refers to, in order of first appearance."""
    found: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("ColumnRef")
            if ref is not None:
                names = node_name(ref.get("fields"))
                if names and names[-1] not in found:
                    found.append(names[-1])
                continue
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return found


# The fields of libpg_query's nodes that are places in the text parsed.
LOCATION_FIELDS = frozenset(
    ("location", "arg_location", "list_start", "list_end", "rexpr_list_start", "rexpr_list_end")
)


def strip_locations(value: Any) -> Any:
    """A copy of a JSON node without source locations, to compare definitions (the same
    expression written at two places, or parsed from two pieces of a long file, is equal)."""
    if isinstance(value, dict):
        return {k: strip_locations(v) for k, v in value.items() if k not in LOCATION_FIELDS}
    if isinstance(value, list):
        return [strip_locations(v) for v in value]
    return value


def rename_column_refs(node: Any, old: str, new: str, table: str) -> Any:
    """A copy of an expression tree with references to column `old` (bare, or qualified by
    `table`) renamed to `new`; subqueries, which read other tables, are left alone."""
    if isinstance(node, list):
        return [rename_column_refs(item, old, new, table) for item in node]
    if not isinstance(node, dict):
        return node
    if "SubLink" in node:
        return node
    ref = node.get("ColumnRef")
    if ref is not None:
        names = node_name(ref.get("fields"))
        if names and names[-1] == old and (len(names) == 1 or names[-2] == table):
            fields = [*ref["fields"][:-1], {"String": {"sval": new}}]
            return {"ColumnRef": {**ref, "fields": fields}}
        return node
    return {key: rename_column_refs(value, old, new, table) for key, value in node.items()}


def _rename_in_tree(tree: Any, renames: tuple[tuple[str, str, str], ...]) -> Any:
    """pglast's Node tree with the renames applied (a copy: the parsed tree is cached)."""
    import copy

    from pglast import ast

    tree = copy.deepcopy(tree)
    for item in _walk(tree):
        if isinstance(item, ast.SubLink):
            continue
        if isinstance(item, ast.ColumnRef) and item.fields:
            names = [getattr(f, "sval", None) for f in item.fields]
            for old, new, table in renames:
                if names[-1] == old and (len(names) == 1 or names[-2] == table):
                    item.fields = (*item.fields[:-1], ast.String(sval=new))
                    names[-1] = new
    return tree


def deparse(
    statement_text: str,
    offset: int,
    node: JsonNode | None,
    renames: tuple[tuple[str, str, str], ...] = (),
    location: int | None = None,
) -> str | None:
    """SQL text of one expression node of a statement, or None when it cannot be printed.

    `offset` turns the node's location (`location`, when the node's own was stripped) into
    an offset within `statement_text`. This parses the statement again with pglast's Node
    objects (the slow path), so it runs only when a message or a report needs the text.
    """
    if not node:
        return None
    simple = simple_sql(node)
    if simple is not None:
        return simple
    ((kind, fields),) = node.items()
    if location is None:
        location = fields.get("location") if isinstance(fields, dict) else None
    if location is None:
        return None
    from schema_review.parse.deparse import expression_sql

    printed = expression_sql(node)  # the common shapes, without pglast's Node objects
    if printed is not None:
        return printed
    return pglast_sql(statement_text, kind, location - offset, renames)


def pglast_sql(
    statement_text: str, kind: str, target: int, renames: tuple[tuple[str, str, str], ...] = ()
) -> str | None:
    """What pglast's RawStream prints for the node of type `kind` at offset `target` of the
    statement, parsed again into pglast's Node objects; None when it cannot be printed."""
    tree = _node_tree(statement_text)
    if tree is None:
        return None
    from pglast.stream import RawStream

    for candidate in _walk(tree):
        if type(candidate).__name__ == kind and getattr(candidate, "location", None) == target:
            if renames:
                candidate = _rename_in_tree(candidate, renames)
            try:
                return str(RawStream()(candidate))
            except Exception:  # pglast cannot print every fragment on its own
                return None
    return None


_VALUE_FUNCTIONS = {
    "SVFOP_CURRENT_DATE": "CURRENT_DATE",
    "SVFOP_CURRENT_TIME": "CURRENT_TIME",
    "SVFOP_CURRENT_TIMESTAMP": "CURRENT_TIMESTAMP",
    "SVFOP_LOCALTIME": "LOCALTIME",
    "SVFOP_LOCALTIMESTAMP": "LOCALTIMESTAMP",
    "SVFOP_CURRENT_USER": "CURRENT_USER",
    "SVFOP_SESSION_USER": "SESSION_USER",
    "SVFOP_USER": "USER",
    "SVFOP_CURRENT_ROLE": "CURRENT_ROLE",
}


def simple_sql(node: JsonNode) -> str | None:
    """SQL for the small expressions most defaults are (constants, casts of them, calls of
    constants, CURRENT_TIMESTAMP, column names), straight from the JSON; None otherwise."""
    if not isinstance(node, dict) or len(node) != 1:
        return None
    ((kind, fields),) = node.items()
    if kind == "A_Const":
        if fields.get("isnull"):
            return "NULL"
        if "ival" in fields:
            return str(fields["ival"].get("ival", 0))
        if "fval" in fields:
            return str(fields["fval"].get("fval", "0"))
        if "boolval" in fields:
            return "true" if fields["boolval"].get("boolval") else "false"
        if "sval" in fields:
            return "'" + str(fields["sval"].get("sval", "")).replace("'", "''") + "'"
        return None
    if kind == "TypeCast":
        inner = simple_sql(fields.get("arg", {}))
        type_node = fields.get("typeName", {})
        names = node_name(type_node.get("names"))
        if inner is None or not names or type_node.get("typmods"):
            return None
        type_name = ".".join(n for n in names if n != "pg_catalog")
        return f"{inner}::{quote_ident(type_name) if '.' not in type_name else type_name}" + (
            "[]" if type_node.get("arrayBounds") else ""
        )
    if kind == "FuncCall":
        names = node_name(fields.get("funcname"))
        if not names or fields.get("agg_filter") or fields.get("over"):
            return None
        if fields.get("agg_star"):
            return f"{'.'.join(names)}(*)"
        arguments = [simple_sql(a) for a in fields.get("args", ())]
        if any(a is None for a in arguments):
            return None
        return f"{'.'.join(names)}({', '.join(a for a in arguments if a is not None)})"
    if kind == "SQLValueFunction":
        return _VALUE_FUNCTIONS.get(str(fields.get("op")))
    if kind == "ColumnRef":
        names = node_name(fields.get("fields"))
        return ".".join(quote_ident(n) for n in names) if names else None
    return None


@lru_cache(maxsize=64)
def _node_tree(statement_text: str) -> Any:
    import pglast

    try:
        return pglast.parse_sql(statement_text)
    except pglast.parser.ParseError:
        return None


def _walk(value: Any) -> Iterator[Any]:
    from pglast.ast import Node

    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Node):
            yield item
            for attribute in getattr(type(item), "__slots__", ()):
                child = getattr(item, attribute, None)
                if isinstance(child, Node | tuple | list):
                    stack.append(child)
        elif isinstance(item, tuple | list):
            stack.extend(reversed(item))


def nextval_default(sequence: str) -> Expression:
    """`nextval('seq'::regclass)`: the default PostgreSQL gives a serial column (the sequence
    qualified unless it is in `public`)."""
    sequence_schema, _, name = sequence.rpartition(".")
    text = quote_ident(name)
    if sequence_schema not in ("", "public"):  # regclass text: qualified, quoted as needed
        text = f"{quote_ident(sequence_schema)}.{text}"
    node = {
        "FuncCall": {
            "funcname": [{"String": {"sval": "nextval"}}],
            "args": [
                {
                    "TypeCast": {
                        "arg": {"A_Const": {"sval": {"sval": text}}},
                        "typeName": {"names": [{"String": {"sval": "regclass"}}]},
                    }
                }
            ],
        }
    }
    return Expression("", 0, node)


class Expression:
    """An expression of a statement (a default, a CHECK, a predicate), printed on demand.

    Two expressions are equal when their parse trees are, whatever their spacing.

    A long history keeps thousands of them for the rules, most never read again: the node is
    kept as its compact JSON text (a tenth of the memory of the dicts) and decoded afresh on
    each read, and the statement's text is sliced from its file only when printed. That text
    leaves out the source locations, which only printing the node reads (its own, kept in
    `_location`, less `offset`: its place in the statement's text, a small number CPython
    keeps one object for): the same expression written again (a default `now()`, `'new'`, a CHECK
    repeated on table after table) is then the same text, kept once.
    """

    __slots__ = (
        "_end",
        "_key",
        "_location",
        "_node",
        "_sql",
        "_start",
        "_text",
        "dialect_text",
        "offset",
        "renames",
    )

    def __init__(self, statement_text: str, offset: int, node: JsonNode) -> None:
        # The statement's text; or its file, with where the statement is in it (`in_file`).
        self._text: str | SourceFile = statement_text
        self._start = self._end = 0
        self.offset = offset
        self._node: JsonNode | str
        self._location: int | None
        self._node, location = _compact(node)
        self._location = None if location is None else location - offset
        # Columns renamed since the statement was written: (old, new, table).
        self.renames: tuple[tuple[str, str, str], ...] = ()
        # A MySQL or SQLite expression as its own dialect writes it: PostgreSQL's form does not
        # always translate back (SQLite's strftime('%s', 'now') becomes to_char, x'00' a bit
        # string). None for PostgreSQL's, and once a rename changed the expression.
        self.dialect_text: str | None = None
        self._sql: str | None = None
        self._key: str | None = None

    @property
    def node(self) -> JsonNode:
        """The expression's libpg_query node (decoded afresh on each read)."""
        node = self._node
        if type(node) is str:
            decoded: JsonNode = json_tree.loads(node)
            return decoded
        return node  # type: ignore[return-value]

    @classmethod
    def in_file(
        cls, source: SourceFile, start: int, end: int, offset: int, node: JsonNode
    ) -> Expression:
        """An expression of the statement at `start:end` of `source`'s text."""
        expression = cls("", offset, node)
        expression._text, expression._start, expression._end = source, start, end
        return expression

    @property
    def statement_text(self) -> str:
        """The text of the statement the expression is part of."""
        text = self._text
        if isinstance(text, str):
            return text
        return text.text[self._start : self._end]

    @property
    def sql(self) -> str:
        if self._sql is None:
            location = self._node_location
            self._sql = (
                deparse(self.statement_text, self.offset, self.node, self.renames, location)
                or "<expression>"
            )
        return self._sql

    @property
    def _node_location(self) -> int | None:
        """The node's location as libpg_query gave it, when its text leaves it out."""
        at = self._location
        return None if at is None else at + self.offset

    def with_column_renamed(self, old: str, new: str, table: str) -> Expression:
        """The expression after ALTER TABLE ... RENAME COLUMN old TO new (the server keeps
        column numbers, so its expressions follow the rename)."""
        renamed = Expression("", self.offset, rename_column_refs(self.node, old, new, table))
        renamed._text, renamed._start, renamed._end = self._text, self._start, self._end
        if renamed._location is None:
            renamed._location = self._location
        renamed.renames = (*self.renames, (old, new, table))
        return renamed

    @property
    def key(self) -> str:
        if self._key is None:
            self._key = json.dumps(strip_locations(self.node), sort_keys=True)
        return self._key

    @property
    def kind(self) -> str:
        """The node type at the top of the expression: FuncCall, A_Const, TypeCast ..."""
        return next(iter(self.node), "")

    @property
    def function_names(self) -> list[str]:
        """Names of the functions the expression calls (`now`, `gen_random_uuid` ...)."""
        text = self._node
        if type(text) is not str:
            return _function_names(self.node)  # a node too deep for a text of its own
        # Once a text: the replay and the rules ask column after column, of the few defaults
        # a history's columns share (now(), gen_random_uuid(), a constant), and each answer
        # decoded the node and walked it.
        names = _FUNCTION_NAMES.get(text)
        if names is None:
            if len(_FUNCTION_NAMES) >= _FUNCTION_NAMES_KEPT:
                _FUNCTION_NAMES.clear()
            names = _FUNCTION_NAMES[text] = tuple(_function_names(self.node))
        return list(names)

    def __str__(self) -> str:
        return self.sql

    def __repr__(self) -> str:
        return f"Expression({self.key[:60]})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expression) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)


def _function_names(node: JsonNode) -> list[str]:
    names: list[str] = []
    for item in walk_dicts(node):
        call = item.get("FuncCall")
        if call is not None:
            names.append(".".join(node_name(call.get("funcname"))))
    return names


# Expression.function_names by the expression's compact text (interned): a few hundred texts
# in a history, cleared past this many.
_FUNCTION_NAMES: dict[str, tuple[str, ...]] = {}
_FUNCTION_NAMES_KEPT = 4096


def _compact(node: JsonNode) -> tuple[JsonNode | str, int | None]:
    """A node as its JSON text, without spaces or source locations, one string for each text
    (interned), and the node's own location; the node itself when too deep to encode. A node
    with a subquery keeps its locations: a correlated one is printed on its own
    (relations.correlated_subqueries), from its own location."""
    try:
        text = _encode(node)
    except (RecursionError, TypeError, ValueError):
        return node, None
    if '"SubLink"' in text:
        return text, None
    fields = next(iter(node.values()), None) if len(node) == 1 else None
    location = fields.get("location") if isinstance(fields, dict) else None
    text = _FIRST_LOCATIONS.sub("", _LATER_LOCATIONS.sub("", text))
    return sys.intern(text), location


def _encode(node: JsonNode) -> str:
    """Compact JSON of a node, by orjson (a third of the stdlib C encoder's instructions on the
    corpus's expressions). Its text differs from `json.dumps`'s (UTF-8 rather than \\u
    escapes) but decodes to the same values, and only `Expression.node` reads it. What orjson
    refuses (nesting past 255 levels, a lone surrogate) raises its JSONEncodeError, a
    TypeError: the node is kept as it is."""
    return orjson.dumps(node).decode()


# The location fields of a node's JSON text, with the commas that part them from the other
# fields: first each that follows another field, with the comma before it; then those left,
# which start their object, with the comma after them. Only a key is followed by `:` and
# starts after `{` or `,` (a quote inside a string is escaped), so no string's text can
# match. Each pattern starts with a literal, which the search looks for alone.
_LOCATION_FIELD = rf'"(?:{"|".join(sorted(LOCATION_FIELDS))})":-?\d+'
_LATER_LOCATIONS = re.compile(f",{_LOCATION_FIELD}")
_FIRST_LOCATIONS = re.compile(f"{_LOCATION_FIELD},?")
