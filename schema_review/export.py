"""The final schema a migration history builds, as data (the JSON contract of
docs/schema-json.md), as DDL in the history's dialect (PostgreSQL, MySQL, SQLite), or as a
Mermaid ER diagram.

The data is what the test suite's oracle compares with a real server's catalog, so names
and types are spelled as PostgreSQL spells them (`format_type`), not as they were written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

# history_label lives with discovery (a lint run names histories without loading this module).
from schema_review.discover import history_label as history_label
from schema_review.model import (
    Column,
    Constraint,
    EnumType,
    Function,
    Index,
    SchemaModel,
    Table,
    Trigger,
    TypeName,
    View,
)
from schema_review.model.relations import referenced_columns
from schema_review.model.sqlglot_front import written_type
from schema_review.parse import Expression, quote_ident
from schema_review.parse.deparse import function_definition, type_definition, view_query

FORMAT = "schema-review.schema"
VERSION = 1

# The model's type names (as TYPE_DISPLAY leaves them) -> format_type's spelling.
_FORMAT_NAMES = {
    "varchar": "character varying",
    "char": "character",
    "varbit": "bit varying",
    "serial": "integer",
    "serial4": "integer",
    "bigserial": "bigint",
    "serial8": "bigint",
    "smallserial": "smallint",
    "serial2": "smallint",
    "int": "integer",
    "decimal": "numeric",
    "bool": "boolean",
}
# Types whose precision goes between the name and the time zone words.
_TIME_TYPES = {
    "timestamp": "timestamp{} without time zone",
    "timestamptz": "timestamp{} with time zone",
    "time": "time{} without time zone",
    "timetz": "time{} with time zone",
}
# Types of common extensions -> the extension that provides them.
_EXTENSION_TYPES = {
    "citext": "citext",
    "hstore": "hstore",
    "ltree": "ltree",
    "lquery": "ltree",
    "ltxtquery": "ltree",
    "cube": "cube",
    "vector": "vector",
    "halfvec": "vector",
    "sparsevec": "vector",
    "geometry": "postgis",
    "geography": "postgis",
}
_TRIGGER_EVENT_ORDER = ("insert", "delete", "update", "truncate")


def schema_document(model: SchemaModel, history: str) -> dict[str, Any]:
    """The final schema of one history, per docs/schema-json.md."""
    spell = _speller(model)
    tables = [
        _table(t, model, spell)
        for t in sorted(model.tables.values(), key=lambda t: (t.schema, t.name))
        if not t.external or _added_to_external(t)
    ]
    sequences = [
        {"schema": s.schema, "name": s.name, "owned_by": s.owned_by}
        for s in model.sequences.values()
    ]
    for table in model.live_tables():
        for column in table.columns.values():
            # A serial's sequence stays the column's after its type or default changes.
            if column.serial_sequence and not column.identity:
                schema, _, name = column.serial_sequence.rpartition(".")
                sequences.append(
                    {"schema": schema, "name": name, "owned_by": column.qualified_name}
                )
    return {
        "format": FORMAT,
        "version": VERSION,
        "history": history,
        "schemas": [{"name": n} for n in sorted(model.schemas) if n != "public"],
        "extensions": sorted(
            (
                {"name": e.name, "schema": e.schema or "public"}
                for e in model.extensions.values()
                if e.name != "plpgsql"
            ),
            key=lambda e: e["name"],
        ),
        "types": [_type(t) for t in sorted(model.types.values(), key=lambda t: (t.schema, t.name))],
        "sequences": sorted(sequences, key=lambda s: (s["schema"], s["name"])),
        "tables": tables,
        "views": [_view(v) for v in sorted(model.views.values(), key=lambda v: (v.schema, v.name))],
        "functions": [
            _function(f, spell)
            for f in sorted(model.functions.values(), key=lambda f: (f.schema, f.name, f.arguments))
        ],
    }


def table_documents(model: SchemaModel, tables: Iterable[Table]) -> list[dict[str, Any]]:
    """The schema document's entries of `tables` alone: a diagram of a few tables of a long
    history's schema spells only those (each CHECK printed is pglast parsing its statement
    again)."""
    spell = _speller(model)
    return [_table(t, model, spell) for t in tables]


# A table as a diagram draws it (see `diagram_outlines`): schema, name, its columns' names,
# their types, which are NOT NULL (a bit each, the first column's lowest), primary key
# columns (None without one), unique keys' columns, foreign keys (name, columns, referenced
# table). Flat: a long history's review keeps one for each of its thousands of tables.
TableOutline = tuple[
    str,
    str,
    tuple[Any, ...],
    tuple[str, ...],
    int,
    "tuple[Any, ...] | None",
    tuple[tuple[Any, ...], ...],
    "tuple[tuple[str, tuple[Any, ...], str | None], ...]",
]


def diagram_outlines(
    model: SchemaModel, alike: dict[Any, Any] | None = None
) -> dict[str, TableOutline]:
    """Each table of the model that the schema document draws (not a platform's), by
    `schema.name`: what of its `table_documents` entry the ER diagram (`mermaid`) reads,
    kept compact, so that a review draws its diagram after the model is gone (see
    `outline_document`). `alike`: one object for each equal string or tuple (a long
    history's tables repeat their types and columns), which a caller may share."""
    spell = _speller(model)
    dialect = model.dialect
    texts: dict[Any, Any] = {} if alike is None else alike

    def one(value: Any) -> Any:
        try:
            return texts.setdefault(value, value)
        except TypeError:  # an unhashable part (an expression of a key): kept as it is
            return value

    outlines: dict[str, TableOutline] = {}
    for table in model.tables.values():
        if table.external:
            continue
        constraints = sorted(table.constraints.values(), key=lambda c: c.name)
        primary = next((c for c in constraints if c.type == "primary_key"), None)
        types = []
        not_null = 0
        for position, column in enumerate(table.columns.values()):
            types.append(one(spell(column.type)))
            if column.not_null or (column.in_primary_key and dialect != "sqlite"):
                not_null |= 1 << position
        outlines[f"{table.schema}.{table.name}"] = (
            table.schema,
            table.name,
            one(tuple(c.name for c in table.columns.values())),
            one(tuple(types)),
            not_null,
            None if primary is None else one(tuple(primary.columns)),
            one(tuple(one(tuple(c.columns)) for c in constraints if c.type == "unique")),
            tuple(
                (c.name, one(tuple(c.columns)), c.ref_table)
                for c in constraints
                if c.type == "foreign_key"
            ),
        )
    return outlines


def outline_document(outline: TableOutline) -> dict[str, Any]:
    """A table's entry of the schema document with what the ER diagram reads of it."""
    schema, name, names, types, not_null, primary, unique, foreign_keys = outline
    return {
        "schema": schema,
        "name": name,
        "external": False,
        "columns": [
            {"name": c, "type": t, "not_null": bool(not_null >> i & 1)}
            for i, (c, t) in enumerate(zip(names, types, strict=True))
        ],
        "primary_key": None if primary is None else {"columns": list(primary)},
        "unique": [{"columns": list(u)} for u in unique],
        "foreign_keys": [
            {"name": n, "columns": list(c), "references": {"table": t}} for n, c, t in foreign_keys
        ],
    }


def _speller(model: SchemaModel) -> Callable[[TypeName], str]:
    return _TypeSpeller(model) if model.dialect == "postgres" else written_type


class _TypeSpeller:
    """Spells the model's types as format_type() does with search_path "$user", public."""

    def __init__(self, model: SchemaModel) -> None:
        self.user_types: dict[str, set[str]] = {}
        for schema, name in model.types:
            self.user_types.setdefault(name, set()).add(schema)
        self.row_types = {name for _, name in (*model.tables, *model.views)}
        self.extension_schemas = {e.name: e.schema or "public" for e in model.extensions.values()}

    def __call__(self, type_name: TypeName) -> str:
        if type_name.declared:  # SQLite: the type as declared, what the engine reports
            return type_name.declared
        name = type_name.name
        modifiers = type_name.modifiers
        schema = type_name.schema
        if schema is None and name in self.user_types and "public" not in self.user_types[name]:
            schema = sorted(self.user_types[name])[0]
        if schema is None and name in _EXTENSION_TYPES:
            schema = self.extension_schemas.get(_EXTENSION_TYPES[name])
        if schema is not None and schema not in ("public", "pg_catalog"):
            text = f"{quote_ident(schema)}.{quote_ident(name)}"
        elif schema is not None or name in self.user_types or name in self.row_types:
            text = quote_ident(name)  # a user type, a table's row type: quoted as needed
        elif name in _TIME_TYPES:
            text = _TIME_TYPES[name].format(f"({modifiers[0]})" if modifiers else "")
            modifiers = ()
        else:
            text = _FORMAT_NAMES.get(name, name)
            if name == "numeric" and len(modifiers) == 1:
                modifiers = (modifiers[0], "0")
        if modifiers:
            text += "(" + ",".join(modifiers) + ")"
        return text + ("[]" if type_name.array else "")


def _added_to_external(table: Table) -> bool:
    """A table made outside the files (a platform's) that the migrations added to."""
    return any(
        obj.created is not None
        for obj in (
            *table.columns.values(),
            *table.constraints.values(),
            *table.live_indexes,
            *table.triggers.values(),
            *table.policies.values(),
        )
    ) or (table.rls_enabled and table.history != [])


def _expression(expression: Expression | None) -> str | None:
    return None if expression is None else str(expression)


def _table(table: Table, model: SchemaModel, spell: Callable[[TypeName], str]) -> dict[str, Any]:
    external = table.external
    constraints = sorted(table.constraints.values(), key=lambda c: c.name)

    def ours(objects: Iterable[Any]) -> list[Any]:
        return [o for o in objects if not external or o.created is not None]

    primary = next((c for c in ours(constraints) if c.type == "primary_key"), None)
    # MySQL only (PostgreSQL's and SQLite's documents stay as they were): the table options
    # the history writes, None where the server's default holds.
    options = (
        {"engine": table.engine, "charset": table.charset, "collation": table.collation}
        if model.dialect == "mysql"
        else {}
    )
    return {
        "schema": table.schema,
        "name": table.name,
        **options,
        "external": external,
        "partitioned": table.partitioned,
        "partition_of": table.partition_of,
        "inherits": list(table.inherits),
        "unlogged": table.unlogged,
        "columns_known": table.columns_known,
        "columns": [_column(c, spell, model.dialect) for c in ours(table.columns.values())],
        "primary_key": None
        if primary is None
        else {
            "name": primary.name,
            "columns": list(primary.columns),
            "deferrable": primary.deferrable,
        },
        "unique": [_key(c) for c in ours(constraints) if c.type == "unique"],
        "foreign_keys": [
            _foreign_key(c, model) for c in ours(constraints) if c.type == "foreign_key"
        ],
        "checks": [
            {"name": c.name, "expression": _expression(c.expression), "valid": not c.not_valid}
            for c in ours(constraints)
            if c.type == "check"
        ],
        "exclusions": [
            {
                "name": c.name,
                "method": c.method,
                "elements": [
                    f"{column} WITH {operator}"
                    for column, operator in zip(c.columns, c.operators, strict=False)
                ],
                "predicate": _expression(c.predicate),
            }
            for c in ours(constraints)
            if c.type == "exclude"
        ],
        "indexes": [_index(i) for i in sorted(ours(table.live_indexes), key=lambda i: i.name)],
        "triggers": [
            {
                "name": t.name,
                "timing": t.timing,
                "events": [e for e in _TRIGGER_EVENT_ORDER if e in t.events],
                "level": "row" if t.for_each_row else "statement",
                "function": _qualified_function(t.function, model),
                "arguments": list(t.arguments),
                "columns": list(t.columns),
                "when": _expression(t.when),
            }
            for t in sorted(ours(table.triggers.values()), key=lambda t: t.name)
        ],
        "row_level_security": {"enabled": table.rls_enabled, "forced": table.rls_forced},
        "policies": [
            {
                "name": p.name,
                "command": p.command,
                "roles": sorted(p.roles) or ["public"],
                "permissive": p.permissive,
                "using": _expression(p.using),
                "with_check": _expression(p.with_check),
            }
            for p in sorted(ours(table.policies.values()), key=lambda p: p.name)
        ],
    }


def _key(constraint: Constraint) -> dict[str, Any]:
    return {
        "name": constraint.name,
        "columns": list(constraint.columns),
        "deferrable": constraint.deferrable,
    }


def _column(column: Any, spell: Callable[[TypeName], str], dialect: str) -> dict[str, Any]:
    default = _dialect_expression(column.default, dialect)
    # MySQL's AUTO_INCREMENT is the column's identity there (`auto_increment`).
    identity = (
        column.identity if column.identity in ("always", "by default", "auto_increment") else None
    )
    return {
        "name": column.name,
        "type": spell(column.type),
        # SQLite: a PRIMARY KEY column of a rowid table takes NULL unless declared NOT NULL
        # (the INTEGER PRIMARY KEY aside): its front end says which in `not_null`.
        "not_null": column.not_null or (column.in_primary_key and dialect != "sqlite"),
        "default": None if column.generated is not None or identity else default,
        "identity": identity,
        "generated": _dialect_expression(column.generated, dialect),
        **(
            {"charset": column.charset, "collation": column.collation} if dialect == "mysql" else {}
        ),
    }


def _dialect_expression(expression: Expression | None, dialect: str) -> str | None:
    """An expression as the history's dialect writes it: the front end's own text where it
    kept one, else PostgreSQL's form transpiled back."""
    if expression is None:
        return None
    if dialect == "postgres":
        return str(expression)
    if expression.dialect_text is not None:
        return expression.dialect_text
    return _in_dialect(str(expression), dialect)


def _in_dialect(text: str, dialect: str) -> str:
    """A MySQL or SQLite expression as that dialect writes it (the model keeps PostgreSQL's
    form of every expression)."""
    import sqlglot

    try:
        return str(sqlglot.transpile(text, read="postgres", write=dialect)[0])
    except Exception:
        return text


def _foreign_key(fk: Constraint, model: SchemaModel) -> dict[str, Any]:
    # SQLite's `REFERENCES parent` without columns means the parent's primary key, looked up
    # when the key is used (PostgreSQL's replay resolves it at once).
    return {
        "name": fk.name,
        "columns": list(fk.columns),
        "references": {
            "table": fk.ref_table,
            "columns": referenced_columns(model.tables, fk),
        },
        "on_delete": fk.on_delete,
        "on_update": fk.on_update,
        "valid": not fk.not_valid,
        "deferrable": fk.deferrable,
    }


def _index(index: Index) -> dict[str, Any]:
    return {
        "name": index.name,
        "keys": [_key_of(index, position) for position in range(len(index.columns))],
        "include": [str(c) for c in index.include],
        "predicate": _expression(index.predicate),
        "method": index.method,
        "unique": index.unique,
        "constraint": index.constraint.name if index.constraint is not None else None,
    }


def _key_of(index: Index, position: int) -> dict[str, str]:
    key = index.columns[position]
    found = {"column": key} if isinstance(key, str) else {"expression": str(key)}
    options = index.key_options[position] if position < len(index.key_options) else ""
    if options:
        found["options"] = options
    return found


def _qualified_function(name: str, model: SchemaModel) -> str:
    if "." in name:
        return name
    schemas = sorted({schema for schema, function, _ in model.functions if function == name})
    if "public" in schemas or not schemas:
        return f"public.{name}"
    return f"{schemas[0]}.{name}"


def _type(user_type: EnumType) -> dict[str, Any]:
    found: dict[str, Any] = {
        "schema": user_type.schema,
        "name": user_type.name,
        "kind": user_type.variety,
        "values": list(user_type.values),
    }
    event = user_type.defined
    if user_type.variety != "enum" and event is not None:
        found["definition"] = type_definition(
            event.statement.text, user_type.schema, user_type.name
        )
    return found


def _view(view: View) -> dict[str, Any]:
    event = view.defined
    return {
        "schema": view.schema,
        "name": view.name,
        "materialized": view.materialized,
        "security_invoker": view.security_invoker,
        "definition": view_query(event.statement.text) if event is not None else None,
    }


def _function(function: Function, spell: Callable[[TypeName], str]) -> dict[str, Any]:
    event = function.defined
    return_type = function.return_type
    return {
        "schema": function.schema,
        "name": function.name,
        "kind": "procedure" if function.procedure else "function",
        "arguments": [spell(t) for t in function.argument_types],
        "returns": None if return_type is None else spell(return_type),
        "returns_set": function.returns_set,
        "language": function.language.lower(),
        "security_definer": function.security_definer,
        "volatility": function.volatility,
        "search_path": function.search_path,
        "definition": None
        if event is None
        else function_definition(event.statement.text, function.schema, function.name),
    }


# -- DDL -------------------------------------------------------------------------------------
def _sql_name(qualified: str) -> str:
    schema, _, name = qualified.rpartition(".")
    return f"{quote_ident(schema)}.{quote_ident(name)}" if schema else quote_ident(name)


def _table_types(document: dict[str, Any]) -> set[str]:
    """Names a function signature would use for the row types of the tables and views."""
    names: set[str] = set()
    for relation in (*document["tables"], *document["views"]):
        names.add(relation["name"])
        names.add(f"{relation['schema']}.{relation['name']}")
    return names


def _mentions(function: dict[str, Any], names: set[str]) -> bool:
    types = [*function["arguments"], function["returns"] or ""]
    return any(t.removesuffix("[]").strip('"') in names for t in types)


def _dependency_order(items: list[dict[str, Any]], needs: dict[str, set[str]]) -> list[Any]:
    """Items (keyed by schema.name) so that each comes after the ones it needs."""
    by_key = {f"{i['schema']}.{i['name']}": i for i in items}
    done: set[str] = set()
    ordered: list[dict[str, Any]] = []

    def visit(key: str, path: set[str]) -> None:
        if key in done or key in path or key not in by_key:
            return
        for other in sorted(needs.get(key, ())):
            visit(other, path | {key})
        done.add(key)
        ordered.append(by_key[key])

    for key in by_key:
        visit(key, set())
    return ordered


def schema_sql(document: dict[str, Any], model: SchemaModel) -> str:
    """DDL in dependency order that rebuilds the schema of `document` on an empty database,
    in the history's own dialect (MySQL and SQLite: from the model, see `dialect_ddl`)."""
    if model.dialect in ("sqlite", "mysql"):
        return dialect_ddl(model, document["history"])
    tables = [t for t in document["tables"] if not t["external"]]
    parents = {
        f"{t['schema']}.{t['name']}": {*t["inherits"], t["partition_of"]} - {None} for t in tables
    }
    table_names = _table_types(document)
    functions = document["functions"]
    view_reads = {f"{v.schema}.{v.name}": set(v.reads) for v in model.views.values()}
    partitions = {
        f"{t.schema}.{t.name}": (_partition_key(t), _partition_bound(t))
        for t in model.live_tables()
    }
    return _render(
        "schema.sql.jinja",
        history=document["history"],
        document=document,
        early_functions=[f for f in functions if not _mentions(f, table_names)],
        late_functions=[f for f in functions if _mentions(f, table_names)],
        tables=_dependency_order(tables, parents),
        external_tables=[t for t in document["tables"] if t["external"]],
        views=_dependency_order(document["views"], view_reads),
        partitions=partitions,
    )


# -- DDL in the history's own dialect (MySQL, SQLite) -------------------------------------------
# Printed from the model, not from the PostgreSQL-shaped document: each column, key and index
# as the engine itself takes it, so that the engine rebuilds the catalog the history builds
# (tests/test_export_dialects.py applies both to the engines and compares the catalogs).
# What the model has no text for is said in an SQL comment, never made up.

_SQLITE_LITERAL = re.compile(
    r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|'(?:[^']|'')*'|[xX]'[0-9a-fA-F]*'"
    r"|NULL|TRUE|FALSE|CURRENT_TIME|CURRENT_DATE|CURRENT_TIMESTAMP",
    re.IGNORECASE,
)
_PARTIAL_INDEX = re.compile(
    r"\s*CREATE\s+(UNIQUE\s+)?INDEX\b.*\bWHERE\b", re.IGNORECASE | re.DOTALL
)
_VIRTUAL_TABLE = re.compile(r"\s*CREATE\s+VIRTUAL\s+TABLE\b", re.IGNORECASE)


def dialect_ddl(model: SchemaModel, history: str) -> str:
    """The schema of a MySQL or SQLite history as DDL that engine runs."""
    if model.dialect == "sqlite":
        return _render("schema.sqlite.sql.jinja", history=history, **_sqlite_schema(model))
    return _render("schema.mysql.sql.jinja", history=history, **_mysql_schema(model))


def _mysql_ident(name: str) -> str:
    return "`" + str(name).replace("`", "``") + "`"


_MYSQL_LITERAL = re.compile(
    r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|'(?:[^'\\]|''|\\.)*'|[xX]'[0-9a-fA-F]*'|[bB]'[01]*'"
    r"|NULL|TRUE|FALSE|(CURRENT_TIMESTAMP|NOW|LOCALTIME|LOCALTIMESTAMP)(\s*\(\s*\d*\s*\))?",
    re.IGNORECASE,
)
# Rules InnoDB treats as its default (information_schema says RESTRICT for both).
_MYSQL_DEFAULT_RULES = ("NO ACTION", "RESTRICT")


_LITERALS = {"mysql": _MYSQL_LITERAL, "sqlite": _SQLITE_LITERAL}


def _default_clause(expression: Expression | None, dialect: str) -> tuple[str | None, bool]:
    """(DEFAULT clause text, whether the model lost it): an expression that is not a literal
    goes in parentheses (SQLite's grammar wants them; MySQL 8.0.13+ and MariaDB 10.2+ take
    them)."""
    if expression is None:
        return None, False
    text = _text_of(expression, dialect)
    if text is None:
        return None, True
    bare = text.strip()
    if _LITERALS[dialect].fullmatch(bare) or _unwrapped(bare) != bare:
        return bare, False
    return f"({bare})", False


def _generated_expression(
    column: Column, generated_in_text: dict[str, bool], dialect: str, missing: list[str]
) -> str | None:
    """A generated column's expression in the dialect, or None; what the model has no text
    for (or no expression at all, where the statement makes the column generated) is added
    to `missing`."""
    if column.generated is None:
        if column.name in generated_in_text:
            missing.append(f"the expression of generated column {column.name}")
        return None
    generated = _unwrapped(_text_of(column.generated, dialect))
    if generated is None:
        missing.append(f"the expression of generated column {column.name}")
    return generated


# sqlglot prints MySQL 8's multi-valued key part `CAST(x AS CHAR(255) ARRAY)` as
# `CAST(x AS ARRAY<CHAR(255)>)`, which MySQL rejects.
_ARRAY_CAST = re.compile(r"\bAS\s+ARRAY<([^<>]+)>", re.IGNORECASE)


def _mysql_text(text: str) -> str:
    return _ARRAY_CAST.sub(r"AS \1 ARRAY", text)


def _key_prefix(index: Index, column: str) -> str:
    """A key part's prefix length (`name(191)`), read again from the statement that made the
    index (the model keeps the column alone); '' when it has none."""
    event = index.created
    if event is None:
        return ""
    text = event.statement.text
    start = text.find(index.name) if index.name else -1
    pattern = rf"[`\"]?{re.escape(column)}[`\"]?\s*\(\s*(\d+)\s*\)"
    found = re.compile(pattern, re.IGNORECASE).search(text, max(start, 0))
    return f"({found.group(1)})" if found else ""


def _mysql_index(index: Index) -> dict[str, Any]:
    keys: list[str | None] = []
    directions = _key_directions(index, "mysql")
    for position, key in enumerate(index.columns):
        text: str | None
        if isinstance(key, str):
            # A key the model keeps as MySQL's own text is an expression in parentheses.
            text = (
                _mysql_text(key)
                if key.startswith("(")
                else _mysql_ident(key) + _key_prefix(index, key)
            )
        else:
            found = _text_of(key, "mysql")
            text = None if found is None else f"({_mysql_text(found)})"
        options = _key_options(index, position, directions)
        keys.append(f"{text} {options}" if text is not None and options else text)
    kind = {"fulltext": "FULLTEXT ", "spatial": "SPATIAL "}.get(index.method, "")
    return {
        "name": _mysql_ident(index.name),
        "label": index.name,
        "kind": "UNIQUE " if index.unique else kind,
        "keys": keys,
        "complete": None not in keys,
    }


def _mysql_table(table: Table) -> dict[str, Any]:
    missing: list[str] = []
    columns = []
    generated_in_text = _generated_columns(table, "mysql")
    for column in table.columns.values():
        default, lost = _default_clause(column.default, "mysql")
        if lost:
            missing.append(f"the default of {column.name}")
        generated = _generated_expression(column, generated_in_text, "mysql", missing)
        type_text = written_type(column.type)
        columns.append(
            {
                "name": _mysql_ident(column.name),
                "type": type_text,
                "generated": generated,
                "stored": generated_in_text.get(column.name, False),
                "not_null": column.not_null or column.in_primary_key,
                # TIMESTAMP is NOT NULL unless said otherwise where explicit_defaults_for_
                # timestamp is off (MySQL 5.7, MariaDB before 10.10).
                "say_null": type_text.lower().startswith("timestamp"),
                "default": None if generated else default,
                "auto_increment": column.identity == "auto_increment",
                # Written only where the history gives them (None: the server's default).
                "charset": column.charset,
                "collation": column.collation,
            }
        )
    constraints = sorted(table.constraints.values(), key=lambda c: c.name)
    primary = table.primary_key
    indexes = sorted(table.live_indexes, key=lambda i: i.name)
    keys = [_mysql_index(i) for i in indexes if primary is None or i.constraint is not primary]
    with_index = {i.constraint.name for i in indexes if i.constraint is not None}
    for unique in constraints:
        if unique.type == "unique" and unique.name not in with_index:
            keys.append(
                {
                    "name": _mysql_ident(unique.name),
                    "label": unique.name,
                    "kind": "UNIQUE ",
                    "keys": [_mysql_ident(c) for c in unique.columns],
                    "complete": True,
                }
            )
    for key in keys:
        if not key["complete"]:
            missing.append(f"index {key['label']} (a key part)")
    checks = _checks(constraints, "mysql", lambda check: _mysql_ident(check.name), missing)
    foreign_keys = []
    for fk in (c for c in constraints if c.type == "foreign_key"):
        clause = _foreign_key_clause(fk, _mysql_ident)
        clause["name"] = _mysql_ident(fk.name)
        for side in ("on_delete", "on_update"):
            if clause[side] in _MYSQL_DEFAULT_RULES:
                clause[side] = None
        foreign_keys.append(clause)
    return {
        "name": table.name,
        "columns": columns,
        "primary_key": None if primary is None else [_mysql_ident(c) for c in primary.columns],
        "keys": [k for k in keys if k["complete"]],
        "foreign_keys": foreign_keys,
        "checks": checks,
        "engine": table.engine,
        "charset": table.charset,
        "collation": table.collation,
        "missing": missing,
    }


def _mysql_schema(model: SchemaModel) -> dict[str, Any]:
    tables = sorted(model.live_tables(), key=lambda t: t.name)
    functions = sorted(model.functions.values(), key=lambda f: (f.name, f.arguments))
    return {
        "tables": [_mysql_table(t) for t in tables],
        "external": sorted(t.name for t in model.tables.values() if t.external),
        "views": [_verbatim(v) for v in _view_order(model)],
        "unread": _unread(model),
        "not_kept": _not_kept(model),
        "routines": [_verbatim(f) for f in functions],
        "triggers": [
            _verbatim(g) for t in tables for g in sorted(t.triggers.values(), key=lambda g: g.name)
        ],
    }


def _sqlite_ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _checks(
    constraints: list[Constraint],
    dialect: str,
    name_of: Callable[[Constraint], str | None],
    missing: list[str],
) -> list[dict[str, Any]]:
    """The CHECK constraints of a MySQL or SQLite table as the DDL template prints them
    (`name_of`: how the dialect names one, None for none); one whose expression has no text
    in the dialect is added to `missing`."""
    checks = []
    for check in (c for c in constraints if c.type == "check"):
        expression = _unwrapped(_text_of(check.expression, dialect))
        if expression is None:
            missing.append(f"CHECK {check.name}")
        else:
            checks.append({"name": name_of(check), "expression": expression})
    return checks


def _unwrapped(text: str | None) -> str | None:
    """Without one pair of parentheses around the whole (the clause prints its own)."""
    if text is None or not (text.startswith("(") and text.endswith(")")):
        return text
    depth, quoted = 0, False
    for position, char in enumerate(text):
        if char == "'":
            quoted = not quoted  # '' inside a string flips twice
        elif not quoted:
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0 and position < len(text) - 1:
                return text
    return text[1:-1]


def _text_of(expression: Expression | None, dialect: str) -> str | None:
    """An expression in the dialect; None where the model has no text for it (the
    PostgreSQL deparser's `<expression>` placeholder)."""
    text = _dialect_expression(expression, dialect)
    if text is None or "<expression>" in text:
        return None
    return text


def _named_in(statement_text: str, name: str) -> bool:
    """Whether a statement names a constraint `CONSTRAINT name` (else the name is the
    model's own: SQLite gives none, and the export must not invent one)."""
    quoted = r"[\"`\[]?" + re.escape(name) + r"[\"`\]]?"
    return (
        re.search(rf"\bCONSTRAINT\s+{quoted}(?![\w$])", statement_text, re.IGNORECASE) is not None
    )


def _written_name(constraint: Constraint) -> str | None:
    event = constraint.created
    if event is None:
        return None
    return constraint.name if _named_in(event.statement.text, constraint.name) else None


def _statement_sql(text: str) -> str:
    """A statement as written, ended by one semicolon."""
    return text.strip().rstrip(";").rstrip() + ";"


def _sqlite_create_text(table: Table) -> Any:
    from schema_review.parse.sqlite_text import read_create_table

    event = table.created
    return read_create_table(event.statement.text) if event is not None else None


_GENERATED = re.compile(r"\b(GENERATED|AS)\s*\(", re.IGNORECASE)


def _generated_columns(table: Table, dialect: str) -> dict[str, bool]:
    """The columns their defining statement makes generated -> whether STORED (else VIRTUAL,
    both engines' default), read again from the statement: the model keeps the expression
    alone, and none where it has no PostgreSQL form (MySQL's substring_index ...)."""
    import sqlglot
    from sqlglot import exp

    by_statement: dict[int, tuple[str, set[str]]] = {}
    for column in table.columns.values():
        event = column.defined
        if event is not None and _GENERATED.search(event.statement.text):
            text, names = by_statement.setdefault(
                id(event.statement), (event.statement.text, set())
            )
            names.add(column.name)
    found: dict[str, bool] = {}
    for text, names in by_statement.values():
        try:
            tree = sqlglot.parse_one(text, read=dialect)
        except Exception:
            continue
        for definition in tree.find_all(exp.ColumnDef):
            if definition.name not in names:
                continue
            for constraint in definition.find_all(exp.ComputedColumnConstraint):
                found[definition.name] = bool(constraint.args.get("persisted"))
            # `GENERATED ALWAYS AS (expr)` without STORED/VIRTUAL (sqlglot's identity node)
            for identity in definition.find_all(exp.GeneratedAsIdentityColumnConstraint):
                if identity.args.get("expression") is not None:
                    found[definition.name] = False
    return found


def _foreign_key_clause(fk: Constraint, ident: Callable[[str], str]) -> dict[str, Any]:
    return {
        "name": _written_name(fk),
        "columns": [ident(c) for c in fk.columns],
        "table": ident(str(fk.ref_table).rpartition(".")[2]),
        # SQLite's `REFERENCES parent` without columns (the parent's key) stays so.
        "references": [ident(c) for c in fk.ref_columns],
        "on_delete": fk.on_delete if fk.on_delete != "NO ACTION" else None,
        "on_update": fk.on_update if fk.on_update != "NO ACTION" else None,
        "deferrable": fk.deferrable,
    }


def _sqlite_table(table: Table) -> dict[str, Any]:
    created = table.created
    statement = created.statement if created is not None else None
    text = _sqlite_create_text(table)
    virtual = statement is not None and _VIRTUAL_TABLE.match(statement.text) is not None
    if statement is not None and (text is None or virtual or not table.columns_known):
        # CREATE VIRTUAL TABLE, CREATE TABLE ... AS SELECT: the statement as written.
        return {"name": table.name, "verbatim": _statement_sql(statement.text), "missing": []}
    primary = table.primary_key
    rowid_key = (
        primary is not None
        and len(primary.columns) == 1
        and not table.without_rowid
        and str(primary.columns[0]) in table.columns
        and table.columns[str(primary.columns[0])].type.declared.upper() == "INTEGER"
    )
    inline_key = (
        str(primary.columns[0]) if primary is not None and len(primary.columns) == 1 else None
    )
    generated_in_text = _generated_columns(table, "sqlite")
    missing: list[str] = []
    columns = []
    for column in table.columns.values():
        in_key = primary is not None and column.name in primary.columns
        born_here = column.created is not None and column.created.statement is statement
        not_null = column.not_null
        if in_key and (rowid_key or table.without_rowid):
            # The front end calls these NOT NULL (the engine never lets them hold NULL); the
            # constraint is printed only where the file declared it.
            not_null = born_here and text is not None and column.name in text.not_null
        default, lost = _default_clause(column.default, "sqlite")
        if lost:
            missing.append(f"the default of {column.name}")
        generated = _generated_expression(column, generated_in_text, "sqlite", missing)
        columns.append(
            {
                "name": _sqlite_ident(column.name),
                "type": column.type.declared,
                "primary_key": column.name == inline_key,
                "key_name": _written_name(primary) if primary is not None else None,
                "autoincrement": column.name == inline_key
                and rowid_key
                and born_here
                and text is not None
                and column.name in text.autoincrement,
                "not_null": not_null,
                "default": None if generated else default,
                "generated": generated,
                "stored": generated_in_text.get(column.name, False),
            }
        )
    constraints = sorted(table.constraints.values(), key=lambda c: c.name)
    checks = _checks(constraints, "sqlite", _written_name, missing)
    return {
        "name": table.name,
        "verbatim": None,
        "columns": columns,
        "primary_key": None
        if primary is None or inline_key is not None
        else {
            "name": _written_name(primary),
            "columns": [_sqlite_ident(c) for c in primary.columns],
        },
        "unique": [
            {"name": _written_name(u), "columns": [_sqlite_ident(c) for c in u.columns]}
            for u in constraints
            if u.type == "unique"
        ],
        "checks": checks,
        "foreign_keys": [
            _foreign_key_clause(fk, _sqlite_ident) for fk in constraints if fk.type == "foreign_key"
        ],
        "strict": table.strict,
        "without_rowid": table.without_rowid,
        "missing": missing,
    }


def _key_options(index: Index, position: int, directions: list[str]) -> str:
    options = index.key_options[position] if position < len(index.key_options) else ""
    return options or (directions[position] if position < len(directions) else "")


def _key_directions(index: Index, dialect: str) -> list[str]:
    """Each key's DESC, read again from the statement that made the index (the MySQL and
    SQLite front ends keep no key options); [] when that statement does not say."""
    import sqlglot
    from sqlglot import exp

    event = index.created
    if event is None or not re.search(r"\bDESC\b", event.statement.text, re.IGNORECASE):
        return []
    try:
        tree = sqlglot.parse_one(event.statement.text, read=dialect)
    except Exception:
        return []
    keys: list[Any] = []
    params = tree.this.args.get("params") if isinstance(tree.this, exp.Index) else None
    if params is not None:
        keys = list(params.args.get("columns") or ())
    for node in tree.find_all(exp.IndexColumnConstraint, exp.UniqueColumnConstraint):
        target = node.this
        name = target.this if isinstance(target, exp.Schema) else target
        if isinstance(name, exp.Identifier) and name.name == index.name:
            keys = list(target.expressions if isinstance(target, exp.Schema) else node.expressions)
    if len(keys) != len(index.columns):
        return []
    return ["DESC" if isinstance(k, exp.Ordered) and k.args.get("desc") else "" for k in keys]


def _index_entry(index: Index, dialect: str, ident: Callable[[str], str]) -> dict[str, Any]:
    keys: list[str | None] = []
    directions = _key_directions(index, dialect)
    for position, key in enumerate(index.columns):
        # An expression goes bare: SQLite reads `(a COLLATE NOCASE)` as an expression, where
        # `a COLLATE NOCASE` is the column a.
        text = ident(key) if isinstance(key, str) else _text_of(key, dialect)
        options = _key_options(index, position, directions)
        keys.append(f"{text} {options}" if text is not None and options else text)
    predicate = _text_of(index.predicate, dialect) if index.predicate is not None else None
    lost_predicate = index.predicate is not None and predicate is None
    event = index.created
    if index.predicate is None and event is not None:
        # A partial index whose WHERE the model could not read (SQLite's GLOB ...).
        lost_predicate = _PARTIAL_INDEX.match(event.statement.text) is not None
    return {
        "name": ident(index.name),
        "table": ident(index.table.name),
        "unique": index.unique,
        "method": index.method,
        "keys": keys,
        "complete": None not in keys and not lost_predicate,
        "label": index.name,
        "predicate": predicate,
    }


def _view_order(model: SchemaModel) -> list[View]:
    views = {f"{v.schema}.{v.name}": v for v in model.views.values()}
    document = [{"schema": v.schema, "name": v.name} for v in model.views.values()]
    ordered = _dependency_order(document, {k: set(v.reads) for k, v in views.items()})
    return [views[f"{d['schema']}.{d['name']}"] for d in ordered]


def _sqlite_schema(model: SchemaModel) -> dict[str, Any]:
    tables = sorted(model.live_tables(), key=lambda t: t.name)
    return {
        "tables": [_sqlite_table(t) for t in tables],
        "external": sorted(t.name for t in model.tables.values() if t.external),
        "indexes": [
            _index_entry(i, "sqlite", _sqlite_ident)
            for t in tables
            for i in sorted(t.live_indexes, key=lambda i: i.name)
            # SQLite's own indexes come back from the UNIQUE and PRIMARY KEY constraints.
            if i.constraint is None and not i.name.startswith("sqlite_autoindex_")
        ],
        "views": [_verbatim(v) for v in _view_order(model)],
        "unread": _unread(model),
        "not_kept": _not_kept(model),
        "triggers": [
            _sqlite_trigger(g)
            for t in tables
            for g in sorted(t.triggers.values(), key=lambda g: g.name)
        ],
    }


def _sqlite_trigger(trigger: Trigger) -> dict[str, Any]:
    """The trigger as written, on its table's name of now: SQLite rewrites the `ON table` of
    a trigger when the table is renamed (the rebuild's `ALTER TABLE new_x RENAME TO x`)."""
    from schema_review.parse.sqlite_text import tokens_of

    found = _verbatim(trigger)
    text = found["sql"]
    if text is None:
        return found
    tokens = tokens_of(text)
    kinds = [t.token_type.name for t in tokens]
    if "ON" not in kinds:
        return found
    position = kinds.index("ON") + 1
    while position + 2 < len(tokens) and kinds[position + 1] == "DOT":
        position += 2  # schema.table: the table is the last name
    if position >= len(tokens):
        return found
    target = tokens[position]
    if str(target.text) != trigger.table.name:
        text = text[: target.start] + _sqlite_ident(trigger.table.name) + text[target.end + 1 :]
    return {**found, "sql": text}


_SCHEMA_STATEMENT = re.compile(
    r"\s*(CREATE|ALTER|DROP|RENAME)\b(?!\s+(TEMP|TEMPORARY|DATABASE|SCHEMA)\b)", re.IGNORECASE
)


def _unread(model: SchemaModel) -> list[str]:
    """The schema statements the replay left unread (kept opaque: MySQL's CREATE FULLTEXT
    INDEX, a SQLite trigger on a view ...): what they made is not in the model, so not in the
    DDL, and the DDL says so."""
    return [
        f"{s.file}:{s.line}: {' '.join(s.text.split())[:80]}"
        for s in model.opaque
        if _SCHEMA_STATEMENT.match(s.text)
    ]


# What a table's statements may say that the model does not keep (so the DDL cannot): a
# pattern over the statement's text -> how the DDL's header names it.
_NOT_KEPT = {
    "mysql": (
        (
            re.compile(r"\bON\s+UPDATE\s+(CURRENT_TIMESTAMP|NOW|LOCALTIMESTAMP)", re.IGNORECASE),
            "ON UPDATE CURRENT_TIMESTAMP",
        ),
        (re.compile(r"\bCOMMENT\b", re.IGNORECASE), "comments"),
    ),
    "sqlite": (
        (re.compile(r"\bCOLLATE\b", re.IGNORECASE), "column collations (COLLATE)"),
        (re.compile(r"\bINITIALLY\s+DEFERRED\b", re.IGNORECASE), "INITIALLY DEFERRED"),
    ),
}


def _not_kept(model: SchemaModel) -> list[str]:
    """What the history's CREATE and ALTER TABLE statements write that the model does not
    keep, for the DDL's header to say it is left out."""
    texts = {
        id(event.statement): event.statement.text
        for table in model.live_tables()
        for event in table.history
        if _SCHEMA_STATEMENT.match(event.statement.text)
        and re.match(r"\s*(CREATE|ALTER)\s+TABLE\b", event.statement.text, re.IGNORECASE)
    }
    return [
        label
        for pattern, label in _NOT_KEPT.get(model.dialect, ())
        if any(pattern.search(text) for text in texts.values())
    ]


def _verbatim(thing: View | Function | Any) -> dict[str, Any]:
    """A view, trigger or routine as the statement that last defined it wrote it."""
    event = thing.defined
    return {
        "kind": thing.kind,
        "label": thing.name,
        "sql": _statement_sql(event.statement.text) if event is not None else None,
    }


def _partition_key(table: Table) -> str | None:
    from schema_review.parse.deparse import partition_clause

    event = table.created
    if not table.partitioned or event is None:
        return None
    return partition_clause(event.statement.text, "partspec")


def _partition_bound(table: Table) -> str | None:
    from schema_review.parse.deparse import partition_clause

    statement = table.partition_statement
    if table.partition_of is None or statement is None:
        return None
    return partition_clause(statement.text, "partbound")


def mermaid(document: dict[str, Any]) -> str:
    """An ER diagram (tables, key columns, foreign keys) that GitHub renders."""
    return _render("schema.mermaid.jinja", document=document)


def _entity(qualified: str) -> str:
    schema, _, name = qualified.rpartition(".")
    text = name if schema in ("", "public") else f"{schema}_{name}"
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in text)


# format_type's long names -> the short ones a diagram has room for.
_SHORT_TYPES = (
    ("character varying", "varchar"),
    ("timestamp with time zone", "timestamptz"),
    ("timestamp without time zone", "timestamp"),
    ("time with time zone", "timetz"),
    ("time without time zone", "time"),
    ("double precision", "float8"),
    ("bit varying", "varbit"),
    ("character", "char"),
)


def _mermaid_type(type_name: str) -> str:
    """A type as Mermaid's attribute grammar accepts it (a word, parentheses, brackets)."""
    for long, short in _SHORT_TYPES:
        type_name = type_name.replace(long, short)
    return "".join(c if c.isalnum() or c in "_[]()" else "_" for c in type_name)


def _render(template: str, **context: Any) -> str:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from schema_review.resources import data_dir

    environment = Environment(
        loader=FileSystemLoader(data_dir("templates")),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.do"],
    )
    environment.filters["ident"] = quote_ident
    environment.filters["sqlite_ident"] = _sqlite_ident
    environment.filters["mysql_ident"] = _mysql_ident
    environment.filters["relation"] = _sql_name
    environment.filters["entity"] = _entity
    environment.filters["mermaid_type"] = _mermaid_type
    environment.filters["literal"] = lambda text: "'" + str(text).replace("'", "''") + "'"
    return environment.get_template(template).render(**context)
