"""What the model shares to stay small on long histories, and that sharing changes nothing a
rule can read: a change's column or constraint as the statement left it, empty defaults that
stay empty, an event's offset."""

from __future__ import annotations

import gc

import pytest

from schema_review.model import Change, objects
from schema_review.model.objects import Table, check_shared_empties
from tests.test_replay import replay_files


def test_a_change_reads_the_object_itself_unless_a_later_statement_changed_it() -> None:
    model = replay_files(
        """
        CREATE TABLE t (id bigint PRIMARY KEY, a int, b int);
        ALTER TABLE t ADD COLUMN note text;
        ALTER TABLE t ADD CONSTRAINT a_positive CHECK (a > 0) NOT VALID;
        ALTER TABLE t ADD CONSTRAINT b_positive CHECK (b > 0) NOT VALID;
        """,
        "ALTER TABLE t VALIDATE CONSTRAINT a_positive;",
    )
    table = model.tables[("public", "t")]
    by_kind = {(c.kind, c.constraint.name if c.constraint else ""): c for c in model.changes}
    column_change = by_kind[("add_column", "")]
    assert column_change.column is table.columns["note"]  # unchanged since: the object
    validated = by_kind[("add_constraint", "a_positive")].constraint
    assert validated is not None and validated is not table.constraints["a_positive"]
    assert validated.not_valid and not table.constraints["a_positive"].not_valid
    untouched = by_kind[("add_constraint", "b_positive")].constraint
    assert untouched is table.constraints["b_positive"]


def test_a_snapshot_copies_every_field_and_says_when_the_object_changed() -> None:
    table = Table("t", schema="public")
    column = objects.Column("a", table=table, type=objects.TypeName("int"))
    copy = column.snapshot()
    assert copy is not column and copy._same_fields(column) and column._same_fields(copy)
    assert [getattr(copy, name) for name in objects._slot_names(objects.Column)] == [
        getattr(column, name) for name in objects._slot_names(objects.Column)
    ]
    column.not_null = True
    assert not copy._same_fields(column) and not copy.not_null
    assert not copy._same_fields(table)  # another class
    # An object with a field never set (made without its __init__): copied without it.
    bare = object.__new__(objects.Column)
    bare.name, bare._history = "b", []
    bare_copy = bare.snapshot()
    assert bare_copy.name == "b" and not hasattr(bare_copy, "table")
    assert bare_copy._same_fields(bare)
    bare_copy.table = table
    assert not bare_copy._same_fields(bare) and not bare._same_fields(bare_copy)


def test_shared_empty_defaults_stay_empty_and_objects_given_items_get_their_own() -> None:
    model = replay_files(
        """
        CREATE TABLE parent (id int);
        CREATE TABLE child (id int);
        CREATE TABLE plain (id int);
        CREATE TABLE kid (note text) INHERITS (parent);
        ALTER TABLE child INHERIT parent;
        CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
        CREATE TRIGGER touch BEFORE UPDATE ON child FOR EACH ROW EXECUTE FUNCTION touch();
        CREATE POLICY mine ON child USING (true);
        """
    )
    check_shared_empties()
    child, plain = model.tables[("public", "child")], model.tables[("public", "plain")]
    assert list(child.triggers) == ["touch"] and list(child.policies) == ["mine"]
    assert child.inherits == ["public.parent"]
    assert plain.triggers == {} and plain.policies == {} and plain.inherits == []
    assert plain.triggers is not child.triggers and plain.inherits is not child.inherits
    kid, parent = model.tables[("public", "kid")], model.tables[("public", "parent")]
    assert kid.inherits == ["public.parent"] and [*kid.columns] == ["id", "note"]
    assert plain.inherits is parent.inherits  # CREATE TABLE without INHERITS: the shared one
    assert [e.action for e in plain.history] == ["created"]


def test_a_shared_empty_changed_in_place_is_caught() -> None:
    table = Table("t", schema="public")
    table.inherits.append("public.other")  # the bug the check is there for
    try:
        with pytest.raises(RuntimeError, match="changed in place"):
            check_shared_empties()
    finally:
        objects._NO_ITEMS.clear()


def test_constraints_and_indexes_with_the_same_names_share_one_list_of_them() -> None:
    model = replay_files(
        """
        CREATE TABLE a (id int PRIMARY KEY, status text CHECK (status <> ''));
        CREATE TABLE c (id int PRIMARY KEY, a_id int REFERENCES a);
        CREATE TABLE b (id int PRIMARY KEY, status text);
        ALTER TABLE b ADD CONSTRAINT b_status CHECK (status <> '');
        CREATE INDEX a_status ON a (status);
        CREATE INDEX b_status_idx ON b (status DESC);
        CREATE INDEX c_lower ON c (lower(a_id::text));
        """,
        "ALTER TABLE b RENAME COLUMN status TO state;",
    )
    check_shared_empties()
    a, b, c = (model.tables[("public", name)] for name in "abc")
    assert a.primary_key is not None and c.primary_key is not None
    assert a.primary_key.columns == ["id"] and a.primary_key.columns is c.primary_key.columns
    (fk,) = [k for k in c.constraints.values() if k.type == "foreign_key"]
    assert fk.columns == ["a_id"] and fk.ref_columns is a.primary_key.columns
    (a_check,) = [k for k in a.constraints.values() if k.type == "check"]
    indexes = {i.name: i for i in model.indexes.values()}
    assert a_check.columns == ["status"] and indexes["a_status"].key_names is a_check.columns
    # A rename gives the renamed objects lists of their own; the others keep the shared one.
    assert b.constraints["b_status"].columns == ["state"] and a_check.columns == ["status"]
    assert indexes["b_status_idx"].columns == ["state"]
    assert indexes["b_status_idx"].key_options == ["DESC"]
    assert indexes["c_lower"].expressions == indexes["c_lower"].columns


def test_a_shared_list_of_names_changed_in_place_is_caught() -> None:
    first = objects.Constraint("a_pkey", Table("a", "public"), "primary_key", columns=["id"])
    second = objects.Constraint("b_pkey", Table("b", "public"), "primary_key", columns=["id"])
    assert first.columns is second.columns
    first.columns.append("other")  # the bug the check is there for
    with pytest.raises(RuntimeError, match="changed in place"):
        check_shared_empties()
    objects._SHARED_NAMES.clear()
    check_shared_empties()


def test_an_object_one_statement_made_keeps_its_event_without_a_list_until_read() -> None:
    model = replay_files(
        """
        CREATE TABLE t (id int PRIMARY KEY, a int);
        CREATE INDEX t_a ON t (a);
        CREATE VIEW v AS SELECT 1 AS one;
        """,
        """
        ALTER TABLE t ADD COLUMN b int;
        ALTER TABLE t ALTER COLUMN b SET NOT NULL;
        CREATE OR REPLACE VIEW v AS SELECT 1 AS one, 2 AS two;
        """,
    )
    table = model.tables[("public", "t")]
    a, b = table.columns["a"], table.columns["b"]
    index = model.indexes[("public", "t_a")]
    assert type(a._history) is objects.Event and type(index._history) is objects.Event
    # What the rules read of it reads the one event, and makes no list.
    assert a.created is a.defined is a.last_change is a._history
    assert a.dropped_event is None and type(a._history) is objects.Event
    # Read as `history`: a list, the object's own from then on.
    assert [e.action for e in a.history] == ["created"] and a.history is a.history
    assert type(table.columns["a"]._history) is list
    # A column a later statement changed: its events in one list, which the change of the
    # ADD COLUMN (its copy of the column as that statement left it) reads too.
    assert [e.action for e in b.history] == ["created", "altered"]
    (add,) = [c for c in model.changes if c.kind == "add_column"]
    assert add.column is not None and add.column.history is b.history
    # A replaced view takes over its predecessor's history.
    (view,) = model.history_of_kind("view")
    assert [e.action for e in view.history] == ["created", "replaced"]


def test_an_event_keeps_the_offset_of_its_object_in_the_file() -> None:
    text = "SELECT 1;\nCREATE TABLE t (\n  id int,\n  note text\n);\n"
    model = replay_files(text)
    column = model.tables[("public", "t")].columns["note"]
    created = column.history[0]
    assert created.offset == text.index("note text")
    assert created.line == 4


def test_the_flags_few_changes_set_are_kept_only_on_those_changes() -> None:
    model = replay_files(
        """
        CREATE TABLE t (id int);
        CREATE INDEX CONCURRENTLY IF NOT EXISTS t_id ON t (id);
        SET lock_timeout = '1s';
        ALTER TABLE t ADD COLUMN b int;
        DROP INDEX IF EXISTS missing;
        """
    )
    create, index, _, add, drop = model.changes
    flags = ("if_not_exists", "guarded", "concurrently", "missing_ok", "noop", "lock_timeout")
    assert [f for f in flags if getattr(create, f)] == []
    assert [f for f in flags if getattr(index, f)] == ["if_not_exists", "guarded", "concurrently"]
    assert [f for f in flags if getattr(add, f)] == ["lock_timeout"]
    assert not add.statement_timeout and not add.inline
    assert [f for f in flags if getattr(drop, f)] == ["missing_ok", "lock_timeout"]
    # Class defaults, not slots: a change that sets none has no room for them.
    assert set(flags).isdisjoint(Change.__slots__)
    assert not [r for r in gc.get_referents(create) if type(r) is dict]


def test_a_drop_table_reads_other_tables_constraints_only_if_a_foreign_key_names_it() -> None:
    # A DROP TABLE looks at every table's constraints for foreign keys to drop with it: not
    # when no foreign key was ever made (or renamed) to reference it.
    from schema_review.model.replay import front_end
    from schema_review.parse import SourceFile, parse_postgres
    from schema_review.profile import Profile

    statements, _ = parse_postgres(
        SourceFile(
            "m.sql",
            "CREATE TABLE a (id int PRIMARY KEY);\nCREATE TABLE b (id int);\n"
            "CREATE TABLE c (a_id int REFERENCES a, b_id int);\nCREATE TABLE d (id int);\n"
            "DROP TABLE b;\nALTER TABLE a RENAME TO e;\nDROP TABLE e;\n",
        )
    )
    replayer = front_end(Profile())
    for statement in statements[:4]:
        replayer.apply(statement)
    reads: list[str] = []

    class Constraints(dict):  # type: ignore[type-arg]
        def values(self):  # type: ignore[no-untyped-def]
            reads.append("read")
            return super().values()

    c = replayer.model.tables[("public", "c")]
    c.constraints = Constraints(c.constraints)
    replayer.apply(statements[4])  # DROP TABLE b: no foreign key references it
    assert reads == []
    replayer.apply(statements[5])
    replayer.apply(statements[6])  # DROP TABLE e (a renamed): c's foreign key goes with it
    assert reads and list(c.constraints) == []


def test_the_quick_extension_test_says_what_the_words_of_the_text_say() -> None:
    # Substring hints rule most statements out before their words are looked up: every
    # extension object's name must hold one, or statements naming it would be missed.
    from schema_review.model.postgres.base import (
        _EXTENSION_HINTS,
        EXTENSION_OBJECTS,
        WORD,
        mentions_extension_object,
    )

    assert all(any(hint in name for hint in _EXTENSION_HINTS) for name in EXTENSION_OBJECTS)
    for text in (
        "CREATE TABLE t (id uuid DEFAULT uuid_generate_v4())",
        "CREATE TABLE t (encrypted_password text, v VECTOR(3))",
        "CREATE TABLE t (encrypted_password text, geom_id int)",
        "CREATE INDEX t_name ON t USING gin (name gin_trgm_ops)",
        "ALTER TABLE t ADD COLUMN note text",
    ):
        words = not EXTENSION_OBJECTS.keys().isdisjoint(WORD.findall(text.lower()))
        assert mentions_extension_object(text) == words, text
