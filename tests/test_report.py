"""Review documents: the report model (score, strengths, checklist) and its templates."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from schema_review.cli import main
from schema_review.config import Settings
from schema_review.output import PR_COMMENT_LIMIT, render_report
from schema_review.pipeline import lint
from schema_review.report import build_report
from tests.helpers import CORPUS, REPO, LintSql

EXAMPLE_TITLE = "Review: saas-app migrations"


def test_committed_example_review_is_fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(
        main, ["report", "examples/saas-app/migrations", "--title", EXAMPLE_TITLE]
    )
    assert result.exit_code == 0, result.output
    committed = (REPO / "examples" / "saas-app" / "review.md").read_text(encoding="utf-8")
    assert result.output == committed, (
        "examples/saas-app/review.md is stale: regenerate it with `schema-review report "
        f'examples/saas-app/migrations --title "{EXAMPLE_TITLE}" -o examples/saas-app/review.md`'
    )


def test_review_sections_and_numbers_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    run = lint(["examples/saas-app/migrations"], Settings())
    report = build_report(run, "high", "t")
    text = render_report(report)
    for heading in (
        "## Executive summary",
        "## Findings",
        "### Foreign keys",
        "### Indexes",
        "## Migration timeline",
        "## Action items",
        "## Compliance checklist",
        "### Suppressed findings",
    ):
        assert heading in text, heading
    assert report.verdict == "CHANGES REQUESTED"
    assert sum(report.counts.values()) == len(report.findings) == len(run.result.findings)
    # Every finding appears once in the findings section, and once in the action plan.
    for item in report.findings:
        assert text.count(f"(`{item['rule']}`), `{item['location']}`") == 1
    assert len(report.actions) == len(report.findings)
    # The uncovered foreign key of the example is flagged in the table.
    assert (
        "| public.project_members(user_id) | public.users(id) | CASCADE | NO ACTION | **no** |"
        in text
    )


def test_score_formula(lint_sql: LintSql) -> None:
    clean = build_report(
        lint_sql(
            "CREATE TABLE IF NOT EXISTS a (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);\n",
            select=(),  # the rules on by default: off ones (conventions) need a standard
        ),
        "high",
    )
    assert clean.score == 10.0 and clean.verdict == "APPROVED"
    # One table (scale 6) and one high finding (weight 2): 10 x 6 / 8 = 7.5.
    one_high = build_report(
        lint_sql("CREATE TABLE IF NOT EXISTS b (x int);\n", select=()), "critical"
    )
    assert [f["rule"] for f in one_high.findings] == ["table-missing-primary-key"]
    assert one_high.score == 7.5
    assert one_high.verdict == "APPROVED WITH FIXES"


def test_strengths_name_rules_that_could_have_fired(lint_sql: LintSql) -> None:
    sql = "".join(
        f"CREATE TABLE IF NOT EXISTS t{n} (id bigint PRIMARY KEY, at timestamptz);\n"
        for n in range(4)
    )
    report = build_report(lint_sql(sql), "high")
    assert any(
        s.startswith("Table without a primary key: none among 4 tables") for s in report.strengths
    )
    assert not any(
        "Timestamp" in s and "none among" in s and "columns" not in s for s in report.strengths
    )


def test_checklist_passes_and_fails_with_shares(lint_sql: LintSql) -> None:
    sql = (
        "CREATE TABLE IF NOT EXISTS a (id bigint PRIMARY KEY);\n"
        "CREATE TABLE IF NOT EXISTS b (id bigint PRIMARY KEY, a_id bigint REFERENCES a (id));\n"
        "CREATE TABLE IF NOT EXISTS c (id bigint PRIMARY KEY, a_id bigint REFERENCES a (id));\n"
        "CREATE INDEX IF NOT EXISTS c_a_id_idx ON c (a_id);\n"
    )
    report = build_report(lint_sql(sql), "high")
    rows = {row["standard"]: row for row in report.checklist["standards"]}
    fk = rows["Every foreign key has a covering index"]
    assert fk["passed"] is False and fk["share"] == 50.0
    assert rows["Every table has a primary key"]["passed"] is True
    assert 0 < report.checklist["percent"] < 100


def test_configured_standards_replace_the_defaults(lint_sql: LintSql) -> None:
    run = lint_sql("CREATE TABLE IF NOT EXISTS a (x int);\n")
    report = build_report(
        run, "high", standards=[("Keys everywhere", ["table-missing-primary-key"])]
    )
    assert [row["standard"] for row in report.checklist["standards"]] == ["Keys everywhere"]
    assert report.checklist["percent"] == 0.0


@pytest.mark.skipif(not (CORPUS / "hatchet").exists(), reason="../shared/corpus not present")
def test_pr_comment_stays_under_the_limit_on_the_largest_project() -> None:
    run = lint([CORPUS / "hatchet" / "migrations"], Settings(select=("all",)))
    report = build_report(run, "low")
    full = render_report(report, "review")
    comment = render_report(report, "pr-comment")
    assert len(full) > PR_COMMENT_LIMIT  # so the limit really had to cut
    assert len(comment) <= PR_COMMENT_LIMIT
    assert "left out to keep this comment under GitHub's size limit" in comment


def test_custom_template_file_is_sandboxed(tmp_path: Path, lint_sql: LintSql) -> None:
    report = build_report(lint_sql("CREATE TABLE IF NOT EXISTS a (x int);\n", select=()), "high")
    mine = tmp_path / "mine.md.jinja"
    mine.write_text("{{ report.verdict }} with {{ report.findings | length }} finding(s)\n")
    assert render_report(report, str(mine)) == "CHANGES REQUESTED with 1 finding(s)\n"
    evil = tmp_path / "evil.md.jinja"
    evil.write_text("{{ report.items.__globals__ }}\n")
    from schema_review.output import TemplateNotFound

    # One located error (the template's file and line), never the globals.
    with pytest.raises(TemplateNotFound, match=r"evil\.md\.jinja:1: .*__globals__"):
        render_report(report, str(evil))


def test_unknown_template_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["report", str(REPO / "examples"), "--template", "nope"])
    assert result.exit_code == 2
    assert "not a file, nor one of review, pr-comment, summary" in result.output


def test_configured_templates_folder_overrides_and_adds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the configured folder must lie in the repository
    folder = tmp_path / "review-templates"
    folder.mkdir()
    (folder / "summary.md.jinja").write_text("ours: {{ report.verdict }}\n")
    (folder / "slack.md.jinja").write_text("slack: {{ report.score }}\n")
    config = tmp_path / ".schema-review.yaml"
    config.write_text("templates: review-templates\n")
    example = str(REPO / "examples" / "saas-app" / "migrations")
    runner = CliRunner()
    base = ["report", example, "--config", str(config), "--template"]
    assert runner.invoke(main, [*base, "summary"]).output == "ours: CHANGES REQUESTED\n"
    assert runner.invoke(main, [*base, "slack"]).output.startswith("slack: ")
    assert runner.invoke(main, [*base, "review"]).output.startswith("# ")
