"""The second catalogue's machinery: rule options, the supabase profile, privileges, views,
triggers and the cross-object facts the design and security rules read."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from schema_review.cli import main
from schema_review.config import ConfigError, Settings, load_settings
from schema_review.model import SchemaModel, replay
from schema_review.parse import SourceFile, Statement, parse_postgres
from schema_review.pipeline import lint
from schema_review.profile import Profile
from tests.helpers import REPO, LintSql, findings_of

SUPABASE_EXAMPLE = REPO / "examples" / "supabase-app" / "supabase" / "migrations"


def replay_sql(text: str, profile: Profile | None = None) -> SchemaModel:
    statements: list[Statement] = []
    parsed, problems = parse_postgres(SourceFile("0001.sql", text, order=0))
    assert not problems
    statements.extend(parsed)
    model = replay(statements, profile)
    assert not model.internal_errors
    return model


# -- options -------------------------------------------------------------------------------


def test_options_change_a_rules_name_list(lint_sql: LintSql) -> None:
    sql = "CREATE TABLE t (id bigint PRIMARY KEY, phase text NOT NULL, status text NOT NULL);"
    default = lint_sql(sql, select=("enum-like-column-without-check",))
    assert [f.object for f in findings_of(default, "enum-like-column-without-check")] == [
        "public.t.status"
    ]
    custom = lint_sql(
        sql,
        select=("enum-like-column-without-check",),
        rule_options={"enum-like-column-without-check": {"words": ["phase"]}},
    )
    assert [f.object for f in findings_of(custom, "enum-like-column-without-check")] == [
        "public.t.phase"
    ]


def test_configuring_an_off_rule_turns_it_on(lint_sql: LintSql) -> None:
    sql = "CREATE TABLE IF NOT EXISTS notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);"
    assert not findings_of(lint_sql(sql, select=()), "required-columns")
    run = lint_sql(sql, select=(), rule_options={"required-columns": {"columns": ["created_at"]}})
    (finding,) = findings_of(run, "required-columns")
    assert "lacks created_at" in finding.message


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"no-such-rule": {}}, "unknown rule no-such-rule"),
        ({"required-columns": {"colums": []}}, "has no option colums"),
        ({"required-columns": {"columns": "created_at"}}, "must be a list"),
    ],
)
def test_bad_options_are_configuration_errors(
    tmp_path: Path, options: dict[str, dict[str, object]], message: str
) -> None:
    (tmp_path / "0001.sql").write_text("SELECT 1;\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        lint([tmp_path], Settings(rule_options=options))


def test_options_and_platform_from_the_configuration_file(tmp_path: Path) -> None:
    config = tmp_path / ".schema-review.yaml"
    config.write_text(
        "platform: supabase\noptions:\n  required-columns:\n    columns: [created_at]\n",
        encoding="utf-8",
    )
    settings = load_settings(config)
    assert settings.platform == "supabase"
    assert settings.rule_options == {"required-columns": {"columns": ["created_at"]}}
    config.write_text("platform: firebase\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'platform' must be one of postgres, supabase"):
        load_settings(config)


# -- the supabase profile --------------------------------------------------------------------


def test_supabase_folder_is_detected_and_linted_with_the_platform() -> None:
    run = lint([SUPABASE_EXAMPLE], Settings())
    assert run.profiles[0].platform == "supabase"
    assert run.profiles[0].runner == "supabase"
    by_rule = {(f.rule, f.object) for f in run.result.findings}
    assert ("rls-not-enabled", "public.teams") in by_rule
    assert ("rls-not-enabled", "public.invites") in by_rule
    assert ("rls-not-enabled", "public.profiles") not in by_rule  # RLS is on
    assert ("security-definer-executable-by-public", "public.accept_invite") in by_rule
    assert ("rls-auth-function-per-row", "public.profiles.profiles_own_update") in by_rule
    assert ("rls-policy-subquery", "public.team_members.team_members_read") in by_rule
    assert ("rls-policy-recursion", "public.team_members.team_members_read") in by_rule
    assert ("rls-anon-full-table-access", "public.profiles.profiles_public_read") in by_rule
    rules = {f.rule for f in run.result.findings}
    # auth.users is known (uuid key), pgcrypto's gen_random_bytes is preinstalled.
    assert "fk-type-mismatch" not in rules
    assert "missing-extension" not in rules


def test_the_same_folder_as_plain_postgres_has_no_exposed_schema() -> None:
    run = lint([SUPABASE_EXAMPLE], Settings(platform="postgres"))
    rules = {f.rule for f in run.result.findings}
    assert "rls-not-enabled" not in rules
    assert "rls-anon-full-table-access" not in rules


def test_supabase_knows_auth_users_and_the_api_roles() -> None:
    sql = """
    CREATE TABLE public.posts (id bigint PRIMARY KEY, author_id bigint REFERENCES auth.users (id));
    CREATE FUNCTION public.f() RETURNS int LANGUAGE sql SECURITY DEFINER AS $$ SELECT 1 $$;
    REVOKE EXECUTE ON FUNCTION public.f() FROM PUBLIC;
    """
    model = replay_sql(sql, Profile(platform="supabase"))
    fk = model.tables[("public", "posts")].foreign_keys[0]
    assert model.fk_type_mismatches(fk) == ["author_id bigint, users.id uuid"]
    function = model.functions[("public", "f", "")]
    assert function.executors == {"anon", "authenticated", "service_role"}
    plain = replay_sql(sql)
    assert plain.functions[("public", "f", "")].executors == set()
    assert plain.fk_type_mismatches(plain.tables[("public", "posts")].foreign_keys[0]) == []


def test_platform_option_on_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "0001.sql").write_text(
        "CREATE TABLE IF NOT EXISTS public.notes (id bigint GENERATED ALWAYS AS IDENTITY "
        "PRIMARY KEY);\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    args = ["lint", "--no-cache", "--fail-on", "none", str(tmp_path)]
    assert "rls-not-enabled" not in runner.invoke(main, args).output
    assert "rls-not-enabled" in runner.invoke(main, [*args, "--platform", "supabase"]).output


# -- privileges, views, triggers, foreign keys ------------------------------------------------


def test_grants_revokes_and_default_privileges_decide_who_executes() -> None:
    model = replay_sql(
        """
        CREATE FUNCTION a() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
        REVOKE ALL ON FUNCTION a() FROM PUBLIC;
        GRANT EXECUTE ON FUNCTION a() TO app;
        ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
        CREATE FUNCTION b() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
        CREATE FUNCTION s.c() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
        GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA s TO reporting;
        """
    )
    assert model.functions[("public", "a", "")].executors == {"app"}
    assert model.functions[("public", "b", "")].executors == set()
    assert model.functions[("s", "c", "")].executors == {"reporting"}
    grants = [c for c in model.changes if c.kind == "grant"]
    assert [(g.grantees, g.privileges, g.names) for g in grants] == [
        (("app",), ("execute",), ("public.a",)),
        (("reporting",), ("execute",), ()),
    ]


def test_view_security_invoker_from_create_and_alter_view() -> None:
    model = replay_sql(
        """
        CREATE TABLE t (id int PRIMARY KEY);
        ALTER TABLE t ENABLE ROW LEVEL SECURITY;
        CREATE VIEW v1 WITH (security_invoker = false) AS SELECT id FROM t;
        CREATE VIEW v2 AS SELECT id FROM t;
        ALTER VIEW v2 SET (security_invoker = on);
        """
    )
    v1 = model.views[("public", "v1")]
    v2 = model.views[("public", "v2")]
    assert (v1.security_invoker, v2.security_invoker) == (False, True)
    assert model.view_rls_tables(v1) == ["public.t"]
    assert ("public", "v2") not in model.tables  # ALTER VIEW is not a table


def test_trigger_timing_events_and_missing_function() -> None:
    model = replay_sql(
        """
        CREATE TABLE t (id int PRIMARY KEY);
        CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
        CREATE TRIGGER a BEFORE INSERT OR UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f();
        CREATE TRIGGER b AFTER DELETE ON t FOR EACH STATEMENT EXECUTE FUNCTION nowhere();
        CREATE TRIGGER c BEFORE UPDATE ON t FOR EACH ROW
          EXECUTE FUNCTION suppress_redundant_updates_trigger();
        """
    )
    triggers = model.tables[("public", "t")].triggers
    assert (triggers["a"].timing, triggers["a"].events) == ("before", ["insert", "update"])
    assert (triggers["b"].timing, triggers["b"].events) == ("after", ["delete"])
    created = {
        c.object.name: c.detail
        for c in model.changes
        if c.kind == "create_trigger" and c.object is not None
    }
    assert created == {"a": "", "b": "nowhere", "c": ""}


def test_foreign_key_actions_written_or_not() -> None:
    model = replay_sql(
        """
        CREATE TABLE p (id int PRIMARY KEY);
        CREATE TABLE c (
          id int PRIMARY KEY,
          a int REFERENCES p,
          b int REFERENCES public.p (id) ON DELETE NO ACTION,
          d int, FOREIGN KEY (d) REFERENCES "p" (id) MATCH SIMPLE ON UPDATE CASCADE,
          e int REFERENCES p /* the parent */ (id) -- deleted with it
            ON DELETE CASCADE,
          f int REFERENCES p (id), g int DEFAULT 0
        );
        ALTER TABLE c ADD COLUMN h int REFERENCES p (id);
        ALTER TABLE c ADD CONSTRAINT c_i_fkey FOREIGN KEY (g) REFERENCES p (id) ON DELETE SET NULL;
        """
    )
    given = {fk.columns[0]: fk.actions_given for fk in model.tables[("public", "c")].foreign_keys}
    assert given == {
        "a": False,
        "b": True,
        "d": True,
        "e": True,
        "f": False,
        "h": False,
        "g": True,
    }


def test_cascade_blockers_reason_about_rows() -> None:
    model = replay_sql(
        """
        CREATE TABLE account (id int PRIMARY KEY);
        CREATE TABLE project (id int PRIMARY KEY,
          account_id int REFERENCES account ON DELETE CASCADE, UNIQUE (id, account_id));
        CREATE TABLE task (id int PRIMARY KEY,
          account_id int REFERENCES account ON DELETE CASCADE,
          project_id int REFERENCES project);
        CREATE TABLE note (id int PRIMARY KEY,
          account_id int REFERENCES account ON DELETE CASCADE, project_id int,
          FOREIGN KEY (project_id, account_id) REFERENCES project (id, account_id));
        CREATE TABLE invoice (id int PRIMARY KEY, project_id int REFERENCES project);
        """
    )
    cascade = model.tables[("public", "project")].foreign_keys[0]
    blockers = model.cascade_blockers(cascade)
    # Another account's task may point at this account's project and block the delete; a
    # note's key carries the account, so every note of the account's projects goes with it.
    assert [b.table.name for b in blockers] == ["task", "invoice"]


def test_policy_facts() -> None:
    model = replay_sql(
        """
        CREATE TABLE members (org_id int, user_id uuid);
        CREATE TABLE projects (id int PRIMARY KEY, org_id int);
        CREATE POLICY hoisted ON projects TO authenticated
          USING (org_id IN (SELECT org_id FROM members WHERE user_id = (SELECT auth.uid())));
        CREATE POLICY correlated ON projects TO authenticated
          USING (EXISTS (SELECT 1 FROM members m WHERE m.org_id = projects.org_id));
        CREATE POLICY shadowed ON projects AS RESTRICTIVE TO authenticated
          USING (EXISTS (SELECT 1 FROM members m WHERE m.org_id = org_id));
        CREATE POLICY per_row ON projects FOR SELECT
          USING (current_setting('app.org')::int = org_id);
        """
    )
    policies = model.tables[("public", "projects")].policies
    assert model.correlated_subqueries(policies["hoisted"]) == []
    assert len(model.correlated_subqueries(policies["correlated"])) == 1
    # Unqualified, org_id is the member's own column: not correlated (and not what was meant).
    assert model.correlated_subqueries(policies["shadowed"]) == []
    session = ["auth.uid", "current_setting"]
    assert policies["hoisted"].calls_outside_subqueries(session) == []
    assert policies["per_row"].calls_outside_subqueries(session) == ["current_setting()"]
    overlapping = model.tables[("public", "projects")].overlapping_permissive_policies
    assert overlapping == [
        "select for authenticated: correlated, hoisted, per_row",
        "insert for authenticated: correlated, hoisted",
        "update for authenticated: correlated, hoisted",
        "delete for authenticated: correlated, hoisted",
    ]


# -- conventions ----------------------------------------------------------------------------


def test_naming_convention_templates_and_patterns(lint_sql: LintSql) -> None:
    sql = """
    CREATE TABLE IF NOT EXISTS "Orders" (id bigint PRIMARY KEY, user_id bigint NOT NULL);
    CREATE INDEX IF NOT EXISTS orders_user ON "Orders" (user_id);
    """
    run = lint_sql(
        sql,
        select=(),
        rule_options={"naming-convention": {"index": "ix_{table}_{columns}"}},
    )
    (finding,) = findings_of(run, "naming-convention")
    assert "table Orders (expected to match ^[a-z][a-z0-9_]*$)" in finding.message
    assert "index orders_user (expected ix_Orders_user_id)" in finding.message


def test_require_schema_qualified_and_enum_style(lint_sql: LintSql) -> None:
    sql = """
    CREATE TYPE public.mood AS ENUM ('ok', 'sad');
    CREATE TABLE IF NOT EXISTS people (id bigint PRIMARY KEY, mood public.mood,
      kind text CHECK (kind IN ('a', 'b')));
    CREATE INDEX IF NOT EXISTS people_kind_idx ON people (kind);
    CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
    """
    run = lint_sql(sql, select=("require-schema-qualified", "enum-style"))
    assert [f.message.split()[0] for f in findings_of(run, "require-schema-qualified")] == [
        "people"
    ]
    assert [f.object for f in findings_of(run, "enum-style")] == ["public.people.mood"]
    enum_team = lint_sql(
        sql, select=("enum-style",), rule_options={"enum-style": {"style": "enum"}}
    )
    assert [f.object for f in findings_of(enum_team, "enum-style")] == ["public.people.kind"]


def test_generated_names_are_cut_the_way_postgresql_cuts_them() -> None:
    from schema_review.model.objects import generated_name

    assert generated_name("users", "email", "key") == "users_email_key"
    assert generated_name("users", "", "pkey") == "users_pkey"
    long = generated_name(
        "in_app_agent_pending_tool_approvals", "conversation_id_project_id", "fkey"
    )
    # The longer part (the table) loses characters first; the label is kept.
    assert long == "in_app_agent_pending_tool_appro_conversation_id_project_id_fkey"
    assert len(long) == 63


def test_a_unique_constraint_on_the_primary_key_is_the_duplicate(lint_sql: LintSql) -> None:
    # Added later, the UNIQUE on the primary key's columns is the index to drop.
    sql = (
        "CREATE TABLE IF NOT EXISTS accounts (id uuid, name text, PRIMARY KEY (id));\n"
        "ALTER TABLE accounts ADD UNIQUE (id);"
    )
    (finding,) = findings_of(lint_sql(sql, select=("duplicate-index",)), "duplicate-index")
    assert finding.object == "public.accounts_id_key"
    assert finding.fix is not None and "DROP CONSTRAINT accounts_id_key" in finding.fix


def test_unique_and_primary_key_in_one_create_table_make_one_index(lint_sql: LintSql) -> None:
    # transformIndexConstraints keeps the primary key only (basejump's `id uuid unique
    # primary key`): nothing to drop, as a real server shows.
    sql = "CREATE TABLE IF NOT EXISTS accounts (id uuid UNIQUE, name text, PRIMARY KEY (id));"
    run = lint_sql(sql, select=("duplicate-index",))
    assert findings_of(run, "duplicate-index") == []
    table = run.models[0].tables[("public", "accounts")]
    assert [i.name for i in table.live_indexes] == ["accounts_pkey"]
    assert sorted(table.constraints) == ["accounts_pkey"]


def test_policy_recursion_direct_mutual_and_after_alter_policy() -> None:
    # PostgreSQL's own regression test (rowsecurity.sql): direct, then mutual recursion.
    model = replay_sql(
        """
        CREATE TABLE rec1 (x integer, y integer);
        CREATE POLICY r1 ON rec1 USING (x = (SELECT r.x FROM rec1 r WHERE y = r.y));
        ALTER TABLE rec1 ENABLE ROW LEVEL SECURITY;
        CREATE TABLE rec2 (a integer, b integer);
        CREATE TABLE plain (a integer);
        """
    )
    r1 = model.tables[("public", "rec1")].policies["r1"]
    assert model.policy_recursion(r1) == ["public.rec1", "public.rec1"]
    model = replay_sql(
        """
        CREATE TABLE rec1 (x integer, y integer);
        CREATE TABLE rec2 (a integer, b integer);
        CREATE POLICY r1 ON rec1 USING (x = (SELECT r.x FROM rec1 r WHERE y = r.y));
        ALTER POLICY r1 ON rec1 USING (x = (SELECT a FROM rec2 WHERE b = y));
        CREATE POLICY r2 ON rec2 USING (a = (SELECT x FROM rec1 WHERE y = b));
        ALTER TABLE rec1 ENABLE ROW LEVEL SECURITY;
        ALTER TABLE rec2 ENABLE ROW LEVEL SECURITY;
        """
    )
    r1 = model.tables[("public", "rec1")].policies["r1"]
    assert model.policy_recursion(r1) == ["public.rec1", "public.rec2", "public.rec1"]
    assert r1.defined is not None and r1.defined.statement.kind == "AlterPolicyStmt"
    # Without row level security on rec2, its policy never applies: no recursion.
    model = replay_sql(
        """
        CREATE TABLE rec1 (x integer, y integer);
        CREATE TABLE rec2 (a integer, b integer);
        CREATE POLICY r1 ON rec1 USING (x = (SELECT a FROM rec2 WHERE b = y));
        CREATE POLICY r2 ON rec2 USING (a = (SELECT x FROM rec1 WHERE y = b));
        ALTER TABLE rec1 ENABLE ROW LEVEL SECURITY;
        """
    )
    assert model.policy_recursion(model.tables[("public", "rec1")].policies["r1"]) == []


def test_naming_convention_of_a_key_whose_columns_are_unknown(lint_sql: LintSql) -> None:
    # ADD PRIMARY KEY USING INDEX of an index the files never made (found by the fuzzer): the
    # key has no columns to name it after, which is no reason to crash the rule.
    run = lint_sql(
        "CREATE TABLE t (a int NOT NULL);\n"
        "ALTER TABLE t ADD PRIMARY KEY USING INDEX made_elsewhere;\n",
        select=("naming-convention",),
        rule_options={"naming-convention": {"primary_key": "{table}_{column}_pkey"}},
    )
    # (The key is named t_pkey, which the template gives for no columns: nothing to report.)
    assert [f.rule for f in run.result.findings] == []
