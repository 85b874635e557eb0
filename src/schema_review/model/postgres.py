"""The PostgreSQL front end of the replay: libpg_query's statements -> model operations.

One handler per statement kind, found by name (`_on_<Kind>`), the way sqlglot's
generator finds `<key>_sql`. A statement without a handler is kept as opaque; a handler
that fails on an odd statement records an internal error for that statement and the
replay goes on, so one surprise never stops a run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from schema_review.model.changes import (
    Change,
    assignment_castable,
    builtin_type,
    enum_values_alterable,
    type_display,
)
from schema_review.model.guards import GuardEvaluator
from schema_review.model.naming import index_column_names, name_addition
from schema_review.model.objects import (
    FK_ACTIONS,
    TYPE_DISPLAY,
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
    TypeName,
    View,
)
from schema_review.model.operations import (
    LIKE_CONSTRAINTS,
    LIKE_INDEXES,
    TEMPORARY_SCHEMA,
    SchemaOperations,
    base_type,
)
from schema_review.parse import (
    Expression,
    Statement,
    column_refs,
    nextval_default,
    node_name,
    quote_ident,
    references_actions_written,
    strip_locations,
    walk_dicts,
)
from schema_review.parse.plpgsql_blocks import BlockStep, do_block_steps, function_runs_ddl
from schema_review.profile import Profile

Json = dict[str, Any]


class PostgresReplayer(SchemaOperations):
    """Replays pglast (libpg_query JSON) statements."""

    def __init__(self, profile: Profile) -> None:
        super().__init__(profile)
        self.guards = GuardEvaluator(self.model)
        self.time_zones: dict[int, str] = {}  # id(file) -> the time zone it SETs
        self.handlers: dict[str, Callable[[Statement], None]] = {
            name[4:]: getattr(self, name) for name in dir(self) if name.startswith("_on_")
        }

    # -- driving -------------------------------------------------------------------
    def apply(self, statement: Statement, inner: bool = False) -> None:
        """Replay one statement (`inner`: one a DO block runs, not a statement of the file)."""
        if statement.source is not self.current_file:
            self.start_file(statement.source)
        if self.new_enum_values and statement.kind != "AlterEnumStmt":
            self.check_new_enum_values(statement)
        if not inner:
            self.model.statements.append(statement)
            self.file_statements.append(statement)
        handler = self.handlers.get(statement.kind)
        if handler is None:
            self.model.opaque.append(statement)
            return
        first = len(self.model.changes)
        try:
            handler(statement)
            if (
                statement.kind in _USES_EXTENSIONS
                and len(self.model.changes) > first
                and _mentions_extension_object(statement.text)
            ):
                missing = self.missing_extension(statement)
                if missing:
                    self.model.changes[first].missing_extension = missing
        except Exception as error:  # keep replaying: record, never crash
            self.model.internal_errors.append((statement, f"{type(error).__name__}: {error}"))

    # -- DO blocks ----------------------------------------------------------------------
    def _on_DoStmt(self, statement: Statement) -> None:
        """The static SQL of a DO block, replayed where it is written; what only running the
        block can tell is recorded as not modelled."""
        steps = do_block_steps(statement)
        if steps is None:
            self.model.opaque.append(statement)
            return
        # A DO block is one statement: its statements commit or roll back together, and the
        # locks they take are held until it ends (or the transaction around it does).
        outside = not self.in_transaction
        self.in_block = True
        try:
            self.run_block(statement, steps, guarded=False)
        finally:
            self.in_block = False
        if outside:
            self.exclusive = None
            self.exclusive_reported = False
            self.new_enum_values = {}

    def run_block(self, outer: Statement, steps: list[BlockStep], guarded: bool) -> None:
        for step in steps:
            if step.kind == "sql" and step.statement is not None:
                self.apply_inner(step.statement, guarded or step.guarded)
            elif step.kind == "if":
                # An IF on the catalog guards its branch: the model answers the question it
                # asks; when it cannot, the THEN branch runs if its first statement would do
                # something (create what is missing, drop or rename what is there).
                verdict = self.guards.truth(step.condition)
                if verdict is None:
                    first = _first_statement(step.then)
                    verdict = first is None or self.would_change(first)
                self.run_block(outer, step.then if verdict else step.otherwise, guarded=True)
            elif step.kind == "unknown":
                self.not_modelled(outer, step.offset, step.detail)
            elif step.kind == "call":
                self.called(outer, step.offset, step.detail)

    def apply_inner(self, inner: Statement, guarded: bool) -> None:
        """A statement of a DO block. Guarded (an EXCEPTION handler or a catalog check
        around it) it is skipped when it would fail on an existing object, and its changes
        count as re-runnable."""
        if guarded and not self.would_change(inner):
            return
        first = len(self.model.changes)
        self.apply(inner, inner=True)
        if guarded:
            for change in self.model.changes[first:]:
                change.guarded = True

    def not_modelled(self, outer: Statement, offset: int, detail: str) -> None:
        end = outer.source.text.find("\n", offset)
        end = min(end if end >= 0 else outer.end, outer.end)
        where = Statement(outer.source, outer.index, outer.kind, outer.node, offset, end, offset)
        self.change("not_modelled", where, detail=detail)

    def called(self, outer: Statement, offset: int, name: str) -> None:
        """SELECT or PERFORM of a function the files created that runs DDL: what it creates
        is not in the model."""
        wanted = name.rpartition(".")[2]
        for (schema, function_name, _), function in self.model.functions.items():
            if function_name != wanted or ("." in name and name.rpartition(".")[0] != schema):
                continue
            event = function.defined
            if event is not None and function.language.lower() == "plpgsql":
                what = function_runs_ddl(event.statement.text)
                if what:
                    self.not_modelled(outer, offset, f"{function.signature} runs {what}")
                    return

    def would_change(self, inner: Statement) -> bool:
        """Whether a statement would act on the model as it is: create what is missing,
        drop, alter or rename what exists (what a guard around it checks)."""
        node, kind = inner.node, inner.kind
        if kind == "CreateStmt":
            return self.find_table(node.get("relation", {})) is None
        if kind == "IndexStmt":
            name = node.get("idxname")
            table = self.find_table(node.get("relation", {}))
            return not (name and table and (table.schema, name) in self.model.indexes)
        if kind in ("CreateEnumStmt", "CompositeTypeStmt", "CreateDomainStmt"):
            names = node_name(node.get("typeName") or node.get("domainname"))
            if "typevar" in node:
                names = [node["typevar"].get("schemaname") or "", node["typevar"].get("relname")]
            return self.split_name([n for n in names if n]) not in self.model.types
        if kind == "AlterEnumStmt" and not node.get("oldVal"):
            enum = self.model.types.get(self.split_name(node_name(node.get("typeName"))))
            return enum is None or node.get("newVal") not in enum.values
        if kind == "CreateSchemaStmt":
            return node.get("schemaname") not in self.model.schemas
        if kind == "CreateExtensionStmt":
            return node.get("extname") not in self.model.extensions
        if kind in ("ViewStmt", "CreateSeqStmt"):
            relation = node.get("view") or node.get("sequence") or {}
            registry: dict[Any, Any] = (
                self.model.views if kind == "ViewStmt" else self.model.sequences
            )
            return self.range_var(relation) not in registry or bool(node.get("replace"))
        if kind in ("CreateTrigStmt", "CreatePolicyStmt"):
            table = self.find_table(node.get("relation") or node.get("table") or {})
            name = node.get("trigname") or node.get("policy_name")
            owned = (
                (table.triggers if kind == "CreateTrigStmt" else table.policies) if table else {}
            )
            return name not in owned
        if kind == "AlterTableStmt":
            table = self.find_table(node.get("relation", {}))
            if table is None:
                return False
            for item in node.get("cmds", ()):
                command = item.get("AlterTableCmd", {})
                subtype = command.get("subtype")
                if subtype == "AT_AddConstraint":
                    name = command.get("def", {}).get("Constraint", {}).get("conname")
                    if name and name in table.constraints:
                        return False
                elif subtype == "AT_AddColumn":
                    column = command.get("def", {}).get("ColumnDef", {}).get("colname")
                    if column in table.columns:
                        return False
                elif (
                    subtype == "AT_DropConstraint" and command.get("name") not in table.constraints
                ) or (subtype == "AT_DropColumn" and command.get("name") not in table.columns):
                    return False
            return True
        if kind == "RenameStmt":
            relation = node.get("relation")
            table = self.find_table(relation) if relation else None
            if node.get("renameType") == "OBJECT_COLUMN":
                return table is not None and node.get("subname") in table.columns
            if node.get("renameType") == "OBJECT_TABLE":
                return table is not None
            if node.get("renameType") == "OBJECT_TABCONSTRAINT":
                return table is not None and node.get("subname") in table.constraints
        return True

    def missing_extension(self, statement: Statement) -> str:
        """`extension (what needs it)` for a type, function or operator class of an extension
        that no CREATE EXTENSION before this statement installed, or ''."""
        installed = self.model.extensions
        preinstalled = self.profile.preinstalled_extensions
        for name, qualified in _extension_names(statement.node):
            extension = _EXTENSION_OBJECTS.get(name)
            if extension is None or qualified:
                continue  # schema-qualified: installed in that schema, outside the files
            if name == "gen_random_uuid" and self.profile.pg_version >= 13:
                continue  # core since PostgreSQL 13
            if extension not in installed and extension not in preinstalled:
                return f"{extension} ({name})"
        return ""

    def range_var(self, rel: Json) -> tuple[str, str]:
        return self.schema_of(rel.get("schemaname")), rel.get("relname", "")

    def find_table(self, rel: Json) -> Table | None:
        schema = rel.get("schemaname")
        name = rel.get("relname", "")
        if self.is_temporary(schema, name):
            return None
        if schema:
            return self.model.tables.get((schema, name))
        return self.model.tables.get((self.search_path, name)) or self.model.tables.get(
            ("public", name)
        )

    def table_for_alter(self, rel: Json, statement: Statement) -> Table:
        """The table an ALTER names; one never seen created is recorded as external (a
        temporary table is a throwaway one, outside the model)."""
        table = self.find_table(rel)
        if table is None and self.is_temporary(rel.get("schemaname"), rel.get("relname", "")):
            return Table(rel.get("relname", ""), schema=TEMPORARY_SCHEMA, external=True)
        if table is None:
            schema, name = self.range_var(rel)
            table = Table(name, schema=schema, external=True)
            table.record("referenced", statement, "created outside the replayed files")
            self.model.tables[(schema, name)] = table
        return table

    # -- types and expressions -----------------------------------------------------
    def type_name(self, node: Json | None) -> TypeName:
        if not node:
            return TypeName("unknown")
        names = node_name(node.get("names"))
        schema: str | None = None
        if len(names) >= 2:
            schema, name = names[-2], names[-1]
            if schema == "pg_catalog":
                schema = None
        else:
            name = names[-1] if names else "unknown"
        name = TYPE_DISPLAY.get(name, name)
        typmods = node.get("typmods")
        modifiers: tuple[str, ...] = ()
        if typmods:
            texts = (_const_text(m) for m in typmods)
            modifiers = tuple(t for t in texts if t is not None)
        if name == "interval":
            modifiers = ()  # interval's typmods encode fields, not a length
        return TypeName(name, schema, modifiers, bool(node.get("arrayBounds")))

    def cast_key(self, name: TypeName) -> str | None:
        """The type as `assignment_castable` knows it: a built-in's name, `enum:...` for an
        enum the files created; None for other types (domains, extensions' types)."""
        builtin = builtin_type(name)
        if builtin is not None:
            return builtin
        schema = name.schema or self.search_path
        found = self.model.types.get((schema, name.name)) or self.model.types.get(
            ("public", name.name)
        )
        if found is None or found.variety != "enum":
            return None
        return f"enum:{found.qualified_name}" + ("[]" if name.array else "")

    def enum_alterable(self, old: TypeName | None, new: TypeName) -> bool:
        """Whether ALTER TYPE ... ADD VALUE and RENAME VALUE could make the new enum of a swap
        out of the old one (the values of both known)."""
        found = []
        for name in (old, new):
            key = self.cast_key(name) if name is not None else None
            enum = next(
                (t for t in self.model.types.values() if key == f"enum:{t.qualified_name}"), None
            )
            if enum is None or enum.variety != "enum":
                return False
            found.append(enum.values)
        return enum_values_alterable(found[0], found[1])

    def default_type(self, node: Json, old_type: TypeName, enum_swap: bool) -> str | None:
        """The type of a column's stored default, once PostgreSQL strips the implicit cast to
        the column's type: what a literal was read as when the default was set (an untyped
        string: the column's type; an integer: integer), a cast's type, a known function's
        result. None when it cannot be told."""
        old_key = self.cast_key(old_type)
        if old_key is not None and enum_swap:
            old_key += " (before the swap)"  # the renamed enum: another type than the new
        if "TypeCast" in node:
            cast = node["TypeCast"]
            key = self.cast_key(self.type_name(cast.get("typeName")))
            if key is not None and enum_swap and old_key and old_key.startswith(key):
                return old_key  # written before the swap: the old enum
            return key
        if "A_Const" in node:
            constant = node["A_Const"]
            if "sval" in constant:
                return old_key
            if "ival" in constant:
                return "int4"
            if "fval" in constant:
                text = str(constant["fval"].get("fval", ""))
                return "int8" if text.isdigit() and int(text) < 2**63 else "numeric"
            if "boolval" in constant:
                return "bool"
            return None  # NULL: no default is stored
        if "FuncCall" in node:
            names = node_name(node["FuncCall"].get("funcname"))
            return _FUNCTION_TYPES.get(names[-1]) if names else None
        if "SQLValueFunction" in node:
            op = str(node["SQLValueFunction"].get("op", ""))
            return next((t for prefix, t in _SQL_VALUE_TYPES if op.startswith(prefix)), None)
        return None

    # -- CREATE TABLE ----------------------------------------------------------------
    def _on_CreateStmt(self, statement: Statement) -> None:
        node = statement.node
        if node["relation"].get("relpersistence") == "t":
            relation = node["relation"]
            self.temporary_table(relation.get("schemaname"), relation.get("relname", ""))
            return
        schema, name = self.range_var(node["relation"])
        existing = self.model.tables.get((schema, name))
        if existing is not None and not existing.external:
            if node.get("if_not_exists"):
                self.change(
                    "create_table",
                    statement,
                    table=existing,
                    if_not_exists=True,
                    guarded=True,
                    noop=True,
                )
                return
            self.drop_table_object(existing, statement, "replaced by CREATE TABLE")
        elif existing is not None:
            del self.model.tables[(schema, name)]
        table = Table(name, schema=schema)
        table.unlogged = node["relation"].get("relpersistence") == "u"
        table.partitioned = "partspec" in node
        parents = [
            self.find_table(item["RangeVar"])
            for item in node.get("inhRelations", ())
            if "RangeVar" in item
        ]
        if node.get("partbound") and node.get("inhRelations"):
            parent = node["inhRelations"][0].get("RangeVar", {})
            table.partition_of = ".".join(self.range_var(parent))
            table.partition_statement = statement
        else:
            table.inherits = [p.qualified_name for p in parents if p is not None]
        self.model.tables[(schema, name)] = table
        self.born(table, statement)
        # Columns: the parents' first (INHERITS, PARTITION OF), then the table's own, with
        # LIKE's copies where the clause stands.
        for parent_table in parents:
            if parent_table is not None:
                for parent_column in parent_table.columns.values():
                    self.copy_column(table, parent_column, statement, "inherited")
        likes: list[tuple[Table, int]] = []
        inline_constraints: list[tuple[Json, str | None]] = []
        for element in node.get("tableElts", ()):
            if "ColumnDef" in element:
                definition = element["ColumnDef"]
                inherited = table.columns.get(definition.get("colname", ""))
                column = self.add_column(table, definition, statement, merge=inherited)
                for item in definition.get("constraints", ()):
                    constraint = item.get("Constraint", {})
                    if constraint.get("contype") in _TABLE_CONSTRAINTS:
                        inline_constraints.append((constraint, column.name))
            elif "Constraint" in element:
                inline_constraints.append((element["Constraint"], None))
            elif "TableLikeClause" in element:
                like = element["TableLikeClause"]
                source = self.find_table(like.get("relation", {}))
                if source is not None:
                    options = int(like.get("options", 0))
                    for source_column in source.columns.values():
                        self.copy_column(table, source_column, statement, "LIKE", options)
                    likes.append((source, options))
        # Constraints in the order PostgreSQL creates (and so names) them: inherited and
        # copied CHECKs, the table's CHECKs, its PRIMARY KEY, UNIQUE and EXCLUDE (one index
        # for specifications that repeat each other), partition and LIKE indexes, then
        # foreign keys.
        for parent_table in parents:
            if parent_table is not None and not table.partition_of:
                self.inherit_checks(parent_table, table, statement)
        for source, options in likes:
            if options & _LIKE_CONSTRAINTS:
                self.inherit_checks(source, table, statement)
        by_kind: dict[str, list[tuple[Json, str | None]]] = {}
        for constraint_node, column_name in inline_constraints:
            kind = _TABLE_CONSTRAINTS[constraint_node["contype"]]
            by_kind.setdefault(kind, []).append((constraint_node, column_name))
        for constraint_node, column_name in by_kind.get("check", ()):
            self.add_constraint(table, constraint_node, statement, column_name)
        indexed = by_kind.get("primary_key", [])[:1] + [
            item for kind in ("unique", "exclude") for item in by_kind.get(kind, ())
        ]
        for constraint_node, column_name in _distinct_index_constraints(indexed):
            self.add_constraint(table, constraint_node, statement, column_name)
        if table.partition_of:
            parent_table = self.model.table(table.partition_of)
            if parent_table is not None:
                self.clone_into_partition(parent_table, table, statement)
        for source, options in likes:
            if options & _LIKE_INDEXES:
                self.copy_indexes(source, table, statement)
        for constraint_node, column_name in by_kind.get("foreign_key", ()):
            self.add_constraint(table, constraint_node, statement, column_name)
        guarded = bool(node.get("if_not_exists")) or ("table", table.qualified_name) in (
            self.dropped_if_exists
        )
        self.change(
            "create_table",
            statement,
            table=table,
            if_not_exists=bool(node.get("if_not_exists")),
            guarded=guarded,
            table_existed=False,
        )

    def add_column(
        self, table: Table, definition: Json, statement: Statement, merge: Column | None = None
    ) -> Column:
        """A column definition; `merge`: the inherited column of that name it redefines."""
        type_node = definition.get("typeName")
        column_type = self.type_name(type_node)
        column = Column(definition.get("colname", ""), table=table, type=column_type)
        if merge is not None:  # the parent's NOT NULL and default stay unless redefined
            column.not_null = merge.not_null
            column.default = merge.default
        if definition.get("is_not_null"):
            column.not_null = True
        if column_type.serial:
            column.not_null = True
            column.serial_sequence = self.sequence_name(table, column.name)
        for item in definition.get("constraints", ()):
            constraint = item.get("Constraint")
            if constraint is None:
                continue
            contype = constraint.get("contype")
            if contype == "CONSTR_NOTNULL":
                column.not_null = True
            elif contype == "CONSTR_NULL":
                column.not_null = False
            elif contype == "CONSTR_DEFAULT":
                column.default = statement.expression(constraint.get("raw_expr"))
            elif contype == "CONSTR_IDENTITY":
                column.identity = (
                    "always" if constraint.get("generated_when") == "a" else ("by default")
                )
                column.not_null = True
                column.serial_sequence = self.sequence_name(table, column.name)
            elif contype == "CONSTR_GENERATED":
                column.generated = statement.expression(constraint.get("raw_expr"))
            elif contype == "CONSTR_PRIMARY":
                column.not_null = True
        if merge is not None:  # an inherited column redefined: one column, the parent's
            for name in ("type", "not_null", "default", "identity", "generated"):
                setattr(merge, name, getattr(column, name))
            return merge
        if column.type.serial:  # as the server stores it: a default taken from the sequence
            column.default = nextval_default(column.serial_sequence or "")
        table.columns[column.name] = column
        self.born(column, statement, offset=statement.offset_of(definition))
        return column

    def sequence_name(self, table: Table, column: str) -> str:
        """The qualified name of the sequence behind a new serial or identity column."""
        name = self.choose_relation_name(table.schema, table.name, column, "seq")
        return f"{table.schema}.{name}"

    # -- constraints -----------------------------------------------------------------
    def add_constraint(
        self,
        table: Table,
        node: Json,
        statement: Statement,
        column_name: str | None = None,
    ) -> Constraint | None:
        contype = node.get("contype")
        kind = _TABLE_CONSTRAINTS.get(contype or "")
        if kind is None:
            if contype == "CONSTR_NOTNULL" and column_name is None:
                # PostgreSQL 18's table-level NOT NULL constraint: a column property here.
                for key in node_name(node.get("keys")):
                    if key in table.columns:
                        table.columns[key].not_null = True
            return None
        columns = node_name(node.get("keys")) or node_name(node.get("fk_attrs"))
        if not columns and column_name is not None:
            columns = [column_name]
        constraint = Constraint(
            "",
            table=table,
            type=kind,
            columns=columns,
            not_valid=bool(node.get("skip_validation")),
            deferrable=bool(node.get("deferrable")),
            using_index=node.get("indexname"),
            include=node_name(node.get("including")),
        )
        if kind == "check":
            constraint.expression = statement.expression(node.get("raw_expr"))
            if not columns:
                constraint.columns = column_refs(node.get("raw_expr"))
        elif kind == "foreign_key":
            pk_table = node.get("pktable", {})
            constraint.ref_table = ".".join(self.range_var(pk_table))
            constraint.ref_columns = node_name(node.get("pk_attrs"))
            if not constraint.ref_columns:
                referenced = self.find_table(pk_table)
                if referenced is not None and referenced.primary_key is not None:
                    constraint.ref_columns = list(referenced.primary_key.columns)
            constraint.actions_given = _fk_actions_written(statement, pk_table)
            constraint.on_delete = FK_ACTIONS.get(node.get("fk_del_action", "a"), "NO ACTION")
            constraint.on_update = FK_ACTIONS.get(node.get("fk_upd_action", "a"), "NO ACTION")
        elif kind == "exclude":
            constraint.method = node.get("access_method", "gist")
            pairs = [p["List"]["items"] for p in node.get("exclusions", ()) if "List" in p]
            constraint.columns = [str(_index_elem_name(pair[0], statement)) for pair in pairs]
            key_names: list[str | None] = [_index_key_name(pair[0]) for pair in pairs]
            constraint.operators = [
                ".".join(node_name(pair[1].get("List", {}).get("items"))) for pair in pairs
            ]
            constraint.predicate = statement.expression(node.get("where_clause"))
        if kind in ("primary_key", "unique") and constraint.using_index:
            index = self.model.indexes.get((table.schema, constraint.using_index))
            if index is not None:
                constraint.columns = [str(c) for c in index.columns]
        if kind != "exclude":
            key_names = [*constraint.columns, *constraint.include]
        constraint.name = node.get("conname") or self.default_constraint_name(
            table, constraint, key_names
        )
        if kind == "primary_key":
            for name in constraint.columns:
                if name in table.columns:
                    table.columns[name].not_null = True
        table.constraints[constraint.name] = constraint
        self.born(constraint, statement, offset=statement.offset_of(node))
        if kind in ("primary_key", "unique", "exclude"):
            self.constraint_index(table, constraint, statement, key_names)
        return constraint

    # -- ALTER TABLE -------------------------------------------------------------------
    def _on_AlterTableStmt(self, statement: Statement) -> None:
        node = statement.node
        objtype = node.get("objtype", "OBJECT_TABLE")
        if objtype == "OBJECT_VIEW":
            self.alter_view(statement)
            return
        if objtype not in ("OBJECT_TABLE", "OBJECT_FOREIGN_TABLE"):
            return
        relation = node["relation"]
        if node.get("missing_ok") and self.find_table(relation) is None:
            self.change("alter_table", statement, missing_ok=True, detail="no such table")
            return
        table = self.table_for_alter(relation, statement)
        existed = self.existed_before_file(table)
        first = len(self.model.changes)
        for item in node.get("cmds", ()):
            command = item.get("AlterTableCmd")
            if command is not None:
                self.alter_table_command(table, command, statement, existed)
        if existed and len(self.model.changes) > first:
            change = self.model.changes[first]
            earlier = self.altered.get(table.qualified_name)
            if earlier is None:
                self.altered[table.qualified_name] = change
            elif earlier.statement is not statement:
                change.repeated_alter = earlier
            # Of those, the ones that scan or rewrite the table (VALIDATE is left out: its
            # point is a statement of its own, under a weaker lock).
            slow = next(
                (
                    c
                    for c in self.model.changes[first:]
                    if c.table is table and c.slow and c.kind != "validate_constraint"
                ),
                None,
            )
            if slow is not None:
                earlier = self.slow_altered.setdefault(table.qualified_name, slow)
                if earlier.statement is not statement:
                    slow.repeated_slow_alter = earlier

    def alter_table_command(
        self, table: Table, cmd: Json, statement: Statement, existed: bool
    ) -> None:
        subtype = cmd.get("subtype", "")
        # ALTER TABLE ONLY: partitions and inheritance children are left alone.
        recurse = bool(statement.node.get("relation", {}).get("inh"))
        name = cmd.get("name", "")
        missing_ok = bool(cmd.get("missing_ok"))
        column: Column | None
        constraint: Constraint | None

        def emit(kind: str, **fields: Any) -> Change:
            return self.change(kind, statement, table=table, table_existed=existed, **fields)

        if subtype == "AT_AddColumn":
            definition = cmd["def"]["ColumnDef"]
            column_name = definition.get("colname", "")
            if missing_ok and column_name in table.columns:
                emit(
                    "add_column",
                    column=table.columns[column_name],
                    if_not_exists=True,
                    guarded=True,
                    noop=True,
                )
                return
            if column_name in table.columns:
                self.died(table.columns.pop(column_name), statement, "replaced by ADD COLUMN")
            column = self.add_column(table, definition, statement)
            table.record("altered", statement, f"added column {column.name}")
            emit(
                "add_column",
                column=column,
                if_not_exists=missing_ok,
                guarded=missing_ok,
                generated_virtual=_generated_virtual(definition),
            )
            if recurse:
                self.add_column_to_children(table, column, statement)
            for item in definition.get("constraints", ()):
                constraint_node = item.get("Constraint", {})
                if constraint_node.get("contype") in _TABLE_CONSTRAINTS:
                    constraint = self.add_constraint(table, constraint_node, statement, column.name)
                    emit(
                        "add_constraint",
                        column=column,
                        constraint=constraint,
                        inline=True,
                        if_not_exists=missing_ok,
                        guarded=missing_ok,
                    )
        elif subtype == "AT_DropColumn":
            cascade = cmd.get("behavior") == "DROP_CASCADE"
            column = self.drop_column_object(table, name, statement, cascade)
            if column is None:
                emit("drop_column", missing_ok=missing_ok, detail=f"no column {name}")
                return
            table.record("altered", statement, f"dropped column {name}")
            emit("drop_column", column=column, missing_ok=missing_ok)
        elif subtype == "AT_AlterColumnType":
            column = table.columns.get(name)
            definition = cmd.get("def", {}).get("ColumnDef", {})
            new_type = self.type_name(definition.get("typeName"))
            old_type = column.type if column else None
            enum_swap = self.is_enum_swap(old_type, new_type)
            using = definition.get("raw_default")
            # PostgreSQL casts the stored default to the new type at assignment, and refuses
            # the ALTER when there is no such cast (tablecmds.c, ATExecAlterColumnType).
            default_type = None
            if column is not None and old_type is not None and column.default is not None:
                default_type = self.default_type(column.default.node, old_type, enum_swap)
            new_key = self.cast_key(new_type)
            stale_default = bool(
                default_type is not None
                and new_key is not None
                and not assignment_castable(default_type, new_key)
            )
            if column is not None:
                column.type = new_type
                column.record("retyped", statement, f"{old_type} -> {new_type}")
            emit(
                "alter_column_type",
                column=column,
                detail=f"{old_type} -> {new_type}" if old_type else str(new_type),
                old_type=old_type,
                using=bool(using) and not _using_the_column(using, name, old_type, new_type, self),
                stale_default=stale_default,
                default_type=type_display(default_type) if default_type else "",
                enum_swap=enum_swap,
                enum_alterable=enum_swap and self.enum_alterable(old_type, new_type),
                utc_session=self.time_zones.get(id(statement.source)) == "UTC",
            )
        elif subtype in ("AT_SetNotNull", "AT_DropNotNull"):
            column = table.columns.get(name)
            proven = subtype == "AT_SetNotNull" and table.not_null_checked(name)
            if column is not None:
                column.not_null = subtype == "AT_SetNotNull"
                column.record(
                    "altered", statement, "SET NOT NULL" if column.not_null else "DROP NOT NULL"
                )
            emit(
                "set_not_null" if subtype == "AT_SetNotNull" else "drop_not_null",
                column=column,
                not_null_proven=proven,
                detail=name,
            )
        elif subtype == "AT_ColumnDefault":
            column = table.columns.get(name)
            expression = cmd.get("def")
            if column is not None:
                column.default = statement.expression(expression)
                column.record(
                    "altered",
                    statement,
                    "SET DEFAULT" if expression else "DROP DEFAULT",
                )
            emit("set_default" if expression else "drop_default", column=column)
        elif subtype == "AT_AddIdentity":
            column = table.columns.get(name)
            identity = cmd.get("def", {}).get("Constraint", {})
            if column is not None:
                column.identity = (
                    "always" if identity.get("generated_when") == "a" else "by default"
                )
                column.not_null = True
                column.serial_sequence = self.sequence_name(table, column.name)
                column.record("altered", statement, "ADD GENERATED AS IDENTITY")
            emit("add_identity", column=column)
        elif subtype == "AT_SetIdentity":
            column = table.columns.get(name)
            for option in cmd.get("def", {}).get("List", {}).get("items", ()):
                element = option.get("DefElem", {})
                if element.get("defname") == "generated" and column is not None:
                    value = element.get("arg", {}).get("Integer", {}).get("ival")
                    column.identity = "always" if value == 97 else "by default"  # 'a' or 'd'
            table.record("altered", statement, "SET GENERATED")
            emit("alter_table_other", column=column, detail="SetIdentity")
        elif subtype == "AT_DropIdentity":
            column = table.columns.get(name)
            if column is not None:
                column.identity = None
                column.record("altered", statement, "DROP IDENTITY")
            emit("drop_identity", column=column)
        elif subtype == "AT_AddConstraint":
            constraint_node = cmd["def"]["Constraint"]
            guarded = (
                "constraint",
                f"{table.qualified_name}.{constraint_node.get('conname')}",
            ) in (self.dropped_if_exists)
            constraint = self.add_constraint(table, constraint_node, statement)
            if constraint is not None:
                table.record("altered", statement, f"added constraint {constraint.name}")
                if recurse:
                    self.add_constraint_to_children(table, constraint, statement)
            emit("add_constraint", constraint=constraint, guarded=guarded)
        elif subtype == "AT_DropConstraint":
            constraint = self.drop_constraint(table, name, statement)
            close_match = ""
            if constraint is None and missing_ok:
                qualified = f"{table.qualified_name}.{name}"
                self.dropped_if_exists.add(("constraint", qualified))
                close_match = self.close_match("drop_constraint", qualified)
            elif constraint is not None:
                table.record("altered", statement, f"dropped constraint {name}")
                if missing_ok:
                    self.dropped_if_exists.add(("constraint", constraint.qualified_name))
            emit(
                "drop_constraint",
                constraint=constraint,
                missing_ok=missing_ok,
                detail=name,
                close_match=close_match,
            )
        elif subtype == "AT_ValidateConstraint":
            constraint = table.constraints.get(name)
            if constraint is not None:
                constraint.not_valid = False
                constraint.record("altered", statement, "VALIDATE")
            emit("validate_constraint", constraint=constraint, detail=name)
        elif subtype in ("AT_EnableRowSecurity", "AT_DisableRowSecurity"):
            table.rls_enabled = subtype == "AT_EnableRowSecurity"
            table.record(
                "altered",
                statement,
                "ENABLE ROW LEVEL SECURITY" if table.rls_enabled else "DISABLE ROW LEVEL SECURITY",
            )
            emit("enable_rls" if table.rls_enabled else "disable_rls")
        elif subtype in ("AT_ForceRowSecurity", "AT_NoForceRowSecurity"):
            table.rls_forced = subtype == "AT_ForceRowSecurity"
            table.record("altered", statement, "FORCE ROW LEVEL SECURITY")
            emit("force_rls")
        elif subtype == "AT_AttachPartition":
            partition_node = cmd.get("def", {}).get("PartitionCmd", {}).get("name", {})
            partition = self.find_table(partition_node)
            if partition is not None:
                partition.partition_of = table.qualified_name
                partition.partition_statement = statement
                partition.record("altered", statement, f"attached to {table.qualified_name}")
                self.clone_into_partition(table, partition, statement, attach=True)
            emit("attach_partition", detail=json.dumps(strip_locations(cmd.get("def"))))
        elif subtype == "AT_DetachPartition":
            partition_cmd = cmd.get("def", {}).get("PartitionCmd", {})
            partition = self.find_table(partition_cmd.get("name", {}))
            if partition is not None and partition.partition_of == table.qualified_name:
                self.detach_partition(partition, statement)
            emit("detach_partition", concurrently=bool(partition_cmd.get("concurrent")))
        elif subtype in ("AT_AddInherit", "AT_DropInherit"):
            parent = self.find_table(cmd.get("def", {}).get("RangeVar", {}))
            if parent is not None:
                if subtype == "AT_AddInherit":
                    table.inherits.append(parent.qualified_name)
                    self.inherit_checks(parent, table, statement)
                else:
                    table.inherits = [p for p in table.inherits if p != parent.qualified_name]
            table.record("altered", statement, subtype.removeprefix("AT_"))
            emit("alter_table_other", detail=subtype.removeprefix("AT_"))
        elif subtype in ("AT_SetLogged", "AT_SetUnLogged"):
            table.unlogged = subtype == "AT_SetUnLogged"
            emit("set_logged")
        else:
            table.record("altered", statement, subtype.removeprefix("AT_"))
            emit("alter_table_other", detail=subtype.removeprefix("AT_"))

    # -- indexes -----------------------------------------------------------------------
    def _on_IndexStmt(self, statement: Statement) -> None:
        node = statement.node
        table = self.table_for_alter(node["relation"], statement)
        existed = self.existed_before_file(table)
        columns = [_index_elem_name(e, statement) for e in node.get("indexParams", ())]
        elements = [*node.get("indexParams", ()), *node.get("indexIncludingParams", ())]
        key_names = index_column_names(_index_key_name(e) for e in elements)
        name = node.get("idxname") or self.choose_relation_name(
            table.schema, table.name, name_addition(key_names), "idx"
        )
        key = (table.schema, name)
        concurrently = bool(node.get("concurrent"))
        if_not_exists = bool(node.get("if_not_exists"))
        guarded = if_not_exists or ("index", f"{table.schema}.{name}") in self.dropped_if_exists
        existing = self.model.indexes.get(key)
        if existing is not None and if_not_exists:
            self.change(
                "create_index",
                statement,
                table=table,
                index=existing,
                table_existed=existed,
                if_not_exists=True,
                guarded=True,
                concurrently=concurrently,
                noop=True,
            )
            return
        index = Index(
            name,
            schema=table.schema,
            table=table,
            columns=columns,
            expressions=[c for c in columns if isinstance(c, Expression)],
            include=[_index_elem_name(e, statement) for e in node.get("indexIncludingParams", ())],
            predicate=statement.expression(node.get("whereClause")),
            unique=bool(node.get("unique")),
            method=node.get("accessMethod", "btree"),
            key_names=key_names,
            key_options=[_index_elem_options(e) for e in node.get("indexParams", ())],
        )
        if existing is not None:
            self.drop_index_object(existing, statement, "replaced")
        table.indexes.append(index)
        self.model.indexes[key] = index
        self.born(index, statement)
        table.record("altered", statement, f"index {name}")
        if node["relation"].get("inh"):  # not ON ONLY: the partitions get theirs
            for partition in self.partitions_of(table):
                self.clone_index(index, partition, statement, attach=True)
        self.change(
            "create_index",
            statement,
            table=table,
            index=index,
            table_existed=existed,
            if_not_exists=if_not_exists,
            guarded=guarded,
            concurrently=concurrently,
        )

    def _on_ReindexStmt(self, statement: Statement) -> None:
        node = statement.node
        concurrently = any(
            p.get("DefElem", {}).get("defname") == "concurrently" for p in node.get("params", ())
        )
        what = str(node.get("kind", "")).removeprefix("REINDEX_OBJECT_")
        relation = node.get("relation")
        table: Table | None = None
        index: Index | None = None
        if relation:
            target = ".".join(filter(None, (relation.get("schemaname"), relation.get("relname"))))
            if what == "INDEX":
                schema, name = self.range_var(relation)
                index = self.model.indexes.get((schema, name))
                table = index.table if index is not None else None
            elif what == "TABLE":
                table = self.find_table(relation)
        else:
            target = str(node.get("name") or "")
        self.change(
            "reindex",
            statement,
            table=table,
            index=index,
            concurrently=concurrently,
            detail=f"{what} {target}".strip(),
        )

    # -- DROP ------------------------------------------------------------------------
    def _on_DropStmt(self, statement: Statement) -> None:
        node = statement.node
        remove_type = node.get("removeType", "")
        missing_ok = bool(node.get("missing_ok"))
        concurrently = bool(node.get("concurrent"))
        for item in node.get("objects", ()):
            names = _object_names(item)
            self.drop_one(remove_type, names, item, statement, missing_ok, concurrently)

    def drop_one(
        self,
        remove_type: str,
        names: list[str],
        item: Json,
        statement: Statement,
        missing_ok: bool,
        concurrently: bool,
    ) -> None:
        cascade = statement.node.get("behavior") == "DROP_CASCADE"

        def emit(kind: str, obj: SchemaObject | None, qualified: str, **fields: Any) -> None:
            if missing_ok:
                self.dropped_if_exists.add((kind.removeprefix("drop_"), qualified))
                if obj is None:
                    fields["close_match"] = self.close_match(kind, qualified)
            fields.setdefault("detail", qualified)
            fields.setdefault("cascade", cascade)
            self.change(
                kind,
                statement,
                object=obj,
                missing_ok=missing_ok,
                concurrently=concurrently,
                **fields,
            )

        if remove_type in ("OBJECT_TABLE", "OBJECT_FOREIGN_TABLE"):
            schema, name = self.split_name(names)
            if self.is_temporary(names[-2] if len(names) > 1 else None, name):
                self.temporary.discard(".".join(names))
                return
            table = self.find_table(
                {"schemaname": names[-2] if len(names) > 1 else None, "relname": name}
            )
            if table is not None:
                existed = self.existed_before_file(table)
                self.drop_table_object(table, statement, cascade=cascade)
                emit("drop_table", table, table.qualified_name, table=table, table_existed=existed)
            else:
                emit("drop_table", None, f"{schema}.{name}")
        elif remove_type == "OBJECT_INDEX":
            schema, name = self.split_name(names)
            index = self.model.indexes.get((schema, name))
            if index is None and len(names) < 2:
                index = self.model.indexes.get(("public", name))
            if index is not None:
                index.table.record("altered", statement, f"dropped index {name}")
                existed = self.existed_before_file(index.table)
                self.drop_index_object(index, statement)
                emit(
                    "drop_index",
                    index,
                    index.qualified_name,
                    index=index,
                    table=index.table,
                    table_existed=existed,
                )
            else:
                emit("drop_index", None, f"{schema}.{name}")
        elif remove_type in ("OBJECT_VIEW", "OBJECT_MATVIEW"):
            view = self.drop_simple(self.model.views, names, statement, emit, "drop_view")
            if view is not None and cascade:
                self.drop_views_reading(view.qualified_name, statement)
        elif remove_type == "OBJECT_TYPE":
            names = node_name(item.get("TypeName", {}).get("names")) or names
            schema, name = self.split_name(names)
            enum = self.model.types.get((schema, name))
            if enum is None and len(names) < 2:
                enum = self.model.types.get(("public", name))
            if enum is not None:
                self.drop_type_object(enum, statement, cascade)
            emit("drop_type", enum, enum.qualified_name if enum else f"{schema}.{name}")
        elif remove_type == "OBJECT_SEQUENCE":
            self.drop_simple(self.model.sequences, names, statement, emit, "drop_sequence")
        elif remove_type == "OBJECT_SCHEMA":
            name = names[-1] if names else ""
            schema_obj = self.model.schemas.get(name)
            self.drop_schema_object(name, statement, cascade)
            emit("drop_schema", schema_obj, name)
        elif remove_type == "OBJECT_EXTENSION":
            name = names[-1] if names else ""
            extension = self.model.extensions.pop(name, None)
            if extension is not None:
                self.died(extension, statement)
            emit("drop_extension", extension, name)
        elif remove_type in ("OBJECT_FUNCTION", "OBJECT_PROCEDURE", "OBJECT_ROUTINE"):
            with_args = item.get("ObjectWithArgs", {})
            schema, name = self.split_name(node_name(with_args.get("objname")))
            dropped: Function | None = None
            for function in self.functions_named(with_args):
                self.drop_function_object(function, statement, cascade)
                dropped = function
            emit("drop_function", dropped, f"{schema}.{name}")
        elif remove_type in ("OBJECT_TRIGGER", "OBJECT_POLICY"):
            # names: [schema?, table, object name]
            table_names, object_name = names[:-1], names[-1] if names else ""
            table = self.find_table(
                {
                    "schemaname": table_names[-2] if len(table_names) > 1 else None,
                    "relname": table_names[-1] if table_names else "",
                }
            )
            kind = "trigger" if remove_type == "OBJECT_TRIGGER" else "policy"
            registry: dict[str, Any] = {}
            if table is not None:
                registry = table.triggers if kind == "trigger" else table.policies
            obj = registry.pop(object_name, None)
            if obj is not None:
                self.died(obj, statement)
                if kind == "trigger" and table is not None:
                    for partition in self.partitions_of(table):
                        clone = partition.triggers.get(object_name)
                        if clone is not None and clone.cloned:
                            del partition.triggers[object_name]
                            self.died(clone, statement, "with its parent's trigger")
            qualified = f"{table.qualified_name if table else '.'.join(table_names)}.{object_name}"
            emit(f"drop_{kind}", obj, qualified, table=table)
        else:
            emit("drop_other", None, ".".join(names), detail=remove_type)

    # -- RENAME ------------------------------------------------------------------------
    def _on_RenameStmt(self, statement: Statement) -> None:
        node = statement.node
        rename_type = node.get("renameType", "")
        new_name = node.get("newname", "")
        relation = node.get("relation")
        if rename_type == "OBJECT_TABLE" and relation:
            if self.is_temporary(relation.get("schemaname"), relation.get("relname", "")):
                self.temporary_table(relation.get("schemaname"), new_name)
                return
            table = self.find_table(relation)
            if table is None and not node.get("missing_ok"):
                table = self.table_for_alter(relation, statement)  # it exists: made elsewhere
            if table is None:
                self.change(
                    "rename_table",
                    statement,
                    missing_ok=bool(node.get("missing_ok")),
                    detail=f"no table {relation.get('relname')}",
                )
                return
            old = self.rename_table(table, new_name, statement)
            self.change("rename_table", statement, table=table, detail=old)
        elif rename_type == "OBJECT_COLUMN" and relation:
            table = self.table_for_alter(relation, statement)
            old_name = node.get("subname", "")
            column = self.rename_column(table, old_name, new_name, statement)
            if column is not None:
                table.record("altered", statement, f"renamed column {old_name} -> {new_name}")
            self.change(
                "rename_column",
                statement,
                table=table,
                column=column,
                detail=f"{old_name} -> {new_name}",
            )
        elif rename_type == "OBJECT_TABCONSTRAINT" and relation:
            table = self.table_for_alter(relation, statement)
            old_name = node.get("subname", "")
            constraint: Constraint | None = table.constraints.pop(old_name, None)
            if constraint is not None:
                constraint.name = new_name
                table.constraints[new_name] = constraint
                constraint.record("renamed", statement, f"{old_name} -> {new_name}")
                for backing in table.indexes:
                    if backing.constraint is constraint:
                        self.rename_index(backing, new_name, statement)
            self.change(
                "rename_constraint",
                statement,
                table=table,
                constraint=constraint,
                detail=f"{old_name} -> {new_name}",
            )
        elif rename_type == "OBJECT_INDEX" and relation:
            schema, name = self.range_var(relation)
            index: Index | None = self.model.indexes.get((schema, name)) or self.model.indexes.get(
                ("public", name)
            )
            if index is not None:
                self.rename_index(index, new_name, statement)
                if index.constraint is not None:
                    # Renaming a constraint's index renames the constraint too.
                    table = index.table
                    table.constraints.pop(index.constraint.name, None)
                    index.constraint.name = new_name
                    table.constraints[new_name] = index.constraint
            self.change(
                "rename_index",
                statement,
                index=index,
                table=index.table if index else None,
                detail=f"{name} -> {new_name}",
            )
        elif rename_type in ("OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_SEQUENCE") and relation:
            registry: dict[tuple[str, str], Any] = (
                self.model.sequences if rename_type == "OBJECT_SEQUENCE" else self.model.views
            )
            key = self.range_var(relation)
            obj = registry.pop(key, None)
            if obj is not None:
                obj.name = new_name
                registry[(key[0], new_name)] = obj
                obj.record("renamed", statement, f"{key[1]} -> {new_name}")
                if rename_type != "OBJECT_SEQUENCE":
                    self.retarget_relation(".".join(key), obj.qualified_name)
            self.change("rename_other", statement, object=obj, detail=f"{key[1]} -> {new_name}")
        elif rename_type == "OBJECT_TYPE":
            names = _object_names(node.get("object") or {})
            key = self.split_name(names)
            enum = self.model.types.get(key)
            if enum is not None:
                self.rename_type(enum, new_name, statement)
            self.change("rename_type", statement, object=enum, detail=f"{key[1]} -> {new_name}")
        elif rename_type in ("OBJECT_FUNCTION", "OBJECT_PROCEDURE", "OBJECT_ROUTINE"):
            with_args = (node.get("object") or {}).get("ObjectWithArgs", {})
            targets = self.functions_named(with_args)
            for function in targets:
                self.rename_function(function, function.schema, new_name, statement)
            self.change(
                "rename_other",
                statement,
                object=targets[0] if targets else None,
                detail=f"function -> {new_name}",
            )
        elif rename_type in ("OBJECT_TRIGGER", "OBJECT_POLICY") and relation:
            table = self.find_table(relation)
            old_name = node.get("subname", "")
            owned: dict[str, Any] = {}
            if table is not None:
                owned = table.triggers if rename_type == "OBJECT_TRIGGER" else table.policies
            obj = owned.pop(old_name, None)
            if obj is not None:
                obj.name = new_name
                owned[new_name] = obj
                obj.record("renamed", statement, f"{old_name} -> {new_name}")
                if table is not None and rename_type == "OBJECT_TRIGGER":
                    for partition in self.partitions_of(table):
                        clone = partition.triggers.pop(old_name, None)
                        if clone is not None:
                            clone.name = new_name
                            partition.triggers[new_name] = clone
            self.change("rename_other", statement, object=obj, detail=f"{old_name} -> {new_name}")
        elif rename_type == "OBJECT_SCHEMA":
            old = node.get("subname", "")
            schema_obj = self.model.schemas.pop(old, None)
            if schema_obj is not None:
                schema_obj.name = new_name
                self.model.schemas[new_name] = schema_obj
            self.rename_schema(old, new_name, statement)
            self.change(
                "rename_schema", statement, object=schema_obj, detail=f"{old} -> {new_name}"
            )
        else:
            self.change("rename_other", statement, detail=rename_type)

    # -- types, sequences, views, schemas, extensions -----------------------------------
    def _on_CreateEnumStmt(self, statement: Statement) -> None:
        schema, name = self.split_name(node_name(statement.node.get("typeName")))
        values = [v.get("String", {}).get("sval", "") for v in statement.node.get("vals", ())]
        guarded = ("type", f"{schema}.{name}") in self.dropped_if_exists
        enum = EnumType(name, schema=schema, values=values)
        self.model.types[(schema, name)] = enum
        self.born(enum, statement)
        self.change("create_type", statement, object=enum, guarded=guarded)

    def _on_CreateRangeStmt(self, statement: Statement) -> None:
        self.create_type(statement, node_name(statement.node.get("typeName")), "range")

    def _on_CreateDomainStmt(self, statement: Statement) -> None:
        self.create_type(statement, node_name(statement.node.get("domainname")), "domain")

    def _on_CompositeTypeStmt(self, statement: Statement) -> None:
        relation = statement.node.get("typevar", {})
        names = [n for n in (relation.get("schemaname"), relation.get("relname")) if n]
        self.create_type(statement, names, "composite")

    def create_type(self, statement: Statement, names: list[str], variety: str) -> None:
        """A range, domain or composite type: what columns of that type are made of."""
        schema, name = self.split_name(names)
        user_type = EnumType(name, schema=schema, variety=variety)
        self.model.types[(schema, name)] = user_type
        self.born(user_type, statement)
        self.change("create_type", statement, object=user_type)

    def _on_AlterSeqStmt(self, statement: Statement) -> None:
        sequence = self.model.sequences.get(self.range_var(statement.node.get("sequence", {})))
        if sequence is not None:
            self.sequence_options(sequence, statement.node)
            sequence.record("altered", statement)
        self.change("alter_sequence", statement, object=sequence)

    def sequence_options(self, sequence: Sequence, node: Json) -> None:
        """OWNED BY table.column (or NONE)."""
        for option in node.get("options", ()):
            element = option.get("DefElem", {})
            if element.get("defname") != "owned_by":
                continue
            names = node_name(element.get("arg", {}).get("List", {}).get("items"))
            if names == ["none"] or len(names) < 2:
                sequence.owned_by = None
                continue
            table = self.find_table(
                {"schemaname": names[-3] if len(names) > 2 else None, "relname": names[-2]}
            )
            owner = table.qualified_name if table else ".".join(names[:-1])
            sequence.owned_by = f"{owner}.{names[-1]}"

    def _on_AlterEnumStmt(self, statement: Statement) -> None:
        node = statement.node
        schema, name = self.split_name(node_name(node.get("typeName")))
        enum = self.model.types.get((schema, name))
        if node.get("oldVal"):
            if enum is not None:
                enum.values = [node["newVal"] if v == node["oldVal"] else v for v in enum.values]
                enum.record("altered", statement, f"RENAME VALUE {node['oldVal']}")
            self.change("rename_enum_value", statement, object=enum, detail=node.get("newVal", ""))
            return
        value = node.get("newVal", "")
        if enum is not None and value not in enum.values:
            neighbour = node.get("newValNeighbor")
            if neighbour in enum.values:
                position = enum.values.index(neighbour) + (1 if node.get("newValIsAfter") else 0)
                enum.values.insert(position, value)
            else:
                enum.values.append(value)
            enum.record("altered", statement, f"ADD VALUE {value}")
        added = self.change(
            "add_enum_value",
            statement,
            object=enum,
            if_not_exists=bool(node.get("skipIfNewValExists")),
            detail=value,
        )
        if self.in_transaction:
            self.new_enum_values[value] = added

    def _on_CreateSeqStmt(self, statement: Statement) -> None:
        schema, name = self.range_var(statement.node["sequence"])
        if_not_exists = bool(statement.node.get("if_not_exists"))
        if (schema, name) in self.model.sequences and if_not_exists:
            self.change(
                "create_sequence",
                statement,
                object=self.model.sequences[(schema, name)],
                if_not_exists=True,
                guarded=True,
            )
            return
        sequence = Sequence(name, schema=schema)
        self.sequence_options(sequence, statement.node)
        self.model.sequences[(schema, name)] = sequence
        self.born(sequence, statement)
        self.change(
            "create_sequence",
            statement,
            object=sequence,
            if_not_exists=if_not_exists,
            guarded=if_not_exists,
        )

    def _on_ViewStmt(self, statement: Statement) -> None:
        node = statement.node
        schema, name = self.range_var(node["view"])
        options = {
            o.get("DefElem", {}).get("defname"): o.get("DefElem", {}).get("arg")
            for o in node.get("options", ())
        }
        replace = bool(node.get("replace"))
        self.define_view(
            statement,
            schema,
            name,
            replace,
            materialized=False,
            security_invoker="security_invoker" in options
            and _option_on(options["security_invoker"]),
        )

    def _on_CreateTableAsStmt(self, statement: Statement) -> None:
        node = statement.node
        into = node.get("into", {})
        schema, name = self.range_var(into.get("rel", {}))
        if node.get("objtype") == "OBJECT_MATVIEW":
            self.define_view(
                statement,
                schema,
                name,
                False,
                materialized=True,
                security_invoker=False,
                if_not_exists=bool(node.get("if_not_exists")),
            )
            return
        query = node.get("query", {}).get("SelectStmt")
        if_not_exists = bool(node.get("if_not_exists"))
        self.create_table_as(statement, into, query, if_not_exists)

    def create_table_as(
        self, statement: Statement, into: Json, query: Json | None, if_not_exists: bool = False
    ) -> None:
        """CREATE TABLE ... AS SELECT and SELECT ... INTO: columns from the select list where
        each resolves to a known column or a cast; otherwise the columns are unknown."""
        relation = into.get("rel", {})
        if relation.get("relpersistence") == "t":
            self.temporary_table(relation.get("schemaname"), relation.get("relname", ""))
            return
        schema, name = self.range_var(relation)
        existing = self.model.tables.get((schema, name))
        if existing is not None and if_not_exists and not existing.external:
            self.change(
                "create_table",
                statement,
                table=existing,
                if_not_exists=True,
                guarded=True,
                noop=True,
            )
            return
        if existing is not None:
            self.drop_table_object(existing, statement, "replaced by CREATE TABLE AS")
        table = Table(name, schema=schema)
        self.model.tables[(schema, name)] = table
        self.born(table, statement, "CREATE TABLE AS")
        columns = self.select_columns(query) if query else None
        names = node_name(into.get("colNames"))
        if columns is None or len(names) > len(columns):
            table.columns_known = False
        else:
            for position, (column_name, column_type) in enumerate(columns):
                final = names[position] if position < len(names) else column_name
                column = Column(final, table=table, type=column_type)
                table.columns[final] = column
                self.born(column, statement, "from the select list")
        self.change(
            "create_table",
            statement,
            table=table,
            table_existed=False,
            if_not_exists=if_not_exists,
            guarded=if_not_exists,
        )

    def select_columns(self, query: Json) -> list[tuple[str, TypeName]] | None:
        """(name, type) of each output column of a SELECT, or None when one cannot be known
        without running it (a function call, an expression without a cast, a subquery)."""
        while query.get("op", "SETOP_NONE") != "SETOP_NONE":  # UNION ...: the first branch
            query = query.get("larg", {}).get("SelectStmt", {})
        if query.get("valuesClause") or query.get("withClause"):
            return None
        sources: dict[str, Table] = {}
        order: list[Table] = []
        for item in query.get("fromClause", ()):
            for node in walk_dicts(item):
                if "RangeSubselect" in node or "RangeFunction" in node:
                    return None
                range_var = node.get("RangeVar")
                if range_var is None:
                    continue
                table = self.find_table(range_var)
                if table is None or not table.columns_known:
                    return None
                alias = range_var.get("alias", {}).get("aliasname") or table.name
                sources[alias] = table
                order.append(table)
        columns: list[tuple[str, TypeName]] = []
        for target in query.get("targetList", ()):
            result = target.get("ResTarget", {})
            value = result.get("val", {})
            ref = value.get("ColumnRef")
            if ref is not None:
                fields = node_name(ref.get("fields"))
                if not fields:
                    return None
                tables = [sources.get(fields[-2])] if len(fields) > 1 else order
                if any(t is None for t in tables):
                    return None
                if fields[-1] == "*":
                    columns += [
                        (c.name, base_type(c.type)) for t in tables if t for c in t.columns.values()
                    ]
                    continue
                found = [t.columns[fields[-1]] for t in tables if t and fields[-1] in t.columns]
                if len(found) != 1:
                    return None
                columns.append((result.get("name") or fields[-1], base_type(found[0].type)))
                continue
            cast = value.get("TypeCast")
            if cast is not None:
                name = result.get("name") or _figure_colname(value)[0] or "?column?"
                columns.append((name, self.type_name(cast.get("typeName"))))
                continue
            return None
        return columns

    def define_view(
        self,
        statement: Statement,
        schema: str,
        name: str,
        replace: bool,
        materialized: bool,
        security_invoker: bool,
        if_not_exists: bool = False,
    ) -> None:
        existing = self.model.views.get((schema, name))
        view = View(
            name,
            schema=schema,
            materialized=materialized,
            security_invoker=security_invoker,
            reads=sorted(
                {
                    ".".join(self.range_var(item["RangeVar"]))
                    for item in walk_dicts(statement.node.get("query"))
                    if "RangeVar" in item
                }
            ),
        )
        if existing is not None and (replace or if_not_exists):
            view.history = existing.history
            view.previous = existing.previous
            view.record("replaced", statement)
        else:
            self.born(view, statement)
        self.model.views[(schema, name)] = view
        self.change(
            "create_view",
            statement,
            object=view,
            guarded=replace or if_not_exists,
            if_not_exists=if_not_exists,
        )

    def alter_view(self, statement: Statement) -> None:
        """ALTER VIEW ... SET / RESET (security_invoker)."""
        view = self.model.views.get(self.range_var(statement.node["relation"]))
        if view is None:
            return
        for item in statement.node.get("cmds", ()):
            command = item.get("AlterTableCmd", {})
            subtype = command.get("subtype")
            if subtype not in ("AT_SetRelOptions", "AT_ResetRelOptions"):
                continue
            for option in command.get("def", {}).get("List", {}).get("items", ()):
                element = option.get("DefElem", {})
                if element.get("defname") == "security_invoker":
                    view.security_invoker = subtype == "AT_SetRelOptions" and _option_on(
                        element.get("arg")
                    )
        view.record("altered", statement)

    def _on_CreateSchemaStmt(self, statement: Statement) -> None:
        name = statement.node.get("schemaname", "")
        if_not_exists = bool(statement.node.get("if_not_exists"))
        existing = self.model.schemas.get(name)
        if existing is None:
            existing = Schema(name)
            self.model.schemas[name] = existing
            self.born(existing, statement)
        self.change(
            "create_schema",
            statement,
            object=existing,
            if_not_exists=if_not_exists,
            guarded=if_not_exists,
        )

    def _on_CreateExtensionStmt(self, statement: Statement) -> None:
        name = statement.node.get("extname", "")
        if_not_exists = bool(statement.node.get("if_not_exists"))
        extension = self.model.extensions.get(name)
        if extension is None:
            extension = Extension(name)
            for option in statement.node.get("options", ()):
                element = option.get("DefElem", {})
                if element.get("defname") == "schema":
                    extension.schema = element.get("arg", {}).get("String", {}).get("sval")
            self.model.extensions[name] = extension
            self.born(extension, statement)
        self.change(
            "create_extension",
            statement,
            object=extension,
            if_not_exists=if_not_exists,
            guarded=if_not_exists,
        )

    # -- functions, triggers, policies ----------------------------------------------------
    def _on_CreateFunctionStmt(self, statement: Statement) -> None:
        node = statement.node
        schema, name = self.split_name(node_name(node.get("funcname")))
        argument_types, output_types = self.function_parameters(node)
        function = Function(
            name,
            schema=schema,
            arguments=", ".join(map(str, argument_types)),
            argument_types=argument_types,
            procedure=bool(node.get("is_procedure")),
        )
        if node.get("returnType"):
            function.return_type = self.type_name(node["returnType"])
            function.returns_set = bool(node["returnType"].get("setof"))
        elif output_types and not function.procedure:
            # No RETURNS: the OUT parameter's type, or a record of several.
            function.return_type = output_types[0] if len(output_types) == 1 else TypeName("record")
        if function.return_type is not None:
            function.returns = str(function.return_type)
        for option in node.get("options", ()):
            element = option.get("DefElem", {})
            defname = element.get("defname")
            arg = element.get("arg")
            if defname == "language":
                function.language = (arg or {}).get("String", {}).get("sval", "sql")
            elif defname == "security":
                function.security_definer = bool((arg or {}).get("Boolean", {}).get("boolval"))
            elif defname == "volatility":
                function.volatility = (arg or {}).get("String", {}).get("sval", "volatile")
            elif defname == "set":
                self.function_setting(function, (arg or {}).get("VariableSetStmt", {}))
            elif defname == "as":
                bodies = [
                    item.get("String", {}).get("sval", "")
                    for item in (arg or {}).get("List", {}).get("items", ())
                ]
                function.body = "\n".join(bodies)
        if node.get("sql_body"):
            function.body = statement.text
        key = (schema, name, function.arguments)
        existing = self.model.functions.get(key)
        function.executors = set(self.default_executors.get(schema, self.default_executors[""]))
        if existing is not None and node.get("replace"):
            function.history = existing.history
            function.previous = existing.previous
            function.executors = existing.executors  # OR REPLACE keeps the privileges
            function.record("replaced", statement)
        else:
            self.born(function, statement)
        self.model.functions[key] = function
        self.change(
            "create_function", statement, object=function, guarded=bool(node.get("replace"))
        )

    def function_parameters(self, node: Json) -> tuple[list[TypeName], list[TypeName]]:
        """The input argument types (what identifies the function) and the output ones."""
        inputs: list[TypeName] = []
        outputs: list[TypeName] = []
        for item in node.get("parameters", ()):
            parameter = item.get("FunctionParameter", {})
            mode = parameter.get("mode", "FUNC_PARAM_DEFAULT")
            type_name = self.type_name(parameter.get("argType"))
            if mode in _INPUT_MODES:
                inputs.append(type_name)
            if mode in ("FUNC_PARAM_OUT", "FUNC_PARAM_INOUT", "FUNC_PARAM_TABLE"):
                outputs.append(type_name)
        return inputs, outputs

    def function_setting(self, function: Function, setting: Json) -> None:
        """A function's `SET name = value` (as proconfig keeps it: '""' for an empty value,
        the session's value for FROM CURRENT), `RESET name`."""
        name = setting.get("name", "")
        kind = setting.get("kind")
        if kind == "VAR_SET_VALUE":
            values = [_const_text(a) or "" for a in setting.get("args", ())]
            function.config[name] = ", ".join(values) if any(values) else '""'
        elif kind == "VAR_SET_CURRENT":
            function.config[name] = self.search_path if name == "search_path" else ""
        else:  # RESET, SET ... TO DEFAULT
            function.config.pop(name, None)

    def functions_named(self, with_args: Json) -> list[Function]:
        """The functions an ObjectWithArgs names: the one of that signature when argument
        types are given (`f(int, text)`, `f()`), every overload of the name otherwise."""
        schema, name = self.split_name(node_name(with_args.get("objname")))
        found = [
            f
            for (s, n, _), f in self.model.functions.items()
            if n == name
            and (s == schema or (len(with_args.get("objname", ())) < 2 and s == "public"))
        ]
        if with_args.get("args_unspecified"):
            return found
        arguments = ", ".join(
            str(self.type_name(t.get("TypeName"))) for t in with_args.get("objargs", ())
        )
        return [f for f in found if f.arguments == arguments]

    def _on_AlterFunctionStmt(self, statement: Statement) -> None:
        node = statement.node
        targets = self.functions_named(node.get("func", {}))
        for function in targets:
            for action in node.get("actions", ()):
                element = action.get("DefElem", {})
                if element.get("defname") == "set":
                    setting = element.get("arg", {}).get("VariableSetStmt", {})
                    self.function_setting(function, setting)
                elif element.get("defname") == "security":
                    function.security_definer = bool(
                        element.get("arg", {}).get("Boolean", {}).get("boolval")
                    )
            function.record("altered", statement)
        self.change("alter_function", statement, object=targets[0] if targets else None)

    def _on_CreateTrigStmt(self, statement: Statement) -> None:
        node = statement.node
        table = self.table_for_alter(node["relation"], statement)
        name = node.get("trigname", "")
        guarded = (
            bool(node.get("replace"))
            or ("trigger", f"{table.qualified_name}.{name}") in self.dropped_if_exists
        )
        events = int(node.get("events", 0))
        timing = int(node.get("timing", 0))
        trigger = Trigger(
            name,
            table=table,
            function=".".join(node_name(node.get("funcname"))),
            for_each_row=bool(node.get("row")),
            # pg_trigger's tgtype bits: 2 BEFORE, 64 INSTEAD OF (neither: AFTER); events 4
            # INSERT, 8 DELETE, 16 UPDATE, 32 TRUNCATE.
            timing="before" if timing & 2 else "instead of" if timing & 64 else "after",
            events=[e for bit, e in _TRIGGER_EVENTS if events & bit],
            arguments=[_const_text(a) or "" for a in node.get("args", ())],
            when=statement.expression(node.get("whenClause")),
            columns=node_name(node.get("columns")),
        )
        missing = self.missing_trigger_function(trigger.function)
        old = table.triggers.get(name)
        if old is not None:
            self.died(old, statement, "replaced")
        table.triggers[name] = trigger
        self.born(trigger, statement)
        if trigger.for_each_row:
            for partition in self.partitions_of(table):
                self.clone_trigger(trigger, partition, statement)
        self.change(
            "create_trigger",
            statement,
            table=table,
            object=trigger,
            guarded=guarded,
            detail=missing,
        )

    def _on_CreatePolicyStmt(self, statement: Statement) -> None:
        node = statement.node
        table = self.table_for_alter(node["table"], statement)
        name = node.get("policy_name", "")
        policy = Policy(
            name,
            table=table,
            command=node.get("cmd_name", "all"),
            permissive=bool(node.get("permissive")),
            roles=[_role_name(r) for r in node.get("roles", ())],
            roles_given=any(
                r.get("RoleSpec", {}).get("location", -1) >= 0 for r in node.get("roles", ())
            ),
            using=statement.expression(node.get("qual")),
            with_check=statement.expression(node.get("with_check")),
        )
        guarded = ("policy", f"{table.qualified_name}.{name}") in self.dropped_if_exists
        table.policies[name] = policy
        self.born(policy, statement)
        self.change("create_policy", statement, table=table, object=policy, guarded=guarded)

    def _on_AlterPolicyStmt(self, statement: Statement) -> None:
        node = statement.node
        table = self.find_table(node["table"])
        policy = table.policies.get(node.get("policy_name", "")) if table else None
        if policy is None:
            self.change("alter_policy", statement, detail="no such policy")
            return
        if node.get("roles"):
            policy.roles = [_role_name(r) for r in node["roles"]]
            policy.roles_given = True
        if node.get("qual"):
            policy.using = statement.expression(node["qual"])
        if node.get("with_check"):
            policy.with_check = statement.expression(node["with_check"])
        # A new USING or WITH CHECK redefines the policy: its findings belong here now.
        changed = node.get("qual") or node.get("with_check") or node.get("roles")
        policy.record("replaced" if changed else "altered", statement)
        self.change("alter_policy", statement, table=table, object=policy)

    # -- privileges ------------------------------------------------------------------------
    def _on_GrantStmt(self, statement: Statement) -> None:
        node = statement.node
        is_grant = bool(node.get("is_grant"))
        grantees = tuple(_role_name(r) for r in node.get("grantees", ()))
        privileges = tuple(
            p.get("AccessPriv", {}).get("priv_name", "all") for p in node.get("privileges", ())
        ) or ("all",)
        objtype = str(node.get("objtype", "")).removeprefix("OBJECT_").lower()
        names: list[str] = []
        if objtype in ("function", "procedure", "routine") and (
            "execute" in privileges or "all" in privileges
        ):
            functions: list[Function] = []
            if node.get("targtype") == "ACL_TARGET_ALL_IN_SCHEMA":
                schemas = {o.get("String", {}).get("sval") for o in node.get("objects", ())}
                functions = [f for k, f in self.model.functions.items() if k[0] in schemas]
            else:
                for item in node.get("objects", ()):
                    target = item.get("ObjectWithArgs", {})
                    schema, name = self.split_name(node_name(target.get("objname")))
                    names.append(f"{schema}.{name}")
                    functions += [
                        f for k, f in self.model.functions.items() if k[:2] == (schema, name)
                    ]
            for function in functions:
                if is_grant:
                    function.executors.update(grantees)
                else:
                    function.executors.difference_update(grantees)
                function.record("granted" if is_grant else "revoked", statement)
        else:
            for item in node.get("objects", ()):
                if "RangeVar" in item:
                    names.append(".".join(self.range_var(item["RangeVar"])))
                elif "String" in item:
                    names.append(item["String"].get("sval", ""))
        self.change(
            "grant" if is_grant else "revoke",
            statement,
            detail=objtype,
            grantees=grantees,
            privileges=privileges,
            names=tuple(names),
        )

    def _on_AlterDefaultPrivilegesStmt(self, statement: Statement) -> None:
        node = statement.node
        action = node.get("action", {})
        if action.get("objtype") not in ("OBJECT_FUNCTION", "OBJECT_ROUTINE"):
            return
        schemas = [""]
        for option in node.get("options", ()):
            element = option.get("DefElem", {})
            if element.get("defname") == "schemas":
                items = element.get("arg", {}).get("List", {}).get("items", ())
                schemas = [i.get("String", {}).get("sval", "") for i in items]
        grantees = {_role_name(r) for r in action.get("grantees", ())}
        for schema in schemas:
            roles = self.default_executors.setdefault(schema, set(self.default_executors[""]))
            if action.get("is_grant"):
                roles.update(grantees)
            else:
                roles.difference_update(grantees)
        if schemas == [""] and not action.get("is_grant"):
            # A per-schema default also loses what was revoked everywhere.
            for roles in self.default_executors.values():
                roles.difference_update(grantees)

    # -- comments, settings ----------------------------------------------------------------
    def _on_CommentStmt(self, statement: Statement) -> None:
        node = statement.node
        objtype = node.get("objtype", "")
        names = _object_names(node.get("object") or {})
        comment = node.get("comment")
        target: SchemaObject | None = None
        if objtype == "OBJECT_TABLE":
            table = self.find_table(
                {
                    "schemaname": names[-2] if len(names) > 1 else None,
                    "relname": names[-1] if names else "",
                }
            )
            if table is not None:
                table.comment = comment
                target = table
        elif objtype == "OBJECT_COLUMN" and len(names) >= 2:
            table = self.find_table(
                {"schemaname": names[-3] if len(names) > 2 else None, "relname": names[-2]}
            )
            if table is not None and names[-1] in table.columns:
                column = table.columns[names[-1]]
                column.comment = comment
                target = column
        if target is not None:
            target.record("commented", statement, comment or "")
        self.change("comment", statement, object=target, detail=comment or "")

    def _on_VariableSetStmt(self, statement: Statement) -> None:
        node = statement.node
        name = str(node.get("name", ""))
        kind = node.get("kind")
        if name == "search_path" and kind == "VAR_SET_VALUE":
            values = [_const_text(a) or "" for a in node.get("args", ())]
            self.set_search_path(_schema_list(values), bool(node.get("is_local")))
        elif name == "search_path" and kind in ("VAR_RESET", "VAR_SET_DEFAULT"):
            self.set_search_path(["public"], bool(node.get("is_local")))
        if name == "timezone":
            # The session's time zone, per file: timestamp <-> timestamptz keeps the stored
            # values (no rewrite) when it is UTC.
            zones = [_const_text(a) for a in node.get("args", ())]
            zone = (zones[0] or "") if zones and kind == "VAR_SET_VALUE" else ""
            utc = zone.upper() in _UTC_ZONES
            self.time_zones[id(statement.source)] = "UTC" if utc else zone
        if name in ("lock_timeout", "statement_timeout"):
            settings = [_const_text(a) for a in node.get("args", ())]
            # 0 (or '0s', '0ms') turns the timeout off; RESET returns to the default (off).
            on = kind == "VAR_SET_VALUE" and any(
                v is not None and v.strip().rstrip("mns").strip() not in ("0", "") for v in settings
            )
            setattr(self, name, on)
            if node.get("is_local"):
                self.local_settings.add(name)
        self.change("set", statement, detail=name)

    def _on_SelectStmt(self, statement: Statement) -> None:
        """SELECT set_config('search_path', ...) (pg_dump's preamble); SELECT ... INTO a new
        table."""
        node = statement.node
        if node.get("intoClause"):
            self.create_table_as(statement, node["intoClause"], node)
            return
        self.model.opaque.append(statement)
        for item in walk_dicts(node.get("targetList")):
            call = item.get("FuncCall")
            if call is not None and self.model.functions:
                self.called(statement, statement.start, ".".join(node_name(call.get("funcname"))))
        for target in node.get("targetList", ()):
            call = target.get("ResTarget", {}).get("val", {}).get("FuncCall")
            if call is None or node_name(call.get("funcname"))[-1:] != ["set_config"]:
                continue
            args = [_const_text(a) for a in call.get("args", ())]
            if len(args) == 3 and args[0] == "search_path" and args[1] is not None:
                self.set_search_path(_schema_list([args[1]]), args[2] == "true")

    def _on_AlterObjectSchemaStmt(self, statement: Statement) -> None:
        """ALTER ... SET SCHEMA: the object moves, what refers to it follows."""
        node = statement.node
        kind = node.get("objectType", "")
        new_schema = node.get("newschema", "")
        moved: SchemaObject | None = None
        if kind in ("OBJECT_TABLE", "OBJECT_FOREIGN_TABLE") and node.get("relation"):
            table = self.find_table(node["relation"])
            if table is not None:
                self.move_table(table, new_schema, statement)
                moved = table
        elif kind in ("OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_SEQUENCE") and node.get("relation"):
            registry: dict[tuple[str, str], Any] = (
                self.model.sequences if kind == "OBJECT_SEQUENCE" else self.model.views
            )
            key = self.range_var(node["relation"])
            obj = registry.pop(key, None)
            if obj is not None:
                obj.schema = new_schema
                registry[(new_schema, obj.name)] = obj
                obj.record("renamed", statement, f"{'.'.join(key)} -> {obj.qualified_name}")
                if kind != "OBJECT_SEQUENCE":
                    self.retarget_relation(".".join(key), obj.qualified_name)
                moved = obj
        elif kind in ("OBJECT_TYPE", "OBJECT_DOMAIN"):
            key = self.split_name(_object_names(node.get("object") or {}))
            enum = self.model.types.pop(key, None)
            if enum is not None:
                enum.schema = new_schema
                self.model.types[(new_schema, enum.name)] = enum
                enum.record("renamed", statement, f"{'.'.join(key)} -> {enum.qualified_name}")
                for table in self.model.tables.values():
                    for column in table.columns.values():
                        if column.type.name == enum.name and column.type.schema in (None, key[0]):
                            column.type = TypeName(
                                enum.name, new_schema, column.type.modifiers, column.type.array
                            )
                moved = enum
        elif kind in ("OBJECT_FUNCTION", "OBJECT_PROCEDURE", "OBJECT_ROUTINE"):
            for function in self.functions_named(node.get("object", {}).get("ObjectWithArgs", {})):
                self.rename_function(function, new_schema, function.name, statement)
                moved = function
        self.change("set_schema", statement, object=moved, detail=f"{kind} -> {new_schema}")

    def _on_TransactionStmt(self, statement: Statement) -> None:
        kind = statement.node.get("kind", "")
        if kind in ("TRANS_STMT_BEGIN", "TRANS_STMT_START"):
            # In a multi-statement query (prisma, golang-migrate) BEGIN turns the implicit
            # transaction into an explicit one: only a BEGIN inside a real block nests.
            nested = self.explicit is not None or (
                self.runner_transaction and self.profile.transaction_mode != "implicit"
            )
            begin = self.change("begin", statement, detail=kind, nested=nested)
            begin.closed = False
            if self.explicit is None:
                self.explicit = begin
        elif kind in ("TRANS_STMT_COMMIT", "TRANS_STMT_ROLLBACK"):
            self.change("commit" if kind == "TRANS_STMT_COMMIT" else "rollback", statement)
            if self.explicit is not None:
                self.explicit.closed = True
            self.end_transaction()
        else:
            self.change("transaction", statement, detail=kind)

    # -- data changes and maintenance --------------------------------------------------
    def _on_UpdateStmt(self, statement: Statement) -> None:
        self.data_change("update", statement)

    def _on_DeleteStmt(self, statement: Statement) -> None:
        self.data_change("delete", statement)

    def data_change(self, kind: str, statement: Statement) -> None:
        relation = statement.node.get("relation")
        if not relation:
            return
        table = self.table_for_alter(relation, statement)
        change = self.change(
            kind, statement, table=table, has_where=bool(statement.node.get("whereClause"))
        )
        if kind == "delete" and not change.has_where and self.in_transaction:
            self.emptied.add(id(table))
        if kind != "update":
            return
        assigned = {
            target.get("ResTarget", {}).get("name")
            for target in statement.node.get("targetList", ())
        }
        # A constraint added earlier in this file on the columns the UPDATE fills was checked
        # against the rows before the backfill.
        for earlier in self.file_changes:
            if (
                earlier.table is table
                and earlier.backfill is None
                and _needs_backfill_first(earlier)
                and earlier.table_existed
                and assigned & _constrained_columns(earlier)
            ):
                earlier.backfill = change

    def _on_TruncateStmt(self, statement: Statement) -> None:
        cascade = statement.node.get("behavior") == "DROP_CASCADE"
        for item in statement.node.get("relations", ()):
            relation = item.get("RangeVar")
            if relation:
                table = self.table_for_alter(relation, statement)
                self.change("truncate", statement, table=table, cascade=cascade)
                if self.in_transaction:
                    self.emptied.add(id(table))

    def _on_VacuumStmt(self, statement: Statement) -> None:
        node = statement.node
        options = frozenset(
            str(o.get("DefElem", {}).get("defname", "")).lower() for o in node.get("options", ())
        )
        relations = [
            r.get("VacuumRelation", {}).get("relation") for r in node.get("rels", ()) or ()
        ]
        kind = "vacuum" if node.get("is_vacuumcmd", True) else "analyze"
        if not relations:
            self.change(kind, statement, options=options, detail="all tables")
        for relation in relations:
            if relation:
                table = self.table_for_alter(relation, statement)
                self.change(kind, statement, table=table, options=options)

    def _on_ClusterStmt(self, statement: Statement) -> None:
        relation = statement.node.get("relation")
        table = self.table_for_alter(relation, statement) if relation else None
        self.change("cluster", statement, table=table)

    def _on_DropdbStmt(self, statement: Statement) -> None:
        self.change("drop_database", statement, detail=statement.node.get("dbname", ""))


_LIKE_CONSTRAINTS = LIKE_CONSTRAINTS
_LIKE_INDEXES = LIKE_INDEXES


def _distinct_index_constraints(
    items: list[tuple[Json, str | None]],
) -> list[tuple[Json, str | None]]:
    """transformIndexConstraints: index specifications of one statement that repeat an
    earlier one (`id int PRIMARY KEY UNIQUE`) make no index of their own; an unnamed one
    that is kept takes the name of a named duplicate."""

    def shape(node: Json, column: str | None) -> str:
        keys = node_name(node.get("keys")) or ([column] if column else [])
        fields = {
            k: v
            for k, v in node.items()
            if k
            in (
                "including",
                "where_clause",
                "access_method",
                "exclusions",
                "deferrable",
                "initdeferred",
                "nulls_not_distinct",
            )
        }
        return json.dumps([keys, strip_locations(fields)], sort_keys=True)

    kept: list[tuple[Json, str | None]] = []
    shapes: list[str] = []
    for node, column in items:
        mine = shape(node, column)
        if mine in shapes:
            prior_node, prior_column = kept[shapes.index(mine)]
            if not prior_node.get("conname") and node.get("conname"):
                kept[shapes.index(mine)] = (
                    {**prior_node, "conname": node["conname"]},
                    prior_column,
                )
            continue
        kept.append((node, column))
        shapes.append(mine)
    return kept


_TABLE_CONSTRAINTS = {
    "CONSTR_PRIMARY": "primary_key",
    "CONSTR_UNIQUE": "unique",
    "CONSTR_CHECK": "check",
    "CONSTR_FOREIGN": "foreign_key",
    "CONSTR_EXCLUSION": "exclude",
}


def _const_text(node: Json | None) -> str | None:
    """The text of an A_Const (or a bare String/Integer) node."""
    if not node:
        return None
    const = node.get("A_Const", node)
    for key, inner in (
        ("ival", "ival"),
        ("sval", "sval"),
        ("fval", "fval"),
        ("boolval", "boolval"),
    ):
        if key in const:
            value = const[key]
            if isinstance(value, dict):
                return str(value.get(inner, 0 if key == "ival" else ""))
            return str(value)
    if "String" in node:
        return str(node["String"].get("sval", ""))
    if "Integer" in node:
        return str(node["Integer"].get("ival", 0))
    if "TypeCast" in node:
        return _const_text(node["TypeCast"].get("arg"))
    if const.get("isnull"):
        return "NULL"
    return None


def _first_statement(steps: list[BlockStep]) -> Statement | None:
    """The first static statement of a branch (what its guard is about)."""
    for step in steps:
        if step.kind == "sql" and step.statement is not None:
            return step.statement
        if step.kind == "if":
            inner = _first_statement(step.then)
            if inner is not None:
                return inner
    return None


def _schema_list(values: list[str]) -> list[str]:
    """The schemas of a search_path setting: `'app, public'`, `"$user"`, `'"My Schema"'`."""
    schemas: list[str] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if part.startswith('"') and part.endswith('"') and len(part) >= 2:
                schemas.append(part[1:-1].replace('""', '"'))
            elif part:
                schemas.append(part.lower())
    return schemas


def _object_names(item: Json) -> list[str]:
    if "List" in item:
        return node_name(item["List"].get("items"))
    if "String" in item:
        return [item["String"].get("sval", "")]
    if "TypeName" in item:
        return node_name(item["TypeName"].get("names"))
    if "ObjectWithArgs" in item:
        return node_name(item["ObjectWithArgs"].get("objname"))
    return []


def _index_key_name(item: Json) -> str | None:
    """The name PostgreSQL gives an index key: the column's, or what FigureIndexColname makes
    of an expression (None: it is called `expr`)."""
    element = item.get("IndexElem", item)
    if element.get("indexcolname"):
        return str(element["indexcolname"])
    if element.get("name"):
        return str(element["name"])
    return _figure_colname(element.get("expr"))[0]


_VALUE_FUNCTION_NAMES = {
    "SVFOP_CURRENT_DATE": "current_date",
    "SVFOP_CURRENT_TIME": "current_time",
    "SVFOP_CURRENT_TIME_N": "current_time",
    "SVFOP_CURRENT_TIMESTAMP": "current_timestamp",
    "SVFOP_CURRENT_TIMESTAMP_N": "current_timestamp",
    "SVFOP_LOCALTIME": "localtime",
    "SVFOP_LOCALTIME_N": "localtime",
    "SVFOP_LOCALTIMESTAMP": "localtimestamp",
    "SVFOP_LOCALTIMESTAMP_N": "localtimestamp",
    "SVFOP_CURRENT_ROLE": "current_role",
    "SVFOP_CURRENT_USER": "current_user",
    "SVFOP_USER": "user",
    "SVFOP_SESSION_USER": "session_user",
    "SVFOP_CURRENT_CATALOG": "current_catalog",
    "SVFOP_CURRENT_SCHEMA": "current_schema",
}


def _figure_colname(node: Json | None) -> tuple[str | None, int]:
    """FigureColnameInternal: the name PostgreSQL derives from an expression, with its
    strength (2: a real name, 1: a fallback such as `case`, 0: none)."""
    if not isinstance(node, dict) or len(node) != 1:
        return None, 0
    ((kind, fields),) = node.items()
    if kind == "ColumnRef":
        names = [n for n in node_name(fields.get("fields")) if n != "*"]
        return (names[-1], 2) if names else (None, 0)
    if kind == "A_Indirection":
        names = node_name(fields.get("indirection"))
        return (names[-1], 2) if names else _figure_colname(fields.get("arg"))
    if kind == "FuncCall":
        names = node_name(fields.get("funcname"))
        return (names[-1], 2) if names else (None, 0)
    if kind == "A_Expr":
        return ("nullif", 2) if fields.get("kind") == "AEXPR_NULLIF" else (None, 0)
    if kind == "TypeCast":
        name, strength = _figure_colname(fields.get("arg"))
        if strength <= 1:
            type_names = node_name(fields.get("typeName", {}).get("names"))
            if type_names:
                return type_names[-1], 1
        return name, strength
    if kind == "CollateClause":
        return _figure_colname(fields.get("arg"))
    if kind == "CaseExpr":
        name, strength = _figure_colname(fields.get("defresult"))
        return (name, strength) if strength > 1 else ("case", 1)
    if kind == "SubLink":
        sublink = fields.get("subLinkType")
        if sublink == "EXISTS_SUBLINK":
            return "exists", 2
        if sublink == "ARRAY_SUBLINK":
            return "array", 2
        return None, 0
    fixed = {
        "A_ArrayExpr": ("array", 1),
        "RowExpr": ("row", 1),
        "CoalesceExpr": ("coalesce", 2),
        "GroupingFunc": ("grouping", 2),
        "XmlSerialize": ("xmlserialize", 2),
    }
    if kind in fixed:
        return fixed[kind]
    if kind == "MinMaxExpr":
        return ("greatest" if fields.get("op") == "IS_GREATEST" else "least"), 2
    if kind == "SQLValueFunction":
        name = _VALUE_FUNCTION_NAMES.get(str(fields.get("op")))
        return (name, 2) if name else (None, 0)
    return None, 0


def _index_elem_options(item: Json) -> str:
    """What follows an index key: collation, operator class, DESC, NULLS FIRST/LAST."""
    element = item.get("IndexElem", item)
    words = []
    collation = node_name(element.get("collation"))
    if collation:
        words.append("COLLATE " + ".".join(quote_ident(n) for n in collation))
    opclass = node_name(element.get("opclass"))
    if opclass:
        words.append(".".join(quote_ident(n) for n in opclass))
    ordering = element.get("ordering")
    if ordering in ("SORTBY_ASC", "SORTBY_DESC"):
        words.append(ordering.removeprefix("SORTBY_"))
    nulls = element.get("nulls_ordering")
    if nulls in ("SORTBY_NULLS_FIRST", "SORTBY_NULLS_LAST"):
        words.append("NULLS " + nulls.removeprefix("SORTBY_NULLS_"))
    return " ".join(words)


def _index_elem_name(item: Json, statement: Statement) -> str | Expression:
    element = item.get("IndexElem", item)
    if element.get("name"):
        return str(element["name"])
    return statement.expression(element.get("expr")) or "<expression>"


def _option_on(arg: Json | None) -> bool:
    """A boolean option's value (`WITH (security_invoker)` alone means true)."""
    value = _const_text(arg) if arg else "true"
    return str(value).lower() in ("true", "on", "1", "yes")


def _fk_actions_written(statement: Statement, pk_table: Json) -> bool:
    """Whether the REFERENCES clause at `pk_table` says ON DELETE or ON UPDATE (the parse
    tree cannot tell an omitted action from NO ACTION)."""
    offset = statement.offset_of(pk_table)
    if offset is None:
        return True  # nothing to read: do not claim the actions are missing
    return references_actions_written(statement.text, offset - statement.start)


# Parameter modes of a function's identity (OUT and TABLE parameters are not part of it).
_INPUT_MODES = ("FUNC_PARAM_DEFAULT", "FUNC_PARAM_IN", "FUNC_PARAM_INOUT", "FUNC_PARAM_VARIADIC")

_TRIGGER_EVENTS = ((4, "insert"), (8, "delete"), (16, "update"), (32, "truncate"))


def _role_name(node: Json) -> str:
    role = node.get("RoleSpec", {})
    if role.get("rolename"):
        return str(role["rolename"])
    return str(role.get("roletype", "")).removeprefix("ROLESPEC_").lower()


def _generated_virtual(definition: Json) -> bool:
    """A generated column that is computed when read (PostgreSQL 18's default), not stored."""
    return any(
        item.get("Constraint", {}).get("contype") == "CONSTR_GENERATED"
        and item["Constraint"].get("generated_kind") == "v"
        for item in definition.get("constraints", ())
    )


def _using_the_column(
    node: Json, column: str, old: TypeName | None, new: TypeName, replayer: PostgresReplayer
) -> bool:
    """USING that is the column itself, or a cast of it to its old or new type: PostgreSQL
    then converts as it would without USING (no rewrite when that is binary-compatible)."""
    while "TypeCast" in node:
        cast = node["TypeCast"]
        to = replayer.type_name(cast.get("typeName"))
        if not any(_same_type(to, t) for t in (new, old) if t is not None):
            return False
        node = cast.get("arg") or {}
    fields = node.get("ColumnRef", {}).get("fields", ())
    names = [f.get("String", {}).get("sval") for f in fields]
    return bool(names) and names[-1] == column


def _same_type(a: TypeName, b: TypeName) -> bool:
    return (a.name, a.schema, a.modifiers, a.array) == (b.name, b.schema, b.modifiers, b.array)


# The result types of functions defaults call (their last name).
_FUNCTION_TYPES = {
    "now": "timestamptz",
    "transaction_timestamp": "timestamptz",
    "statement_timestamp": "timestamptz",
    "clock_timestamp": "timestamptz",
    "gen_random_uuid": "uuid",
    "uuidv4": "uuid",
    "uuidv7": "uuid",
    "uuid_generate_v1": "uuid",
    "uuid_generate_v1mc": "uuid",
    "uuid_generate_v4": "uuid",
    "nextval": "int8",
    "currval": "int8",
    "random": "float8",
    "timeofday": "text",
    "md5": "text",
    "lower": "text",
    "upper": "text",
    "concat": "text",
    "to_jsonb": "jsonb",
    "jsonb_build_object": "jsonb",
    "jsonb_build_array": "jsonb",
    "json_build_object": "json",
    "json_build_array": "json",
    "gen_random_bytes": "bytea",
}

# SQLValueFunction operations (CURRENT_TIMESTAMP ...) by prefix -> their types.
_SQL_VALUE_TYPES = (
    ("SVFOP_CURRENT_DATE", "date"),
    ("SVFOP_CURRENT_TIMESTAMP", "timestamptz"),
    ("SVFOP_CURRENT_TIME", "timetz"),
    ("SVFOP_LOCALTIMESTAMP", "timestamp"),
    ("SVFOP_LOCALTIME", "time"),
    ("SVFOP_CURRENT_ROLE", "name"),
    ("SVFOP_CURRENT_USER", "name"),
    ("SVFOP_SESSION_USER", "name"),
    ("SVFOP_USER", "name"),
    ("SVFOP_CURRENT_CATALOG", "name"),
    ("SVFOP_CURRENT_SCHEMA", "name"),
)

# Time zone names whose offset is always zero.
_UTC_ZONES = frozenset({"UTC", "ETC/UTC", "UCT", "ETC/UCT", "GMT", "ETC/GMT", "Z", "ZULU", "0"})


def _cast_type_names(node: Any) -> set[str]:
    """The type names an expression casts to (`'new'::status` -> {'status'})."""
    found: set[str] = set()
    for item in walk_dicts(node):
        cast = item.get("TypeCast")
        if cast is not None:
            names = node_name(cast.get("typeName", {}).get("names"))
            if names:
                found.add(TYPE_DISPLAY.get(names[-1], names[-1]))
    return found


_USES_EXTENSIONS = frozenset({"CreateStmt", "AlterTableStmt", "IndexStmt", "ViewStmt"})


# Types, functions and operator classes of common extensions -> the extension.
_EXTENSION_OBJECTS = {
    "citext": "citext",
    "hstore": "hstore",
    "ltree": "ltree",
    "lquery": "ltree",
    "geometry": "postgis",
    "geography": "postgis",
    "vector": "vector",
    "halfvec": "vector",
    "cube": "cube",
    "uuid_generate_v1": "uuid-ossp",
    "uuid_generate_v1mc": "uuid-ossp",
    "uuid_generate_v3": "uuid-ossp",
    "uuid_generate_v4": "uuid-ossp",
    "uuid_generate_v5": "uuid-ossp",
    "uuid_nil": "uuid-ossp",
    "gen_random_uuid": "pgcrypto",
    "gen_random_bytes": "pgcrypto",
    "crypt": "pgcrypto",
    "gen_salt": "pgcrypto",
    "digest": "pgcrypto",
    "hmac": "pgcrypto",
    "pgp_sym_encrypt": "pgcrypto",
    "pgp_sym_decrypt": "pgcrypto",
    "gin_trgm_ops": "pg_trgm",
    "gist_trgm_ops": "pg_trgm",
    "similarity": "pg_trgm",
    "word_similarity": "pg_trgm",
    "unaccent": "unaccent",
    "earth_distance": "earthdistance",
    "ll_to_earth": "earthdistance",
}


_WORD = re.compile(r"[a-z_][a-z0-9_]*")


def _mentions_extension_object(text: str) -> bool:
    """A quick test (one C pass over the text) before walking a statement's tree."""
    return not _EXTENSION_OBJECTS.keys().isdisjoint(_WORD.findall(text.lower()))


def _extension_names(node: Any) -> Iterator[tuple[str, bool]]:
    """(name, schema-qualified) of the types, functions and operator classes a node uses."""
    for item in walk_dicts(node):
        for key in ("FuncCall", "TypeName"):
            inner = item.get(key)
            if inner is not None:
                names = node_name(inner.get("funcname" if key == "FuncCall" else "names"))
                if names:
                    yield names[-1], len(names) > 1 and names[0] != "pg_catalog"
        opclass = item.get("opclass")
        if isinstance(opclass, list):
            names = node_name(opclass)
            if names:
                yield names[-1], len(names) > 1


def _needs_backfill_first(change: Change) -> bool:
    """SET NOT NULL, CHECK and PRIMARY KEY reject the NULLs a backfill would fill; foreign keys
    and UNIQUE accept NULL, so adding them before filling a new column is harmless."""
    if change.kind == "set_not_null":
        return True
    constraint = change.constraint
    return (
        change.kind == "add_constraint"
        and constraint is not None
        and constraint.type in ("check", "primary_key")
    )


def _constrained_columns(change: Change) -> set[str]:
    """The columns whose values a SET NOT NULL or an added constraint checks."""
    if change.kind == "set_not_null":
        return {change.detail}
    constraint = change.constraint
    if constraint is None:
        return set()
    return {c for c in constraint.columns if isinstance(c, str)} | constraint.referenced_columns
