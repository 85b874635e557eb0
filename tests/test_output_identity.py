"""The JSON output on the examples and on every rule's examples is what it was when the
snapshots in tests/golden/ were written: speed work (issue 17) must not change a byte of it.

A change of output that is meant (a new rule, a reworded message) rewrites the snapshots:

    .venv/bin/python -m tests.test_output_identity --write

and the diff of tests/golden/ shows what changed.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from schema_review.cli import main as cli
from schema_review.config import Settings
from schema_review.pipeline import lint
from schema_review.rules import Rule, load_rules
from tests.helpers import REPO, commit_files, split_example, write_migrations

GOLDEN = REPO / "tests" / "golden"
EXAMPLES_JSON = GOLDEN / "examples.json"
RULE_EXAMPLES_JSON = GOLDEN / "rule-examples.json"
_REGENERATE = ".venv/bin/python -m tests.test_output_identity --write"


def examples_output() -> str:
    """`schema-review lint examples --select all --format json`, run from the repository."""
    before = Path.cwd()
    os.chdir(REPO)
    try:
        result = CliRunner().invoke(
            cli, ["lint", "examples", "--select", "all", "--format", "json", "--no-cache"]
        )
    finally:
        os.chdir(before)
    assert result.exit_code in (0, 1), result.output
    return result.output


def _example_findings(rule: Rule, sql: str, folder: Path) -> list[dict[str, Any]]:
    settings: dict[str, Any] = {"select": ("all",), **dict(rule.example_profile)}
    if rule.example_options:
        settings["rule_options"] = {rule.id: rule.example_options}
    base = rule.examples.get("base")
    if base is not None:
        commit_files(folder, split_example(base))
        for old in folder.glob("**/*.sql"):
            old.unlink()
        settings["diff_base"] = "HEAD"
    write_migrations(folder, split_example(sql))
    before = Path.cwd()
    os.chdir(folder)  # file names relative to the folder, whatever the temporary path
    try:
        run = lint([Path(".")], Settings(**settings))
    finally:
        os.chdir(before)
    return [
        {
            "rule": f.rule,
            "file": f.file,
            "line": f.line,
            "column": f.column,
            "object": f.object,
            "message": f.message,
            "fix": f.fix,
            "fingerprint": f.fingerprint,
        }
        for f in run.result.findings
    ]


def rule_examples_output() -> str:
    """The findings (all rules on) of every linted rule's bad and good examples."""
    output: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for rule in load_rules():
            if rule.target == "server":
                continue  # their findings come from PostgreSQL (tests/test_rule_examples.py)
            output[rule.id] = {
                which: _example_findings(
                    rule, rule.examples[which], Path(scratch) / rule.id / which
                )
                for which in ("bad", "good")
            }
    # Valid JSON with one finding a line: a change shows as the lines of what it changed.
    rules = []
    for rule_id, examples in output.items():
        parts = []
        for which, findings in examples.items():
            lines = [json.dumps(f, sort_keys=True, ensure_ascii=False) for f in findings]
            body = "".join(f"\n  {line}," for line in lines).rstrip(",")
            parts.append(f" {json.dumps(which)}: [{body}{chr(10) + ' ' if lines else ''}]")
        rules.append(f"{json.dumps(rule_id)}: {{\n" + ",\n".join(parts) + "\n}")
    return "{\n" + ",\n".join(rules) + "\n}\n"


def _compare(path: Path, actual: str) -> None:
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        first = next(
            (i for i, (a, b) in enumerate(zip(actual, expected, strict=False)) if a != b),
            min(len(actual), len(expected)),
        )
        pytest.fail(
            f"output differs from {path.relative_to(REPO)} at character {first}:\n"
            f"  now:    {actual[max(first - 200, 0) : first + 200]!r}\n"
            f"  before: {expected[max(first - 200, 0) : first + 200]!r}\n"
            f"if the change is meant: {_REGENERATE}"
        )


def test_examples_json_is_unchanged() -> None:
    _compare(EXAMPLES_JSON, examples_output())


def test_rule_examples_findings_are_unchanged() -> None:
    _compare(RULE_EXAMPLES_JSON, rule_examples_output())


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(f"usage: {_REGENERATE}")
    GOLDEN.mkdir(exist_ok=True)
    EXAMPLES_JSON.write_text(examples_output(), encoding="utf-8")
    RULE_EXAMPLES_JSON.write_text(rule_examples_output(), encoding="utf-8")
