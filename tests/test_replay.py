"""The replay: statements in order build the schema, and every object keeps its history."""

from __future__ import annotations

from schema_review.model import Column, Constraint, SchemaModel, replay
from schema_review.parse import SourceFile, Statement, parse_postgres


def replay_files(*texts: str) -> SchemaModel:
    statements: list[Statement] = []
    for order, text in enumerate(texts):
        parsed, problems = parse_postgres(SourceFile(f"{order:04d}.sql", text, order=order))
        assert not problems
        statements.extend(parsed)
    model = replay(statements)
    assert not model.internal_errors
    return model


def test_create_table_columns_constraints_and_defaults() -> None:
    model = replay_files(
        """
        CREATE TABLE app.users (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          email varchar(255) NOT NULL UNIQUE,
          org_id integer REFERENCES orgs (id) ON DELETE CASCADE ON UPDATE RESTRICT,
          score numeric(10, 2) DEFAULT 0,
          created_at timestamptz NOT NULL DEFAULT now(),
          tags text[],
          full_name text GENERATED ALWAYS AS (email || '!') STORED,
          CONSTRAINT score_positive CHECK (score >= 0)
        );
        """
    )
    table = model.tables[("app", "users")]
    assert list(table.columns) == [
        "id",
        "email",
        "org_id",
        "score",
        "created_at",
        "tags",
        "full_name",
    ]
    assert table.columns["id"].identity == "always"
    assert str(table.columns["email"].type) == "varchar(255)"
    assert table.columns["email"].not_null
    assert str(table.columns["score"].type) == "numeric(10, 2)"
    assert str(table.columns["tags"].type) == "text[]"
    assert str(table.columns["created_at"].default) == "now()"
    assert table.columns["full_name"].generated is not None
    assert table.primary_key is not None and table.primary_key.columns == ["id"]
    assert set(table.constraints) == {
        "users_pkey",
        "users_email_key",
        "users_org_id_fkey",
        "score_positive",
    }
    fk = table.constraints["users_org_id_fkey"]
    assert (fk.ref_table, fk.ref_columns) == ("public.orgs", ["id"])
    assert (fk.on_delete, fk.on_update) == ("CASCADE", "RESTRICT")
    check = table.constraints["score_positive"]
    assert str(check.expression) == "score >= 0"
    # PRIMARY KEY and UNIQUE constraints bring their indexes.
    assert {i.name for i in table.indexes} == {"users_pkey", "users_email_key"}


def test_renames_follow_the_object() -> None:
    model = replay_files(
        "CREATE TABLE t (a int, b int, CONSTRAINT t_a_check CHECK (a > 0));"
        "CREATE INDEX t_a_idx ON t (a);",
        "ALTER TABLE t RENAME TO things;"
        "ALTER TABLE things RENAME COLUMN a TO alpha;"
        "ALTER TABLE things RENAME CONSTRAINT t_a_check TO things_alpha_check;"
        "ALTER INDEX t_a_idx RENAME TO things_alpha_idx;",
    )
    assert ("public", "t") not in model.tables
    table = model.tables[("public", "things")]
    assert list(table.columns) == ["alpha", "b"]
    assert "things_alpha_check" in table.constraints
    assert table.constraints["things_alpha_check"].columns == ["alpha"]
    index = model.indexes[("public", "things_alpha_idx")]
    assert index.columns == ["alpha"] and index.table is table
    renamed = [e for e in table.history if e.action == "renamed"]
    assert renamed and renamed[0].file == "0001.sql"
    assert [e.action for e in table.columns["alpha"].history] == ["created", "renamed"]


def test_alter_chains_change_columns() -> None:
    model = replay_files(
        "CREATE TABLE t (id int PRIMARY KEY, v varchar(10), n int);",
        "ALTER TABLE t ALTER COLUMN v TYPE text, ALTER COLUMN v SET NOT NULL;"
        "ALTER TABLE t ALTER COLUMN n SET DEFAULT 42;"
        "ALTER TABLE t ALTER COLUMN n DROP DEFAULT, ALTER COLUMN n SET NOT NULL;"
        "ALTER TABLE t ALTER COLUMN n DROP NOT NULL;",
    )
    table = model.tables[("public", "t")]
    v, n = table.columns["v"], table.columns["n"]
    assert str(v.type) == "text" and v.not_null
    assert n.default is None and not n.not_null
    assert [e.action for e in v.history] == ["created", "retyped", "altered"]
    assert v.defined is not None and v.defined.file == "0001.sql"


def test_drops_and_if_exists() -> None:
    model = replay_files(
        "CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int, a_id int REFERENCES a);"
        "CREATE INDEX b_a_idx ON b (a_id);",
        "DROP INDEX IF EXISTS b_a_idx; DROP INDEX IF EXISTS nothing_here;"
        "ALTER TABLE b DROP COLUMN a_id; DROP TABLE IF EXISTS a CASCADE;"
        "ALTER TABLE IF EXISTS missing ADD COLUMN x int;",
    )
    assert set(model.tables) == {("public", "b")}
    assert not model.indexes or set(model.indexes) == set()
    b = model.tables[("public", "b")]
    assert list(b.columns) == ["id"] and not b.foreign_keys
    dropped = [o for o in model.archive if o.dropped]
    assert {o.qualified_name for o in dropped} >= {
        "public.b_a_idx",
        "public.a",
        "public.b.a_id",
        "public.b.b_a_id_fkey",
    }
    misses = [c for c in model.changes if c.kind == "drop_index" and c.object is None]
    assert [c.detail for c in misses] == ["public.nothing_here"]


def test_constraint_history_links_incarnations() -> None:
    model = replay_files(
        "CREATE TABLE o (s text, CONSTRAINT o_s_check CHECK (s IN ('a')));",
        "ALTER TABLE o DROP CONSTRAINT o_s_check;"
        "ALTER TABLE o ADD CONSTRAINT o_s_check CHECK (s IN ('a', 'b')) NOT VALID;"
        "ALTER TABLE o VALIDATE CONSTRAINT o_s_check;",
    )
    current = model.tables[("public", "o")].constraints["o_s_check"]
    assert isinstance(current.previous, Constraint) and current.previous.dropped
    assert current.previous.definition != current.definition
    assert not current.not_valid
    assert [e.action for e in current.history] == ["created", "altered"]


def test_recreated_objects_with_dots_in_their_names_link_incarnations() -> None:
    # The graveyard is looked in by the last part of a name: a dot inside a quoted name
    # must not hide the dead object (nor make another look like it).
    model = replay_files(
        'CREATE TABLE "a.b" (c int); CREATE TABLE a (id int, "b.c" int);',
        'ALTER TABLE "a.b" DROP COLUMN c; ALTER TABLE "a.b" ADD COLUMN c text;',
        'ALTER TABLE a DROP COLUMN "b.c"; ALTER TABLE a ADD COLUMN "b.c" text;',
    )
    dotted = model.tables[("public", "a.b")].columns["c"]
    assert isinstance(dotted.previous, Column) and dotted.previous.table is dotted.table
    plain = model.tables[("public", "a")].columns["b.c"]
    assert isinstance(plain.previous, Column) and plain.previous.table is plain.table
    assert model.tables[("public", "a")].columns["id"].previous is None


def test_foreign_key_actions_written_read_from_the_clause() -> None:
    model = replay_files(
        "CREATE TABLE p (id int PRIMARY KEY);"
        "CREATE TABLE c (a int REFERENCES p, b int REFERENCES p ON DELETE CASCADE,"
        " d int REFERENCES p /* on update */, e int REFERENCES p On Update NO ACTION);"
    )
    foreign_keys = model.tables[("public", "c")].foreign_keys
    written = {fk.columns[0]: fk.actions_written for fk in foreign_keys}
    assert written == {"a": (), "b": ("delete",), "d": (), "e": ("update",)}


def test_foreign_key_actions_from_the_tree_where_no_action_is_not_written() -> None:
    """Without the word `action` after the table, the actions written are the tree's that
    are not NO ACTION: the same as the clause's scan gives, which is skipped."""
    from schema_review.parse import references_actions_written

    text = (
        "CREATE TABLE c (a int REFERENCES p ON DELETE CASCADE ON UPDATE SET NULL,"
        " b int REFERENCES p ON update restrict, d int REFERENCES p (id) ON DELETE SET DEFAULT,"
        " e int REFERENCES p, note text DEFAULT 'on delete cascade')"
    )
    model = replay_files("CREATE TABLE p (id int PRIMARY KEY);", text)
    foreign_keys = model.tables[("public", "c")].foreign_keys
    written = {fk.columns[0]: fk.actions_written for fk in foreign_keys}
    assert written == {"a": ("delete", "update"), "b": ("update",), "d": ("delete",), "e": ()}
    for column in written:
        at = text.index(f"{column} int REFERENCES p") + len(f"{column} int REFERENCES ")
        assert references_actions_written(text, at) == written[column]


def test_enum_sequence_view_function_trigger_policy_extension() -> None:
    model = replay_files(
        """
        CREATE EXTENSION IF NOT EXISTS pgcrypto;
        CREATE SCHEMA IF NOT EXISTS api;
        CREATE TYPE mood AS ENUM ('sad', 'ok');
        ALTER TYPE mood ADD VALUE 'happy' AFTER 'ok';
        CREATE SEQUENCE counter_seq;
        CREATE TABLE p (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), m mood);
        CREATE VIEW api.p_view WITH (security_invoker = true) AS SELECT * FROM p;
        CREATE FUNCTION api.touch() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
          SET search_path = public AS $$ BEGIN RETURN NEW; END $$;
        CREATE TRIGGER p_touch BEFORE UPDATE ON p FOR EACH ROW EXECUTE FUNCTION api.touch();
        ALTER TABLE p ENABLE ROW LEVEL SECURITY;
        CREATE POLICY p_read ON p FOR SELECT TO authenticated USING (true);
        COMMENT ON TABLE p IS 'people';
        """
    )
    assert model.types[("public", "mood")].values == ["sad", "ok", "happy"]
    assert ("public", "counter_seq") in model.sequences
    assert model.views[("api", "p_view")].security_invoker
    function = next(iter(model.functions.values()))
    assert function.security_definer and function.search_path == "public"
    assert function.language == "plpgsql"
    table = model.tables[("public", "p")]
    assert table.rls_enabled and table.comment == "people"
    assert table.triggers["p_touch"].for_each_row
    policy = table.policies["p_read"]
    assert policy.roles == ["authenticated"] and policy.command == "select"
    assert "pgcrypto" in model.extensions and "api" in model.schemas


def test_partitioned_tables_and_unknown_statements() -> None:
    model = replay_files(
        "CREATE TABLE m (id bigint, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);"
        "CREATE TABLE m_2024 PARTITION OF m FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');"
        "GRANT SELECT ON m TO reporting; CREATE ROLE reporting;"
    )
    assert model.tables[("public", "m")].partitioned
    partition = model.tables[("public", "m_2024")]
    assert partition.partition_of == "public.m"
    # The partition has its part of the partitioned primary key, named as the server names it.
    assert partition.primary_key is not None and partition.primary_key.name == "m_2024_pkey"
    assert {s.kind for s in model.opaque} == {"CreateRoleStmt"}
    assert [c.kind for c in model.changes if c.kind == "grant"] == ["grant"]


def test_statement_changes_know_whether_the_table_is_new() -> None:
    model = replay_files(
        "CREATE TABLE a (id int PRIMARY KEY); CREATE INDEX a_id_idx ON a (id);",
        "CREATE INDEX a_id2_idx ON a (id); CREATE INDEX other_idx ON unknown_table (x);",
    )
    existed = {
        c.index.name: c.table_existed
        for c in model.changes
        if c.kind == "create_index"
        if c.index is not None
    }
    assert existed == {"a_id_idx": False, "a_id2_idx": True, "other_idx": True}


def test_typo_distance_is_the_capped_optimal_string_alignment_distance() -> None:
    """The banded, early-stopping distance `close_match` uses gives what the plain full table
    gives, capped at limit + 1, on random names over a small alphabet (many near pairs)."""
    import random

    from schema_review.model.operations import _typo_distance

    def full(a: str, b: str) -> int:
        rows = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
        for i in range(len(a) + 1):
            rows[i][0] = i
        for j in range(len(b) + 1):
            rows[0][j] = j
        for i in range(1, len(a) + 1):
            for j in range(1, len(b) + 1):
                rows[i][j] = min(
                    rows[i - 1][j] + 1,
                    rows[i][j - 1] + 1,
                    rows[i - 1][j - 1] + (a[i - 1] != b[j - 1]),
                )
                if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                    rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
        return rows[-1][-1]

    rng = random.Random(17)
    for _ in range(3000):
        a = "".join(rng.choice("ab_c") for _ in range(rng.randint(0, 9)))
        b = list(a)
        for _ in range(rng.randint(0, 3)):  # a few edits of `a`, or another name
            at = rng.randint(0, len(b))
            edit = rng.choice(("change", "add", "drop", "swap"))
            if edit == "add":
                b.insert(at, rng.choice("ab_c"))
            elif b and at < len(b):
                if edit == "change":
                    b[at] = rng.choice("ab_c")
                elif edit == "drop":
                    del b[at]
                elif at + 1 < len(b):
                    b[at], b[at + 1] = b[at + 1], b[at]
        other = "".join(b) if rng.random() < 0.8 else "".join(rng.sample("abc_ab", 5))
        for limit in (1, 2):
            assert _typo_distance(a, other, limit) == min(full(a, other), limit + 1), (a, other)


def test_objects_that_set_their_base_fields_themselves_set_them_all() -> None:
    """Column, Constraint, Index and Table set SchemaObject's fields in their own __init__
    (a call less for each object a long history makes): a field added to SchemaObject must
    be set there too, with the value SchemaObject's __init__ gives a new object."""
    from schema_review.model.objects import SchemaObject

    model = replay_files(
        "CREATE TABLE t (a int PRIMARY KEY, b int REFERENCES t (a)); CREATE INDEX i ON t (b);"
    )
    table = model.tables[("public", "t")]
    made = [table, *table.columns.values(), *table.constraints.values(), *table.indexes]
    assert {type(obj).__name__ for obj in made} == {"Table", "Column", "Constraint", "Index"}
    fresh = SchemaObject("x")
    for obj in made:
        for name in SchemaObject.__slots__:
            if name in ("name", "_history"):
                assert hasattr(obj, name), (type(obj).__name__, name)
            else:
                assert getattr(obj, name) == getattr(fresh, name), (type(obj).__name__, name)


def test_a_views_relations_read_from_its_json_text_as_a_walk_finds_them() -> None:
    from schema_review.model.postgres.definitions import relations_named
    from schema_review.parse import walk_dicts

    text = """
        CREATE VIEW v AS
        WITH recent AS (SELECT * FROM app."Orders{x}" o WHERE o.id > 0)
        SELECT u.id, (SELECT count(*) FROM db.s.items i WHERE i.user_id = u.id) AS n,
               '"RangeVar":{"relname":"not_a_table"}' AS decoy
        FROM users u JOIN "we""ird" w ON w.id = u.id, recent
        UNION ALL SELECT 1, 2, 'x' FROM LATERAL generate_series(1, 2) g;
    """
    (statement,), problems = parse_postgres(SourceFile("0001.sql", text, order=0))
    assert not problems
    query = statement.node["query"]
    walked = [
        (item["RangeVar"].get("schemaname"), item["RangeVar"].get("relname", ""))
        for item in walk_dicts(query)
        if "RangeVar" in item
    ]
    assert sorted(relations_named(query), key=str) == sorted(walked, key=str)
    assert set(relations_named(query)) == {
        ("app", "Orders{x}"),
        ("s", "items"),
        (None, "users"),
        (None, 'we"ird'),
        (None, "recent"),
    }
    # Fields in another order than libpg_query's: the walk answers.
    reordered = {"x": [{"RangeVar": {"relname": "a", "schemaname": "s"}}]}
    assert relations_named(reordered) == [("s", "a")]
