"""The replayed model equals what PostgreSQL builds: one minimal history per gap of the
model (issue 10 item 4), applied to a real server and compared object by object.

Each case also asserts the model fact it is about, so a comparison that happened to skip
the object could not pass it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from schema_review.config import Settings
from schema_review.export import schema_document
from schema_review.model import SchemaModel, Table
from schema_review.pipeline import replay_histories
from schema_review.verify.build import build_on_server
from schema_review.verify.compare import compare
from schema_review.verify.server import Server
from tests.helpers import LintSql, split_example, write_migrations

OnServer = Callable[..., SchemaModel]


@pytest.fixture
def on_server(pg_server: Server, tmp_path: Path) -> OnServer:
    counter = iter(range(1000))

    def check(sql: str, **settings: object) -> SchemaModel:
        """Replay `sql` (files split at `-- file:` lines), apply it to a fresh database,
        and fail on any file PostgreSQL rejects or any object that differs."""
        files = split_example(textwrap.dedent(sql))
        folder = write_migrations(tmp_path / f"m{next(counter)}", files)
        (history,) = replay_histories([folder], Settings(**settings))  # type: ignore[arg-type]
        build = build_on_server(pg_server, history)
        failures = [f"{o.file}: {o.failure}" for o in build.failures]
        assert failures == [], failures
        comparison = compare(build.catalog, schema_document(history.model, "case"))
        assert comparison.differences == [], "\n".join(map(str, comparison.differences))
        assert comparison.compared > 0
        return history.model

    return check


def table(model: SchemaModel, name: str, schema: str = "public") -> Table:
    return model.tables[(schema, name)]


# -- DO blocks ---------------------------------------------------------------------------------


def test_do_block_exception_guard_replays_the_foreign_key(on_server: OnServer) -> None:
    # drizzle-kit's idiom, twice: the second block is a no-op on the server.
    guarded = """
    DO $$ BEGIN
     ALTER TABLE "posts" ADD CONSTRAINT "posts_author_fk" FOREIGN KEY ("author_id")
       REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;
    EXCEPTION
     WHEN duplicate_object THEN null;
    END $$;
    """
    model = on_server(
        "CREATE TABLE users (id bigint PRIMARY KEY);\n"
        "CREATE TABLE posts (id bigint PRIMARY KEY, author_id bigint);\n" + guarded + guarded
    )
    fk = table(model, "posts").constraints["posts_author_fk"]
    assert fk.on_delete == "CASCADE" and fk.ref_table == "public.users"
    # The fk-missing-index rule sees it, where before the DO block hid it.
    assert fk.covering_index is None


def test_do_block_catalog_if_runs_the_branch_the_server_runs(on_server: OnServer) -> None:
    model = on_server(
        """
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'status') THEN
            CREATE TYPE status AS ENUM ('new', 'done');
          END IF;
        END $$;
        -- file: 0002.sql
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'status') THEN
            CREATE TYPE status AS ENUM ('never');
          ELSE
            ALTER TYPE status ADD VALUE IF NOT EXISTS 'archived';
          END IF;
        END $$;
        CREATE TABLE jobs (id int PRIMARY KEY, state status, old_name text);
        DO $$ BEGIN
          IF EXISTS (SELECT 1 FROM information_schema.columns
                     WHERE table_name = 'jobs' AND column_name = 'old_name') THEN
            ALTER TABLE jobs RENAME COLUMN old_name TO label;
          END IF;
          IF (SELECT count(*) = 2 FROM pg_indexes WHERE indexname IN ('jobs_pkey', 'nope')) THEN
            DROP TABLE jobs;
          END IF;
          IF to_regclass('public.jobs') IS NOT NULL THEN
            EXECUTE 'CREATE INDEX jobs_label_idx ON jobs (label)';
          END IF;
        END $$;
        """
    )
    assert model.types[("public", "status")].values == ["new", "done", "archived"]
    jobs = table(model, "jobs")
    assert "label" in jobs.columns and "old_name" not in jobs.columns
    assert [i.name for i in jobs.live_indexes] == ["jobs_pkey", "jobs_label_idx"]


def test_ddl_built_at_run_time_is_reported_not_guessed(lint_sql: LintSql) -> None:
    run = lint_sql(
        """
        CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz);
        CREATE FUNCTION make_partition(day date) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
          EXECUTE format('CREATE TABLE %I (LIKE events)', 'events_' || to_char(day, 'YYYYMMDD'));
        END $$;
        SELECT make_partition(CURRENT_DATE);
        DO $$ BEGIN
          EXECUTE 'CREATE INDEX ' || 'events_at_idx ON events (at)';
        END $$;
        """
    )
    found = sorted(
        (f.line, f.message.split(":")[0])
        for f in run.result.findings
        if f.rule == "ddl-not-modelled"
    )
    assert found == [
        (7, "public.make_partition(date) runs EXECUTE of a string built at run time"),
        (9, "EXECUTE of a string built at run time"),
    ]
    assert [i.name for i in run.models[0].tables[("public", "events")].live_indexes] == [
        "events_pkey"
    ]


# -- CREATE TABLE AS, LIKE, INHERITS, temporary tables --------------------------------------


def test_create_table_as_like_and_inherits_copy_columns(on_server: OnServer) -> None:
    model = on_server(
        """
        CREATE TABLE src (id bigint PRIMARY KEY, name text NOT NULL DEFAULT 'x',
                          amount numeric(10,2) CHECK (amount >= 0), note varchar(20));
        CREATE INDEX src_lower_name_idx ON src (lower(name));
        CREATE TABLE copy1 AS SELECT id, name AS label, amount::int AS whole FROM src;
        SELECT s.*, 1::bigint AS one INTO copy2 FROM src s;
        CREATE TABLE opaque AS SELECT count(*) FROM src;
        CREATE TABLE liked (LIKE src INCLUDING ALL, extra int);
        CREATE TABLE bare (LIKE src);
        CREATE TABLE child (kind text) INHERITS (src);
        CREATE TEMPORARY TABLE scratch (x int);
        ALTER TABLE scratch ADD COLUMN y int;
        """
    )
    assert [(c.name, str(c.type)) for c in table(model, "copy1").columns.values()] == [
        ("id", "bigint"),
        ("label", "text"),
        ("whole", "integer"),
    ]
    assert list(table(model, "copy2").columns) == ["id", "name", "amount", "note", "one"]
    assert not table(model, "opaque").columns_known
    liked = table(model, "liked")
    assert sorted(liked.constraints) == ["liked_pkey", "src_amount_check"]
    assert sorted(i.name for i in liked.live_indexes) == ["liked_lower_idx", "liked_pkey"]
    assert table(model, "bare").columns["name"].default is None
    child = table(model, "child")
    assert list(child.columns) == ["id", "name", "amount", "note", "kind"]
    assert sorted(child.constraints) == ["src_amount_check"]
    assert ("public", "scratch") not in model.tables


# -- drops reach their dependents --------------------------------------------------------------


def test_drops_take_their_dependents(on_server: OnServer) -> None:
    model = on_server(
        """
        CREATE TABLE parent (id int PRIMARY KEY, code text UNIQUE);
        CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent,
                            code text REFERENCES parent (code));
        CREATE VIEW child_view AS SELECT id FROM child;
        CREATE TABLE doc (id int, body text, lang text, tag text,
                          PRIMARY KEY (id, lang), CHECK (lang <> body));
        CREATE INDEX doc_expr ON doc (lower(body));
        CREATE INDEX doc_partial ON doc (id) WHERE body IS NOT NULL;
        CREATE INDEX doc_incl ON doc (id) INCLUDE (body);
        CREATE INDEX doc_tag ON doc (tag);
        CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
        CREATE TRIGGER doc_touch BEFORE UPDATE ON doc FOR EACH ROW EXECUTE FUNCTION touch();
        CREATE TYPE mood AS ENUM ('ok');
        CREATE TABLE feeling (id int, mood mood, note text);
        CREATE SCHEMA scratch;
        CREATE TABLE scratch.t (id int PRIMARY KEY);
        CREATE TABLE refers (t_id int REFERENCES scratch.t);
        -- file: 0002.sql
        ALTER TABLE doc DROP COLUMN body;
        ALTER TABLE doc DROP COLUMN lang;
        ALTER TABLE doc ADD PRIMARY KEY (id);
        DROP TABLE parent CASCADE;
        DROP TABLE child CASCADE;
        DROP FUNCTION touch() CASCADE;
        DROP TYPE mood CASCADE;
        DROP SCHEMA scratch CASCADE;
        """
    )
    doc = table(model, "doc")
    assert [i.name for i in doc.live_indexes] == ["doc_tag", "doc_pkey"]
    assert doc.triggers == {}
    first_pk = next(o for o in model.archive if o.kind == "constraint" and o.name == "doc_pkey")
    assert first_pk.dropped_with_parent  # not "dropped and re-created"
    assert list(table(model, "feeling").columns) == ["id", "note"]
    assert table(model, "refers").foreign_keys == []
    assert model.views == {}


# -- renames reach referrers ---------------------------------------------------------------------


def test_renames_reach_what_refers_to_them(on_server: OnServer) -> None:
    model = on_server(
        """
        CREATE TYPE state AS ENUM ('a', 'b');
        CREATE TABLE account (id int PRIMARY KEY, email text, state state);
        CREATE TABLE login (id int PRIMARY KEY, account_email text, account_id int
                            REFERENCES account (id));
        ALTER TABLE account ADD CONSTRAINT account_email_key UNIQUE (email);
        ALTER TABLE login ADD FOREIGN KEY (account_email) REFERENCES account (email);
        CREATE INDEX account_lower_email ON account (lower(email)) WHERE email <> '';
        ALTER TABLE account ADD CHECK (email LIKE '%@%');
        ALTER TABLE account ENABLE ROW LEVEL SECURITY;
        CREATE POLICY own ON account USING (email = current_user);
        CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
        CREATE TRIGGER account_stamp BEFORE INSERT ON account FOR EACH ROW
          EXECUTE FUNCTION stamp();
        CREATE SCHEMA app;
        -- file: 0002.sql
        ALTER TYPE state RENAME TO account_state;
        ALTER TABLE account RENAME COLUMN email TO mail;
        ALTER TABLE account RENAME TO member;
        ALTER FUNCTION stamp() RENAME TO stamp_row;
        ALTER TRIGGER account_stamp ON member RENAME TO member_stamp;
        ALTER POLICY own ON member RENAME TO own_rows;
        ALTER INDEX account_lower_email RENAME TO member_lower_mail;
        ALTER SCHEMA app RENAME TO application;
        ALTER TABLE login SET SCHEMA application;
        """
    )
    member = table(model, "member")
    assert str(member.columns["state"].type) == "account_state"
    login = table(model, "login", "application")
    assert {fk.ref_table for fk in login.foreign_keys} == {"public.member"}
    assert sorted(c for fk in login.foreign_keys for c in fk.ref_columns) == ["id", "mail"]
    assert str(member.policies["own_rows"].using) == "mail = CURRENT_USER"
    assert member.triggers["member_stamp"].function == "public.stamp_row"


# -- PostgreSQL's own names -----------------------------------------------------------------------


def test_implicit_names_are_the_servers_byte_for_byte(on_server: OnServer) -> None:
    long = "a_table_name_that_is_long_enough_to_need_cutting_by_postgres"
    model = on_server(
        f"""
        CREATE TABLE t (a int, b int, c text, d int PRIMARY KEY UNIQUE, e int UNIQUE UNIQUE,
                        CHECK (a > b), CHECK (a > 0), CHECK (a > 1),
                        f int CHECK (f > 0) CHECK (f > 1));
        CREATE INDEX ON t (a) INCLUDE (b);
        CREATE INDEX ON t (lower(c), upper(c));
        CREATE INDEX ON t ((a + 1));
        CREATE TABLE t_a_b_idx1 (x int);
        CREATE INDEX ON t (a) INCLUDE (b);
        CREATE INDEX ON t (a, b);
        ALTER TABLE t ADD UNIQUE (a, b);
        ALTER TABLE t ADD CHECK (b > 0 AND a > 0);
        CREATE TABLE {long} (id serial PRIMARY KEY, another_rather_long_column_name int,
                             UNIQUE (id, another_rather_long_column_name));
        CREATE TABLE r (id int PRIMARY KEY, parent int REFERENCES r);
        -- file: 0002.sql
        -- What a later migration drops by the server's names must be found.
        ALTER TABLE t DROP CONSTRAINT t_check1;
        ALTER TABLE t DROP CONSTRAINT t_a_check1;
        DROP INDEX t_a_b_idx2;
        """
    )
    t = table(model, "t")
    assert sorted(t.constraints) == [
        "t_a_b_key",
        "t_a_check",
        "t_check",
        "t_e_key",
        "t_f_check",
        "t_f_check1",
        "t_pkey",
    ]
    assert sorted(i.name for i in t.live_indexes) == [
        "t_a_b_idx",
        "t_a_b_idx3",
        "t_a_b_key",
        "t_e_key",
        "t_expr_idx",
        "t_lower_upper_idx",
        "t_pkey",
    ]
    long_table = table(model, long)
    assert sorted(long_table.constraints) == [
        "a_table_name_that_is_long_eno_id_another_rather_long_column_key",
        "a_table_name_that_is_long_enough_to_need_cutting_by_postgr_pkey",
    ]
    sequence = long_table.columns["id"].serial_sequence
    assert sequence == "public.a_table_name_that_is_long_enough_to_need_cutting_by_post_id_seq"


def test_implicit_names_avoid_names_held_after_renames_and_drops(on_server: OnServer) -> None:
    # The replay looks names up in an index of who may hold them (issue 17): a name taken by
    # a rename, an identity added later or a table renamed away is still taken; a dropped
    # constraint's name is free again.
    model = on_server(
        """
        CREATE TABLE a (x int, CONSTRAINT c CHECK (x > 0));
        ALTER TABLE a RENAME CONSTRAINT c TO b_x_check;
        CREATE TABLE b (x int CHECK (x > 0));
        CREATE TABLE s (id int NOT NULL);
        ALTER TABLE s ALTER id ADD GENERATED ALWAYS AS IDENTITY;
        ALTER TABLE s RENAME TO s_old;
        CREATE TABLE s (id serial);
        CREATE TABLE u (k int UNIQUE);
        ALTER INDEX u_k_key RENAME TO v_k_key;
        CREATE TABLE v (k int UNIQUE);
        CREATE TABLE d (x int CHECK (x > 0));
        ALTER TABLE d DROP CONSTRAINT d_x_check;
        ALTER TABLE d ADD CHECK (x > 1);
        """
    )
    assert sorted(table(model, "b").constraints) == ["b_x_check1"]
    assert table(model, "s").columns["id"].serial_sequence == "public.s_id_seq1"
    assert sorted(table(model, "u").constraints) == ["v_k_key"]
    assert sorted(table(model, "v").constraints) == ["v_k_key1"]
    assert sorted(table(model, "d").constraints) == ["d_x_check"]


# -- partitions and inheritance ----------------------------------------------------------------


def test_partitions_receive_the_parents_keys_indexes_and_triggers(on_server: OnServer) -> None:
    model = on_server(
        """
        CREATE TABLE r (id int PRIMARY KEY);
        CREATE TABLE p (id int, x int, y text, r_id int REFERENCES r (id),
                        PRIMARY KEY (id, x), UNIQUE (x, id), CHECK (x > 0))
          PARTITION BY LIST (x);
        CREATE INDEX ON p (lower(y));
        CREATE FUNCTION tf() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
        CREATE TRIGGER row_trigger BEFORE INSERT ON p FOR EACH ROW EXECUTE FUNCTION tf();
        CREATE TRIGGER statement_trigger AFTER INSERT ON p FOR EACH STATEMENT
          EXECUTE FUNCTION tf();
        CREATE TABLE c1 PARTITION OF p FOR VALUES IN (1);
        CREATE TABLE c2 (id int NOT NULL, x int NOT NULL, y text, r_id int,
                         CONSTRAINT p_x_check CHECK (x > 0));
        CREATE INDEX c2_own_lower ON c2 (lower(y));
        ALTER TABLE p ATTACH PARTITION c2 FOR VALUES IN (2);
        ALTER TABLE p ADD COLUMN w int;
        CREATE INDEX ON p (w);
        ALTER TABLE p ADD CONSTRAINT p_w_fk FOREIGN KEY (w) REFERENCES r (id);
        CREATE TABLE c3 PARTITION OF p FOR VALUES IN (3);
        ALTER TABLE p DETACH PARTITION c3;
        CREATE TABLE base (a int CHECK (a > 1), b int NOT NULL DEFAULT 3, UNIQUE (a));
        CREATE TABLE derived (c int) INHERITS (base);
        ALTER TABLE base ADD CONSTRAINT base_b_check CHECK (b < 10);
        """
    )
    c1 = table(model, "c1")
    assert sorted(c1.constraints) == [
        "c1_pkey",
        "c1_x_id_key",
        "p_r_id_fkey",
        "p_w_fk",
        "p_x_check",
    ]
    assert sorted(i.name for i in c1.live_indexes) == [
        "c1_lower_idx",
        "c1_pkey",
        "c1_w_idx",
        "c1_x_id_key",
    ]
    assert list(c1.triggers) == ["row_trigger"]
    assert "c2_own_lower" in {i.name for i in table(model, "c2").live_indexes}
    c3 = table(model, "c3")
    assert c3.partition_of is None and c3.triggers == {}
    assert sorted(table(model, "derived").constraints) == ["base_a_check", "base_b_check"]


# -- smaller ones -------------------------------------------------------------------------------


def test_serial_identity_overloads_and_search_path(on_server: OnServer) -> None:
    model = on_server(
        """
        CREATE TABLE counter (id serial PRIMARY KEY, n int NOT NULL);
        ALTER TABLE counter ALTER COLUMN id DROP DEFAULT;
        ALTER TABLE counter ALTER COLUMN n ADD GENERATED ALWAYS AS IDENTITY;
        CREATE TABLE other (id int GENERATED ALWAYS AS IDENTITY);
        ALTER TABLE other ALTER COLUMN id SET GENERATED BY DEFAULT;
        CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql AS 'SELECT a';
        CREATE FUNCTION f(a text) RETURNS text LANGUAGE sql AS 'SELECT a';
        DROP FUNCTION f(text);
        CREATE SCHEMA app;
        SET search_path = app, public;
        CREATE TABLE in_app (id int);
        SELECT set_config('search_path', 'public', false);
        CREATE TABLE in_public (id int);
        BEGIN;
        SET LOCAL search_path = app;
        CREATE TABLE also_in_app (id int);
        COMMIT;
        CREATE TABLE back_in_public (id int);
        """
    )
    counter = table(model, "counter")
    assert counter.columns["id"].default is None
    assert counter.columns["n"].identity == "always"
    assert table(model, "other").columns["id"].identity == "by default"
    assert [k[2] for k in model.functions if k[1] == "f"] == ["integer"]
    assert {("app", "in_app"), ("app", "also_in_app")} <= set(model.tables)
    assert {("public", "in_public"), ("public", "back_in_public")} <= set(model.tables)


def test_a_table_emptied_in_the_transaction_counts_as_new(lint_sql: LintSql) -> None:
    run = lint_sql(
        textwrap.dedent(
            """
        CREATE TABLE queue (id bigint PRIMARY KEY, job text);
        CREATE TABLE log (id bigint PRIMARY KEY, line text);
        -- file: 0002.sql
        BEGIN;
        DELETE FROM queue;
        CREATE INDEX queue_job_idx ON queue (job);
        TRUNCATE log;
        CREATE INDEX log_line_idx ON log (line);
        COMMIT;
        CREATE INDEX queue_id_job_idx ON queue (id, job);
        """
        ),
        select=("create-index-not-concurrently",),
    )
    flagged = [f.object for f in run.result.findings]
    # Emptied in the same transaction: the index builds over no rows. After COMMIT, rows
    # can arrive again.
    assert flagged == ["public.queue_id_job_idx"]


def test_rules_do_not_reason_over_columns_the_model_cannot_know(lint_sql: LintSql) -> None:
    run = lint_sql(
        "CREATE TABLE src (id int PRIMARY KEY);\n"
        "CREATE TABLE report AS SELECT count(*) AS n FROM src;\n",
        select=("required-columns",),
        rule_options={"required-columns": {"columns": ["created_at"]}},
    )
    assert not run.models[0].tables[("public", "report")].columns_known
    assert [f.object for f in run.result.findings] == ["public.src"]
