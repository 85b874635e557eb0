"""Rule documentation comes from the rule files: the catalogue, `explain`, docs/rules.md."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from schema_review.cli import main
from schema_review.output import render_rules_markdown
from schema_review.rules import load_rules
from tests.helpers import REPO

REGENERATE = "schema-review rules --format markdown -o docs/rules.md"


def test_docs_rules_md_is_fresh() -> None:
    written = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    assert written == render_rules_markdown(load_rules()), (
        f"docs/rules.md is stale: regenerate it with `{REGENERATE}`"
    )


def test_markdown_has_a_section_per_rule() -> None:
    markdown = render_rules_markdown(load_rules())
    for rule in load_rules():
        assert f"\n### {rule.id}\n" in markdown
        assert f"[`{rule.id}`](#{rule.id})" in markdown


def test_rules_json_lists_every_rule_with_its_defaults() -> None:
    result = CliRunner().invoke(main, ["rules", "--format", "json"])
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert [r["id"] for r in rows] == [r.id for r in load_rules()]
    for row in rows:
        assert {"id", "title", "severity", "category", "default", "dialects"} <= set(row)
        assert row["dialects"] == ["postgres"]
    by_id = {r["id"]: r for r in rows}
    assert by_id["missing-statement-timeout"]["default"] is False
    assert by_id["fk-missing-index"]["default"] is True


def test_explain_shows_why_examples_and_fix() -> None:
    result = CliRunner().invoke(main, ["explain", "fk-missing-index"])
    assert result.exit_code == 0
    rule = next(r for r in load_rules() if r.id == "fk-missing-index")
    assert rule.why.split("\n")[0] in result.output
    assert rule.examples["bad"].strip().split("\n")[0] in result.output
    assert rule.examples["good"].strip().split("\n")[0] in result.output
    assert "Fix (template):" in result.output


def test_explain_unknown_rule_suggests_close_ids() -> None:
    result = CliRunner().invoke(main, ["explain", "fk-missing-indx"])
    assert result.exit_code == 2
    assert "did you mean fk-missing-index" in result.output


def test_rules_markdown_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "rules.md"
    result = CliRunner().invoke(main, ["rules", "--format", "markdown", "-o", str(target)])
    assert result.exit_code == 0
    assert target.read_text(encoding="utf-8").startswith("# Rules\n")
