"""Model operations: what any dialect's replay does to the schema model.

Creating, dropping and renaming objects, with their history; the session a file runs in
(transactions, timeouts, locks held) and the `Change` records statement rules read. A
dialect's front end (`postgres.py`) reads its parser's statements and calls these.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from itertools import compress, repeat
from operator import attrgetter
from typing import Any

from schema_review.model.changes import Change
from schema_review.model.naming import choose_name, index_column_names, name_addition
from schema_review.model.objects import (
    Column,
    Constraint,
    EnumType,
    Function,
    Index,
    SchemaObject,
    Table,
    Trigger,
    TypeName,
    View,
    own_triggers,
)
from schema_review.model.schema import SchemaModel
from schema_review.parse import Expression, SourceFile, Statement, column_refs
from schema_review.profile import SUPABASE_API_ROLES, Profile

# CREATE TABLE (LIKE ...) options (pg's CREATE_TABLE_LIKE_* bits).
LIKE_CONSTRAINTS = 1 << 2
LIKE_DEFAULTS = 1 << 3
LIKE_GENERATED = 1 << 4
LIKE_IDENTITY = 1 << 5
LIKE_INDEXES = 1 << 6
LIKE_ALL = 0x7FFFFFFF

# Where temporary tables live: statements on them are not part of the schema's history.
TEMPORARY_SCHEMA = "pg_temp"

# The integer type behind each serial pseudo-type.
SERIAL_BASE_TYPES = {
    "serial": "integer",
    "serial4": "integer",
    "bigserial": "bigint",
    "serial8": "bigint",
    "smallserial": "smallint",
    "serial2": "smallint",
}


def base_type(type_name: TypeName) -> TypeName:
    """A serial type's integer type (what a copy of the column has); other types as they are."""
    if type_name.serial:
        return TypeName(SERIAL_BASE_TYPES[type_name.name], array=type_name.array)
    return type_name


class SchemaOperations:
    """The schema being built and the session of the file being replayed."""

    # SQLite keeps a foreign key's target as a name: dropping the table it names leaves the
    # foreign key, which then refers to whatever table takes that name.
    references_by_name = False

    def __init__(self, profile: Profile) -> None:
        self.model = SchemaModel()
        self.profile = profile
        self.search_path = "public"
        self.current_file: SourceFile | None = None
        # (kind, qualified name) dropped with IF EXISTS earlier in the current file: a
        # guard that makes the following CREATE safe to re-run.
        self.dropped_if_exists: set[tuple[str, str]] = set()
        self.graveyard: dict[tuple[str, str], SchemaObject] = {}
        # The last part of the name of every object put in the graveyard (the name itself,
        # but for a name with a dot): a new object whose name ends with none of them
        # replaces nothing, and its qualified name (an f-string or two for a column) need
        # not be made to look. The names, not (kind, name) tuples: the graveyard keeps the
        # dead objects, so their names cost nothing more.
        self.dead_names: set[str] = set()
        # Who may execute a new function, per schema ('' for every schema): PostgreSQL grants
        # EXECUTE to PUBLIC; ALTER DEFAULT PRIVILEGES changes that for later functions.
        self.default_executors: dict[str, set[str]] = {"": {"public"}}
        # Temporary tables of the session (as written: name or schema.name).
        self.temporary: set[str] = set()
        # The search_path before a SET LOCAL changed it (None: no SET LOCAL in effect).
        self.saved_search_path: str | None = None
        self.in_block = False  # replaying the statements of a DO block
        # Who may hold a name, so that choosing a free name for an unnamed constraint, index
        # or sequence does not scan the whole schema (which made long histories quadratic):
        # constraints by name, serial and identity columns by their sequence's name. Entries
        # go stale (dropped, renamed, moved); each is checked against the live model when
        # read, so the lists only need to hold every live holder (see note_constraint_name,
        # note_serial_sequence).
        self.constraint_holders: dict[str, list[Constraint]] = {}
        self.serial_holders: dict[str, list[Column]] = {}
        # Whether any table ever was a partition or an inheritance child: until one is,
        # a table has no children to look for.
        self.has_child_tables = False
        # The foreign keys born (or renamed) referencing each table, dropped ones' too: a
        # DROP TABLE of any other table has no foreign key to drop with it, and one of these
        # reads the constraints of their tables only. Entries go stale (dropped, renamed,
        # retargeted); each is checked against the live model when read.
        self.foreign_keys_to: dict[str, list[Constraint]] = {}
        # Tables' SQL spellings (`public."Account"`) by name: every change of a table names
        # it, and quoting a name twice per statement added up.
        self.table_sql_names: dict[tuple[str, str], str] = {}
        # (change, field, its snapshot, the object snapshotted): see share_unchanged_snapshots.
        self.snapshots: list[tuple[Change, str, SchemaObject, SchemaObject]] = []
        if profile.supabase:
            self.platform_objects()
        self.start_file(None)

    def platform_objects(self) -> None:
        """What Supabase creates before the first migration: auth.users (what user tables
        reference) and the API roles' default EXECUTE grant on functions in public."""
        users = Table("users", schema="auth", external=True)
        for name, type_name in (
            ("id", TypeName("uuid")),
            ("email", TypeName("varchar", modifiers=("255",))),
            ("phone", TypeName("text")),
            ("created_at", TypeName("timestamptz")),
            ("updated_at", TypeName("timestamptz")),
            ("raw_user_meta_data", TypeName("jsonb")),
        ):
            users.columns[name] = Column(name, table=users, type=type_name)
        users.columns["id"].not_null = True
        users.constraints["users_pkey"] = Constraint(
            "users_pkey", table=users, type="primary_key", columns=["id"]
        )
        self.note_constraint_name(users.constraints["users_pkey"])
        self.model.tables[("auth", "users")] = users
        self.default_executors["public"] = {"public", *SUPABASE_API_ROLES}

    def start_file(self, source: SourceFile | None) -> None:
        """A new file starts a new session: the runner's transaction, no settings yet."""
        previous, self.current_file = self.current_file, source
        # Tables emptied (DELETE without WHERE, TRUNCATE) in the open transaction, by id:
        # for the rest of it they are as good as new. drizzle runs the pending files (those
        # of the pull request) in one transaction: it stays open from one to the next.
        if not (
            self.profile.transaction_mode == "all"
            and previous is not None
            and previous.pending
            and source is not None
            and source.pending
        ):
            self.emptied: set[int] = set()
        self.restore_search_path()  # the runner's transaction of the last file ended
        self.dropped_if_exists = set()
        self.runner_transaction = bool(source is not None and source.transaction)
        self.explicit: Change | None = None  # the open BEGIN
        self.lock_timeout = False
        self.statement_timeout = False
        self.local_settings: set[str] = set()  # SET LOCAL: gone at the transaction's end
        self.lock_warned = False
        self.timeout_warned = False
        self.exclusive: Change | None = None
        self.exclusive_reported = False
        self.altered: dict[str, Change] = {}  # table -> first ALTER TABLE change of the file
        self.slow_altered: dict[str, Change] = {}  # the same, for the first that scans or rewrites
        self.file_changes: list[Change] = []
        self.file_statements: list[Statement] = []  # the file's own, not a DO block's
        self.new_enum_values: dict[str, Change] = {}  # ADD VALUE in the open transaction

    @property
    def in_transaction(self) -> bool:
        return self.runner_transaction or self.explicit is not None or self.in_block

    def end_transaction(self) -> None:
        # A COMMIT inside the runner's transaction ends it; in a multi-statement query the
        # statements after a COMMIT run in a new implicit transaction.
        if self.profile.transaction_mode != "implicit":
            self.runner_transaction = False
        self.explicit = None
        self.exclusive = None
        self.exclusive_reported = False
        self.new_enum_values = {}
        if "lock_timeout" in self.local_settings:
            self.lock_timeout = False
        if "statement_timeout" in self.local_settings:
            self.statement_timeout = False
        self.local_settings = set()
        self.emptied = set()
        self.restore_search_path()

    def set_search_path(self, schemas: list[str], local: bool) -> None:
        """SET [LOCAL] search_path, set_config('search_path', ...): new objects without a
        schema go to the first schema of the path ("$user" and '' skipped)."""
        first = next((s for s in schemas if s and not s.startswith("$")), None)
        if first is None:
            return
        if local and self.saved_search_path is None:
            self.saved_search_path = self.search_path
        self.search_path = first

    def restore_search_path(self) -> None:
        """The transaction (or the runner's transaction of the file) that SET LOCAL a
        search_path ended."""
        if self.saved_search_path is not None:
            self.search_path = self.saved_search_path
            self.saved_search_path = None

    # -- session ---------------------------------------------------------------------
    def change(self, kind: str, statement: Statement, **fields: Any) -> Change:
        return self.change_of(kind, statement, fields)

    def change_of(self, kind: str, statement: Statement, fields: dict[str, Any]) -> Change:
        """`change`, given the dict of fields (which it takes over): the hot callers build
        it once, where each call with keywords packed them into a dict of its own."""
        table = fields.get("table")
        if "table_existed" not in fields:
            fields["table_existed"] = self.existed_before_file(table)
        if table is not None and "table_sql" not in fields:
            key = (table.schema, table.name)
            table_sql = self.table_sql_names.get(key)
            if table_sql is None:
                table_sql = self.table_sql_names[key] = table.sql_name
            fields["table_sql"] = table_sql
        # Statement rules judge a column or constraint as the statement left it, not as
        # later files changed it (a VALIDATE two lines later must not hide NOT VALID).
        snapshotted = []
        for name in ("column", "constraint"):
            live = fields.get(name)
            if live is not None:
                fields[name] = snapshot = live.snapshot()
                snapshotted.append((name, snapshot, live))
        # `Change(kind, statement, file_statements=..., **fields)` without the class call
        # and the keywords (a change a statement): the object, then its fields.
        item = _new_object(Change)
        item._fill(kind, statement, self.file_statements, fields)
        for name, snapshot, live in snapshotted:
            self.snapshots.append((item, name, snapshot, live))
        if table is not None and table.schema == TEMPORARY_SCHEMA:
            return item  # a temporary table's: no part of the migration's effect
        item.in_transaction = self.in_transaction
        if self.lock_timeout:  # (the class's default is off)
            item.lock_timeout = True
        if self.statement_timeout:
            item.statement_timeout = True
        self.session_facts(item)
        self.model.changes.append(item)
        self.file_changes.append(item)
        return item

    def share_unchanged_snapshots(self) -> None:
        """Once the history is replayed: a change whose column or constraint nothing changed
        since (most of them) reads the object itself instead of its copy, and the copy goes
        (a long history made a copy for every statement that adds a column or constraint).
        The copy and the object have every field the same: no rule can tell them apart."""
        for item, name, snapshot, live in self.snapshots:
            if getattr(item, name) is snapshot and snapshot._same_fields(live):
                setattr(item, name, live)
        self.snapshots = []

    def session_facts(self, item: Change) -> None:
        """What the statement means for the session's locks, given what came before it."""
        exclusive = self.exclusive
        if (
            exclusive is not None
            and not self.exclusive_reported
            and item.statement is not exclusive.statement
            and item.slow
        ):
            item.after_exclusive_lock = exclusive
            self.exclusive_reported = True
        if not item.heavy_lock:
            return
        if not self.lock_timeout and not self.lock_warned:
            item.first_unguarded_lock = True
            self.lock_warned = True
        if not self.statement_timeout and not self.timeout_warned:
            item.first_untimed_lock = True
            self.timeout_warned = True
        # The lock last: working it out is the dearest of the three tests.
        if exclusive is None and self.in_transaction and item.lock == "ACCESS EXCLUSIVE":
            self.exclusive = item

    def check_new_enum_values(self, statement: Statement) -> None:
        text = statement.text
        for value, added in list(self.new_enum_values.items()):
            if added.statement is not statement and f"'{value}'" in text:
                added.used_in_transaction = statement
                del self.new_enum_values[value]

    def existed_before_file(self, obj: SchemaObject | None) -> bool:
        """Whether the object holds data the statement must wait for or work through: made
        before this file (and, in a --diff-base run, before the pull request's new files:
        they are deployed together, and the running application does not use what they
        create), and not emptied earlier in this transaction."""
        if obj is None:
            return True
        if id(obj) in self.emptied:
            return False
        created = obj.created
        if created is None:
            return True
        made_in = created.statement.source
        if made_in is self.current_file:
            return False
        current = self.current_file
        return not (made_in.pending and current is not None and current.pending)

    # -- names -----------------------------------------------------------------------
    def schema_of(self, schema: str | None) -> str:
        return schema or self.search_path

    def split_name(self, names: list[str]) -> tuple[str, str]:
        if len(names) >= 2:
            return names[-2], names[-1]
        return self.search_path, names[-1] if names else ""

    # -- objects' lives --------------------------------------------------------------
    def born(
        self, obj: SchemaObject, statement: Statement, detail: str = "", offset: int | None = None
    ) -> None:
        # Every qualified name ends with the object's name: one whose last part no dead
        # object's name had replaces nothing (nor does any while no drop happened).
        if obj.name.rpartition(".")[2] in self.dead_names:
            previous = obj.previous = self.graveyard.pop((obj.kind, obj.qualified_name), None)
        else:
            previous = obj.previous = None
        obj.record("created", statement, detail, offset)
        if previous is not None:
            previous.replaced_by, previous.replaced_at = obj, obj.last_change
        self.model.archive.append(obj)
        if isinstance(obj, Constraint):
            self.note_constraint_name(obj)
            if obj.ref_table:
                self.foreign_keys_to.setdefault(obj.ref_table, []).append(obj)
        elif isinstance(obj, Column):
            self.note_serial_sequence(obj)
        elif isinstance(obj, Table) and (obj.partition_of or obj.inherits):
            self.has_child_tables = True

    def note_constraint_name(self, constraint: Constraint) -> None:
        """A constraint now stored under its (new) name."""
        self.constraint_holders.setdefault(constraint.name, []).append(constraint)

    def note_serial_sequence(self, column: Column) -> None:
        """A column that now has a sequence of its own (serial or identity)."""
        if column.serial_sequence:
            name = column.serial_sequence.rpartition(".")[2]
            self.serial_holders.setdefault(name, []).append(column)

    def died(self, obj: SchemaObject, statement: Statement, detail: str = "") -> None:
        obj.dropped = True
        obj.record("dropped", statement, detail)
        self.graveyard[(obj.kind, obj.qualified_name)] = obj
        self.dead_names.add(obj.name.rpartition(".")[2])

    def drop_table_object(
        self, table: Table, statement: Statement, detail: str = "", cascade: bool = False
    ) -> None:
        """A table and what goes with it: its columns, constraints, indexes, triggers and
        policies; its partitions; foreign keys of other tables that reference it; and with
        CASCADE its inheritance children and the views that read it."""
        qualified = table.qualified_name
        if self.model.tables.get((table.schema, table.name)) is table:
            del self.model.tables[(table.schema, table.name)]
        for column in table.columns.values():
            column.dropped = True
        for constraint in table.constraints.values():
            self.died(constraint, statement, "with its table")
        for index in table.indexes:
            if not index.dropped:
                index.dropped = True
                index.record("dropped", statement, "with its table")
                self.model.indexes.pop((index.schema, index.name), None)
        for owned in (*table.triggers.values(), *table.policies.values()):
            self.died(owned, statement, "with its table")
        self.died(table, statement, detail)
        # Every table of the schema is looked at when tables can be partitions or children;
        # for foreign keys, only the tables holding one that referenced the table (in the
        # schema's order, as every table was looked at). Not when no table can be a
        # partition or child, and no foreign key references the table.
        holders = set() if self.references_by_name else self.foreign_key_holders(qualified)
        if self.has_child_tables:
            others = list(self.model.tables.values())
        elif holders:
            others = [t for t in self.model.tables.values() if id(t) in holders]
        else:
            others = []
        for other in others:
            if other.partition_of == qualified or (cascade and qualified in other.inherits):
                self.drop_table_object(other, statement, f"with its parent {qualified}", cascade)
                continue
            if id(other) not in holders:
                continue  # no foreign key of it references the table
            # A loop rather than a list per table: a schema of hundreds of tables is read
            # whole at each DROP (and each CREATE TABLE that replaces one).
            referencing = None
            for c in other.constraints.values():
                if c.ref_table == qualified and c.type == "foreign_key":
                    referencing = referencing or []
                    referencing.append(c)
            for fk in referencing or ():
                self.drop_constraint(other, fk.name, statement, f"with its table {qualified}")
        for (schema, name), sequence in list(self.model.sequences.items()):
            if sequence.owned_by and sequence.owned_by.startswith(qualified + "."):
                del self.model.sequences[(schema, name)]
                self.died(sequence, statement, "with its table")
        if cascade:
            self.drop_views_reading(qualified, statement)

    def foreign_key_holders(self, qualified: str) -> set[int]:
        """The tables (by id) that may hold a foreign key referencing the relation: every
        one that does is among them."""
        return {
            id(c.table) for c in self.foreign_keys_to.get(qualified, ()) if c.ref_table == qualified
        }

    def drop_function_object(
        self, function: Function, statement: Statement, cascade: bool = False
    ) -> None:
        """A function; with CASCADE the triggers that run it."""
        for key, value in list(self.model.functions.items()):
            if value is function:
                del self.model.functions[key]
        self.died(function, statement)
        if not cascade:
            return
        for table in self.model.tables.values():
            for trigger in list(table.triggers.values()):
                if self.trigger_function_name(trigger.function) == function.qualified_name:
                    del table.triggers[trigger.name]
                    self.died(trigger, statement, f"with its function {function.signature}")

    def drop_type_object(self, enum: EnumType, statement: Statement, cascade: bool) -> None:
        """A type; with CASCADE the columns of that type (and what goes with them)."""
        self.model.types.pop((enum.schema, enum.name), None)
        self.died(enum, statement)
        if not cascade:
            return
        for table in list(self.model.tables.values()):
            for column in list(table.columns.values()):
                if column.type.name == enum.name and column.type.schema in (None, enum.schema):
                    why = f"with its type {enum.qualified_name}"
                    self.drop_column_object(table, column.name, statement, True, why)

    def drop_schema_object(self, name: str, statement: Statement, cascade: bool) -> None:
        """A schema; with CASCADE everything in it."""
        schema = self.model.schemas.pop(name, None)
        if schema is not None:
            self.died(schema, statement)
        if not cascade:
            return
        why = f"with its schema {name}"
        for table in [t for (s, _), t in self.model.tables.items() if s == name]:
            self.drop_table_object(table, statement, why, cascade=True)
        for key, view in list(self.model.views.items()):
            if key[0] == name and self.model.views.get(key) is view:
                del self.model.views[key]
                self.died(view, statement, why)
                self.drop_views_reading(view.qualified_name, statement)
        for function in [f for (s, _, _), f in self.model.functions.items() if s == name]:
            self.drop_function_object(function, statement, cascade=True)
        for enum in [t for (s, _), t in self.model.types.items() if s == name]:
            self.drop_type_object(enum, statement, cascade=True)
        for key, sequence in list(self.model.sequences.items()):
            if key[0] == name:
                del self.model.sequences[key]
                self.died(sequence, statement, why)

    def drop_views_reading(self, qualified: str, statement: Statement) -> None:
        """DROP ... CASCADE: the views that read a dropped relation go too, and theirs."""
        for key, view in list(self.model.views.items()):
            if qualified in view.reads and self.model.views.get(key) is view:
                del self.model.views[key]
                self.died(view, statement, f"with its relation {qualified}")
                self.drop_views_reading(view.qualified_name, statement)

    def drop_column_object(
        self,
        table: Table,
        name: str,
        statement: Statement,
        cascade: bool = False,
        detail: str = "",
    ) -> Column | None:
        """DROP COLUMN: the column, the indexes and constraints that use it anywhere (key,
        expression, predicate, INCLUDE), triggers that watch it; with CASCADE foreign keys
        of other tables referencing it, policies and views that read it. Its copies in
        partitions and inheritance children go too."""
        column = table.columns.pop(name, None)
        if column is None:
            return None
        self.died(column, statement, detail)
        why = f"with its column {name}"
        for constraint in list(table.constraints.values()):
            used = {str(c) for c in (*constraint.columns, *constraint.include)}
            if constraint.expression is not None or constraint.predicate is not None:
                used |= constraint.referenced_columns
                if constraint.predicate is not None:
                    used |= set(column_refs(constraint.predicate.node))
            if name in used:
                self.drop_constraint(table, constraint.name, statement, why)
        for index in list(table.live_indexes):
            if name in index.column_names or name in index.include:
                self.drop_index_object(index, statement, why)
        for trigger in list(table.triggers.values()):
            watched = set(trigger.columns)
            if trigger.when is not None:
                watched |= set(column_refs(trigger.when.node))
            if name in watched:
                del table.triggers[trigger.name]
                self.died(trigger, statement, why)
        if cascade:
            for policy in list(table.policies.values()):
                if any(name in column_refs(e.node) for e in policy.expressions):
                    del table.policies[policy.name]
                    self.died(policy, statement, why)
            qualified = table.qualified_name
            for other in list(self.model.tables.values()):
                for fk in other.foreign_keys:
                    if fk.ref_table == qualified and name in fk.ref_columns:
                        self.drop_constraint(other, fk.name, statement, why)
            for key, view in list(self.model.views.items()):
                if qualified in view.reads and _mentions(view, name):
                    del self.model.views[key]
                    self.died(view, statement, why)
                    self.drop_views_reading(view.qualified_name, statement)
        owned = f"{table.qualified_name}.{name}"
        for key, sequence in list(self.model.sequences.items()):
            if sequence.owned_by == owned:
                del self.model.sequences[key]
                self.died(sequence, statement, why)
        for child in self.children_of(table):
            if name in child.columns:
                self.drop_column_object(child, name, statement, cascade, "with its parent's")
        return column

    def copy_column(
        self,
        table: Table,
        source: Column,
        statement: Statement,
        origin: str,
        like_options: int = LIKE_ALL,
    ) -> Column:
        """A column copied from a parent (`origin` "inherited") or by LIKE (with its options:
        NOT NULL always, the default, identity and generation expression when asked)."""
        inherited = origin == "inherited"
        column = Column(
            source.name,
            table=table,
            type=base_type(source.type),
            not_null=source.not_null or source.in_primary_key,
        )
        if inherited or like_options & LIKE_DEFAULTS:
            column.default = source.default
        if (inherited or like_options & LIKE_GENERATED) and source.generated is not None:
            column.generated = source.generated
        if like_options & LIKE_IDENTITY and not inherited and source.identity:
            column.identity = source.identity
            column.serial_sequence = self.choose_relation_name(
                table.schema, table.name, column.name, "seq"
            )
        table.columns[column.name] = column
        self.born(column, statement, f"{origin} from {source.table.qualified_name}")
        return column

    def inherit_checks(self, parent: Table, child: Table, statement: Statement) -> None:
        """CHECK constraints pass to inheritance children and LIKE copies under their names."""
        for check in parent.checks:
            if check.name in child.constraints:
                continue
            copy = Constraint(
                check.name,
                table=child,
                type="check",
                columns=list(check.columns),
                expression=check.expression,
                not_valid=check.not_valid,
            )
            child.constraints[copy.name] = copy
            self.born(copy, statement, f"from {parent.qualified_name}")

    def partitions_of(self, table: Table) -> list[Table]:
        if not self.has_child_tables:
            return []
        qualified = table.qualified_name
        return [t for t in self.model.tables.values() if t.partition_of == qualified]

    def children_of(self, table: Table) -> list[Table]:
        """Partitions and inheritance children: what a new column or CHECK reaches too."""
        if not self.has_child_tables:
            return []
        qualified = table.qualified_name
        return [
            t
            for t in self.model.tables.values()
            if t.partition_of == qualified or qualified in t.inherits
        ]

    def clone_into_partition(
        self, parent: Table, child: Table, statement: Statement, attach: bool = False
    ) -> None:
        """What a partition receives from its parent (CREATE ... PARTITION OF, ATTACH
        PARTITION): the parent's indexes and the keys they back, named for the partition
        (an equivalent index the partition has is used instead), its foreign keys and CHECKs
        under their own names, and its row-level triggers."""
        for index in parent.live_indexes:
            self.clone_index(index, child, statement, attach)
        for constraint in list(parent.constraints.values()):
            if constraint.type in ("foreign_key", "check"):
                self.clone_constraint(constraint, child, statement)
        for trigger in list(parent.triggers.values()):
            if trigger.for_each_row:
                self.clone_trigger(trigger, child, statement)

    def detach_partition(self, partition: Table, statement: Statement) -> None:
        """DETACH PARTITION: the table stands alone; the triggers it had from its parent go,
        its indexes, keys and foreign keys stay its own."""
        partition.record("altered", statement, f"detached from {partition.partition_of}")
        partition.partition_of = None
        partition.partition_statement = None
        for trigger in list(partition.triggers.values()):
            if trigger.cloned:
                del partition.triggers[trigger.name]
                self.died(trigger, statement, "with its partition's detach")
        for index in partition.indexes:
            index.parent = None

    def add_column_to_children(self, table: Table, column: Column, statement: Statement) -> None:
        """ADD COLUMN reaches the partitions and inheritance children."""
        for child in self.children_of(table):
            if column.name not in child.columns:
                copy = self.copy_column(child, column, statement, "inherited")
                self.add_column_to_children(child, copy, statement)

    def add_constraint_to_children(
        self, table: Table, constraint: Constraint, statement: Statement
    ) -> None:
        """ADD CONSTRAINT reaches the children: a CHECK every child (partitions and inheritance
        children), a foreign key and the index of a key the partitions."""
        if constraint.type == "check":
            for child in self.children_of(table):
                if constraint.name not in child.constraints:
                    self.clone_constraint(constraint, child, statement)
                    self.add_constraint_to_children(
                        child, child.constraints[constraint.name], statement
                    )
            return
        for partition in self.partitions_of(table):
            if constraint.type == "foreign_key":
                self.clone_constraint(constraint, partition, statement)
            else:
                for index in table.live_indexes:
                    if index.constraint is constraint:
                        self.clone_index(index, partition, statement, attach=True)

    def clone_constraint(self, constraint: Constraint, child: Table, statement: Statement) -> None:
        if constraint.name in child.constraints:
            return
        copy = Constraint(
            constraint.name,
            table=child,
            type=constraint.type,
            columns=list(constraint.columns),
            expression=constraint.expression,
            ref_table=constraint.ref_table,
            ref_columns=list(constraint.ref_columns),
            on_delete=constraint.on_delete,
            on_update=constraint.on_update,
            not_valid=constraint.not_valid,
            deferrable=constraint.deferrable,
            actions_given=constraint.actions_given,
            actions_written=constraint.actions_written,
        )
        child.constraints[copy.name] = copy
        self.born(copy, statement, f"from {constraint.table.qualified_name}")
        for grandchild in self.partitions_of(child):
            self.clone_constraint(copy, grandchild, statement)

    def clone_trigger(self, trigger: Trigger, child: Table, statement: Statement) -> None:
        if trigger.name in child.triggers:
            return
        copy = Trigger(
            trigger.name,
            table=child,
            function=trigger.function,
            timing=trigger.timing,
            events=list(trigger.events),
            for_each_row=True,
            arguments=list(trigger.arguments),
            when=trigger.when,
            columns=list(trigger.columns),
            cloned=True,
        )
        own_triggers(child)[copy.name] = copy
        self.born(copy, statement, f"from {trigger.table.qualified_name}")
        for grandchild in self.partitions_of(child):
            self.clone_trigger(copy, grandchild, statement)

    def clone_index(
        self, index: Index, child: Table, statement: Statement, attach: bool = False
    ) -> None:
        """The parent's index on a partition, or the partition's equivalent one if it has it."""
        if attach:
            for own in child.live_indexes:
                if own.shape == index.shape and own.unique == index.unique:
                    own.parent = index
                    return
        self.copy_index(index, child, statement, partition=True)

    def copy_index(
        self, index: Index, table: Table, statement: Statement, partition: bool = False
    ) -> Index:
        """`index` (and the key it backs) on another table, named as PostgreSQL names it;
        `partition`: the copy is the partition's part of a partitioned index."""
        constraint = index.constraint
        names = index.key_names or [c if isinstance(c, str) else "expr" for c in index.columns]
        if constraint is not None:
            label = {"primary_key": "pkey", "unique": "key", "exclude": "excl"}[constraint.type]
            addition = None if label == "pkey" else name_addition(names)
            name = self.choose_relation_name(
                table.schema, table.name, addition, label, constraint=True
            )
        else:
            name = self.choose_relation_name(table.schema, table.name, name_addition(names), "idx")
        copy = Index(
            name,
            schema=table.schema,
            table=table,
            columns=list(index.columns),
            expressions=list(index.expressions),
            include=list(index.include),
            predicate=index.predicate,
            unique=index.unique,
            method=index.method,
            key_names=list(names),
            parent=index if partition else None,
            key_options=list(index.key_options),
        )
        if constraint is not None:
            copied = Constraint(
                name,
                table=table,
                type=constraint.type,
                columns=list(constraint.columns),
                include=list(constraint.include),
                method=constraint.method,
                operators=list(constraint.operators),
                predicate=constraint.predicate,
                deferrable=constraint.deferrable,
            )
            for column in copied.columns if constraint.type == "primary_key" else ():
                if column in table.columns:
                    table.columns[column].not_null = True
            table.constraints[name] = copied
            self.born(copied, statement, f"from {index.table.qualified_name}")
            copy.constraint = copied
        table.indexes.append(copy)
        self.model.indexes[(table.schema, name)] = copy
        self.born(copy, statement, f"from {index.qualified_name}")
        for grandchild in self.partitions_of(table):
            self.clone_index(copy, grandchild, statement)
        return copy

    def copy_indexes(self, source: Table, table: Table, statement: Statement) -> None:
        """LIKE ... INCLUDING INDEXES: every index of the source, keys included, renamed."""
        for index in source.live_indexes:
            self.copy_index(index, table, statement)

    def constraint_index(
        self,
        table: Table,
        constraint: Constraint,
        statement: Statement,
        key_names: list[str | None] | None = None,
    ) -> None:
        existing = None
        if constraint.using_index:
            existing = self.model.indexes.get((table.schema, constraint.using_index))
        if existing is not None:
            # ADD CONSTRAINT ... USING INDEX: the index becomes the constraint's.
            self.model.indexes.pop((existing.schema, existing.name), None)
            existing.name = constraint.name
            existing.constraint = constraint
            existing.record("altered", statement, f"now backs constraint {constraint.name}")
            self.model.indexes[(table.schema, existing.name)] = existing
            return
        exclude = constraint.type == "exclude"
        index = Index(
            constraint.name,
            schema=table.schema,
            table=table,
            columns=list(constraint.columns),
            include=list(constraint.include),
            unique=not exclude,
            method=constraint.method if exclude else "btree",
            predicate=constraint.predicate,
            constraint=constraint,
            key_names=index_column_names(key_names or [*constraint.columns, *constraint.include]),
        )
        table.indexes.append(index)
        self.model.indexes[(table.schema, index.name)] = index
        created = constraint.created
        self.born(
            index,
            statement,
            f"for constraint {constraint.name}",
            created.offset if created else None,
        )

    # -- PostgreSQL's names for unnamed objects ----------------------------------------
    def temporary_table(self, schema: str | None, name: str) -> None:
        """A temporary table is no part of the schema: statements on it are not replayed."""
        self.temporary.add(name)
        if schema:
            self.temporary.add(f"{schema}.{name}")

    def is_temporary(self, schema: str | None, name: str) -> bool:
        if schema:
            return schema == TEMPORARY_SCHEMA or f"{schema}.{name}" in self.temporary
        return name in self.temporary

    def relation_name_taken(self, schema: str, name: str) -> bool:
        """Whether a relation of the schema has the name: a table, index, sequence (those
        behind serial and identity columns too) or view. An unnamed index or sequence avoids
        them all."""
        key = (schema, name)
        model = self.model
        if key in model.tables or key in model.indexes:
            return True
        if key in model.sequences or key in model.views:
            return True
        for column in self.serial_holders.get(name, ()):
            table = column.table
            if (
                column.serial_sequence
                and column.serial_sequence.rpartition(".")[2] == name
                and table.columns.get(column.name) is column
                and model.tables.get((schema, table.name)) is table
            ):
                return True
        return False

    def constraint_name_taken(self, schema: str, name: str) -> bool:
        """Constraint names are unique per table, but PostgreSQL picks an unnamed one that no
        constraint of the schema has."""
        for constraint in self.constraint_holders.get(name, ()):
            table = constraint.table
            if (
                table.constraints.get(name) is constraint
                and self.model.tables.get((schema, table.name)) is table
            ):
                return True
        return False

    def choose_relation_name(
        self, schema: str, name1: str, name2: str | None, label: str, constraint: bool = False
    ) -> str:
        """ChooseRelationName: free among the schema's relations (and, for the index of a
        constraint, among its constraints)."""

        def taken(name: str) -> bool:
            return self.relation_name_taken(schema, name) or (
                constraint and self.constraint_name_taken(schema, name)
            )

        return choose_name(name1, name2, label, taken)

    def choose_constraint_name(self, schema: str, name1: str, name2: str | None, label: str) -> str:
        """ChooseConstraintName: free among the schema's constraints."""
        return choose_name(
            name1, name2, label, lambda name: self.constraint_name_taken(schema, name)
        )

    def default_constraint_name(
        self, table: Table, constraint: Constraint, key_names: list[str | None]
    ) -> str:
        """The name PostgreSQL gives a constraint written without one. `key_names`: the names
        of its index keys (columns, or what an expression is called)."""
        schema, name = table.schema, table.name
        if constraint.type == "primary_key":
            return self.choose_relation_name(schema, name, None, "pkey", constraint=True)
        if constraint.type in ("unique", "exclude"):
            label = "key" if constraint.type == "unique" else "excl"
            addition = name_addition(index_column_names(key_names))
            return self.choose_relation_name(schema, name, addition, label, constraint=True)
        if constraint.type == "foreign_key":
            addition = name_addition(str(c) for c in constraint.columns)
            return self.choose_constraint_name(schema, name, addition, "fkey")
        # CHECK: named after its column when it reads exactly one.
        read = constraint.referenced_columns
        column = next(iter(read)) if len(read) == 1 else None
        return self.choose_constraint_name(schema, name, column, "check")

    def drop_constraint(
        self, table: Table, name: str, statement: Statement, detail: str = ""
    ) -> Constraint | None:
        """A constraint, its index, and its copies in partitions (and inheritance children,
        for a CHECK)."""
        constraint: Constraint | None = table.constraints.pop(name, None)
        if constraint is None:
            return None
        self.died(constraint, statement, detail)
        for index in list(table.indexes):
            if index.constraint is constraint and not index.dropped:
                self.drop_index_object(index, statement, f"with its constraint {name}")
        if constraint.type in ("check", "foreign_key"):
            for child in self.children_of(table):
                copy = child.constraints.get(name)
                if copy is not None and copy.type == constraint.type:
                    self.drop_constraint(child, name, statement, "with its parent's")
        return constraint

    def is_enum_swap(self, old: TypeName | None, new: TypeName) -> bool:
        """A column moved to an enum type created in this file, from an enum (or the name of
        one that was renamed away): the rename-create-convert pattern that rewrites the table."""
        if old is None:
            return False
        enum = self.model.types.get((new.schema or self.search_path, new.name)) or (
            self.model.types.get(("public", new.name))
        )
        if enum is None or self.existed_before_file(enum):
            return False
        if old.name == new.name:
            return True  # the old type was renamed; the column still shows its first name
        return any(t.name == old.name for t in self.model.types.values()) or any(
            o.kind == "type" and o.name == old.name for o in self.graveyard.values()
        )

    def drop_index_object(self, index: Index, statement: Statement, detail: str = "") -> None:
        """An index and its copies on the partitions."""
        if self.model.indexes.get((index.schema, index.name)) is index:
            del self.model.indexes[(index.schema, index.name)]
        if detail.startswith("with its"):
            index.dropped = True  # not a statement of its own: no history entry to match
            index.record("dropped", statement, detail)
        else:
            self.died(index, statement, detail)
        for table in self.partitions_of(index.table):
            for copy in list(table.live_indexes):
                if copy.parent is index:
                    if copy.constraint is not None:
                        self.drop_constraint(
                            table, copy.constraint.name, statement, "with its parent's"
                        )
                    else:
                        self.drop_index_object(copy, statement, "with its parent's index")

    # -- renames reach what refers to the renamed object ---------------------------------
    def rename_table(self, table: Table, new_name: str, statement: Statement) -> str:
        """RENAME TO: foreign keys of other tables, partitions, children, views and owned
        sequences follow (the server refers by OID). Returns the old qualified name."""
        old = table.qualified_name
        self.model.tables.pop((table.schema, table.name), None)
        table.name = new_name
        self.model.tables[(table.schema, new_name)] = table
        table.record("renamed", statement, f"{old} -> {table.qualified_name}")
        # A table dropped under this name is replaced (the swap: DROP t; RENAME t_new TO t).
        # popped: the name is taken now; a later table of that name replaces this one.
        dead = self.graveyard.pop(("table", table.qualified_name), None)
        if dead is not None and dead is not table:
            dead.replaced_by, dead.replaced_at = table, table.history[-1]
        self.retarget_relation(old, table.qualified_name)
        return old

    def retarget_relation(self, old: str, new: str) -> None:
        """Every reference to relation `old` (qualified) now names `new`."""
        # Lists are replaced, not changed in place (snapshots share them), and only where
        # they name `old`: a rename walks every table of the schema, and the constraints of
        # those holding a foreign key that referenced `old`.
        holders = self.foreign_key_holders(old)
        # (No table is a partition or child until one was: then only the holders matter.)
        others = self.model.tables.values() if holders or self.has_child_tables else ()
        for other in others:
            for constraint in other.constraints.values() if id(other) in holders else ():
                if constraint.type == "foreign_key" and constraint.ref_table == old:
                    constraint.ref_table = new
                    self.foreign_keys_to.setdefault(new, []).append(constraint)
            if other.partition_of == old:
                other.partition_of = new
            if old in other.inherits:
                other.inherits = [new if parent == old else parent for parent in other.inherits]
        for view in self.model.views.values():
            if old in view.reads:
                view.reads = [new if read == old else read for read in view.reads]
        for sequence in self.model.sequences.values():
            if sequence.owned_by and sequence.owned_by.startswith(old + "."):
                sequence.owned_by = new + sequence.owned_by[len(old) :]

    def rename_column(
        self, table: Table, old: str, new: str, statement: Statement
    ) -> Column | None:
        """RENAME COLUMN: constraints, indexes, expressions, triggers, policies, foreign keys
        of other tables, owned sequences and the column's copies in child tables follow."""
        column = table.columns.get(old)
        if column is None:
            return None
        column.name = new
        # Keep the column's position: rebuild the ordered mapping under the new name.
        table.columns = {
            (new if key == old else key): value for key, value in table.columns.items()
        }
        column.record("renamed", statement, f"{old} -> {new}")

        def renamed(expression: Expression | None) -> Expression | None:
            if expression is None:
                return None
            return expression.with_column_renamed(old, new, table.name)

        def names(items: list[Any]) -> list[Any]:
            return [new if item == old else item for item in items]

        for other_column in table.columns.values():
            other_column.generated = renamed(other_column.generated)
        for constraint in table.constraints.values():
            constraint.columns = names(constraint.columns)
            constraint.include = names(constraint.include)
            constraint.expression = renamed(constraint.expression)
            constraint.predicate = renamed(constraint.predicate)
        for index in table.indexes:
            index.columns = [
                c.with_column_renamed(old, new, table.name)
                if isinstance(c, Expression)
                else (new if c == old else c)
                for c in index.columns
            ]
            index.expressions = [c for c in index.columns if isinstance(c, Expression)]
            index.include = names(index.include)
            index.predicate = renamed(index.predicate)
        for trigger in table.triggers.values():
            trigger.columns = names(trigger.columns)
            trigger.when = renamed(trigger.when)
        for policy in table.policies.values():
            policy.using = renamed(policy.using)
            policy.with_check = renamed(policy.with_check)
        qualified = table.qualified_name
        holders = self.foreign_key_holders(qualified)
        for other in self.model.tables.values():
            for fk in other.foreign_keys if id(other) in holders else ():
                if fk.ref_table == qualified:
                    fk.ref_columns = names(fk.ref_columns)
        for sequence in self.model.sequences.values():
            if sequence.owned_by == f"{qualified}.{old}":
                sequence.owned_by = f"{qualified}.{new}"
        for child in self.children_of(table):
            self.rename_column(child, old, new, statement)
        return column

    def rename_type(self, enum: EnumType, new_name: str, statement: Statement) -> None:
        """ALTER TYPE ... RENAME TO: the columns and functions that use the type follow."""
        old = enum.name
        self.model.types.pop((enum.schema, old), None)
        enum.name = new_name
        self.model.types[(enum.schema, new_name)] = enum
        enum.record("renamed", statement, f"{old} -> {new_name}")

        def follow(type_name: TypeName) -> TypeName:
            if type_name.name == old and type_name.schema in (None, enum.schema):
                return TypeName(new_name, type_name.schema, type_name.modifiers, type_name.array)
            return type_name

        for table in self.model.tables.values():
            for column in table.columns.values():
                if column.type.name == old:  # (`follow` leaves the others as they are)
                    column.type = follow(column.type)
        for function in self.model.functions.values():
            function.argument_types = [follow(t) for t in function.argument_types]
            if function.return_type is not None:
                function.return_type = follow(function.return_type)

    def rename_function(
        self, function: Function, schema: str, name: str, statement: Statement
    ) -> None:
        """ALTER FUNCTION ... RENAME TO / SET SCHEMA: triggers that run it follow."""
        old = function.qualified_name
        for key, value in list(self.model.functions.items()):
            if value is function:
                del self.model.functions[key]
        function.schema, function.name = schema, name
        self.model.functions[(schema, name, function.arguments)] = function
        function.record("renamed", statement, f"{old} -> {function.qualified_name}")
        for table in self.model.tables.values():
            for trigger in table.triggers.values():
                if self.trigger_function_name(trigger.function) == old:
                    trigger.function = function.qualified_name

    def trigger_function_name(self, written: str) -> str:
        """The qualified name of a function as a trigger names it (the search path resolves a
        bare name)."""
        if "." in written:
            return written
        for schema, name, _ in self.model.functions:
            if name == written and schema in (self.search_path, "public"):
                return f"{schema}.{name}"
        return f"{self.search_path}.{written}"

    def move_table(self, table: Table, schema: str, statement: Statement) -> None:
        """ALTER TABLE ... SET SCHEMA: its indexes and owned sequences move with it."""
        old = table.qualified_name
        self.model.tables.pop((table.schema, table.name), None)
        table.schema = schema
        self.model.tables[(schema, table.name)] = table
        for index in table.indexes:
            if self.model.indexes.get((index.schema, index.name)) is index:
                del self.model.indexes[(index.schema, index.name)]
                self.model.indexes[(schema, index.name)] = index
            index.schema = schema
        for column in table.columns.values():
            if column.serial_sequence:
                column.serial_sequence = f"{schema}.{column.serial_sequence.rpartition('.')[2]}"
        table.record("renamed", statement, f"{old} -> {table.qualified_name}")
        self.retarget_relation(old, table.qualified_name)

    def rename_schema(self, old: str, new: str, statement: Statement) -> None:
        """ALTER SCHEMA ... RENAME TO: every object of the schema moves, references follow."""
        for table in [t for (s, _), t in self.model.tables.items() if s == old]:
            self.move_table(table, new, statement)
        registries: tuple[dict[tuple[str, str], Any], ...] = (
            self.model.types,
            self.model.sequences,
            self.model.views,
        )
        for registry in registries:
            for (schema, name), obj in list(registry.items()):
                if schema == old:
                    del registry[(schema, name)]
                    obj.schema = new
                    registry[(new, name)] = obj
                    if isinstance(obj, View):
                        self.retarget_relation(f"{old}.{name}", f"{new}.{name}")
        for function in [f for (s, _, _), f in self.model.functions.items() if s == old]:
            self.rename_function(function, new, function.name, statement)
        for table in self.model.tables.values():
            for column in table.columns.values():
                if column.type.schema == old:
                    column.type = TypeName(
                        column.type.name, new, column.type.modifiers, column.type.array
                    )

    def close_match(self, kind: str, qualified: str) -> str:
        """A live object of the kind whose name is one typo away from `qualified`.

        A typo is one or two letters changed, added, dropped or swapped; names that differ
        only in underscores (a legacy `AuthLogs` next to `auth_logs`) are another object, and
        so are names that differ in PostgreSQL's own suffixes (`x_key` next to `x_fkey`).
        Policies, triggers and constraints are looked for on their table (`qualified` is
        `schema.table.name`).
        """
        schema, _, name = qualified.rpartition(".")
        candidates: list[Any]
        if kind in ("drop_policy", "drop_trigger", "drop_constraint"):
            table = self.model.tables.get(self.split_name(schema.split(".")))
            if table is None or "." not in schema:
                return ""
            if kind == "drop_policy":
                candidates = list(table.policies.values())
            elif kind == "drop_trigger":
                candidates = list(table.triggers.values())
            else:
                candidates = list(table.constraints.values())
            schema = ""  # the table is the namespace
        elif kind == "drop_table":
            candidates = list(self.model.tables.values())  # the external ones left out below
        else:
            # Only the registry asked for: listing every kind's objects cost more than the
            # search on a schema of thousands.
            registries: dict[str, Callable[[], Any]] = {
                "drop_index": self.model.indexes.values,
                "drop_view": self.model.views.values,
                "drop_type": self.model.types.values,
                "drop_sequence": self.model.sequences.values,
                "drop_function": self.model.functions.values,
            }
            registry = registries.get(kind)
            candidates = list(registry()) if registry is not None else []
        # What is asked of `name` is worked out once, and the cheapest tests come first: a
        # schema has thousands of candidates, a name is one typo away from few of them.
        folded = name.replace("_", "").lower()
        stem = name.rstrip("0123456789")
        suffix = _generated_suffix(name)
        head, tail = name[:3], name[-3:]
        letters = set(name)
        # Only names within two letters of the name's length can be a typo of it: they are
        # picked out in C (a Python step for each of a schema's thousands of names cost
        # twice as much), and the other tests are for the few left.
        near_length = set(range(len(name) - 2, len(name) + 3)).__contains__
        candidates = list(compress(candidates, map(near_length, map(len, map(_NAME, candidates)))))
        tables = kind == "drop_table"
        for obj in candidates:
            if tables and obj.external:
                continue  # a stand-in for a table made elsewhere
            other = obj.name
            # Two typos cannot touch both the first and the last three letters... nearly
            # never: the cheap test spares most distance computations.
            if other[:3] != head and other[-3:] != tail:
                continue
            # Each edit or swap changes the set of letters a name uses by two letters at
            # most: names whose sets differ more are further apart. Most names the tests
            # above leave (an index's `_idx`, a key's `_key`) go here, in C, before the
            # tests below make a string or two each.
            if len(letters.symmetric_difference(other)) > 4:
                continue
            if other == name or (schema and getattr(obj, "schema", schema) != schema):
                continue
            if other.replace("_", "").lower() == folded:
                continue
            if stem == other.rstrip("0123456789"):
                continue  # `x_key1` next to `x_key`: PostgreSQL's own names for duplicates
            if suffix != _generated_suffix(other):
                continue  # `orders_user_id_fkey` is not a typo of `orders_user_id_key`
            if _typo_distance(name, other) <= 2:
                return str(obj.qualified_name)
        return ""

    def drop_simple(
        self,
        registry: dict[tuple[str, str], Any],
        names: list[str],
        statement: Statement,
        emit: Callable[..., None],
        kind: str,
    ) -> Any:
        schema, name = self.split_name(names)
        obj = registry.pop((schema, name), None)
        if obj is None and len(names) < 2:
            obj = registry.pop(("public", name), None)
        if obj is not None:
            self.died(obj, statement)
        emit(kind, obj, obj.qualified_name if obj else f"{schema}.{name}")
        return obj

    def rename_index(self, index: Index, new_name: str, statement: Statement) -> None:
        self.model.indexes.pop((index.schema, index.name), None)
        old = index.name
        index.name = new_name
        self.model.indexes[(index.schema, new_name)] = index
        index.record("renamed", statement, f"{old} -> {new_name}")

    def missing_trigger_function(self, qualified: str) -> str:
        """The trigger's function when no statement before created it (and neither PostgreSQL
        nor an installed extension provides it), or ''."""
        schema, _, name = qualified.rpartition(".")
        if name.lower() in _BUILTIN_TRIGGER_FUNCTIONS:
            return ""
        if schema and schema not in self.model.schemas and schema != "public":
            return ""  # a schema the files never created: its functions come from elsewhere
        if name == "moddatetime" and "moddatetime" in self.model.extensions:
            return ""
        wanted = (schema or self.search_path, name)
        if any(key[:2] == wanted for key in self.model.functions):
            return ""
        if not schema and any(key[1] == name for key in self.model.functions):
            return ""  # created in another schema of the search_path
        return qualified


# Trigger functions PostgreSQL itself (or contrib modules loaded without CREATE EXTENSION)
# provides.
_BUILTIN_TRIGGER_FUNCTIONS = frozenset(
    {
        "suppress_redundant_updates_trigger",
        "tsvector_update_trigger",
        "tsvector_update_trigger_column",
        "lo_manage",
    }
)


_NAME = attrgetter("name")
_new_object = object.__new__

# The suffixes PostgreSQL (and the tools that copy its naming) give constraints and indexes.
_GENERATED_SUFFIXES = ("_pkey", "_fkey", "_key", "_check", "_excl", "_idx", "_not_null", "_seq")


# Cached: each DROP ... IF EXISTS of a missing name asks it of the names near that one,
# mostly the same indexes' and tables' names from one such statement to the next.
@lru_cache(maxsize=4096)
def _generated_suffix(name: str) -> str:
    lowered = name.lower()
    return next((s for s in _GENERATED_SUFFIXES if lowered.endswith(s)), "")


def _typo_distance(a: str, b: str, limit: int = 2) -> int:
    """Optimal string alignment distance (edits and adjacent swaps), or `limit + 1` when it
    exceeds `limit`.

    Only the cells within `limit` of the diagonal are computed: a cell further off costs more
    than `limit` to reach, so it counts as `limit + 1` (the band makes a name pair's cost
    grow with its length, not its length squared). Most pairs of names differ early, so most
    calls stop at once.
    """
    over = limit + 1
    start, end_a, end_b = 0, len(a), len(b)
    while start < end_a and start < end_b and a[start] == b[start]:
        start += 1
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a -= 1
        end_b -= 1
    a, b = a[start:end_a], b[start:end_b]
    length_b = len(b)
    if abs(len(a) - length_b) > limit:
        return over
    previous2: list[int] = []
    # [0, 1, ..., over, over, ...]: the first row, capped (made in C, not a min() a cell).
    previous: list[int] = [*range(min(length_b + 1, over)), *repeat(over, length_b + 1 - over)]
    for i, char_a in enumerate(a, 1):
        current = [over] * (length_b + 1)
        if i <= limit:
            current[0] = i
        low, high = max(1, i - limit), min(length_b, i + limit)
        for j in range(low, high + 1):
            char_b = b[j - 1]
            # The least of the three steps, compared inline (min() is a call each cell).
            best = previous[j] + 1
            left = current[j - 1] + 1
            if left < best:
                best = left
            diagonal = previous[j - 1] + (char_a != char_b)
            if diagonal < best:
                best = diagonal
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                swap = previous2[j - 2] + 1
                if swap < best:
                    best = swap
            current[j] = best if best < over else over
        if min(current) > limit:
            return over
        previous2, previous = previous, current
    return previous[-1]


def _mentions(view: View, column: str) -> bool:
    """Whether a view's query names a column (as a word): what DROP COLUMN ... CASCADE takes
    with it. The query is not resolved, so a column of another table with the same name
    counts too."""
    event = view.defined
    if event is None:
        return True
    return re.search(rf"(?<![\w$]){re.escape(column)}(?![\w$])", event.statement.text) is not None
