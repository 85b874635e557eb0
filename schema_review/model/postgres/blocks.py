"""DO blocks: the static SQL a block runs, replayed where it is written; the rest reported."""

from __future__ import annotations

from typing import Any

from schema_review.model.postgres.base import PostgresBase
from schema_review.parse import (
    Statement,
    node_name,
)
from schema_review.parse.plpgsql_blocks import BlockStep, do_block_steps, function_runs_ddl


class BlockStatements(PostgresBase):
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
                defining = event.statement
                known = self.function_ddl.get(id(defining))
                if known is None:  # the statement is kept with its answer: its id stays its
                    known = self.function_ddl[id(defining)] = (
                        defining,
                        function_runs_ddl(defining.text),
                    )
                what = known[1]
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
