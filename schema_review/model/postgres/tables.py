"""CREATE TABLE (LIKE, INHERITS, PARTITION OF, AS), ALTER TABLE and its commands, indexes."""

from __future__ import annotations

import json
import sys
from typing import Any

from schema_review.model.changes import (
    Change,
    assignment_castable,
    type_display,
)
from schema_review.model.naming import index_column_names, name_addition
from schema_review.model.objects import (
    FK_ACTIONS,
    Column,
    Constraint,
    Index,
    Table,
    TypeName,
    shared_names,
)
from schema_review.model.operations import (
    LIKE_CONSTRAINTS,
    LIKE_INDEXES,
    base_type,
)
from schema_review.model.postgres.base import TABLE_CONSTRAINTS, Json, PostgresBase, same_type
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


class TableStatements(PostgresBase):
    # -- CREATE TABLE ----------------------------------------------------------------
    def table_exists_already(
        self, statement: Statement, schema: str, name: str, if_not_exists: bool, what: str
    ) -> bool:
        """Before a table is created: True when IF NOT EXISTS meets a table the migrations
        made (the statement does nothing); otherwise a table already there is replaced (the
        model missed its drop). A stand-in for a table made outside the migrations just
        gives way, and foreign keys that reference it stay."""
        existing = self.model.tables.get((schema, name))
        if existing is None:
            return False
        if existing.external:
            del self.model.tables[(schema, name)]
            return False
        if if_not_exists:
            self.change(
                "create_table",
                statement,
                table=existing,
                if_not_exists=True,
                guarded=True,
                noop=True,
            )
            return True
        self.drop_table_object(existing, statement, f"replaced by {what}")
        return False

    def _on_CreateStmt(self, statement: Statement) -> None:
        node = statement.node
        if node["relation"].get("relpersistence") == "t":
            relation = node["relation"]
            self.temporary_table(relation.get("schemaname"), relation.get("relname", ""))
            return
        schema, name = self.range_var(node["relation"])
        if self.table_exists_already(
            statement, schema, name, bool(node.get("if_not_exists")), "CREATE TABLE"
        ):
            return
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
            # Set only when there are parents: the default is the shared empty list.
            inherits = [p.qualified_name for p in parents if p is not None]
            if inherits:
                table.inherits = inherits
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
                    if constraint.get("contype") in TABLE_CONSTRAINTS:
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
            kind = TABLE_CONSTRAINTS[constraint_node["contype"]]
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
        self.change_of(
            "create_table",
            statement,
            {
                "table": table,
                "if_not_exists": bool(node.get("if_not_exists")),
                "guarded": guarded,
                "table_existed": False,
            },
        )

    def add_column(
        self, table: Table, definition: Json, statement: Statement, merge: Column | None = None
    ) -> Column:
        """A column definition; `merge`: the inherited column of that name it redefines."""
        type_node = definition.get("typeName")
        column_type = self.type_name(type_node)
        # Interned: a long history names the same columns (id, created_at) over and over.
        column = Column(sys.intern(definition.get("colname", "")), table, column_type)
        if merge is not None:  # the parent's NOT NULL and default stay unless redefined
            column.not_null = merge.not_null
            column.default = merge.default
        if definition.get("is_not_null"):
            column.not_null = True
        serial = column_type.serial
        if serial:
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
        if serial:  # as the server stores it: a default taken from the sequence
            column.default = nextval_default(column.serial_sequence or "")
        table.columns[column.name] = column
        self.born(column, statement, "", statement.offset_of(definition))
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
        kind = TABLE_CONSTRAINTS.get(contype or "")
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
                constraint.columns = shared_names(column_refs(node.get("raw_expr")))
        elif kind == "foreign_key":
            pk_table = node.get("pktable", {})
            constraint.ref_table = ".".join(self.range_var(pk_table))
            constraint.ref_columns = shared_names(node_name(node.get("pk_attrs")))
            if not constraint.ref_columns:
                referenced = self.find_table(pk_table)
                if referenced is not None and referenced.primary_key is not None:
                    constraint.ref_columns = shared_names(list(referenced.primary_key.columns))
            actions = (node.get("fk_del_action", "a"), node.get("fk_upd_action", "a"))
            constraint.actions_written = _fk_actions_written(statement, pk_table, actions)
            constraint.actions_given = bool(constraint.actions_written)
            constraint.on_delete = FK_ACTIONS.get(actions[0], "NO ACTION")
            constraint.on_update = FK_ACTIONS.get(actions[1], "NO ACTION")
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
        # One statement rewrites its table once, whatever number of columns it retypes: the
        # first rewriting type change speaks for the statement, the others point to it.
        retyped = [
            c
            for c in self.model.changes[first:]
            if c.kind == "alter_column_type" and c.table is table and c.rewrites_table
        ]
        if retyped:
            retyped[0].type_changes = retyped
            for later in retyped[1:]:
                later.same_rewrite = retyped[0]
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
            return self.change_of(
                kind, statement, {"table": table, "table_existed": existed, **fields}
            )

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
            added = emit(
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
                if constraint_node.get("contype") in TABLE_CONSTRAINTS:
                    constraint = self.add_constraint(table, constraint_node, statement, column.name)
                    if constraint is not None:
                        added.inline_constraints += (constraint.snapshot(),)
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
                using_expression=statement.expression(using) if using else None,
                stale_default=stale_default,
                default_type=type_display(default_type) if default_type else "",
                enum_swap=enum_swap,
                enum_alterable=enum_swap and self.enum_alterable(old_type, new_type),
                time_zone=self.session_time_zone(statement),
                pg_version=self.profile.pg_version,
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
                self.note_serial_sequence(column)
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
                self.has_child_tables = True
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
                    table.inherits = [*table.inherits, parent.qualified_name]
                    self.has_child_tables = True
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
        columns, key_options, keys = _index_keys(node.get("indexParams", ()), statement)
        keys += [_index_key_name(e) for e in node.get("indexIncludingParams", ())]
        key_names = index_column_names(keys)
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
            key_options=key_options,
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
        self.change_of(
            "create_index",
            statement,
            {
                "table": table,
                "index": index,
                "table_existed": existed,
                "if_not_exists": if_not_exists,
                "guarded": guarded,
                "concurrently": concurrently,
            },
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
        if self.table_exists_already(statement, schema, name, if_not_exists, "CREATE TABLE AS"):
            return
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


_LIKE_CONSTRAINTS = LIKE_CONSTRAINTS


_LIKE_INDEXES = LIKE_INDEXES


def _distinct_index_constraints(
    items: list[tuple[Json, str | None]],
) -> list[tuple[Json, str | None]]:
    """transformIndexConstraints: index specifications of one statement that repeat an
    earlier one (`id int PRIMARY KEY UNIQUE`) make no index of their own; an unnamed one
    that is kept takes the name of a named duplicate."""
    if len(items) < 2:
        return items  # nothing to repeat: no shape to work out

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


def _index_keys(
    params: list[Json], statement: Statement
) -> tuple[list[str | Expression], list[str], list[str | None]]:
    """For each key of an index: its column or expression (`_index_elem_name`), what follows
    it (`_index_elem_options`) and the name PostgreSQL gives it (`_index_key_name`), read in
    one pass over the keys. A plain column key (as good as every one) is its name three times
    and nothing after it; the others are read by those three."""
    columns: list[str | Expression] = []
    options: list[str] = []
    names: list[str | None] = []
    for item in params:
        element = item.get("IndexElem", item)
        name = element.get("name")
        if (
            name
            and not element.get("indexcolname")
            and "collation" not in element
            and "opclass" not in element
            and element.get("ordering") not in _WRITTEN_ORDERINGS
            and element.get("nulls_ordering") not in _WRITTEN_NULLS
        ):
            columns.append(sys.intern(str(name)))
            options.append("")
            names.append(str(name))
        else:
            columns.append(_index_elem_name(item, statement))
            options.append(_index_elem_options(item))
            names.append(_index_key_name(item))
    return columns, options, names


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
    if (
        "collation" not in element
        and "opclass" not in element
        and element.get("ordering") not in _WRITTEN_ORDERINGS
        and element.get("nulls_ordering") not in _WRITTEN_NULLS
    ):
        return ""  # a plain key (as good as every one): nothing follows it
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


_WRITTEN_ORDERINGS = frozenset({"SORTBY_ASC", "SORTBY_DESC"})
_WRITTEN_NULLS = frozenset({"SORTBY_NULLS_FIRST", "SORTBY_NULLS_LAST"})


def _index_elem_name(item: Json, statement: Statement) -> str | Expression:
    element = item.get("IndexElem", item)
    if element.get("name"):
        return sys.intern(str(element["name"]))
    return statement.expression(element.get("expr")) or "<expression>"


def _fk_actions_written(
    statement: Statement, pk_table: Json, actions: tuple[str, str]
) -> tuple[str, ...]:
    """Which of ON DELETE and ON UPDATE the REFERENCES clause at `pk_table` writes out (the
    parse tree cannot tell an omitted action from NO ACTION); `actions`: the tree's codes."""
    offset = statement.offset_of(pk_table)
    if offset is None:
        return ("delete", "update")  # nothing to read: do not claim the actions are missing
    return references_actions_written(statement.text, offset - statement.start, actions)


def _generated_virtual(definition: Json) -> bool:
    """A generated column that is computed when read (PostgreSQL 18's default), not stored."""
    return any(
        item.get("Constraint", {}).get("contype") == "CONSTR_GENERATED"
        and item["Constraint"].get("generated_kind") == "v"
        for item in definition.get("constraints", ())
    )


def _using_the_column(
    node: Json, column: str, old: TypeName | None, new: TypeName, replayer: PostgresBase
) -> bool:
    """USING that is the column itself, or a cast of it to its old or new type: PostgreSQL
    then converts as it would without USING (no rewrite when that is binary-compatible)."""
    while "TypeCast" in node:
        cast = node["TypeCast"]
        to = replayer.type_name(cast.get("typeName"))
        if not any(same_type(to, t) for t in (new, old) if t is not None):
            return False
        node = cast.get("arg") or {}
    fields = node.get("ColumnRef", {}).get("fields", ())
    names = [f.get("String", {}).get("sval") for f in fields]
    return bool(names) and names[-1] == column
