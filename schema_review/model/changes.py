"""What one statement did, as statement rules see it, and the locks PostgreSQL takes for it."""

from __future__ import annotations

from typing import Any

from schema_review.model.objects import (
    Column,
    Constraint,
    Event,
    Index,
    SchemaObject,
    Table,
    TypeName,
)
from schema_review.parse import Expression, Statement, long_identifier, quote_ident
from schema_review.profile import DEFAULT_PG_VERSION

# The default of `Change.type_changes`: never changed in place (a change that has type
# changes is given a list of its own).
_NO_TYPE_CHANGES: list[Any] = []


class Change:
    """What one statement (or one ALTER TABLE sub-command) did, as statement rules see it.

    `table_existed` is true when the table was not created earlier in the same file, nor
    (with --diff-base) in an earlier file new in the same pull request, and not emptied
    earlier in the transaction (tables the replay never saw created count as existing:
    they were made elsewhere).

    A long history has a change for every statement. The fields every change has are slots;
    the others, set on few changes (a BEGIN's `closed`, an ALTER COLUMN TYPE's `old_type`),
    read their default from the class until a change sets one, which goes into that change's
    own `__dict__`, made only then: a change takes a third of the memory of 55 slots. So do
    the flags few changes set (IF NOT EXISTS, CONCURRENTLY, a lock_timeout set before: in the
    corpus each is on for under a tenth of the changes).
    """

    __slots__ = (
        "__dict__",
        "column",
        "constraint",
        "detail",
        "file_statements",
        "in_transaction",
        "index",
        "kind",
        "object",
        "statement",
        "table",
        "table_existed",
        "table_sql",
    )

    def __init__(self, kind: str, statement: Statement, **fields: Any) -> None:
        statements = fields.pop("file_statements", None)
        # The file's list itself, shared and still growing: not a copy, even when empty.
        self._fill(kind, statement, [] if statements is None else statements, fields)

    def _fill(
        self,
        kind: str,
        statement: Statement,
        file_statements: list[Statement],
        fields: dict[str, Any],
    ) -> None:
        # (change_of fills a change it allocates with the replay's dict of fields as it is:
        # not unpacked into keywords and packed again, a change a statement.)
        self.kind = kind
        self.statement = statement
        # The slots a change is usually given, taken out of the dict (which the change
        # takes over) and set in a step each; the loop below sees the few other fields.
        take = fields.pop
        self.table = take("table", None)
        self.column = take("column", None)
        self.constraint = take("constraint", None)
        self.index = take("index", None)
        self.object = take("object", None)
        self.table_existed = take("table_existed", True)
        self.in_transaction = take("in_transaction", False)
        self.detail = take("detail", "")
        self.table_sql = take("table_sql", "")
        self.file_statements = file_statements
        for name, value in fields.items():
            default = _DEFAULTS.get(name, _SLOT)
            if default is _SLOT:
                if name not in _SLOT_FIELDS:
                    raise TypeError(f"Change() got an unexpected keyword argument {name!r}")
            elif value is default or (
                type(value) is type(default) and type(value) in _IMMUTABLE and value == default
            ):
                continue  # the class's default: no dict for it
            setattr(self, name, value)

    def __repr__(self) -> str:
        return f"Change(kind={self.kind!r}, statement={self.statement!r})"

    kind: str
    statement: Statement
    table: Table | None
    column: Column | None
    constraint: Constraint | None
    index: Index | None
    object: SchemaObject | None
    table_existed: bool
    if_not_exists: bool = False
    guarded: bool = False
    concurrently: bool = False
    missing_ok: bool = False
    inline: bool = False
    noop: bool = False  # IF NOT EXISTS on something that exists: the statement does nothing
    detail: str
    # The session the statement runs in, as the replay of its file knows it.
    in_transaction: bool  # the runner's transaction or an explicit BEGIN
    lock_timeout: bool = False  # a non-zero lock_timeout is set before it
    statement_timeout: bool = False
    # The first statement of the file taking a heavy lock on an existing table with no
    # lock_timeout (statement_timeout) set: where a finding about the file's locks belongs.
    first_unguarded_lock: bool = False
    first_untimed_lock: bool = False
    # The ACCESS EXCLUSIVE lock taken earlier in the same transaction that this statement
    # (the first after it) keeps holding.
    after_exclusive_lock: Change | None = None
    # An earlier ALTER TABLE statement of the same file on the same existing table.
    repeated_alter: Change | None = None
    # The same, when both statements scan or rewrite the table (VALIDATE CONSTRAINT aside).
    repeated_slow_alter: Change | None = None
    closed: bool = True  # BEGIN: a COMMIT or ROLLBACK follows in the same file
    nested: bool = False  # BEGIN inside a transaction block
    old_type: TypeName | None = None  # ALTER COLUMN TYPE: the type before
    using: bool = False  # ALTER COLUMN TYPE ... USING
    stale_default: bool = False  # ALTER COLUMN TYPE with a default cast to the old type
    has_where: bool = True  # UPDATE / DELETE
    cascade: bool = False  # TRUNCATE ... CASCADE, DROP ... CASCADE
    options: frozenset[str] = frozenset()  # VACUUM (FULL, ...) options
    # A later UPDATE of the same table in the same file: the backfill this constraint needed.
    backfill: Change | None = None
    # ADD VALUE: a later statement of the same transaction that uses the new value.
    used_in_transaction: Statement | None = None
    close_match: str = ""  # DROP ... IF EXISTS of a missing name: the name probably meant
    not_null_proven: bool = False  # SET NOT NULL after a validated CHECK (col IS NOT NULL)
    enum_swap: bool = False  # ALTER COLUMN TYPE to an enum re-created in this file
    # The swap's new enum is the old one with values added or renamed in place: ALTER TYPE
    # could have made it (not when a value is gone or the kept values are reordered).
    enum_alterable: bool = False
    default_type: str = ""  # ALTER COLUMN TYPE: the type of the column's default, when known
    # The session's TimeZone when it runs, when known ('UTC', 'Europe/Paris'): the file SET
    # it, or the runner did (diesel); '' when the server's configuration decides.
    time_zone: str = ""
    pg_version: int = DEFAULT_PG_VERSION  # ALTER COLUMN TYPE: the version it runs on
    # ALTER COLUMN TYPE: on the statement's first type change that rewrites the table, every
    # such change of the statement (one rewrite for all); on the others, that first one.
    type_changes: list[Change] = _NO_TYPE_CHANGES
    same_rewrite: Change | None = None
    generated_virtual: bool = False  # ADD COLUMN of a virtual generated column (PostgreSQL 18)
    missing_extension: str = ""  # `uuid-ossp (uuid_generate_v4)`: used before CREATE EXTENSION
    grantees: tuple[str, ...] = ()  # GRANT / REVOKE: the roles ('public' for PUBLIC)
    privileges: tuple[str, ...] = ()  # GRANT / REVOKE: 'select', 'execute', 'all' ...
    names: tuple[str, ...] = ()  # GRANT / REVOKE: the objects named
    # MySQL, ALTER COLUMN TYPE (MODIFY, CHANGE): InnoDB does it only by copying the table.
    copies_table: bool = False
    # MySQL: the character sets the statement names (CHARACTER SET, CHARSET, a COLLATE's),
    # lower case, on its first change.
    charsets: tuple[str, ...] = ()
    # MySQL: on the first DDL statement of a file that follows another, that first one. Each
    # DDL statement commits by itself: if this one fails, the ones before it stay applied.
    committed_before: Change | None = None
    # The statements of the file, shared by its changes; the list grows while the file is
    # replayed and is whole by the time rules read it.
    file_statements: list[Statement]
    using_expression: Expression | None = None  # ALTER COLUMN TYPE ... USING: the expression
    # The table's name as SQL spells it when the statement ran (`table` is the table as the
    # whole history left it, renamed later perhaps): what a fix put at this statement names.
    table_sql: str
    # ADD COLUMN: the constraints written in the column's definition (PRIMARY KEY, UNIQUE,
    # REFERENCES, CHECK), as the statement made them.
    inline_constraints: tuple[Constraint, ...] = ()

    @property
    def file(self) -> str:
        return self.statement.file

    @property
    def text(self) -> str:
        return self.statement.text

    @property
    def statement_kind(self) -> str:
        return self.statement.kind

    @property
    def label(self) -> str:
        """The statement in a few words: `CREATE INDEX users_email_idx`, `ADD COLUMN ...`."""
        words = _CHANGE_WORDS.get(self.kind, self.kind.replace("_", " ").upper())
        name = self.object_name or self.detail
        return f"{words} {name}" if name else words

    @property
    def object_name(self) -> str | None:
        for candidate in (self.column, self.constraint, self.index, self.object, self.table):
            if candidate is not None:
                return candidate.qualified_name
        return None

    @property
    def lock(self) -> str:
        """The table-level lock the statement takes (PostgreSQL's names), or ''."""
        if self.kind == "add_constraint" and self.constraint is not None:
            if self.constraint.type == "foreign_key":
                return "SHARE ROW EXCLUSIVE"
            return "ACCESS EXCLUSIVE"
        if self.concurrently and self.kind in _CONCURRENT_LOCKS:
            return _CONCURRENT_LOCKS[self.kind]
        if self.kind == "vacuum":
            return "ACCESS EXCLUSIVE" if "full" in self.options else "SHARE UPDATE EXCLUSIVE"
        if self.kind == "alter_table_other":
            return _OTHER_LOCKS.get(self.detail, "ACCESS EXCLUSIVE")
        return _LOCKS.get(self.kind, "")

    @property
    def slow(self) -> bool:
        """Work that grows with the existing data: a scan, a rewrite, an index build."""
        if not self.table_existed or self.table is None or self.noop:
            return False
        kind = self.kind
        if kind in ("update", "delete", "validate_constraint", "cluster", "reindex"):
            return True
        if kind == "create_index":
            return True
        if kind == "add_constraint":
            constraint = self.constraint
            if constraint is None or constraint.not_valid:
                return False
            if constraint.using_index and constraint.type != "primary_key":
                return False  # the index exists: only the catalog changes
            # A foreign key on a column the same statement adds, without a default: every
            # row holds NULL, which a foreign key accepts, so PostgreSQL checks nothing.
            return not (
                constraint.type == "foreign_key"
                and self.inline
                and self.column is not None
                and not self.column.has_default
            )
        if kind == "set_not_null":
            return not self.not_null_proven
        return self.rewrites_table

    @property
    def heavy_lock(self) -> bool:
        """A lock that blocks writes (or reads) to an existing table while it is held."""
        return (
            self.table is not None
            and self.table_existed
            and self.lock in HEAVY_LOCKS
            and not self.noop
        )

    @property
    def recreated_in_file(self) -> bool:
        """DROP CONSTRAINT: the same file adds a constraint of that name again."""
        if self.constraint is None or self.table is None:
            return False
        # The table's history, not its final state: a later file may drop the new one too.
        added = f"added constraint {self.constraint.name}"
        if any(e.action == "altered" and e.detail == added for e in self.later_in_file):
            return True
        again = self.table.constraints.get(self.constraint.name)
        created = again.created if again is not None else None
        if (
            created is not None
            and created.statement.source is self.statement.source
            and _position(created.statement) > _position(self.statement)
        ):
            return True
        return self.foreign_key_replaced

    @property
    def foreign_key_replaced(self) -> bool:
        """DROP of a foreign key: the same statement or a later one of the file adds one under
        another name on the same columns and referenced table (a misnamed key renamed)."""
        dropped = self.constraint
        if dropped is None or dropped.type != "foreign_key" or self.table is None:
            return False
        source, here = self.statement.source, _position(self.statement)
        prefix = "added constraint "
        for event in self.table.history:
            if not (
                event.action == "altered"
                and event.detail.startswith(prefix)
                and event.statement.source is source
                and _position(event.statement) >= here
            ):
                continue
            added = self.table.constraints.get(event.detail[len(prefix) :])
            if (
                added is not None
                and added.type == "foreign_key"
                and list(added.columns) == list(dropped.columns)
                and added.ref_table == dropped.ref_table
            ):
                return True
        return False

    @property
    def only_statement(self) -> bool:
        """The file's only statement: it succeeds or fails whole under every runner, so the
        file can be run again after a failure. Session settings (SET lock_timeout ...) do not
        count: running them again changes nothing."""
        # Stops at the second statement: asked of every change, it must not count whole files.
        seen = 0
        for statement in self.file_statements:
            if statement.kind != "VariableSetStmt":
                seen += 1
                if seen > 1:
                    return False
        return seen == 1

    @property
    def conversion_sql(self) -> str:
        """ALTER COLUMN TYPE: the expression that turns the column's value into the new type,
        as an UPDATE copying it into a new column writes it: the USING expression, else a cast
        (through text between two enums, which have no cast to each other)."""
        if self.column is None:
            return ""
        if self.using_expression is not None:
            return self.using_expression.sql
        name = quote_ident(self.column.name)
        through = "::text" if self.enum_swap else ""
        return f"{name}{through}::{self.column.type.ddl}"

    @property
    def old_default_sql(self) -> str:
        """ALTER COLUMN TYPE with a stale default: that default written again for the new type,
        when it is a constant (`'new'::order_status_old` -> `'new'`); '' otherwise."""
        default = self.column.default if self.column is not None else None
        if default is None:
            return ""
        node = default.node
        while "TypeCast" in node:
            node = node["TypeCast"].get("arg", {})
        constant = node.get("A_Const")
        if constant is None:
            return ""
        value = constant.get("sval", {}).get("sval")
        if isinstance(value, str):
            return "'" + value.replace("'", "''") + "'"
        for kind, key in (("ival", "ival"), ("fval", "fval"), ("boolval", "boolval")):
            if kind in constant:
                found = constant[kind].get(key, 0 if kind == "ival" else False)
                return str(found).lower() if kind == "boolval" else str(found)
        return ""

    @property
    def old_name_kept(self) -> bool:
        """RENAME TABLE: a later statement of the same file creates a view under the old name
        (an updatable SELECT * of the renamed table), or a table (the rebuild: rename the old
        one away, create its replacement, copy the rows over): the running application keeps
        finding a table of that name."""
        if self.kind != "rename_table" or not self.detail:
            return False
        schema, _, name = self.detail.rpartition(".")
        here = _position(self.statement)
        for later in self.file_statements:
            if _position(later) <= here:
                continue
            if later.tree is not None:  # MySQL, SQLite (sqlglot): a table of that name
                if _sqlglot_created_table(later.tree) == name:
                    return True
                continue
            if later.kind not in ("ViewStmt", "CreateStmt"):
                continue
            *written_schema, written = later.written_name or ("",)
            if written == name and (written_schema or [schema])[0] == schema:
                return True
        return False

    @property
    def old_name_reused(self) -> bool:
        """RENAME COLUMN: a later statement of the same file adds a column under the old name
        (the name now means something else): the running application reads the new column."""
        if self.kind != "rename_column" or " -> " not in self.detail:
            return False
        old = self.detail.split(" -> ")[0]
        return any(
            e.action == "altered" and e.detail == f"added column {old}" for e in self.later_in_file
        )

    @property
    def later_in_file(self) -> list[Event]:
        """What later statements of the same file did to the table (its history events)."""
        if self.table is None:
            return []
        source, here = self.statement.source, _position(self.statement)
        return [
            e
            for e in self.table.history
            if e.statement.source is source and _position(e.statement) > here
        ]

    @property
    def columns_dropped_later(self) -> bool:
        """DROP CONSTRAINT: a later statement of the file drops the constraint's table or one of
        its columns, so the constraint would have gone anyway."""
        if self.constraint is None:
            return False
        gone = {f"dropped column {c}" for c in self.constraint.columns if isinstance(c, str)}
        return any(
            e.action == "dropped" or (e.action == "altered" and e.detail in gone)
            for e in self.later_in_file
        )

    @property
    def table_rebuilt(self) -> bool:
        """DROP TABLE of a table whose rows were copied into the table that takes its name
        (CREATE new; INSERT INTO new SELECT ... FROM old; DROP old; RENAME new TO old, in
        one file or, as pop's generated SQLite migrations do, in consecutive ones): the data
        and the name live on."""
        table = self.table
        return (
            self.kind == "drop_table"
            and table is not None
            and isinstance(table.replaced_by, Table)
            and table.replaced_by.rebuild_of is table
        )

    @property
    def completes_rebuild(self) -> bool:
        """RENAME TO of a table filled from the table whose name it takes (the rebuild's last
        step): the application's name comes back with its rows; the copy's own name was never
        the application's."""
        table = self.table
        return (
            self.kind == "rename_table"
            and table is not None
            and table.rebuild_of is not None
            and table.rebuild_of.replaced_by is table
        )

    @property
    def rebuild_losses(self) -> list[str]:
        """DROP TABLE of a table whose new definition takes its name in the same file (the
        rebuild): its indexes and triggers that went with it and that the table now holding
        the name does not have (an index on the same keys, a trigger of the same name), as
        `index <name> (<keys>)` / `trigger <name>`. Indexes of constraints come back with
        the constraints written in the new definition; they are not counted."""
        table = self.table
        if self.kind != "drop_table" or table is None or table.replaced_at is None:
            return []
        successor = table.replaced_by
        if not isinstance(successor, Table) or successor.dropped:
            return []
        if table.replaced_at.statement.source is not self.statement.source:
            return []
        kept = [[str(c) for c in index.columns] for index in successor.live_indexes]

        def served(index: Index) -> bool:  # a new index starting with the same keys
            keys = [str(c) for c in index.columns]
            return any(other[: len(keys)] == keys for other in kept)

        lost = [
            f"index {index.name} ({index.columns_sql})"
            for index in table.indexes
            if index.constraint is None
            and index.dropped_with_parent
            and not served(index)
            and all(not isinstance(c, str) or c in successor.columns for c in index.columns)
        ]
        lost += [
            f"trigger {name}"
            for name, trigger in table.triggers.items()
            if trigger.dropped_with_parent and name not in successor.triggers
        ]
        return lost

    @property
    def table_recreated_later(self) -> bool:
        """DROP TABLE: a later statement of the same file creates a table of that name again
        (the drop is part of a redefinition)."""
        if self.kind != "drop_table" or self.table is None:
            return False
        again = self.table.replaced_at  # a CREATE TABLE, or a RENAME of another table
        return (
            again is not None
            and again.statement.source is self.statement.source
            and _position(again.statement) > _position(self.statement)
        )

    @property
    def column_new_in_file(self) -> bool:
        """The column was added by an earlier statement of the same file: the application
        running during the deploy has never used its name."""
        created = self.column.created if self.column is not None else None
        return (
            created is not None
            and created.statement.source is self.statement.source
            and _position(created.statement) < _position(self.statement)
        )

    @property
    def name_restored_later(self) -> bool:
        """DROP COLUMN: a later statement of the same file renames a column the file added to
        the dropped name (the swap: ADD c_new, copy, DROP c, RENAME c_new TO c)."""
        if self.kind != "drop_column" or self.column is None or self.table is None:
            return False
        # The table's history, not its final state: a later file may drop the column again.
        source = self.statement.source
        added = {
            e.detail.removeprefix("added column ")
            for e in self.table.history
            if e.action == "altered"
            and e.detail.startswith("added column ")
            and e.statement.source is source
        }
        return any(
            e.action == "altered" and e.detail == f"renamed column {name} -> {self.column.name}"
            for e in self.later_in_file
            for name in added
        )

    @property
    def name_given_up_earlier(self) -> bool:
        """DROP COLUMN: an earlier statement of the same file renamed the dropped column away
        from a name that a column the file added after it took over (the swap written the
        other way round: RENAME c TO c_old, ADD c, copy, DROP c_old)."""
        if self.kind != "drop_column" or self.column is None or self.table is None:
            return False
        source, here = self.statement.source, _position(self.statement)
        earlier = [
            e
            for e in self.table.history
            if e.statement.source is source and _position(e.statement) < here
        ]
        suffix = f" -> {self.column.name}"
        for number, event in enumerate(earlier):
            if not (
                event.action == "altered"
                and event.detail.startswith("renamed column ")
                and event.detail.endswith(suffix)
            ):
                continue
            given_up = event.detail.removeprefix("renamed column ").removesuffix(suffix)
            if any(
                e.action == "altered" and e.detail == f"added column {given_up}"
                for e in earlier[number + 1 :]
            ):
                return True
        return False

    @property
    def rewrites_table(self) -> bool:
        """The statement writes the table's rows anew (and rebuilds its indexes) under its
        lock: ALTER COLUMN TYPE but for binary-compatible changes, ADD COLUMN of a column
        filled row by row (PostgreSQL 11 and later), SET LOGGED / UNLOGGED, SET TABLESPACE
        and SET ACCESS METHOD, CLUSTER, VACUUM FULL."""
        kind = self.kind
        if kind == "add_column":
            return (
                self.column is not None
                and bool(self.column.rewrites_on_add)
                and not self.generated_virtual
                and not self.noop
            )
        if kind in ("set_logged", "cluster"):
            return True
        if kind == "vacuum":
            return "full" in self.options
        if kind == "alter_table_other":
            return self.detail in _REWRITING_ACTIONS
        if kind != "alter_column_type" or self.column is None or self.old_type is None:
            return False
        if self.enum_swap:
            return True
        utc = self.time_zone == "UTC" and self.pg_version >= 12
        return type_change_rewrites(self.old_type, self.column.type, self.using, utc)

    @property
    def rewrite_depends_on_time_zone(self) -> bool:
        """timestamp <-> timestamptz: since PostgreSQL 12 the server rewrites only when the
        session's TimeZone is not UTC, and neither the file nor the runner set it: the
        server's configuration decides."""
        return (
            self.kind == "alter_column_type"
            and self.old_type is not None
            and self.column is not None
            and not self.using
            and not self.time_zone
            and self.pg_version >= 12
            and not self.old_type.array
            and not self.column.type.array
            and {self.old_type.name, self.column.type.name} == _TIMESTAMPS
        )

    @property
    def unqualified_name(self) -> str:
        """The name a CREATE statement gives without a schema (`users`), or ''."""
        names = self.statement.written_name
        return names[0] if len(names) == 1 else ""

    @property
    def long_identifier(self) -> str:
        """A name in the statement over 63 bytes: PostgreSQL silently truncates it."""
        return long_identifier(self.statement.text)


def _position(statement: Statement) -> tuple[int, int]:
    """Where a statement is in its file, for order: a DO block's statements share the
    block's index and are told apart by their offsets."""
    return statement.index, statement.start


# Every kind of change the replay records: what a statement rule's `kinds` may name (with
# `any`, every change), and what `stmt.kind` reads; the SQL each stands for. A test replays
# the corpus and every rule's examples and fails on a kind missing here.
STATEMENT_KINDS: dict[str, str] = {
    "add_column": "ALTER TABLE ... ADD COLUMN",
    "add_constraint": "ALTER TABLE ... ADD CONSTRAINT (and a CHECK, key or foreign key of "
    "ADD COLUMN)",
    "add_enum_value": "ALTER TYPE ... ADD VALUE",
    "add_identity": "ALTER TABLE ... ALTER COLUMN ... ADD GENERATED ... AS IDENTITY",
    "alter_column_type": "ALTER TABLE ... ALTER COLUMN ... TYPE",
    "alter_function": "ALTER FUNCTION or ALTER PROCEDURE",
    "alter_policy": "ALTER POLICY",
    "alter_sequence": "ALTER SEQUENCE",
    "alter_table": "ALTER TABLE IF EXISTS of a table that does not exist (it does nothing)",
    "alter_table_other": "another ALTER TABLE action (`stmt.detail` names it: SetIdentity, "
    "AddInherit, ...)",
    "analyze": "ANALYZE",
    "attach_partition": "ALTER TABLE ... ATTACH PARTITION",
    "begin": "BEGIN or START TRANSACTION",
    "cluster": "CLUSTER",
    "comment": "COMMENT ON",
    "commit": "COMMIT or END",
    "create_extension": "CREATE EXTENSION",
    "create_function": "CREATE FUNCTION or CREATE PROCEDURE (OR REPLACE included)",
    "create_index": "CREATE INDEX (CONCURRENTLY included)",
    "create_policy": "CREATE POLICY",
    "create_schema": "CREATE SCHEMA",
    "create_sequence": "CREATE SEQUENCE",
    "create_table": "CREATE TABLE (and CREATE TABLE AS, SELECT INTO)",
    "create_trigger": "CREATE TRIGGER",
    "create_type": "CREATE TYPE or CREATE DOMAIN",
    "create_view": "CREATE VIEW or CREATE MATERIALIZED VIEW",
    "delete": "DELETE",
    "detach_partition": "ALTER TABLE ... DETACH PARTITION",
    "disable_rls": "ALTER TABLE ... DISABLE ROW LEVEL SECURITY",
    "drop_column": "ALTER TABLE ... DROP COLUMN",
    "drop_constraint": "ALTER TABLE ... DROP CONSTRAINT",
    "drop_database": "DROP DATABASE",
    "drop_default": "ALTER TABLE ... ALTER COLUMN ... DROP DEFAULT",
    "drop_extension": "DROP EXTENSION",
    "drop_function": "DROP FUNCTION or DROP PROCEDURE",
    "drop_identity": "ALTER TABLE ... ALTER COLUMN ... DROP IDENTITY",
    "drop_index": "DROP INDEX",
    "drop_not_null": "ALTER TABLE ... ALTER COLUMN ... DROP NOT NULL",
    "drop_other": "DROP of another kind of object (`stmt.detail` names it)",
    "drop_policy": "DROP POLICY",
    "drop_schema": "DROP SCHEMA",
    "drop_sequence": "DROP SEQUENCE",
    "drop_table": "DROP TABLE",
    "drop_trigger": "DROP TRIGGER",
    "drop_type": "DROP TYPE or DROP DOMAIN",
    "drop_view": "DROP VIEW or DROP MATERIALIZED VIEW",
    "enable_rls": "ALTER TABLE ... ENABLE ROW LEVEL SECURITY",
    "force_rls": "ALTER TABLE ... FORCE (or NO FORCE) ROW LEVEL SECURITY",
    "grant": "GRANT",
    "not_modelled": "DDL the replay cannot see (EXECUTE of a built string, DDL in a loop, a "
    "called function that runs DDL)",
    "reindex": "REINDEX",
    "rename_column": "ALTER TABLE ... RENAME COLUMN",
    "rename_constraint": "ALTER TABLE ... RENAME CONSTRAINT",
    "rename_enum_value": "ALTER TYPE ... RENAME VALUE",
    "rename_index": "ALTER INDEX ... RENAME",
    "rename_other": "RENAME of another kind of object",
    "rename_schema": "ALTER SCHEMA ... RENAME",
    "rename_table": "ALTER TABLE ... RENAME TO (and views, sequences)",
    "rename_type": "ALTER TYPE ... RENAME TO",
    "revoke": "REVOKE",
    "rollback": "ROLLBACK or ABORT",
    "set": "SET, SET LOCAL, RESET",
    "set_default": "ALTER TABLE ... ALTER COLUMN ... SET DEFAULT",
    "set_logged": "ALTER TABLE ... SET LOGGED or SET UNLOGGED",
    "set_not_null": "ALTER TABLE ... ALTER COLUMN ... SET NOT NULL",
    "set_schema": "ALTER ... SET SCHEMA",
    "transaction": "another transaction statement (SAVEPOINT, PREPARE TRANSACTION, ...)",
    "truncate": "TRUNCATE",
    "update": "UPDATE",
    "vacuum": "VACUUM (FULL included)",
    "validate_constraint": "ALTER TABLE ... VALIDATE CONSTRAINT",
}

_CHANGE_WORDS = {
    "create_table": "CREATE TABLE",
    "create_index": "CREATE INDEX",
    "create_type": "CREATE TYPE",
    "create_sequence": "CREATE SEQUENCE",
    "create_schema": "CREATE SCHEMA",
    "create_extension": "CREATE EXTENSION",
    "create_view": "CREATE VIEW",
    "create_function": "CREATE FUNCTION",
    "create_trigger": "CREATE TRIGGER",
    "create_policy": "CREATE POLICY",
    "add_column": "ADD COLUMN",
    "add_constraint": "ADD CONSTRAINT",
}


# The lock each kind of change takes on its table (PostgreSQL 16, "Explicit Locking").
_LOCKS = {
    "add_column": "ACCESS EXCLUSIVE",
    "drop_column": "ACCESS EXCLUSIVE",
    "alter_column_type": "ACCESS EXCLUSIVE",
    "set_not_null": "ACCESS EXCLUSIVE",
    "drop_not_null": "ACCESS EXCLUSIVE",
    "set_default": "ACCESS EXCLUSIVE",
    "drop_default": "ACCESS EXCLUSIVE",
    "add_identity": "ACCESS EXCLUSIVE",
    "drop_identity": "ACCESS EXCLUSIVE",
    "drop_constraint": "ACCESS EXCLUSIVE",
    "validate_constraint": "SHARE UPDATE EXCLUSIVE",
    "enable_rls": "ACCESS EXCLUSIVE",
    "disable_rls": "ACCESS EXCLUSIVE",
    "force_rls": "ACCESS EXCLUSIVE",
    "alter_table_other": "ACCESS EXCLUSIVE",
    "set_logged": "ACCESS EXCLUSIVE",
    "attach_partition": "SHARE UPDATE EXCLUSIVE",
    "detach_partition": "ACCESS EXCLUSIVE",
    "create_index": "SHARE",
    "drop_index": "ACCESS EXCLUSIVE",
    "reindex": "SHARE",
    "drop_table": "ACCESS EXCLUSIVE",
    "truncate": "ACCESS EXCLUSIVE",
    "cluster": "ACCESS EXCLUSIVE",
    "rename_table": "ACCESS EXCLUSIVE",
    "rename_column": "ACCESS EXCLUSIVE",
    "rename_constraint": "ACCESS EXCLUSIVE",
    "create_trigger": "SHARE ROW EXCLUSIVE",
    "drop_trigger": "ACCESS EXCLUSIVE",
    "create_policy": "ACCESS EXCLUSIVE",
    "drop_policy": "ACCESS EXCLUSIVE",
    "update": "ROW EXCLUSIVE",
    "delete": "ROW EXCLUSIVE",
}


# ALTER TABLE actions the model files as `alter_table_other` (by their libpg_query names)
# that lock less than ACCESS EXCLUSIVE (tablecmds.c, AlterTableGetLockLevel): statistics,
# storage parameters (fillfactor, autovacuum_*: all but user_catalog_table) and CLUSTER ON
# only change planner or maintenance settings; triggers are enabled or disabled under the lock
# CREATE TRIGGER takes.
_OTHER_LOCKS = {
    "SetStatistics": "SHARE UPDATE EXCLUSIVE",
    "SetOptions": "SHARE UPDATE EXCLUSIVE",
    "ResetOptions": "SHARE UPDATE EXCLUSIVE",
    "SetRelOptions": "SHARE UPDATE EXCLUSIVE",
    "ResetRelOptions": "SHARE UPDATE EXCLUSIVE",
    "ClusterOn": "SHARE UPDATE EXCLUSIVE",
    "DropCluster": "SHARE UPDATE EXCLUSIVE",
    **{
        action: "SHARE ROW EXCLUSIVE"
        for action in (
            "EnableTrig",
            "EnableAlwaysTrig",
            "EnableReplicaTrig",
            "EnableTrigAll",
            "EnableTrigUser",
            "DisableTrig",
            "DisableTrigAll",
            "DisableTrigUser",
        )
    },
}

# ALTER TABLE actions that give the table new storage.
_REWRITING_ACTIONS = frozenset({"SetTableSpace", "SetAccessMethod", "SetExpression"})


_CONCURRENT_LOCKS = {
    "create_index": "SHARE UPDATE EXCLUSIVE",
    "drop_index": "SHARE UPDATE EXCLUSIVE",
    "reindex": "SHARE UPDATE EXCLUSIVE",
    "detach_partition": "SHARE UPDATE EXCLUSIVE",
}


HEAVY_LOCKS = frozenset({"ACCESS EXCLUSIVE", "EXCLUSIVE", "SHARE ROW EXCLUSIVE", "SHARE"})


# Type changes PostgreSQL makes without rewriting the table (binary-coercible casts).
_TEXT_TYPES = frozenset({"text", "varchar"})


_FREE_CASTS = frozenset({("cidr", "inet"), ("xml", "text"), ("citext", "text")})


_TIMESTAMPS = frozenset({"timestamp", "timestamptz"})


def type_change_rewrites(old: TypeName, new: TypeName, using: bool, utc: bool = False) -> bool:
    """Whether ALTER COLUMN old -> new TYPE rewrites the table; unknown cases rewrite.
    `using`: a USING expression other than the column itself (or a cast of it); `utc`: the
    session's time zone is UTC (timestamp <-> timestamptz then keeps the stored values)."""
    if using:
        return True  # a USING expression is evaluated for every row
    if old.array != new.array:
        return True
    if {old.name, new.name} == _TIMESTAMPS and old.name != new.name:
        return not utc
    if old.name == new.name and old.schema == new.schema:
        if old.modifiers == new.modifiers or not new.modifiers:
            return False  # same type, or a limit removed (varchar(n) -> varchar)
        if old.name in ("varchar", "varbit", "bit") and old.modifiers and new.modifiers:
            return _number(new.modifiers[0]) < _number(old.modifiers[0])
        if old.name == "numeric" and old.modifiers and len(new.modifiers) >= 1:
            old_scale = old.modifiers[1] if len(old.modifiers) > 1 else "0"
            new_scale = new.modifiers[1] if len(new.modifiers) > 1 else "0"
            return new_scale != old_scale or _number(new.modifiers[0]) < _number(old.modifiers[0])
        return True
    if old.name in _TEXT_TYPES and new.name in _TEXT_TYPES:
        # varchar(n) -> text and text -> varchar (no limit) are free; a new limit checks rows.
        return new.name == "varchar" and bool(new.modifiers)
    # char pads and its cast to text strips trailing spaces: a rewrite, like unknown pairs.
    return (old.name, new.name) not in _FREE_CASTS


def _number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


# -- assignment casts: which type changes PostgreSQL can carry a column's default through -----

# The built-in types by the model's names (TypeName.name) -> PostgreSQL's (pg_type.typname).
_BUILTIN_TYPES = {
    "boolean": "bool",
    "bool": "bool",
    "smallint": "int2",
    "int2": "int2",
    "smallserial": "int2",
    "integer": "int4",
    "int": "int4",
    "int4": "int4",
    "serial": "int4",
    "bigint": "int8",
    "int8": "int8",
    "bigserial": "int8",
    "real": "float4",
    "float4": "float4",
    "double precision": "float8",
    "float8": "float8",
    "numeric": "numeric",
    "decimal": "numeric",
    "money": "money",
    "text": "text",
    "varchar": "varchar",
    "char": "bpchar",
    "bpchar": "bpchar",
    "name": "name",
    "date": "date",
    "time": "time",
    "timetz": "timetz",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
    "interval": "interval",
    "json": "json",
    "jsonb": "jsonb",
    "uuid": "uuid",
    "bytea": "bytea",
    "inet": "inet",
    "cidr": "cidr",
    "macaddr": "macaddr",
    "macaddr8": "macaddr8",
    "bit": "bit",
    "varbit": "varbit",
    "xml": "xml",
    "oid": "oid",
    "regclass": "regclass",
    "tsvector": "tsvector",
    "tsquery": "tsquery",
    "point": "point",
}

# pg_cast's implicit and assignment casts between those types (PostgreSQL 18, the same since
# 9.4 for these): source -> targets. Binary-coercible ones (varchar -> text) are among them.
_ASSIGNMENT_CASTS = {
    "bool": "bpchar text varchar",
    "int2": "float4 float8 int4 int8 numeric oid regclass",
    "int4": "float4 float8 int2 int8 money numeric oid regclass",
    "int8": "float4 float8 int2 int4 money numeric oid regclass",
    "float4": "float8 int2 int4 int8 numeric",
    "float8": "float4 int2 int4 int8 numeric",
    "numeric": "float4 float8 int2 int4 int8 money numeric",
    "money": "numeric",
    "text": "bpchar name regclass varchar",
    "varchar": "bpchar name regclass text varchar",
    "bpchar": "bpchar name text varchar",
    "name": "bpchar text varchar",
    "date": "timestamp timestamptz",
    "time": "interval time timetz",
    "timetz": "time timetz",
    "timestamp": "date time timestamp timestamptz",
    "timestamptz": "date time timestamp timestamptz timetz",
    "interval": "interval time",
    "json": "jsonb",
    "jsonb": "json",
    "inet": "bpchar cidr text varchar",
    "cidr": "bpchar inet text varchar",
    "macaddr": "macaddr8",
    "macaddr8": "macaddr",
    "bit": "bit varbit",
    "varbit": "bit varbit",
    "xml": "bpchar text varchar",
    "oid": "int4 int8 regclass",
    "regclass": "int4 int8 oid",
}

# The string category: any type converts to these at assignment (through its output function).
_STRING_TYPES = frozenset({"text", "varchar", "bpchar", "name"})


def builtin_type(name: TypeName) -> str | None:
    """PostgreSQL's name of a built-in type (arrays end in `[]`), or None."""
    if name.schema not in (None, "pg_catalog"):
        return None
    base = _BUILTIN_TYPES.get(name.name)
    if base is None:
        return None
    return base + "[]" if name.array else base


def assignment_castable(source: str, target: str) -> bool:
    """Whether PostgreSQL converts a value of `source` to `target` at assignment (an implicit
    or assignment cast, or the output function to a string type), as ALTER COLUMN TYPE does
    with the column's default. Types are `builtin_type` names, or `enum:<name>` for an enum
    (each enum its own type, with casts only to strings)."""
    if source == target:
        return True
    source_array, target_array = source.endswith("[]"), target.endswith("[]")
    if target in _STRING_TYPES:
        return True
    if source_array or target_array:
        return (
            source_array
            and target_array
            and assignment_castable(source.removesuffix("[]"), target.removesuffix("[]"))
        )
    return target in _ASSIGNMENT_CASTS.get(source, "").split()


# PostgreSQL's internal names of the built-in types, as format_type() spells them.
_FORMAT_NAMES = {
    "bool": "boolean",
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "float4": "real",
    "float8": "double precision",
    "varchar": "character varying",
    "bpchar": "character",
    "timestamp": "timestamp without time zone",
    "timestamptz": "timestamp with time zone",
    "time": "time without time zone",
    "timetz": "time with time zone",
    "varbit": "bit varying",
}


def type_display(key: str) -> str:
    """An `assignment_castable` type as people read it: `integer`, `public.status`."""
    array = "[]" if key.endswith("[]") else ""
    base = key.removesuffix("[]")
    if base.startswith("enum:"):
        return base.removeprefix("enum:") + array
    return _FORMAT_NAMES.get(base, base) + array


def enum_values_alterable(old: list[str], new: list[str]) -> bool:
    """Whether ALTER TYPE ... ADD VALUE [BEFORE | AFTER] and RENAME VALUE turn the enum `old`
    into `new`: the values both have keep their order, and between two of them no more old
    values are gone than new ones came (each gone one renamed to a new one)."""
    kept = [value for value in old if value in new]
    at_new = [new.index(value) for value in kept]
    if at_new != sorted(at_new):
        return False  # reordered
    at_old = [-1, *(old.index(value) for value in kept), len(old)]
    at_new = [-1, *at_new, len(new)]
    return all(
        at_old[i + 1] - at_old[i] <= at_new[i + 1] - at_new[i] for i in range(len(at_old) - 1)
    )


def _sqlglot_created_table(tree: Any) -> str | None:
    """The name of the table a sqlglot CREATE TABLE makes (None for other statements). A
    view does not count: SQLite's views cannot be written to."""
    if type(tree).__name__ != "Create" or str(tree.args.get("kind") or "").upper() != "TABLE":
        return None
    target = tree.this
    if type(target).__name__ == "Schema":
        target = target.this
    return str(target.name) if target is not None else None


# What `Change()` accepts: every field, slot or not.
_FIELDS = frozenset(Change.__annotations__)
_SLOTS = frozenset(Change.__slots__)
_SLOT_FIELDS = _FIELDS & _SLOTS
# The class's default of each field that is no slot, read from a dict as a change is made
# (a getattr on the class for each field given cost more). A value is its field's default
# when it is that object, or an equal one of an immutable type (a list never is: it may
# grow). `_SLOT` for a slot's name.
_DEFAULTS: dict[str, Any] = {name: getattr(Change, name) for name in _FIELDS - _SLOTS}
_SLOT = object()
_IMMUTABLE = (bool, int, str, tuple, frozenset, type(None))
