"""Schema objects as the replay leaves them, each with its history.

Model objects are plain mutable classes with slots: the replay changes them statement by
statement. Facts that rules ask about (is this foreign key covered by an index? was
this table created in the file that changes it?) are properties here, so the YAML rules
stay short and declarative.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from functools import cache, lru_cache
from itertools import pairwise
from typing import Any, ClassVar, Self

from schema_review.model.conventions import (
    Convention,
    convention_for,
    mismatch_of,
    name_pattern,
)
from schema_review.model.naming import make_object_name
from schema_review.model.plpgsql import NO_FACTS, BodyFacts, PendingFacts, unqualified_names
from schema_review.parse import (
    RESERVED_WORDS,
    Expression,
    Statement,
    column_refs,
    node_name,
    quote_ident,
    walk_dicts,
)

# libpg_query's internal type names -> the names people write.
TYPE_DISPLAY = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "float4": "real",
    "float8": "double precision",
    "bool": "boolean",
    "varchar": "varchar",
    "bpchar": "char",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
    "time": "time",
    "timetz": "timetz",
    "interval": "interval",
    "numeric": "numeric",
    "bit": "bit",
    "varbit": "varbit",
}

# Volatile built-ins (and common extension functions) seen in column defaults.
VOLATILE_FUNCTIONS = frozenset(
    {
        "random",
        "gen_random_uuid",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "uuidv4",
        "uuidv7",
        "uuid_generate_v7",
        "clock_timestamp",
        "timeofday",
        "nextval",
        "txid_current",
        "gen_random_bytes",
        "random_normal",
        "setseed",
    }
)

# Functions that give the time of the insert (the transaction's or the statement's).
INSERT_TIME_FUNCTIONS = frozenset(
    {"now", "pg_catalog.now", "transaction_timestamp", "statement_timestamp", "clock_timestamp"}
)

SOFT_DELETE_COLUMNS = frozenset({"deleted_at", "archived_at", "removed_at", "deleted"})

FK_ACTIONS = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}


def generated_name(table: str, columns: str, label: str) -> str:
    """The name PostgreSQL generates (makeObjectName): table, columns and label joined by
    underscores; when over 63 bytes, the longer of table and columns loses characters first."""
    return make_object_name(table, columns or None, label or None)


# Names repeat (`id`, `created_at` in every table), and rules read the words of each column
# and of its table (`column.table.words`), rule after rule: a name is split once (a tuple,
# shared safely).
@lru_cache(maxsize=4096)
def name_words(name: str) -> tuple[str, ...]:
    """The words of a name, lower case, whether it is snake_case or camelCase."""
    spaced = _CAMEL_BOUNDARY.sub("_", name)
    return tuple(w for w in _NOT_WORD.split(spaced.lower()) if w)


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


_INSERT_TIME_VALUES = ("SVFOP_CURRENT_TIMESTAMP", "SVFOP_LOCALTIMESTAMP", "SVFOP_CURRENT_DATE")


def _insert_time(node: dict[str, Any]) -> bool:
    """Whether an expression is the time of the insert (see `Column.insert_time_default`)."""
    if "TypeCast" in node:
        return _insert_time(node["TypeCast"].get("arg", {}))
    value = node.get("SQLValueFunction")
    if value is not None:
        return str(value.get("op", "")).startswith(_INSERT_TIME_VALUES)
    call = node.get("FuncCall")
    if call is None:
        return False
    name = ".".join(node_name(call.get("funcname")))
    args = call.get("args", [])
    if name in ("timezone", "pg_catalog.timezone") and len(args) == 2:
        return _insert_time(args[1])
    return name in INSERT_TIME_FUNCTIONS and not args


def _not_null_tests_of(node: dict[str, Any], columns: set[str | Expression]) -> bool:
    """Whether an index predicate is `col IS NOT NULL`, or an AND of those, on `columns`
    only: what equality on every one of them implies."""
    boolean = node.get("BoolExpr")
    if boolean is not None:
        return boolean.get("boolop") == "AND_EXPR" and all(
            _not_null_tests_of(arg, columns) for arg in boolean.get("args", ())
        )
    test = node.get("NullTest")
    if test is None or test.get("nulltesttype") != "IS_NOT_NULL":
        return False
    names = node_name(test.get("arg", {}).get("ColumnRef", {}).get("fields"))
    return bool(names) and names[-1] in columns


# The default of the list and dict fields most objects leave empty (an index's INCLUDE, a
# table's policies) or fill later (a history, at the object's first event): one shared empty
# container, not one per object (a long history makes hundreds of thousands of objects).
# Never changed in place: an object given items gets a list (or dict) of its own (`record`,
# `own_policies`, `own_triggers`), and `check_shared_empties` says whether something broke
# that rule.
_NO_ITEMS: list[Any] = []
_NO_ENTRIES: dict[str, Any] = {}


# The short lists of names constraints, indexes and triggers are made with, one list for
# each distinct content during a replay (a key's ['id'], an index's ['status']: a long
# history makes hundreds of thousands alike, some 100 bytes each). The replay assigns a new
# list when it changes an object's names, never changes one in place: check_shared_empties
# checks that at the end of each replay.
_SHARED_NAMES: dict[tuple[str, ...], list[Any]] = {}


def shared_names(names: list[Any]) -> list[Any]:
    """`names`, or the list already made with the same names (`_NO_ITEMS` when empty)."""
    if not names:
        return _NO_ITEMS
    if len(names) > 4:
        return names
    for name in names:
        if type(name) is not str:
            return names  # an index's expression
    return _SHARED_NAMES.setdefault(tuple(names), names)


def check_shared_empties() -> None:
    """Raise if a shared empty default, or a shared list of names, was changed in place (a
    bug that would give every object that shares it the same items)."""
    if _NO_ITEMS or _NO_ENTRIES:
        raise RuntimeError("a shared empty default of the model was changed in place")
    for key, names in _SHARED_NAMES.items():
        if tuple(names) != key:
            raise RuntimeError("a shared list of names of the model was changed in place")
    _SHARED_NAMES.clear()


def own_policies(table: Table) -> dict[str, Policy]:
    """The table's policies, as a dict of its own that may be changed."""
    if table.policies is _NO_ENTRIES:
        table.policies = {}
    return table.policies


def own_triggers(table: Table) -> dict[str, Trigger]:
    """The table's triggers, as a dict of its own that may be changed."""
    if table.triggers is _NO_ENTRIES:
        table.triggers = {}
    return table.triggers


_MISSING = object()


@cache
def _slot_names(cls: type) -> tuple[str, ...]:
    return tuple(
        name
        for klass in cls.__mro__
        for name in getattr(klass, "__slots__", ())
        if name != "__weakref__"
    )


@cache
def _slot_copier(cls: type) -> Callable[[Any, Any], None]:
    """`copy(obj, clone)`: every field of `obj` set on `clone` (AttributeError when one is
    not set). Straight-line code made for the class: each step reads and writes one slot,
    which the interpreter specialises; the replay snapshots the column or constraint of
    every change that has one, and setting the fields one `setattr` call each cost ten
    times as much."""
    steps = "".join(f"\n    clone.{name} = obj.{name}" for name in _slot_names(cls))
    return _made_function(f"def copy(obj, clone):{steps or ' pass'}", "copy")


@cache
def _slot_comparer(cls: type) -> Callable[[Any, Any], bool]:
    """`same(a, b)`: whether two objects of the class hold the very same value in every
    field (AttributeError when one is not set): straight-line code, as `_slot_copier`."""
    tests = " and ".join(f"a.{name} is b.{name}" for name in _slot_names(cls))
    return _made_function(f"def same(a, b):\n    return {tests or 'True'}", "same")


def _made_function(source: str, name: str) -> Callable[..., Any]:
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<{name} of model slots>", "exec"), namespace)
    function: Callable[..., Any] = namespace[name]
    return function


class Event:
    """One thing a statement did to an object: created, altered, renamed, dropped ..."""

    action: str
    statement: Statement
    detail: str

    # `offset` less the statement's start: a small number, which CPython keeps one object for
    # (an offset into a long file is an int of its own, for each of hundreds of thousands).
    __slots__ = ("_from_start", "action", "detail", "statement")

    def __init__(
        self, action: str, statement: Statement, detail: str = "", offset: int | None = None
    ) -> None:
        self.action = action
        self.statement = statement
        self.detail = detail
        self._from_start = None if offset is None else offset - statement.start

    @property
    def offset(self) -> int | None:
        """Where in the file the object itself is written (a column or constraint inside a
        CREATE TABLE), when that is more precise than the statement's start."""
        from_start = self._from_start
        return None if from_start is None else self.statement.start + from_start

    @property
    def file(self) -> str:
        return self.statement.file

    @property
    def line(self) -> int:
        offset = self.offset
        if offset is not None:
            return self.statement.source.position(offset)[0]
        return self.statement.line

    def __str__(self) -> str:
        suffix = f" ({self.detail})" if self.detail else ""
        return f"{self.action} at {self.file}:{self.line}{suffix}"


class SchemaObject:
    """Common part of every object: its name, where it came from, what happened to it."""

    kind: ClassVar[str] = "object"

    name: str
    history: list[Event]
    # Where `history` is kept: an object one statement made and none changed since (most
    # columns, keys and indexes of a long history) keeps its one event bare, not in a list
    # of its own (some 100 bytes); reading `history` makes the list, once (_read_history,
    # after the class).
    _history: list[Event] | Event
    dropped: bool
    # The object that had this identity before, when this one re-creates a dropped one.
    previous: SchemaObject | None
    # The other way: the object that took this one's identity after it was dropped (created
    # with its name, or renamed to it), and the event by which it did.
    replaced_by: SchemaObject | None
    replaced_at: Event | None

    __slots__ = ("_history", "dropped", "name", "previous", "replaced_at", "replaced_by")

    def __init__(
        self,
        name: str,
        *,
        history: list[Event] | None = None,
        dropped: bool = False,
        previous: SchemaObject | None = None,
        replaced_by: SchemaObject | None = None,
        replaced_at: Event | None = None,
    ) -> None:
        self.name = name
        self._history = _NO_ITEMS if history is None else history
        self.dropped = dropped
        self.previous = previous
        self.replaced_by = replaced_by
        self.replaced_at = replaced_at

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.qualified_name!r})"

    @property
    def qualified_name(self) -> str:
        return self.name

    @property
    def created(self) -> Event | None:
        history = self._history
        if isinstance(history, Event):  # the one event, kept bare
            return history if history.action == "created" else None
        for event in history:
            if event.action == "created":
                return event
        return None

    @property
    def defined(self) -> Event | None:
        """The statement that last (re)defined the object: where its findings are reported."""
        history = self._history
        if isinstance(history, Event):
            return history
        for event in reversed(history):
            if event.action in ("created", "replaced", "retyped"):
                return event
        return history[0] if history else None

    @property
    def last_change(self) -> Event | None:
        history = self._history
        if isinstance(history, Event):
            return history
        return history[-1] if history else None

    @property
    def dropped_event(self) -> Event | None:
        history = self._history
        if isinstance(history, Event):
            return history if history.action == "dropped" else None
        for event in reversed(history):
            if event.action == "dropped":
                return event
        return None

    @property
    def dropped_with_parent(self) -> bool:
        """Dropped because its table (or column) was, not by a statement of its own."""
        event = self.dropped_event
        return event is not None and event.detail.startswith("with its")

    @property
    def recreated_in_dropping_file(self) -> bool:
        """Dropped, and its name taken again by the same file (CREATE, or a RENAME of the
        new version into place): a redefinition, not a removal."""
        event, again = self.dropped_event, self.replaced_at
        return (
            event is not None
            and again is not None
            and again.statement.source is event.statement.source
        )

    @property
    def rebuilt(self) -> bool:
        """A table whose rows were copied into the table that took its name (the SQLite
        rebuild, over one file or several): its life goes on there."""
        successor = self.replaced_by
        return isinstance(successor, Table) and successor.rebuild_of is self

    @property
    def overwritten_comment(self) -> Event | None:
        """The earlier COMMENT a later one replaced with other text, if any. Only COMMENT ON
        statements record comments: `--` comments in the files never count."""
        pair = self._comment_overwrite()
        return pair[0] if pair is not None else None

    @property
    def overwriting_comment(self) -> Event | None:
        """The later COMMENT of `overwritten_comment`: the one that replaced it."""
        pair = self._comment_overwrite()
        return pair[1] if pair is not None else None

    def _comment_overwrite(self) -> tuple[Event, Event] | None:
        if isinstance(self._history, Event):
            return None  # one event: nothing overwritten
        comments = [
            e
            for e in self._history
            if e.action == "commented" and e.statement.kind == "CommentStmt"
        ]
        for earlier, later in pairwise(comments):
            if earlier.detail and later.detail and later.detail != earlier.detail:
                return earlier, later
        return None

    def snapshot(self) -> Self:
        """A shallow copy: the object as it is now, for rules that judge one statement."""
        _read_history(self)  # a list both share, as the events later statements add
        klass: type = type(self)
        clone: Self = object.__new__(klass)
        try:
            _slot_copier(klass)(self, clone)
        except AttributeError:  # a field never set: the others
            for name in _slot_names(klass):
                if hasattr(self, name):
                    setattr(clone, name, getattr(self, name))
        return clone

    def _same_fields(self, other: SchemaObject) -> bool:
        """Whether `other` (of the same class) holds the very same value in every field."""
        klass: type = type(self)
        same, names = _slot_comparer(klass), _slot_names(klass)
        if type(other) is not klass:
            return False
        try:
            return bool(same(self, other))
        except AttributeError:  # a field never set (on one, or both)
            missing = _MISSING
            return all(
                getattr(self, name, missing) is getattr(other, name, missing) for name in names
            )

    def record(
        self, action: str, statement: Statement, detail: str = "", offset: int | None = None
    ) -> None:
        event = Event(action, statement, detail, offset)
        history = self._history
        if isinstance(history, Event):
            self._history = [history, event]
        elif history:
            history.append(event)
        else:  # the shared empty default: the event alone, until a second one
            self._history = event


def _read_history(obj: SchemaObject) -> list[Event]:
    history = obj._history
    if isinstance(history, Event):
        # A list from now on, the object's own: whoever reads it may keep it (a replaced
        # view takes over its predecessor's), and sees what later statements add.
        history = obj._history = [history]
    return history


def _write_history(obj: SchemaObject, events: list[Event]) -> None:
    obj._history = events


def share_history(obj: SchemaObject, other: SchemaObject) -> None:
    """`obj` takes over `other`'s history (CREATE OR REPLACE): one list both read."""
    obj._history = _read_history(other)


# After the class: its annotation `history` stays a field, as the reference lists it.
setattr(SchemaObject, "history", property(_read_history, _write_history))  # noqa: B010


class TypeName:
    """A column's type as written, normalised: `bigint`, `varchar(255)`, `text[]`."""

    name: str
    schema: str | None
    modifiers: tuple[str, ...]
    array: bool
    # The type's text as the file wrote it, where the engine keeps that text (SQLite's
    # declared type: `VARCHAR(255)`, `unsigned big int`); '' for PostgreSQL.
    declared: str

    __slots__ = ("array", "declared", "modifiers", "name", "schema")

    def __init__(
        self,
        name: str,
        schema: str | None = None,
        modifiers: tuple[str, ...] = (),
        array: bool = False,
        declared: str = "",
    ) -> None:
        self.name = name
        self.schema = schema
        self.modifiers = modifiers
        self.array = array
        self.declared = declared

    @property
    def sql(self) -> str:
        text = f"{self.schema}.{self.name}" if self.schema else self.name
        if self.modifiers:
            text += f"({', '.join(self.modifiers)})"
        return text + ("[]" if self.array else "")

    @property
    def ddl(self) -> str:
        """The type as a statement writes it: `sql`, with the names of types that need quotes
        quoted (`"ObservationType"`); built-in names (`double precision`) as they are."""
        name = self.name
        if self.schema or not re.fullmatch(r"[a-z_][a-z0-9_ ]*", name):
            name = quote_ident(name)
        text = f"{quote_ident(self.schema)}.{name}" if self.schema else name
        if self.modifiers:
            text += f"({', '.join(self.modifiers)})"
        return text + ("[]" if self.array else "")

    @property
    def base(self) -> str:
        return self.name

    @property
    def serial(self) -> bool:
        return self.name in ("serial", "bigserial", "smallserial", "serial4", "serial8", "serial2")

    def __str__(self) -> str:
        return self.sql


class Column(SchemaObject):
    kind: ClassVar[str] = "column"

    table: Table
    type: TypeName
    not_null: bool
    default: Expression | None
    identity: str | None  # 'always' or 'by default'
    generated: Expression | None  # the expression of a stored generated column
    serial_sequence: str | None  # the sequence behind a serial column
    comment: str | None
    charset: str | None  # MySQL: its own, else the table default (None: the server's)
    collation: str | None  # MySQL: its collation (None: the character set's default)

    __slots__ = (
        "charset",
        "collation",
        "comment",
        "default",
        "generated",
        "identity",
        "not_null",
        "serial_sequence",
        "table",
        "type",
    )

    def __init__(
        self,
        name: str,
        table: Table,
        type: TypeName,
        not_null: bool = False,
        default: Expression | None = None,
        identity: str | None = None,
        generated: Expression | None = None,
        serial_sequence: str | None = None,
        comment: str | None = None,
        charset: str | None = None,
        collation: str | None = None,
    ) -> None:
        # SchemaObject.__init__(self, name), inline: a long history makes a column for each
        # line of its CREATE TABLEs.
        self.name = name
        self._history = _NO_ITEMS
        self.dropped = False
        self.previous = self.replaced_by = self.replaced_at = None
        self.table = table
        self.type = type
        self.not_null = not_null
        self.default = default
        self.identity = identity
        self.generated = generated
        self.serial_sequence = serial_sequence
        self.comment = comment
        self.charset = charset
        self.collation = collation

    @property
    def qualified_name(self) -> str:
        return f"{self.table.qualified_name}.{self.name}"

    def preferred_name(self, preferred: dict[str, list[str]]) -> str | None:
        """The team's name for what this column's name means (`created_at` for a column named
        `timestamp`, when `preferred` maps created_at to it), or None."""
        name = self.name.lower()
        for wanted, others in preferred.items():
            if name in (other.lower() for other in others):
                return wanted
        return None

    @property
    def has_default(self) -> bool:
        """A value for existing rows: DEFAULT, identity, generated or serial."""
        return (
            self.default is not None
            or self.identity is not None
            or self.generated is not None
            or self.type.serial
        )

    @property
    def nullable(self) -> bool:
        return not self.not_null and not self.in_primary_key

    @property
    def volatile_default(self) -> str:
        """The volatile function the default calls (`random`, `gen_random_uuid` ...), or ''.

        A volatile default is computed per row: adding the column rewrites the table, where
        a constant or stable default (`now()`) is only stored in the catalog (PostgreSQL 11+).
        """
        if self.default is None or self.type.serial:
            return ""  # a serial's nextval() is its sequence: `rewrites_on_add` says so
        for name in self.default.function_names:
            if name.rpartition(".")[2].lower() in VOLATILE_FUNCTIONS:
                return name
        return ""

    @property
    def rewrites_on_add(self) -> str:
        """Why adding this column rewrites the table ('' when it does not, on PostgreSQL 11+)."""
        if self.type.serial:
            return f"{self.type} fills every row from a sequence"
        if self.identity is not None:
            return "an identity column fills every row from a sequence"
        if self.generated is not None:
            return "a stored generated column is computed for every row"
        volatile = self.volatile_default
        if volatile:
            return f"the volatile default {volatile}() is computed for every row"
        return ""

    @property
    def insert_time_default(self) -> bool:
        """The default is the time of the insert: now(), CURRENT_TIMESTAMP and the like, cast
        or put in a time zone (`timezone('utc', now())`), but not moved (`now() + interval
        '1 day'` is another time)."""
        return self.default is not None and _insert_time(self.default.node)

    @property
    def serial_sequence_sql(self) -> str:
        """The sequence behind a serial column, as SQL names it ('' for other columns): its
        type stays integer when the column is widened."""
        if not self.type.serial or not self.serial_sequence:
            return ""
        schema, _, name = self.serial_sequence.rpartition(".")
        return f"{quote_ident(schema)}.{quote_ident(name)}" if schema else quote_ident(name)

    @property
    def in_list_check(self) -> Constraint | None:
        """A CHECK of this column alone that lists its values (status IN ('a', 'b'))."""
        for check in self.table.checks:
            if check.in_list_size and check.referenced_columns == {self.name}:
                return check
        return None

    @property
    def gin_indexed(self) -> bool:
        """A live GIN (or GiST) index reads the column: containment queries can use it."""
        return any(
            index.method in ("gin", "gist") and self.name in index.column_names
            for index in self.table.live_indexes
        )

    @property
    def in_primary_key(self) -> bool:
        pk = self.table.primary_key
        return pk is not None and self.name in pk.columns

    @property
    def words(self) -> tuple[str, ...]:
        """The words of the name, lower case: `totalPriceCents` and `total_price_cents` both
        give ('total', 'price', 'cents')."""
        return name_words(self.name)

    @property
    def checked(self) -> bool:
        """Some CHECK constraint of the table reads this column."""
        return any(self.name in check.referenced_columns for check in self.table.checks)

    @property
    def in_unique(self) -> bool:
        """Some unique index (or constraint) has this column, or an expression of it: alone,
        or with other columns (unique per tenant, say)."""
        for index in self.table.live_indexes:
            if not index.unique:
                continue
            for part in index.columns:
                if part == self.name:
                    return True
                if not isinstance(part, str) and f'"{self.name}"' in part.key:
                    return True
        return False

    @property
    def in_foreign_key(self) -> bool:
        return any(self.name in fk.columns for fk in self.table.foreign_keys)

    @property
    def is_key(self) -> bool:
        """Part of the primary key or of a foreign key: ids that other rows point at."""
        return self.in_primary_key or self.in_foreign_key


class Constraint(SchemaObject):
    """PRIMARY KEY, UNIQUE, CHECK, FOREIGN KEY or EXCLUDE constraint of a table."""

    kind: ClassVar[str] = "constraint"

    table: Table
    type: str  # 'primary_key', 'unique', 'check', 'foreign_key', 'exclude'
    columns: list[str]
    expression: Expression | None
    ref_table: str | None  # qualified name of the referenced table
    ref_columns: list[str]
    on_delete: str
    on_update: str
    not_valid: bool
    deferrable: bool
    using_index: str | None
    include: list[str]
    method: str
    predicate: Expression | None
    actions_given: bool  # a foreign key written with ON DELETE (or ON UPDATE)
    # Which of ON DELETE (`delete`) and ON UPDATE (`update`) the foreign key writes out.
    actions_written: tuple[str, ...]
    operators: list[str]  # EXCLUDE: the operator of each column

    __slots__ = (
        "actions_given",
        "actions_written",
        "columns",
        "deferrable",
        "expression",
        "include",
        "method",
        "not_valid",
        "on_delete",
        "on_update",
        "operators",
        "predicate",
        "ref_columns",
        "ref_table",
        "table",
        "type",
        "using_index",
    )

    def __init__(
        self,
        name: str,
        table: Table,
        type: str,
        columns: list[str] = _NO_ITEMS,
        expression: Expression | None = None,
        ref_table: str | None = None,
        ref_columns: list[str] = _NO_ITEMS,
        on_delete: str = "NO ACTION",
        on_update: str = "NO ACTION",
        not_valid: bool = False,
        deferrable: bool = False,
        using_index: str | None = None,
        include: list[str] = _NO_ITEMS,
        method: str = "btree",
        predicate: Expression | None = None,
        actions_given: bool = True,
        actions_written: tuple[str, ...] = ("delete", "update"),
        operators: list[str] = _NO_ITEMS,
    ) -> None:
        # SchemaObject.__init__(self, name), inline (as Column's): made for every key,
        # index and table of a long history.
        self.name = name
        self._history = _NO_ITEMS
        self.dropped = False
        self.previous = self.replaced_by = self.replaced_at = None
        self.table = table
        self.type = type
        self.columns = shared_names(columns)
        self.expression = expression
        self.ref_table = ref_table
        self.ref_columns = shared_names(ref_columns)
        self.on_delete = on_delete
        self.on_update = on_update
        self.not_valid = not_valid
        self.deferrable = deferrable
        self.using_index = using_index
        self.include = include if include else _NO_ITEMS
        self.method = method
        self.predicate = predicate
        self.actions_given = actions_given
        self.actions_written = actions_written
        self.operators = operators if operators else _NO_ITEMS

    @property
    def qualified_name(self) -> str:
        return f"{self.table.qualified_name}.{self.name}"

    @property
    def definition(self) -> str:
        """What the constraint enforces, whatever its name and however it was written."""
        parts = [self.type, "(" + ", ".join(str(c) for c in self.columns) + ")"]
        if self.expression is not None:
            parts.append(f"CHECK {self.expression.key}")
        if self.type == "foreign_key":
            parts.append(f"REFERENCES {self.ref_table}({', '.join(self.ref_columns)})")
            parts.append(f"ON DELETE {self.on_delete} ON UPDATE {self.on_update}")
        if self.type == "exclude":
            parts.append(f"USING {self.method}")
        if self.predicate is not None:
            parts.append(f"WHERE {self.predicate.key}")
        if self.include:
            parts.append(f"INCLUDE ({', '.join(self.include)})")
        if self.deferrable:
            parts.append("DEFERRABLE")
        return " ".join(parts)

    @property
    def sql(self) -> str:
        """The constraint as it would be written in ALTER TABLE ... ADD CONSTRAINT."""
        columns = ", ".join(quote_ident(c) for c in self.columns)
        if self.type == "primary_key":
            return f"PRIMARY KEY ({columns})"
        if self.type == "unique":
            return f"UNIQUE ({columns})"
        if self.type == "check":
            return f"CHECK ({self.expression})"
        if self.type == "foreign_key":
            schema, _, table = (self.ref_table or "").rpartition(".")
            reference = f"{quote_ident(schema)}.{quote_ident(table)}" if schema else table
            text = f"FOREIGN KEY ({columns}) REFERENCES {reference}"
            if self.ref_columns:
                text += f" ({', '.join(quote_ident(c) for c in self.ref_columns)})"
            if self.on_delete != "NO ACTION":
                text += f" ON DELETE {self.on_delete}"
            if self.on_update != "NO ACTION":
                text += f" ON UPDATE {self.on_update}"
            return text
        return f"EXCLUDE USING {self.method} (...)"

    @property
    def sql_name(self) -> str:
        return quote_ident(self.name)

    @property
    def is_foreign_key(self) -> bool:
        return self.type == "foreign_key"

    @property
    def covering_index(self) -> Index | None:
        """An index of the table whose leading columns are this constraint's columns.

        Column order within the leading part does not matter: the lookups a foreign key
        makes are equality on every column. A partial index counts when the lookup implies
        its predicate: `col = $1` is strict, so the planner proves `col IS NOT NULL` (and an
        AND of those) from it, and ON DELETE uses the index (checked on the server).
        """
        wanted: set[str | Expression] = set(self.columns)
        if not wanted:
            return None
        for index in self.table.indexes:
            if index.dropped:
                continue
            if index.predicate is not None and not _not_null_tests_of(index.predicate.node, wanted):
                continue
            leading = index.columns[: len(wanted)]
            if len(leading) == len(wanted) and set(leading) == wanted:
                return index
        return None

    @property
    def prefix_index(self) -> Index | None:
        """Without a covering index: a live index that starts with some of the constraint's
        columns (`(dataset_id)` for a key on `(dataset_id, project_id)`). A lookup uses it and
        reads every row that matches those columns, not the whole table."""
        if self.covering_index is not None:
            return None
        wanted = set(self.columns)
        for index in self.table.live_indexes:
            if index.predicate is None and index.columns and index.columns[0] in wanted:
                return index
        return None

    @property
    def columns_sql(self) -> str:
        """The columns as SQL spells them (expressions in parentheses)."""
        return ", ".join(quote_ident(c) if isinstance(c, str) else f"({c})" for c in self.columns)

    @property
    def referenced_columns(self) -> set[str]:
        """The column names a CHECK expression reads."""
        return set(column_refs(self.expression.node)) if self.expression is not None else set()

    @property
    def in_list_size(self) -> int:
        """The longest IN (...) or ANY (ARRAY[...]) list of a CHECK expression (0: none)."""
        longest = 0
        for item in walk_dicts(self.expression.node) if self.expression is not None else ():
            for key in ("List", "A_ArrayExpr"):
                inner = item.get(key)
                if isinstance(inner, dict):
                    elements = inner.get("items" if key == "List" else "elements", ())
                    longest = max(longest, len(elements))
        return longest

    @property
    def actions(self) -> str:
        """`ON DELETE CASCADE ON UPDATE NO ACTION` for a foreign key, '' for the others."""
        if self.type != "foreign_key":
            return ""
        return f"ON DELETE {self.on_delete} ON UPDATE {self.on_update}"

    @property
    def rows_definition(self) -> str:
        """What the constraint asks of the rows: the definition without a foreign key's
        actions, which say what happens to rows later, never which rows are valid now."""
        actions = self.actions
        return self.definition.replace(f" {actions}", "", 1) if actions else self.definition

    @property
    def added_not_valid(self) -> bool:
        """Added NOT VALID (and perhaps validated since): the existing rows were checked,
        if at all, by VALIDATE CONSTRAINT under a lock that lets reads and writes through."""
        return self.not_valid or any(
            e.action == "altered" and e.detail == "VALIDATE" for e in self.history
        )

    @property
    def nullable_columns(self) -> list[str]:
        """Columns of the constraint that may be NULL."""
        return [
            c
            for c in self.columns
            if isinstance(c, str) and c in self.table.columns and self.table.columns[c].nullable
        ]


class Index(SchemaObject):
    """An index; PRIMARY KEY and UNIQUE constraints appear as indexes too (`constraint`)."""

    kind: ClassVar[str] = "index"

    schema: str
    table: Table
    columns: list[str | Expression]  # names or expressions
    expressions: list[Expression]
    include: list[str | Expression]
    predicate: Expression | None
    unique: bool
    method: str
    constraint: Constraint | None
    # What the server calls each key (and INCLUDE column): a column's name, the function an
    # expression calls, `expr`. Copies of the index on partitions are named after them.
    key_names: list[str]
    parent: Index | None  # on a partition: the partitioned table's index it copies
    # Per key, what is written after it: `COLLATE "C" text_pattern_ops DESC NULLS LAST`.
    key_options: list[str]

    __slots__ = (
        "columns",
        "constraint",
        "expressions",
        "include",
        "key_names",
        "key_options",
        "method",
        "parent",
        "predicate",
        "schema",
        "table",
        "unique",
    )

    def __init__(
        self,
        name: str,
        schema: str,
        table: Table,
        columns: list[str | Expression] = _NO_ITEMS,
        expressions: list[Expression] = _NO_ITEMS,
        include: list[str | Expression] = _NO_ITEMS,
        predicate: Expression | None = None,
        unique: bool = False,
        method: str = "btree",
        constraint: Constraint | None = None,
        key_names: list[str] = _NO_ITEMS,
        parent: Index | None = None,
        key_options: list[str] = _NO_ITEMS,
    ) -> None:
        # SchemaObject.__init__(self, name), inline (as Column's): made for every key,
        # index and table of a long history.
        self.name = name
        self._history = _NO_ITEMS
        self.dropped = False
        self.previous = self.replaced_by = self.replaced_at = None
        self.schema = schema
        self.table = table
        self.columns = shared_names(columns)
        self.expressions = expressions if expressions else _NO_ITEMS
        self.include = include if include else _NO_ITEMS
        self.predicate = predicate
        self.unique = unique
        self.method = sys.intern(method)
        self.constraint = constraint
        self.key_names = shared_names(key_names)
        self.parent = parent
        self.key_options = shared_names(key_options)

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def sql_name(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    @property
    def shape(self) -> tuple[tuple[str | Expression, ...], Expression | None, str]:
        """What makes two indexes interchangeable: key columns, predicate, method."""
        return tuple(self.columns), self.predicate, self.method

    @property
    def redundant_to(self) -> Index | None:
        """A live index of the table whose leading columns are all of this one's, with the same
        predicate and method: it serves every lookup this one does. A unique index enforces
        something and is never redundant; same columns is `duplicate_of`."""
        if self.unique or self.dropped or self.method != "btree":
            return None  # a prefix of a GIN or hash index does not serve the same lookups
        mine = self.columns
        predicate = self.predicate.key if self.predicate is not None else None
        for other in self.table.live_indexes:
            if other is self or other.method != self.method or len(other.columns) <= len(mine):
                continue
            if (other.predicate.key if other.predicate is not None else None) != predicate:
                continue
            if list(other.columns[: len(mine)]) == list(mine):
                return other
        return None

    @property
    def duplicate_of(self) -> Index | None:
        """A live index of the same table with the same shape that makes this one redundant.

        A unique index is never redundant to a plain one (it enforces something); a plain
        one is redundant to a unique one. Otherwise a constraint's index wins over a plain
        index, a primary key over a unique constraint, and the older index wins: the one
        reported is the one that can go.
        """
        # `shape` compared a field at a time, the cheapest first, without its tuples: a rule
        # asks this of every index, and each index is compared with each of its table's.
        columns, predicate, method = self.columns, self.predicate, self.method
        position = self.table.indexes.index(self)
        for other_position, other in enumerate(self.table.indexes):
            if (
                other is self
                or other.dropped
                or other.method != method
                or other.columns != columns
                or other.predicate != predicate
            ):
                continue
            if self.unique != other.unique:
                if other.unique:
                    return other
                continue
            if (self.constraint is None) != (other.constraint is None):
                if other.constraint is not None:
                    return other
                continue
            mine_primary = self.constraint is not None and self.constraint.type == "primary_key"
            other_primary = other.constraint is not None and other.constraint.type == "primary_key"
            if mine_primary != other_primary:
                if other_primary:  # a UNIQUE on the primary key's columns is the one to drop
                    return other
                continue
            if other_position < position:
                return other
        return None

    @property
    def columns_sql(self) -> str:
        """The columns as SQL spells them (expressions in parentheses)."""
        return ", ".join(quote_ident(c) if isinstance(c, str) else f"({c})" for c in self.columns)

    @property
    def definition_sql(self) -> str:
        """What follows `ON table` when the index is created again: method, keys with their
        options, INCLUDE and predicate (a fix that rebuilds it CONCURRENTLY keeps all of it)."""
        keys = []
        for number, key in enumerate(self.columns):
            text = quote_ident(key) if isinstance(key, str) else f"({key})"
            options = self.key_options[number] if number < len(self.key_options) else ""
            keys.append(f"{text} {options}" if options else text)
        text = f"({', '.join(keys)})"
        if self.method != "btree":
            text = f"USING {self.method} {text}"
        if self.include:
            names = (quote_ident(c) if isinstance(c, str) else f"({c})" for c in self.include)
            text += f" INCLUDE ({', '.join(names)})"
        if self.predicate is not None:
            text += f" WHERE {self.predicate}"
        return text

    def live_predicate(self) -> str:
        """This index's predicate with the table's rows marked deleted left out: what a partial
        index that ignores them says after WHERE."""
        live = self.table.soft_delete_predicate
        if self.predicate is None:
            return live
        return f"({self.predicate}) AND {live}" if live else str(self.predicate)

    @property
    def column_names(self) -> set[str]:
        """Every column the index reads: key columns, those inside expressions, the predicate."""
        names = {c for c in self.columns if isinstance(c, str)}
        for expression in (*self.expressions, self.predicate):
            if expression is not None:
                names.update(column_refs(expression.node))
        return names

    def columns_ending(self, words: list[str]) -> list[str]:
        """Key columns whose name ends in one of `words` (`client_id` ends in `id`)."""
        wanted = set(words)
        return [c for c in self.columns if isinstance(c, str) and wanted & set(name_words(c)[-1:])]

    def all_columns_ending(self, words: list[str]) -> bool:
        """Every key is a column whose name ends in one of `words`: (user_id, external_id)
        yes, (org_id, slug) and lower(email) no."""
        return bool(self.columns) and len(self.columns_ending(words)) == len(self.columns)

    @property
    def ignores_soft_delete(self) -> bool:
        """A plain index of a soft-deleting table that also holds the deleted rows."""
        # The index's own fields first: most indexes are unique, a key's or partial, and
        # the table's soft-delete column is a look at each of its columns.
        return bool(
            not self.unique
            and self.constraint is None
            and self.predicate is None
            and self.method == "btree"
            and (deleted := self.table.soft_delete_column)
            and deleted not in self.column_names
        )


class Policy(SchemaObject):
    kind: ClassVar[str] = "policy"

    table: Table
    command: str
    permissive: bool
    roles: list[str]
    using: Expression | None
    with_check: Expression | None
    roles_given: bool  # False: CREATE POLICY without TO (every role, anon included)

    __slots__ = ("command", "permissive", "roles", "roles_given", "table", "using", "with_check")

    def __init__(
        self,
        name: str,
        table: Table,
        command: str = "all",
        permissive: bool = True,
        roles: list[str] = _NO_ITEMS,
        using: Expression | None = None,
        with_check: Expression | None = None,
        roles_given: bool = True,
    ) -> None:
        SchemaObject.__init__(self, name)
        self.table = table
        self.command = command
        self.permissive = permissive
        self.roles = roles if roles else _NO_ITEMS
        self.using = using
        self.with_check = with_check
        self.roles_given = roles_given

    @property
    def expressions(self) -> list[Expression]:
        return [e for e in (self.using, self.with_check) if e is not None]

    def calls_outside_subqueries(self, functions: list[str]) -> list[str]:
        """Calls of `functions` (qualified as written: auth.uid) outside any subquery."""
        wanted = set(functions)
        found: list[str] = []
        for expression in self.expressions:
            stack: list[object] = [expression.node]
            while stack:
                item = stack.pop()
                if isinstance(item, list):
                    stack.extend(item)
                elif isinstance(item, dict):
                    if "SubLink" in item:
                        continue  # (SELECT auth.uid()) is evaluated once, as an init plan
                    call = item.get("FuncCall")
                    if call is not None:
                        name = ".".join(node_name(call.get("funcname")))
                        if name in wanted and f"{name}()" not in found:
                            found.append(f"{name}()")
                    stack.extend(item.values())
        return found

    def calls_function(self, schema: str, name: str) -> bool:
        """Whether USING or WITH CHECK calls the function `schema.name` anywhere (subqueries
        too), by its qualified name or by its name alone."""
        for expression in self.expressions:
            stack: list[object] = [expression.node]
            while stack:
                item = stack.pop()
                if isinstance(item, list):
                    stack.extend(item)
                elif isinstance(item, dict):
                    call = item.get("FuncCall")
                    if call is not None:
                        called = node_name(call.get("funcname"))
                        if called and called[-1] == name and called[:-1] in ([], [schema]):
                            return True
                    stack.extend(item.values())
        return False

    def applies_to(self, role: str) -> bool:
        """Whether the policy applies to `role` (a policy for PUBLIC applies to every role)."""
        return role in self.roles or "public" in self.roles or not self.roles

    @property
    def allows_everything(self) -> bool:
        """USING (true) and no WITH CHECK limit: every row, for whom it applies to."""
        return all(
            e.kind == "A_Const" and e.node["A_Const"].get("boolval", {}).get("boolval") is True
            for e in self.expressions
        ) and (self.using is not None or self.command == "insert")

    @property
    def commands(self) -> tuple[str, ...]:
        return (
            ("select", "insert", "update", "delete") if self.command == "all" else (self.command,)
        )

    @property
    def qualified_name(self) -> str:
        return f"{self.table.qualified_name}.{self.name}"


class Trigger(SchemaObject):
    kind: ClassVar[str] = "trigger"

    table: Table
    function: str
    timing: str
    events: list[str]
    for_each_row: bool
    arguments: list[str]  # EXECUTE FUNCTION f('a', 'b')
    when: Expression | None
    columns: list[str]  # UPDATE OF these columns
    cloned: bool  # a partition's copy of its parent's trigger

    __slots__ = (
        "arguments",
        "cloned",
        "columns",
        "events",
        "for_each_row",
        "function",
        "table",
        "timing",
        "when",
    )

    def __init__(
        self,
        name: str,
        table: Table,
        function: str = "",
        timing: str = "",
        events: list[str] = _NO_ITEMS,
        for_each_row: bool = False,
        arguments: list[str] = _NO_ITEMS,
        when: Expression | None = None,
        columns: list[str] = _NO_ITEMS,
        cloned: bool = False,
    ) -> None:
        SchemaObject.__init__(self, name)
        self.table = table
        self.function = function
        self.timing = timing
        self.events = events if events else _NO_ITEMS
        self.for_each_row = for_each_row
        self.arguments = arguments if arguments else _NO_ITEMS
        self.when = when
        self.columns = columns if columns else _NO_ITEMS
        self.cloned = cloned

    @property
    def qualified_name(self) -> str:
        return f"{self.table.qualified_name}.{self.name}"


class Table(SchemaObject):
    kind: ClassVar[str] = "table"

    schema: str
    columns: dict[str, Column]
    constraints: dict[str, Constraint]
    indexes: list[Index]
    policies: dict[str, Policy]
    triggers: dict[str, Trigger]
    partitioned: bool
    partition_of: str | None
    unlogged: bool
    strict: bool  # SQLite's STRICT table option: the declared types are enforced
    # SQLite's WITHOUT ROWID table option: the primary key is the table's b-tree (and NOT NULL)
    without_rowid: bool
    # The table whose rows an INSERT ... SELECT copied into this one (the SQLite rebuild:
    # the copy then takes the old table's name). Set by the SQLite front end.
    rebuild_of: Table | None
    rls_enabled: bool
    rls_forced: bool
    comment: str | None
    engine: str | None  # MySQL's ENGINE= as written (None: the server's default)
    charset: str | None  # MySQL's DEFAULT CHARSET: new character columns take it
    collation: str | None  # MySQL's table COLLATE (None: the character set's default)
    # Known only from statements that change it: created before the files we replay.
    external: bool
    inherits: list[str]  # qualified names of INHERITS parents
    # The statement that made it a partition (CREATE ... PARTITION OF, ATTACH PARTITION): its
    # bound is printed from there when the schema is exported.
    partition_statement: Statement | None
    # False for CREATE TABLE AS whose select list could not be resolved: column rules skip it.
    columns_known: bool

    __slots__ = (
        "charset",
        "collation",
        "columns",
        "columns_known",
        "comment",
        "constraints",
        "engine",
        "external",
        "indexes",
        "inherits",
        "partition_of",
        "partition_statement",
        "partitioned",
        "policies",
        "rebuild_of",
        "rls_enabled",
        "rls_forced",
        "schema",
        "strict",
        "triggers",
        "unlogged",
        "without_rowid",
    )

    def __init__(
        self,
        name: str,
        schema: str,
        columns: dict[str, Column] | None = None,
        constraints: dict[str, Constraint] | None = None,
        indexes: list[Index] | None = None,
        policies: dict[str, Policy] = _NO_ENTRIES,
        triggers: dict[str, Trigger] = _NO_ENTRIES,
        partitioned: bool = False,
        partition_of: str | None = None,
        unlogged: bool = False,
        strict: bool = False,
        without_rowid: bool = False,
        rebuild_of: Table | None = None,
        rls_enabled: bool = False,
        rls_forced: bool = False,
        comment: str | None = None,
        engine: str | None = None,
        charset: str | None = None,
        collation: str | None = None,
        external: bool = False,
        inherits: list[str] = _NO_ITEMS,
        partition_statement: Statement | None = None,
        columns_known: bool = True,
    ) -> None:
        # SchemaObject.__init__(self, name), inline (as Column's): made for every key,
        # index and table of a long history.
        self.name = name
        self._history = _NO_ITEMS
        self.dropped = False
        self.previous = self.replaced_by = self.replaced_at = None
        self.schema = schema
        self.columns = {} if columns is None else columns
        self.constraints = {} if constraints is None else constraints
        self.indexes = [] if indexes is None else indexes
        self.policies = policies if policies else _NO_ENTRIES
        self.triggers = triggers if triggers else _NO_ENTRIES
        self.partitioned = partitioned
        self.partition_of = partition_of
        self.unlogged = unlogged
        self.strict = strict
        self.without_rowid = without_rowid
        self.rebuild_of = rebuild_of
        self.rls_enabled = rls_enabled
        self.rls_forced = rls_forced
        self.comment = comment
        self.engine = engine
        self.charset = charset
        self.collation = collation
        self.external = external
        self.inherits = inherits if inherits else _NO_ITEMS
        self.partition_statement = partition_statement
        self.columns_known = columns_known

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def sql_name(self) -> str:
        """The qualified name as SQL spells it: `public."Account"`."""
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    @property
    def primary_key(self) -> Constraint | None:
        for constraint in self.constraints.values():
            if constraint.type == "primary_key":
                return constraint
        return None

    @property
    def foreign_keys(self) -> list[Constraint]:
        return [c for c in self.constraints.values() if c.type == "foreign_key"]

    @property
    def checks(self) -> list[Constraint]:
        return [c for c in self.constraints.values() if c.type == "check"]

    @property
    def column_names(self) -> list[str]:
        return list(self.columns)

    @property
    def has_primary_key(self) -> bool:
        """A primary key of its own, or, for a partition, its parent's."""
        return self.primary_key is not None

    @property
    def live_indexes(self) -> list[Index]:
        return [i for i in self.indexes if not i.dropped]

    @property
    def nullable_key_columns(self) -> list[str]:
        """Primary key columns not declared NOT NULL: SQLite lets those hold NULL (on a rowid
        table, the INTEGER PRIMARY KEY aside); PostgreSQL makes every key column NOT NULL."""
        key = self.primary_key
        if key is None:
            return []
        return [
            c
            for c in key.columns
            if isinstance(c, str) and c in self.columns and not self.columns[c].not_null
        ]

    @property
    def primary_key_candidate(self) -> Index | None:
        """A unique index that ADD PRIMARY KEY USING INDEX accepts as it is, without a scan: of
        plain NOT NULL columns in the default order, not partial, no constraint's own."""
        for index in self.live_indexes:
            if (
                index.unique
                and index.constraint is None
                and index.predicate is None
                and index.method == "btree"
                and not index.include
                and not any(index.key_options)
                and index.columns
                and all(
                    isinstance(c, str) and c in self.columns and self.columns[c].not_null
                    for c in index.columns
                )
            ):
                return index
        return None

    @property
    def words(self) -> tuple[str, ...]:
        """The words of the table's name, lower case (`UserAccount` -> ('user', 'account'))."""
        return name_words(self.name)

    @property
    def soft_delete_predicate(self) -> str:
        """The condition of a live row, after the soft-delete column's type: `NOT deleted` for a
        boolean flag, `deleted_at IS NULL` for a timestamp (or '' without such a column)."""
        name = self.soft_delete_column
        if not name:
            return ""
        column = self.columns[name]
        if column.type.name in ("bool", "boolean"):
            return (
                f"NOT {quote_ident(name)}"
                if column.not_null
                else f"{quote_ident(name)} IS NOT TRUE"
            )
        return f"{quote_ident(name)} IS NULL"

    def unique_on_lower(self, column: str) -> bool:
        """A live unique index on lower(column) alone: the column is unique case-insensitively
        (which makes a case-sensitive unique on it redundant, not wrong)."""
        for index in self.live_indexes:
            if not index.unique or index.predicate is not None or len(index.columns) != 1:
                continue
            key = index.columns[0]
            if isinstance(key, str):
                continue
            text = str(key).replace(" ", "").lower()
            if text in (f"lower({column.lower()})", f'lower("{column.lower()}")'):
                return True
        return False

    @property
    def soft_delete_column(self) -> str:
        """The column that marks rows deleted (deleted_at, archived_at ...), or ''."""
        for name in self.columns:
            if name.lower() in SOFT_DELETE_COLUMNS:
                return name
        return ""

    @property
    def reserved_names(self) -> list[str]:
        """The table's own name and column names that are SQL reserved words (`user`, `order`):
        every query must quote them."""
        names = [self.name, *self.columns]
        return [n for n in names if n.lower() in RESERVED_WORDS]

    def missing_required(
        self, columns: list[str], tables: str, kinds: dict[str, dict[str, Any]]
    ) -> list[str]:
        """The required columns the table lacks: `columns` when its name matches the regular
        expression `tables` ("" matches all), and each kind's columns (`deleted_at (soft
        delete)`) when it matches the kind's `tables`."""
        missing: list[str] = []
        if not tables or re.search(tables, self.name):
            missing += [c for c in columns if c not in self.columns]
        for kind, wanted in kinds.items():
            pattern = wanted.get("tables") or ""
            if pattern and re.search(pattern, self.name) is None:
                continue
            missing += [f"{c} ({kind})" for c in wanted["columns"] if c not in self.columns]
        return list(dict.fromkeys(missing))

    @property
    def mixed_case_names(self) -> list[str]:
        """Names with capitals: created quoted, they must be quoted in every query."""
        names = [self.name, *self.columns]
        return [n for n in names if n != n.lower()]

    @property
    def unchecked_flag_pairs(self) -> list[str]:
        """Boolean flags next to the timestamp that says the same (is_completed and
        completed_at) with no CHECK reading both: they can disagree."""
        pairs = []
        for name, column in self.columns.items():
            if column.type.name != "boolean":
                continue
            stem = name.lower().removeprefix("is_").removeprefix("has_")
            if stem == name.lower():
                continue
            for stamp in (f"{stem}_at", f"{stem}_on", f"{stem}_date"):
                match = next((c for c in self.columns if c.lower() == stamp), None)
                if match is None:
                    continue
                if not any({name, match} <= c.referenced_columns for c in self.checks):
                    pairs.append(f"{name} / {match}")
        return pairs

    def redundant_timestamps_of(
        self, creation_words: list[str], creation_names: list[str] | None = None
    ) -> list[str]:
        """Pairs of columns filled with the insert time and named for the row's creation (a
        word of `creation_words`, or a whole name of `creation_names`): they always agree."""
        words, names = set(creation_words), {n.lower() for n in creation_names or ()}
        stamps = [
            c
            for c in self.columns.values()
            if c.type.name in ("timestamptz", "timestamp", "date")
            and not c.type.array
            and c.insert_time_default
            and (words.intersection(c.words) or c.name.lower() in names)
        ]
        return [f"{a.name} / {b.name}" for a, b in pairwise(stamps)]

    def naming_violations(self, options: dict[str, Any]) -> list[str]:
        """`index users_email (expected users_email_idx)` for each name of the table that does
        not follow the team's convention for its kind: `options[kind]`, a regular expression
        (starting with ^) or a template of model/conventions.PLACEHOLDERS, else the kind's
        convention in the preset `options["preset"]` (default: PostgreSQL's own names)."""
        found: list[str] = []
        # Each kind's convention, looked up once a call: a table has many columns.
        conventions: dict[str, Convention] = {}

        def check(kind: str, name: str, *parts: object) -> None:
            convention = conventions.get(kind)
            if convention is None:
                convention = conventions[kind] = convention_for(options, kind)
            if not convention:
                return
            problem = mismatch_of(convention, name, parts)
            if problem is not None:
                found.append(f"{kind.replace('_', ' ')} {name} ({problem})")

        table = self.name
        check("table", table, table)
        column_convention = conventions["column"] = convention_for(options, "column")
        pattern = name_pattern(column_convention)
        # The usual convention of columns, a regular expression, is read on each name alone:
        # only a name it does not match is checked (no call a column that follows it).
        search = None if pattern is None else pattern.search
        for column in self.columns:
            if search is None or search(column) is None:
                check("column", column, table, (column,))
        for constraint in self.constraints.values():
            ref_table = (constraint.ref_table or "").rpartition(".")[2]
            check(
                constraint.type,
                constraint.name,
                table,
                tuple(constraint.columns),
                ref_table,
                tuple(constraint.ref_columns),
            )
        for index in self.live_indexes:
            if index.constraint is None and all(isinstance(c, str) for c in index.columns):
                # (expression indexes are named after the expression: no template fits)
                columns = tuple(str(c) for c in index.columns)
                kind = "unique_index" if index.unique else "index"
                check(kind, index.name, table, columns, "", (), bool(index.predicate))
        return found

    @property
    def overlapping_permissive_policies(self) -> list[str]:
        """`select for authenticated: a, b`: a role and command with more than one permissive
        policy. PostgreSQL evaluates every one of them (OR) for each row."""
        roles: set[str] = set()
        for policy in self.policies.values():
            roles.update(policy.roles or ["public"])
        found = []
        for role in sorted(roles):
            for command in ("select", "insert", "update", "delete"):
                names = [
                    p.name
                    for p in self.policies.values()
                    if p.permissive and command in p.commands and p.applies_to(role)
                ]
                if len(names) > 1:
                    found.append(f"{command} for {role}: {', '.join(sorted(names))}")
        return found

    def unordered_pairs_of(self, time_pairs: dict[str, list[str]]) -> list[str]:
        """Pairs of `time_pairs` (start column -> end columns) that no CHECK puts in order."""
        pairs = []
        for start, ends in time_pairs.items():
            if start not in self.columns:
                continue
            for end in ends:
                if end not in self.columns:
                    continue
                ordered = any({start, end} <= check.referenced_columns for check in self.checks)
                if not ordered:
                    pairs.append(f"{start} / {end}")
        return pairs

    def not_null_checked(self, column: str) -> bool:
        """A validated CHECK (column IS NOT NULL): SET NOT NULL then skips its scan (PG 12+)."""
        for check in self.checks:
            if check.not_valid or check.expression is None:
                continue
            test = check.expression.node.get("NullTest")
            if test is None or test.get("nulltesttype") != "IS_NOT_NULL":
                continue
            names = test.get("arg", {}).get("ColumnRef", {}).get("fields", ())
            if names and names[-1].get("String", {}).get("sval") == column:
                return True
        return False


class EnumType(SchemaObject):
    """A user-defined type: an enum (with its values), or a range, domain or composite type
    (`variety`), which rules about enums leave alone."""

    kind: ClassVar[str] = "type"

    schema: str
    values: list[str]
    variety: str  # enum, range, domain, composite

    __slots__ = ("schema", "values", "variety")

    def __init__(
        self, name: str, schema: str, values: list[str] | None = None, variety: str = "enum"
    ) -> None:
        SchemaObject.__init__(self, name)
        self.schema = schema
        self.values = [] if values is None else values
        self.variety = variety

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"


class Sequence(SchemaObject):
    kind: ClassVar[str] = "sequence"

    schema: str
    owned_by: str | None

    __slots__ = ("owned_by", "schema")

    def __init__(self, name: str, schema: str, owned_by: str | None = None) -> None:
        SchemaObject.__init__(self, name)
        self.schema = schema
        self.owned_by = owned_by

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"


class View(SchemaObject):
    kind: ClassVar[str] = "view"

    schema: str
    materialized: bool
    security_invoker: bool
    query: str | None
    reads: list[str]  # qualified names of the relations it reads

    __slots__ = ("materialized", "query", "reads", "schema", "security_invoker")

    def __init__(
        self,
        name: str,
        schema: str,
        materialized: bool = False,
        security_invoker: bool = False,
        query: str | None = None,
        reads: list[str] = _NO_ITEMS,
    ) -> None:
        SchemaObject.__init__(self, name)
        self.schema = schema
        self.materialized = materialized
        self.security_invoker = security_invoker
        self.query = query
        self.reads = reads if reads else _NO_ITEMS

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"


class Function(SchemaObject):
    kind: ClassVar[str] = "function"

    schema: str
    arguments: str  # the argument types, as a signature: "uuid, text"
    argument_types: list[TypeName]
    returns: str | None
    return_type: TypeName | None
    returns_set: bool  # SETOF or RETURNS TABLE
    language: str
    security_definer: bool
    volatility: str
    config: dict[str, str]  # SET options: search_path ...
    body: str | None
    procedure: bool
    # Roles that may call it: PUBLIC unless revoked (and, on Supabase, the API roles).
    executors: set[str]

    __slots__ = (
        "analysis",
        "argument_types",
        "arguments",
        "body",
        "config",
        "executors",
        "language",
        "procedure",
        "return_type",
        "returns",
        "returns_set",
        "schema",
        "security_definer",
        "volatility",
    )

    def __init__(
        self,
        name: str,
        schema: str,
        arguments: str = "",
        argument_types: list[TypeName] = _NO_ITEMS,
        returns: str | None = None,
        return_type: TypeName | None = None,
        returns_set: bool = False,
        language: str = "sql",
        security_definer: bool = False,
        volatility: str = "volatile",
        config: dict[str, str] | None = None,
        body: str | None = None,
        procedure: bool = False,
        executors: set[str] | None = None,
        analysis: BodyFacts | PendingFacts | None = None,
    ) -> None:
        SchemaObject.__init__(self, name)
        self.schema = schema
        self.arguments = arguments
        self.argument_types = argument_types if argument_types else _NO_ITEMS
        self.returns = returns
        self.return_type = return_type
        self.returns_set = returns_set
        self.language = language
        self.security_definer = security_definer
        self.volatility = volatility
        self.config = {} if config is None else config
        self.body = body
        self.procedure = procedure
        self.executors = {"public"} if executors is None else executors
        self.analysis = analysis

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def signature(self) -> str:
        return f"{self.qualified_name}({self.arguments})"

    @property
    def sql_signature(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}({self.arguments})"

    # The PL/pgSQL facts of the body, computed on first use (most rules never ask).
    analysis: BodyFacts | PendingFacts | None

    @property
    def search_path(self) -> str | None:
        return self.config.get("search_path")

    def file_lines(self, body_lines: tuple[int, ...]) -> list[int]:
        """Lines of the file for lines of the body (PL/pgSQL numbers them from its start)."""
        event = self.defined
        if event is None or not self.body:
            return list(body_lines)
        statement = event.statement
        start = statement.text.find(self.body)
        if start < 0:
            return list(body_lines)
        first = statement.line + statement.text.count("\n", 0, start)
        return [first + n - 1 for n in body_lines]

    @property
    def trigger_function(self) -> bool:
        return (self.returns or "").lower() in ("trigger", "event_trigger")

    def search_path_schemas(self, model: Any) -> list[str] | None:
        """The schemas a fixed search_path must hold for the body to find what it names
        without a schema (tables, views, sequences, functions and types of the model), in the
        order of first use; the function's own schema when it names a relation the model does
        not know. None when the body cannot be read (another language, a parse error)."""
        event = self.defined
        if event is None:
            return None
        names = unqualified_names(event.statement.text, self.language)
        if names is None:
            return None
        schemas: list[str] = []
        for kind, name in names:
            found = model.schemas_holding(kind, name)
            if not found and kind == "relation":
                found = [self.schema]
            for schema in found[:1]:
                if schema not in schemas and schema != "pg_catalog":
                    schemas.append(schema)
        return schemas

    @property
    def body_facts(self) -> BodyFacts | PendingFacts:
        """What the PL/pgSQL body does, from its parse tree (empty for other languages); the
        body is parsed when a fact asked needs it (PendingFacts)."""
        if self.analysis is None:
            event = self.defined
            if self.language.lower() == "plpgsql" and event is not None:
                self.analysis = PendingFacts(event.statement.text)
            else:
                self.analysis = NO_FACTS
        return self.analysis


class Extension(SchemaObject):
    kind: ClassVar[str] = "extension"

    schema: str | None

    __slots__ = ("schema",)

    def __init__(self, name: str, schema: str | None = None) -> None:
        SchemaObject.__init__(self, name)
        self.schema = schema


class Schema(SchemaObject):
    kind: ClassVar[str] = "schema"

    __slots__ = ()

    def __init__(self, name: str) -> None:
        SchemaObject.__init__(self, name)
