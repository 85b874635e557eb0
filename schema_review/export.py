"""The final schema a migration history builds, as data (the JSON contract of
docs/schema-json.md), as DDL PostgreSQL accepts, or as a Mermaid ER diagram.

The data is what the test suite's oracle compares with a real server's catalog, so names
and types are spelled as PostgreSQL spells them (`format_type`), not as they were written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

# history_label lives with discovery (a lint run names histories without loading this module).
from schema_review.discover import history_label as history_label
from schema_review.model import (
    Constraint,
    EnumType,
    Function,
    Index,
    SchemaModel,
    Table,
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
    spell: Callable[[TypeName], str] = (
        _TypeSpeller(model) if model.dialect == "postgres" else written_type
    )
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
    return {
        "schema": table.schema,
        "name": table.name,
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
    """DDL in dependency order that rebuilds the schema of `document` on an empty database."""
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
        dialect=model.dialect,
        dialect_name={"mysql": "MySQL", "sqlite": "SQLite"}.get(model.dialect, "PostgreSQL"),
        document=document,
        early_functions=[f for f in functions if not _mentions(f, table_names)],
        late_functions=[f for f in functions if _mentions(f, table_names)],
        tables=_dependency_order(tables, parents),
        external_tables=[t for t in document["tables"] if t["external"]],
        views=_dependency_order(document["views"], view_reads),
        partitions=partitions,
    )


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
    )
    environment.filters["ident"] = quote_ident
    environment.filters["relation"] = _sql_name
    environment.filters["entity"] = _entity
    environment.filters["mermaid_type"] = _mermaid_type
    environment.filters["literal"] = lambda text: "'" + str(text).replace("'", "''") + "'"
    return environment.get_template(template).render(**context)
