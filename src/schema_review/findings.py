"""Findings: hits turned into located, fingerprinted findings; suppressions; the gate."""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from schema_review.parse import SourceFile, Statement
from schema_review.rules import SEVERITIES, Hit, Rule

SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}

# `-- schema-review: ignore rule-a, rule-b -- reason` and `ignore-file`.
_SUPPRESSION = re.compile(
    r"--[ \t]*schema-review:[ \t]*(?P<scope>ignore-file|ignore)\b[ \t]*"
    r"(?P<rules>[A-Za-z0-9_, \t-]*?)[ \t]*(?:--[ \t]*(?P<reason>[^\n]*?))?[ \t]*$",
    re.MULTILINE,
)


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    severity: str
    category: str
    message: str
    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    object: str | None
    fix: str | None
    fingerprint: str
    title: str = ""
    # Where the file stands in apply order, so findings sort as migrations run.
    order: tuple[int, int] = field(default=(0, 0), compare=False)

    @property
    def sort_key(self) -> tuple[int, int, str, int, int, str, str]:
        return (*self.order, self.file, self.line, self.column, self.rule, self.fingerprint)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "category": self.category,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "object": self.object,
            "fix": self.fix,
            "fingerprint": self.fingerprint,
        }


@dataclass(slots=True, eq=False)
class Suppression:
    """One suppression comment and the part of its file it covers."""

    source: SourceFile
    offset: int
    rules: tuple[str, ...]
    reason: str
    file_level: bool
    covers: tuple[int, int]
    used: set[str] = field(default_factory=set)

    @property
    def line(self) -> int:
        return self.source.position(self.offset)[0]

    def applies(self, hit: Hit) -> bool:
        return (
            hit.source is self.source
            and (hit.rule.id in self.rules or "all" in self.rules)
            and self.covers[0] <= hit.start <= self.covers[1]
        )


@dataclass(frozen=True, slots=True)
class Suppressed:
    finding: Finding
    reason: str


@dataclass(slots=True)
class FindingSet:
    findings: list[Finding]
    suppressed: list[Suppressed]
    # With a baseline: the findings it hides, and its entries that no longer occur.
    baselined: list[Finding] = field(default_factory=list)
    baseline_stale: int = 0
    hidden_as: str = "in the baseline"  # or "present at <REF>" with --diff-base

    def without(self, baseline: Baseline) -> FindingSet:
        """The findings the baseline does not know; the rest are counted, not reported."""
        known = baseline.fingerprints
        kept = [f for f in self.findings if f.fingerprint not in known]
        hidden = [f for f in self.findings if f.fingerprint in known]
        seen = {f.fingerprint for f in hidden}
        stale = len(known - seen) if baseline.label == "in the baseline" else 0
        return FindingSet(kept, self.suppressed, hidden, stale, baseline.label)

    def fails(self, fail_on: str) -> bool:
        if fail_on == "none":
            return False
        limit = SEVERITY_RANK[fail_on]
        return any(SEVERITY_RANK[f.severity] <= limit for f in self.findings)

    def counts(self) -> dict[str, int]:
        counted = Counter(f.severity for f in self.findings)
        return {name: counted.get(name, 0) for name in SEVERITIES}


class BaselineError(Exception):
    """A baseline file that cannot be read: says which and why."""


@dataclass(frozen=True, slots=True)
class Baseline:
    """Fingerprints of accepted findings (`schema-review baseline`), hidden by `--baseline`."""

    fingerprints: frozenset[str]
    label: str = "in the baseline"

    @staticmethod
    def document(findings: Sequence[Finding]) -> dict[str, Any]:
        """What a baseline file holds: the fingerprints, with enough to recognise each."""
        entries = [
            {"fingerprint": f.fingerprint, "rule": f.rule, "file": f.file, "message": f.message}
            for f in sorted(findings, key=lambda f: f.sort_key)
        ]
        return {"version": 1, "tool": "schema-review", "findings": entries}

    @classmethod
    def load(cls, path: str) -> Baseline:
        import json

        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            entries = data["findings"]
            return cls(frozenset(str(entry["fingerprint"]) for entry in entries))
        except OSError as error:
            raise BaselineError(f"{path}: cannot read baseline: {error.strerror}") from None
        except (ValueError, KeyError, TypeError) as error:
            raise BaselineError(
                f"{path}: not a schema-review baseline ({type(error).__name__}: {error}); "
                "write one with `schema-review baseline PATH... -o FILE`"
            ) from None


def find_suppressions(source: SourceFile, statements: Sequence[Statement]) -> list[Suppression]:
    """The suppression comments of a file. `ignore` covers the next statement."""
    if "schema-review:" not in source.text:
        return []
    starts = [s.start for s in statements]
    found: list[Suppression] = []
    for match in _SUPPRESSION.finditer(source.text):
        if _inside_statement(match.start(), statements, starts):
            continue
        rules = tuple(r.strip() for r in match.group("rules").split(",") if r.strip())
        reason = (match.group("reason") or "").strip()
        file_level = match.group("scope") == "ignore-file"
        if file_level:
            covers = (0, len(source.text))
        else:
            following = bisect_right(starts, match.end())
            end = statements[following].end if following < len(statements) else len(source.text)
            covers = (match.end(), end)
        found.append(Suppression(source, match.start(), rules, reason, file_level, covers))
    return found


def _inside_statement(offset: int, statements: Sequence[Statement], starts: list[int]) -> bool:
    position = bisect_right(starts, offset) - 1
    return position >= 0 and statements[position].end > offset


def build_findings(
    hits: Iterable[Hit],
    suppressions: Sequence[Suppression],
    rules_by_id: Mapping[str, Rule],
    severity_overrides: Mapping[str, str],
) -> FindingSet:
    """Fingerprint and order the hits; apply suppressions and report their misuse."""
    findings: list[Finding] = []
    suppressed: list[Suppressed] = []
    hits = list(hits)
    for suppression in suppressions:
        for rule_id in _problems_with(suppression, rules_by_id):
            rule = rules_by_id[rule_id]
            hits.append(_suppression_hit(rule, suppression))
    seen: Counter[str] = Counter()
    for hit in sorted(hits, key=_hit_order):
        finding = _finding(hit, severity_overrides, seen)
        covering = next((s for s in suppressions if s.applies(hit)), None)
        if covering is not None and hit.rule.target != "suppression":
            covering.used.add(hit.rule.id)
            suppressed.append(Suppressed(finding, covering.reason))
        else:
            findings.append(finding)
    unused_rule = rules_by_id.get("unused-suppression")
    if unused_rule is not None:
        for suppression in suppressions:
            unused = [
                r for r in suppression.rules if r not in suppression.used and r in rules_by_id
            ]
            if unused:
                message = f"suppression of {', '.join(unused)} matched no finding"
                hit = Hit(
                    unused_rule,
                    suppression.source,
                    suppression.offset,
                    suppression.offset,
                    None,
                    message,
                )
                findings.append(_finding(hit, severity_overrides, seen))
    findings.sort(key=lambda f: f.sort_key)
    suppressed.sort(key=lambda s: s.finding.sort_key)
    return FindingSet(findings, suppressed)


def _problems_with(suppression: Suppression, rules_by_id: Mapping[str, Rule]) -> list[str]:
    problems = []
    if not suppression.reason and "suppression-without-reason" in rules_by_id:
        problems.append("suppression-without-reason")
    return problems


def _suppression_hit(rule: Rule, suppression: Suppression) -> Hit:
    names = ", ".join(suppression.rules) or "nothing"
    message = f"suppression of {names} gives no reason: add `-- <why>` after the rule ids"
    return Hit(rule, suppression.source, suppression.offset, suppression.offset, None, message)


def _hit_order(hit: Hit) -> tuple[int, int, int, str, str]:
    return (hit.source.set_index, hit.source.order, hit.start, hit.rule.id, hit.object or "")


def _finding(hit: Hit, overrides: Mapping[str, str], seen: Counter[str]) -> Finding:
    source = hit.source
    line, column = source.position(hit.start)
    end_line, end_column = source.position(max(hit.start, hit.end - 1))
    # The statement's text, not its file or line: a finding keeps its fingerprint when lines
    # are added above it or its file is renamed; findings without a statement (a file's)
    # are named by the file's path in its folder.
    if hit.statement is not None:
        substance = " ".join(hit.statement.text.split()).lower()
    elif hit.object:
        substance = hit.message
    else:
        substance = f"{source.identity or source.display}\x1f{hit.message}"
    key = "\x1f".join((hit.rule.id, hit.object or "", substance))
    seen[key] += 1
    digest = hashlib.sha256(f"{key}\x1f{seen[key]}".encode()).hexdigest()[:16]
    return Finding(
        rule=hit.rule.id,
        severity=overrides.get(hit.rule.id, hit.rule.severity),
        category=hit.rule.category,
        message=hit.message,
        file=source.display,
        line=line,
        column=column,
        end_line=end_line,
        end_column=end_column,
        object=hit.object,
        fix=hit.fix,
        fingerprint=digest,
        title=hit.rule.title,
        order=(source.set_index, source.order),
    )
