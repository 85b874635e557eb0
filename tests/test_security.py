"""Safe to run on untrusted pull requests (issue 18): one sandbox for rule expressions,
limits on what they and templates may cost, and YAML a configuration needs.

A pull request can change rule files, templates and configuration, and CI runs the tool with
secrets in its environment: nothing here may print, test or hang on them.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from schema_review.cli import main
from schema_review.config import Settings
from schema_review.output import TemplateNotFound, render_report
from schema_review.pipeline import lint
from schema_review.report import build_report
from schema_review.rules import RuleError, bounds, sandbox
from schema_review.rules import expressions as rule_expressions
from schema_review.rules.closures import compile_closure, compile_python, compile_renderer
from schema_review.rules.expressions import _condition_expression, environment
from schema_review.rules.prebuild import shipped_functions

SECRET_NAME = "SCHEMA_REVIEW_TEST_SECRET"

# Format strings that read the process environment when `str.format` runs outside the
# sandbox's formatter (the payload of the issue, and its relatives).
_ENVIRON = (
    "{0.__init__.__globals__[dataclass].__globals__[sys].modules[os].environ[" + SECRET_NAME + "]}"
)
_ENVIRON_MAP = "{t.__init__.__globals__[sys].modules[os].environ[" + SECRET_NAME + "]}"

# Expressions that would reach the secret if the sandbox had a hole: str.format by every path
# (attribute, item, dict, list, set, filter, format_map), subclasses through __class__ and
# __mro__, the globals of Jinja's cycler, joiner, namespace and lipsum, the attr filter, and
# item access of dunders.
PAYLOADS = [
    "{'f': '" + _ENVIRON + "'.format}.f(table)",  # the issue's payload
    "{'f': '" + _ENVIRON + "'.format}['f'](table)",
    "'" + _ENVIRON + "'.format(table)",
    "'" + _ENVIRON + "'['format'](table)",
    "{'f': '" + _ENVIRON + "'['format']}.f(table)",
    "['" + _ENVIRON + "'.format][0](table)",
    "('" + _ENVIRON + "'.format,)[0](table)",
    "(['" + _ENVIRON + "'.format]|first)(table)",
    "('" + _ENVIRON + "'|attr('format'))(table)",
    "'" + _ENVIRON_MAP + "'.format_map({'t': table})",
    "{'f': '" + _ENVIRON_MAP + "'.format_map}.f({'t': table})",
    "'{0.__class__.__mro__[1].__subclasses__}'.format(table)",
    "''.__class__.__mro__[1].__subclasses__()",
    "table.__class__.__init__.__globals__['sys'].modules['os'].environ",
    "table['__class__']['__init__']['__globals__']['sys'].modules['os'].environ",
    "table['__cla' ~ 'ss__']",
    "table|attr('__class__')|attr('__init__')|attr('__globals__')",
    "cycler.__init__.__globals__.os.environ",
    "joiner.__init__.__globals__.os.environ",
    "namespace.__init__.__globals__.os.environ",
    "lipsum.__globals__['os'].environ",
    "range.__globals__['os'].environ",
    "self.__init__.__globals__.__builtins__.__import__('os').environ",
    "model.__dict__",
    "options.__class__.__base__.__subclasses__()",
    "(table.name ~ '').__class__.__base__.__subclasses__()",
    "'%s'|format(table.__init__.__globals__)",
    "[table]|map(attribute='__class__')|list",
    "table.qualified_name.format_map({})",
    "table.qualified_name.__mod__",
    "{'a': 1}.pop('a')",
    "table.columns.append(1)",
]


def _message(payload: str) -> str:
    return "{{ " + payload + " }}"


def _conditions(payload: str, secret: str) -> list[str]:
    """Conditions that are true only when the payload reached the secret."""
    return [f"({payload}) ~ '' == '{secret}'", f"'{secret}' in (({payload}) ~ '')"]


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    value = "s3cr3t-" + secrets.token_hex(8)
    monkeypatch.setenv(SECRET_NAME, value)
    return value


@pytest.fixture(params=["closures", "python", "shipped", "jinja"])
def path_taken(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every path of rule expressions: the closures (the fast path), conditions compiled to
    Python (for rules with many subjects), conditions and templates compiled as the built-in
    rules' are when the package is built (prebuilt_python.py), and plain Jinja."""
    if request.param == "python":
        monkeypatch.setattr(rule_expressions, "HOT_SUBJECTS", 0)
    if request.param == "shipped":

        def condition(source: str) -> Any:
            return shipped_functions([source], [])[0].get(source)

        def renderer(source: str) -> Any:
            return shipped_functions([], [source])[1].get(source)

        def template(source: str) -> Any:  # outside the closures' subset: Jinja's code
            return shipped_functions([], [source])[2].get(source)

        monkeypatch.setattr(rule_expressions, "shipped_condition", condition)
        monkeypatch.setattr(rule_expressions, "shipped_renderer", renderer)
        monkeypatch.setattr(rule_expressions, "shipped_template", template)
    if request.param == "jinja":
        monkeypatch.setattr(rule_expressions, "compile_closure", lambda tree, env: None)
        monkeypatch.setattr(rule_expressions, "compile_renderer", lambda tree, env, limit: None)
    return str(request.param)


def _rule_file(folder: Path, rules: list[dict[str, str]]) -> Path:
    lines = []
    for rule in rules:
        lines.append(f"- id: {rule['id']}")
        lines.append("  title: A rule from a pull request")
        lines.append("  severity: high")
        lines.append("  category: security")
        lines.append("  target: table")
        for key in ("when", "message", "fix"):
            if key in rule:
                lines.append(f"  {key}: {json.dumps(rule[key])}")
        lines.append("  why: Test.")
        lines.append("  examples:")
        lines.append("    bad: 'CREATE TABLE t (id int);'")
        lines.append("    good: 'SELECT 1;'")
    path = folder / "pr-rules.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _migrations(folder: Path) -> Path:
    migrations = folder / "migrations"
    migrations.mkdir()
    (migrations / "0001_users.sql").write_text(
        "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n", encoding="utf-8"
    )
    return migrations


def _outcome(tmp_path: Path, rules: list[dict[str, str]]) -> str:
    """Everything a run with these rules shows: its findings as JSON, or its error."""
    rule_file = _rule_file(tmp_path, rules)
    settings = Settings(select=tuple(r["id"] for r in rules), rule_files=(rule_file,))
    try:
        run = lint([_migrations(tmp_path)], settings)
    except RuleError as error:
        message = str(error)
        # A located error: the rule file and the rule.
        assert str(rule_file) in message and any(r["id"] in message for r in rules), message
        return message
    return json.dumps([f.to_dict() for f in run.result.findings])


@pytest.mark.parametrize("payload", PAYLOADS)
def test_escape_payloads_in_messages_and_fixes_reach_no_secret(
    payload: str, secret: str, path_taken: str, tmp_path: Path
) -> None:
    for key in ("message", "fix"):
        rule = {"id": "pr-rule", "when": "true", "message": "m", key: _message(payload)}
        folder = tmp_path / key
        folder.mkdir()
        outcome = _outcome(folder, [rule])
        assert secret not in outcome
        assert "environ" not in outcome or "is unsafe" in outcome or "undefined" in outcome


@pytest.mark.parametrize("payload", PAYLOADS)
def test_escape_payloads_in_conditions_learn_nothing_of_the_secret(
    payload: str, secret: str, path_taken: str, tmp_path: Path
) -> None:
    for index, condition in enumerate(_conditions(payload, secret)):
        folder = tmp_path / str(index)
        folder.mkdir()
        outcome = _outcome(folder, [{"id": "pr-rule", "when": condition, "message": "leaked"}])
        assert "leaked" not in outcome  # the condition never held


def test_format_payloads_take_the_fast_path() -> None:
    """The payloads above really run on the closures (not only on Jinja) where they can."""
    env = environment()
    fast = [p for p in PAYLOADS if compile_closure(_condition_expression(p), env) is not None]
    assert PAYLOADS[0] in fast
    assert len(fast) >= 8
    assert compile_renderer(env.parse(_message(PAYLOADS[0])), env) is not None
    # and as the built-in rules' are compiled when the package is built
    conditions = [c for p in PAYLOADS for c in _conditions(p, "x")]
    shipped_conditions, shipped_templates, jinja = shipped_functions(
        conditions, [_message(p) for p in PAYLOADS]
    )
    assert len(shipped_conditions) >= 16 and _conditions(PAYLOADS[0], "x")[0] in shipped_conditions
    assert _message(PAYLOADS[0]) in shipped_templates
    # the others as the code Jinja compiles, shipped alike
    assert len(shipped_templates) + len(jinja) == len(PAYLOADS)


def test_the_issue_payload_is_a_located_error_on_both_paths(
    secret: str, path_taken: str, tmp_path: Path
) -> None:
    rule = {"id": "pr-rule", "when": "true", "message": _message(PAYLOADS[0])}
    with pytest.raises(RuleError, match=r"pr-rules\.yaml:\d+: rule pr-rule: .*unsafe"):
        lint(
            [_migrations(tmp_path)],
            Settings(select=("pr-rule",), rule_files=(_rule_file(tmp_path, [rule]),)),
        )


# -- limits ------------------------------------------------------------------------------

# Rules that would run for ever or fill the memory, each stopped by a limit of the sandbox.
RUNAWAY_RULES = {
    "nested-loops": {
        "message": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
        "{% endfor %}x"
    },
    "range-too-big": {"message": "{% for i in range(10**9) %}x{% endfor %}"},
    "string-times": {"when": "('x' * 10**10)|length > 0"},
    "string-times-message": {"message": "{{ 'x' * 1000000000 }}"},
    "list-times": {"when": "([1] * 10**9)|length > 0"},
    "power": {"when": "10 ** (10 ** 10) > 0"},
    "percent-width": {"message": "{{ '%0999999999d' % 1 }}"},
    "percent-star": {"message": "{{ '%*d' % (999999999, 1) }}"},
    "format-width": {"message": "{{ '{:999999999}'.format(1) }}"},
    "format-nested-width": {"message": "{{ '{:{}}'.format(1, 999999999) }}"},
    "center": {"message": "{{ 'x'|center(10**10) }}"},
    "center-method": {"message": "{{ 'x'.center(999999999) }}"},
    "replace-squares": {
        "message": "{% set s = 'x' * 1000 %}{{ s|replace('x', s)|replace('x', s) }}"
    },
    "replace-method": {
        "message": "{% set s = 'x' * 1000 %}{{ s.replace('x', s).replace('x', s) }}"
    },
    "concat-doubling": {
        "message": "{% set ns = namespace(s='x') %}{% for i in range(64) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}"
    },
    "plus-doubling": {
        "message": "{% set ns = namespace(s='x') %}{% for i in range(64) %}"
        "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}"
    },
    "join-same-string": {"message": "{{ (['x' * 1000000] * 100000)|join }}"},
    "join-method": {"message": "{{ ''.join(['x' * 1000000] * 100000) }}"},
    "recursion": {"message": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"},
    "output": {"message": "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}"},
    "indent": {"message": "{{ ('x\n' * 100000)|indent(1000) }}"},
    "wordwrap": {"message": "{{ ('x ' * 100000)|wordwrap(1, wrapstring='y' * 100000) }}"},
    "to-bytes": {"message": "{{ (1).to_bytes(999999999, 'big') }}"},
    "expandtabs": {"message": "{{ ('\t' * 100000).expandtabs(100000) }}"},
    "tojson-indent": {"message": "{{ [[1]]|tojson(indent=999999999) }}"},
}


def _run_in_child(script: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run `script` in a Python process with at most 3 GiB of address space: a limit that
    failed would be a MemoryError there, not a stalled machine here."""

    def limit() -> None:
        import resource  # POSIX only, as the test is

        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    env = {**os.environ, "SCHEMA_REVIEW_NO_CACHE": "1"}
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limit,
        check=False,
    )


@pytest.mark.skipif(sys.platform != "linux", reason="the time budget needs SIGVTALRM")
def test_runaway_rules_are_each_one_located_error_and_the_run_goes_on(tmp_path: Path) -> None:
    rules = [
        {"id": f"runaway-{name}", "when": "true", "message": "m", **fields}
        for name, fields in RUNAWAY_RULES.items()
    ]
    rule_file = _rule_file(tmp_path, rules)
    migrations = _migrations(tmp_path)
    (migrations / "0002_logs.sql").write_text("CREATE TABLE logs (line text);\n")
    script = textwrap.dedent(
        f"""
        import sys
        from schema_review.rules import bounds
        bounds.EVALUATION_SECONDS = 0.5
        from schema_review.cli import main
        sys.argv = ["schema-review", "lint", {str(migrations)!r}, "--format", "json",
                    "--select", "all", "--config", "config.yaml"]
        main()
        """
    )
    (tmp_path / "config.yaml").write_text(f"rule-files: [{rule_file.name}]\n")
    done = _run_in_child(script, tmp_path)
    assert done.returncode == 1, done.stderr + done.stdout[-3000:]
    assert "Traceback" not in done.stderr
    findings = json.loads(done.stdout)["findings"]
    stopped = [f for f in findings if f["rule"] == "rule-stopped"]
    # One finding per runaway rule (it holds for every table: it is stopped at the first),
    # naming the rule file and the rule.
    assert sorted(f["object"] for f in stopped) == sorted(r["id"] for r in rules)
    for finding in stopped:
        assert rule_file.name in finding["message"]
        assert f"rule {finding['object']} (" in finding["message"]
        assert finding["file"].endswith("0001_users.sql")
    # The other rules still ran: the table without a primary key is reported.
    assert any(f["rule"] == "table-missing-primary-key" for f in findings)
    assert not any(f["rule"].startswith("runaway-") for f in findings)


def test_a_runaway_rule_stops_that_rule_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bounds, "EVALUATION_SECONDS", 0.2)
    endless = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    rules = [
        {"id": "endless", "when": "true", "message": endless},
        {"id": "fine", "when": "true", "message": "table {{ table.name }}"},
    ]
    outcome = json.loads(_outcome(tmp_path, rules))
    assert sorted(f["rule"] for f in outcome) == ["fine", "rule-stopped"]
    stopped = next(f for f in outcome if f["rule"] == "rule-stopped")
    assert stopped["object"] == "endless"
    assert "rule endless (" in stopped["message"]
    assert "took more than 0.2 s" in stopped["message"]
    assert stopped["severity"] == "critical"


def test_size_limits_refuse_before_building(tmp_path: Path) -> None:
    """In process (cheap): each limit refuses before the value is built."""
    env = environment()
    names = {"table": None, **env.globals}
    for source in (
        "'x' * 10**12",
        "10 ** (10 ** 10)",
        "'%0999999999999d' % 1",
        "'{:999999999999}'.format(1)",
        "'x'|center(10**12)",
        "'x'.ljust(10**12)",
        "(['x' * 1000000] * 100000)|join",
        "range(10**9)|list",
    ):
        closure = compile_closure(_condition_expression(source), env)
        python = compile_python(_condition_expression(source), env)
        template = rule_expressions.condition_template(source)
        for run in (closure, python, lambda n, t=template: rule_expressions._run(t, n)):
            if run is None:
                continue
            with pytest.raises(sandbox.LimitExceeded):
                run(names)


def test_template_runaway_is_a_located_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "RENDER_SECONDS", 0.3)
    run = lint([_migrations(tmp_path)], Settings(select=("all",)))
    report = build_report(run, "high")
    endless = tmp_path / "endless.md.jinja"
    endless.write_text(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n"
    )
    with pytest.raises(TemplateNotFound, match=r"endless\.md\.jinja.*took more than 0\.3 s"):
        render_report(report, str(endless))
    huge = tmp_path / "huge.md.jinja"
    huge.write_text("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}\n")
    with pytest.raises(TemplateNotFound, match=r"huge\.md\.jinja.*exceeds the limit"):
        render_report(report, str(huge))
    bomb = tmp_path / "bomb.md.jinja"
    bomb.write_text("{{ 'x' * 10**12 }}\n")
    with pytest.raises(TemplateNotFound, match=r"bomb\.md\.jinja.*exceeds the limit"):
        render_report(report, str(bomb))


# -- YAML --------------------------------------------------------------------------------

BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)
DEEP = "[" * 5000 + "]" * 5000 + "\n"
RECURSIVE = "a: &a [*a]\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BILLION_LAUGHS, "more than 100 aliases|expands to more than"),
        (DEEP, "nested|depth"),
        (RECURSIVE, "contains itself"),
    ],
    ids=["billion-laughs", "deep", "recursive"],
)
def test_hostile_yaml_is_refused_at_load(
    text: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    migrations = _migrations(tmp_path)
    runner = CliRunner()
    # As the configuration...
    (tmp_path / ".schema-review.yaml").write_text(text)
    result = runner.invoke(main, ["lint", str(migrations)])
    assert result.exit_code == 2, result.output
    assert ".schema-review.yaml" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert re.search(expected, result.output), result.output
    # ... and as a rule file.
    (tmp_path / ".schema-review.yaml").write_text("rule-files: [hostile.yaml]\n")
    (tmp_path / "hostile.yaml").write_text("rules: " + text if text.startswith("[") else text)
    result = runner.invoke(main, ["lint", str(migrations), "--no-cache"])
    assert result.exit_code == 2, result.output
    assert "hostile.yaml" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


# -- templates read only templates ---------------------------------------------------------


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository (the working directory) with migrations, and a secret file outside it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".git").mkdir()
    monkeypatch.chdir(repo)
    _migrations(repo)
    (tmp_path / "secret.txt").write_text("s3cr3t-outside-the-repository\n")
    return repo


def _report(repo: Path, *options: str) -> Result:
    return CliRunner().invoke(main, ["report", "migrations", *options])


def test_a_templates_folder_outside_the_repository_is_refused(repository: Path) -> None:
    for folder in ("/", "..", str(repository.parent)):
        (repository / ".schema-review.yaml").write_text(f"templates: {json.dumps(folder)}\n")
        result = _report(repository, "--template", "secret.txt")
        assert result.exit_code == 2, result.output
        assert "outside the repository" in result.output
        assert "s3cr3t" not in result.output
    # A committed link to a folder outside is outside too.
    (repository / "templates").symlink_to("/")
    (repository / ".schema-review.yaml").write_text("templates: templates\n")
    result = _report(repository, "--template", "review")
    assert result.exit_code == 2, result.output
    assert "outside the repository" in result.output


def test_templates_cannot_include_files_outside_their_folder(repository: Path) -> None:
    folder = repository / "review-templates"
    folder.mkdir()
    (repository / ".schema-review.yaml").write_text("templates: review-templates\n")
    (folder / "root").symlink_to("/")
    (folder / "up").symlink_to(repository.parent)
    (folder / "secret.md.jinja").symlink_to(repository.parent / "secret.txt")
    (folder / "part.md.jinja").write_text("part {{ report.verdict }}")
    includes = {
        "absolute": "{% include '/proc/self/environ' %}",
        "parent": "{% include '../../secret.txt' %}",
        "link-to-root": "{% include 'root/proc/self/environ' %}",
        "link-up": "{% include 'up/secret.txt' %}",
        "link-file": "{% include 'secret.md.jinja' %}",
        "import": "{% import 'up/secret.txt' as x %}",
        "extends": "{% extends 'up/secret.txt' %}",
    }
    for name, text in includes.items():
        (folder / f"{name}.md.jinja").write_text(text + "\n")
        result = _report(repository, "--template", name)
        assert result.exit_code == 2, (name, result.output)
        assert result.output.startswith("schema-review: error: template "), result.output
        assert "s3cr3t" not in result.output and "PATH=" not in result.output
        assert "Traceback" not in result.output
    # Inside the folder, templates include each other as before.
    (folder / "whole.md.jinja").write_text("{% include 'part.md.jinja' %}\n")
    result = _report(repository, "--template", "whole")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("part ")


def test_a_template_file_that_links_outside_is_refused(repository: Path) -> None:
    (repository / "comment.md.jinja").symlink_to(repository.parent / "secret.txt")
    result = _report(repository, "--template", "comment.md.jinja")
    assert result.exit_code == 2, result.output
    assert "leads outside" in result.output
    assert "s3cr3t" not in result.output
    (repository / "environ.md.jinja").symlink_to("/proc/self/environ")
    result = _report(repository, "--template", "environ.md.jinja")
    assert result.exit_code == 2, result.output
    assert "PATH=" not in result.output
    (repository / "pipe.md.jinja").mkdir()
    result = _report(repository, "--template", "pipe.md.jinja")
    assert result.exit_code == 2, result.output
