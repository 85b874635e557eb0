"""Formats (issue 14, item 6): SARIF rules link to their section of docs/rules.md and carry
their help as Markdown; JUnit fails only on findings at or above the gate; the text format
shows the source line and the fix under each finding on request."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner

from schema_review import output
from schema_review.cli import main
from tests.helpers import REPO, write_migrations

EXAMPLE = REPO / "examples" / "saas-app" / "migrations"


def _lint(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["lint", *arguments, "--no-cache"], env={"NO_COLOR": "1"})
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output


# -- SARIF -----------------------------------------------------------------------------------


def _sarif_rules() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    _, output = _lint(str(EXAMPLE), "--format", "sarif")
    driver = json.loads(output)["runs"][0]["tool"]["driver"]
    return driver, driver["rules"]


def test_sarif_rules_link_to_their_section_of_the_catalogue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The installed package's `Repository` URL ([project.urls]); none is invented when unset.
    monkeypatch.setattr(output, "repository_url", lambda: "https://github.com/acme/schema-review")
    driver, rules = _sarif_rules()
    home = driver["informationUri"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", home), home
    headings = set(
        re.findall(r"^### (\S+)$", (REPO / "docs" / "rules.md").read_text(), re.MULTILINE)
    )
    for rule in rules:
        assert rule["helpUri"] == f"{home}/blob/main/docs/rules.md#{rule['id']}"
        assert rule["id"] in headings  # the anchor GitHub gives the rule's heading


def test_sarif_invents_no_link_without_a_repository_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "repository_url", lambda: None)
    driver, rules = _sarif_rules()
    assert "informationUri" not in driver
    assert rules and not any("helpUri" in rule for rule in rules)
    assert all(rule["help"]["markdown"] for rule in rules)


def test_sarif_help_is_the_rules_documentation_in_markdown() -> None:
    _, rules = _sarif_rules()
    by_id = {r["id"]: r for r in rules}
    fk = by_id["fk-missing-index"]["help"]
    assert fk["text"]  # plain text stays for viewers without Markdown
    markdown = fk["markdown"]
    assert markdown.startswith("**Foreign key without a covering index**")
    assert "Bad:\n\n```sql\n" in markdown and "Good:\n\n```sql\n" in markdown
    assert "CREATE INDEX" in markdown  # the fix template
    assert "### fk-missing-index" not in markdown  # a section's body, not the page's heading


def test_sarif_with_help_is_still_valid_against_the_official_schema() -> None:
    import jsonschema

    from tests.test_formats import official_sarif_schema

    _, output = _lint(str(EXAMPLE), "--format", "sarif")
    jsonschema.validate(json.loads(output), official_sarif_schema())


# -- JUnit -----------------------------------------------------------------------------------


def _junit(*arguments: str) -> tuple[ElementTree.Element, list[dict[str, Any]]]:
    _, output = _lint(str(EXAMPLE), "--format", "junit", *arguments)
    _, document = _lint(str(EXAMPLE), "--format", "json", *arguments)
    return ElementTree.fromstring(output), json.loads(document)["findings"]


RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


@pytest.mark.parametrize("gate", ["critical", "high", "medium", "low", "info"])
def test_junit_fails_only_on_findings_at_or_above_the_gate(gate: str) -> None:
    root, findings = _junit("--fail-on", gate)
    gating = [f for f in findings if RANK[f["severity"]] <= RANK[gate]]
    below = [f for f in findings if RANK[f["severity"]] > RANK[gate]]
    failures = root.findall(".//failure")
    skipped = root.findall(".//skipped")
    assert len(failures) == len(gating) == int(root.attrib["failures"])
    assert len(skipped) == len(below) == int(root.attrib["skipped"])
    suite = root.find("testsuite")
    assert suite is not None and int(suite.attrib["skipped"]) == len(below)
    assert {f.attrib["type"] for f in failures} <= {s for s in RANK if RANK[s] <= RANK[gate]}
    # A finding below the gate says why it does not fail, and keeps everything it reports.
    if below:
        first = skipped[0]
        assert f"below the gate (fail-on {gate})" in first.attrib["message"]
        assert below[0]["message"] in (first.text or "")


def test_junit_gate_off_fails_nothing() -> None:
    root, findings = _junit("--fail-on", "none")
    assert root.findall(".//failure") == [] and root.attrib["failures"] == "0"
    assert len(root.findall(".//skipped")) == len(findings)
    assert "gate off" in root.findall(".//skipped")[0].attrib["message"]


# -- text: --show-source, --show-fixes --------------------------------------------------------


@pytest.fixture
def history(tmp_path: Path) -> Path:
    return write_migrations(
        tmp_path / "db",
        [
            (
                "0001_users.sql",
                "CREATE TABLE users (\n\tid bigint PRIMARY KEY,\n\temail text\n);\n",
            ),
            (
                "0002_users_email.sql",
                "-- the login form looks users up by email\n"
                "CREATE INDEX users_email_idx ON users (email);\n",
            ),
        ],
    )


def test_show_source_prints_the_line_and_marks_the_span(history: Path) -> None:
    _, output = _lint(str(history), "--select", "create-index-not-concurrently", "--show-source")
    lines = output.splitlines()
    at = next(i for i, line in enumerate(lines) if "[create-index-not-concurrently]" in line)
    assert lines[at + 1] == "  2 | CREATE INDEX users_email_idx ON users (email);"
    assert lines[at + 2] == "    | " + "^" * len("CREATE INDEX users_email_idx ON users (email)")
    assert "fix:" not in output


def test_show_source_marks_the_column_of_a_finding_inside_a_line(history: Path) -> None:
    _, output = _lint(str(history), "--select", "pk-without-default", "--show-source")
    lines = output.splitlines()
    at = next(i for i, line in enumerate(lines) if "[pk-without-default]" in line)
    column = int(lines[at].split(":")[2])
    source, marks = lines[at + 1], lines[at + 2]
    assert source == "  2 |     id bigint PRIMARY KEY,"  # a tab shown as spaces
    prefix = len("  2 | ")
    assert marks.index("^") == prefix + 4 + column - 2  # under the tab-expanded column


def test_show_fixes_prints_the_fix_under_its_finding(history: Path) -> None:
    _, output = _lint(str(history), "--select", "create-index-not-concurrently", "--show-fixes")
    lines = output.splitlines()
    at = next(i for i, line in enumerate(lines) if "[create-index-not-concurrently]" in line)
    assert lines[at + 1] == "  fix:"
    fix = []
    for line in lines[at + 2 :]:
        if not line.startswith("    "):
            break
        fix.append(line[4:])
    assert any("CREATE INDEX CONCURRENTLY" in line for line in fix), output
    assert " | " not in output  # no source without --show-source


def test_show_source_and_fixes_together_end_with_the_summary(history: Path) -> None:
    code, output = _lint(str(history), "--show-source", "--show-fixes")
    assert code == 1
    lines = output.splitlines()
    assert lines[-1].startswith("Found ") and lines[-2].startswith("Settings: ")
    # Findings without a fix have no fix block; each finding's block is followed by a blank line.
    assert output.count("  fix:") < output.count(": high [") + output.count(": low [") + 10


def test_show_source_escapes_what_it_prints(tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "db", [("0001_t.sql", 'CREATE TABLE "t\x1b[31m" (id int); -- \u202e\n')]
    )
    _, output = _lint(str(folder), "--show-source", "--select", "all")
    assert "\x1b" not in output and "\u202e" not in output
    assert "\\x1b[31m" in output


@pytest.mark.parametrize("flag", ["--show-source", "--show-fixes"])
def test_show_flags_need_the_text_format(history: Path, flag: str) -> None:
    result = CliRunner().invoke(main, ["lint", str(history), flag, "--format", "json"])
    assert result.exit_code == 2 and flag in result.output
