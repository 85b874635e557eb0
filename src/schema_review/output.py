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
