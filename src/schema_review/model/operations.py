"""Model operations: what any dialect's replay does to the schema model.

Creating, dropping and renaming objects, with their history; the session a file runs in
(transactions, timeouts, locks held) and the `Change` records statement rules read. A
dialect's front end (`postgres.py`) reads its parser's statements and calls these.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schema_review.model.changes import Change
from schema_review.model.objects import (
    Column,
    Constraint,
    Index,
    SchemaObject,
    Table,
    TypeName,
)
from schema_review.model.schema import SchemaModel
from schema_review.parse import SourceFile, Statement
from schema_review.profile import SUPABASE_API_ROLES, Profile


class SchemaOperations:
    """The schema being built and the session of the file being replayed."""

    def __init__(self, profile: Profile) -> None:
        self.model = SchemaModel()
        self.profile = profile
        self.search_path = "public"
        self.current_file: SourceFile | None = None
        # (kind, qualified name) dropped with IF EXISTS earlier in the current file: a
        # guard that makes the following CREATE safe to re-run.
        self.dropped_if_exists: set[tuple[str, str]] = set()
        self.graveyard: dict[tuple[str, str], SchemaObject] = {}
        # Who may execute a new function, per schema ('' for every schema): PostgreSQL grants
        # EXECUTE to PUBLIC; ALTER DEFAULT PRIVILEGES changes that for later functions.
        self.default_executors: dict[str, set[str]] = {"": {"public"}}
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
        self.model.tables[("auth", "users")] = users
        self.default_executors["public"] = {"public", *SUPABASE_API_ROLES}

    def start_file(self, source: SourceFile | None) -> None:
        """A new file starts a new session: the runner's transaction, no settings yet."""
        self.current_file = source
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
        self.file_changes: list[Change] = []
        self.new_enum_values: dict[str, Change] = {}  # ADD VALUE in the open transaction

    @property
    def in_transaction(self) -> bool:
        return self.runner_transaction or self.explicit is not None

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

    # -- session ---------------------------------------------------------------------
    def change(self, kind: str, statement: Statement, **fields: Any) -> Change:
        table = fields.get("table")
        if "table_existed" not in fields:
            fields["table_existed"] = self.existed_before_file(table)
        # Statement rules judge a column or constraint as the statement left it, not as
        # later files changed it (a VALIDATE two lines later must not hide NOT VALID).
        for name in ("column", "constraint"):
            if fields.get(name) is not None:
                fields[name] = fields[name].snapshot()
        item = Change(kind, statement, **fields)
        item.in_transaction = self.in_transaction
        item.lock_timeout = self.lock_timeout
        item.statement_timeout = self.statement_timeout
        self.session_facts(item)
        self.model.changes.append(item)
        self.file_changes.append(item)
        return item

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
        if item.lock == "ACCESS EXCLUSIVE" and self.in_transaction and exclusive is None:
            self.exclusive = item

    def check_new_enum_values(self, statement: Statement) -> None:
        text = statement.text
        for value, added in list(self.new_enum_values.items()):
            if added.statement is not statement and f"'{value}'" in text:
                added.used_in_transaction = statement
                del self.new_enum_values[value]

    def existed_before_file(self, obj: SchemaObject | None) -> bool:
        if obj is None:
            return True
        created = obj.created
        return created is None or created.statement.source is not self.current_file

    # -- names -----------------------------------------------------------------------
    # -- names -----------------------------------------------------------------------
    def schema_of(self, schema: str | None) -> str:
        return schema or self.search_path

    def split_name(self, names: list[str]) -> tuple[str, str]:
        if len(names) >= 2:
            return names[-2], names[-1]
        return self.search_path, names[-1] if names else ""

    # -- objects' lives --------------------------------------------------------------
    # -- objects' lives --------------------------------------------------------------
    def born(
        self, obj: SchemaObject, statement: Statement, detail: str = "", offset: int | None = None
    ) -> None:
        key = (obj.kind, obj.qualified_name)
        obj.previous = self.graveyard.pop(key, None)
        obj.record("created", statement, detail, offset)
        self.model.archive.append(obj)

    def died(self, obj: SchemaObject, statement: Statement, detail: str = "") -> None:
        obj.dropped = True
        obj.record("dropped", statement, detail)
        self.graveyard[(obj.kind, obj.qualified_name)] = obj

    def drop_table_object(self, table: Table, statement: Statement, detail: str = "") -> None:
        for column in table.columns.values():
            column.dropped = True
        for constraint in table.constraints.values():
            self.died(constraint, statement, "with its table")
        for index in table.indexes:
            if not index.dropped:
                index.dropped = True
                index.record("dropped", statement, "with its table")
                self.model.indexes.pop((index.schema, index.name), None)
        self.died(table, statement, detail)

    def copy_column(self, table: Table, source: Column, statement: Statement) -> None:
        column = Column(
            source.name,
            table=table,
            type=source.type,
            not_null=source.not_null,
            default=source.default,
        )
        table.columns[column.name] = column
        self.born(column, statement, "from the partitioned parent")

    def constraint_index(self, table: Table, constraint: Constraint, statement: Statement) -> None:
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
        index = Index(
            constraint.name,
            schema=table.schema,
            table=table,
            columns=list(constraint.columns),
            include=list(constraint.include),
            unique=True,
            constraint=constraint,
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

    def default_constraint_name(self, table: Table, constraint: Constraint) -> str:
        suffix = {
            "primary_key": "pkey",
            "unique": "key",
            "check": "check",
            "foreign_key": "fkey",
            "exclude": "excl",
        }[constraint.type]
        if constraint.type == "primary_key":
            parts = [table.name]
        elif constraint.type == "check":
            parts = [table.name, *constraint.columns[:1]]
        else:
            parts = [table.name, *constraint.columns]
        return self.unique_name("_".join([*parts, suffix])[:63], table.constraints)

    @staticmethod
    def unique_name(base: str, taken: dict[str, Any] | dict[tuple[str, str], Any]) -> str:
        def is_taken(name: str) -> bool:
            return any(
                (key == name) or (isinstance(key, tuple) and key[1] == name) for key in taken
            )

        if not is_taken(base):
            return base
        number = 1
        while is_taken(f"{base}{number}"):
            number += 1
        return f"{base}{number}"

    def drop_constraint(self, table: Table, name: str, statement: Statement) -> Constraint | None:
        constraint: Constraint | None = table.constraints.pop(name, None)
        if constraint is None:
            return None
        self.died(constraint, statement)
        for index in table.indexes:
            if index.constraint is constraint and not index.dropped:
                index.dropped = True
                index.record("dropped", statement, f"with constraint {name}")
                self.model.indexes.pop((index.schema, index.name), None)
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
        self.model.indexes.pop((index.schema, index.name), None)
        self.died(index, statement, detail)

    def close_match(self, kind: str, qualified: str) -> str:
        """A live object of the kind whose name is one typo away from `qualified`.

        A typo is one or two letters changed, added, dropped or swapped; names that differ
        only in underscores (a legacy `AuthLogs` next to `auth_logs`) are another object.
        """
        registries: dict[str, dict[Any, Any]] = {
            "drop_table": {k: t for k, t in self.model.tables.items() if not t.external},
            "drop_index": self.model.indexes,
            "drop_view": self.model.views,
            "drop_type": self.model.types,
            "drop_sequence": self.model.sequences,
        }
        schema, _, name = qualified.rpartition(".")
        for obj in registries.get(kind, {}).values():
            other = obj.name
            if getattr(obj, "schema", schema) != schema or other == name:
                continue
            if other.replace("_", "").lower() == name.replace("_", "").lower():
                continue
            if name.rstrip("0123456789") == other.rstrip("0123456789"):
                continue  # `x_key1` next to `x_key`: PostgreSQL's own names for duplicates
            # Two typos cannot touch both the first and the last three letters... nearly
            # never: the cheap test spares most distance computations.
            if (
                abs(len(other) - len(name)) <= 2
                and (other[:3] == name[:3] or other[-3:] == name[-3:])
                and _typo_distance(name, other) <= 2
            ):
                return str(obj.qualified_name)
        return ""

    def drop_simple(
        self,
        registry: dict[tuple[str, str], Any],
        names: list[str],
        statement: Statement,
        emit: Callable[..., None],
        kind: str,
    ) -> None:
        schema, name = self.split_name(names)
        obj = registry.pop((schema, name), None)
        if obj is None and len(names) < 2:
            obj = registry.pop(("public", name), None)
        if obj is not None:
            self.died(obj, statement)
        emit(kind, obj, obj.qualified_name if obj else f"{schema}.{name}")

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


def _typo_distance(a: str, b: str, limit: int = 2) -> int:
    """Optimal string alignment distance (edits and adjacent swaps), or `limit + 1` as soon as
    it must exceed `limit`: most pairs of names differ early, so most calls stop at once."""
    while a and b and a[0] == b[0]:
        a, b = a[1:], b[1:]
    while a and b and a[-1] == b[-1]:
        a, b = a[:-1], b[:-1]
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            cost = char_a != char_b
            best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                best = min(best, previous2[j - 2] + 1)
            current[j] = best
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]
