"""Suppressions as people write them (issue 14, item 3): the same-line form, unknown rule ids
and malformed directives reported instead of ignored, and `per-file-ignores`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from schema_review.cli import main
from tests.helpers import LintSql, findings_of, rule_ids, write_migrations

LOCKING = {"select": ("locking", "suppression"), "ignore": ("missing-lock-timeout",)}


def _lines(run: object, rule: str) -> list[int]:
    return [f.line for f in findings_of(run, rule)]  # type: ignore[arg-type]


def test_same_line_form_applies_to_the_statement_on_its_line(lint_sql: LintSql) -> None:
    run = lint_sql(
        "CREATE INDEX a_idx ON orders (a); "
        "-- schema-review: ignore create-index-not-concurrently -- orders is empty\n"
        "CREATE INDEX b_idx ON orders (b);\n",
        **LOCKING,
    )
    assert _lines(run, "create-index-not-concurrently") == [2]
    assert [(s.finding.line, s.reason) for s in run.result.suppressed] == [(1, "orders is empty")]
    assert not findings_of(run, "unused-suppression")


def test_same_line_form_after_a_statement_of_several_lines(lint_sql: LintSql) -> None:
    run = lint_sql(
        "CREATE INDEX a_idx\n"
        "  ON orders (a); -- schema-review: ignore create-index-not-concurrently -- empty\n"
        "CREATE INDEX b_idx ON orders (b);\n",
        **LOCKING,
    )
    assert _lines(run, "create-index-not-concurrently") == [3]


def test_trailing_directive_inside_a_statement_applies_to_it(lint_sql: LintSql) -> None:
    run = lint_sql(
        "CREATE TABLE IF NOT EXISTS t (\n"
        "  id bigint PRIMARY KEY,\n"
        "  at timestamp -- schema-review: ignore timestamp-without-time-zone -- legacy\n"
        ");\n"
        "CREATE TABLE IF NOT EXISTS u (id bigint PRIMARY KEY, at timestamp);\n",
        select=("timestamp-without-time-zone", "suppression"),
    )
    assert _lines(run, "timestamp-without-time-zone") == [5]
    assert len(run.result.suppressed) == 1


def test_own_line_directive_still_covers_the_next_statement(lint_sql: LintSql) -> None:
    run = lint_sql(
        "CREATE INDEX a_idx ON orders (a);\n"
        "-- schema-review: ignore create-index-not-concurrently -- built before launch\n"
        "CREATE INDEX b_idx ON orders (b);\n",
        **LOCKING,
    )
    assert _lines(run, "create-index-not-concurrently") == [1]


def test_unknown_rule_is_reported_with_did_you_mean(lint_sql: LintSql) -> None:
    run = lint_sql(
        "-- schema-review: ignore create-index-not-concurently -- empty table\n"
        "CREATE INDEX a_idx ON orders (a);\n",
        **LOCKING,
    )
    [unknown] = findings_of(run, "unknown-rule-in-suppression")
    assert unknown.line == 1
    assert "create-index-not-concurently" in unknown.message
    assert "did you mean create-index-not-concurrently," in unknown.message
    # The finding it meant to hide is still reported: nothing was suppressed.
    assert _lines(run, "create-index-not-concurrently") == [2]


def test_unknown_rule_is_reported_even_when_its_rule_is_not_selected(lint_sql: LintSql) -> None:
    """`unused-suppression` keeps quiet about rules this run does not evaluate; an id that no
    rule has is wrong whatever is selected."""
    run = lint_sql(
        "-- schema-review: ignore no-such-rule -- why\nCREATE TABLE t (id bigint PRIMARY KEY);\n",
        select=("unknown-rule-in-suppression",),
    )
    [unknown] = findings_of(run, "unknown-rule-in-suppression")
    assert "no-such-rule" in unknown.message and "did you mean" not in unknown.message


def test_a_category_in_a_suppression_is_explained(lint_sql: LintSql) -> None:
    run = lint_sql(
        "-- schema-review: ignore locking -- why\nCREATE INDEX a_idx ON orders (a);\n",
        **LOCKING,
    )
    [unknown] = findings_of(run, "unknown-rule-in-suppression")
    assert "locking is a category" in unknown.message


@pytest.mark.parametrize(
    ("directive", "why"),
    [
        ("-- schema-review: ignore", "names no rule"),
        ("-- schema-review: ignore -- the table is empty", "names no rule"),
        ("-- schema-review: ignore-file", "names no rule"),
        ("-- schema-review: disable create-index-not-concurrently -- x", "unknown verb disable"),
        ("-- schema-review: ignore-next create-index-not-concurrently -- x", "unknown verb"),
        ("-- schema-review ignore create-index-not-concurrently -- x", "a colon"),
        ("-- schema-review:", "no verb"),
        ("-- schema-review: ignore create-index-not-concurrently the table is empty", "commas"),
        ("/* schema-review: ignore create-index-not-concurrently -- x */", "line comment"),
    ],
)
def test_malformed_directive_is_reported(lint_sql: LintSql, directive: str, why: str) -> None:
    run = lint_sql(f"{directive}\nCREATE INDEX a_idx ON orders (a);\n", **LOCKING)
    malformed = findings_of(run, "malformed-suppression")
    assert [f.line for f in malformed] == [1], rule_ids(run)
    assert why in malformed[0].message
    # A malformed directive suppresses nothing.
    assert _lines(run, "create-index-not-concurrently") == [2]
    assert not run.result.suppressed


def test_directive_text_inside_a_string_is_not_a_directive(lint_sql: LintSql) -> None:
    run = lint_sql(
        "CREATE TABLE IF NOT EXISTS notes (id bigint PRIMARY KEY, body text DEFAULT\n"
        "'-- schema-review: nonsense');\n",
        select=("suppression",),
    )
    assert rule_ids(run) == []


def test_comment_that_only_mentions_the_tool_is_not_a_directive(lint_sql: LintSql) -> None:
    run = lint_sql(
        "-- schema-review flags this, but the table is new\n"
        "-- see the schema-review docs\n"
        "CREATE TABLE IF NOT EXISTS t (id bigint PRIMARY KEY);\n",
        select=("suppression",),
    )
    assert rule_ids(run) == []


def test_several_ids_with_spaces_after_commas(lint_sql: LintSql) -> None:
    run = lint_sql(
        "CREATE INDEX a_idx ON orders (a); -- schema-review: ignore "
        "create-index-not-concurrently , missing-lock-timeout -- empty\n",
        select=("locking", "suppression"),
    )
    assert rule_ids(run) == []
    assert len(run.result.suppressed) == 2


# -- per-file-ignores ---------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _project(tmp_path: Path, config: str) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".schema-review.yaml").write_text(config, encoding="utf-8")
    return write_migrations(
        tmp_path / "db",
        [
            ("0001_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY, at timestamp);\n"),
            ("0002_seed_users.sql", "CREATE INDEX users_at_idx ON users (at);\n"),
        ],
    )


def _lint_json(folder: Path, *more: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(
        main, ["lint", str(folder), "--format", "json", "--no-cache", *more]
    )
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.output)


def test_per_file_ignores_by_rule_id_and_by_category(project: Path) -> None:
    folder = _project(
        project,
        "per-file-ignores:\n"
        '  "db/*_seed_*.sql": [locking]\n'
        '  "0001_*.sql": timestamp-without-time-zone\n',
    )
    _, document = _lint_json(folder)
    located = {(Path(f["file"]).name, f["rule"]) for f in document["findings"]}
    assert ("0001_users.sql", "timestamp-without-time-zone") not in located
    assert ("0002_seed_users.sql", "create-index-not-concurrently") not in located
    assert document["summary"]["suppressed"] >= 2


def test_per_file_ignores_match_only_their_files(project: Path) -> None:
    folder = _project(project, 'per-file-ignores: {"elsewhere/*.sql": [all]}\n')
    _, document = _lint_json(folder)
    rules = {f["rule"] for f in document["findings"]}
    assert {"timestamp-without-time-zone", "create-index-not-concurrently"} <= rules


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('per-file-ignores: {"db/*.sql": [fk-missing-indx]}\n', "did you mean fk-missing-index"),
        ("per-file-ignores: [db]\n", "must map"),
        ('per-file-ignores: {"db/*.sql": [1]}\n', "must map"),
    ],
)
def test_per_file_ignores_errors(project: Path, config: str, message: str) -> None:
    folder = _project(project, config)
    result = CliRunner().invoke(main, ["lint", str(folder), "--no-cache"])
    assert result.exit_code == 2, result.output
    assert "per-file-ignores" in result.output and message in result.output
    assert "Traceback" not in result.output
