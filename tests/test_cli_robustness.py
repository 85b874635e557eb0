"""No tracebacks, ever; the exit status says what happened (issue 14, item 2).

Every command is driven with the mistakes users make: an output file in a folder that does
not exist or that cannot be written, a template with an undefined attribute or a syntax
error, a rule expression that fails on some object, paths and configurations that are
wrong. Each must end in one located line and exit 2, never in a traceback, and never in
exit 1 (which means "findings at or above the gate").
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from schema_review.cli import main
from tests.helpers import write_migrations

FAILING_RULE = """\
- id: team-default-functions
  title: Defaults that call functions
  severity: medium
  category: design
  target: column
  when: column.default.function_names | length > 0
  message: "{{ column.qualified_name }}"
  why: A rule of the team's that forgets that most columns have no default at all, so its
    expression fails on the first column without one.
  examples:
    bad: CREATE TABLE t (id uuid DEFAULT gen_random_uuid());
    good: CREATE TABLE t (id uuid);
"""

Case = Callable[[Path], list[str]]


def _folder(tmp: Path) -> str:
    folder = write_migrations(
        tmp / "db", [("0001_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY);\n")]
    )
    return str(folder)


def _config(tmp: Path, text: str) -> str:
    config = tmp / "team.schema-review.yaml"
    config.write_text(text, encoding="utf-8")
    return str(config)


def _failing_rule_config(tmp: Path) -> str:
    (tmp / "team-rules.yaml").write_text(FAILING_RULE, encoding="utf-8")
    return _config(tmp, "rule-files: [team-rules.yaml]\n")


def _template(tmp: Path, text: str) -> str:
    template = tmp / "mine.md.jinja"
    template.write_text(text, encoding="utf-8")
    return str(template)


MISSING_FOLDER = "no-such-folder/out.txt"

# (command, mistake, arguments): every command with the mistakes that apply to it.
CASES: list[tuple[str, str, Case]] = [
    ("lint", "missing path", lambda t: ["lint", str(t / "nope")]),
    ("lint", "-o in a missing folder", lambda t: ["lint", _folder(t), "-o", MISSING_FOLDER]),
    ("lint", "-o a folder", lambda t: ["lint", _folder(t), "-o", str(t)]),
    ("lint", "-o a device that is full", lambda t: ["lint", _folder(t), "-o", "/dev/full"]),
    ("lint", "malformed config", lambda t: ["lint", _folder(t), "--config", _config(t, "[")]),
    ("lint", "unknown setting", lambda t: ["lint", _folder(t), "--config", _config(t, "x: 1")]),
    (
        "lint",
        "failing rule expression",
        lambda t: ["lint", _folder(t), "--config", _failing_rule_config(t)],
    ),
    ("lint", "bad pg-version", lambda t: ["lint", _folder(t), "--pg-version", "eleven"]),
    ("lint", "unknown rule", lambda t: ["lint", _folder(t), "--select", "fk-missing-indx"]),
    ("lint", "not a baseline", lambda t: ["lint", _folder(t), "--baseline", _config(t, "{}")]),
    ("lint", "diff-base outside git", lambda t: ["lint", _folder(t), "--diff-base", "HEAD"]),
    ("lint", "empty folder", lambda t: ["lint", str(write_migrations(t / "e", []))]),
    ("report", "-o in a missing folder", lambda t: ["report", _folder(t), "-o", MISSING_FOLDER]),
    (
        "report",
        "undefined attribute in a template",
        lambda t: ["report", _folder(t), "--template", _template(t, "{{ report.nope.x }}\n")],
    ),
    (
        "report",
        "syntax error in a template",
        lambda t: ["report", _folder(t), "--template", _template(t, "{% if %}\n")],
    ),
    (
        "report",
        "template that fails at run time",
        lambda t: ["report", _folder(t), "--template", _template(t, "{{ 1 // 0 }}\n")],
    ),
    ("report", "missing template", lambda t: ["report", _folder(t), "--template", "nope.jinja"]),
    (
        "report",
        "failing rule expression",
        lambda t: ["report", _folder(t), "--config", _failing_rule_config(t)],
    ),
    ("rules", "-o in a missing folder", lambda t: ["rules", "-o", MISSING_FOLDER]),
    (
        "rules",
        "malformed rule file",
        lambda t: ["rules", "--config", _config(t, "rule-files: [x]")],
    ),
    ("explain", "unknown rule", lambda t: ["explain", "fk-missing-indx"]),
    (
        "explain",
        "malformed config",
        lambda t: ["explain", "drop-table", "--config", _config(t, "[")],
    ),
    ("test-rules", "missing file", lambda t: ["test-rules", str(t / "nope.yaml")]),
    ("test-rules", "malformed rule file", lambda t: ["test-rules", _config(t, "- id: [")]),
    (
        "test-rules",
        "unknown attribute",
        lambda t: ["test-rules", _config(t, FAILING_RULE.replace("function_names", "fn"))],
    ),
    ("attributes", "-o in a missing folder", lambda t: ["attributes", "-o", MISSING_FOLDER]),
    (
        "baseline",
        "-o in a missing folder",
        lambda t: ["baseline", _folder(t), "-o", MISSING_FOLDER],
    ),
    ("baseline", "-o a device that is full", lambda t: ["baseline", _folder(t), "-o", "/dev/full"]),
    ("baseline", "missing path", lambda t: ["baseline", str(t / "nope"), "-o", str(t / "b.json")]),
    ("hook", "missing file", lambda t: ["hook", str(t / "db" / "nope.sql")]),
    ("hook", "malformed config", lambda t: ["hook", _folder(t), "--config", _config(t, "[")]),
    (
        "hook",
        "failing rule expression",
        lambda t: ["hook", _folder(t) + "/0001_users.sql", "--config", _failing_rule_config(t)],
    ),
    ("schema", "-o in a missing folder", lambda t: ["schema", _folder(t), "-o", MISSING_FOLDER]),
    ("schema", "missing path", lambda t: ["schema", str(t / "nope")]),
    ("schema", "bad pg-version", lambda t: ["schema", _folder(t), "--pg-version", "99"]),
    ("verify", "-o in a missing folder", lambda t: ["verify", _folder(t), "-o", MISSING_FOLDER]),
    ("verify", "standard input", lambda t: ["verify", "-"]),
    ("verify", "missing path", lambda t: ["verify", str(t / "nope")]),
    ("verify", "malformed config", lambda t: ["verify", _folder(t), "--config", _config(t, "[")]),
    ("config", "malformed config", lambda t: ["config", "check", _config(t, "[")]),
    ("config", "missing file", lambda t: ["config", "check", str(t / "nope.yaml")]),
    ("config", "no configuration", lambda t: ["config", "check"]),
    (
        "config",
        "bad option value",
        lambda t: ["config", "check", _config(t, "options: {enum-style: {style: enums}}")],
    ),
    ("config", "-o in a missing folder", lambda t: ["config", "schema", "-o", MISSING_FOLDER]),
]


def _check(result: Result, arguments: list[str]) -> None:
    """No traceback; exit 2 with one `schema-review: error:` line, or exit 1 only for a gate
    that failed, or 0."""
    shown = f"{arguments}: exit {result.exit_code}\n{result.output}"
    assert result.exception is None or isinstance(result.exception, SystemExit), shown
    assert "Traceback" not in result.output, shown
    if result.exit_code == 1:
        assert "Gate failed" in result.output or "gate failed" in result.output, shown
        return
    assert result.exit_code == 2, shown
    errors = [line for line in result.output.splitlines() if line.startswith("schema-review:")]
    usage = "Error:" in result.output  # click's own usage errors: exit 2, with the usage
    assert usage or len(errors) == 1, shown


@pytest.mark.parametrize(
    ("command", "mistake", "case"), CASES, ids=[f"{c}: {m}" for c, m, _ in CASES]
)
def test_every_command_fails_cleanly(
    command: str, mistake: str, case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    arguments = case(tmp_path)
    result = CliRunner().invoke(main, arguments)
    _check(result, arguments)
    assert result.exit_code == 2, result.output


def test_every_command_has_cases() -> None:
    assert {command for command, _, _ in CASES} >= set(main.commands)


def test_errors_name_the_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = _folder(tmp_path)
    result = CliRunner().invoke(main, ["lint", folder, "-o", MISSING_FOLDER])
    assert result.output == (
        f"schema-review: error: {MISSING_FOLDER}: cannot write: the folder no-such-folder "
        "does not exist\n"
    )
    result = CliRunner().invoke(main, ["lint", folder, "--config", _failing_rule_config(tmp_path)])
    assert result.output.startswith(
        f"schema-review: error: {tmp_path}/team-rules.yaml:1: rule team-default-functions: "
    )
    assert "(evaluating it on public.users.id at db/0001_users.sql:1)" in result.output
    template = _template(tmp_path, "# Review\n\n{{ report.nope.x }}\n")
    result = CliRunner().invoke(main, ["report", folder, "--template", template])
    assert result.output.startswith(f"schema-review: error: template {template}:3: ")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files")
def test_an_unwritable_file(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("", encoding="utf-8")
    target.chmod(0o400)
    result = CliRunner().invoke(main, ["lint", _folder(tmp_path), "-o", str(target)])
    assert result.exit_code == 2
    assert result.output == f"schema-review: error: {target}: cannot write: permission denied\n"


def test_an_unforeseen_error_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A bug of ours in any command: one line that says so, exit 2, no traceback."""
    import schema_review.export

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("a bug")

    monkeypatch.setattr(schema_review.export, "schema_document", broken)
    result = CliRunner().invoke(main, ["schema", _folder(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith("schema-review: error: internal error: ValueError: a bug")
    assert "Traceback" not in result.output


# A process started for the command: what `schema-review` and `python -m schema_review` run,
# with an exit handler that says whether the interpreter's teardown ran.
_PROCESS = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write('teardown\\n'))\n"
    "from schema_review.cli import main\n"
    "main()\n"
)


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        (["lint", "--format", "json", "--select", "all", "--no-cache"], 1),
        (["lint", "--select", "all", "--no-cache", "--fail-on", "none"], 0),
        (["report", "--date", "2026-01-01"], 0),
    ],
)
def test_a_process_started_for_the_command_ends_without_teardown_and_writes_all_of_it(
    arguments: list[str], code: int
) -> None:
    """lint and report end their own process without the interpreter taking down what the
    run built (cli._finish): the output is all there, flushed, with the exit status; a caller
    that passes the arguments (click's runner here, the tests) is not ended."""
    import subprocess
    import sys

    folder = str(Path(__file__).parent.parent / "examples" / "saas-app" / "migrations")
    process = subprocess.run(
        [sys.executable, "-c", _PROCESS, *arguments, folder],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    in_process = CliRunner().invoke(main, [*arguments, folder])
    assert process.returncode == in_process.exit_code == code, process.stderr
    assert "teardown" not in process.stderr
    assert process.stdout == in_process.stdout
    assert len(process.stdout) > 1000
