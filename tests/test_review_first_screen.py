"""The review a team reads first (issue 13): the top issues on the first screen, findings
grouped by rule, progress since a base, strengths that are true, a plan, not a copy."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from schema_review.cli import main
from schema_review.config import Settings
from schema_review.output import render_report
from schema_review.pipeline import LintRun, lint
from schema_review.report import Report, build_report, score
from schema_review.rules import SEVERITIES
from tests.helpers import CORPUS, REPO, LintSql, commit_files

EXAMPLES = {
    "saas-app": REPO / "examples" / "saas-app" / "migrations",
    "supabase-app": REPO / "examples" / "supabase-app",
}
FIRST_SCREEN = 40
IDENTITY = ["-c", "user.name=test", "-c", "user.email=test@example.com"]


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(REPO)
    yield


def _git(folder: Path, *arguments: str) -> None:
    subprocess.run(["git", *arguments], cwd=folder, check=True, capture_output=True)


def _commit_all(folder: Path, message: str) -> None:
    _git(folder, "add", ".")
    _git(folder, *IDENTITY, "commit", "-q", "-m", message)


def _gate_failures(run: LintRun, fail_on: str) -> list[str]:
    limit = SEVERITIES.index(fail_on)
    return [f.rule for f in run.result.findings if SEVERITIES.index(f.severity) <= limit]


def _assert_first_screen(text: str, report: Report, run: LintRun) -> None:
    """Every finding that fails the gate is among the top issues, within the first lines,
    each top issue naming its first location and linking to its fix below."""
    first = "\n".join(text.splitlines()[:FIRST_SCREEN])
    assert "## Top issues" in first
    failing = _gate_failures(run, report.fail_on)
    assert failing, "the scenario must fail the gate, or the test proves nothing"
    top = {g["rule"]: g for g in report.top_issues}
    for rule in failing:
        assert rule in top, f"{rule} fails the gate but is not a top issue"
    for group in report.top_issues:
        assert f"(#{group['anchor']})" in first, group["rule"]
        assert f"`{group['first']}`" in first, group["rule"]
        # The link lands on the group's heading (GitHub's anchor of it).
        heading = f"#### {group['title']} (`{group['rule']}`)"
        assert heading in text
    assert len(report.top_issues) <= max(7, sum(1 for g in report.top_issues if g["gate"]))
    # Ranked: failing the gate first, then by severity.
    ranks = [(not g["gate"], SEVERITIES.index(g["severity"])) for g in report.top_issues]
    assert ranks == sorted(ranks)


def _long_paragraphs(text: str) -> list[str]:
    """Blocks between blank lines, and the lines of each (a list item, a table row): the
    units a reader sees repeated."""
    units = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in block.strip().splitlines()]
        units.append("\n".join(lines))
        if len(lines) > 1:
            units.extend(lines)
    return [u for u in units if len(u) > 200]


def _assert_no_repeated_paragraph(text: str) -> None:
    repeated = [u for u, n in Counter(_long_paragraphs(text)).items() if n > 1]
    assert not repeated, f"repeated: {repeated[0][:120]}..."


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_first_screen_of_each_example_holds_the_top_issues(name: str, in_repo: None) -> None:
    run = lint([EXAMPLES[name].relative_to(REPO)], Settings())
    report = build_report(run, "high", f"Review: {name} migrations")
    text = render_report(report)
    _assert_first_screen(text, report, run)
    _assert_no_repeated_paragraph(text)
    # The first screen is not a table of categories, and no path is absolute.
    assert "| category |" not in text
    assert str(REPO) not in text


def _after_fix_repository(tmp_path: Path) -> Path:
    """The saas example committed, then a change that fixes some findings (a new migration;
    the parse error by editing its file) and brings new ones."""
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES["saas-app"], repo / "migrations")
    _git(repo, "init", "-q")
    _commit_all(repo, "base")
    broken = repo / "migrations" / "0009_invoice_notes.up.sql"
    broken.write_text(broken.read_text().replace("timestamptz,;", "timestamptz;"))
    (repo / "migrations" / "0012_fixes.up.sql").write_text(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS project_members_user_id_idx"
        " ON public.project_members (user_id);\n"
        "ALTER FUNCTION public.is_account_admin(bigint, bigint)"
        " SET search_path = pg_catalog, pg_temp;\n"
        "CREATE TABLE IF NOT EXISTS public.refunds (id bigint GENERATED ALWAYS AS IDENTITY"
        " PRIMARY KEY, payment_id bigint NOT NULL REFERENCES public.payments (id));\n"
    )
    return repo


def test_first_screen_after_a_fix_with_diff_base(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _after_fix_repository(tmp_path)
    monkeypatch.chdir(repo)
    run = lint(["migrations"], Settings(diff_base="HEAD"))
    report = build_report(run, "high", "After the fix")
    text = render_report(report)
    _assert_first_screen(text, report, run)
    _assert_no_repeated_paragraph(text)
    assert report.progress is not None
    head = "\n".join(text.splitlines()[:8])
    progress = report.progress
    assert (
        f"**Since `HEAD`:** {progress['resolved']} resolved, {progress['new']} new, "
        f"{progress['open']} still open" in head
    )
    resolved = {g["rule"] for g in progress["resolved_groups"]}
    assert {"parse-error", "security-definer-search-path"} <= resolved
    # The edited file was applied at the base: never edited, says the review.
    assert "modified-applied-migration" in {g["rule"] for g in report.top_issues}
    for heading in ("## Resolved since `HEAD`", "## New in this change", "## Still open"):
        assert heading in text
    # A fix of the final schema goes into a new migration.
    index = next(g for g in report.top_issues if g["rule"] == "fk-missing-index")
    assert index["where"] == "in a new migration"
    timeline = {e["file"]: e["status"] for e in report.timeline}
    assert timeline["migrations/0012_fixes.up.sql"] == "added"
    assert timeline["migrations/0009_invoice_notes.up.sql"] == "modified"
    assert timeline["migrations/0001_create_accounts.up.sql"] == "unchanged"


TWO_COMMITS_BASE = (
    "CREATE TABLE IF NOT EXISTS accounts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " email text NOT NULL UNIQUE);\n"
    "CREATE INDEX IF NOT EXISTS accounts_email_idx ON accounts (email);\n"
    "CREATE TABLE IF NOT EXISTS events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " account_id bigint NOT NULL REFERENCES accounts (id), at timestamptz NOT NULL);\n"
    "CREATE OR REPLACE FUNCTION account_count() RETURNS bigint LANGUAGE sql SECURITY DEFINER"
    " AS $$ SELECT count(*) FROM accounts $$;\n"
)
# Fixes three findings (the foreign key's index, the function's search_path and its EXECUTE
# for PUBLIC) in a new migration, and adds one (a table without a primary key).
TWO_COMMITS_CHANGE = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS events_account_id_idx ON events (account_id);\n"
    "ALTER FUNCTION account_count() SET search_path = pg_catalog, pg_temp;\n"
    "REVOKE EXECUTE ON FUNCTION account_count() FROM PUBLIC;\n"
    "CREATE TABLE IF NOT EXISTS audit_log (at timestamptz NOT NULL, what text NOT NULL);\n"
)


def test_two_commits_three_resolved_one_new_and_the_score_goes_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = commit_files(tmp_path / "repo", [("db/0001_init.sql", TWO_COMMITS_BASE)])
    (repo / "db" / "0002_fixes.sql").write_text(TWO_COMMITS_CHANGE)
    _commit_all(repo, "fixes")
    monkeypatch.chdir(repo)
    run = lint(["db"], Settings(diff_base="HEAD~1"))
    report = build_report(run, "high")
    progress = report.progress
    assert progress is not None
    assert (progress["resolved"], progress["new"], progress["open"]) == (3, 1, 2)
    assert {g["rule"] for g in progress["resolved_groups"]} == {
        "fk-missing-index",
        "security-definer-search-path",
        "security-definer-executable-by-public",
    }
    assert [f["rule"] for f in report.findings] == ["table-missing-primary-key"]
    assert report.score > progress["score_before"]
    text = render_report(report)
    assert "3 resolved, 1 new, 2 still open" in "\n".join(text.splitlines()[:8])
    assert f"(was {progress['score_before']} at `HEAD~1`)" in text
    comment = render_report(report, "pr-comment")
    assert "3 resolved, 1 new" in comment
    summary = CliRunner().invoke(
        main, ["report", "db", "--diff-base", "HEAD~1", "--template", "summary"]
    )
    assert "3 resolved, 1 new, 2 still open" in summary.output


def test_baseline_file_is_a_base_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    (folder / "0001_init.sql").write_text(TWO_COMMITS_BASE)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    recorded = runner.invoke(main, ["baseline", "db", "-o", "baseline.json"])
    assert recorded.exit_code == 0, recorded.output
    (folder / "0002_fixes.sql").write_text(TWO_COMMITS_CHANGE)
    result = runner.invoke(main, ["report", "db", "--baseline", "baseline.json"])
    assert result.exit_code == 0, result.output
    assert "**Since `baseline.json`:** 3 resolved, 1 new, 2 still open." in result.output


def test_one_rule_on_many_objects_is_one_top_issue(lint_sql: LintSql) -> None:
    tables = "".join(
        f"CREATE TABLE IF NOT EXISTS t{n} (id bigint PRIMARY KEY, a timestamp, b timestamp);\n"
        for n in range(4)
    )
    report = build_report(lint_sql(tables, select=("timestamp-without-time-zone",)), "high")
    assert len(report.top_issues) == 1
    group = report.top_issues[0]
    assert group["label"] == "8 columns in 4 tables"
    assert group["count"] == 8
    text = render_report(report)
    # The why once, one fix block holding each statement once.
    assert text.count("*Why it matters:*") == 1
    assert text.count("```sql") == 1
    assert text.count("ALTER COLUMN a TYPE timestamptz") == 4


def test_a_repeated_fix_is_given_once_for_the_group(lint_sql: LintSql) -> None:
    files = [
        (f"000{n}_add.sql", f"ALTER TABLE t ADD COLUMN IF NOT EXISTS c{n} text;\n")
        for n in range(2, 5)
    ]
    run = lint_sql(
        [("0001_t.sql", "CREATE TABLE IF NOT EXISTS t (id bigint PRIMARY KEY);\n"), *files],
        select=("missing-lock-timeout",),
    )
    report = build_report(run, "high")
    (group,) = report.sections[0]["groups"]
    assert group["count"] == 3 and group["same_fix"]
    assert group["fix"] == "SET lock_timeout = '5s';"
    assert "with no lock_timeout set" in group["shared"]  # said once for the three
    text = render_report(report)
    assert "**Fix** the same in each of the 3 files:" in text
    assert text.count("SET lock_timeout = '5s';") == 2  # the group's block, the plan's row


def test_score_counts_root_causes_with_a_cap_per_rule(lint_sql: LintSql) -> None:
    run = lint_sql(
        "".join(
            f"CREATE TABLE IF NOT EXISTS t{n} (id bigint PRIMARY KEY, at timestamp);\n"
            for n in range(12)
        ),
        select=("timestamp-without-time-zone",),
    )
    findings = run.result.findings
    assert len(findings) == 12
    # 17 = 5 + 12 tables; 12 low root causes count as 5 (the cap): 10 x 17 / (17 + 1.25).
    assert score(findings, 17) == round(10 * 17 / (17 + 5 * 0.25), 1)
    # The same rule on the same object twice is one root cause.
    assert score([*findings, findings[0]], 17) == score(findings, 17)
    # Info weighs nothing.
    assert score([f._replace(severity="info") for f in findings], 17) == 10.0


def test_strengths_are_few_true_and_never_over_what_the_replay_missed(
    lint_sql: LintSql,
) -> None:
    tables = (
        "CREATE TABLE IF NOT EXISTS a (id bigint PRIMARY KEY);\n"
        "CREATE TABLE IF NOT EXISTS b (id bigint PRIMARY KEY, a_id bigint REFERENCES a (id));\n"
        "CREATE INDEX IF NOT EXISTS b_a_id_idx ON b (a_id);\n"
        "CREATE TABLE IF NOT EXISTS c (id bigint PRIMARY KEY, a_id bigint REFERENCES a (id));\n"
        "CREATE INDEX IF NOT EXISTS c_a_id_idx ON c (a_id);\n"
    )
    report = build_report(lint_sql(tables), "high")
    assert "Every foreign key has a covering index (2 foreign keys)" in report.strengths
    assert "Every table has a primary key (3 tables)" in report.strengths
    assert len(report.strengths) <= 5
    assert not any("money" in s.lower() for s in report.strengths)
    # DDL the replay cannot see: no strength at all, and the checklist does not pass.
    hidden = tables + (
        "DO $$ BEGIN EXECUTE format('CREATE INDEX %I ON a (id)', 'a_' || to_char(now(), 'YYYY'));"
        " END $$;\n"
    )
    blind = build_report(lint_sql(hidden), "high")
    assert blind.scope["not_modelled"] >= 1
    assert blind.strengths == []
    assert "ddl-not-modelled" in blind.strengths_note
    statuses = {row["standard"]: row["status"] for row in blind.checklist["standards"]}
    assert statuses["Every table has a primary key"] == "unverified"
    # A table whose columns are unknown: no strength about columns.
    made = tables.replace("c (id bigint", "c (id bigint, at timestamptz, bt timestamptz")
    made += "CREATE TABLE IF NOT EXISTS r AS SELECT * FROM generate_series(1, 3);\n"
    unknown = build_report(lint_sql(made), "high")
    assert unknown.scope["unknown_columns"] == ["public.r"]
    assert not any("timestamp" in s for s in unknown.strengths)


def test_checklist_shares_are_over_what_each_standard_is_about(lint_sql: LintSql) -> None:
    sql = (
        "CREATE TABLE IF NOT EXISTS a (id bigint PRIMARY KEY, at timestamptz, bt timestamp,"
        " name text, note text, kind text);\n"
    )
    report = build_report(lint_sql(sql), "high")
    rows = {row["standard"]: row for row in report.checklist["standards"]}
    zone = rows["Timestamps carry a time zone"]
    # Over the two timestamp columns, not the six columns of the table.
    assert (zone["passing"], zone["subjects"], zone["share"]) == (1, 2, 50.0)
    assert rows["Heavy locks are bounded by lock_timeout"]["status"] == "nothing to check"


def test_action_plan_groups_and_tells_edits_from_new_migrations(in_repo: None) -> None:
    run = lint(["examples/saas-app/migrations"], Settings())
    report = build_report(run, "high")
    assert 5 <= len(report.actions) <= 15
    whens = [a["when"] for a in report.actions]
    order = ["before merge", "before production", "later"]
    assert whens == sorted(whens, key=order.index)
    gate = {g["rule"] for g in report.top_issues if g["gate"]}
    assert gate == {r for a in report.actions if a["when"] == "before merge" for r in a["rules"]}
    # Every group of findings is named by one row.
    grouped = {g["rule"] for s in report.sections for g in s["groups"]}
    assert grouped == {r for a in report.actions for r in a["rules"]}
    where = {r: a["where"] for a in report.actions for r in a["rules"] if len(a["rules"]) == 1}
    assert where["fk-missing-index"] == "in a new migration"
    assert where["create-index-not-concurrently"] == "in the file"


def test_timeline_names_what_was_dropped_and_renamed_by_the_names_of_the_time(
    lint_sql: LintSql,
) -> None:
    run = lint_sql(
        [
            (
                "0001_create.sql",
                "CREATE TABLE IF NOT EXISTS memberships (id bigint PRIMARY KEY, x int NOT NULL,"
                " note text,"
                " CONSTRAINT note_short CHECK (length(note) < 100));\n",
            ),
            (
                "0002_change.sql",
                "ALTER TABLE memberships DROP CONSTRAINT note_short;\n"
                "ALTER TABLE memberships DROP COLUMN note;\n"
                "ALTER TABLE memberships ALTER COLUMN x DROP NOT NULL;\n"
                "ALTER TABLE memberships RENAME TO project_memberships;\n",
            ),
        ]
    )
    report = build_report(run, "high")
    first, second = report.timeline
    assert first["created"] == ["public.memberships"]  # not its later name
    assert second["dropped"] == ["public.memberships.note_short", "public.memberships.note"]
    assert second["renamed"] == ["public.memberships → project_memberships"]
    assert "public.memberships" not in second["dropped"]
    assert second["lock_mode"] == "ACCESS EXCLUSIVE"


def test_diagram_draws_the_change_and_marks_unindexed_foreign_keys(in_repo: None) -> None:
    run = lint(["examples/saas-app/migrations"], Settings())
    report = build_report(run, "high")
    (diagram,) = report.diagrams
    assert diagram["mermaid"].startswith("erDiagram")
    assert 'users ||--o{ project_members : "user_id (no index)"' in diagram["mermaid"]
    assert 'projects ||--o{ project_members : "project_id"\n' in diagram["mermaid"]
    assert "```mermaid" in render_report(report)


def test_policies_are_listed_with_using_and_with_check(lint_sql: LintSql) -> None:
    run = lint_sql(
        "CREATE TABLE IF NOT EXISTS notes (id bigint PRIMARY KEY, owner uuid);\n"
        "ALTER TABLE notes ENABLE ROW LEVEL SECURITY;\n"
        "CREATE POLICY notes_own ON notes FOR UPDATE TO authenticated"
        " USING (owner = auth.uid()) WITH CHECK (owner = auth.uid());\n"
    )
    (policy,) = build_report(run, "high").inventory["policies"]
    assert policy["using"] == policy["with_check"] == "owner = auth.uid()"


def test_pr_comment_leads_with_top_issues_and_collapses_the_rest_by_rule(in_repo: None) -> None:
    run = lint(["examples/saas-app/migrations"], Settings())
    report = build_report(run, "high")
    comment = render_report(report, "pr-comment")
    top, _, rest = comment.partition("<details>")
    for group in report.top_issues:
        assert group["title"] in top
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS project_members_user_id_idx" in top
    # Collapsed by rule (one bullet a rule), never by file.
    bullets = [line for line in rest.splitlines() if line.startswith("- **")]
    others = [g for s in report.sections for g in s["groups"] if g not in report.top_issues]
    assert len(bullets) == len(others)


@pytest.mark.skipif(not (CORPUS / "langfuse").exists(), reason="../shared/corpus not present")
def test_a_large_project_reads_the_same_way() -> None:
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        run = lint([Path("..") / "shared" / "corpus" / "langfuse"], Settings())
    finally:
        os.chdir(cwd)
    report = build_report(run, "high")
    text = render_report(report)
    _assert_first_screen(text, report, run)
    _assert_no_repeated_paragraph(text)
    assert 5 <= len(report.actions) <= 15


def _worked_example(index: bool, more_columns: int) -> str:
    """The README's example: 3 tables, 2 foreign keys without an index, 12 timestamp columns
    without a time zone (4 a table, more with `more_columns`), a text column of user content."""

    def stamps(prefix: str) -> str:
        return ", ".join(f"{prefix}{n} timestamp" for n in range(4 + more_columns))

    fk = "a_id bigint REFERENCES a (id)"
    sql = (
        f"CREATE TABLE IF NOT EXISTS a (id bigint PRIMARY KEY, {stamps('t')}, description text);\n"
        f"CREATE TABLE IF NOT EXISTS b (id bigint PRIMARY KEY, {fk}, {stamps('u')});\n"
        f"CREATE TABLE IF NOT EXISTS c (id bigint PRIMARY KEY, {fk}, {stamps('v')});\n"
    )
    return sql + ("CREATE INDEX IF NOT EXISTS b_a_id_idx ON b (a_id);\n" if index else "")


def test_the_readme_score_example(lint_sql: LintSql) -> None:
    rules = ("fk-missing-index", "timestamp-without-time-zone", "unbounded-text-column")
    report = build_report(lint_sql(_worked_example(False, 0), select=rules), "high")
    assert Counter(f["severity"] for f in report.findings) == {"low": 12, "high": 2, "info": 1}
    assert report.score == 6.0
    fixed = build_report(lint_sql(_worked_example(True, 0), select=rules), "high")
    assert fixed.score == 7.1
    wider = build_report(lint_sql(_worked_example(True, 8), select=rules), "high")
    assert len(wider.findings) > len(fixed.findings) and wider.score == fixed.score
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "a score of `10 \u00d7 8 / 13.25 = 6.0`" in readme
    assert "`10 \u00d7 8 / 11.25 = 7.1`" in readme


def test_a_partition_does_not_repeat_its_parents_columns(lint_sql: LintSql) -> None:
    run = lint_sql(
        "CREATE TABLE IF NOT EXISTS events (id bigint NOT NULL, at date NOT NULL,"
        " PRIMARY KEY (id, at)) PARTITION BY RANGE (at);\n"
        "CREATE TABLE IF NOT EXISTS events_2024 PARTITION OF events"
        " FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');\n"
    )
    report = build_report(run, "high")
    same = {t["name"]: t["same_as"] for t in report.inventory["tables"]}
    assert same == {"public.events": "", "public.events_2024": "public.events"}
    text = render_report(report)
    assert "**public.events_2024**: the same columns as public.events above." in text
