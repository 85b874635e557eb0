"""Profiles: the runner decides which files run in a transaction, the version what is dangerous;
and lock rules leave alone tables created earlier in the same file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from schema_review.cli import main
from schema_review.config import Settings
from schema_review.pipeline import LintRun, lint
from schema_review.profile import ORM_RUNNERS, file_in_transaction
from tests.helpers import REPO, LintSql, findings_of, write_migrations

CONCURRENT_INDEX = "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n"


def fired(run: LintRun, rule: str) -> list[int]:
    return [f.line for f in findings_of(run, rule)]


def test_goose_wraps_files_in_a_transaction_unless_told_not_to(lint_sql: LintSql) -> None:
    wrapped = lint_sql([("00001_idx.sql", "-- +goose Up\n" + CONCURRENT_INDEX)])
    assert wrapped.profiles[0].runner == "goose"
    assert fired(wrapped, "concurrently-in-transaction") == [2]
    opted_out = lint_sql(
        [("00001_idx.sql", "-- +goose NO TRANSACTION\n-- +goose Up\n" + CONCURRENT_INDEX)]
    )
    assert fired(opted_out, "concurrently-in-transaction") == []


def test_dbmate_transaction_false(lint_sql: LintSql) -> None:
    wrapped = lint_sql([("20240101_idx.sql", "-- migrate:up\n" + CONCURRENT_INDEX)])
    assert wrapped.profiles[0].runner == "dbmate"
    assert fired(wrapped, "concurrently-in-transaction") == [2]
    free = lint_sql([("20240101_idx.sql", "-- migrate:up transaction:false\n" + CONCURRENT_INDEX)])
    assert fired(free, "concurrently-in-transaction") == []


def test_prisma_runs_a_single_statement_file_outside_a_transaction(lint_sql: LintSql) -> None:
    single = lint_sql([("20240101000000_idx/migration.sql", CONCURRENT_INDEX)])
    assert single.profiles[0].runner == "prisma"
    assert fired(single, "concurrently-in-transaction") == []
    several = lint_sql([("20240101000000_idx/migration.sql", "SELECT 1;\n" + CONCURRENT_INDEX)])
    assert fired(several, "concurrently-in-transaction") == [2]


@pytest.mark.parametrize(
    ("metadata", "reported"),
    [(None, [1]), ("run_in_transaction = true\n", [1]), ("run_in_transaction = false\n", [])],
)
def test_diesel_metadata_toml_takes_a_migration_out_of_its_transaction(
    lint_sql: LintSql, metadata: str | None, reported: list[int]
) -> None:
    """diesel runs a migration outside a transaction when the metadata.toml next to its
    up.sql says `run_in_transaction = false`: discovery reads it, so lint does not report the
    CONCURRENTLY that diesel runs there (and does where diesel wraps the file)."""
    files = [
        ("2024-01-01-000000_init/up.sql", "CREATE TABLE orders (id bigint, status text);\n"),
        ("2024-01-01-000000_init/down.sql", "DROP TABLE orders;\n"),
        ("2024-01-02-000000_index/up.sql", CONCURRENT_INDEX),
        ("2024-01-02-000000_index/down.sql", "DROP INDEX orders_status_idx;\n"),
    ]
    if metadata is not None:
        files.append(("2024-01-02-000000_index/metadata.toml", metadata))
    run = lint_sql(files)
    assert run.profiles[0].runner == "diesel"
    assert fired(run, "concurrently-in-transaction") == reported


def test_the_diesel_example_passes_the_default_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    """diesel's generated setup migration (its `diesel_manage_updated_at` formats a regclass
    with %s) and a CONCURRENTLY index under `run_in_transaction = false` fail nothing."""
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(main, ["lint", "examples/diesel-app", "--format", "json"])
    assert result.exit_code == 0, result.output
    rules = {f["rule"] for f in json.loads(result.output)["findings"]}
    assert not rules & {"dynamic-sql-injection", "concurrently-in-transaction"}, rules


def test_the_prisma_example_is_linted_as_prisma() -> None:
    """Generated migrations (`<timestamp>_<name>/migration.sql`, `migration_lock.toml`): the
    runner is detected, so a migration of one statement runs outside a transaction."""
    run = lint([REPO / "examples" / "prisma-app"], Settings())
    assert [p.runner for p in run.profiles] == ["prisma"]
    assert "concurrently-in-transaction" not in {f.rule for f in run.result.findings}


def test_runner_setting_overrides_detection(lint_sql: LintSql) -> None:
    plain = [("0001_idx.sql", CONCURRENT_INDEX)]
    assert fired(lint_sql(plain), "concurrently-in-transaction") == []
    assert fired(lint_sql(plain, runner="sqlx"), "concurrently-in-transaction") == [1]
    # Flyway runs a file with CONCURRENTLY statements outside a transaction by itself.
    assert fired(lint_sql(plain, runner="flyway"), "concurrently-in-transaction") == []


def test_begin_in_a_multi_statement_file_is_transaction_control(lint_sql: LintSql) -> None:
    sql = "BEGIN;\nALTER TABLE t ADD COLUMN x text;\nCOMMIT;\n"
    prisma = lint_sql([("20240101000000_x/migration.sql", sql)])
    assert fired(prisma, "transaction-nesting") == []
    assert fired(lint_sql([("0001_x.sql", sql)], runner="goose"), "transaction-nesting") == [1]


def test_backfill_must_fill_the_constrained_columns(lint_sql: LintSql) -> None:
    other_column = (
        "ALTER TABLE orders ALTER COLUMN currency SET NOT NULL;\n"
        "UPDATE orders SET note = '' WHERE note IS NULL;\n"
    )
    assert fired(lint_sql([("0001.sql", other_column)]), "constraint-before-backfill") == []


def test_explicit_begin_counts_without_a_runner(lint_sql: LintSql) -> None:
    run = lint_sql([("0001_idx.sql", "BEGIN;\n" + CONCURRENT_INDEX + "COMMIT;\n")])
    assert fired(run, "concurrently-in-transaction") == [2]


def test_pg_version_decides_what_a_default_costs(lint_sql: LintSql) -> None:
    sql = [("0001_col.sql", "ALTER TABLE orders ADD COLUMN note text DEFAULT 'none';\n")]
    assert fired(lint_sql(sql, pg_version=10), "add-column-volatile-default") == [1]
    assert fired(lint_sql(sql, pg_version=16), "add-column-volatile-default") == []


def test_pg_version_decides_enum_add_value_in_a_transaction(lint_sql: LintSql) -> None:
    sql = [("0001_enum.sql", "BEGIN;\nALTER TYPE order_status ADD VALUE 'refunded';\nCOMMIT;\n")]
    assert fired(lint_sql(sql, pg_version=11), "enum-add-value-in-transaction") == [2]
    assert fired(lint_sql(sql, pg_version=16), "enum-add-value-in-transaction") == []


def test_gen_random_uuid_needs_pgcrypto_only_before_13(lint_sql: LintSql) -> None:
    sql = [("0001_t.sql", "CREATE TABLE t (id uuid PRIMARY KEY DEFAULT gen_random_uuid());\n")]
    assert fired(lint_sql(sql, pg_version=12), "missing-extension") == [1]
    assert fired(lint_sql(sql, pg_version=13), "missing-extension") == []


@pytest.mark.parametrize(
    ("rule", "change"),
    [
        ("set-not-null-on-existing-column", "ALTER TABLE items ALTER COLUMN name SET NOT NULL;"),
        ("check-without-not-valid", "ALTER TABLE items ADD CONSTRAINT c CHECK (qty > 0);"),
        (
            "add-column-volatile-default",
            "ALTER TABLE items ADD COLUMN token uuid DEFAULT gen_random_uuid();",
        ),
        ("column-type-change", "ALTER TABLE items ALTER COLUMN qty TYPE bigint;"),
        ("add-unique-without-index", "ALTER TABLE items ADD CONSTRAINT u UNIQUE (name);"),
        ("drop-column", "ALTER TABLE items DROP COLUMN name;"),
        ("rename-column", "ALTER TABLE items RENAME COLUMN name TO title;"),
        ("missing-lock-timeout", "ALTER TABLE items ADD COLUMN note text;"),
    ],
)
def test_tables_created_earlier_in_the_same_file_are_exempt(
    lint_sql: LintSql, rule: str, change: str
) -> None:
    create = "CREATE TABLE items (id bigint PRIMARY KEY, name text, qty integer);\n"
    same_file = lint_sql([("0001_items.sql", create + change + "\n")])
    assert fired(same_file, rule) == []
    next_file = lint_sql([("0001_items.sql", create), ("0002_change.sql", change + "\n")])
    assert fired(next_file, rule) == [1], rule


def test_lock_timeout_is_reported_once_per_file_and_honoured(lint_sql: LintSql) -> None:
    two_alters = "ALTER TABLE a ADD COLUMN x text;\nALTER TABLE b ADD COLUMN y text;\n"
    assert fired(lint_sql([("0001.sql", two_alters)]), "missing-lock-timeout") == [1]
    guarded = lint_sql([("0001.sql", "SET lock_timeout = '3s';\n" + two_alters)])
    assert fired(guarded, "missing-lock-timeout") == []
    switched_off = lint_sql([("0001.sql", "SET lock_timeout = 0;\n" + two_alters)])
    assert fired(switched_off, "missing-lock-timeout") == [2]


def test_set_not_null_after_a_validated_check_is_free(lint_sql: LintSql) -> None:
    sql = (
        "ALTER TABLE users ADD CONSTRAINT nn CHECK (email IS NOT NULL) NOT VALID;\n"
        "ALTER TABLE users VALIDATE CONSTRAINT nn;\n"
        "ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n"
    )
    assert fired(lint_sql([("0001.sql", sql)]), "set-not-null-on-existing-column") == []


def test_binary_compatible_type_changes_do_not_rewrite(lint_sql: LintSql) -> None:
    create = "CREATE TABLE t (id bigint PRIMARY KEY, a varchar(10), b numeric(10, 2), c text);\n"
    changes = (
        "ALTER TABLE t ALTER COLUMN a TYPE varchar(20);\n"  # longer: free
        "ALTER TABLE t ALTER COLUMN a TYPE text;\n"  # free
        "ALTER TABLE t ALTER COLUMN b TYPE numeric(12, 2);\n"  # more precision: free
        "ALTER TABLE t ALTER COLUMN c TYPE varchar(5);\n"  # a limit checks every row
        "ALTER TABLE t ALTER COLUMN b TYPE numeric(12, 3);\n"  # another scale: rewrite
    )
    run = lint_sql([("0001.sql", create), ("0002.sql", changes)])
    assert fired(run, "column-type-change") == [4, 5]


def test_pg_version_and_runner_from_configuration_and_cli(tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "m", [("0001.sql", CONCURRENT_INDEX)])
    config = tmp_path / ".schema-review.yaml"
    config.write_text("runner: sqlx\npg-version: '15.4'\n")
    runner = CliRunner()
    base = ["lint", str(folder), "--format", "json", "--config", str(config), "--select", "all"]
    rules = [f["rule"] for f in json.loads(runner.invoke(main, base).output)["findings"]]
    assert "concurrently-in-transaction" in rules
    overridden = runner.invoke(main, [*base, "--runner", "none"])
    assert "concurrently-in-transaction" not in overridden.output
    config.write_text("runner: liquibase\n")
    refused = runner.invoke(main, base)
    assert refused.exit_code == 2
    assert "'runner' must be one of" in refused.output
    refused = runner.invoke(main, [*base[:-2], "--pg-version", "8"])
    assert refused.exit_code == 2


# -- deploy: online | offline -------------------------------------------------------------

_ITEMS = "CREATE TABLE items (id bigint PRIMARY KEY, name text, qty integer);\n"
_LOCKS = (
    "BEGIN;\n"
    "CREATE INDEX items_name_idx ON items (name);\n"  # lock only
    "ALTER TABLE items ALTER COLUMN name SET NOT NULL;\n"  # lock only (a scan under it)
    "ALTER TABLE items ALTER COLUMN qty TYPE bigint;\n"  # a rewrite: takes as long offline
    "ALTER TABLE items ADD COLUMN code text NOT NULL;\n"  # fails on the first row
    "COMMIT;\n"
)


def _severities(run: LintRun) -> dict[str, str]:
    return {f.rule: f.severity for f in run.result.findings}


def test_offline_deploys_make_lock_only_findings_info(lint_sql: LintSql) -> None:
    files = [("0001_items.sql", _ITEMS), ("0002_change.sql", _LOCKS)]
    online = _severities(lint_sql(files))
    offline = _severities(lint_sql(files, deploy="offline"))
    for rule in (
        "create-index-not-concurrently",
        "set-not-null-on-existing-column",
        "missing-lock-timeout",
        "statements-after-exclusive-lock",
    ):
        assert online[rule] != "info" and offline[rule] == "info", rule
    for rule in ("column-type-change", "add-column-not-null-without-default"):
        assert offline[rule] == online[rule] == "high", rule
    # the team's own severity for a rule wins over the deploy's
    kept = lint_sql(files, deploy="offline", severity={"create-index-not-concurrently": "high"})
    assert _severities(kept)["create-index-not-concurrently"] == "high"


def test_lock_only_rules_are_the_ones_whose_only_harm_is_a_lock() -> None:
    from schema_review.rules import load_rules

    lock_only = {r.id for r in load_rules() if r.lock_only}
    assert lock_only == {
        "add-exclusion-constraint",
        "add-unique-without-index",
        "check-without-not-valid",
        "create-index-not-concurrently",
        "detach-partition-not-concurrently",
        "drop-index-not-concurrently",
        "fk-without-not-valid",
        "missing-lock-timeout",
        "missing-statement-timeout",
        "reindex-not-concurrently",
        "set-not-null-on-existing-column",
        "statements-after-exclusive-lock",
    }
    # rewrites take as long with the application stopped; failures fail either way
    assert not lock_only & {
        "add-column-volatile-default",
        "add-rewriting-column",
        "column-type-change",
        "enum-recreate-instead-of-alter",
        "vacuum-full-or-cluster",
        "multiple-alter-table",
        "concurrently-in-transaction",
        "add-column-not-null-without-default",
    }


def test_deploy_from_configuration_and_cli(tmp_path: Path) -> None:
    index = "CREATE INDEX items_name_idx ON items (name);\n"
    folder = write_migrations(tmp_path / "m", [("0001_items.sql", _ITEMS), ("0002.sql", index)])
    config = tmp_path / ".schema-review.yaml"
    config.write_text("deploy: offline\n")
    runner = CliRunner()
    base = ["lint", str(folder), "--config", str(config)]
    offline = runner.invoke(main, base, env={"NO_COLOR": "1"})
    assert offline.exit_code == 0, offline.output
    assert "info [create-index-not-concurrently]" in offline.output
    assert offline.output.splitlines()[-1].endswith(
        "in 2 files, 2 statements, deploy offline. Gate passed (fail-on high)."
    )
    online = runner.invoke(main, [*base, "--deploy", "online"], env={"NO_COLOR": "1"})
    assert online.exit_code == 1 and "high [create-index-not-concurrently]" in online.output
    document = json.loads(runner.invoke(main, [*base, "--format", "json"]).output)
    assert document["summary"]["deploy"] == "offline"
    config.write_text("deploy: sometimes\n")
    refused = runner.invoke(main, base)
    assert refused.exit_code == 2 and "'deploy' must be one of online, offline" in refused.output


# -- ORM profiles: what prisma, drizzle and diesel write --------------------------------------

_PRISMA_INIT = """-- CreateTable
CREATE TABLE "User" (
    "id" SERIAL NOT NULL,
    "email" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "User_pkey" PRIMARY KEY ("id")
);
"""
_ORM_RULES = {"mixed-case-identifier", "timestamp-without-time-zone", "prefer-identity-over-serial"}


def _prisma(lint_sql: LintSql, **settings: object) -> set[str]:
    run = lint_sql([("20240101000000_init/migration.sql", _PRISMA_INIT)], **settings)
    assert run.profiles[0].orm == "prisma"
    return {f.rule for f in run.result.findings}


def test_prisma_conventions_are_off_under_its_profile(lint_sql: LintSql) -> None:
    assert not _prisma(lint_sql, select=()) & _ORM_RULES
    # a category selects the rules that are on by default, which these are not here
    assert not _prisma(lint_sql, select=("conventions", "types", "design")) & _ORM_RULES
    # named by id, or with `all`, a rule runs whatever the ORM
    assert _prisma(lint_sql, select=("mixed-case-identifier",)) == {"mixed-case-identifier"}
    assert _prisma(lint_sql) >= _ORM_RULES  # select all
    # the same SQL under another runner is the team's own
    goose = lint_sql([("00001_init.sql", "-- +goose Up\n" + _PRISMA_INIT)], select=())
    assert {f.rule for f in goose.result.findings} >= _ORM_RULES


def test_drizzle_and_diesel_profiles(lint_sql: LintSql) -> None:
    from schema_review.rules import load_rules

    off = {orm: {r.id for r in load_rules() if orm in r.orm_generated} for orm in ORM_RUNNERS}
    assert off == {
        "prisma": _ORM_RULES,
        "drizzle": {"mixed-case-identifier", "multiple-alter-table"},
        "diesel": {"multiple-alter-table"},
    }
    sql = 'CREATE TABLE "posts" ("id" serial PRIMARY KEY NOT NULL, "authorId" integer);\n'
    run = lint_sql([("0000_init.sql", sql)], runner="drizzle", select=())
    rules = {f.rule for f in run.result.findings}
    assert "mixed-case-identifier" not in rules and "prefer-identity-over-serial" in rules


def test_explain_says_why_a_rule_is_off_under_an_orm() -> None:
    result = CliRunner().invoke(main, ["explain", "timestamp-without-time-zone"])
    assert "Off by default under the ORM profiles that write it" in result.output
    assert "prisma: Prisma writes DateTime as timestamp(3)" in result.output
    locked = CliRunner().invoke(main, ["explain", "create-index-not-concurrently"])
    assert "Deployed offline (deploy: offline, --deploy offline): reported as info" in locked.output


def test_summary_and_review_scope_name_the_deploy_and_the_orm(tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "m", [("20240101000000_init/migration.sql", _PRISMA_INIT)])
    runner = CliRunner()
    lint = runner.invoke(main, ["lint", str(folder), "--deploy", "offline"], env={"NO_COLOR": "1"})
    assert "1 statement, deploy offline, prisma profile." in lint.output.splitlines()[-1]
    review = runner.invoke(main, ["report", str(folder)])
    scope = next(line for line in review.output.splitlines() if line.startswith("**Scope:**"))
    assert (
        "runner prisma; deploy online, prisma profile (what the ORM writes is not reported)."
        in scope
    )


# -- tables new in the pull request ------------------------------------------------------------

_BASE = "CREATE TABLE orders (id bigint PRIMARY KEY, status text);\n"


def test_a_table_created_earlier_in_the_pull_request_is_empty(lint_sql: LintSql) -> None:
    base = [("0001_orders.sql", _BASE)]
    new_table = [
        *base,
        ("0002_items.sql", _ITEMS),
        ("0003_items_index.sql", "CREATE INDEX items_name_idx ON items (name);\n"),
    ]
    run = lint_sql(new_table, base="-- file: 0001_orders.sql\n" + _BASE)
    assert fired(run, "create-index-not-concurrently") == []
    assert fired(run, "missing-lock-timeout") == []
    # without the pull request's view, the table may have been deployed long ago
    assert fired(lint_sql(new_table), "create-index-not-concurrently") == [1]
    # a table of the base still holds rows
    old_table = [*base, ("0002_index.sql", "CREATE INDEX orders_status_idx ON orders (status);\n")]
    run = lint_sql(old_table, base="-- file: 0001_orders.sql\n" + _BASE)
    assert fired(run, "create-index-not-concurrently") == [1]


def test_drizzle_empties_tables_for_the_whole_pending_transaction(lint_sql: LintSql) -> None:
    base = "-- file: 0000_orders.sql\n" + _BASE
    files = [
        ("0000_orders.sql", _BASE),
        ("0001_empty.sql", "DELETE FROM orders;\n"),
        ("0002_code.sql", "ALTER TABLE orders ADD COLUMN code text NOT NULL;\n"),
    ]
    drizzle = lint_sql(files, base=base, runner="drizzle")
    assert fired(drizzle, "add-column-not-null-without-default") == []
    goose = lint_sql(files, base=base, runner="goose")
    assert fired(goose, "add-column-not-null-without-default") == [1]


@pytest.mark.parametrize(
    ("runner", "text", "wrapped"),
    [
        ("goose", "-- +goose Up\nCREATE INDEX CONCURRENTLY i ON t (x);\n", True),
        ("goose", "-- +Goose   no\tTransaction\n-- +goose Up\nSELECT 1;\n", False),
        # The words, but not as the opt-out comment.
        ("goose", "-- +goose Up\nSELECT 'no transaction';\n", True),
        ("dbmate", "-- migrate:up transaction:false\nSELECT 1;\n", False),
        ("dbmate", "-- migrate:up\nSELECT 'transaction:false';\n", True),
        ("sqlx", "-- no-transaction\nSELECT 1;\n", False),
        ("sqlx", "SELECT 1;\n-- no-transaction\n", True),
    ],
)
def test_a_runners_opt_out_comment_keeps_the_file_out_of_a_transaction(
    runner: str, text: str, wrapped: bool
) -> None:
    assert file_in_transaction(runner, text) is wrapped
