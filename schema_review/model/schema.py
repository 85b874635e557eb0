"""The schema model: the final schema after the replay, and everything that happened on the way."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from schema_review.model import relations
from schema_review.model.changes import Change
from schema_review.model.objects import (
    Column,
    Constraint,
    EnumType,
    Extension,
    Function,
    Index,
    Policy,
    Schema,
    SchemaObject,
    Sequence,
    Table,
    Trigger,
    View,
)
from schema_review.parse import Statement, quote_ident


class SchemaModel:
    """The schema after the replay, plus everything that happened on the way."""

    # A plain slots class, not a dataclass (see records.py): no methods compiled at import;
    # equal only to itself, as the eq=False dataclass was.
    __slots__ = (
        "archive",
        "changes",
        "computed",
        "dialect",
        "extensions",
        "functions",
        "indexes",
        "internal_errors",
        "opaque",
        "schemas",
        "sequences",
        "statements",
        "tables",
        "types",
        "views",
    )

    tables: dict[tuple[str, str], Table]
    indexes: dict[tuple[str, str], Index]
    types: dict[tuple[str, str], EnumType]
    sequences: dict[tuple[str, str], Sequence]
    views: dict[tuple[str, str], View]
    functions: dict[tuple[str, str, str], Function]
    extensions: dict[str, Extension]
    schemas: dict[str, Schema]
    # Every object ever created, dropped ones included, in creation order.
    archive: list[SchemaObject]
    changes: list[Change]
    statements: list[Statement]
    opaque: list[Statement]
    internal_errors: list[tuple[Statement, str]]
    # The database the history is written for (the front end's): postgres, mysql, sqlite.
    dialect: str
    # Facts computed once over the final schema (rules ask for them object by object).
    computed: dict[str, Any]

    def __init__(
        self, statements: list[Statement] | None = None, dialect: str = "postgres"
    ) -> None:
        self.tables = {}
        self.indexes = {}
        self.types = {}
        self.sequences = {}
        self.views = {}
        self.functions = {}
        self.extensions = {}
        self.schemas = {}
        self.archive = []
        self.changes = []
        self.statements = [] if statements is None else statements
        self.opaque = []
        self.internal_errors = []
        self.dialect = dialect
        self.computed = {}

    def fk_type_mismatches(self, fk: Constraint) -> list[str]:
        return relations.fk_type_mismatches(self.tables, fk)

    def _referencing(self) -> dict[str, list[Constraint]]:
        if "referencing" not in self.computed:
            self.computed["referencing"] = relations.referencing(self.tables)
        found: dict[str, list[Constraint]] = self.computed["referencing"]
        return found

    def cascade_blockers(self, fk: Constraint) -> list[Constraint]:
        return relations.cascade_blockers(self.tables, fk, self._referencing())

    def referencing_columns(self, column: Column) -> list[Column]:
        """Columns of foreign keys that reference `column`."""
        return relations.referencing_columns(self.tables, column, self._referencing())

    def correlated_subqueries(self, policy: Policy) -> list[str]:
        return relations.correlated_subqueries(self.tables, policy)

    def policy_recursion(self, policy: Policy) -> list[str]:
        return relations.policy_recursion(self.tables, policy)

    def schemas_holding(self, kind: str, name: str) -> list[str]:
        """The schemas where an object of `kind` (relation, function, type) named `name` is."""
        if kind == "relation":
            found = [s for s, n in (*self.tables, *self.views, *self.sequences) if n == name]
        elif kind == "function":
            found = [s for s, n, _ in self.functions if n == name]
        else:
            found = [s for s, n in self.types if n == name]
        return sorted(set(found), key=found.index)

    def search_path_for(self, function: Function) -> str:
        """The search_path a fix sets on `function`: the schemas its body uses without naming
        them, then pg_temp last (so that no temporary object can stand in for them). Only
        pg_catalog when the body names nothing of the schema; the function's own schema when
        the body cannot be read."""
        schemas = function.search_path_schemas(self)
        if schemas is None:
            schemas = [function.schema]
        if not schemas:
            return "pg_catalog, pg_temp"
        return ", ".join(quote_ident(s) for s in schemas) + ", pg_temp"

    def policy_roles_calling(self, function: Function) -> list[str]:
        """The roles whose row level security policies call `function` (`public` for a policy
        without TO or TO public): they need EXECUTE on it, or every query they make on the
        policy's table fails with "permission denied for function"."""
        roles: set[str] = set()
        for table in self.tables.values():
            for policy in table.policies.values():
                if policy.calls_function(function.schema, function.name):
                    given = [r.lower() for r in policy.roles] if policy.roles_given else []
                    roles.update(given if given and "public" not in given else ["public"])
        return sorted(roles)

    def view_rls_tables(self, view: View) -> list[str]:
        return relations.view_rls_tables(self.tables, view)

    def view_reads_outside(self, view: View, schemas: Collection[str]) -> list[str]:
        """The relations `view` reads outside `schemas` (those the view's readers are granted,
        like the schemas Supabase exposes): with security_invoker, its readers could not read
        them, so the view is their way in."""
        return [name for name in view.reads if name.rpartition(".")[0] not in schemas]

    def parent_row_updates(self, trigger: Trigger) -> list[str]:
        return relations.parent_row_updates(self.functions, trigger)

    def unmaintained_columns(
        self, table: Table, names: list[str], required: bool = False
    ) -> list[str]:
        """Columns of `table` among `names` that no trigger keeps current, when the schema
        keeps such columns current with triggers elsewhere (so the convention is triggers),
        or always when `required` (the team's standard is triggers)."""
        if "maintained" not in self.computed:
            self.computed["maintained"] = relations.maintained_columns(self.tables, self.functions)
        maintained: set[tuple[str, str]] = self.computed["maintained"]
        wanted = {n.lower() for n in names}
        if not required and not any(column in wanted for _, column in maintained):
            return []
        return [
            c
            for c in table.columns
            if c.lower() in wanted and (table.qualified_name, c.lower()) not in maintained
        ]

    def enum_type(self, column: Column) -> EnumType | None:
        """The enum type a column is declared with, if the files created it."""
        found = self.types.get((column.type.schema or "public", column.type.name))
        return found if found is not None and found.variety == "enum" else None

    def primary_key_majority(self, types: list[str]) -> tuple[str, int, int]:
        """(type, tables with it, tables keyed by one column of one of `types`)."""
        key = f"pk_majority:{','.join(types)}"
        if key not in self.computed:
            self.computed[key] = relations.primary_key_majority(self.tables, types)
        result: tuple[str, int, int] = self.computed[key]
        return result

    def primary_key_type(self, table: Table) -> str | None:
        return relations.primary_key_type(table)

    def primary_key_census(self) -> tuple[str, int, int]:
        """(the usual type of single-column primary keys, tables with it, such tables)."""
        if "pk_census" not in self.computed:
            self.computed["pk_census"] = relations.primary_key_census(self.tables)
        result: tuple[str, int, int] = self.computed["pk_census"]
        return result

    def odd_primary_key(self, table: Table, types: list[str]) -> bool:
        """The table's key is of another of `types` than the schema's usual one (and not a
        wider integer)."""
        return relations.odd_primary_key(table, types, self.primary_key_census())

    def live_tables(self) -> list[Table]:
        return [t for t in self.tables.values() if not t.external]

    def objects_of_kind(self, kind: str) -> list[Any]:
        """Live objects of the final schema, for final-schema rules."""
        tables = self.live_tables()
        if kind == "table":
            return tables
        if kind == "column":
            return [c for t in tables for c in t.columns.values()]
        if kind == "constraint":
            return [c for t in tables for c in t.constraints.values()]
        if kind == "foreign_key":
            return [c for t in tables for c in t.foreign_keys]
        if kind == "index":
            return [i for t in tables for i in t.live_indexes]
        if kind == "policy":
            return [p for t in tables for p in t.policies.values()]
        if kind == "trigger":
            return [g for t in tables for g in t.triggers.values()]
        if kind == "function":
            return list(self.functions.values())
        if kind == "type":
            return list(self.types.values())
        if kind == "sequence":
            return list(self.sequences.values())
        if kind == "view":
            return list(self.views.values())
        if kind == "extension":
            return list(self.extensions.values())
        if kind == "schema":
            return list(self.schemas.values())
        raise KeyError(kind)

    def history_of_kind(self, kind: str) -> list[SchemaObject]:
        """Every incarnation of objects of a kind, dropped ones included."""
        if kind == "foreign_key":
            return [
                o for o in self.archive if isinstance(o, Constraint) and o.type == "foreign_key"
            ]
        return [o for o in self.archive if o.kind == kind]

    def table(self, qualified: str) -> Table | None:
        return relations.find_table(self.tables, qualified)


def statements_only(model: SchemaModel) -> SchemaModel:
    """A model with nothing but `model`'s statements, for a caller that reads nothing else of
    it again (lint's outputs count statements): a long history's objects and changes are
    most of a run's memory. The cycles among `model`'s objects (a table and its columns name
    each other, a dropped object and the one that took its name) are cut first: the command
    line runs with the cycle collector off, which would keep them all. (Not a method: the
    rules call the model's.)"""
    # The facts computed for the rules name the model (the engine's subjects do).
    model.computed.clear()
    objects: list[Any] = [*model.archive, *model.tables.values()]
    for obj in objects:
        obj.previous = obj.replaced_by = None
        if isinstance(obj, Table):
            obj.columns, obj.constraints, obj.indexes = {}, {}, []
            obj.policies, obj.triggers, obj.rebuild_of = {}, {}, None
    return SchemaModel(statements=model.statements, dialect=model.dialect)


FINAL_KINDS = (
    "table",
    "column",
    "constraint",
    "foreign_key",
    "index",
    "policy",
    "trigger",
    "function",
    "type",
    "sequence",
    "view",
    "extension",
    "schema",
)
