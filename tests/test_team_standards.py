"""Team standards (issue 16): naming templates and presets, the options teams require, and
the configuration checked as a whole."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from schema_review.cli import main
from schema_review.config import _KEYS as config_keys
from schema_review.rules import load_rules
from schema_review.rules.options import config_schema
from tests.helpers import REPO, LintSql, findings_of, write_migrations

SCHEMA_FILE = REPO / "schema_review" / "schema-review.schema.json"

# -- naming-convention: templates ----------------------------------------------------------

_DRIZZLE_SQL = """
CREATE TABLE IF NOT EXISTS users (id uuid PRIMARY KEY, email text NOT NULL);
CREATE TABLE IF NOT EXISTS chat_sessions (id uuid PRIMARY KEY, user_id uuid NOT NULL, tool_id uuid);
ALTER TABLE chat_sessions ADD CONSTRAINT chat_sessions_user_id_users_id_fk
  FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE chat_sessions ADD CONSTRAINT chat_sessions_tool_id_fkey
  FOREIGN KEY (tool_id) REFERENCES users (id);
"""


def test_a_foreign_key_template_with_the_referenced_table_is_a_finding_not_an_error(
    lint_sql: LintSql,
) -> None:
    run = lint_sql(
        _DRIZZLE_SQL,
        select=("naming-convention",),
        rule_options={
            "naming-convention": {"foreign_key": "{table}_{columns}_{ref_table}_{ref_columns}_fk"}
        },
    )
    assert not findings_of(run, "internal-error")
    (finding,) = findings_of(run, "naming-convention")
    assert finding.object == "public.chat_sessions"
    assert finding.message == (
        "public.chat_sessions: foreign key chat_sessions_tool_id_fkey "
        "(expected chat_sessions_tool_id_users_id_fk)"
    )


# -- naming-convention: presets ------------------------------------------------------------
# Each preset's SQL holds names the tool generated (the Rails and Django names are the
# examples of their documentation, the TypeORM ones appear in many public migrations), and
# one name written by hand, which is the only finding. The long Prisma name is langfuse's
# (../shared/corpus/langfuse), cut the way Prisma cuts it.
_PRESETS = {
    "postgres": (
        """
        CREATE TABLE IF NOT EXISTS users (id bigint PRIMARY KEY, email text UNIQUE);
        CREATE TABLE IF NOT EXISTS posts (id bigint PRIMARY KEY, user_id bigint REFERENCES users);
        CREATE INDEX IF NOT EXISTS posts_user_id_idx ON posts (user_id);
        CREATE INDEX IF NOT EXISTS by_user ON posts (user_id, id);
        """,
        "public.posts: index by_user (expected posts_user_id_id_idx)",
    ),
    "drizzle": (
        """
        CREATE TABLE IF NOT EXISTS users (id uuid PRIMARY KEY, email text NOT NULL,
          CONSTRAINT users_email_unique UNIQUE (email));
        CREATE TABLE IF NOT EXISTS tags (post_id uuid, tag text,
          CONSTRAINT tags_post_id_tag_pk PRIMARY KEY (post_id, tag));
        CREATE TABLE IF NOT EXISTS posts (id uuid PRIMARY KEY, user_id uuid NOT NULL);
        ALTER TABLE posts ADD CONSTRAINT posts_user_id_users_id_fk
          FOREIGN KEY (user_id) REFERENCES public.users (id);
        CREATE INDEX IF NOT EXISTS posts_user_id_index ON posts (user_id);
        CREATE INDEX IF NOT EXISTS posts_user_idx ON posts (user_id, id);
        """,
        "public.posts: index posts_user_idx (expected posts_user_id_id_index)",
    ),
    "prisma": (
        """
        CREATE TABLE "User" ("id" TEXT NOT NULL, "email" TEXT NOT NULL,
          CONSTRAINT "User_pkey" PRIMARY KEY ("id"));
        CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
        CREATE TABLE "Post" ("id" TEXT NOT NULL, "authorId" TEXT NOT NULL,
          CONSTRAINT "Post_pkey" PRIMARY KEY ("id"));
        CREATE INDEX "Post_authorId_idx" ON "Post"("authorId");
        ALTER TABLE "Post" ADD CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId")
          REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
        CREATE TABLE "in_app_agent_pending_tool_approvals" ("conversation_id" TEXT NOT NULL,
          "project_id" TEXT NOT NULL, "id" TEXT NOT NULL,
          CONSTRAINT "in_app_agent_pending_tool_approvals_pkey" PRIMARY KEY ("id"));
        CREATE TABLE "in_app_agent_conversations" ("id" TEXT NOT NULL, "project_id" TEXT NOT NULL,
          CONSTRAINT "in_app_agent_conversations_pkey" PRIMARY KEY ("id", "project_id"));
        ALTER TABLE "in_app_agent_pending_tool_approvals"
          ADD CONSTRAINT "in_app_agent_pending_tool_approvals_conversation_id_projec_fkey"
          FOREIGN KEY ("conversation_id", "project_id")
          REFERENCES "in_app_agent_conversations"("id", "project_id");
        CREATE INDEX "Post_author" ON "Post"("authorId", "id");
        """,
        "public.Post: index Post_author (expected Post_authorId_id_idx)",
    ),
    "rails": (
        """
        CREATE TABLE authors (id bigserial PRIMARY KEY);
        CREATE TABLE articles (id bigserial PRIMARY KEY, author_id bigint, slug text);
        CREATE INDEX index_articles_on_author_id ON articles (author_id);
        CREATE UNIQUE INDEX index_articles_on_author_id_and_slug ON articles (author_id, slug);
        ALTER TABLE articles ADD CONSTRAINT fk_rails_e74ce85cbc
          FOREIGN KEY (author_id) REFERENCES authors (id);
        CREATE INDEX articles_slug_idx ON articles (slug);
        """,
        "public.articles: index articles_slug_idx (expected index_articles_on_slug)",
    ),
    "django": (
        """
        CREATE TABLE polls_question (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY);
        CREATE TABLE polls_choice (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
          question_id bigint NOT NULL);
        ALTER TABLE polls_choice
          ADD CONSTRAINT polls_choice_question_id_c5b4b260_fk_polls_question_id
          FOREIGN KEY (question_id) REFERENCES polls_question (id) DEFERRABLE INITIALLY DEFERRED;
        CREATE INDEX polls_choice_question_id_c5b4b260 ON polls_choice (question_id);
        CREATE INDEX polls_choice_id_question ON polls_choice (id, question_id);
        """,
        "public.polls_choice: index polls_choice_id_question "
        "(expected polls_choice_id_question_id_",
    ),
    "typeorm": (
        """
        CREATE TABLE "user" ("id" SERIAL NOT NULL, "email" character varying NOT NULL,
          CONSTRAINT "UQ_e12875dfb3b1d92d7d7c5377e22" UNIQUE ("email"),
          CONSTRAINT "PK_cace4a159ff9f2512dd42373760" PRIMARY KEY ("id"));
        CREATE INDEX "IDX_e12875dfb3b1d92d7d7c5377e2" ON "user" ("email");
        CREATE INDEX "user_email_id" ON "user" ("email", "id");
        """,
        "public.user: index user_email_id (expected IDX_",
    ),
}


@pytest.mark.parametrize("preset", sorted(_PRESETS))
def test_each_preset_accepts_the_names_its_tool_generates(lint_sql: LintSql, preset: str) -> None:
    sql, message = _PRESETS[preset]
    run = lint_sql(
        sql, select=("naming-convention",), rule_options={"naming-convention": {"preset": preset}}
    )
    assert [f.message[: len(message)] for f in findings_of(run, "naming-convention")] == [message]


def test_a_kind_given_its_own_value_overrides_the_preset(lint_sql: LintSql) -> None:
    sql, _ = _PRESETS["rails"]
    options = {"preset": "rails", "index": "^(index_|idx_)", "foreign_key": ""}
    run = lint_sql(sql, select=("naming-convention",), rule_options={"naming-convention": options})
    (finding,) = findings_of(run, "naming-convention")
    assert finding.message == (
        "public.articles: index articles_slug_idx (expected to match ^(index_|idx_))"
    )


def test_case_modifiers_rename_the_table_and_columns(lint_sql: LintSql) -> None:
    sql = """
    CREATE TABLE "UserAccount" (id bigint, "createdAt" timestamptz);
    CREATE INDEX "IX_user_account_created_at" ON "UserAccount" ("createdAt");
    CREATE INDEX "user_account_created_at" ON "UserAccount" ("createdAt", id);
    """
    options = {"index": "IX_{table:snake}_{columns:snake}", "table": "", "column": ""}
    run = lint_sql(sql, select=("naming-convention",), rule_options={"naming-convention": options})
    (finding,) = findings_of(run, "naming-convention")
    assert finding.message.endswith(
        "index user_account_created_at (expected IX_user_account_created_at_id)"
    )


# -- the options teams require ---------------------------------------------------------------


def test_required_down_migrations_are_reported_in_a_folder_that_keeps_none(
    lint_sql: LintSql,
) -> None:
    files = [("0001_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY);")]
    assert not findings_of(lint_sql(files), "missing-down-migration")
    run = lint_sql(files, rule_options={"missing-down-migration": {"required": True}})
    (finding,) = findings_of(run, "missing-down-migration")
    assert finding.message == (
        "no down migration, which the team's standard requires: a rollback stops here"
    )


def test_foreign_keys_must_write_the_actions_the_team_lists(lint_sql: LintSql) -> None:
    sql = """
    CREATE TABLE users (id bigint PRIMARY KEY);
    CREATE TABLE posts (id bigint PRIMARY KEY,
      author_id bigint REFERENCES users (id) ON DELETE CASCADE,
      editor_id bigint REFERENCES users (id) ON DELETE SET NULL ON UPDATE NO ACTION,
      owner_id bigint REFERENCES users (id));
    """
    default = lint_sql(sql, select=("fk-explicit-actions",))
    assert [f.object for f in findings_of(default, "fk-explicit-actions")] == [
        "public.posts.posts_owner_id_fkey"
    ]
    both = lint_sql(sql, rule_options={"fk-explicit-actions": {"actions": ["delete", "update"]}})
    assert [f.message for f in findings_of(both, "fk-explicit-actions")] == [
        "foreign key posts_author_id_fkey on public.posts does not say what happens when a row "
        "of public.users is given a new key (no ON UPDATE: NO ACTION by default)",
        "foreign key posts_owner_id_fkey on public.posts does not say what happens when a row "
        "of public.users is deleted or given a new key (no ON DELETE, no ON UPDATE: NO ACTION "
        "by default)",
    ]


def test_updated_at_without_a_trigger_is_reported_before_any_table_has_one(
    lint_sql: LintSql,
) -> None:
    sql = "CREATE TABLE notes (id bigint PRIMARY KEY, updated_at timestamptz DEFAULT now());"
    assert not findings_of(lint_sql(sql), "updated-at-without-trigger")
    run = lint_sql(sql, rule_options={"updated-at-without-trigger": {"require_trigger": True}})
    (finding,) = findings_of(run, "updated-at-without-trigger")
    assert finding.object == "public.notes"
    assert "kept current by no trigger, which the team's standard requires" in finding.message


def test_required_columns_per_table_pattern_and_per_kind(lint_sql: LintSql) -> None:
    sql = """
    CREATE TABLE posts (id bigint PRIMARY KEY, created_at timestamptz, updated_at timestamptz);
    CREATE TABLE comments (id bigint PRIMARY KEY, created_at timestamptz, updated_at timestamptz,
      deleted_at timestamptz);
    CREATE TABLE audit_events (id bigint PRIMARY KEY);
    CREATE TABLE tags (id bigint PRIMARY KEY, created_at timestamptz);
    """
    options = {
        "columns": ["created_at", "updated_at"],
        "tables": "^(?!audit_)",
        "kinds": {"soft delete": {"columns": ["deleted_at"], "tables": "^(posts|comments)$"}},
    }
    run = lint_sql(sql, rule_options={"required-columns": options})
    assert [f.message for f in findings_of(run, "required-columns")] == [
        "public.posts lacks deleted_at (soft delete), which the team's standard requires on its "
        "tables",
        "public.tags lacks updated_at, which the team's standard requires on its tables",
    ]


def test_timestamp_names_the_team_does_not_use(lint_sql: LintSql) -> None:
    sql = """
    CREATE TABLE messages (id bigint PRIMARY KEY, "timestamp" timestamptz DEFAULT now(),
      created_at timestamptz DEFAULT now());
    CREATE TABLE sessions (id bigint PRIMARY KEY, created_at timestamptz DEFAULT now(),
      started_at timestamptz DEFAULT now(), ended_at timestamptz);
    """
    preferred = {"created_at": ["timestamp", "started_at"]}
    run = lint_sql(
        sql,
        select=("timestamp-naming-convention", "redundant-timestamp-columns"),
        rule_options={"timestamp-naming-convention": {"preferred": preferred}},
    )
    assert [f.message for f in findings_of(run, "timestamp-naming-convention")] == [
        "public.messages.timestamp is named timestamp: the team's name for it is created_at, "
        "which the table also has: two columns for one time",
        "public.sessions.started_at is named started_at: the team's name for it is created_at, "
        "which the table also has: two columns for one time",
    ]
    # Both pairs always agree (a default of now() each): the design rule says so too.
    assert [f.object for f in findings_of(run, "redundant-timestamp-columns")] == [
        "public.messages",
        "public.sessions",
    ]


# -- the configuration checked as a whole -----------------------------------------------------

_BAD_VALUES = {
    "unknown placeholder": (
        "options:\n  naming-convention:\n    foreign_key: '{table}_{colums}_fk'\n",
        ":3: options: naming-convention.foreign_key: unknown placeholder {colums} in "
        "'{table}_{colums}_fk' (valid: {table}, {columns}, {column}, {ref_table}, "
        "{ref_columns}, each with an optional case modifier :lower, :upper, :snake, :camel, "
        ":pascal)",
    ),
    "placeholder of another kind": (
        "options:\n  naming-convention:\n    index: '{table}_{ref_table}_idx'\n",
        ":3: options: naming-convention.index: {ref_table} in '{table}_{ref_table}_idx': only a "
        "foreign key references a table",
    ),
    "bad regex": (
        "options:\n  required-columns:\n    columns: [created_at]\n    tables: '^(?!audit_'\n",
        ":4: options: required-columns.tables: '^(?!audit_' is not a valid regular expression: "
        "missing ), unterminated subpattern at position 1",
    ),
    "bad naming regex": (
        "options:\n  naming-convention:\n    table: '^[a-z'\n",
        ":3: options: naming-convention.table: '^[a-z' is not a valid regular expression: "
        "unterminated character set at position 1",
    ),
    "wrong type": (
        "options:\n  missing-down-migration:\n    required: 'yes'\n",
        ":3: options: missing-down-migration.required: must be true or false, not 'yes'",
    ),
    "unknown action": (
        "options:\n  fk-explicit-actions:\n    actions: [delete, truncate]\n",
        ":3: options: fk-explicit-actions.actions: must be a list of delete, update, not "
        "['delete', 'truncate']",
    ),
    "unknown preset": (
        "options:\n  naming-convention:\n    preset: sequelize\n",
        ":3: options: naming-convention.preset: must be one of postgres, drizzle, prisma, rails, "
        "django, typeorm, not 'sequelize'",
    ),
    "unknown style": (
        "options:\n  enum-style:\n    style: enums\n",
        ":3: options: enum-style.style: must be one of check, enum, lookup, not 'enums'",
    ),
    "unknown option": (
        "options:\n  naming-convention:\n    foreign_keys: '{table}_fk'\n",
        ":3: options: naming-convention has no option foreign_keys (its options: check, column, "
        "exclude, foreign_key, index, preset, primary_key, table, unique, unique_index)",
    ),
    "group without columns": (
        "options:\n  required-columns:\n    kinds:\n      soft delete: {tables: '^posts$'}\n",
        ":3: options: required-columns.kinds: group 'soft delete' needs a non-empty list of "
        "columns",
    ),
}


@pytest.mark.parametrize("case", sorted(_BAD_VALUES))
@pytest.mark.parametrize("command", ["lint", "config check"])
def test_each_invalid_value_is_one_located_line_and_exit_2(
    tmp_path: Path, case: str, command: str
) -> None:
    text, message = _BAD_VALUES[case]
    config = tmp_path / ".schema-review.yaml"
    config.write_text(text, encoding="utf-8")
    folder = write_migrations(tmp_path / "m", [("0001_a.sql", "CREATE TABLE a (id int);")])
    args = ["lint", str(folder), "--config", str(config)]
    if command == "config check":
        args = ["config", "check", str(config)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert result.output == f"schema-review: error: {config}{message}\n"
    assert "Traceback" not in result.output


def test_config_check_finds_the_configuration_and_prints_the_effective_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "pyproject.toml").write_text(
        "[tool.schema-review]\nfail-on = 'medium'\nselect = ['all']\n\n"
        "[tool.schema-review.options.naming-convention]\npreset = 'rails'\n"
        "unique = '^uq_'\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["config", "check"])
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.output)
    assert result.output.startswith("# pyproject.toml: valid\n")
    assert shown["fail-on"] == "medium" and shown["pg-version"] == 16
    assert shown["options"]["naming-convention"]["unique"] == "^uq_"
    assert shown["options"]["naming-convention"]["index"] == (
        "index_{table}_on_{columns joined by _and_}"
    )
    assert shown["options"]["naming-convention"]["foreign_key"] == (
        "fk_rails_<sha256, 10 hex digits>"
    )


def test_config_check_refuses_unknown_keys_rule_ids_and_standards(tmp_path: Path) -> None:
    config = tmp_path / ".schema-review.yaml"
    for text, message in (
        ("fail_on: high\nselekt: [x]\n", "unknown setting(s) selekt"),
        ("options:\n  naming-conventions: {}\n", "options: unknown rule naming-conventions"),
        ("severity:\n  no-such-rule: low\n", "severity: unknown rule no-such-rule"),
        (
            "standards:\n  - name: Keys\n    rules: [table-missing-primary-kee]\n",
            "standards: unknown rule table-missing-primary-kee",
        ),
    ):
        config.write_text(text, encoding="utf-8")
        result = CliRunner().invoke(main, ["config", "check", str(config)])
        assert result.exit_code == 2, text
        assert message in result.output and result.output.count("\n") == 1


def _example_configurations() -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted((REPO / "examples").glob("*/.schema-review.yaml")):
        found.append((path, yaml.safe_load(path.read_text(encoding="utf-8"))))
    for path in sorted((REPO / "examples").glob("*/pyproject.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        found.append((path, data["tool"]["schema-review"]))
    return found


def test_every_example_folder_has_a_team_configuration() -> None:
    folders = {p.parent.name for p, _ in _example_configurations()}
    assert folders == {p.name for p in (REPO / "examples").iterdir() if p.is_dir()}


def test_the_example_configurations_are_valid_and_the_schema_accepts_them() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    for path, data in _example_configurations():
        jsonschema.validate(data, schema)
        result = CliRunner().invoke(main, ["config", "check", str(path)])
        assert result.exit_code == 0, result.output


def test_the_schema_rejects_what_the_configuration_refuses() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
    for bad in (
        {"selekt": ["x"]},
        {"fail-on": "urgent"},
        {"options": {"naming-convention": {"preset": "sequelize"}}},
        {"options": {"naming-convention": {"foreign_keys": "x"}}},
        {"options": {"missing-down-migration": {"required": "yes"}}},
        {"options": {"fk-explicit-actions": {"actions": ["truncate"]}}},
        {"options": {"required-columns": {"kinds": {"soft delete": {"tables": "^a"}}}}},
    ):
        assert list(validator.iter_errors(bad)), bad


def test_the_schema_knows_every_key_and_option_and_is_the_one_shipped() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert set(config_keys) <= set(schema["properties"])
    options = schema["properties"]["options"]["properties"]
    for rule in load_rules():
        assert set(options.get(rule.id, {}).get("properties", {})) == set(rule.options)
    # Regenerate with `schema-review config schema -o schema_review/schema-review.schema.json`.
    assert (
        SCHEMA_FILE.read_text(encoding="utf-8")
        == json.dumps(config_schema(load_rules()), indent=2) + "\n"
    )
