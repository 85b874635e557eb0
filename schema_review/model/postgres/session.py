"""The session a file runs in: settings, transactions, data changes and maintenance."""

from __future__ import annotations

from schema_review.model.changes import (
    Change,
)
from schema_review.model.postgres.base import UTC_ZONES, PostgresBase, const_text, schema_list
from schema_review.parse import (
    Statement,
    node_name,
    walk_dicts,
)


class SessionStatements(PostgresBase):
    def _on_VariableSetStmt(self, statement: Statement) -> None:
        node = statement.node
        name = str(node.get("name", ""))
        kind = node.get("kind")
        if name == "search_path" and kind == "VAR_SET_VALUE":
            values = [const_text(a) or "" for a in node.get("args", ())]
            self.set_search_path(schema_list(values), bool(node.get("is_local")))
        elif name == "search_path" and kind in ("VAR_RESET", "VAR_SET_DEFAULT"):
            self.set_search_path(["public"], bool(node.get("is_local")))
        if name == "timezone":
            # The session's time zone, per file: timestamp <-> timestamptz keeps the stored
            # values (no rewrite) when it is UTC.
            zones = [const_text(a) for a in node.get("args", ())]
            zone = (zones[0] or "") if zones and kind == "VAR_SET_VALUE" else ""
            utc = zone.upper() in UTC_ZONES
            self.time_zones[id(statement.source)] = "UTC" if utc else zone
        if name in ("lock_timeout", "statement_timeout"):
            settings = [const_text(a) for a in node.get("args", ())]
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
            args = [const_text(a) for a in call.get("args", ())]
            if len(args) == 3 and args[0] == "search_path" and args[1] is not None:
                self.set_search_path(schema_list([args[1]]), args[2] == "true")

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
