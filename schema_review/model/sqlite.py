"""The SQLite front end: sqlglot's SQLite trees into model operations.

What SQLite does its own way:
- a column's type is the text declared (`pragma_table_info` shows it as written; the
  STRICT type names upper case); a column may have none;
- `INTEGER PRIMARY KEY` on a rowid table is the rowid: no index. Other PRIMARY KEY and
  UNIQUE constraints get an index SQLite names `sqlite_autoindex_<table>_<n>` (n counts the
  table's indexes at the time), renamed with the table;
- constraints have no names unless written: the model gives an unnamed one PostgreSQL's
  generated name (`<table>_<column>_fkey`) so findings can say which one they mean;
  nothing in SQLite refers to it, and the catalog comparison ignores it;
- a foreign key names its target table: DROP TABLE leaves the foreign keys that reference
  it, which then mean the table that takes the name next (the rebuild pattern:
  CREATE TABLE new_x; INSERT ...; DROP TABLE x; ALTER TABLE new_x RENAME TO x);
- triggers are always FOR EACH ROW and run their own statements (`BEGIN ... END`).
"""

from __future__ import annotations

from typing import Any

from schema_review.model.changes import Change
from schema_review.model.objects import (
    Column,
    Constraint,
    Table,
    Trigger,
    TypeName,
    View,
    own_triggers,
)
from schema_review.model.sqlglot_front import DEFAULT_SCHEMA, SqlglotReplayer
from schema_review.parse import Statement
from schema_review.parse.expressions import Expression
from schema_review.parse.sqlglot_parse import expression_from_sqlglot
from schema_review.parse.sqlite_text import (
    TableText,
    read_create_table,
    read_create_trigger,
    read_virtual_table,
    tokens_of,
)

AUTOINDEX_PREFIX = "sqlite_autoindex_"


class SqliteReplayer(SqlglotReplayer):
    dialect = "sqlite"
    references_by_name = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.table_text: TableText | None = None  # of the CREATE TABLE being replayed
        self.open_begin: Change | None = None  # the file's BEGIN not yet committed
        # (schema, table, name) of constraints the file left unnamed (their names are ours)
        self.unnamed: set[tuple[str, str, str]] = set()

    # -- CREATE TABLE ------------------------------------------------------------------------
    def create_table(self, statement: Statement) -> None:
        from sqlglot import exp

        tree = statement.tree
        if any(isinstance(p, exp.TemporaryProperty) for p in _properties(tree)):
            self.model.opaque.append(statement)  # a TEMP table is no part of the schema
            return
        self.table_text = read_create_table(statement.text)
        try:
            super().create_table(statement)
        finally:
            text, self.table_text = self.table_text, None
        table = self.find_table(tree.this.this if isinstance(tree.this, exp.Schema) else tree.this)
        if table is None or text is None or table.created is None:
            return
        if table.created.statement is not statement:
            return
        table.strict, table.without_rowid = text.strict, text.without_rowid
        # A PRIMARY KEY column takes NULL unless declared NOT NULL, on a rowid table (SQLite
        # keeps that old bug for compatibility), the rowid itself aside.
        primary = table.primary_key
        for column in table.columns.values():
            column.not_null = column.name in text.not_null or (
                primary is not None
                and column.name in primary.columns
                and (table.without_rowid or self.is_rowid_alias(table, primary))
            )

    def column_definition(self, table: Table, definition: Any, statement: Statement) -> Column:
        column = super().column_definition(table, definition, statement)
        declared = self.table_text.declared.get(column.name) if self.table_text else None
        if declared is None:
            declared = _declared_in_alter(statement.text, column.name)
        column.type = _type_name(declared)
        return column

    def constraint_index(
        self,
        table: Table,
        constraint: Constraint,
        statement: Statement,
        key_names: list[str | None] | None = None,
    ) -> None:
        """PRIMARY KEY and UNIQUE: SQLite's own index, but none for the rowid."""
        if constraint.type == "primary_key" and self.is_rowid_alias(table, constraint):
            return
        number = 1 + len(table.indexes)
        super().constraint_index(table, constraint, statement, key_names)
        index = table.indexes[-1]
        if index.constraint is constraint:
            self.model.indexes.pop((index.schema, index.name), None)
            index.name = f"{AUTOINDEX_PREFIX}{table.name}_{number}"
            self.model.indexes[(index.schema, index.name)] = index

    def constraint_name(self, table: Table, kind: str, columns: list[str]) -> str:
        """PostgreSQL's generated name (SQLite gives none): `<table>_pkey` for the key. The
        constraint is remembered as unnamed: the name follows the table's renames."""
        if kind == "primary_key":
            name = self.choose_constraint_name(table.schema, table.name, None, "pkey")
        else:
            name = super().constraint_name(table, kind, columns)
        self.unnamed.add((table.schema, table.name, name))
        return name

    def is_rowid_alias(self, table: Table, constraint: Constraint) -> bool:
        """`INTEGER PRIMARY KEY` (that exact type name, one column) on a rowid table."""
        if len(constraint.columns) != 1 or (self.table_text and self.table_text.without_rowid):
            return False
        column = table.columns.get(str(constraint.columns[0]))
        return column is not None and column.type.declared.upper() == "INTEGER"

    # -- views and triggers -------------------------------------------------------------------
    def _on_Create(self, statement: Statement) -> None:
        kind = str(statement.tree.args.get("kind") or "").upper()
        if kind == "VIEW":
            self.create_view(statement)
        else:
            super()._on_Create(statement)

    def create_view(self, statement: Statement) -> None:
        from sqlglot import exp

        tree = statement.tree
        if any(isinstance(p, exp.TemporaryProperty) for p in _properties(tree)):
            self.model.opaque.append(statement)
            return
        target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
        schema, name = self.table_name(target)
        if_not_exists = bool(tree.args.get("exists"))
        existing = self.model.views.get((schema, name))
        if existing is not None and if_not_exists:
            self.change("create_view", statement, object=existing, if_not_exists=True, noop=True)
            return
        query = tree.args.get("expression")
        reads = sorted(
            {f"{DEFAULT_SCHEMA}.{t.name}" for t in query.find_all(exp.Table)} if query else set()
        )
        view = View(name, schema=schema, query=query.sql(dialect="sqlite") if query else None)
        view.reads = reads
        self.born(view, statement)
        self.model.views[(schema, name)] = view
        self.change("create_view", statement, object=view, if_not_exists=if_not_exists)

    def _on_Command(self, statement: Statement) -> None:
        text = statement.text
        header = text.lstrip()[:40].upper().split()
        if header[:1] == ["CREATE"] and "TRIGGER" in header[1:3]:
            self.create_trigger(statement)
        elif header[:3] == ["CREATE", "VIRTUAL", "TABLE"]:
            self.create_virtual_table(statement)
        else:
            self.model.opaque.append(statement)

    def create_virtual_table(self, statement: Statement) -> None:
        """A module's table (fts5, rtree): its columns, untyped; the module's own tables
        (`<name>_data`, `<name>_idx` ...) are its business, not the schema's."""
        found = read_virtual_table(tokens_of(statement.text))
        if found is None:
            self.model.opaque.append(statement)
            return
        name, _, columns, if_not_exists = found
        if (DEFAULT_SCHEMA, name) in self.model.tables:
            self.change("create_table", statement, if_not_exists=if_not_exists, noop=True)
            return
        table = Table(name, schema=DEFAULT_SCHEMA)
        self.model.tables[(DEFAULT_SCHEMA, name)] = table
        self.born(table, statement)
        for column_name in columns:
            column = Column(column_name, table=table, type=TypeName(""))
            table.columns[column_name] = column
            self.born(column, statement)
        self.change("create_table", statement, table=table, if_not_exists=if_not_exists)

    def create_trigger(self, statement: Statement) -> None:
        found = read_create_trigger(statement.text, tokens_of(statement.text))
        temporary = statement.text.lstrip().split(None, 2)[1].upper() in ("TEMP", "TEMPORARY")
        if found is None or temporary:  # a TEMP trigger is no part of the schema
            self.model.opaque.append(statement)
            return
        table = self.model.tables.get((DEFAULT_SCHEMA, found.table))
        if table is None:
            view = self.model.views.get((DEFAULT_SCHEMA, found.table))
            if view is not None:  # INSTEAD OF triggers on views: kept out of the model
                self.model.opaque.append(statement)
                return
            table = self.table_for_alter(_named(found.table), statement)
        existing = table.triggers.get(found.name) or self._trigger_named(found.name)
        if existing is not None and found.if_not_exists:
            self.change("create_trigger", statement, table=table, object=existing, noop=True)
            return
        trigger = Trigger(
            found.name,
            table=table,
            function="",
            timing=found.timing,
            events=found.events,
            for_each_row=True,
            when=self._expression_text(found.when),
            columns=found.columns,
        )
        own_triggers(table)[found.name] = trigger
        self.born(trigger, statement)
        self.change(
            "create_trigger", statement, table=table, object=trigger, guarded=found.if_not_exists
        )

    def _trigger_named(self, name: str) -> Trigger | None:
        for table in self.model.tables.values():
            if name in table.triggers:
                return table.triggers[name]
        return None

    def _expression_text(self, text: str | None) -> Expression | None:
        if not text:
            return None
        import sqlglot

        try:
            return expression_from_sqlglot(sqlglot.parse_one(text, read="sqlite"), "sqlite")
        except Exception:
            return None

    # -- DROP -------------------------------------------------------------------------------
    def _on_Drop(self, statement: Statement) -> None:
        tree = statement.tree
        kind = str(tree.args.get("kind") or "").upper()
        missing_ok = bool(tree.args.get("exists"))
        if kind == "VIEW":
            for target in tree.args.get("tables") or ():
                view = self.model.views.pop(self.table_name(target), None)
                if view is not None:
                    self.died(view, statement)
                self.change("drop_view", statement, object=view, missing_ok=missing_ok)
        elif kind == "TRIGGER":
            for target in tree.args.get("tables") or ():
                trigger = self._trigger_named(target.name)
                if trigger is not None:
                    del trigger.table.triggers[trigger.name]
                    self.died(trigger, statement)
                self.change(
                    "drop_trigger",
                    statement,
                    table=trigger.table if trigger else None,
                    object=trigger,
                    missing_ok=missing_ok,
                )
        else:
            super()._on_Drop(statement)

    def drop_table_object(
        self, table: Table, statement: Statement, detail: str = "", cascade: bool = False
    ) -> None:
        """The rebuild the other way round (authelia's): `ALTER TABLE x RENAME TO _bkp_x;
        CREATE TABLE x ...; INSERT ... SELECT ... FROM _bkp_x; DROP TABLE _bkp_x`: the
        dropped table's life goes on in the new `x`, as when the new table is renamed."""
        super().drop_table_object(table, statement, detail, cascade)
        for event in reversed(table.history):
            if event.action != "renamed" or event.statement.source is not statement.source:
                continue
            old_name = event.detail.split(" -> ")[0].split(".", 1)[-1]
            successor = self.model.tables.get((table.schema, old_name))
            created = successor.created if successor is not None else None
            if successor is not None and created and created.statement.source is statement.source:
                table.replaced_by, table.replaced_at = successor, created
            break

    # -- ALTER TABLE ------------------------------------------------------------------------
    def rename_table(self, table: Table, new_name: str, statement: Statement) -> str:
        """SQLite renames the table's automatic indexes with it; the names the model gave
        its unnamed constraints follow too (`notes_new_pkey` of the rebuild's copy becomes
        `notes_pkey`): SQLite has no name for them, so none the team chose is changed."""
        old_name = table.name
        old = super().rename_table(table, new_name, statement)
        renamed: dict[str, Constraint] = {}
        for name, constraint in table.constraints.items():
            if (table.schema, old_name, name) in self.unnamed and not constraint.dropped:
                self.unnamed.discard((table.schema, old_name, name))
                columns = [str(c) for c in constraint.columns]
                constraint.name = self.constraint_name(table, constraint.type, columns)
                self.note_constraint_name(constraint)
            renamed[constraint.name] = constraint
        table.constraints = renamed
        prefix = f"{AUTOINDEX_PREFIX}{old.split('.', 1)[1]}_"
        for index in table.indexes:
            if not index.dropped and index.name.startswith(prefix):
                self.model.indexes.pop((index.schema, index.name), None)
                index.name = f"{AUTOINDEX_PREFIX}{new_name}_{index.name[len(prefix) :]}"
                self.model.indexes[(index.schema, index.name)] = index
        return old

    def alter_action(self, table: Table, action: Any, statement: Statement) -> None:
        """`DROP x` (COLUMN is optional in SQLite; sqlglot keeps it as a Command); anything
        else (ALTER COLUMN, ADD CONSTRAINT ...) is a statement SQLite rejects, recorded for
        what it is so a rule can say so."""
        from sqlglot import exp

        if isinstance(action, exp.Command) and str(action.this).upper() == "DROP":
            name = str(action.expression).strip().strip('"`[]')
            dropped = self.drop_column_object(table, name, statement)
            if dropped is not None:
                table.record("altered", statement, f"dropped column {name}")
            self.change("drop_column", statement, table=table, column=dropped)
            return
        what = _UNSUPPORTED.get(type(action).__name__)
        if isinstance(action, exp.Drop):
            what = f"DROP {str(action.args.get('kind') or '').upper()}".strip()
        if what:
            # SQLite refuses it: the schema stays as it was (rule sqlite-alter-unsupported).
            self.change("alter_table_other", statement, table=table, detail=what)
            return
        super().alter_action(table, action, statement)

    def _on_Alter(self, statement: Statement) -> None:
        """ADD COLUMN: what SQLite refuses to add is said in the change's detail (rule
        sqlite-add-column-rejected)."""
        before = len(self.model.changes)
        super()._on_Alter(statement)
        refusals = {
            action.name: _add_column_refusal(action)
            for action in statement.tree.args.get("actions") or ()
            if type(action).__name__ == "ColumnDef"
        }
        for change in self.model.changes[before:]:
            if change.kind == "add_column" and change.column is not None:
                change.detail = refusals.get(change.column.name, "")

    # -- data, session ----------------------------------------------------------------------
    def _on_Insert(self, statement: Statement) -> None:
        """INSERT INTO new SELECT ... FROM old: the rebuild's copy (Table.rebuild_of). The
        statement stays opaque, as in PostgreSQL's replay."""
        from sqlglot import exp

        self.model.opaque.append(statement)
        tree = statement.tree
        target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
        query = tree.args.get("expression")
        if not isinstance(target, exp.Table) or not isinstance(query, exp.Query):
            return
        sources = {self.table_name(t) for t in query.find_all(exp.Table)}
        copy = self.find_table(target)
        if copy is None or len(sources) != 1:
            return
        original = self.model.tables.get(sources.pop())
        if original is not None and original is not copy:
            copy.rebuild_of = original

    def _on_Update(self, statement: Statement) -> None:
        self.data_change("update", statement)

    def _on_Delete(self, statement: Statement) -> None:
        self.data_change("delete", statement)

    def data_change(self, kind: str, statement: Statement) -> None:
        target = statement.tree.this
        if target is None or not target.name:
            return
        table = self.table_for_alter(target, statement)
        self.change(kind, statement, table=table, has_where=bool(statement.tree.args.get("where")))

    def _on_Pragma(self, statement: Statement) -> None:
        """PRAGMA name = value: recorded as a `set` change, detail `name=value` lower case
        (`foreign_keys=on`, `legacy_alter_table=off`)."""
        tree = statement.tree.this
        if tree is not None and tree.__class__.__name__ == "EQ":
            detail = f"{tree.this.name}={tree.expression.name}".lower()
        else:
            detail = str(tree.sql(dialect="sqlite") if tree is not None else "").lower()
        self.change("set", statement, detail=detail)

    def _on_Transaction(self, statement: Statement) -> None:
        if self.open_begin is not None and self.open_begin.statement.source is statement.source:
            self.change("begin", statement, nested=True)
            return
        begin = self.change("begin", statement)
        begin.closed = False  # until a COMMIT or ROLLBACK of the same file
        self.open_begin = begin
        if self.explicit is None:  # what follows runs in it (Change.in_transaction)
            self.explicit = begin

    def _on_Commit(self, statement: Statement) -> None:
        self.end_begin("commit", statement)

    def _on_Rollback(self, statement: Statement) -> None:
        self.end_begin("rollback", statement)

    def end_begin(self, kind: str, statement: Statement) -> None:
        self.change(kind, statement)
        if self.open_begin is not None:
            self.open_begin.closed = True
            self.open_begin = None
        self.end_transaction()

    def _on_Column(self, statement: Statement) -> None:
        """`END [TRANSACTION]` (COMMIT's other name), which sqlglot reads as a name."""
        if statement.text.split(None, 1)[0].upper() == "END":
            self.end_begin("commit", statement)
        else:
            self.model.opaque.append(statement)

    _on_Alias = _on_Column

    def start_file(self, source: Any) -> None:
        super().start_file(source)
        self.open_begin = None  # a file's BEGIN is committed in that file or never


# ALTER TABLE actions SQLite has no syntax for (sqlglot reads them as other engines').
_UNSUPPORTED = {"AlterColumn": "ALTER COLUMN", "AddConstraint": "ADD CONSTRAINT"}


def _add_column_refusal(definition: Any) -> str:
    """Why SQLite refuses ADD COLUMN with this definition ('' when it accepts it): the
    checks of its alter.c, in its order."""
    from sqlglot import exp

    kinds = [c.args.get("kind") for c in definition.args.get("constraints") or ()]
    default = next((k.this for k in kinds if isinstance(k, exp.DefaultColumnConstraint)), None)
    while isinstance(default, exp.Paren):
        default = default.this
    if any(isinstance(k, exp.PrimaryKeyColumnConstraint) for k in kinds):
        return "a PRIMARY KEY column"
    if any(isinstance(k, exp.UniqueColumnConstraint) for k in kinds):
        return "a UNIQUE column"
    generated = next((k for k in kinds if isinstance(k, exp.ComputedColumnConstraint)), None)
    if generated is not None and generated.args.get("persisted"):
        return "a STORED generated column"
    constant = (exp.Literal, exp.Null, exp.Boolean, exp.HexString)
    if isinstance(default, exp.Neg):
        default = default.this
    if default is not None and not isinstance(default, constant):
        return "a default that is not a constant (CURRENT_TIMESTAMP, a function call)"
    not_null = any(
        isinstance(k, exp.NotNullColumnConstraint) and not k.args.get("allow_null") for k in kinds
    )
    if not_null and generated is None and (default is None or isinstance(default, exp.Null)):
        return "a NOT NULL column without a default"
    return ""


def _properties(tree: Any) -> list[Any]:
    properties = tree.args.get("properties")
    return list(properties.expressions) if properties is not None else []


def _named(name: str) -> Any:
    from sqlglot import exp

    return exp.to_table(exp.to_identifier(name).sql(dialect="sqlite"), dialect="sqlite")


def _type_name(declared: str) -> TypeName:
    """The model's type: the declared text (what SQLite reports), and the name and modifiers
    lower case for rules (`varchar`, ("255",))."""
    written = " ".join(declared.split()).lower()
    name, _, rest = written.partition("(")
    modifiers = tuple(p.strip() for p in rest.rstrip(")").split(",")) if rest else ()
    return TypeName(name.strip(), modifiers=modifiers, declared=declared)


def _declared_in_alter(text: str, column: str) -> str:
    """ALTER TABLE ... ADD [COLUMN] <column definition>: the definition read like a CREATE
    TABLE element."""
    tokens = tokens_of(text)
    words = [str(t.text).upper() for t in tokens]
    if "ADD" not in words:
        return ""
    start = words.index("ADD") + 1
    if start < len(words) and words[start] == "COLUMN":
        start += 1
    if start >= len(tokens):
        return ""
    shim = f"CREATE TABLE _ ({text[tokens[start].start :]})"
    parsed = read_create_table(shim)
    return parsed.declared.get(column, "") if parsed else ""
