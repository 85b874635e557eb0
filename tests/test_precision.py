"""Precision of the model and the rules on shapes real projects write (issue 12, item 4).

Each test is real SQL that a rule got wrong (a finding that should not be there, or one that
was missed), and what the rule says now. Claims about what PostgreSQL does are checked on the
server (`pg_database`).
"""

from __future__ import annotations

import psycopg
import pytest

from schema_review.pipeline import LintRun
from schema_review.verify.server import Database
from tests.helpers import LintSql, findings_of

# -- fk-missing-index: partial indexes the lookup can use ------------------------------------

PARTIAL_INDEXES = """
CREATE TABLE parent (id int PRIMARY KEY, k int, UNIQUE (id, k));
CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent ON DELETE CASCADE);
CREATE INDEX child_parent_partial ON child (parent_id) WHERE parent_id IS NOT NULL;
CREATE TABLE childm (id int PRIMARY KEY, parent_id int, pk int,
  CONSTRAINT childm_fk FOREIGN KEY (parent_id, pk) REFERENCES parent (id, k) ON DELETE CASCADE);
CREATE INDEX childm_multi ON childm (pk, parent_id) WHERE parent_id IS NOT NULL AND pk IS NOT NULL;
CREATE TABLE child2 (id int PRIMARY KEY, parent_id int REFERENCES parent, deleted_at timestamptz);
CREATE INDEX child2_live ON child2 (parent_id) WHERE deleted_at IS NULL;
"""


def test_partial_index_implied_by_the_lookup_covers_the_foreign_key(lint_sql: LintSql) -> None:
    run = lint_sql(PARTIAL_INDEXES)
    flagged = {f.object for f in findings_of(run, "fk-missing-index")}
    # child and childm are covered (IS NOT NULL on the key columns); child2's index holds only
    # live rows, so a lookup by parent_id alone cannot use it.
    assert flagged == {"public.child2.child2_parent_id_fkey"}


def test_server_uses_the_partial_index_on_delete(pg_database: Database) -> None:
    """The lookups an ON DELETE runs, as the server plans them (auto_explain of the nested
    statements, generic plans as a cached RI query ends up with)."""
    plans: list[str] = []
    with pg_database.connect() as connection:
        connection.execute(PARTIAL_INDEXES)
        connection.execute(
            "INSERT INTO parent SELECT g, g FROM generate_series(1, 1000) g;"
            "INSERT INTO child SELECT g, CASE WHEN g % 2 = 0 THEN g % 1000 + 1 END"
            " FROM generate_series(1, 100000) g;"
            "INSERT INTO childm SELECT g, g % 1000 + 1, g % 1000 + 1"
            " FROM generate_series(1, 100000) g;"
            "INSERT INTO child2 SELECT g, NULL FROM generate_series(1, 100000) g;"
            "ANALYZE"
        )
        connection.execute("LOAD 'auto_explain'")
        connection.execute(
            "SET plan_cache_mode = force_generic_plan; SET auto_explain.log_min_duration = 0;"
            "SET auto_explain.log_nested_statements = on; SET auto_explain.log_level = notice;"
            "SET client_min_messages = notice"
        )
        connection.add_notice_handler(lambda notice: plans.append(str(notice.message_primary)))
        connection.execute("DELETE FROM parent WHERE id = 7")

    def plan_of(table: str) -> str:
        found = [p for p in plans if f'ONLY "public"."{table}"' in p]
        assert len(found) == 1, plans
        return found[0]

    assert "child_parent_partial" in plan_of("child")
    assert "childm_multi" in plan_of("childm")
    assert "Seq Scan on child2" in plan_of("child2")


# -- constraint-recreated and fk-actions-changed --------------------------------------------

_ORDERS = """
-- file: 0001_init.sql
CREATE TABLE customers (id bigint PRIMARY KEY);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, total int,
  CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)
    ON DELETE RESTRICT ON UPDATE RESTRICT,
  CONSTRAINT orders_total_check CHECK (total > 0));
"""


def test_changing_only_the_actions_of_a_foreign_key_is_low(lint_sql: LintSql) -> None:
    run = lint_sql(
        _ORDERS
        + """
-- file: 0002_cascade.sql
ALTER TABLE orders DROP CONSTRAINT orders_customer_fk;
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id)
  REFERENCES customers (id) ON DELETE RESTRICT ON UPDATE CASCADE;
"""
    )
    assert not findings_of(run, "constraint-recreated")
    (finding,) = findings_of(run, "fk-actions-changed")
    assert finding.severity == "low"
    assert "with ON DELETE RESTRICT ON UPDATE RESTRICT" in finding.message
    assert "re-created with ON DELETE RESTRICT ON UPDATE CASCADE" in finding.message


def test_a_new_target_is_still_a_recreated_constraint(lint_sql: LintSql) -> None:
    run = lint_sql(
        _ORDERS
        + """
-- file: 0002_retarget.sql
CREATE TABLE clients (id bigint PRIMARY KEY);
ALTER TABLE orders DROP CONSTRAINT orders_customer_fk;
ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id)
  REFERENCES clients (id) ON DELETE CASCADE;
"""
    )
    assert [f.severity for f in findings_of(run, "constraint-recreated")] == ["high"]
    assert not findings_of(run, "fk-actions-changed")


def test_not_valid_then_validate_is_the_recommended_recreation(lint_sql: LintSql) -> None:
    recreate = """
-- file: 0002_total.sql
ALTER TABLE orders DROP CONSTRAINT orders_total_check;
ALTER TABLE orders ADD CONSTRAINT orders_total_check CHECK (total >= 0){not_valid};
"""
    plain = lint_sql(_ORDERS + recreate.format(not_valid=""))
    assert len(findings_of(plain, "constraint-recreated")) == 1
    staged = lint_sql(
        _ORDERS
        + recreate.format(not_valid=" NOT VALID")
        + "ALTER TABLE orders VALIDATE CONSTRAINT orders_total_check;\n"
    )
    assert not findings_of(staged, "constraint-recreated")


def test_constraints_gone_with_their_column_or_a_renamed_table(lint_sql: LintSql) -> None:
    run = lint_sql(
        _ORDERS
        + """
-- file: 0002_rebuild.sql
ALTER TABLE orders RENAME TO orders_old;
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, total int,
  CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)
    ON DELETE CASCADE,
  CONSTRAINT orders_total_check CHECK (total >= 0));
-- file: 0003_drop_column.sql
ALTER TABLE orders DROP COLUMN customer_id;
-- file: 0004_add_column.sql
ALTER TABLE orders ADD COLUMN customer_id bigint
  CONSTRAINT orders_customer_fk REFERENCES customers (id) ON DELETE SET NULL;
"""
    )
    assert not findings_of(run, "constraint-recreated")
    assert not findings_of(run, "fk-actions-changed")


# -- multiple-alter-table ------------------------------------------------------------------

_EXISTING = (
    "CREATE TABLE orders (id bigint PRIMARY KEY, note text, total int, customer_id bigint);\n"
)


def _second_file(sql: str) -> list[tuple[str, str]]:
    return [("0001_init.sql", _EXISTING), ("0002_change.sql", sql)]


def test_multiple_alter_table_only_for_repeated_scans_outside_a_transaction(
    lint_sql: LintSql,
) -> None:
    cheap = "ALTER TABLE orders ADD COLUMN a text;\nALTER TABLE orders ADD COLUMN b text;\n"
    assert not findings_of(lint_sql(_second_file(cheap)), "multiple-alter-table")
    scans = (
        "ALTER TABLE orders ALTER COLUMN note SET NOT NULL;\n"
        "ALTER TABLE orders ADD CONSTRAINT orders_total_check CHECK (total >= 0);\n"
    )
    (finding,) = findings_of(lint_sql(_second_file(scans)), "multiple-alter-table")
    assert finding.line == 2 and "first at line 1" in finding.message
    in_transaction = "BEGIN;\n" + scans + "COMMIT;\n"
    assert not findings_of(lint_sql(_second_file(in_transaction)), "multiple-alter-table")
    goose = "-- +goose Up\n" + scans
    assert not findings_of(lint_sql(_second_file(goose), runner="goose"), "multiple-alter-table")


def test_validate_constraint_is_never_merged_into_its_add(lint_sql: LintSql) -> None:
    sql = (
        "CREATE TABLE customers (id bigint PRIMARY KEY);\n"
        "ALTER TABLE orders ADD CONSTRAINT orders_customer_fkey\n"
        "  FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;\n"
        "ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fkey;\n"
        "ALTER TABLE orders ADD CONSTRAINT orders_total_check CHECK (total >= 0) NOT VALID;\n"
        "ALTER TABLE orders VALIDATE CONSTRAINT orders_total_check;\n"
    )
    assert not findings_of(lint_sql(_second_file(sql)), "multiple-alter-table")


# -- column-type-change: what rewrites, and one finding a statement ----------------------

_TYPED = (
    "CREATE TABLE orders (id bigint PRIMARY KEY, note varchar(20), a int, b int,\n"
    "  placed timestamp, paid timestamp);\n"
)


def _retyped(sql: str, folder: str = "") -> list[tuple[str, str]]:
    """A table with rows, then `sql` in a later file (diesel's layout with `folder`)."""
    if folder:
        return [("2024-01-01-000000_init/up.sql", _TYPED), (f"{folder}/up.sql", sql)]
    return [("0001_init.sql", _TYPED), ("0002_retype.sql", sql)]


def _type_changes(run: LintRun) -> list[str]:
    return [f.message for f in findings_of(run, "column-type-change")]


def test_using_the_column_itself_is_no_using(lint_sql: LintSql) -> None:
    for using in ("note", "note::text", "(note)::text"):
        sql = f"ALTER TABLE orders ALTER COLUMN note TYPE text USING {using};\n"
        assert not _type_changes(lint_sql(_retyped(sql))), using
    (message,) = _type_changes(
        lint_sql(_retyped("ALTER TABLE orders ALTER COLUMN note TYPE text USING lower(note);\n"))
    )
    assert "USING evaluates an expression for every row" in message
    (message,) = _type_changes(
        lint_sql(_retyped("ALTER TABLE orders ALTER COLUMN a TYPE bigint USING a;\n"))
    )
    assert "USING" not in message  # the conversion rewrites, not the USING


def test_timestamps_keep_their_values_in_a_utc_session_from_postgresql_12(
    lint_sql: LintSql,
) -> None:
    retype = "ALTER TABLE orders ALTER COLUMN placed TYPE timestamptz;\n"
    (message,) = _type_changes(lint_sql(_retyped(retype)))
    assert message.endswith(
        "unless TimeZone is UTC (SET TIME ZONE 'UTC' earlier in the file makes sure)"
    )
    utc = "SET TIME ZONE 'UTC';\n" + retype
    assert not _type_changes(lint_sql(_retyped(utc)))
    # diesel's connection sets TimeZone to UTC before it runs a migration
    diesel = lint_sql(_retyped(retype, "2024-02-01-000000_tz"), runner="diesel")
    assert not _type_changes(diesel)
    paris = "SET TIME ZONE 'Europe/Paris';\n" + retype
    (message,) = _type_changes(lint_sql(_retyped(paris, "2024-02-01-000000_tz"), runner="diesel"))
    assert "unless" not in message
    # before PostgreSQL 12 the conversion rewrites in any time zone
    (message,) = _type_changes(lint_sql(_retyped(utc), pg_version=11))
    assert "unless" not in message
    (message,) = _type_changes(lint_sql(_retyped(retype, "2024-02-01-000000_tz"), pg_version=11))
    assert "unless" not in message


def test_one_finding_for_a_statement_that_retypes_several_columns(lint_sql: LintSql) -> None:
    both = "ALTER TABLE orders ALTER COLUMN a TYPE bigint, ALTER COLUMN b TYPE bigint;\n"
    (message,) = _type_changes(lint_sql(_retyped(both)))
    assert message.startswith(
        "changing public.orders.a from integer to bigint and public.orders.b from integer to "
        "bigint rewrites public.orders"
    )
    # a change that rewrites nothing is not named; time zones matter only when all depend on it
    mixed = (
        "ALTER TABLE orders ALTER COLUMN note TYPE text, ALTER COLUMN placed TYPE timestamptz,\n"
        "  ALTER COLUMN a TYPE bigint;\n"
    )
    (message,) = _type_changes(lint_sql(_retyped(mixed)))
    assert "note" not in message and "placed" in message and "unless" not in message
    apart = (
        "ALTER TABLE orders ALTER COLUMN a TYPE bigint;\n"
        "ALTER TABLE orders ALTER COLUMN b TYPE bigint;\n"
    )
    assert len(_type_changes(lint_sql(_retyped(apart)))) == 2


# -- missing-if-not-exists -----------------------------------------------------------------


def test_a_file_of_one_statement_can_always_be_run_again(lint_sql: LintSql) -> None:
    one = [("0001_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY);\n")]
    assert not findings_of(lint_sql(one), "missing-if-not-exists")
    two = [("0001_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY);\nSELECT 1;\n")]
    assert len(findings_of(lint_sql(two), "missing-if-not-exists")) == 1
    # a failed CREATE INDEX CONCURRENTLY leaves an invalid index: running it again fails
    concurrently = [
        ("0001_users.sql", "CREATE TABLE IF NOT EXISTS users (id bigint PRIMARY KEY, a int);\n"),
        ("0002_index.sql", "CREATE INDEX CONCURRENTLY users_a_idx ON users (a);\n"),
    ]
    assert len(findings_of(lint_sql(concurrently), "missing-if-not-exists")) == 1


# -- drop-foreign-key ----------------------------------------------------------------------

_KEYED = [
    ("0001_init.sql", "CREATE TABLE customers (id bigint PRIMARY KEY);\n" + _EXISTING),
    ("0002_fk.sql", "ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers;\n"),
]


def test_a_foreign_key_dropped_before_its_column_or_table(lint_sql: LintSql) -> None:
    drop = "ALTER TABLE orders DROP CONSTRAINT orders_customer_id_fkey;\n"
    alone = lint_sql([*_KEYED, ("0003_drop.sql", drop)])
    assert len(findings_of(alone, "drop-foreign-key")) == 1
    column = lint_sql([*_KEYED, ("0003_drop.sql", drop + "ALTER TABLE orders DROP customer_id;")])
    assert not findings_of(column, "drop-foreign-key")
    table = lint_sql([*_KEYED, ("0003_drop.sql", drop + "DROP TABLE orders;\n")])
    assert not findings_of(table, "drop-foreign-key")


# -- object-created-then-dropped -----------------------------------------------------------


def test_an_object_redefined_by_the_dropping_file(lint_sql: LintSql) -> None:
    create = "CREATE FUNCTION total(a int) RETURNS int LANGUAGE sql AS 'SELECT a';\n"
    redefine = "DROP FUNCTION total(int);\n" + create.replace("a int", "a bigint").replace(
        "RETURNS int", "RETURNS bigint"
    )
    run = lint_sql([("0001_f.sql", create), ("0002_f.sql", redefine)])
    assert not findings_of(run, "object-created-then-dropped")
    dropped = lint_sql([("0001_f.sql", create), ("0002_f.sql", "DROP FUNCTION total(int);\n")])
    assert len(findings_of(dropped, "object-created-then-dropped")) == 1


# -- drop-table and add-column-not-null-without-default: tables with no rows ---------------


def test_a_table_recreated_later_in_the_file_is_a_redefinition(lint_sql: LintSql) -> None:
    rebuild = (
        "DROP TABLE orders;\n"
        "CREATE TABLE orders (id bigint PRIMARY KEY, note text NOT NULL, total int);\n"
    )
    assert not findings_of(lint_sql(_second_file(rebuild)), "drop-table")
    gone = "DROP TABLE orders;\nCREATE TABLE invoices (id bigint PRIMARY KEY);\n"
    assert len(findings_of(lint_sql(_second_file(gone)), "drop-table")) == 1


def test_a_table_emptied_earlier_in_the_transaction_has_no_rows(lint_sql: LintSql) -> None:
    for empty in ("TRUNCATE orders;", "DELETE FROM orders;"):
        sql = f"{empty}\nALTER TABLE orders ADD COLUMN code text NOT NULL;\nDROP TABLE orders;\n"
        in_transaction = lint_sql(_second_file(f"BEGIN;\n{sql}COMMIT;\n"))
        assert not findings_of(in_transaction, "add-column-not-null-without-default"), empty
        assert not findings_of(in_transaction, "drop-table"), empty
        # statement by statement, rows may arrive between the two statements
        alone = lint_sql(_second_file(sql))
        assert len(findings_of(alone, "add-column-not-null-without-default")) == 1, empty
        assert len(findings_of(alone, "drop-table")) == 1, empty


def test_server_adds_a_not_null_column_to_a_table_emptied_in_the_transaction(
    pg_database: Database,
) -> None:
    add = "ALTER TABLE orders ADD COLUMN code text NOT NULL"
    with pg_database.connect() as connection:
        connection.execute(_EXISTING + "INSERT INTO orders VALUES (1, 'a', 1, NULL);")
        with pytest.raises(psycopg.errors.NotNullViolation):
            connection.execute(add)
        for empty in ("TRUNCATE orders", "DELETE FROM orders"):
            with connection.transaction():
                connection.execute(empty)
                connection.execute(add)
                raise psycopg.Rollback()


# -- dynamic-sql-injection: reg* arguments ---------------------------------------------------

# What `diesel setup` writes into a new project's first migration (diesel 2.x).
DIESEL_SETUP = """
CREATE OR REPLACE FUNCTION diesel_manage_updated_at(_tbl regclass) RETURNS VOID AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER set_updated_at BEFORE UPDATE ON %s
                    FOR EACH ROW EXECUTE PROCEDURE diesel_set_updated_at()', _tbl);
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION diesel_set_updated_at() RETURNS trigger AS $$
BEGIN
    IF (
        NEW IS DISTINCT FROM OLD AND
        NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at
    ) THEN
        NEW.updated_at := current_timestamp;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def test_diesel_setup_passes_the_default_gate(lint_sql: LintSql) -> None:
    files = [("00000000000000_diesel_initial_setup/up.sql", DIESEL_SETUP)]
    run = lint_sql(files, select=())  # the default selection
    assert not findings_of(run, "dynamic-sql-injection")
    assert not run.result.fails("high"), [f"{f.rule}: {f.message}" for f in run.result.findings]


def test_reg_typed_arguments_and_variables_are_quoted_names(lint_sql: LintSql) -> None:
    body = """
CREATE FUNCTION touch({argument}) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  target regclass := tbl;
BEGIN
  {inner}
  EXECUTE format('ANALYZE %s', {value});
  EXECUTE 'ANALYZE ' || {value};
END $$;
"""
    safe = body.format(argument="tbl regclass", inner="", value="target")
    assert not findings_of(lint_sql(safe), "dynamic-sql-injection")
    assert not findings_of(
        lint_sql(body.format(argument="tbl regclass", inner="", value="tbl")),
        "dynamic-sql-injection",
    )
    text = body.format(argument="tbl text", inner="", value="tbl")
    assert len(findings_of(lint_sql(text), "dynamic-sql-injection")) == 1
    # a nested block's text variable of the same name is not a quoted name
    shadowed = body.format(
        argument="tbl regclass",
        inner="DECLARE target text := 'x'; BEGIN EXECUTE format('ANALYZE %s', target); END;",
        value="tbl",
    )
    assert len(findings_of(lint_sql(shadowed), "dynamic-sql-injection")) == 1


def test_server_prints_a_regclass_as_a_quoted_name(pg_database: Database) -> None:
    with pg_database.connect() as connection:
        connection.execute('CREATE TABLE "My Table; DROP TABLE x" (id int)')
        row = connection.execute(
            "SELECT format('%s', '\"My Table; DROP TABLE x\"'::regclass)"
        ).fetchone()
        assert row == ('"My Table; DROP TABLE x"',)
        with pytest.raises(psycopg.errors.InvalidName):
            connection.execute("SELECT 'x; DROP TABLE y'::regclass")


# -- prefer-bigint-over-int and fk-type-mismatch ---------------------------------------------

_INTEGER_KEYS = """
CREATE TABLE IF NOT EXISTS users (id serial PRIMARY KEY);
CREATE TABLE IF NOT EXISTS posts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  author_id integer NOT NULL REFERENCES users (id));
CREATE INDEX IF NOT EXISTS posts_author_id_idx ON posts (author_id);
"""


def test_prefer_bigint_reports_the_referenced_key_only(lint_sql: LintSql) -> None:
    run = lint_sql(_INTEGER_KEYS)
    (finding,) = findings_of(run, "prefer-bigint-over-int")
    assert finding.object == "public.users.id"
    assert "public.posts.author_id" in finding.message
    # Widening a key rewrites it and every referencing table under ACCESS EXCLUSIVE: no
    # general fix is safe (issue 12: advice, not an sql block), and none is offered.
    assert finding.fix is None
    assert not findings_of(run, "fk-type-mismatch")


# -- inconsistent-primary-key-types ------------------------------------------------------------


def _keyed_tables(*types: str) -> str:
    return "".join(
        f"CREATE TABLE IF NOT EXISTS t{n} (id {t} PRIMARY KEY);\n" for n, t in enumerate(types)
    )


def test_primary_key_types_count_every_key_and_never_flag_a_wider_one(
    lint_sql: LintSql,
) -> None:
    wider = lint_sql(_keyed_tables(*["integer"] * 6, "bigint"))
    assert not findings_of(wider, "inconsistent-primary-key-types")
    # 3 bigint among 14 keyed tables is no majority, whatever the integer one does
    text_keys = lint_sql(_keyed_tables(*["text"] * 10, "bigint", "bigint", "bigint", "integer"))
    assert not findings_of(text_keys, "inconsistent-primary-key-types")
    narrower = lint_sql(_keyed_tables(*["bigint"] * 6, "integer", "text"))
    (finding,) = findings_of(narrower, "inconsistent-primary-key-types")
    assert finding.object == "public.t6"
    assert "where 6 of the 8 tables keyed by one column use bigint" in finding.message


# -- redundant-timestamp-columns, missing-non-negative-check --------------------------------


def test_any_two_creation_times_are_redundant(lint_sql: LintSql) -> None:
    sql = """
CREATE TABLE IF NOT EXISTS runs (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  started_at timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL DEFAULT now() + interval '1 day',
  last_seen_at timestamptz DEFAULT now());
CREATE TABLE IF NOT EXISTS events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  "timestamp" timestamp NOT NULL DEFAULT timezone('utc', now()),
  inserted_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now());
"""
    found = {f.object: f.message for f in findings_of(lint_sql(sql), "redundant-timestamp-columns")}
    assert set(found) == {"public.runs", "public.events"}
    assert "(started_at / created_at)" in found["public.runs"]
    assert "(timestamp / inserted_at)" in found["public.events"]


def test_non_negative_words_anywhere_in_the_name(lint_sql: LintSql) -> None:
    sql = """
CREATE TABLE IF NOT EXISTS stats (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  message_count_main integer NOT NULL, duration_seconds integer NOT NULL,
  price_change numeric NOT NULL, balance_delta bigint NOT NULL, discount integer NOT NULL);
"""
    flagged = {f.object for f in findings_of(lint_sql(sql), "missing-non-negative-check")}
    assert flagged == {"public.stats.message_count_main", "public.stats.duration_seconds"}


# -- comment-overwritten ---------------------------------------------------------------------


def test_only_comment_statements_count_and_both_are_named(lint_sql: LintSql) -> None:
    files = [
        (
            "0001_init.sql",
            "CREATE TABLE users (id bigint PRIMARY KEY); -- people who sign in\n"
            "-- Accounts that can sign in\n"
            "COMMENT ON TABLE users IS 'Accounts';\n",
        ),
        (
            "0002_docs.sql",
            "-- People, not accounts\n/* a block comment */\n"
            "ALTER TABLE users ADD COLUMN a text;\n",
        ),
    ]
    assert not findings_of(lint_sql(files), "comment-overwritten")
    files.append(("0003_docs.sql", "\n\nCOMMENT ON TABLE users IS 'People';\n"))
    (finding,) = findings_of(lint_sql(files), "comment-overwritten")
    assert "0001_init.sql:3 is replaced by the COMMENT at" in finding.message
    assert "0003_docs.sql:3 with different text" in finding.message


# -- fk-cascade-restrict-conflict: rows, not tables ------------------------------------------

_TOOLS = """
CREATE TABLE users (id int PRIMARY KEY);
CREATE TABLE tools (id int PRIMARY KEY,
  user_id int NOT NULL REFERENCES users ON DELETE CASCADE);
CREATE TABLE usages (id int PRIMARY KEY,
  user_id int NOT NULL REFERENCES users ON DELETE CASCADE,
  tool_id int NOT NULL REFERENCES tools ON DELETE RESTRICT);
"""

_TENANTS = """
CREATE TABLE tenant (id int PRIMARY KEY);
CREATE TABLE action (id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenant ON DELETE CASCADE,
  UNIQUE (id, tenant_id));
CREATE TABLE step (id int PRIMARY KEY, action_id int NOT NULL,
  tenant_id int NOT NULL REFERENCES tenant ON DELETE CASCADE,
  FOREIGN KEY (action_id, tenant_id) REFERENCES action (id, tenant_id) ON DELETE RESTRICT);
"""


def test_cascade_conflicts_are_about_rows(lint_sql: LintSql) -> None:
    (finding,) = findings_of(lint_sql(_TOOLS), "fk-cascade-restrict-conflict")
    assert finding.object == "public.tools.tools_user_id_fkey"
    assert "public.usages.usages_tool_id_fkey" in finding.message
    # every step of a tenant's action carries the tenant, and goes with it
    assert not findings_of(lint_sql(_TENANTS), "fk-cascade-restrict-conflict")


def test_server_refuses_the_delete_only_when_other_rows_remain(pg_database: Database) -> None:
    delete = "DELETE FROM {} WHERE id = 1"
    with pg_database.connect() as connection:
        connection.execute(_TOOLS + _TENANTS)
        connection.execute(
            "INSERT INTO users VALUES (1), (2); INSERT INTO tools VALUES (10, 1);"
            "INSERT INTO usages VALUES (100, 1, 10), (200, 2, 10);"
            "INSERT INTO tenant VALUES (1), (2); INSERT INTO action VALUES (10, 1), (20, 2);"
            "INSERT INTO step VALUES (100, 10, 1), (200, 20, 2);"
        )
        # user 2's usage of user 1's tool is not removed by deleting user 1
        with pytest.raises(psycopg.errors.RestrictViolation):
            connection.execute(delete.format("users"))
        connection.execute(delete.format("tenant"))
        remaining = connection.execute("SELECT id FROM step").fetchall()
        assert remaining == [(200,)]


# -- unique-ignores-soft-delete ----------------------------------------------------------------


def test_unique_indexes_partial_on_something_else_and_identifiers(lint_sql: LintSql) -> None:
    sql = """
CREATE TABLE IF NOT EXISTS pages (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id bigint, user_id bigint, slug text NOT NULL, webhook_url text, external_id text,
  deleted_at timestamptz);
CREATE UNIQUE INDEX IF NOT EXISTS pages_org_slug ON pages (org_id, slug) WHERE org_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS pages_live_slug ON pages (slug) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS pages_webhook ON pages (webhook_url);
CREATE UNIQUE INDEX IF NOT EXISTS pages_external ON pages (user_id, external_id);
"""
    flagged = {f.object for f in findings_of(lint_sql(sql), "unique-ignores-soft-delete")}
    assert flagged == {"public.pages_org_slug"}


# -- drop-if-exists-missing-object: policies, constraints, triggers, functions ---------------

_GUARDED = """
CREATE TABLE docs (id bigint PRIMARY KEY, owner uuid, total int,
  CONSTRAINT docs_total_check CHECK (total >= 0));
CREATE TABLE other (id bigint PRIMARY KEY, doc_id bigint,
  CONSTRAINT other_doc_id_key UNIQUE (doc_id));
ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Owners read their docs" ON docs FOR SELECT USING (true);
CREATE FUNCTION touch_docs() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
CREATE TRIGGER docs_touch BEFORE UPDATE ON docs FOR EACH ROW EXECUTE FUNCTION touch_docs();
"""


def test_drop_if_exists_of_a_misspelt_policy_constraint_trigger_or_function(
    lint_sql: LintSql,
) -> None:
    drops = [
        ('DROP POLICY IF EXISTS "Owners read their doc" ON docs;', "docs.Owners read their docs"),
        ("ALTER TABLE docs DROP CONSTRAINT IF EXISTS docs_totl_check;", "docs.docs_total_check"),
        ("DROP TRIGGER IF EXISTS doc_touch ON docs;", "docs.docs_touch"),
        ("DROP FUNCTION IF EXISTS touch_doc();", "touch_docs"),
    ]
    for drop, survivor in drops:
        (finding,) = findings_of(
            lint_sql([("0001_init.sql", _GUARDED), ("0002_drop.sql", drop)]),
            "drop-if-exists-missing-object",
        )
        assert f"public.{survivor} does, and survives" in finding.message, drop
    # PostgreSQL's own suffixes name other objects: a missing _fkey is no typo of a _key
    other = "ALTER TABLE other DROP CONSTRAINT IF EXISTS other_doc_id_fkey;"
    run = lint_sql([("0001_init.sql", _GUARDED), ("0002_drop.sql", other)])
    assert not findings_of(run, "drop-if-exists-missing-object")


# -- found reading the corpus (issue 12, item 6) ---------------------------------------------

_PROMPTS = "CREATE TABLE prompts (id bigint PRIMARY KEY, prompt text, completion text);\n"


def test_a_column_swapped_in_one_transaction_is_neither_dropped_nor_renamed(
    lint_sql: LintSql,
) -> None:
    """langfuse's prompt_to_json and rename_enum_membership_role_to_project_role."""
    swap = (
        "ALTER TABLE prompts ADD COLUMN json_prompt jsonb;\n"
        "UPDATE prompts SET json_prompt = to_json(prompt);\n"
        "ALTER TABLE prompts DROP COLUMN prompt;\n"
        "ALTER TABLE prompts RENAME COLUMN json_prompt TO prompt;\n"
    )
    run = lint_sql([("0001_init.sql", _PROMPTS), ("0002_swap.sql", f"BEGIN;\n{swap}COMMIT;\n")])
    assert not findings_of(run, "rename-column")
    assert not findings_of(run, "drop-column")
    # the history decides, not the final schema: a later file dropping the column again
    later = ("0003_drop.sql", "ALTER TABLE prompts DROP COLUMN prompt;\n")
    run = lint_sql(
        [("0001_init.sql", _PROMPTS), ("0002_swap.sql", f"BEGIN;\n{swap}COMMIT;\n"), later]
    )
    assert [f.file.rpartition("/")[2] for f in findings_of(run, "drop-column")] == ["0003_drop.sql"]
    # statement by statement, the column is missing between the DROP and the RENAME
    alone = lint_sql([("0001_init.sql", _PROMPTS), ("0002_swap.sql", swap)])
    assert [f.line for f in findings_of(alone, "drop-column")] == [3]
    # a real rename, and a drop that loses the data (how Prisma changes a type), still count
    real = (
        "BEGIN;\nALTER TABLE prompts RENAME COLUMN completion TO output;\n"
        "ALTER TABLE prompts DROP COLUMN prompt, ADD COLUMN prompt jsonb;\nCOMMIT;\n"
    )
    run = lint_sql([("0001_init.sql", _PROMPTS), ("0002_real.sql", real)])
    assert len(findings_of(run, "rename-column")) == 1
    assert len(findings_of(run, "drop-column")) == 1


def test_a_table_swapped_in_by_rename_is_a_redefinition(lint_sql: LintSql) -> None:
    """hatchet's v1_0_22: copy into v1_events_olap_new, drop the old table, rename."""
    swap = (
        "CREATE TABLE events_new (id bigint PRIMARY KEY, payload jsonb);\n"
        "INSERT INTO events_new SELECT id, NULL FROM events;\n"
        "DROP TABLE events;\n"
        "ALTER TABLE events_new RENAME TO events;\n"
    )
    init = "CREATE TABLE events (id bigint PRIMARY KEY);\n"
    run = lint_sql([("0001_init.sql", init), ("0002_swap.sql", swap)])
    assert not findings_of(run, "drop-table")
    assert not findings_of(run, "object-created-then-dropped")
    # hatchet does it inside a DO block: its statements are ordered by where they are written
    block = f"DO $$\nBEGIN\n{swap}END $$;\n"
    run = lint_sql([("0001_init.sql", init), ("0002_swap.sql", block)])
    assert not findings_of(run, "drop-table")
    gone = swap.replace("RENAME TO events", "RENAME TO events_v2")
    run = lint_sql([("0001_init.sql", init), ("0002_swap.sql", gone)])
    assert len(findings_of(run, "drop-table")) == 1


def test_a_primary_key_recreated_on_an_index_built_beforehand(lint_sql: LintSql) -> None:
    """langfuse's dataset_items_switch_pk: the unique index was built CONCURRENTLY before."""
    files = [
        (
            "0001_init.sql",
            "CREATE TABLE items (id text, project_id text, valid_from int,\n"
            "  CONSTRAINT items_pkey PRIMARY KEY (id, project_id));\n",
        ),
        (
            "0002_index.sql",
            "CREATE UNIQUE INDEX CONCURRENTLY items_key\n"
            "  ON items (id, project_id, valid_from);\n",
        ),
        (
            "0003_switch.sql",
            "ALTER TABLE items DROP CONSTRAINT items_pkey,\n"
            "  ADD CONSTRAINT items_pkey PRIMARY KEY USING INDEX items_key;\n",
        ),
    ]
    assert not findings_of(lint_sql(files), "constraint-recreated")
    direct = [
        *files[:1],
        (
            "0003_switch.sql",
            "ALTER TABLE items DROP CONSTRAINT items_pkey,\n"
            "  ADD CONSTRAINT items_pkey PRIMARY KEY (id, project_id, valid_from);\n",
        ),
    ]
    assert len(findings_of(lint_sql(direct), "constraint-recreated")) == 1


def test_a_foreign_key_with_an_index_on_its_first_column_is_not_a_scan(
    lint_sql: LintSql,
) -> None:
    """langfuse's dataset_items(dataset_id, project_id) with an index on dataset_id."""
    sql = """
CREATE TABLE datasets (id text, project_id text, PRIMARY KEY (id, project_id));
CREATE TABLE items (id text PRIMARY KEY, dataset_id text, project_id text,
  FOREIGN KEY (dataset_id, project_id) REFERENCES datasets (id, project_id));
CREATE INDEX items_dataset_id_idx ON items (dataset_id);
"""
    (finding,) = findings_of(lint_sql(sql), "fk-missing-index")
    assert "reads every row of public.items that items_dataset_id_idx finds for dataset_id" in (
        finding.message
    )
    assert "scans" not in finding.message


def test_server_checks_one_alter_table_in_one_pass(pg_database: Database) -> None:
    """multiple-alter-table's claim: SET NOT NULL and ADD CHECK in one ALTER read the rows
    once, in two ALTERs twice."""
    with pg_database.connect() as connection:
        for table in ("one", "two"):
            connection.execute(
                f"CREATE TABLE {table} (a int, b int);"
                f"INSERT INTO {table} SELECT g, g FROM generate_series(1, 1000) g"
            )
        connection.execute("ALTER TABLE one ALTER a SET NOT NULL, ADD CHECK (b > 0)")
        connection.execute("ALTER TABLE two ALTER a SET NOT NULL")
        connection.execute("ALTER TABLE two ADD CHECK (b > 0)")
        connection.execute("SELECT pg_stat_force_next_flush()")
        scans = connection.execute(
            "SELECT relname, seq_scan FROM pg_stat_user_tables ORDER BY relname"
        ).fetchall()
        assert scans == [("one", 1), ("two", 2)]


_DEEP = """
CREATE TABLE tenant (id int PRIMARY KEY);
CREATE TABLE action (id int PRIMARY KEY,
  tenant_id int NOT NULL REFERENCES tenant ON DELETE CASCADE);
CREATE TABLE job (id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenant ON DELETE CASCADE);
CREATE TABLE step (id int PRIMARY KEY, job_id int NOT NULL REFERENCES job ON DELETE CASCADE,
  action_id int NOT NULL REFERENCES action ON DELETE RESTRICT);
"""


def test_rows_removed_by_a_deeper_cascade_still_block(
    lint_sql: LintSql, pg_database: Database
) -> None:
    """hatchet's Tenant -> Action with Step -> Job -> Tenant: even the tenant's own steps are
    removed too late, after the RESTRICT check of their action."""
    (finding,) = findings_of(lint_sql(_DEEP), "fk-cascade-restrict-conflict")
    assert finding.object == "public.action.action_tenant_id_fkey"
    with pg_database.connect() as connection:
        connection.execute(_DEEP)
        connection.execute(
            "INSERT INTO tenant VALUES (1); INSERT INTO action VALUES (10, 1);"
            "INSERT INTO job VALUES (5, 1); INSERT INTO step VALUES (100, 5, 10)"
        )
        with pytest.raises(psycopg.errors.RestrictViolation):
            connection.execute("DELETE FROM tenant WHERE id = 1")


def test_a_table_without_a_primary_key_but_a_unique_key_gets_it_promoted(
    lint_sql: LintSql, pg_database: Database
) -> None:
    """hatchet's and langfuse's Prisma join tables: UNIQUE (A, B) on NOT NULL columns."""
    sql = (
        'CREATE TABLE "_StepOrder" ("A" uuid NOT NULL, "B" uuid NOT NULL);\n'
        'CREATE UNIQUE INDEX "_StepOrder_AB_unique" ON "_StepOrder" ("A", "B");\n'
    )
    (finding,) = findings_of(lint_sql(sql), "table-missing-primary-key")
    assert "its unique index _StepOrder_AB_unique" in finding.message
    assert finding.fix == (
        "SET lock_timeout = '5s';\n"
        'ALTER TABLE public."_StepOrder" ADD CONSTRAINT "_StepOrder_pkey"'
        ' PRIMARY KEY USING INDEX "_StepOrder_AB_unique";'
    )
    fixed = lint_sql([("0001_join.sql", sql), ("0002_fix.sql", finding.fix)])
    assert not findings_of(fixed, "table-missing-primary-key")
    with pg_database.connect() as connection:
        connection.execute(sql)
        connection.execute(finding.fix)
        (key,) = connection.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE contype = 'p' AND conrelid = '\"_StepOrder\"'::regclass"
        ).fetchall()
        assert key == ('PRIMARY KEY ("A", "B")',)
    # nullable columns: USING INDEX would have to scan for NULLs; the identity column stays
    nullable = lint_sql(sql.replace("uuid NOT NULL", "uuid"))
    (finding,) = findings_of(nullable, "table-missing-primary-key")
    # a key column filled in batches, not an identity column that rewrites the table
    assert finding.fix is not None and "ADD COLUMN IF NOT EXISTS id bigint;" in finding.fix
    assert "GENERATED ALWAYS AS IDENTITY" not in finding.fix
