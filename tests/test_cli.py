"""The command line end to end: output formats, exit codes, configuration errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from schema_review.cli import main
from tests.helpers import REPO, write_migrations

EXAMPLE = REPO / "examples" / "saas-app" / "migrations"
FINDING_FIELDS = {
    "rule",
    "severity",
    "category",
    "message",
    "file",
    "line",
    "column",
    "end_line",
    "end_column",
    "object",
    "fix",
    "fingerprint",
}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_example_folder_raises_every_rule_at_the_right_lines(runner: CliRunner) -> None:
    result = runner.invoke(main, ["lint", str(EXAMPLE), "--format", "json"])
    assert result.exit_code == 1, result.output
    document = json.loads(result.output)
    assert document["version"] == 1
    located = {(Path(f["file"]).name, f["line"], f["rule"]) for f in document["findings"]}
    expected = {
        ("0001_create_accounts.up.sql", 16, "timestamp-without-time-zone"),
        ("0001_create_accounts.up.sql", 22, "duplicate-index"),
        ("0002_create_projects.up.sql", 12, "fk-missing-index"),
        ("0002_create_projects.up.sql", 18, "table-missing-primary-key"),
        ("0003_create_orders.up.sql", 1, "missing-if-not-exists"),
        ("0004_orders_account_fk.up.sql", 2, "fk-without-not-valid"),
        ("0004_orders_account_fk.up.sql", 5, "create-index-not-concurrently"),
        ("0005_users_tenant.up.sql", 1, "add-column-not-null-without-default"),
        ("0006_refunds.up.sql", 3, "constraint-recreated"),
        ("0007_admin_function.up.sql", 1, "security-definer-search-path"),
        ("0008_invoices.up.sql", 8, "suppression-without-reason"),
        ("0008_invoices.up.sql", 11, "unused-suppression"),
        ("0009_invoice_notes.up.sql", 3, "parse-error"),
    }
    assert expected <= located, sorted(expected - located)
    for finding in document["findings"]:
        assert set(finding) == FINDING_FIELDS
    parse_error = next(f for f in document["findings"] if f["rule"] == "parse-error")
    assert parse_error["column"] == 67 and "syntax error" in parse_error["message"]
    fk = next(f for f in document["findings"] if f["rule"] == "fk-missing-index")
    assert fk["object"] == "public.project_members.project_members_user_id_fkey"
    assert fk["fix"].startswith("CREATE INDEX CONCURRENTLY IF NOT EXISTS")
    # Down files are never replayed; 0010 sorts after 0009.
    files = [Path(f["file"]).name for f in document["findings"]]
    assert not any(name.endswith(".down.sql") for name in files)
    summary = document["summary"]
    assert summary["files"] == 11 and summary["failed"] is True
    assert summary["suppressed"] == 1


def test_text_output_and_summary(runner: CliRunner, tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        [
            (
                "1_a.sql",
                "CREATE TABLE IF NOT EXISTS t (id bigint PRIMARY KEY DEFAULT 1, at timestamp);\n",
            ),
        ],
    )
    result = runner.invoke(main, ["lint", str(folder)], env={"NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        f"{folder / '1_a.sql'}:1:64: low [timestamp-without-time-zone] "
        "column public.t.at is timestamp without time zone: use timestamptz"
    )
    assert "\033[" not in result.output
    assert lines[-1] == (
        "Found 1 finding (1 low) in 1 file, 1 statement, deploy online. Gate passed (fail-on high)."
    )


def test_fail_on_select_ignore(runner: CliRunner, tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        [
            ("1_a.sql", "CREATE INDEX i ON t (x);\nCREATE INDEX j ON t (y);\n"),
        ],
    )
    assert runner.invoke(main, ["lint", str(folder)]).exit_code == 1
    assert runner.invoke(main, ["lint", str(folder), "--fail-on", "critical"]).exit_code == 0
    assert runner.invoke(main, ["lint", str(folder), "--fail-on", "none"]).exit_code == 0
    ignored = runner.invoke(main, ["lint", str(folder), "--ignore", "locking", "--format", "json"])
    assert ignored.exit_code == 0
    assert {f["rule"] for f in json.loads(ignored.output)["findings"]} == {"missing-if-not-exists"}
    selected = runner.invoke(
        main, ["lint", str(folder), "--select", "create-index-not-concurrently", "--format", "json"]
    )
    rules = {f["rule"] for f in json.loads(selected.output)["findings"]}
    assert rules == {"create-index-not-concurrently"}


def test_usage_and_configuration_errors_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    missing = runner.invoke(main, ["lint", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "nope" in missing.output
    unknown = runner.invoke(main, ["lint", str(tmp_path), "--select", "no-such-rule"])
    assert unknown.exit_code == 2 and "no-such-rule" in unknown.output
    assert runner.invoke(main, ["lint"]).exit_code == 2
    assert runner.invoke(main, ["lint", str(tmp_path), "--format", "xml"]).exit_code == 2
    config = tmp_path / ".schema-review.yaml"
    config.write_text("fail_on: high\nselekt: [x]\n")
    bad = runner.invoke(main, ["lint", str(tmp_path), "--config", str(config)])
    assert bad.exit_code == 2 and "selekt" in bad.output


def test_malformed_rule_file_is_refused_with_its_location(
    runner: CliRunner, tmp_path: Path
) -> None:
    rules = tmp_path / "team.yaml"
    rules.write_text(
        "- id: no-foo\n  title: t\n  severity: urgent\n  category: c\n  target: table\n"
        "  when: 'true'\n  message: m\n  why: w\n  examples: {bad: x, good: y}\n"
    )
    config = tmp_path / "pyproject.toml"
    config.write_text('[tool.schema-review]\nrule-files = ["team.yaml"]\n')
    result = runner.invoke(main, ["lint", str(tmp_path), "--config", str(config)])
    assert result.exit_code == 2
    assert "team.yaml:1: rule no-foo: severity must be one of" in result.output


def test_custom_rule_from_configuration(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(
        """
- id: table-needs-comment
  title: Table without a comment
  severity: medium
  category: documentation
  target: table
  when: table.comment is none
  message: "table {{ table.qualified_name }} has no COMMENT"
  fix: "COMMENT ON TABLE {{ table.qualified_name }} IS '...';"
  why: Tables document themselves in the catalog, where every tool shows it.
  examples:
    bad: CREATE TABLE t (id int PRIMARY KEY);
    good: "CREATE TABLE t (id int PRIMARY KEY); COMMENT ON TABLE t IS 'things';"
"""
    )
    (tmp_path / ".schema-review.yaml").write_text(
        "rule-files: [rules.yaml]\nselect: [table-needs-comment]\nfail-on: medium\n"
    )
    folder = write_migrations(
        tmp_path / "m",
        [
            (
                "1.sql",
                "CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY);"
                "COMMENT ON TABLE b IS 'documented';",
            ),
        ],
    )
    result = runner.invoke(
        main,
        [
            "lint",
            str(folder),
            "--format",
            "json",
            "--config",
            str(tmp_path / ".schema-review.yaml"),
        ],
    )
    assert result.exit_code == 1
    findings = json.loads(result.output)["findings"]
    assert [(f["rule"], f["object"]) for f in findings] == [("table-needs-comment", "public.a")]
    assert findings[0]["fix"] == "COMMENT ON TABLE public.a IS '...';"


def test_edited_rule_file_is_read_again(runner: CliRunner, tmp_path: Path) -> None:
    # Parsed rule files are cached by content: an edit must never be served from the cache.
    rule = """
- id: table-needs-comment
  title: Table without a comment
  severity: medium
  category: documentation
  target: table
  when: table.comment is none
  message: "{word} {{{{ table.qualified_name }}}}"
  why: Tables document themselves.
  examples:
    bad: CREATE TABLE t (id int PRIMARY KEY);
    good: "CREATE TABLE t (id int PRIMARY KEY); COMMENT ON TABLE t IS 'x';"
"""
    rules = tmp_path / "rules.yaml"
    (tmp_path / ".schema-review.yaml").write_text("rule-files: [rules.yaml]\n")
    folder = write_migrations(tmp_path / "m", [("1.sql", "CREATE TABLE a (id int PRIMARY KEY);")])
    config = str(tmp_path / ".schema-review.yaml")
    arguments = ["lint", str(folder), "--format", "json", "--config", config]
    messages = []
    for word in ("first", "second", "first"):
        rules.write_text(rule.format(word=word))
        result = runner.invoke(main, [*arguments, "--select", "table-needs-comment"])
        messages += [f["message"] for f in json.loads(result.output)["findings"]]
    assert messages == ["first public.a", "second public.a", "first public.a"]


def test_broken_rule_expression_names_the_rule(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(
        "- id: typo-rule\n  title: t\n  severity: low\n  category: c\n  target: table\n"
        "  when: table.colums\n  message: m\n  why: w\n  examples: {bad: x, good: y}\n"
    )
    config = tmp_path / ".schema-review.yaml"
    config.write_text("rule-files: [rules.yaml]\n")
    folder = write_migrations(tmp_path / "m", [("1.sql", "CREATE TABLE a (id int);")])
    result = runner.invoke(main, ["lint", str(folder), "--config", str(config)])
    assert result.exit_code == 2
    assert "rule typo-rule" in result.output and "colums" in result.output


def test_output_file_and_version(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = runner.invoke(main, ["lint", str(EXAMPLE), "--format", "json", "-o", str(out)])
    assert result.exit_code == 1 and result.output == ""
    assert json.loads(out.read_text())["findings"]
    version = runner.invoke(main, ["--version"])
    assert version.exit_code == 0 and "schema-review" in version.output


def test_rules_command_lists_the_catalogue(runner: CliRunner) -> None:
    result = runner.invoke(main, ["rules", "--format", "json"])
    assert result.exit_code == 0
    ids = {row["id"] for row in json.loads(result.output)}
    assert {"fk-missing-index", "parse-error"} <= ids


def test_output_is_deterministic(runner: CliRunner) -> None:
    first = runner.invoke(main, ["lint", str(EXAMPLE), "--format", "json"]).output
    second = runner.invoke(main, ["lint", str(EXAMPLE), "--format", "json"]).output
    assert first == second


def test_sql_from_standard_input_and_quiet(runner: CliRunner) -> None:
    sql = "CREATE INDEX a_idx ON orders (a);\n"
    named = runner.invoke(
        main, ["lint", "-", "--stdin-filename", "db/0005_idx.sql"], input=sql, env={"NO_COLOR": "1"}
    )
    assert named.exit_code == 1
    assert named.output.startswith("db/0005_idx.sql:1:1: high [create-index-not-concurrently]")
    assert named.output.splitlines()[-1].startswith("Found ")
    quiet = runner.invoke(main, ["lint", "-", "-q"], input=sql, env={"NO_COLOR": "1"})
    assert quiet.exit_code == 1
    assert all(line.startswith("<stdin>:1:1: ") for line in quiet.output.splitlines())


def test_result_cache_answers_only_for_the_same_inputs(runner: CliRunner, tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m", [("1_a.sql", "CREATE TABLE IF NOT EXISTS a (id int PRIMARY KEY);\n")]
    )
    arguments = ["lint", str(folder), "--format", "json", "--select", "all"]
    first = runner.invoke(main, arguments)
    again = runner.invoke(main, arguments)
    assert again.output == first.output and again.exit_code == first.exit_code == 0
    uncached = runner.invoke(main, [*arguments, "--no-cache"])
    assert uncached.output == first.output
    assert "SCHEMA_REVIEW_NO_CACHE" not in os.environ  # off for that command only
    (folder / "1_a.sql").write_text("CREATE INDEX a_idx ON a (id);\n")
    edited = runner.invoke(main, arguments)
    assert edited.exit_code == 1
    assert "create-index-not-concurrently" in edited.output
    other_option = runner.invoke(main, [*arguments, "--fail-on", "critical"])
    assert other_option.exit_code == 0
