"""The MySQL (and MariaDB) front end: sqlglot's MySQL trees into model operations.

What MySQL does its own way, checked against MariaDB's catalog in tests/test_mysql.py:
- names: the primary key is `PRIMARY`; an unnamed UNIQUE or KEY is named after its first
  column (`email`, then `email_2` ...); an unnamed foreign key `<table>_ibfk_<n>`; a column's
  CHECK after the column, a table's unnamed CHECK `CONSTRAINT_<n>` (MariaDB);
- index names belong to their table (two tables may each have an index `email`);
- InnoDB makes an index for a foreign key unless one starts with its columns, named after the
  constraint (or its first column), and drops that index by itself when a later index starts
  with the same columns;
- MODIFY and CHANGE redefine the whole column (type, nullability, default: what is not
  written is gone), recorded as the changes PostgreSQL's front end records for each part;
- DDL is not transactional: every statement commits (pipeline.py runs no MySQL file in a
  transaction);
- `AUTO_INCREMENT` is the column's `identity` (`auto_increment`);
- character sets and collations: a table keeps the ENGINE, DEFAULT CHARSET and COLLATE the
  history writes; a character column takes its own CHARACTER SET / COLLATE, else the table's
  default as it is when the column is (re)defined (a later change of the table's default
  leaves existing columns alone); a collation names its character set (its prefix), a
  character set alone takes its default collation, which the model leaves to the server
  (None); `utf8` is `utf8mb3`; CONVERT TO CHARACTER SET changes the table's default and
  every character column.
"""

from __future__ import annotations

import re
from typing import Any

from schema_review.model.changes import Change
from schema_review.model.objects import (
    Column,
    Constraint,
    Function,
    Index,
    Table,
    Trigger,
    TypeName,
    own_triggers,
)
from schema_review.model.sqlglot_front import (
    DEFAULT_SCHEMA,
    SqlglotReplayer,
    _key_name,
    _split_top,
    written_type,
)
from schema_review.parse import Expression, Statement
from schema_review.parse.sqlglot_parse import reader

AUTO_INCREMENT = "auto_increment"

_NAME = r"(?:`(?:[^`]|``)+`|[\w$]+)"
_QUALIFIED = rf"{_NAME}(?:\s*\.\s*{_NAME})?"
_RENAME_TABLE = re.compile(
    rf"\s*RENAME\s+TABLES?\s+(?P<pairs>{_QUALIFIED}\s+TO\s+{_QUALIFIED}"
    rf"(?:\s*,\s*{_QUALIFIED}\s+TO\s+{_QUALIFIED})*)\s*$",
    re.IGNORECASE,
)
_PAIR = re.compile(rf"(?P<old>{_QUALIFIED})\s+TO\s+(?P<new>{_QUALIFIED})", re.IGNORECASE)
_ALTER_TABLE = re.compile(
    rf"\s*ALTER\s+(?:ONLINE\s+|IGNORE\s+)*TABLE\s+(?:IF\s+EXISTS\s+)?(?P<table>{_QUALIFIED})"
    r"\s*(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_ROUTINE_HEAD = re.compile(
    r"\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:DEFINER\s*=\s*\S+?\s+)?(?:AGGREGATE\s+)?"
    rf"(?P<kind>PROCEDURE|FUNCTION|TRIGGER|EVENT)\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"(?P<name>{_QUALIFIED})",
    re.IGNORECASE,
)
_TRIGGER_TAIL = re.compile(
    rf"\s*(?P<timing>BEFORE|AFTER)\s+(?P<event>INSERT|UPDATE|DELETE)\s+ON\s+(?P<table>{_QUALIFIED})",
    re.IGNORECASE,
)
_CHARSET = re.compile(
    r"\b(?:CHARACTER\s+SET|CHARSET|COLLATE)\s*=?\s*[`'\"]?(?P<name>[A-Za-z0-9]+)", re.IGNORECASE
)
_STRING = re.compile(r"'(?:[^'\\]|\\.|'')*'")
# Statement kinds that change the schema: each commits by itself in MySQL.
_DDL = frozenset(
    {
        "create_table",
        "drop_table",
        "add_column",
        "drop_column",
        "alter_column_type",
        "set_not_null",
        "drop_not_null",
        "set_default",
        "drop_default",
        "add_constraint",
        "drop_constraint",
        "create_index",
        "drop_index",
        "rename_table",
        "rename_column",
        "rename_index",
        "alter_table_other",
        "create_trigger",
        "drop_trigger",
        "create_function",
        "drop_function",
    }
)
_OPTION = re.compile(r"\b(?P<key>ALGORITHM|LOCK)\s*=?\s*(?P<value>\w+)", re.IGNORECASE)
_WORD = r"[`'\"]?(?P<{0}>\w+)[`'\"]?"
# ALTER TABLE's table options and CONVERT TO, in an action sqlglot keeps as text.
_ENGINE_OPTION = re.compile(rf"\s*ENGINE\s*=?\s*{_WORD.format('engine')}\s*$", re.I)
_CHARSET_OPTION = re.compile(
    rf"\s*(?P<convert>CONVERT\s+TO\s+)?(?:DEFAULT\s+)?(?:(?:CHARACTER\s+SET|CHARSET)\s*=?\s*"
    rf"{_WORD.format('charset')})?\s*(?:(?:DEFAULT\s+)?COLLATE\s*=?\s*{_WORD.format('collation')})?"
    r"\s*$",
    re.I,
)
_ADD_COLUMNS = re.compile(r"\s*ADD\s+(?:COLUMN\s+)?\((?P<columns>.*)\)\s*$", re.I | re.S)
# The types a character set and collation belong to (MySQL: the string types, ENUM, SET).
_CHARACTER_TYPES = frozenset(
    {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"}
)


def charset_name(name: str) -> str:
    """A character set as information_schema names it: `utf8` is `utf8mb3` (MariaDB 10.6+,
    MySQL 8)."""
    name = name.strip("`'\" ").lower()
    return "utf8mb3" if name == "utf8" else name


def collation_name(name: str) -> str:
    name = name.strip("`'\" ").lower()
    return "utf8mb3" + name[4:] if name.startswith("utf8_") else name


def charset_of(collation: str) -> str:
    """The character set a collation belongs to: its name's prefix (`utf8mb4_bin`)."""
    return collation.split("_", 1)[0]


def is_character_type(type_name: TypeName) -> bool:
    return type_name.name.split(" ")[0] in _CHARACTER_TYPES


def _unquote(name: str) -> str:
    name = name.strip()
    if "." in name and not name.startswith("`"):
        name = name.rsplit(".", 1)[1]
    elif name.count("`") >= 4:  # `db`.`table`
        name = name[name.index("`.") + 2 :]
    if name.startswith("`") and name.endswith("`"):
        return name[1:-1].replace("``", "`")
    return name


class MysqlReplayer(SqlglotReplayer):
    dialect = "mysql"

    def __init__(self, profile: Any) -> None:
        super().__init__(profile)
        # Indexes InnoDB made by itself for a foreign key (by id): it drops them again when a
        # later index, or another foreign key's, starts with their columns, also after their
        # own foreign key is dropped (checked on MariaDB).
        self.implicit_fk_indexes: set[int] = set()
        self.unnamed_foreign_keys: set[int] = set()
        # The file's first DDL change, and whether a later DDL statement followed it.
        self.file_ddl: Change | None = None
        self.file_ddl_followed = False  # by id: their index takes a column's name
        # The session's user variables that hold SQL text (`SET @s := ...`), each with the
        # strings it may hold, and its prepared statements (`PREPARE st FROM @s`).
        self.user_strings: dict[str, list[str]] = {}
        self.prepared: dict[str, str] = {}

    def apply(self, statement: Statement) -> None:
        before = len(self.model.changes)
        super().apply(statement)
        made = self.model.changes[before:]
        if not made:
            return
        # Character sets named anywhere in the statement (string literals aside).
        text = _STRING.sub("''", statement.text)
        found = sorted({m.group("name").lower().split("_")[0] for m in _CHARSET.finditer(text)})
        made[0].charsets = tuple(found)
        ddl = next((c for c in made if c.kind in _DDL and not c.noop), None)
        if ddl is None:
            return
        if self.file_ddl is not None and self.file_ddl.statement.source is not statement.source:
            self.file_ddl, self.file_ddl_followed = None, False
        if self.file_ddl is None:
            # A guarded statement (IF [NOT] EXISTS) runs again without failing: the file is
            # stuck half-way only after one that does not.
            if not (ddl.if_not_exists or ddl.missing_ok):
                self.file_ddl = ddl
        elif not self.file_ddl_followed and self.file_ddl.statement is not statement:
            ddl.committed_before = self.file_ddl
            self.file_ddl_followed = True

    # -- names -----------------------------------------------------------------------------
    def constraint_name(self, table: Table, kind: str, columns: list[str]) -> str:
        if kind == "primary_key":
            return "PRIMARY"
        if kind == "unique":
            return self.index_name(table, columns)
        if kind == "foreign_key":
            return f"{table.name}_ibfk_{self._next_number(table, f'{table.name}_ibfk_')}"
        if columns:  # a column's CHECK
            return columns[0]
        return f"CONSTRAINT_{self._next_number(table, 'CONSTRAINT_')}"

    def _next_number(self, table: Table, prefix: str) -> int:
        numbers = [
            int(name[len(prefix) :])
            for name in table.constraints
            if name.startswith(prefix) and name[len(prefix) :].isdigit()
        ]
        return max(numbers, default=0) + 1

    def index_name(self, table: Table, columns: list[str]) -> str:
        """An unnamed key's name: its first column's, `_2`, `_3` ... when that is taken."""
        base = columns[0] if columns else "key"
        taken = {i.name.lower() for i in table.live_indexes}
        if base.lower() not in taken and base.upper() != "PRIMARY":
            return base
        number = 2
        while f"{base}_{number}".lower() in taken:
            number += 1
        return f"{base}_{number}"

    def find_index(self, table: Table | None, name: str) -> Index | None:
        if table is None:
            return None
        return next((i for i in table.live_indexes if i.name.lower() == name.lower()), None)

    # -- columns ---------------------------------------------------------------------------
    def column_definition(self, table: Table, definition: Any, statement: Statement) -> Column:
        from sqlglot import exp

        column = super().column_definition(table, definition, statement)
        for item in definition.args.get("constraints") or ():
            kind = item.args.get("kind")
            if isinstance(kind, exp.AutoIncrementColumnConstraint):
                column.identity = AUTO_INCREMENT
                column.not_null = True  # an AUTO_INCREMENT column is a key: never NULL
            elif isinstance(kind, exp.CommentColumnConstraint):
                column.comment = kind.this.name if kind.this is not None else None
            elif isinstance(kind, exp.CharacterSetColumnConstraint):
                column.charset = charset_name(kind.this.name)
            elif isinstance(kind, exp.CollateColumnConstraint):
                column.collation = collation_name(kind.this.name)
        if not is_character_type(column.type):
            column.charset = column.collation = None
        elif column.collation is not None:
            column.charset = charset_of(column.collation)
        elif column.charset is None:
            # Not written: the table's default as it is now.
            column.charset, column.collation = table.charset, table.collation
        return column

    # -- table options -----------------------------------------------------------------------
    def table_options(self, table: Table, statement: Statement) -> None:
        properties = statement.tree.args.get("properties")
        self.set_table_options(table, properties.expressions if properties else (), statement)

    def set_table_options(self, table: Table, options: Any, statement: Statement) -> list[str]:
        """ENGINE=, [DEFAULT] CHARACTER SET / CHARSET, COLLATE of CREATE or ALTER TABLE: what
        they set, as `ENGINE=InnoDB`, `CHARSET=utf8mb4 COLLATE=utf8mb4_bin`."""
        from sqlglot import exp

        engine = charset = collation = None
        for option in options:
            if isinstance(option, exp.EngineProperty):
                engine = option.this.name
            elif isinstance(option, exp.CharacterSetProperty):
                charset = option.this.name
            elif isinstance(option, exp.CollateProperty):
                collation = option.this.name
        return self.apply_table_options(table, engine, charset, collation, statement)

    def apply_table_options(
        self,
        table: Table,
        engine: str | None,
        charset: str | None,
        collation: str | None,
        statement: Statement,
    ) -> list[str]:
        done: list[str] = []
        if engine:
            table.engine = engine
            done.append(f"ENGINE={engine}")
        if collation:
            table.collation = collation_name(collation)
            table.charset = charset_of(table.collation)
        elif charset:
            # A character set alone: its default collation, the server's to say.
            table.charset, table.collation = charset_name(charset), None
        if charset or collation:
            done.append(_charset_words(table.charset, table.collation, "CHARSET=", "COLLATE="))
        if done and (table.created is None or table.created.statement is not statement):
            table.record("altered", statement, " ".join(done))
        return done

    def convert_to(
        self, table: Table, charset: str | None, collation: str | None, statement: Statement
    ) -> None:
        """CONVERT TO CHARACTER SET x [COLLATE y]: the table's default, and every character
        column's character set and collation."""
        self.apply_table_options(table, None, charset, collation, statement)
        for column in table.columns.values():
            if is_character_type(column.type) and (
                (column.charset, column.collation) != (table.charset, table.collation)
            ):
                wider = _wider_text(column.type, column.charset, table.charset)
                if wider is not None:
                    column.record("retyped", statement, f"{column.type} -> {wider}")
                    column.type = wider
                column.charset, column.collation = table.charset, table.collation
                column.record(
                    "altered",
                    statement,
                    _charset_words(column.charset, column.collation, "CHARACTER SET ", "COLLATE "),
                )

    # -- keys and indexes ------------------------------------------------------------------
    def add_constraint(
        self,
        table: Table,
        kind: str,
        name: str,
        columns: list[str],
        statement: Statement,
        expression: Any = None,
    ) -> Constraint:
        if kind == "primary_key":
            name = "PRIMARY"  # MySQL ignores a primary key's CONSTRAINT name
        constraint = super().add_constraint(table, kind, name, columns, statement, expression)
        if kind in ("primary_key", "unique"):
            self.drop_implicit_fk_index(table, columns, statement)
        return constraint

    def inline_index(self, table: Table, element: Any, statement: Statement) -> None:
        """KEY/INDEX [name] (columns) in CREATE TABLE or ALTER TABLE ADD."""
        keys = self.index_keys(element.expressions)
        name = element.name or self.index_name(table, [k for k in keys if isinstance(k, str)])
        kind = str(element.args.get("kind") or "").lower()
        self.make_index(table, name, keys, statement, method=kind or "btree")

    def index_keys(self, elements: Any) -> list[str | Expression]:
        """An index's key parts: column names (a prefix `name(10)` is its column's), and
        expressions (MySQL 8's functional key parts) in the model's form, or as MySQL writes
        them when PostgreSQL has no way to say them."""
        from sqlglot import exp

        keys: list[str | Expression] = []
        for element in elements or ():
            while isinstance(element, exp.Ordered | exp.Paren):  # `(expr) DESC`
                element = element.this
            if isinstance(element, exp.Column | exp.Identifier | exp.ColumnPrefix):
                keys.append(_key_name(element))
                continue
            found = self.expression(element)
            keys.append(found if found is not None else f"({element.sql(dialect='mysql')})")
        return keys

    def make_index(
        self,
        table: Table,
        name: str,
        keys: list[str | Expression],
        statement: Statement,
        unique: bool = False,
        method: str = "btree",
        detail: str = "",
    ) -> Index:
        index = Index(
            name,
            schema=table.schema,
            table=table,
            columns=list(keys),
            key_names=[k if isinstance(k, str) else "expr" for k in keys],
            unique=unique,
            method=method,
        )
        table.indexes.append(index)
        self.model.indexes[(table.schema, name)] = index
        self.born(index, statement, detail)
        if method == "btree":
            self.drop_implicit_fk_index(table, [str(k) for k in keys], statement, keep=index)
        return index

    def add_foreign_key(
        self,
        table: Table,
        name: str,
        columns: list[str],
        reference: Any,
        statement: Statement,
    ) -> Constraint | None:
        constraint = super().add_foreign_key(table, name, columns, reference, statement)
        if constraint is not None:
            # InnoDB's default for an action not written: RESTRICT (NO ACTION is the same).
            if "delete" not in constraint.actions_written:
                constraint.on_delete = "RESTRICT"
            if "update" not in constraint.actions_written:
                constraint.on_update = "RESTRICT"
            if not name:
                self.unnamed_foreign_keys.add(id(constraint))
            if table.created is None or table.created.statement is not statement:
                self.foreign_key_index(table, constraint, name, statement)
        return constraint

    def after_create_table(self, table: Table, statement: Statement) -> None:
        # CREATE TABLE makes the foreign keys' indexes after the keys it was given.
        for constraint in list(table.constraints.values()):
            if constraint.type == "foreign_key":
                unnamed = id(constraint) in self.unnamed_foreign_keys
                self.foreign_key_index(
                    table, constraint, "" if unnamed else constraint.name, statement
                )

    def foreign_key_index(
        self, table: Table, constraint: Constraint, written_name: str, statement: Statement
    ) -> None:
        """InnoDB's index for a foreign key no index starts with: named after the written
        constraint name, else after the first column."""
        columns = [c.lower() for c in constraint.columns]
        if not columns or self.covering_index(table, columns) is not None:
            return
        # The one InnoDB made for an earlier key on these columns goes first (its name too).
        self.drop_implicit_fk_index(table, list(constraint.columns), statement)
        name = written_name or self.index_name(table, constraint.columns)
        if self.find_index(table, name) is not None:
            name = self.index_name(table, [name])
        index = self.make_index(
            table, name, list(constraint.columns), statement, detail="for its foreign key"
        )
        self.implicit_fk_indexes.add(id(index))

    def covering_index(
        self, table: Table, columns: list[str], but: Index | None = None
    ) -> Index | None:
        for index in table.live_indexes:
            # An index InnoDB made for a foreign key serves no other: a new key gets its own
            # index, which replaces it (checked on MariaDB).
            if index is but or index.method != "btree" or id(index) in self.implicit_fk_indexes:
                continue
            keys = [str(k).lower() for k in index.columns[: len(columns)]]
            if keys == columns:
                return index
        return None

    def drop_implicit_fk_index(
        self, table: Table, keys: list[str], statement: Statement, keep: Index | None = None
    ) -> None:
        """A new index starting with a foreign key's columns takes over from the index InnoDB
        made for it, which InnoDB drops."""
        lowered = [k.lower() for k in keys]
        for index in list(table.live_indexes):
            if index is keep or id(index) not in self.implicit_fk_indexes:
                continue
            columns = [str(c).lower() for c in index.columns]
            if lowered[: len(columns)] == columns:
                self.implicit_fk_indexes.discard(id(index))
                self.drop_index_object(index, statement, "replaced by a later index")

    # -- CREATE ----------------------------------------------------------------------------
    def create_table(self, statement: Statement) -> None:
        from sqlglot import exp

        properties = statement.tree.args.get("properties")
        like = next(
            (
                p
                for p in (properties.expressions if properties else ())
                if isinstance(p, exp.LikeProperty)
            ),
            None,
        )
        if like is None:
            super().create_table(statement)
            return
        self.create_table_like(statement, like.this)

    def create_table_like(self, statement: Statement, source_node: Any) -> None:
        """CREATE TABLE t LIKE s: s's columns, keys, indexes and CHECKs; no foreign keys."""
        schema, name = self.table_name(statement.tree.this)
        if_not_exists = bool(statement.tree.args.get("exists"))
        existing = self.model.tables.get((schema, name))
        if existing is not None and not existing.external:
            self.change("create_table", statement, if_not_exists=if_not_exists, noop=True)
            return
        table = Table(name, schema=schema)
        self.model.tables[(schema, name)] = table
        self.born(table, statement)
        source = self.find_table(source_node)
        if source is None:
            table.columns_known = False
        else:
            table.engine, table.charset = source.engine, source.charset
            table.collation = source.collation
            for column in source.columns.values():
                copy = Column(
                    column.name,
                    table=table,
                    type=column.type,
                    not_null=column.not_null,
                    default=column.default,
                    identity=column.identity,
                    generated=column.generated,
                    comment=column.comment,
                    charset=column.charset,
                    collation=column.collation,
                )
                table.columns[copy.name] = copy
                self.born(copy, statement, f"like {source.qualified_name}")
            for constraint in source.constraints.values():
                if constraint.type == "foreign_key":
                    continue
                self.add_constraint(
                    table,
                    constraint.type,
                    constraint.name,
                    list(constraint.columns),
                    statement,
                    constraint.expression,
                )
            for index in source.live_indexes:
                if index.constraint is None:
                    self.make_index(
                        table,
                        index.name,
                        [str(c) for c in index.columns],
                        statement,
                        unique=index.unique,
                        method=index.method,
                    )
        self.change(
            "create_table", statement, table=table, if_not_exists=if_not_exists, table_existed=False
        )

    def create_index(self, statement: Statement) -> None:
        """CREATE [UNIQUE|FULLTEXT|SPATIAL] INDEX name ON t (...): index names are the
        table's."""
        tree = statement.tree
        index_node = tree.this
        table = self.table_for_alter(index_node.args.get("table"), statement)
        name = index_node.name
        if self.find_index(table, name) is not None:
            self.change("create_index", statement, table=table, if_not_exists=True, noop=True)
            return
        params = index_node.args.get("params")
        keys = self.index_keys(params.args.get("columns")) if params else []
        unique = bool(tree.args.get("unique"))
        if unique and all(isinstance(k, str) for k in keys):
            columns = [str(k) for k in keys]
            constraint = self.add_constraint(table, "unique", name, columns, statement)
            index = self.find_index(table, constraint.name)
        else:
            index = self.make_index(table, name, keys, statement, unique=unique)
            constraint = None
        self.change(
            "create_index",
            statement,
            table=table,
            index=index,
            constraint=constraint,
            if_not_exists=bool(tree.args.get("exists")),
        )

    # -- DROP ------------------------------------------------------------------------------
    def _on_Drop(self, statement: Statement) -> None:
        tree = statement.tree
        kind = str(tree.args.get("kind") or "").upper()
        on = tree.args.get("cluster")
        if kind == "INDEX" and on is not None:  # DROP INDEX name ON table
            table = self.find_table(on.this)
            for target in tree.args.get("tables") or ():
                self.drop_key(table, target.name, statement, bool(tree.args.get("exists")))
            return
        if kind in ("PROCEDURE", "FUNCTION", "TRIGGER"):
            for target in tree.args.get("tables") or ():
                self.drop_routine(kind, target.name, statement, bool(tree.args.get("exists")))
            return
        super()._on_Drop(statement)

    def drop_key(
        self, table: Table | None, name: str, statement: Statement, missing_ok: bool = False
    ) -> None:
        """DROP INDEX / DROP KEY: a plain index, or the index of a UNIQUE key (or PRIMARY)."""
        index = self.find_index(table, name)
        if table is not None and index is not None and index.constraint is not None:
            constraint = self.drop_constraint(table, index.constraint.name, statement)
            table.record("altered", statement, f"dropped index {name}")
            self.change("drop_index", statement, table=table, index=index, constraint=constraint)
            return
        if index is not None:
            self.implicit_fk_indexes.discard(id(index))
            self.drop_index_object(index, statement)
        self.change(
            "drop_index",
            statement,
            table=table,
            index=index,
            missing_ok=missing_ok,
            detail="" if index else f"no index {name}",
        )

    def drop_routine(self, kind: str, name: str, statement: Statement, missing_ok: bool) -> None:
        if kind == "TRIGGER":
            for table in self.model.tables.values():
                trigger = table.triggers.pop(name, None)
                if trigger is not None:
                    self.died(trigger, statement)
                    self.change("drop_trigger", statement, table=table, object=trigger)
                    return
            self.change("drop_trigger", statement, missing_ok=missing_ok)
            return
        function = self.model.functions.pop((DEFAULT_SCHEMA, name, ""), None)
        if function is not None:
            self.died(function, statement)
        self.change("drop_function", statement, object=function, missing_ok=missing_ok)

    # -- ALTER TABLE -----------------------------------------------------------------------
    def _on_Alter(self, statement: Statement) -> None:
        before = len(self.model.changes)
        tree = statement.tree
        if str(tree.args.get("kind") or "").upper() == "TABLE":
            # Table options first: a column the statement adds or redefines takes the new
            # default character set, as in MySQL.
            table = self.table_for_alter(tree.this, statement)
            done = self.set_table_options(table, tree.args.get("options") or (), statement)
            if done and not tree.args.get("actions"):
                self.change("alter_table_other", statement, table=table, detail=" ".join(done))
        super()._on_Alter(statement)
        options = self.alter_options(statement)
        if options:
            for item in self.model.changes[before:]:
                item.options = item.options | options

    def alter_options(self, statement: Statement) -> frozenset[str]:
        """ALGORITHM= and LOCK= of an ALTER TABLE, as `algorithm=inplace`, `lock=none`."""
        from sqlglot import exp

        found: set[str] = set()
        for option in statement.tree.args.get("options") or ():
            if isinstance(option, exp.AlgorithmProperty | exp.LockProperty):
                key = "algorithm" if isinstance(option, exp.AlgorithmProperty) else "lock"
                found.add(f"{key}={option.this.name.lower()}")
        return frozenset(found)

    def alter_action(self, table: Table, action: Any, statement: Statement) -> None:
        from sqlglot import exp

        if isinstance(action, exp.ModifyColumn):
            self.modify_column(table, action, statement)
        elif isinstance(action, exp.AddConstraint):
            for element in action.expressions:
                self.add_table_element(table, element, statement)
        elif isinstance(action, exp.DropPrimaryKey):
            constraint = self.drop_constraint(table, "PRIMARY", statement)
            table.record("altered", statement, "dropped constraint PRIMARY")
            self.change(
                "drop_constraint", statement, table=table, constraint=constraint, detail="PRIMARY"
            )
        elif isinstance(action, exp.Drop):
            self.alter_drop(table, action, statement)
        elif isinstance(action, exp.RenameIndex):
            index = self.find_index(table, action.this.name)
            new_name = action.args["to"].name
            if index is not None:
                if index.constraint is not None:
                    constraint = table.constraints.pop(index.constraint.name)
                    constraint.name = new_name
                    table.constraints[new_name] = constraint
                self.rename_index(index, new_name, statement)
            self.change("rename_index", statement, table=table, index=index, detail=new_name)
        elif isinstance(action, exp.AlterColumn):
            self.alter_column(table, action, statement)
        else:
            super().alter_action(table, action, statement)

    def add_table_element(self, table: Table, element: Any, statement: Statement) -> None:
        """ADD INDEX / KEY / UNIQUE / PRIMARY KEY / FOREIGN KEY / CONSTRAINT ... CHECK."""
        from sqlglot import exp

        before = {id(c) for c in table.constraints.values()}
        indexes_before = {id(i) for i in table.live_indexes}
        self.table_element(table, element, None, statement)
        added = [c for c in table.constraints.values() if id(c) not in before]
        for constraint in added:
            table.record("altered", statement, f"added constraint {constraint.name}")
            self.change("add_constraint", statement, table=table, constraint=constraint)
        if not added and isinstance(element, exp.IndexColumnConstraint):
            index = next((i for i in table.live_indexes if id(i) not in indexes_before), None)
            self.change("create_index", statement, table=table, index=index, detail="ADD INDEX")

    def table_element_named(
        self, table: Table, element: Any, name: str, column_name: str | None, statement: Statement
    ) -> None:
        from sqlglot import exp

        if isinstance(element, exp.UniqueColumnConstraint) and element.this is not None:
            # UNIQUE KEY name (columns): sqlglot keeps the key's name as the Schema's `this`
            target = element.this
            if isinstance(target, exp.Schema) and target.this is not None and not name:
                name = target.this.name
        elif isinstance(element, exp.ForeignKey) and not name:
            # FOREIGN KEY index_name (columns): MariaDB names the constraint after it.
            written = element.args.get("this")
            if written is not None and str(written.name):
                name = str(written.name)
        super().table_element_named(table, element, name, column_name, statement)

    def alter_drop(self, table: Table, action: Any, statement: Statement) -> None:
        kind = str(action.args.get("kind") or "").upper()
        missing_ok = bool(action.args.get("exists"))
        for target in action.args.get("tables") or ():
            name = target.name
            if kind == "INDEX":
                self.drop_key(table, name, statement, missing_ok)
            elif kind in ("FOREIGN KEY", "CHECK", "CONSTRAINT"):
                found = table.constraints.get(name) or next(
                    (c for c in table.constraints.values() if c.name.lower() == name.lower()),
                    None,
                )
                constraint = self.drop_constraint(table, found.name, statement) if found else None
                if constraint is not None:
                    table.record("altered", statement, f"dropped constraint {name}")
                self.change(
                    "drop_constraint",
                    statement,
                    table=table,
                    constraint=constraint,
                    missing_ok=missing_ok,
                    detail=name,
                )
            else:
                super().alter_action(table, action, statement)

    def rename_table(self, table: Table, new_name: str, statement: Statement) -> str:
        """RENAME: InnoDB renames the foreign keys it named after the table
        (`<old>_ibfk_<n>` -> `<new>_ibfk_<n>`)."""
        old_name = table.name
        old = super().rename_table(table, new_name, statement)
        prefix = f"{old_name}_ibfk_"
        for name in [n for n in table.constraints if n.startswith(prefix)]:
            if name[len(prefix) :].isdigit():
                constraint = table.constraints.pop(name)
                constraint.name = f"{new_name}_ibfk_{name[len(prefix) :]}"
                table.constraints[constraint.name] = constraint
        return old

    def drop_column_object(
        self,
        table: Table,
        name: str,
        statement: Statement,
        cascade: bool = False,
        detail: str = "",
    ) -> Column | None:
        """DROP COLUMN: MySQL takes the column out of the keys and indexes of several columns
        (they stay, on the others) and drops those of that column alone."""
        if name in table.columns:
            for constraint in table.constraints.values():
                if constraint.type in ("primary_key", "unique") and len(constraint.columns) > 1:
                    constraint.columns = [c for c in constraint.columns if c != name]
            for index in table.live_indexes:
                if len(index.columns) > 1 and name in index.columns:
                    index.columns = [c for c in index.columns if c != name]
                    index.key_names = [k for k in index.key_names if k != name]
                    index.record("altered", statement, f"without its column {name}")
        return super().drop_column_object(table, name, statement, cascade, detail)

    def modify_column(self, table: Table, action: Any, statement: Statement) -> None:
        """MODIFY col def / CHANGE old new def: the column is redefined whole."""
        definition = action.this
        renamed_from = action.args.get("rename_from")
        old_name = renamed_from.name if renamed_from is not None else definition.name
        column = table.columns.get(old_name) or next(
            (c for n, c in table.columns.items() if n.lower() == old_name.lower()), None
        )
        new = self.column_definition(table, definition, statement)
        if column is None:
            table.columns[new.name] = new
            self.born(new, statement)
            self.change(
                "alter_table_other", statement, table=table, column=new, detail="ModifyColumn"
            )
            return
        if new.name != column.name:
            old_name = column.name
            column = self.rename_column(table, old_name, new.name, statement) or column
            table.record("altered", statement, f"renamed column {old_name} -> {new.name}")
            self.change(
                "rename_column",
                statement,
                table=table,
                column=column,
                detail=f"{old_name} -> {new.name}",
            )
        old_type, old_not_null, old_default = column.type, column.not_null, column.default
        old_charset = (column.charset, column.collation)
        column.type = new.type
        column.charset, column.collation = new.charset, new.collation
        column.identity = new.identity
        column.comment = new.comment
        column.generated = new.generated
        column.default = new.default
        column.not_null = new.not_null or any(
            c.type == "primary_key" and column.name in c.columns for c in table.constraints.values()
        )
        if storage_type(old_type) != storage_type(new.type):
            column.record("retyped", statement, f"{old_type} -> {new.type}")
            self.change(
                "alter_column_type",
                statement,
                table=table,
                column=column,
                detail=f"{written_type(old_type)} -> {written_type(new.type)}",
                old_type=old_type,
                copies_table=copies_table(old_type, new.type),
            )
        if column.not_null != old_not_null:
            column.record(
                "altered", statement, "SET NOT NULL" if column.not_null else "DROP NOT NULL"
            )
            self.change(
                "set_not_null" if column.not_null else "drop_not_null",
                statement,
                table=table,
                column=column,
                detail=column.name,
            )
        if (column.charset, column.collation) != old_charset and column.charset is not None:
            column.record(
                "altered",
                statement,
                _charset_words(column.charset, column.collation, "CHARACTER SET ", "COLLATE "),
            )
        old_sql = old_default.sql if old_default is not None else None
        new_sql = column.default.sql if column.default is not None else None
        if old_sql != new_sql:
            column.record("altered", statement, "SET DEFAULT" if new_sql else "DROP DEFAULT")
            self.change(
                "set_default" if new_sql else "drop_default",
                statement,
                table=table,
                column=column,
            )
        for item in definition.args.get("constraints") or ():
            if self.is_key_constraint(item.args.get("kind")):
                self.table_element(table, item, column.name, statement)
        self.change(
            "alter_table_other", statement, table=table, column=column, detail="ModifyColumn"
        )

    def alter_column(self, table: Table, action: Any, statement: Statement) -> None:
        """ALTER [COLUMN] c SET DEFAULT x / DROP DEFAULT."""
        column = table.columns.get(action.this.name)
        default = action.args.get("default")
        if default is None and not action.args.get("drop"):
            super().alter_action(table, action, statement)
            return
        if column is not None:
            column.default = self.expression(default) if default is not None else None
            column.record(
                "altered", statement, "SET DEFAULT" if default is not None else "DROP DEFAULT"
            )
        self.change(
            "set_default" if default is not None else "drop_default",
            statement,
            table=table,
            column=column,
        )

    # -- what sqlglot keeps as a Command -----------------------------------------------------
    def _on_Command(self, statement: Statement) -> None:
        text = statement.text
        rename = _RENAME_TABLE.match(text)
        if rename:
            for pair in _PAIR.finditer(rename.group("pairs")):
                old, new = _unquote(pair.group("old")), _unquote(pair.group("new"))
                table = self.model.tables.get((DEFAULT_SCHEMA, old))
                if table is None:
                    table = self.table_for_alter_name(old)
                old_qualified = self.rename_table(table, new, statement)
                self.change("rename_table", statement, table=table, detail=old_qualified)
            return
        routine = _ROUTINE_HEAD.match(text)
        if routine:
            self.create_routine(routine, statement)
            return
        alter = _ALTER_TABLE.match(text)
        if alter:
            table = self.table_for_alter_name(_unquote(alter.group("table")))
            self.command_actions(table, alter.group("rest"), statement)
            options = frozenset(
                f"{m.group('key').lower()}={m.group('value').lower()}"
                for m in _OPTION.finditer(alter.group("rest"))
            )
            self.change(
                "alter_table_other",
                statement,
                table=table,
                detail=_alter_detail(alter.group("rest")),
                options=options,
            )
            return
        words = text.split()
        word = words[0].upper() if words else ""
        prepare = word == "PREPARE" and len(words) == 4 and words[2].upper() == "FROM"
        if prepare and words[3].startswith("@"):
            self.prepared[words[1].lower()] = words[3][1:].rstrip(";").lower()
        if word == "EXECUTE" and len(words) == 2:
            if self.expand_execute(words[1].rstrip(";").lower(), statement):
                return
            self.change("not_modelled", statement, detail=text.split("(", 1)[0].strip())
            return
        if word in ("EXECUTE", "CALL"):
            # A prepared statement's text or a procedure: DDL the replay cannot see.
            self.change("not_modelled", statement, detail=text.split("(", 1)[0].strip())
            if word == "CALL":
                self.expand_call(text, statement)
            return
        self.model.opaque.append(statement)

    def command_actions(self, table: Table, rest: str, statement: Statement) -> None:
        """The actions of an ALTER TABLE sqlglot keeps as text that the model reads, in
        order: ENGINE=, [DEFAULT] CHARACTER SET / COLLATE, CONVERT TO CHARACTER SET, and
        ADD [COLUMN] (a int, b int) (each column replayed as its own ADD COLUMN)."""
        import sqlglot

        for action in _split_top(rest.rstrip().rstrip(";")):
            engine = _ENGINE_OPTION.match(action)
            charset = _CHARSET_OPTION.match(action)
            columns = _ADD_COLUMNS.match(action)
            if engine:
                self.apply_table_options(table, engine.group("engine"), None, None, statement)
            elif charset and (charset.group("charset") or charset.group("collation")):
                if charset.group("convert"):
                    self.convert_to(
                        table, charset.group("charset"), charset.group("collation"), statement
                    )
                else:
                    self.apply_table_options(
                        table, None, charset.group("charset"), charset.group("collation"), statement
                    )
            elif columns:
                name = "`" + table.name.replace("`", "``") + "`"
                for definition in _split_top(columns.group("columns")):
                    try:
                        tree = sqlglot.parse_one(
                            f"ALTER TABLE {name} ADD COLUMN {definition}", read=reader("mysql")
                        )
                    except Exception:
                        continue
                    if type(tree).__name__ == "Alter":
                        self.replay_built([tree], statement)

    # -- DDL chosen at run time: SET @s := IF(<exists>, 'ALTER ...', 'SELECT ...') ------------
    def _on_Set(self, statement: Statement) -> None:
        """`SET @v = <expression>`: the strings the variable may hold, for a later PREPARE."""
        from sqlglot import exp

        self.model.opaque.append(statement)
        for item in statement.tree.expressions or ():
            assign = item.this
            if isinstance(assign, exp.EQ) and isinstance(assign.this, exp.Parameter):
                self.user_strings[assign.this.name.lower()] = self.strings_of(assign.expression)

    def strings_of(self, node: Any) -> list[str]:
        """The strings an expression may evaluate to: a literal, a CONCAT of literals and
        variables holding one string, either branch of an IF (in a `SELECT IF(...)` too);
        nothing else is read."""
        from sqlglot import exp

        while isinstance(node, exp.Subquery | exp.Paren):
            node = node.this
        if (
            isinstance(node, exp.Select)
            and len(node.expressions) == 1
            and not node.args.get("from")
        ):
            node = node.expressions[0]
        if isinstance(node, exp.Literal) and node.is_string:
            return [str(node.this)]
        if isinstance(node, exp.If):
            return self.strings_of(node.args.get("true")) + self.strings_of(node.args.get("false"))
        if isinstance(node, exp.Concat):
            parts = [self.strings_of(part) for part in node.expressions]
            return ["".join(p[0] for p in parts)] if all(len(p) == 1 for p in parts) else []
        if isinstance(node, exp.Parameter):
            held = self.user_strings.get(node.name.lower(), [])
            return held if len(held) == 1 else []
        return []

    def expand_execute(self, name: str, statement: Statement) -> bool:
        """EXECUTE of a statement prepared from a variable that holds one DDL statement or a
        SELECT, chosen by an existence check (conductor's `IF(@exist > 0, 'ALTER TABLE t DROP
        INDEX i', 'SELECT ...')`, `IF(<column exists>, 'SELECT 1', 'ALTER TABLE t ADD c')`):
        the DDL is replayed when it can run, as the check decides: what it drops exists and
        what it adds does not, else the SELECT runs. Whether its effect is in the model (the
        oracle compares conductor's with MariaDB); one whose is not stays a `not_modelled`
        change."""
        import sqlglot

        variable = self.prepared.get(name)
        if variable is None:
            return False
        trees = []
        selects = 0
        for sql in self.user_strings.get(variable, []):
            try:
                tree = sqlglot.parse_one(sql, read=reader("mysql"))
            except Exception:
                return False
            if type(tree).__name__ in ("Alter", "Drop", "Create"):
                trees.append(tree)
            elif type(tree).__name__ == "Select":
                selects += 1
            else:
                return False
        if len(trees) != 1:
            return False
        if self.guard_holds(trees[0]) and not self.adds_existing(trees[0]):
            self.replay_built(trees, statement)
            return True
        # The check chooses the SELECT: the schema stays as it is. Without a SELECT to
        # choose, the DDL would fail on the server: not something the replay can tell.
        return selects > 0

    def adds_existing(self, tree: Any) -> bool:
        """Whether an ALTER TABLE adds a column the table has (MySQL refuses it)."""
        from sqlglot import exp

        if not isinstance(tree, exp.Alter):
            return False
        table = self.find_table(tree.this)
        return table is not None and any(
            isinstance(action, exp.ColumnDef) and action.name in table.columns
            for action in tree.args.get("actions") or ()
        )

    # -- CALL of a procedure the history created ----------------------------------------------
    def expand_call(self, text: str, statement: Statement) -> None:
        """Replays the DDL a procedure of this history builds from the call's literal arguments
        (`SET @s = CONCAT('ALTER TABLE ', t, ' DROP INDEX ', i); PREPARE st FROM @s; EXECUTE
        st`, authelia's and conductor's helpers), when every statement it builds parses and
        what the first one changes exists (the procedures guard their DDL with existence
        checks). The CALL stays a `not_modelled` change: the guard itself is not read."""
        import sqlglot

        call = _CALL.match(text)
        if call is None:
            return
        function = self.model.functions.get((DEFAULT_SCHEMA, _unquote(call.group("name")), ""))
        if function is None or not function.body:
            return
        names = _parameters(function.body)
        values = (
            [_literal(a) for a in _split_top(call.group("args"))]
            if call.group("args").strip()
            else []
        )
        if names is None or len(names) != len(values) or any(v is None for v in values):
            return
        arguments = {n.lower(): str(v) for n, v in zip(names, values, strict=True)}
        built: list[str] = []
        for dynamic in _DYNAMIC.finditer(function.body):
            parts = [_literal(p) for p in _split_top(dynamic.group("parts"))]
            words = [p.strip() for p in _split_top(dynamic.group("parts"))]
            text_parts: list[str] = []
            for part, word in zip(parts, words, strict=True):
                if part is not None:
                    text_parts.append(part)
                elif word.lower() in arguments:
                    text_parts.append(arguments[word.lower()])
                else:
                    return  # built from something other than literals and parameters
            built.append("".join(text_parts))
        trees = []
        for sql in built:
            try:
                tree = sqlglot.parse_one(sql, read=reader("mysql"))
            except Exception:
                return
            if tree is None or type(tree).__name__ not in ("Alter", "Drop", "Create"):
                return
            trees.append(tree)
        if not trees or not self.guard_holds(trees[0]):
            return
        self.replay_built(trees, statement)

    def replay_built(self, trees: list[Any], statement: Statement) -> None:
        """Replays statements built at run time as if `statement` had been each of them."""
        for tree in trees:
            kind = type(tree).__name__
            expanded = Statement(
                source=statement.source,
                index=statement.index,
                kind=kind,
                _tree={},
                start=statement.start,
                end=statement.end,
                trivia_start=statement.trivia_start,
                tree=tree,
            )
            self.handlers[kind](expanded)

    def guard_holds(self, tree: Any) -> bool:
        """Whether what the first built statement drops or changes exists in the model."""
        from sqlglot import exp

        if isinstance(tree, exp.Drop):
            targets = tree.args.get("tables") or ()
            if str(tree.args.get("kind") or "").upper() != "TABLE":
                return True
            return all(
                (found := self.find_table(t)) is not None and not found.external for t in targets
            )
        if not isinstance(tree, exp.Alter):
            return True
        table = self.find_table(tree.this)
        if table is None or table.external:
            return False
        for action in tree.args.get("actions") or ():
            if isinstance(action, exp.Drop):
                kind = str(action.args.get("kind") or "").upper()
                for target in action.args.get("tables") or ():
                    if kind == "INDEX" and self.find_index(table, target.name) is None:
                        return False
                    if kind in ("FOREIGN KEY", "CONSTRAINT", "CHECK") and (
                        target.name not in table.constraints
                    ):
                        return False
                    if kind in ("COLUMN", "") and target.name not in table.columns:
                        return False
            elif isinstance(action, exp.ModifyColumn):
                renamed = action.args.get("rename_from")
                name = renamed.name if renamed is not None else action.this.name
                if name not in table.columns:
                    return False
        return True

    def table_for_alter_name(self, name: str) -> Table:
        found = self.model.tables.get((DEFAULT_SCHEMA, name))
        if found is None:
            found = Table(name, schema=DEFAULT_SCHEMA, external=True)
            self.model.tables[(DEFAULT_SCHEMA, name)] = found
        return found

    def create_routine(self, head: re.Match[str], statement: Statement) -> None:
        kind = head.group("kind").upper()
        name = _unquote(head.group("name"))
        if kind == "TRIGGER":
            tail = _TRIGGER_TAIL.match(statement.text, head.end())
            if tail is None:
                self.model.opaque.append(statement)
                return
            table = self.table_for_alter_name(_unquote(tail.group("table")))
            trigger = Trigger(
                name,
                table=table,
                timing=tail.group("timing").lower(),
                events=[tail.group("event").lower()],
                for_each_row=True,
            )
            own_triggers(table)[name] = trigger
            self.born(trigger, statement)
            self.change("create_trigger", statement, table=table, object=trigger)
            return
        if kind == "EVENT":
            self.model.opaque.append(statement)
            return
        function = Function(
            name,
            schema=DEFAULT_SCHEMA,
            language="sql",
            body=statement.text,
            procedure=kind == "PROCEDURE",
        )
        self.model.functions[(DEFAULT_SCHEMA, name, "")] = function
        self.born(function, statement)
        self.change("create_function", statement, object=function)

    # -- data changes ----------------------------------------------------------------------
    def _on_Update(self, statement: Statement) -> None:
        self.data_change("update", statement)

    def _on_Delete(self, statement: Statement) -> None:
        self.data_change("delete", statement)

    def data_change(self, kind: str, statement: Statement) -> None:
        from sqlglot import exp

        tree = statement.tree
        target = tree.this
        while target is not None and not isinstance(target, exp.Table):
            target = target.this if hasattr(target, "this") else None
        if target is None or not target.name:
            self.model.opaque.append(statement)
            return
        table = self.table_for_alter(target, statement)
        self.change(kind, statement, table=table, has_where=tree.args.get("where") is not None)


_INTEGERS = frozenset({"tinyint", "smallint", "mediumint", "int", "bigint"})


def storage_type(type_name: TypeName) -> str:
    """A type as InnoDB stores it: an integer's display width (`int(11)`) changes nothing."""
    name = {"bool": "tinyint", "boolean": "tinyint", "integer": "int"}.get(
        type_name.name, type_name.name
    )
    if name.split(" ")[0] in _INTEGERS:
        return name  # BOOLEAN is tinyint(1)
    return written_type(type_name)


def copies_table(old: TypeName, new: TypeName) -> bool:
    """Whether InnoDB changes a column from `old` to `new` only with ALGORITHM=COPY (MySQL 8.0
    and MariaDB: "Changing the column data type is only supported with ALGORITHM=COPY"),
    checked on MariaDB in tests/test_mysql.py. Not: ENUM/SET values added at the end within
    the same storage size (INSTANT), a VARCHAR made longer within the same length prefix
    (INPLACE); a VARCHAR of at most 63 characters made 256 or more (a 2-byte length prefix
    under any character set) copies; between those the character set decides, and the
    answer is no (nothing is claimed)."""
    if old.name == new.name and old.name in ("enum", "set"):
        kept = new.modifiers[: len(old.modifiers)] == old.modifiers
        limit = 255 if old.name == "enum" else 8
        return not kept or (len(old.modifiers) <= limit < len(new.modifiers))
    if old.name == new.name == "varchar" and old.modifiers and new.modifiers:
        try:
            before, after = int(old.modifiers[0]), int(new.modifiers[0])
        except ValueError:
            return False
        return after < before or (before <= 63 and after >= 256)
    return True


_CALL = re.compile(rf"\s*CALL\s+(?P<name>{_QUALIFIED})\s*\((?P<args>.*)\)\s*$", re.I | re.S)
# A statement a procedure builds and runs: SET @s = CONCAT(...); PREPARE st FROM @s.
_DYNAMIC = re.compile(
    r"SET\s+@(?P<var>\w+)\s*:?=\s*CONCAT\s*\((?P<parts>.*?)\)\s*;\s*"
    r"PREPARE\s+\w+\s+FROM\s+@(?P=var)\b",
    re.I | re.S,
)
_ROUTINE_PARAMETERS = re.compile(rf"\b(?:PROCEDURE|FUNCTION)\s+{_QUALIFIED}\s*\(", re.I)


def _literal(text: str) -> str | None:
    """A string or number literal's value, or None for anything else."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        quote = text[0]
        return text[1:-1].replace(quote * 2, quote).replace("\\" + quote, quote)
    return text if re.fullmatch(r"-?\d+(?:\.\d+)?", text) else None


def _parameters(body: str) -> list[str] | None:
    """A stored program's parameter names, from its CREATE statement."""
    head = _ROUTINE_PARAMETERS.search(body)
    if head is None:
        return None
    depth, end = 1, head.end()
    while end < len(body) and depth:
        depth += {"(": 1, ")": -1}.get(body[end], 0)
        end += 1
    inner = body[head.end() : end - 1]
    names: list[str] = []
    for parameter in _split_top(inner) if inner.strip() else []:
        words = parameter.split()
        if words and words[0].upper() in ("IN", "OUT", "INOUT"):
            words = words[1:]
        if not words:
            return None
        names.append(words[0].strip("`"))
    return names


def _alter_detail(rest: str) -> str:
    """What an ALTER TABLE that sqlglot keeps whole does: its first action's words."""
    words = re.findall(r"[A-Za-z_]+", rest)[:3]
    return " ".join(w.upper() for w in words)


# The longest character of a character set, in bytes (MySQL's mbmaxlen), for those a
# CONVERT TO meets; and each TEXT type's size in bytes.
_CHARACTER_BYTES = {"latin1": 1, "ascii": 1, "binary": 1, "utf8mb3": 3, "utf8mb4": 4, "ucs2": 2}
_TEXT_BYTES = (("tinytext", 255), ("text", 65535), ("mediumtext", 16777215))


def _wider_text(type_name: TypeName, old: str | None, new: str | None) -> TypeName | None:
    """CONVERT TO makes a TEXT column the smallest TEXT type that holds as many characters in
    the new character set as it held in the old one (latin1 TEXT -> utf8mb4 MEDIUMTEXT; never
    a smaller one), checked on MariaDB; None when it stays, or the old set is unknown."""
    sizes = dict(_TEXT_BYTES)
    if type_name.name not in sizes or old not in _CHARACTER_BYTES or new not in _CHARACTER_BYTES:
        return None
    needed = sizes[type_name.name] // _CHARACTER_BYTES[old] * _CHARACTER_BYTES[new]
    if needed <= sizes[type_name.name]:
        return None
    name = next((n for n, size in _TEXT_BYTES if size >= needed), "longtext")
    return TypeName(name)


def _charset_words(
    charset: str | None, collation: str | None, say_set: str, say_collate: str
) -> str:
    """`CHARSET=utf8mb4 COLLATE=utf8mb4_bin`, as much as is known."""
    words = [f"{say_set}{charset}"] if charset else []
    if collation:
        words.append(f"{say_collate}{collation}")
    return " ".join(words)
