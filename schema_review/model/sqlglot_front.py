"""What the MySQL and SQLite front ends share: reading sqlglot's trees into model operations.

Each dialect subclasses `SqlglotReplayer` (`mysql.py`, `sqlite.py`) for what its engine does
its own way: the names it gives unnamed constraints and indexes, the indexes it makes by
itself, the statements only it has. Expressions (defaults, CHECKs, index predicates) are kept
in the model's one expression form, PostgreSQL's parse tree: sqlglot writes them out as
PostgreSQL and pglast parses that, so expression rules read every dialect alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from schema_review.model.objects import Column, Constraint, Index, Table, TypeName
from schema_review.model.operations import SchemaOperations
from schema_review.parse import Expression, Statement
from schema_review.parse.sqlglot_parse import expression_from_sqlglot
from schema_review.profile import Profile

# MySQL and SQLite histories have one namespace. The model calls it `main`, SQLite's name for
# it (MySQL's is the database the runner connects to, which the files do not name).
DEFAULT_SCHEMA = "main"

_TYPE = re.compile(r"^(?P<name>[^(]*?)\s*(?:\((?P<modifiers>.*)\))?(?P<rest>[^()]*)$", re.DOTALL)


class SqlglotReplayer(SchemaOperations):
    """Replays sqlglot statements (`Statement.tree`) into the model."""

    dialect = ""  # sqlglot's name of the dialect

    def __init__(self, profile: Profile) -> None:
        super().__init__(profile)
        self.model.dialect = self.dialect
        self.search_path = DEFAULT_SCHEMA
        self.handlers: dict[str, Callable[[Statement], None]] = {
            name[4:]: getattr(self, name) for name in dir(self) if name.startswith("_on_")
        }

    def apply(self, statement: Statement) -> None:
        """Replay one statement; one the model has no use for is kept as opaque."""
        if statement.source is not self.current_file:
            self.start_file(statement.source)
        self.model.statements.append(statement)
        self.file_statements.append(statement)
        handler = self.handlers.get(statement.kind)
        if handler is None:
            self.model.opaque.append(statement)
            return
        try:
            handler(statement)
        except Exception as error:  # keep replaying: record, never crash
            self.model.internal_errors.append((statement, f"{type(error).__name__}: {error}"))

    # -- reading sqlglot's trees ---------------------------------------------------------
    def table_name(self, table: Any) -> tuple[str, str]:
        """(schema, name) of a sqlglot Table; the database or `main` qualifier is the one
        namespace."""
        return DEFAULT_SCHEMA, table.name

    def find_table(self, table: Any) -> Table | None:
        return self.model.tables.get(self.table_name(table))

    def table_for_alter(self, table: Any, statement: Statement) -> Table:
        """The table an ALTER names; one never seen created is recorded as external."""
        found = self.find_table(table)
        if found is None:
            schema, name = self.table_name(table)
            found = Table(name, schema=schema, external=True)
            self.model.tables[(schema, name)] = found
        return found

    def type_name(self, data_type: Any) -> TypeName:
        """A column's type as the dialect writes it, lower case: `varchar(255)`,
        `int unsigned`, `enum('a','b')`."""
        written = data_type.sql(dialect=self.dialect).lower() if data_type is not None else ""
        match = _TYPE.match(written)
        if match is None or not match.group("name"):
            return TypeName(written)
        name = (match.group("name") + match.group("rest")).strip()
        modifiers = match.group("modifiers")
        parts = tuple(p.strip() for p in _split_top(modifiers)) if modifiers else ()
        return TypeName(name, modifiers=parts)

    def expression(self, tree: Any) -> Expression | None:
        """An expression in the model's form (PostgreSQL's parse tree), or None when
        PostgreSQL has no way to say it."""
        return expression_from_sqlglot(tree, self.dialect)

    # -- CREATE ----------------------------------------------------------------------------
    def _on_Create(self, statement: Statement) -> None:
        kind = str(statement.tree.args.get("kind") or "").upper()
        if kind == "TABLE":
            self.create_table(statement)
        elif kind == "INDEX":
            self.create_index(statement)
        else:
            self.model.opaque.append(statement)

    def create_table(self, statement: Statement) -> None:
        from sqlglot import exp

        tree = statement.tree
        target = tree.this
        schema_node = target if isinstance(target, exp.Schema) else None
        table_node = schema_node.this if schema_node is not None else target
        schema, name = self.table_name(table_node)
        if_not_exists = bool(tree.args.get("exists"))
        if (schema, name) in self.model.tables and not self.model.tables[(schema, name)].external:
            self.change("create_table", statement, if_not_exists=if_not_exists, noop=True)
            return
        table = Table(name, schema=schema)
        self.model.tables[(schema, name)] = table
        self.born(table, statement)
        self.table_options(table, statement)
        constraints: list[tuple[Any, str | None]] = []
        for element in schema_node.expressions if schema_node is not None else ():
            if isinstance(element, exp.ColumnDef | exp.Identifier):  # SQLite: `(a, b)`, no types
                column = self.column_definition(table, element, statement)
                table.columns[column.name] = column
                self.born(column, statement)
                for item in element.args.get("constraints") or ():
                    if self.is_key_constraint(item.args.get("kind")):
                        constraints.append((item, column.name))
            else:
                constraints.append((element, None))
        if schema_node is None:
            table.columns_known = False  # CREATE TABLE ... AS SELECT
        for element, column_name in constraints:
            self.table_element(table, element, column_name, statement)
        self.after_create_table(table, statement)
        self.change(
            "create_table",
            statement,
            table=table,
            if_not_exists=if_not_exists,
            table_existed=False,
        )

    def table_options(self, table: Table, statement: Statement) -> None:
        """The options CREATE TABLE gives the table, read before its columns (MySQL: ENGINE,
        DEFAULT CHARSET and COLLATE, which the columns take)."""

    def after_create_table(self, table: Table, statement: Statement) -> None:
        """What the engine adds by itself once a table is made (MySQL: an index per foreign
        key that no index starts with)."""

    def column_definition(self, table: Table, definition: Any, statement: Statement) -> Column:
        from sqlglot import exp

        column = Column(
            definition.name, table=table, type=self.type_name(definition.args.get("kind"))
        )
        for item in definition.args.get("constraints") or ():
            kind = item.args.get("kind")
            if isinstance(kind, exp.NotNullColumnConstraint):
                column.not_null = not kind.args.get("allow_null")
            elif isinstance(kind, exp.DefaultColumnConstraint):
                column.default = self.expression(kind.this)
            elif isinstance(kind, exp.PrimaryKeyColumnConstraint):
                column.not_null = True
            elif isinstance(kind, exp.ComputedColumnConstraint):
                column.generated = self.expression(kind.this)
            elif isinstance(kind, exp.GeneratedAsIdentityColumnConstraint) and kind.args.get(
                "expression"
            ):
                # `GENERATED ALWAYS AS (expr)` without STORED/VIRTUAL: sqlglot's identity
                # node, with the expression (a virtual generated column).
                column.generated = self.expression(kind.args["expression"])
        return column

    def is_key_constraint(self, kind: Any) -> bool:
        """A column constraint that makes a table constraint (key, reference, CHECK)."""
        from sqlglot import exp

        return isinstance(
            kind,
            exp.PrimaryKeyColumnConstraint
            | exp.UniqueColumnConstraint
            | exp.CheckColumnConstraint
            | exp.Reference,
        )

    def table_element(
        self, table: Table, element: Any, column_name: str | None, statement: Statement
    ) -> None:
        """A table constraint, a column's key constraint, or an inline index."""
        from sqlglot import exp

        name = ""
        if isinstance(element, exp.Constraint):  # CONSTRAINT name <what>
            name = element.name
            for inner in element.expressions:
                self.table_element_named(table, inner, name, column_name, statement)
            return
        if isinstance(element, exp.ColumnConstraint):
            name = element.name
            element = element.args.get("kind")
        self.table_element_named(table, element, name, column_name, statement)

    def table_element_named(
        self, table: Table, element: Any, name: str, column_name: str | None, statement: Statement
    ) -> None:
        from sqlglot import exp

        columns = [column_name] if column_name else []
        if isinstance(element, exp.PrimaryKey | exp.PrimaryKeyColumnConstraint):
            keys = [_key_name(e) for e in element.expressions] or columns
            for key in keys:
                if key in table.columns:
                    table.columns[key].not_null = True
            self.add_constraint(table, "primary_key", name, keys, statement)
        elif isinstance(element, exp.UniqueColumnConstraint):
            keys = _unique_keys(element) or columns
            self.add_constraint(table, "unique", name, keys, statement)
        elif isinstance(element, exp.CheckColumnConstraint):
            self.add_constraint(
                table, "check", name, columns, statement, expression=self.expression(element.this)
            )
        elif isinstance(element, exp.ForeignKey):
            keys = [_key_name(e) for e in element.expressions]
            self.add_foreign_key(table, name, keys, element.args.get("reference"), statement)
        elif isinstance(element, exp.Reference):
            self.add_foreign_key(table, name, columns, element, statement)
        elif isinstance(element, exp.IndexColumnConstraint):
            self.inline_index(table, element, statement)

    def inline_index(self, table: Table, element: Any, statement: Statement) -> None:
        """MySQL's KEY/INDEX in CREATE TABLE (SQLite has none)."""

    def add_constraint(
        self,
        table: Table,
        kind: str,
        name: str,
        columns: list[str],
        statement: Statement,
        expression: Expression | None = None,
    ) -> Constraint:
        constraint = Constraint(
            name or self.constraint_name(table, kind, columns),
            table=table,
            type=kind,
            columns=list(columns),
            expression=expression,
        )
        table.constraints[constraint.name] = constraint
        self.born(constraint, statement)
        if kind in ("primary_key", "unique"):
            self.constraint_index(table, constraint, statement)
        return constraint

    def add_foreign_key(
        self,
        table: Table,
        name: str,
        columns: list[str],
        reference: Any,
        statement: Statement,
    ) -> Constraint | None:
        from sqlglot import exp

        if reference is None:
            return None
        target = reference.this
        target_table = target.this if isinstance(target, exp.Schema) else target
        ref_columns = (
            [_key_name(e) for e in target.expressions] if isinstance(target, exp.Schema) else []
        )
        schema, ref_name = self.table_name(target_table)
        constraint = Constraint(
            name or self.constraint_name(table, "foreign_key", columns),
            table=table,
            type="foreign_key",
            columns=list(columns),
            ref_table=f"{schema}.{ref_name}",
            ref_columns=ref_columns,
        )
        written: list[str] = []
        for option in reference.args.get("options") or ():
            text = str(option).upper()
            for action in ("DELETE", "UPDATE"):
                prefix = f"ON {action} "
                if text.startswith(prefix):
                    written.append(action.lower())
                    value = text[len(prefix) :].strip()
                    if action == "DELETE":
                        constraint.on_delete = value
                    else:
                        constraint.on_update = value
        constraint.actions_given = bool(written)
        constraint.actions_written = tuple(written)
        table.constraints[constraint.name] = constraint
        self.born(constraint, statement)
        return constraint

    def constraint_name(self, table: Table, kind: str, columns: list[str]) -> str:
        """The name the engine gives an unnamed constraint (each dialect says)."""
        return self.choose_constraint_name(
            table.schema, table.name, "_".join(columns) or None, _SUFFIX[kind]
        )

    def create_index(self, statement: Statement) -> None:
        tree = statement.tree
        index_node = tree.this
        table = self.table_for_alter(index_node.args.get("table"), statement)
        name = index_node.name
        if not name or (table.schema, name) in self.model.indexes:
            if tree.args.get("exists") and name:
                self.change("create_index", statement, table=table, if_not_exists=True, noop=True)
            return
        params = index_node.args.get("params")
        keys: list[str | Expression] = []
        for ordered in (params.args.get("columns") or []) if params is not None else []:
            key = ordered.this if hasattr(ordered, "this") else ordered
            if key.__class__.__name__ in ("Column", "Identifier"):
                keys.append(key.name)
            else:
                found = self.expression(key)
                if found is not None:
                    keys.append(found)
        where = params.args.get("where") if params is not None else None
        index = Index(
            name,
            schema=table.schema,
            table=table,
            columns=keys,
            unique=bool(tree.args.get("unique")),
            predicate=self.expression(where.this) if where is not None else None,
            key_names=[k if isinstance(k, str) else "expr" for k in keys],
        )
        table.indexes.append(index)
        self.model.indexes[(table.schema, name)] = index
        self.born(index, statement)
        self.change(
            "create_index",
            statement,
            table=table,
            index=index,
            if_not_exists=bool(tree.args.get("exists")),
        )

    # -- DROP ------------------------------------------------------------------------------
    def _on_Drop(self, statement: Statement) -> None:
        tree = statement.tree
        kind = str(tree.args.get("kind") or "").upper()
        missing_ok = bool(tree.args.get("exists"))
        for target in tree.args.get("tables") or ():
            if kind == "TABLE":
                table = self.find_table(target)
                if table is not None:
                    self.drop_table_object(table, statement)
                schema, name = self.table_name(target)
                self.change(
                    "drop_table",
                    statement,
                    table=table,
                    missing_ok=missing_ok,
                    detail=table.qualified_name if table is not None else f"{schema}.{name}",
                )
            elif kind == "INDEX":
                index = self.model.indexes.get(self.table_name(target))
                if index is not None:
                    self.drop_index_object(index, statement)
                self.change(
                    "drop_index",
                    statement,
                    table=index.table if index else None,
                    index=index,
                    missing_ok=missing_ok,
                    detail=target.name,
                )
            else:
                self.model.opaque.append(statement)
                return

    # -- ALTER TABLE -----------------------------------------------------------------------
    def _on_Alter(self, statement: Statement) -> None:
        from sqlglot import exp

        tree = statement.tree
        if str(tree.args.get("kind") or "").upper() != "TABLE":
            self.model.opaque.append(statement)
            return
        table = self.table_for_alter(tree.this, statement)
        for action in tree.args.get("actions") or ():
            if isinstance(action, exp.ColumnDef):
                column = self.column_definition(table, action, statement)
                table.columns[column.name] = column
                _place(table, column.name, action.args.get("position"))
                self.born(column, statement)
                # the table's history says it as PostgreSQL's front end does (changes.py reads it)
                table.record("altered", statement, f"added column {column.name}")
                for item in action.args.get("constraints") or ():
                    if self.is_key_constraint(item.args.get("kind")):
                        self.table_element(table, item, column.name, statement)
                self.change("add_column", statement, table=table, column=column)
            elif isinstance(action, exp.AlterRename):
                old = self.rename_table(table, action.this.name, statement)
                self.change("rename_table", statement, table=table, detail=old)
            elif isinstance(action, exp.RenameColumn):
                old_name, new_name = action.this.name, action.args["to"].name
                renamed = self.rename_column(table, old_name, new_name, statement)
                if renamed is not None:
                    table.record("altered", statement, f"renamed column {old_name} -> {new_name}")
                self.change(
                    "rename_column",
                    statement,
                    table=table,
                    column=renamed,
                    detail=f"{old_name} -> {new_name}",
                )
            elif isinstance(action, exp.Drop) and str(action.args.get("kind") or "").upper() in (
                "COLUMN",
                "",
            ):
                for target in action.args.get("tables") or ():
                    dropped = self.drop_column_object(table, target.name, statement)
                    if dropped is not None:
                        table.record("altered", statement, f"dropped column {target.name}")
                    self.change("drop_column", statement, table=table, column=dropped)
            else:
                self.alter_action(table, action, statement)

    def alter_action(self, table: Table, action: Any, statement: Statement) -> None:
        """An ALTER TABLE action the dialect's own front end reads (MySQL: MODIFY, CHANGE,
        ADD INDEX ...); unknown ones are recorded for what they are."""
        self.change("alter_table_other", statement, table=table, detail=type(action).__name__)


# Words a MySQL (or SQLite) type ends with after its modifiers: `decimal(10,2) unsigned`.
_TYPE_ATTRIBUTES = frozenset({"unsigned", "signed", "zerofill"})


def written_type(type_name: TypeName) -> str:
    """A MySQL or SQLite column type as the dialect writes it: `varchar(255)`,
    `decimal(10,2) unsigned`, `enum('a','b')` (the model keeps `unsigned` in the name); a
    SQLite type as declared, which is what the engine reports."""
    if type_name.declared:
        return type_name.declared
    words = type_name.name.split(" ")
    tail: list[str] = []
    while len(words) > 1 and words[-1] in _TYPE_ATTRIBUTES:
        tail.insert(0, words.pop())
    text = " ".join(words)
    if type_name.modifiers:
        text += f"({','.join(type_name.modifiers)})"
    return " ".join([text, *tail])


_SUFFIX = {"primary_key": "pkey", "unique": "key", "check": "check", "foreign_key": "fkey"}


def _key_name(key: Any) -> str:
    """A key's column name (Identifier, Column, Ordered)."""
    while key is not None and key.__class__.__name__ == "Ordered":
        key = key.this
    return str(key.name) if key is not None else ""


def _unique_keys(element: Any) -> list[str]:
    target = element.this
    if target is None:
        return []
    expressions = getattr(target, "expressions", None) or []
    return [_key_name(e) for e in expressions]


def _split_top(text: str) -> list[str]:
    """Comma-separated parts outside parentheses and quotes: `'a,b','c'` -> two parts."""
    parts: list[str] = []
    depth, quote, current = 0, "", []
    for char in text:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
            continue
        if char in "'\"`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _place(table: Table, name: str, position: Any) -> None:
    """MySQL's `ADD c ... FIRST` / `AFTER x`: the new column's place among the table's."""
    where = str(position.args.get("position") or "").upper() if position is not None else ""
    after = position.this.name if where == "AFTER" and position.this is not None else None
    if where != "FIRST" and (after is None or after not in table.columns or after == name):
        return
    column = table.columns.pop(name)
    ordered: dict[str, Column] = {} if where != "FIRST" else {name: column}
    for key, value in table.columns.items():
        ordered[key] = value
        if key == after:
            ordered[name] = column
    table.columns = ordered
