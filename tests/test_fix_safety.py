"""Fixes that keep the application working (issue 12, item 3), each shown on real SQL: the fix
the tool prints is run on PostgreSQL after the history, then the application's own use of the
schema is tried (a query as the API role, an insert, a call of the function).

The fix round trip (tests/test_fix_roundtrip.py) shows that every fix runs and clears its
finding; these show that what it leaves behind still works.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from schema_review.parse import SourceFile, parse_postgres
from schema_review.pipeline import LintRun
from schema_review.verify.apply import install_stand_ins, provide_extensions
from schema_review.verify.server import Database
from tests.helpers import LintSql, findings_of


def _execute(connection: psycopg.Connection[Any], text: str) -> None:
    """Each statement of `text` on its own, in autocommit (CONCURRENTLY included), as psql
    runs a file; the comment lines that separate a fix's migrations are comments."""
    statements, problems = parse_postgres(SourceFile("fix.sql", text))
    assert not problems, problems
    for statement in statements:
        connection.execute(statement.text.encode())


def _fix(run: LintRun, rule: str) -> str:
    (finding,) = findings_of(run, rule)
    assert finding.fix, f"{rule}: no fix"
    return finding.fix


def _applied(pg_database: Database, run: LintRun, history: str, fix: str) -> None:
    provide_extensions(pg_database.server)
    with pg_database.connect() as connection:
        install_stand_ins(connection, run.profiles[0])
        _execute(connection, history)
        _execute(connection, fix)


# -- search_path: the schemas the body uses -----------------------------------------------------

_SEARCH_PATH = """\
CREATE SCHEMA app;
CREATE TABLE app.accounts (id bigint PRIMARY KEY, active boolean NOT NULL DEFAULT true);
CREATE TABLE public.audit_log (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text);
CREATE FUNCTION public.active_accounts() RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
AS $$
BEGIN
  INSERT INTO audit_log (note) VALUES ('counted');
  RETURN (SELECT count(*) FROM accounts WHERE active);
END $$;
"""


def test_search_path_fix_sets_the_schemas_the_body_uses(
    lint_sql: LintSql, pg_database: Database
) -> None:
    run = lint_sql([("0001_app.sql", _SEARCH_PATH)])
    fix = _fix(run, "security-definer-search-path")
    # app for accounts, public for audit_log, in the order the body uses them; pg_temp last.
    assert fix == (
        "ALTER FUNCTION public.active_accounts() SET search_path = public, app, pg_temp;"
    )
    assert "''" not in fix and "pg_catalog, pg_temp" not in fix
    _applied(pg_database, run, "SET search_path = app, public;\n" + _SEARCH_PATH, fix)
    with pg_database.connect() as connection:
        connection.execute("INSERT INTO app.accounts VALUES (1, true), (2, false)")
        # A caller whose search_path reaches neither schema: the function still finds both.
        connection.execute("SET search_path = pg_catalog")
        (count,) = connection.execute("SELECT public.active_accounts()").fetchone() or (None,)
        assert count == 1


# -- security_invoker only where the view's readers can read its tables ------------------------

_VIEW = """\
CREATE SCHEMA private;
CREATE TABLE IF NOT EXISTS public.notes (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  owner_id uuid NOT NULL DEFAULT auth.uid(),
  body text
);
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_own ON public.notes FOR ALL TO authenticated
  USING (owner_id = (SELECT auth.uid())) WITH CHECK (owner_id = (SELECT auth.uid()));
CREATE TABLE IF NOT EXISTS private.salaries (user_id uuid PRIMARY KEY, amount bigint NOT NULL);
ALTER TABLE private.salaries ENABLE ROW LEVEL SECURITY;
CREATE VIEW public.note_titles AS SELECT id, left(body, 40) AS title FROM public.notes;
CREATE VIEW public.salary_total AS SELECT sum(amount) AS total FROM private.salaries;
"""


def test_security_invoker_fix_only_where_readers_can_read_the_tables(
    lint_sql: LintSql, pg_database: Database
) -> None:
    run = lint_sql([("20240101000000_notes.sql", _VIEW)], platform="supabase", runner="supabase")
    findings = {f.object: f for f in findings_of(run, "view-without-security-invoker")}
    titles, total = findings["public.note_titles"], findings["public.salary_total"]
    # The view over a table of the exposed schema: its readers are granted the table, so the
    # policies can apply to them.
    assert titles.fix == "ALTER VIEW public.note_titles SET (security_invoker = true);"
    # The view over a private table is how its readers reach it: no fix, confirm intent.
    assert not total.fix
    assert "cannot read private.salaries" in total.message
    assert "Confirm intent" in total.message
    _applied(pg_database, run, _VIEW, titles.fix)
    with pg_database.connect() as connection:
        mine, other = "00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"
        connection.execute(
            "INSERT INTO public.notes (owner_id, body) VALUES (%s, 'mine'), (%s, 'theirs')",
            (mine, other),
        )
        connection.execute("SET ROLE authenticated")
        connection.execute("SELECT set_config('request.jwt.claim.sub', %s, false)", (mine,))
        # The reader still reads the view, and the policy now applies: one row, not two.
        rows = connection.execute("SELECT title FROM public.note_titles").fetchall()
        assert rows == [("mine",)]


# -- Supabase: REVOKE from PUBLIC, anon, authenticated; GRANT to the roles that need it --------

_DEFINER = """\
CREATE TABLE IF NOT EXISTS public.team_members (
  team_id bigint NOT NULL, user_id uuid NOT NULL, PRIMARY KEY (team_id, user_id)
);
ALTER TABLE public.team_members ENABLE ROW LEVEL SECURITY;
CREATE FUNCTION public.my_team_ids() RETURNS SETOF bigint LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = public, pg_temp
  AS $$ SELECT team_id FROM public.team_members WHERE user_id = (SELECT auth.uid()) $$;
CREATE POLICY team_members_read ON public.team_members FOR SELECT TO authenticated
  USING (team_id IN (SELECT public.my_team_ids()));
"""


def test_supabase_revoke_grants_back_to_the_roles_whose_policies_call_it(
    lint_sql: LintSql, pg_database: Database
) -> None:
    run = lint_sql([("20240101000000_teams.sql", _DEFINER)], platform="supabase", runner="supabase")
    fix = _fix(run, "security-definer-executable-by-public")
    assert "REVOKE EXECUTE ON FUNCTION public.my_team_ids() FROM PUBLIC, anon, authenticated;" in (
        fix
    )
    assert "GRANT EXECUTE ON FUNCTION public.my_team_ids() TO authenticated;" in fix
    _applied(pg_database, run, _DEFINER, fix)
    with pg_database.connect() as connection:
        me = "00000000-0000-0000-0000-000000000001"
        connection.execute(
            "INSERT INTO public.team_members VALUES (1, %s), (2, gen_random_uuid())", (me,)
        )
        connection.execute("SET ROLE authenticated")
        connection.execute("SELECT set_config('request.jwt.claim.sub', %s, false)", (me,))
        # The policy still runs for signed-in users: it calls the function they may execute.
        assert connection.execute("SELECT team_id FROM public.team_members").fetchall() == [(1,)]
        connection.execute("RESET ROLE")
        connection.execute("SET ROLE anon")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("SELECT public.my_team_ids()")


def test_no_revoke_when_a_policy_for_every_role_calls_the_function(lint_sql: LintSql) -> None:
    sql = _DEFINER.replace("FOR SELECT TO authenticated", "FOR SELECT TO public")
    run = lint_sql([("20240101000000_teams.sql", sql)], platform="supabase", runner="supabase")
    (finding,) = findings_of(run, "security-definer-executable-by-public")
    assert not finding.fix  # every role needs EXECUTE: revoking it breaks the policy


# -- identity on a key with rows restarts past the maximum -------------------------------------

_TICKETS = "CREATE TABLE IF NOT EXISTS tickets (id bigint PRIMARY KEY, title text);\n"


def test_identity_on_a_key_with_rows_starts_past_the_maximum(
    lint_sql: LintSql, pg_database: Database
) -> None:
    run = lint_sql([("0001_tickets.sql", _TICKETS)])
    fix = _fix(run, "pk-without-default")
    assert "ADD GENERATED BY DEFAULT AS IDENTITY" in fix and "coalesce(max(id), 0) + 1" in fix
    with pg_database.connect() as connection:
        _execute(connection, _TICKETS)
        connection.execute("INSERT INTO tickets VALUES (1, 'a'), (7, 'b')")
        _execute(connection, fix)
        (new,) = connection.execute(
            "INSERT INTO tickets (title) VALUES ('c') RETURNING id"
        ).fetchone() or (None,)
        assert new == 8


# -- a partial unique replacing a unique drops the old one; predicates follow the type --------

_SOFT_DELETE = {
    "timestamp": (
        "CREATE TABLE IF NOT EXISTS users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " email text NOT NULL, deleted_at timestamptz,"
        " CONSTRAINT users_email_key UNIQUE (email));\n",
        "deleted_at IS NULL",
        "UPDATE users SET deleted_at = now()",
    ),
    "boolean": (
        "CREATE TABLE IF NOT EXISTS users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " email text NOT NULL, deleted boolean NOT NULL DEFAULT false);\n"
        "CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON users (email);\n",
        "NOT deleted",
        "UPDATE users SET deleted = true",
    ),
}


@pytest.mark.parametrize("kind", sorted(_SOFT_DELETE))
def test_partial_unique_replaces_the_unique_with_the_columns_predicate(
    kind: str, lint_sql: LintSql, pg_database: Database
) -> None:
    history, predicate, delete = _SOFT_DELETE[kind]
    run = lint_sql([("0001_users.sql", history)])
    fix = _fix(run, "unique-ignores-soft-delete")
    assert f"WHERE {predicate};" in fix
    assert "DROP CONSTRAINT users_email_key" in fix or "DROP INDEX CONCURRENTLY" in fix
    with pg_database.connect() as connection:
        _execute(connection, history)
        _execute(connection, fix)
        connection.execute("INSERT INTO users (email) VALUES ('a@example.com')")
        connection.execute(delete)
        # The deleted row no longer holds the address: the old unique is gone.
        connection.execute("INSERT INTO users (email) VALUES ('a@example.com')")
        with pytest.raises(psycopg.errors.UniqueViolation):
            connection.execute("INSERT INTO users (email) VALUES ('a@example.com')")
        (definition,) = connection.execute(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index"
            " WHERE indrelid = 'users'::regclass AND indisunique AND NOT indisprimary"
        ).fetchone() or (None,)
        assert definition is not None and definition.endswith(f"WHERE {predicate_sql(kind)}")


def predicate_sql(kind: str) -> str:
    """The predicate as pg_get_indexdef prints it."""
    return "(deleted_at IS NULL)" if kind == "timestamp" else "(NOT deleted)"


# -- enum-to-enum conversions cast through text ------------------------------------------------

_ENUM_SWAP = """\
CREATE TYPE order_status AS ENUM ('new', 'paid', 'void');
CREATE TABLE IF NOT EXISTS orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  status order_status NOT NULL DEFAULT 'new');
-- file: 0002_drop_void.sql
ALTER TYPE order_status RENAME TO order_status_old;
CREATE TYPE order_status AS ENUM ('new', 'paid');
ALTER TABLE orders ALTER COLUMN status TYPE order_status USING status::text::order_status;
DROP TYPE order_status_old;
"""


def test_enum_to_enum_conversion_casts_through_text(
    lint_sql: LintSql, pg_database: Database
) -> None:
    first, second = _ENUM_SWAP.split("-- file: 0002_drop_void.sql\n")
    broken = second.replace(" USING status::text::order_status", "")
    run = lint_sql([("0001_orders.sql", first), ("0002_drop_void.sql", broken)])
    fix = _fix(run, "alter-type-with-incompatible-default")
    # No cast joins two enums: the conversion goes through text, the default is written again.
    assert "USING status::text::order_status" in fix
    with pg_database.connect() as connection:
        _execute(connection, first)
        connection.execute("INSERT INTO orders (status) VALUES ('paid'), (DEFAULT)")
        _execute(connection, second.split("ALTER TABLE")[0])
        _execute(connection, fix)
        connection.execute("DROP TYPE order_status_old")
        rows = connection.execute("SELECT status::text FROM orders ORDER BY id").fetchall()
        assert rows == [("paid",), ("new",)]
        connection.execute("INSERT INTO orders DEFAULT VALUES")
