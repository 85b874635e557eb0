"""Helpers over libpg_query JSON nodes: names, canonical forms, and SQL text on demand."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

JsonNode = dict[str, Any]


_PLAIN_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_$]*$")


def quote_ident(name: object) -> str:
    """An identifier as SQL must spell it: quoted when it has capitals or odd characters."""
    text = str(name)
    if _PLAIN_IDENTIFIER.match(text):
        return text
    return '"' + text.replace('"', '""') + '"'


def node_name(items: list[JsonNode] | None) -> list[str]:
    """The strings of a libpg_query name list (`[{"String": {"sval": "x"}}, ...]`)."""
    names: list[str] = []
    for item in items or ():
        string = item.get("String")
        if string is not None:
            names.append(string.get("sval", ""))
        elif "A_Star" in item:
            names.append("*")
    return names


def strip_locations(value: Any) -> Any:
    """A copy of a JSON node without source locations, to compare definitions."""
    if isinstance(value, dict):
        return {k: strip_locations(v) for k, v in value.items() if k != "location"}
    if isinstance(value, list):
        return [strip_locations(v) for v in value]
    return value


def deparse(statement_text: str, offset: int, node: JsonNode | None) -> str | None:
    """SQL text of one expression node of a statement, or None when it cannot be printed.

    `offset` turns the node's locations into offsets within `statement_text`. This parses
    the statement again with pglast's Node objects (the slow path), so it runs only when
    a message or a report needs the text.
    """
    if not node:
        return None
    ((kind, fields),) = node.items()
    location = fields.get("location") if isinstance(fields, dict) else None
    if location is None:
        return None
    target = location - offset
    tree = _node_tree(statement_text)
    if tree is None:
        return None
    from pglast.stream import RawStream

    for candidate in _walk(tree):
        if type(candidate).__name__ == kind and getattr(candidate, "location", None) == target:
            try:
                return str(RawStream()(candidate))
            except Exception:  # pglast cannot print every fragment on its own
                return None
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


class Expression:
    """An expression of a statement (a default, a CHECK, a predicate), printed on demand.

    Two expressions are equal when their parse trees are, whatever their spacing.
    """

    __slots__ = ("_key", "_sql", "node", "offset", "statement_text")

    def __init__(self, statement_text: str, offset: int, node: JsonNode) -> None:
        self.statement_text = statement_text
        self.offset = offset
        self.node = node
        self._sql: str | None = None
        self._key: str | None = None

    @property
    def sql(self) -> str:
        if self._sql is None:
            self._sql = deparse(self.statement_text, self.offset, self.node) or "<expression>"
        return self._sql

    @property
    def key(self) -> str:
        if self._key is None:
            import json

            self._key = json.dumps(strip_locations(self.node), sort_keys=True)
        return self._key

    @property
    def kind(self) -> str:
        """The node type at the top of the expression: FuncCall, A_Const, TypeCast ..."""
        return next(iter(self.node), "")

    @property
    def function_names(self) -> list[str]:
        """Names of the functions the expression calls (`now`, `gen_random_uuid` ...)."""
        names: list[str] = []
        stack: list[Any] = [self.node]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                call = item.get("FuncCall")
                if call is not None:
                    names.append(".".join(node_name(call.get("funcname"))))
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
        return names

    def __str__(self) -> str:
        return self.sql

    def __repr__(self) -> str:
        return f"Expression({self.key[:60]})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expression) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)
