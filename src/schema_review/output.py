"""Render a lint run: text for people, JSON for programs. Text goes through a Jinja
template (`templates/lint.txt.jinja`) so its shape can change without code."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from schema_review.findings import Finding
from schema_review.pipeline import LintRun
from schema_review.report import Report
from schema_review.resources import data_dir
from schema_review.rules import SEVERITIES, Rule

_COLORS = {
    "critical": "\033[1;31m",
    "high": "\033[31m",
    "medium": "\033[33m",
    "low": "\033[36m",
    "info": "\033[2m",
    "bold": "\033[1m",
}
_RESET = "\033[0m"


def summary(run: LintRun, fail_on: str) -> dict[str, Any]:
    result = run.result
    return {
        "files": len(run.sources),
        "statements": run.statement_count,
        "findings": len(result.findings),
        "by_severity": result.counts(),
        "suppressed": len(result.suppressed),
        "baselined": len(result.baselined),
        "baseline_stale": result.baseline_stale,
        "hidden_as": result.hidden_as,
        "rules": len(run.rules),
        "fail_on": fail_on,
        "failed": result.fails(fail_on),
    }


def render_json(run: LintRun, fail_on: str) -> str:
    """One finding a line: readable in a diff, and written by json's C encoder (an
    indented dump takes the pure-Python path, several times slower)."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
    findings = ",\n    ".join(encode(f.to_dict()) for f in run.result.findings)
    body = f"[\n    {findings}\n  ]" if findings else "[]"
    return (
        f'{{\n  "version": 1,\n  "findings": {body},\n'
        f'  "summary": {encode(summary(run, fail_on))}\n}}\n'
    )


def _environment() -> Any:
    """The Jinja environment of the built-in templates, compiled code cached between runs."""
    from jinja2 import Environment, FileSystemBytecodeCache, FileSystemLoader, StrictUndefined

    from schema_review.resources import cache_dir

    cache = cache_dir()
    bytecode_cache = None
    if cache is not None:
        try:
            (cache / "templates").mkdir(parents=True, exist_ok=True)
            bytecode_cache = FileSystemBytecodeCache(str(cache / "templates"))
        except OSError:
            bytecode_cache = None
    return Environment(
        loader=FileSystemLoader(data_dir("templates")),
        bytecode_cache=bytecode_cache,
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_text(run: LintRun, fail_on: str, color: bool) -> str:
    env = _environment()

    def paint(text: object, style: str) -> str:
        if not color or style not in _COLORS:
            return str(text)
        return f"{_COLORS[style]}{text}{_RESET}"

    env.filters["paint"] = paint
    template = env.get_template("lint.txt.jinja")
    findings: list[Finding] = run.result.findings
    return str(template.render(findings=findings, summary=summary(run, fail_on), quiet=run.quiet))


def rule_rows(rules: Sequence[Rule]) -> list[dict[str, Any]]:
    """The catalogue as data: `schema-review rules --format json`."""
    return [
        {
            "id": r.id,
            "title": r.title,
            "severity": r.severity,
            "category": r.category,
            "default": r.enabled,
            "dialects": list(r.dialects),
            "target": r.target,
            "fix": r.fix is not None,
            "options": r.options,
        }
        for r in rules
    ]


def render_rules_markdown(rules: Sequence[Rule]) -> str:
    """The rule catalogue as Markdown (docs/rules.md), grouped by category."""
    ordered = sorted(rules, key=lambda r: (r.category, r.id))
    categories: dict[str, list[Rule]] = {}
    for rule in ordered:
        categories.setdefault(rule.category, []).append(rule)
    template = _environment().get_template("rules.md.jinja")
    return str(template.render(rules=ordered, categories=categories))


def render_explain(rule: Rule) -> str:
    """One rule in full, for `schema-review explain RULE`."""
    template = _environment().get_template("explain.txt.jinja")
    return str(template.render(rule=rule, profile=dict(rule.example_profile)))


# GitHub refuses comments over 65,536 characters; leave room for what a bot adds.
PR_COMMENT_LIMIT = 60_000
BUILTIN_REPORTS = ("review", "pr-comment", "summary")


class TemplateNotFound(Exception):
    """A report template that is neither built in nor a readable file."""


def render_report(report: Report, template: str = "review", folder: Path | None = None) -> str:
    """A report rendered by a built-in template (`review`, `pr-comment`, `summary`), by a
    template of the configured `folder` (which may override those), or by a template file.
    Templates run in Jinja's sandbox and see only the report."""
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2 import TemplateNotFound as Missing
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    folders = [str(data_dir("templates"))]
    name = f"{template}.md.jinja"
    if folder is not None:
        folders.insert(0, str(folder))
    if template not in BUILTIN_REPORTS and folder is not None and (folder / name).is_file():
        pass  # a template the configured folder adds
    elif template not in BUILTIN_REPORTS:
        path = Path(template)
        if not path.is_file():
            raise TemplateNotFound(
                f"template {template}: not a file, nor one of {', '.join(BUILTIN_REPORTS)}"
            )
        folders.insert(0, str(path.resolve().parent))
        name = path.name
    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(folders),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    try:
        compiled = env.get_template(name)
    except Missing as error:
        raise TemplateNotFound(f"template {template}: {error}") from None
    data = report.as_dict()
    gate_rank = SEVERITIES.index(report.fail_on) if report.fail_on in SEVERITIES else -1
    gate = [f for f in data["findings"] if SEVERITIES.index(f["severity"]) <= gate_rank]
    rest = [f for f in data["findings"] if f not in gate]
    shown = len(gate) + len(rest)
    while True:
        data["gate_findings"] = gate[:shown]
        data["other_findings"] = rest[: max(0, shown - len(gate))]
        data["omitted"] = len(gate) + len(rest) - shown
        text = str(compiled.render(report=data))
        if template != "pr-comment" or len(text) <= PR_COMMENT_LIMIT or shown == 0:
            return text
        # Too long: show fewer findings (the lower-severity ones go first), say how many.
        shown = max(0, min(shown - 1, int(shown * PR_COMMENT_LIMIT / len(text) * 0.95)))


# Severities as code scanning, GitHub annotations and GitLab Code Quality name them.
_SARIF_LEVELS = {
    "critical": "error",
    "high": "error",
    "medium": "warning",
    "low": "note",
    "info": "note",
}
_GITHUB_LEVELS = {
    "critical": "error",
    "high": "error",
    "medium": "warning",
    "low": "notice",
    "info": "notice",
}
_GITLAB_SEVERITIES = {
    "critical": "critical",
    "high": "major",
    "medium": "minor",
    "low": "info",
    "info": "info",
}


def render_sarif(run: LintRun, fail_on: str) -> str:
    """SARIF 2.1.0 for code scanning: the run's rules with their help, results with locations
    and the fingerprints that keep a result identified across commits."""
    from urllib.parse import quote

    from schema_review import __version__

    rules = sorted(run.rules, key=lambda r: r.id)
    index = {r.id: i for i, r in enumerate(rules)}
    descriptors = [
        {
            "id": r.id,
            "name": r.title,
            "shortDescription": {"text": r.title},
            "fullDescription": {"text": " ".join(r.why.split())},
            "help": {
                "text": " ".join(r.why.split())
                + (f" Does not apply: {' '.join(r.notes.split())}" if r.notes else ""),
            },
            "defaultConfiguration": {"level": _SARIF_LEVELS[r.severity]},
            "properties": {"category": r.category, "severity": r.severity},
        }
        for r in rules
    ]
    results = []
    for f in run.result.findings:
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "level": _SARIF_LEVELS[f.severity],
            "message": {"text": f.message + (f"\n\nFix:\n{f.fix}" if f.fix else "")},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": quote(Path(f.file).as_posix(), safe="/")},
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.column,
                            "endLine": f.end_line,
                            "endColumn": f.end_column + 1,
                        },
                    }
                }
            ],
            "partialFingerprints": {"schemaReview/v1": f.fingerprint},
            "properties": {"severity": f.severity, "category": f.category},
        }
        if f.rule in index:
            result["ruleIndex"] = index[f.rule]
        if f.object:
            result["properties"]["object"] = f.object
        results.append(result)
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "schema-review",
                        "version": __version__,
                        "rules": descriptors,
                    }
                },
                "results": results,
                # Columns count characters, not UTF-16 units (GitHub's default otherwise).
                "columnKind": "unicodeCodePoints",
                "properties": {"summary": summary(run, fail_on)},
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_gitlab(run: LintRun) -> str:
    """GitLab Code Quality: a list of issues with fingerprints."""
    issues = [
        {
            "description": f"[{f.rule}] {f.message}",
            "check_name": f.rule,
            "fingerprint": f.fingerprint,
            "severity": _GITLAB_SEVERITIES[f.severity],
            "categories": [f.category],
            "location": {"path": Path(f.file).as_posix(), "lines": {"begin": f.line}},
        }
        for f in run.result.findings
    ]
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"


def _github_data(text: object) -> str:
    return str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _github_property(text: object) -> str:
    return _github_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(run: LintRun, fail_on: str) -> str:
    """GitHub Actions workflow commands: an annotation per finding, then the summary."""
    env = _environment()
    env.filters["gh_data"] = _github_data
    env.filters["gh_property"] = _github_property
    template = env.get_template("lint.github.jinja")
    return str(
        template.render(
            findings=run.result.findings, levels=_GITHUB_LEVELS, summary=summary(run, fail_on)
        )
    )


def render_junit(run: LintRun, fail_on: str) -> str:
    """JUnit XML: a test case per linted file, failed by the findings in it."""
    from xml.sax.saxutils import escape, quoteattr

    env = _environment()
    env.filters["xml"] = escape
    env.filters["xml_attr"] = quoteattr
    by_file: dict[str, list[Finding]] = {}
    for source in run.sources:
        by_file.setdefault(source.display, [])
    for finding in run.result.findings:
        by_file.setdefault(finding.file, []).append(finding)
    template = env.get_template("lint.junit.xml.jinja")
    return str(template.render(files=by_file, summary=summary(run, fail_on)))
