"""Render a lint run: text for people, JSON for programs. Text goes through a Jinja
template (`templates/lint.txt.jinja`) so its shape can change without code."""

from __future__ import annotations

import json
from typing import Any

from schema_review.findings import Finding
from schema_review.pipeline import LintRun
from schema_review.resources import data_dir

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
        "rules": len(run.rules),
        "fail_on": fail_on,
        "failed": result.fails(fail_on),
    }


def render_json(run: LintRun, fail_on: str) -> str:
    document = {
        "version": 1,
        "findings": [f.to_dict() for f in run.result.findings],
        "summary": summary(run, fail_on),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_text(run: LintRun, fail_on: str, color: bool) -> str:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(data_dir("templates")),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def paint(text: object, style: str) -> str:
        if not color or style not in _COLORS:
            return str(text)
        return f"{_COLORS[style]}{text}{_RESET}"

    env.filters["paint"] = paint
    template = env.get_template("lint.txt.jinja")
    findings: list[Finding] = run.result.findings
    return template.render(findings=findings, summary=summary(run, fail_on))
