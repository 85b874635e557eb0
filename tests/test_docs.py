"""Rule documentation comes from the rule files: the catalogue, `explain`, docs/rules.md."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from schema_review.cli import main
from schema_review.output import render_rules_markdown
from schema_review.rules import Rule, load_rules
from tests.helpers import REPO

REGENERATE = "schema-review rules --format markdown -o docs/rules.md"

TEAM_RULE = """\
- id: table-needs-comment
  title: Table without a comment
  severity: medium
  category: documentation
  target: table
  enabled: false
  when: table.comment is none
  message: "{{ table.qualified_name }} has no comment"
  why: Tables document themselves.
  notes: Tables created by extensions.
  examples:
    bad: CREATE TABLE t (id int PRIMARY KEY);
    good: "CREATE TABLE t (id int PRIMARY KEY); COMMENT ON TABLE t IS 'x';"
"""


def _rule(rule_id: str) -> Rule:
    return next(r for r in load_rules() if r.id == rule_id)


def _team_config(tmp_path: Path) -> str:
    (tmp_path / "team.yaml").write_text(TEAM_RULE, encoding="utf-8")
    config = tmp_path / ".schema-review.yaml"
    config.write_text("rule-files: [team.yaml]\n", encoding="utf-8")
    return str(config)


def test_docs_rules_md_is_fresh() -> None:
    written = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    assert written == render_rules_markdown(load_rules()), (
        f"docs/rules.md is stale: regenerate it with `{REGENERATE}`"
    )


def test_markdown_has_a_section_per_rule_by_category_then_id() -> None:
    rules = load_rules()
    markdown = render_rules_markdown(rules)
    assert markdown == render_rules_markdown(list(reversed(rules)))  # order of the files is moot
    positions = []
    for rule in rules:
        assert f"[`{rule.id}`](#{rule.id})" in markdown  # the index links to the section
        assert markdown.count(f"\n### {rule.id}\n") == 1
        positions.append((rule.category, rule.id, markdown.index(f"\n### {rule.id}\n")))
    assert [p[2] for p in sorted(positions)] == sorted(p[2] for p in positions)
    section = markdown.split("\n### fk-missing-index\n", 1)[1].split("\n### ", 1)[0]
    rule = _rule("fk-missing-index")
    assert rule.why.strip() in section
    assert rule.notes is not None and rule.notes.strip() in section
    assert f"```sql\n{rule.examples['bad'].strip()}\n```" in section
    assert f"```sql\n{rule.examples['good'].strip()}\n```" in section
    assert rule.fix is not None and f"```sql\n{rule.fix.strip()}\n```" in section


def test_rules_json_lists_every_rule_with_its_defaults() -> None:
    result = CliRunner().invoke(main, ["rules", "--format", "json"])
    assert result.exit_code == 0
    rows = json.loads(result.output)
    rules = load_rules()
    assert [r["id"] for r in rows] == [r.id for r in rules]
    for row, rule in zip(rows, rules, strict=True):
        assert set(row) == {"id", "title", "severity", "category", "default", "dialects"} | {
            "target",
            "fix",
            "options",
        }
        assert row["default"] is rule.enabled
        assert row["dialects"] == list(rule.dialects)
        assert row["fix"] is (rule.fix is not None)
    by_id = {r["id"]: r for r in rows}
    assert by_id["missing-statement-timeout"]["default"] is False
    assert by_id["fk-missing-index"]["default"] is True


def test_rules_text_has_a_line_per_rule_in_file_order() -> None:
    result = CliRunner().invoke(main, ["rules"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    rules = load_rules()
    assert [line.split()[0] for line in lines] == [r.id for r in rules]
    for line, rule in zip(lines, rules, strict=True):
        fields = line.split(maxsplit=5)
        assert fields[1:5] == [
            rule.severity,
            rule.category,
            "on" if rule.enabled else "off",
            ",".join(rule.dialects),
        ]
        assert fields[5] == rule.title


def test_rules_with_configured_rule_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["rules", "--format", "json", "--config", _team_config(tmp_path)]
    )
    assert result.exit_code == 0
    row = json.loads(result.output)[-1]
    assert (row["id"], row["default"]) == ("table-needs-comment", False)


def test_explain_shows_why_notes_examples_and_fix() -> None:
    result = CliRunner().invoke(main, ["explain", "fk-missing-index"])
    assert result.exit_code == 0
    rule = _rule("fk-missing-index")
    output = result.output
    assert output.startswith(f"fk-missing-index: {rule.title}\n")
    assert f"severity {rule.severity}, category {rule.category}, on by default" in output
    assert f"evaluated on: {rule.target}" in output
    assert rule.why.strip() in output
    assert rule.notes is not None and rule.notes.strip() in output
    bad, good = output.split("\nBad:\n", 1)[1].split("\nGood:\n", 1)
    for line in rule.examples["bad"].strip().splitlines():
        assert f"    {line}".rstrip() in bad.splitlines()
    for line in rule.examples["good"].strip().splitlines():
        assert f"    {line}".rstrip() in good.splitlines()
    assert "Fix (template):" in output
    assert rule.fix is not None and rule.fix.strip().splitlines()[0] in output


def test_explain_names_statement_kinds_and_the_examples_profile() -> None:
    result = CliRunner().invoke(main, ["explain", "transaction-nesting"])
    assert result.exit_code == 0
    rule = _rule("transaction-nesting")
    assert f"evaluated on: statement ({', '.join(rule.kinds)})" in result.output
    for key, value in rule.example_profile:
        assert f"{key} = {value}" in result.output


def test_explain_a_rule_of_the_configured_rule_files(tmp_path: Path) -> None:
    config = _team_config(tmp_path)
    result = CliRunner().invoke(main, ["explain", "table-needs-comment", "--config", config])
    assert result.exit_code == 0
    assert "off by default" in result.output
    assert "Tables document themselves." in result.output
    assert "When it does not apply: Tables created by extensions." in result.output
    assert "Fix (template):" not in result.output  # it has none


def test_explain_unknown_rule_suggests_close_ids() -> None:
    result = CliRunner().invoke(main, ["explain", "fk-missing-indx"])
    assert result.exit_code == 2
    assert "unknown rule fk-missing-indx" in result.output
    assert "did you mean fk-missing-index" in result.output


def test_rules_markdown_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "rules.md"
    result = CliRunner().invoke(main, ["rules", "--format", "markdown", "-o", str(target)])
    assert result.exit_code == 0 and result.output == ""
    assert target.read_text(encoding="utf-8") == render_rules_markdown(load_rules())
