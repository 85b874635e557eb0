"""Types, sequences, views, schemas, extensions, functions, triggers, policies, privileges and
comments."""

from __future__ import annotations

import re
from typing import Any

import orjson

from schema_review.model.objects import (
    EnumType,
    Extension,
    Function,
    Policy,
    Schema,
    SchemaObject,
    Sequence,
    Trigger,
    TypeName,
    View,
    own_policies,
    own_triggers,
    share_history,
)
from schema_review.model.postgres.base import (
    Json,
    PostgresBase,
    const_text,
    object_names,
    option_on,
    role_name,
)
from schema_review.parse import (
    Statement,
    node_name,
    walk_dicts,
)


class DefinitionStatements(PostgresBase):
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
            and option_on(options["security_invoker"]),
        )

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
                    f"{self.schema_of(schema)}.{name}"
                    for schema, name in relations_named(statement.node.get("query"))
                }
            ),
        )
        if existing is not None and (replace or if_not_exists):
            share_history(view, existing)
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
                    view.security_invoker = subtype == "AT_SetRelOptions" and option_on(
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
            share_history(function, existing)
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
            values = [const_text(a) or "" for a in setting.get("args", ())]
            function.config[name] = ", ".join(values) if any(values) else '""'
        elif kind == "VAR_SET_CURRENT":
            function.config[name] = self.search_path if name == "search_path" else ""
        else:  # RESET, SET ... TO DEFAULT
            function.config.pop(name, None)

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
            arguments=[const_text(a) or "" for a in node.get("args", ())],
            when=statement.expression(node.get("whenClause")),
            columns=node_name(node.get("columns")),
        )
        missing = self.missing_trigger_function(trigger.function)
        old = table.triggers.get(name)
        if old is not None:
            self.died(old, statement, "replaced")
        own_triggers(table)[name] = trigger
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
            roles=[role_name(r) for r in node.get("roles", ())],
            roles_given=any(
                r.get("RoleSpec", {}).get("location", -1) >= 0 for r in node.get("roles", ())
            ),
            using=statement.expression(node.get("qual")),
            with_check=statement.expression(node.get("with_check")),
        )
        guarded = ("policy", f"{table.qualified_name}.{name}") in self.dropped_if_exists
        own_policies(table)[name] = policy
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
            policy.roles = [role_name(r) for r in node["roles"]]
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
        grantees = tuple(role_name(r) for r in node.get("grantees", ()))
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
        grantees = {role_name(r) for r in action.get("grantees", ())}
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
        names = object_names(node.get("object") or {})
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


# Parameter modes of a function's identity (OUT and TABLE parameters are not part of it).
_INPUT_MODES = ("FUNC_PARAM_DEFAULT", "FUNC_PARAM_IN", "FUNC_PARAM_INOUT", "FUNC_PARAM_VARIADIC")


_TRIGGER_EVENTS = ((4, "insert"), (8, "delete"), (16, "update"), (32, "truncate"))


# A RangeVar as orjson writes libpg_query's tree back: its fields in the struct's order
# (catalogname, schemaname, relname, ...), each name a JSON string (a quote inside one is
# escaped, so no string's text can match).
_JSON_STRING = rb'"(?:[^"\\]|\\.)*"'
_RANGE_VAR = re.compile(
    rb'"RangeVar":\{(?:"catalogname":' + _JSON_STRING + rb",)?"
    rb'(?:"schemaname":(' + _JSON_STRING + rb"),)?"
    rb'"relname":(' + _JSON_STRING + rb")"
)


def relations_named(query: Any) -> list[tuple[str | None, str]]:
    """(schema or None, name) of every RangeVar of a query tree (a view's tables and views).
    Read from the tree's JSON text (a view's query is thousands of nodes, which a walk visits
    one Python step each); by the walk when the text does not hold each RangeVar in the
    expected form, or cannot be written (nesting past orjson's limit)."""
    try:
        text = orjson.dumps(query)
    except TypeError:  # orjson's JSONEncodeError
        text = None
    if text is not None:
        found = [
            (orjson.loads(schema) if schema else None, orjson.loads(name))
            for schema, name in _RANGE_VAR.findall(text)  # (b"" for no schema)
        ]
        # Each RangeVar matched, with each schema name of the text (none after its relname):
        if len(found) == text.count(b'"RangeVar":') and sum(
            schema is not None for schema, _ in found
        ) == text.count(b'"schemaname":'):
            return found
    return [
        (item["RangeVar"].get("schemaname"), item["RangeVar"].get("relname", ""))
        for item in walk_dicts(query)
        if "RangeVar" in item
    ]
