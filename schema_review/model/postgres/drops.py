"""DROP, RENAME and SET SCHEMA: objects go, or change their names, with what depends on them."""

from __future__ import annotations

from typing import Any

from schema_review.model.objects import (
    Constraint,
    Function,
    Index,
    SchemaObject,
    TypeName,
    own_triggers,
)
from schema_review.model.postgres.base import Json, PostgresBase, object_names
from schema_review.parse import (
    Statement,
    node_name,
)


class DropStatements(PostgresBase):
    # -- DROP ------------------------------------------------------------------------
    def _on_DropStmt(self, statement: Statement) -> None:
        node = statement.node
        remove_type = node.get("removeType", "")
        missing_ok = bool(node.get("missing_ok"))
        concurrently = bool(node.get("concurrent"))
        for item in node.get("objects", ()):
            names = object_names(item)
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
            self.change_of(
                kind,
                statement,
                {"object": obj, "missing_ok": missing_ok, "concurrently": concurrently, **fields},
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
                self.note_constraint_name(constraint)
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
                    self.note_constraint_name(index.constraint)
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
            names = object_names(node.get("object") or {})
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
                            own_triggers(partition)[new_name] = clone
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
            key = self.split_name(object_names(node.get("object") or {}))
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
