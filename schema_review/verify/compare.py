"""Compare two schema documents (docs/schema-json.md): the server's catalog and the model's.

Object by object, every kind of the contract; each difference is one readable line:
`table public.orders: column status: type integer (model) vs bigint (server)`.
Expressions are compared with `same_expression`, which parses both sides with pglast and
ignores what the server adds when it prints them back (casts, `= ANY (ARRAY[...])` for
`IN`, parentheses, qualifiers); see `normalise` for the rules.

Needs only pglast: no server, no psycopg.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pglast import parser as pg_parser

MODEL, SERVER = "model", "server"


@dataclass(frozen=True, slots=True)
class Difference:
    """One way the model differs from the server.

    `object` identifies the object as exclusions name it: `<kind> <qualified name>`, with
    table parts qualified by their table (`column public.orders.status`,
    `index public.orders.orders_pkey`).
    """

    kind: str  # schema, extension, type, sequence, table, column, primary_key, unique, ...
    name: str  # qualified: public.orders, or a table part's own name
    detail: str  # "missing in model", "not on server", "type integer (model) vs ..."
    table: str = ""  # the qualified table of a table part

    @property
    def object(self) -> str:
        return f"{self.kind} {self.table}.{self.name}" if self.table else f"{self.kind} {self.name}"

    def __str__(self) -> str:
        label = self.kind.replace("_", " ")
        if self.table:
            return f"table {self.table}: {label} {self.name}: {self.detail}"
        return f"{label} {self.name}: {self.detail}"


@dataclass(slots=True)
class Comparison:
    compared: int = 0  # objects on either side, excluded ones aside
    matched: int = 0  # on both sides and equal in every field
    excluded_objects: list[str] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    # kind -> [compared, matched]
    per_kind: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    @property
    def ok(self) -> bool:
        return not self.differences

    def by_kind(self) -> dict[str, list[Difference]]:
        grouped: dict[str, list[Difference]] = defaultdict(list)
        for difference in self.differences:
            grouped[difference.kind].append(difference)
        return dict(sorted(grouped.items()))

    def summary(self) -> str:
        share = 100.0 * self.matched / self.compared if self.compared else 100.0
        excluded = f", {self.excluded} excluded" if self.excluded else ""
        return f"{self.matched}/{self.compared} objects match ({share:.1f}%){excluded}"

    @property
    def excluded(self) -> int:
        return len(self.excluded_objects)

    def count(self, kind: str, matched: bool) -> None:
        self.compared += 1
        self.per_kind[kind][0] += 1
        if matched:
            self.matched += 1
            self.per_kind[kind][1] += 1


# -- comparing documents --------------------------------------------------------------------


def compare(
    catalog: dict[str, Any],
    model: dict[str, Any],
    exclude: Collection[str] = (),
) -> Comparison:
    """The differences between the server's `catalog` and the `model`'s document.

    `exclude`: object identifiers or fnmatch patterns of them (`table public.events_p*`)
    left out of the comparison on both sides; excluding a table excludes its parts."""
    return _Comparer(exclude).documents(catalog, model)


class _Comparer:
    def __init__(self, exclude: Collection[str]) -> None:
        self.patterns = list(exclude)
        self.result = Comparison()

    def excluded(self, *identifiers: str) -> bool:
        """Whether an object (by any of its identifiers) is excluded; it is then counted as
        such."""
        for identifier in identifiers:
            if any(fnmatch.fnmatchcase(identifier, pattern) for pattern in self.patterns):
                self.result.excluded_objects.append(identifier)
                return True
        return False

    def documents(self, catalog: dict[str, Any], model: dict[str, Any]) -> Comparison:
        plain: list[tuple[str, str, Callable[[dict[str, Any]], str], tuple[str, ...]]] = [
            ("schemas", "schema", _name, ()),
            ("extensions", "extension", _name, ("schema",)),
            ("types", "type", _qualified, ("kind", "values")),
            ("sequences", "sequence", _qualified, ("owned_by",)),
            ("views", "view", _qualified, ("materialized", "security_invoker")),
        ]
        for key, kind, name_of, fields in plain:
            self.objects(kind, model.get(key, []), catalog.get(key, []), name_of, fields)
        self.functions(model.get("functions", []), catalog.get("functions", []))
        self.tables(model.get("tables", []), catalog.get("tables", []))
        return self.result

    def objects(
        self,
        kind: str,
        model_items: list[dict[str, Any]],
        server_items: list[dict[str, Any]],
        name_of: Callable[[dict[str, Any]], str],
        fields: tuple[str, ...],
    ) -> None:
        models = {name_of(i): i for i in model_items}
        servers = {name_of(i): i for i in server_items}
        for name in sorted(models.keys() | servers.keys()):
            if self.excluded(f"{kind} {name}"):
                continue
            details = _presence(models.get(name), servers.get(name))
            if not details:
                details = _fields(models[name], servers[name], fields)
            self.report(kind, name, details)

    def report(self, kind: str, name: str, details: list[str], table: str = "") -> None:
        self.result.count(kind, not details)
        for detail in details:
            self.result.differences.append(Difference(kind, name, detail, table))

    def functions(
        self, model_items: list[dict[str, Any]], server_items: list[dict[str, Any]]
    ) -> None:
        fields = (
            "kind",
            "returns",
            "returns_set",
            "language",
            "security_definer",
            "volatility",
        )
        models = {_signature(f): f for f in model_items}
        servers = {_signature(f): f for f in server_items}
        # An overload whose arguments differ: one function with a wrong argument list, not
        # one missing and one extra, when each side has exactly one of that name left.
        alone_m = _group(k for k in models if k not in servers)
        alone_s = _group(k for k in servers if k not in models)
        pairs = {
            alone_m[n][0]: alone_s[n][0]
            for n in alone_m.keys() & alone_s.keys()
            if len(alone_m[n]) == 1 and len(alone_s[n]) == 1
        }
        for name in sorted(models.keys() | servers.keys()):
            if name in pairs.values() and name not in models:
                continue  # reported with its model side
            server_name = pairs.get(name, name)
            if self.excluded(f"function {name}", f"function {server_name}"):
                continue
            model, server = models.get(name), servers.get(server_name)
            details = _presence(model, server)
            if model is not None and server is not None:
                if server_name != name:
                    details.append(
                        f"arguments ({', '.join(model['arguments'])}) (model) vs "
                        f"({', '.join(server['arguments'])}) (server)"
                    )
                details += _fields(model, server, fields)
                if _search_path(model.get("search_path")) != _search_path(
                    server.get("search_path")
                ):
                    details.append(_versus("search_path", model, server))
            self.report("function", name, details)

    # -- tables ---------------------------------------------------------------------------

    def tables(self, model_items: list[dict[str, Any]], server_items: list[dict[str, Any]]) -> None:
        models = {_qualified(t): t for t in model_items}
        servers = {_qualified(t): t for t in server_items}
        for name in sorted(models.keys() | servers.keys()):
            if self.excluded(f"table {name}"):
                continue
            model, server = models.get(name), servers.get(name)
            details = _presence(model, server)
            if model is None or server is None:
                self.report("table", name, details)
                continue
            fields = ("external", "partitioned", "partition_of", "inherits", "unlogged")
            details = _fields(model, server, (*fields, "row_level_security"))
            self.table_parts(name, model, server, details)

    def table_parts(
        self, table: str, model: dict[str, Any], server: dict[str, Any], details: list[str]
    ) -> None:
        if model.get("columns_known", True):
            self.columns(table, model.get("columns", []), server.get("columns", []), details)
        self.report("table", table, details)
        self.primary_key(table, model.get("primary_key"), server.get("primary_key"))
        for key, kind in (
            ("unique", "unique"),
            ("foreign_keys", "foreign_key"),
            ("checks", "check"),
            ("exclusions", "exclusion"),
            ("indexes", "index"),
            ("triggers", "trigger"),
            ("policies", "policy"),
        ):
            self.named_parts(kind, table, model.get(key, []), server.get(key, []))

    def columns(
        self,
        table: str,
        model_items: list[dict[str, Any]],
        server_items: list[dict[str, Any]],
        table_details: list[str],
    ) -> None:
        models = {c["name"]: c for c in model_items}
        servers = {c["name"]: c for c in server_items}
        order_m = [c["name"] for c in model_items if c["name"] in servers]
        order_s = [c["name"] for c in server_items if c["name"] in models]
        if order_m != order_s:
            table_details.append(
                f"column order {', '.join(order_m)} (model) vs {', '.join(order_s)} (server)"
            )
        bare = table.rpartition(".")[2]
        for name in [c["name"] for c in server_items] + [
            c["name"] for c in model_items if c["name"] not in servers
        ]:
            if self.excluded(f"column {table}.{name}"):
                continue
            model, server = models.get(name), servers.get(name)
            details = _presence(model, server)
            if model is not None and server is not None:
                details = _fields(model, server, ("type", "not_null", "identity"))
                for key in ("default", "generated"):
                    if not _same_optional(model.get(key), server.get(key), bare):
                        details.append(_versus(key, model, server))
            self.report("column", name, details, table)

    def primary_key(
        self, table: str, model: dict[str, Any] | None, server: dict[str, Any] | None
    ) -> None:
        if model is None and server is None:
            return
        name = str((server or model or {}).get("name"))
        if self.excluded(f"primary_key {table}.{name}"):
            return
        details = _presence(model, server)
        if model is not None and server is not None:
            details = _fields(model, server, ("name", "columns", "deferrable"))
        self.report("primary_key", name, details, table)

    def named_parts(
        self,
        kind: str,
        table: str,
        model_items: list[dict[str, Any]],
        server_items: list[dict[str, Any]],
    ) -> None:
        bare = table.rpartition(".")[2]
        same = _PART_CHECKS[kind]
        signature = _PART_SIGNATURES[kind]
        models = {str(i["name"]): i for i in model_items}
        servers = {str(i["name"]): i for i in server_items}
        # Second pass: an object PostgreSQL named otherwise (an implicit name the model got
        # wrong) is one difference of name, not one missing and one extra object.
        only_m = [n for n in models if n not in servers]
        only_s = [n for n in servers if n not in models]
        renamed: dict[str, str] = {}
        for server_name in only_s:
            key = signature(servers[server_name], bare)
            for model_name in only_m:
                if model_name not in renamed and signature(models[model_name], bare) == key:
                    renamed[model_name] = server_name
                    break
        for name in sorted(models.keys() | servers.keys()):
            if name in renamed.values() and name not in models:
                continue
            server_name = renamed.get(name, name)
            if self.excluded(f"{kind} {table}.{name}", f"{kind} {table}.{server_name}"):
                continue
            model, server = models.get(name), servers.get(server_name)
            details = _presence(model, server)
            if model is not None and server is not None:
                if server_name != name:
                    details.append(f"name {name} (model) vs {server_name} (server)")
                details += same(model, server, bare)
            self.report(kind, server_name, details, table)


def _name(item: dict[str, Any]) -> str:
    return str(item["name"])


def _qualified(item: dict[str, Any]) -> str:
    return f"{item['schema']}.{item['name']}"


def _signature(function: dict[str, Any]) -> str:
    return f"{_qualified(function)}({', '.join(function.get('arguments', []))})"


def _group(signatures: Iterable[str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for signature in signatures:
        grouped[signature.partition("(")[0]].append(signature)
    return grouped


def _presence(model: Any, server: Any) -> list[str]:
    if model is None and server is not None:
        return ["missing in model"]
    if server is None and model is not None:
        return ["not on server (the model has it)"]
    return []


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _versus(key: str, model: dict[str, Any], server: dict[str, Any]) -> str:
    return f"{key} {_show(model.get(key))} (model) vs {_show(server.get(key))} (server)"


def _fields(model: dict[str, Any], server: dict[str, Any], fields: Iterable[str]) -> list[str]:
    return [_versus(key, model, server) for key in fields if model.get(key) != server.get(key)]


def _same_optional(model: str | None, server: str | None, table: str = "") -> bool:
    """Two optional expressions; a written `DEFAULT NULL` is no default at all."""
    if _is_null(model):
        model = None
    if _is_null(server):
        server = None
    if model is None or server is None:
        return model is None and server is None
    return same_expression(model, server, table)


def _is_null(expression: str | None) -> bool:
    return expression is not None and normalise(expression) == ("const", None)


def _search_path(value: str | None) -> list[str]:
    """`public, pg_temp` and `"public","pg_temp"` alike; `''` and `""` are the empty path."""
    if value is None:
        return []
    names = [part.strip().strip("'\"").strip() for part in value.split(",")]
    return [n for n in names if n]


# -- table parts: what makes two of a kind equal, and what identifies one without its name --


def _same_list(model: list[str], server: list[str], table: str) -> bool:
    return len(model) == len(server) and all(
        same_expression(a, b, table) for a, b in zip(model, server, strict=True)
    )


def _check_keys(model: dict[str, Any], server: dict[str, Any], table: str) -> list[str]:
    details = []
    keys_m, keys_s = model.get("keys", []), server.get("keys", [])
    if len(keys_m) != len(keys_s) or not all(
        _same_key(a, b, table) for a, b in zip(keys_m, keys_s, strict=True)
    ):
        details.append(_versus("keys", model, server))
    return details


def _same_key(model: dict[str, str], server: dict[str, str], table: str) -> bool:
    if "column" in model and "column" in server:
        return model["column"] == server["column"]
    # A key written as an expression that is a bare column ((a)) is a column key.
    text_m = model.get("expression", model.get("column", ""))
    text_s = server.get("expression", server.get("column", ""))
    return same_expression(text_m, text_s, table)


def _index(model: dict[str, Any], server: dict[str, Any], table: str) -> list[str]:
    details = _check_keys(model, server, table)
    details += _fields(model, server, ("include", "method", "unique", "constraint"))
    if not _same_optional(model.get("predicate"), server.get("predicate"), table):
        details.append(_versus("predicate", model, server))
    return details


def _element_parts(element: str) -> tuple[str, str]:
    expression, _, operator = element.rpartition(" WITH ")
    return expression, operator.strip()


def _exclusion(model: dict[str, Any], server: dict[str, Any], table: str) -> list[str]:
    details = _fields(model, server, ("method",))
    elements_m = [_element_parts(e) for e in model.get("elements", [])]
    elements_s = [_element_parts(e) for e in server.get("elements", [])]
    if len(elements_m) != len(elements_s) or not all(
        a[1] == b[1] and same_expression(a[0], b[0], table)
        for a, b in zip(elements_m, elements_s, strict=True)
    ):
        details.append(_versus("elements", model, server))
    if not _same_optional(model.get("predicate"), server.get("predicate"), table):
        details.append(_versus("predicate", model, server))
    return details


def _check(model: dict[str, Any], server: dict[str, Any], table: str) -> list[str]:
    details = _fields(model, server, ("valid",))
    if not _same_optional(model.get("expression"), server.get("expression"), table):
        details.append(_versus("expression", model, server))
    return details


def _policy(model: dict[str, Any], server: dict[str, Any], table: str) -> list[str]:
    details = _fields(model, server, ("command", "roles", "permissive"))
    for key in ("using", "with_check"):
        if not _same_optional(model.get(key), server.get(key), table):
            details.append(_versus(key, model, server))
    return details


def _plain(*fields: str) -> Callable[[dict[str, Any], dict[str, Any], str], list[str]]:
    def check(model: dict[str, Any], server: dict[str, Any], table: str) -> list[str]:
        return _fields(model, server, fields)

    return check


_PART_CHECKS: dict[str, Callable[[dict[str, Any], dict[str, Any], str], list[str]]] = {
    "unique": _plain("columns", "deferrable"),
    "foreign_key": _plain("columns", "references", "on_delete", "on_update", "valid", "deferrable"),
    "check": _check,
    "exclusion": _exclusion,
    "index": _index,
    "trigger": _plain("timing", "events", "level", "function"),
    "policy": _policy,
}


def _expression_key(text: str | None, table: str) -> Any:
    return None if text is None else normalise(text, table)


_PART_SIGNATURES: dict[str, Callable[[dict[str, Any], str], Any]] = {
    "unique": lambda i, t: tuple(i.get("columns", [])),
    "foreign_key": lambda i, t: (
        tuple(i.get("columns", [])),
        json.dumps(i.get("references"), sort_keys=True),
    ),
    "check": lambda i, t: repr(_expression_key(i.get("expression"), t)),
    "exclusion": lambda i, t: tuple(_element_parts(e)[1] for e in i.get("elements", [])),
    "index": lambda i, t: (
        repr([k.get("column") or _expression_key(k.get("expression"), t) for k in i["keys"]]),
        repr(_expression_key(i.get("predicate"), t)),
        bool(i.get("unique")),
    ),
    "trigger": lambda i, t: (i.get("timing"), tuple(i.get("events", [])), i.get("function")),
    "policy": lambda i, t: (i.get("command"), repr(_expression_key(i.get("using"), t))),
}


# -- expressions ----------------------------------------------------------------------------


def same_expression(a: str, b: str, table: str = "") -> bool:
    """Whether two SQL expressions are the same once the server's way of printing them is
    set aside (see `normalise`). `table`: the table the expressions belong to, whose name
    may qualify columns on one side only. Text that does not parse is compared as text,
    with whitespace and case folded."""
    return bool(normalise(a, table) == normalise(b, table))


# Qualifiers the server prints or drops depending on the search_path.
_DEFAULT_SCHEMAS = frozenset({"public", "pg_catalog"})
_WHITESPACE = re.compile(r"\s+")


@lru_cache(maxsize=4096)
def normalise(expression: str, table: str = "") -> Any:
    """A canonical form of an expression (hashable, comparable), ignoring:

    - locations, extra parentheses (the tree has none), letter case of keywords;
    - type casts (`'a'::text`, `CAST(x AS y)`, `(total)::numeric`), so constants compare by
      their text (`'-1'::integer` is `-1`, `'true'` is `true`);
    - `x IN (a, b)` is `x = ANY (ARRAY[a, b])` and `x IN (a)` is `x = a`; `NOT IN` is
      `<> ALL (ARRAY[...])`; `x IN (SELECT ...)` is `x = ANY (SELECT ...)`;
    - `x BETWEEN a AND b` is `x >= a AND x <= b` (`NOT BETWEEN`: `x < a OR x > b`);
    - `LIKE`/`ILIKE`/`SIMILAR TO` are the operators `~~`/`~~*`/`~` (negated `!~~` ...);
    - nested AND (OR) are one AND (OR): `(a AND b) AND c` is `a AND b AND c`;
    - `public.` and `pg_catalog.` on tables and types, any schema on functions (the server
      qualifies a function only when the search_path does not find it), qualifiers
      of operators;
    - a column qualified by a table in scope (`orders.total` in a CHECK of orders,
      `members.team_id` in a subquery over members);
    - the column name the server adds to a subquery's select list (`SELECT auth.uid() AS uid`);
    - how a function call was written (`substring(x FROM 1)` or `substring(x, 1)`).
    """
    try:
        parsed = json.loads(pg_parser.parse_sql_json("SELECT " + expression))
        statements = parsed["stmts"]
        select = statements[0]["stmt"]["SelectStmt"]
        if len(statements) != 1 or len(select["targetList"]) != 1:
            raise ValueError("not one expression")
        value = select["targetList"][0]["ResTarget"]["val"]
    except (pg_parser.ParseError, KeyError, IndexError, ValueError):
        return ("text", _WHITESPACE.sub(" ", expression.strip().lower()))
    scope = frozenset({table}) if table else frozenset()
    return _freeze(_Normaliser().node(value, scope))


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


# Positions in the text (`location`, `list_start`, ...) and how a call was spelled.
_DROPPED_KEYS = frozenset(
    {"location", "list_start", "list_end", "funcformat", "stmt_location", "stmt_len"}
)
# Functions whose first argument is a relation name as text (regclass input).
_REGCLASS_FUNCTIONS = frozenset({"nextval", "currval", "setval"})


class _Normaliser:
    def node(self, value: Any, scope: frozenset[str]) -> Any:
        if isinstance(value, list):
            return [self.node(v, scope) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((kind, body),) = value.items()
            if isinstance(body, dict):
                handler = getattr(self, f"n_{kind}", None)
                if handler is not None:
                    return handler(body, scope)
                return {kind: self.fields(body, scope)}
        return self.fields(value, scope)

    def fields(self, body: dict[str, Any], scope: frozenset[str]) -> dict[str, Any]:
        return {k: self.node(v, scope) for k, v in body.items() if k not in _DROPPED_KEYS}

    # A_Const: the constant's text, whatever its type.
    def n_A_Const(self, body: dict[str, Any], scope: frozenset[str]) -> Any:
        if body.get("isnull"):
            return ("const", None)
        for key in ("sval", "ival", "fval", "boolval", "bsval"):
            if key in body:
                inner = body[key]
                raw = inner.get(key) if isinstance(inner, dict) else inner
                if key == "boolval":
                    return ("const", "true" if raw else "false")
                if key == "ival":
                    return ("const", str(raw or 0))
                if key == "sval":
                    return ("const", _interval(raw or "") or _moment(raw or ""))
                return ("const", "" if raw is None else str(raw))
        return ("const", "")

    def n_TypeCast(self, body: dict[str, Any], scope: frozenset[str]) -> Any:
        if _last_name(body.get("typeName", {}).get("names", [])) == "regclass":
            return _relation_text(self.node(body.get("arg"), scope))
        return self.node(body.get("arg"), scope)

    def n_A_Expr(self, body: dict[str, Any], scope: frozenset[str]) -> Any:
        kind = body.get("kind", "AEXPR_OP")
        operator = _last_name(body.get("name", []))
        left, right = body.get("lexpr"), body.get("rexpr")
        if kind == "AEXPR_IN":
            items = _items(right)
            if len(items) == 1:
                return self.operator("AEXPR_OP", operator, left, items[0], scope)
            quantified = "AEXPR_OP_ANY" if operator == "=" else "AEXPR_OP_ALL"
            array = {"A_ArrayExpr": {"elements": items}}
            return self.operator(quantified, operator, left, array, scope)
        if kind in ("AEXPR_BETWEEN", "AEXPR_NOT_BETWEEN"):
            low, high = _items(right)[:2]
            if kind == "AEXPR_BETWEEN":
                parts = [self.operator("AEXPR_OP", ">=", left, low, scope)]
                parts.append(self.operator("AEXPR_OP", "<=", left, high, scope))
                return self.boolean("AND_EXPR", parts)
            parts = [self.operator("AEXPR_OP", "<", left, low, scope)]
            parts.append(self.operator("AEXPR_OP", ">", left, high, scope))
            return self.boolean("OR_EXPR", parts)
        if kind in ("AEXPR_LIKE", "AEXPR_ILIKE", "AEXPR_SIMILAR"):
            kind = "AEXPR_OP"
        return self.operator(kind, operator, left, right, scope)

    def operator(
        self, kind: str, operator: str, left: Any, right: Any, scope: frozenset[str]
    ) -> Any:
        return (
            "op",
            kind,
            operator,
            self.node(left, scope) if left is not None else None,
            self.node(right, scope) if right is not None else None,
        )

    def n_BoolExpr(self, body: dict[str, Any], scope: frozenset[str]) -> Any:
        operator = body.get("boolop", "AND_EXPR")
        return self.boolean(operator, [self.node(a, scope) for a in body.get("args", [])])

    def boolean(self, operator: str, args: list[Any]) -> Any:
        flat: list[Any] = []
        for arg in args:
            if isinstance(arg, tuple) and arg[:2] == ("bool", operator):
                flat.extend(arg[2])
            else:
                flat.append(arg)
        return ("bool", operator, tuple(_freeze(a) for a in flat))

    def n_FuncCall(self, body: dict[str, Any], scope: frozenset[str]) -> Any:
        fields = self.fields(body, scope)
        fields["funcname"] = _last_name(body.get("funcname", []))
        if fields["funcname"] in _REGCLASS_FUNCTIONS and fields.get("args"):
            fields["args"] = [_relation_text(fields["args"][0]), *fields["args"][1:]]
        return {"FuncCall": fields}

    def n_TypeName(self, body: dict[str, Any], scope: frozenset[str]) -> Any:
        fields = self.fields(body, scope)
        names = [_string(n) for n in body.get("names", [])]
        while len(names) > 1 and names[0] in _DEFAULT_SCHEMAS:
            names = names[1:]
        fields["names"] = names
        return {"TypeName": fields}

    def n_RangeVar(self, body: dict[str, Any], scope: frozenset[str]) -> Any:
        fields = self.fields(body, scope)
        if fields.get("schemaname") in _DEFAULT_SCHEMAS:
            del fields["schemaname"]
        fields.pop("inh", None)
        fields.pop("relpersistence", None)
        return {"RangeVar": fields}

    def n_ColumnRef(self, body: dict[str, Any], scope: frozenset[str]) -> Any:
        names = [_string(f) if "String" in f else "*" for f in body.get("fields", [])]
        if len(names) >= 2 and names[-2] in scope:
            names = names[-1:]
        return ("column", tuple(names))

    def n_SubLink(self, body: dict[str, Any], scope: frozenset[str]) -> Any:
        fields = self.fields(body, scope)
        if body.get("subLinkType") == "ANY_SUBLINK" and not body.get("operName"):
            fields["operName"] = ["="]
        elif "operName" in body:
            fields["operName"] = [_last_name(body["operName"])]
        return {"SubLink": fields}

    def n_SelectStmt(self, body: dict[str, Any], scope: frozenset[str]) -> Any:
        inner = scope | _relations(body.get("fromClause", []))
        fields = self.fields(body, inner)
        targets = []
        for target in body.get("targetList", []):
            result = dict(target.get("ResTarget", {}))
            name = result.pop("name", None)
            normalised = self.fields(result, inner)
            if name is not None and name not in (_column_name(result.get("val")), "?column?"):
                normalised["name"] = name
            targets.append({"ResTarget": normalised})
        if targets:
            fields["targetList"] = targets
        return {"SelectStmt": fields}


_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*([+-]\d{2}(:?\d{2})?|Z)?"
)


def _moment(text: str) -> str:
    """A date/time literal as the server stores it: the server reads typed constants when
    the DDL runs and prints the value back (`'epoch'` is `1970-01-01 00:00:00+00`; an
    offset given to a timestamp without time zone is dropped). Compared as UTC wall-clock
    time, so both spellings meet."""
    import datetime

    stripped = text.strip()
    if stripped.lower() == "epoch":
        stripped = "1970-01-01 00:00:00+00"
    if not _DATE_TIME.fullmatch(stripped):
        return text
    offset = re.search(r"([+-])(\d{2})(?::?(\d{2}))?$", stripped)
    if offset and len(stripped) > 10:
        sign, hours, minutes = offset.groups()
        stripped = f"{stripped[: offset.start()].rstrip()}{sign}{hours}:{minutes or '00'}"
    try:
        moment = datetime.datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    return moment.isoformat(sep=" ")


# Interval units (as PostgreSQL reads them) -> (months, days, microseconds) of one.
_INTERVAL_UNITS: dict[str, tuple[int, int, int]] = {
    unit: value
    for units, value in (
        (("microsecond", "microseconds", "us", "usec", "usecs"), (0, 0, 1)),
        (("millisecond", "milliseconds", "ms", "msec", "msecs"), (0, 0, 1_000)),
        (("second", "seconds", "s", "sec", "secs"), (0, 0, 1_000_000)),
        (("minute", "minutes", "m", "min", "mins"), (0, 0, 60_000_000)),
        (("hour", "hours", "h", "hr", "hrs"), (0, 0, 3_600_000_000)),
        (("day", "days", "d"), (0, 1, 0)),
        (("week", "weeks", "w"), (0, 7, 0)),
        (("month", "months", "mon", "mons"), (1, 0, 0)),
        (("year", "years", "y", "yr", "yrs"), (12, 0, 0)),
        (("decade", "decades"), (120, 0, 0)),
        (("century", "centuries"), (1200, 0, 0)),
    )
    for unit in units
}
_INTERVAL_PART = re.compile(
    r"\s*(?:([+-]?\d+(?:\.\d+)?)\s*([a-z]+)|([+-])?(\d+):(\d{2})(?::(\d{2}(?:\.\d+)?))?)",
)


def _interval(text: str) -> str:
    """An interval literal as a canonical text, '' when `text` is not one. The server reads
    interval constants when the DDL runs and prints them its way (`'3 minutes'` is
    `00:03:00`, `'1 week'` is `7 days`)."""
    body = text.strip().lower().removeprefix("@").strip()
    ago = body.endswith(" ago")
    body = body.removesuffix(" ago")
    if not body or not any(c.isalpha() or c == ":" for c in body):
        return ""
    months = days = micros = 0.0
    position = 0
    while position < len(body):
        match = _INTERVAL_PART.match(body, position)
        if match is None or match.end() == position:
            return ""
        number, unit, sign, hours, minutes, seconds = match.groups()
        if number is not None:
            if unit not in _INTERVAL_UNITS:
                return ""
            m, d, u = _INTERVAL_UNITS[unit]
            months, days, micros = (
                months + m * float(number),
                days + d * float(number),
                micros + u * float(number),
            )
        else:
            value = int(hours) * 3_600_000_000 + int(minutes) * 60_000_000
            value += round(float(seconds or 0) * 1_000_000)
            micros += -value if sign == "-" else value
        position = match.end()
    factor = -1 if ago else 1
    return f"interval {factor * months + 0.0:g} {factor * days + 0.0:g} {factor * round(micros)}"


def _relation_text(value: Any) -> Any:
    """A relation named in a string ('public."Orders_seq"'), as the regclass input reads it:
    unquoted parts folded to lower case, quotes removed, a default schema dropped; the
    server prints it back relative to the search_path."""
    if not (isinstance(value, tuple) and len(value) == 2 and value[0] == "const"):
        return value
    if not isinstance(value[1], str):
        return value
    parts = [
        part[1:-1].replace('""', '"') if part.startswith('"') else part.lower()
        for part in re.findall(r'"(?:[^"]|"")*"|[^.]+', value[1])
    ]
    while len(parts) > 1 and parts[0] in _DEFAULT_SCHEMAS:
        parts = parts[1:]
    return ("relation", tuple(parts))


def _items(value: Any) -> list[Any]:
    if isinstance(value, dict) and "List" in value:
        return list(value["List"].get("items", []))
    if isinstance(value, list):
        return value
    return [value]


def _string(node: dict[str, Any]) -> str:
    inner = node.get("String", {})
    return str(inner.get("sval", "")) if isinstance(inner, dict) else ""


def _last_name(names: list[dict[str, Any]]) -> str:
    return _string(names[-1]) if names else ""


def _relations(from_clause: list[Any]) -> frozenset[str]:
    """The names a FROM clause brings into scope: aliases, else relation names."""
    found: set[str] = set()
    stack = list(from_clause)
    while stack:
        item = stack.pop()
        if not isinstance(item, dict):
            continue
        if "RangeVar" in item:
            range_var = item["RangeVar"]
            alias = range_var.get("alias", {}).get("aliasname")
            found.add(alias or range_var.get("relname", ""))
        elif "JoinExpr" in item:
            stack.extend([item["JoinExpr"].get("larg"), item["JoinExpr"].get("rarg")])
        elif "RangeSubselect" in item or "RangeFunction" in item:
            body = item.get("RangeSubselect") or item.get("RangeFunction") or {}
            alias = body.get("alias", {}).get("aliasname")
            if alias:
                found.add(alias)
    return frozenset(found)


def _column_name(value: Any) -> str:
    """The name PostgreSQL gives a select-list entry without AS (FigureColname)."""
    if not isinstance(value, dict) or len(value) != 1:
        return "?column?"
    ((kind, body),) = value.items()
    if kind == "ColumnRef":
        fields = body.get("fields", [])
        return _string(fields[-1]) if fields and "String" in fields[-1] else "?column?"
    if kind == "FuncCall":
        return _last_name(body.get("funcname", []))
    if kind == "TypeCast":
        inner = _column_name(body.get("arg"))
        if inner != "?column?":
            return inner
        return _last_name(body.get("typeName", {}).get("names", [])) or "?column?"
    if kind == "SubLink":
        return {"EXISTS_SUBLINK": "exists", "ARRAY_SUBLINK": "array"}.get(
            body.get("subLinkType", ""), "?column?"
        )
    simple = {"CoalesceExpr": "coalesce", "CaseExpr": "case", "A_ArrayExpr": "array"}
    return simple.get(kind, "?column?")
