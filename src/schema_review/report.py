"""The report model: one structure, built once from a lint run, that every review template renders.

Plain data (dicts, lists, strings, numbers) so that templates, including users' own, read it
in a sandbox and nothing else. The score formula is documented in the README.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from schema_review.findings import SEVERITY_RANK, Finding
from schema_review.model import SchemaModel
from schema_review.model.changes import HEAVY_LOCKS
from schema_review.model.schema import FINAL_KINDS
from schema_review.pipeline import LintRun
from schema_review.rules import SEVERITIES, Rule, rule_applies

# The weight of a finding in the score (see README, "Score").
SEVERITY_WEIGHTS = {"critical": 4.0, "high": 2.0, "medium": 1.0, "low": 0.25, "info": 0.0}
# When a finding must be fixed, by severity: the action plan's "when" column.
WHEN = {
    "critical": "before merge",
    "high": "before merge",
    "medium": "before production",
    "low": "later",
    "info": "later",
}
_LOCK_RANK = {
    "ACCESS EXCLUSIVE": 4,
    "EXCLUSIVE": 3,
    "SHARE ROW EXCLUSIVE": 2,
    "SHARE": 1,
}
_PLURAL = {
    "table": "tables",
    "column": "columns",
    "constraint": "constraints",
    "foreign_key": "foreign keys",
    "index": "indexes",
    "policy": "policies",
    "trigger": "triggers",
    "function": "functions",
    "type": "types",
    "sequence": "sequences",
    "view": "views",
    "extension": "extensions",
    "schema": "schemas",
    "statement": "statements",
    "migration": "migrations",
}

# The standards a review checks when the configuration names none: each is met when none of
# its rules fires.
DEFAULT_STANDARDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Every foreign key has a covering index", ("fk-missing-index",)),
    ("Every table has a primary key", ("table-missing-primary-key",)),
    ("No duplicate indexes", ("duplicate-index",)),
    ("Timestamps carry a time zone", ("timestamp-without-time-zone",)),
    (
        "Index builds and constraints do not block writes",
        (
            "create-index-not-concurrently",
            "fk-without-not-valid",
            "check-without-not-valid",
            "add-unique-without-index",
            "set-not-null-on-existing-column",
        ),
    ),
    ("Heavy locks are bounded by lock_timeout", ("missing-lock-timeout",)),
    ("Migrations can be re-run after a partial failure", ("missing-if-not-exists",)),
    (
        "No change breaks the running application",
        ("drop-table", "drop-column", "rename-table", "rename-column"),
    ),
    ("SECURITY DEFINER functions pin their search_path", ("security-definer-search-path",)),
    ("Every statement parses", ("parse-error",)),
)


@dataclass
class Report:
    """Everything a review document says; `as_dict()` is what templates see."""

    title: str
    date: str | None
    scope: dict[str, Any]
    verdict: str
    score: float
    category_scores: list[dict[str, Any]]
    counts: dict[str, int]
    strengths: list[str]
    critical: list[dict[str, Any]]
    groups: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    inventory: dict[str, Any]
    timeline: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    checklist: dict[str, Any]
    suppressed: list[dict[str, Any]]
    rules: list[dict[str, Any]]
    fail_on: str
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def build_report(
    run: LintRun,
    fail_on: str,
    title: str | None = None,
    date: str | None = None,
    standards: Sequence[tuple[str, Sequence[str]]] = (),
) -> Report:
    findings = run.result.findings
    rules_by_id = {r.id: r for r in run.rules}
    items = [_finding(f, rules_by_id.get(f.rule)) for f in findings]
    tables = [t for m in run.models for t in m.live_tables()]
    counts = {name: 0 for name in SEVERITIES}
    counts.update(Counter(f.severity for f in findings))
    failing = run.result.fails(fail_on)
    verdict = "CHANGES REQUESTED" if failing else "APPROVED WITH FIXES" if findings else "APPROVED"
    scale = 5 + len(tables)
    by_category: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_category[finding.category].append(finding)
    categories = sorted({r.category for r in run.rules if r.evaluated} | set(by_category))
    category_scores = [
        {
            "category": name,
            "score": _score(by_category.get(name, []), scale),
            "findings": len(by_category.get(name, [])),
        }
        for name in categories
    ]
    profiles = run.profiles
    scope = {
        "paths": [str(s.root) if s.root else "files" for s in run.sets],
        "files": len(run.sources),
        "statements": run.statement_count,
        "tables": len(tables),
        "dialect": "PostgreSQL",
        "pg_version": profiles[0].pg_version if profiles else None,
        "runners": sorted({p.runner for p in profiles}),
        "platforms": sorted({p.platform for p in profiles if p.platform != "postgres"}),
        "rules": len(run.rules),
        # DDL only running it could tell (EXECUTE of built strings...): no "pass" covers it.
        "not_modelled": sum(
            1 for model in run.models for change in model.changes if change.kind == "not_modelled"
        ),
    }
    return Report(
        title=title or "Schema review",
        date=date,
        scope=scope,
        verdict=verdict,
        score=_score(findings, scale),
        category_scores=category_scores,
        counts=counts,
        strengths=_strengths(run, findings),
        critical=[i for i in items if i["severity"] == "critical"],
        groups=_groups(items),
        findings=items,
        inventory=_inventory(run.models),
        timeline=_timeline(run),
        actions=_actions(items),
        checklist=_checklist(run, findings, standards or DEFAULT_STANDARDS),
        suppressed=[
            {**_finding(s.finding, rules_by_id.get(s.finding.rule)), "reason": s.reason}
            for s in run.result.suppressed
        ],
        rules=[
            {"id": r.id, "title": r.title, "severity": r.severity, "category": r.category}
            for r in sorted(run.rules, key=lambda r: (r.category, r.id))
        ],
        fail_on=fail_on,
        notes=[note for s in run.sets for note in s.notes],
    )


def _score(findings: Sequence[Finding], scale: int) -> float:
    """10 x scale / (scale + weighted findings): 10 with none; bigger schemas absorb more."""
    weight = sum(SEVERITY_WEIGHTS.get(f.severity, 0.0) for f in findings)
    return round(10 * scale / (scale + weight), 1)


def _finding(finding: Finding, rule: Rule | None) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "title": finding.title or (rule.title if rule else finding.rule),
        "severity": finding.severity,
        "category": finding.category,
        "message": finding.message,
        "location": f"{finding.file}:{finding.line}",
        "file": finding.file,
        "line": finding.line,
        "object": finding.object,
        "fix": finding.fix,
        "why": " ".join(rule.why.split()) if rule else "",
        "fingerprint": finding.fingerprint,
    }


def _groups(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Findings by severity, then category, each list in apply order."""
    groups = []
    for severity in SEVERITIES:
        of_severity = [i for i in items if i["severity"] == severity]
        if not of_severity:
            continue
        categories = []
        for category in sorted({i["category"] for i in of_severity}):
            categories.append(
                {
                    "category": category,
                    "findings": [i for i in of_severity if i["category"] == category],
                }
            )
        groups.append({"severity": severity, "count": len(of_severity), "categories": categories})
    return groups


def _applicable(rule: Rule, models: Sequence[SchemaModel]) -> int:
    """How many objects or statements a rule looked at: what its silence is worth."""
    if rule.target in FINAL_KINDS:
        return sum(len(m.objects_of_kind(rule.target)) for m in models)
    if rule.target == "statement":
        kinds = set(rule.kinds)
        return sum(1 for m in models for c in m.changes if c.kind in kinds or "any" in kinds)
    if rule.target == "parse_error":
        return sum(len(m.statements) for m in models)
    return 0


def _strengths(run: LintRun, findings: Sequence[Finding]) -> list[str]:
    """Rules that could have fired on many objects and fired on none: final-schema rules
    first (what the schema is), then statement rules (how it was changed); the weightiest and
    the most objects first."""
    fired = {f.rule for f in findings} | {s.finding.rule for s in run.result.suppressed}
    candidates: list[tuple[int, int, int, str]] = []
    for rule in run.rules:
        if not rule.evaluated or rule.id in fired or not rule.enabled:
            continue
        if not any(rule_applies(rule, profile) for profile in run.profiles):
            continue  # cannot fire here (no exposed schema, an older PostgreSQL)
        count = _applicable(rule, run.models)
        if count < 3:
            continue
        final = rule.target in FINAL_KINDS
        label = _PLURAL.get(rule.target, "statements") if final else "statements"
        text = f"{rule.title}: none among {count} {label} checked (`{rule.id}`)"
        # Final-schema rules first, then the weightiest (a primary key on every table says
        # more than no money type), then the most objects examined.
        candidates.append((0 if final else 1, SEVERITY_RANK[rule.severity], -count, text))
    return [text for *_, text in sorted(candidates)][:8]


def _inventory(models: Sequence[SchemaModel]) -> dict[str, Any]:
    tables = []
    foreign_keys = []
    indexes = []
    checks = []
    functions = []
    triggers = []
    policies = []
    for model in models:
        for table in sorted(model.live_tables(), key=lambda t: t.qualified_name):
            pk = table.primary_key
            tables.append(
                {
                    "name": table.qualified_name,
                    "columns": [
                        {
                            "name": c.name,
                            "type": str(c.type),
                            "not_null": not c.nullable,
                            "default": _default_text(c),
                        }
                        for c in table.columns.values()
                    ],
                    "primary_key": ", ".join(pk.columns) if pk else None,
                    "rls": table.rls_enabled,
                }
            )
            for fk in table.foreign_keys:
                foreign_keys.append(
                    {
                        "name": fk.name,
                        "from": f"{table.qualified_name}({fk.columns_sql})",
                        "to": f"{fk.ref_table}({', '.join(fk.ref_columns)})",
                        "on_delete": fk.on_delete,
                        "on_update": fk.on_update,
                        "covered": fk.covering_index is not None,
                    }
                )
            for index in table.live_indexes:
                duplicate = index.duplicate_of
                indexes.append(
                    {
                        "name": index.name,
                        "table": table.qualified_name,
                        "columns": index.columns_sql,
                        "unique": index.unique,
                        "partial": index.predicate is not None,
                        "method": index.method,
                        "duplicate_of": duplicate.name if duplicate is not None else None,
                    }
                )
            for check in table.checks:
                checks.append(
                    {
                        "name": check.name,
                        "table": table.qualified_name,
                        "expression": str(check.expression) if check.expression else "",
                        "validated": not check.not_valid,
                    }
                )
            for trigger in table.triggers.values():
                triggers.append(
                    {
                        "name": trigger.name,
                        "table": table.qualified_name,
                        "timing": trigger.timing,
                        "events": ", ".join(trigger.events),
                        "function": trigger.function,
                    }
                )
            for policy in table.policies.values():
                policies.append(
                    {
                        "name": policy.name,
                        "table": table.qualified_name,
                        "command": policy.command,
                        "roles": ", ".join(policy.roles) or "public",
                    }
                )
        for function in sorted(model.functions.values(), key=lambda f: f.signature):
            functions.append(
                {
                    "signature": function.signature,
                    "language": function.language,
                    "security_definer": function.security_definer,
                    "search_path": function.config.get("search_path"),
                }
            )
    return {
        "tables": tables,
        "foreign_keys": foreign_keys,
        "indexes": indexes,
        "checks": checks,
        "functions": functions,
        "triggers": triggers,
        "policies": policies,
    }


def _default_text(column: Any) -> str | None:
    if column.default is not None:
        return str(column.default)
    if column.identity is not None:
        return f"identity ({column.identity})"
    if column.generated is not None:
        return f"generated: {column.generated}"
    if column.type.serial:
        return "serial sequence"
    return None


def _timeline(run: LintRun) -> list[dict[str, Any]]:
    """Each file in apply order: what it created, altered and dropped, its heaviest lock."""
    by_source: dict[int, list[Any]] = defaultdict(list)
    for model in run.models:
        for change in model.changes:
            by_source[id(change.statement.source)].append(change)
    entries = []
    for source in run.sources:
        created: list[str] = []
        altered: list[str] = []
        dropped: list[str] = []
        heaviest = ("", "")
        for change in by_source.get(id(source), []):
            name = change.object_name
            if change.kind.startswith("create_") and not change.noop and name:
                created.append(name)
            elif change.kind.startswith("drop_") and name:
                dropped.append(name)
            elif change.table is not None and change.kind not in ("update", "delete"):
                altered.append(change.table.qualified_name)
            lock = change.lock
            if change.heavy_lock and _LOCK_RANK.get(lock, 0) > _LOCK_RANK.get(heaviest[0], 0):
                assert change.table is not None
                heaviest = (lock, change.table.qualified_name)
        entries.append(
            {
                "file": source.display,
                "created": _unique(created),
                "altered": _unique(a for a in altered if a not in created),
                "dropped": _unique(dropped),
                "lock": f"{heaviest[0]} on {heaviest[1]}" if heaviest[0] in HEAVY_LOCKS else "",
            }
        )
    return entries


def _unique(names: Any) -> list[str]:
    seen: dict[str, None] = {}
    for name in names:
        seen.setdefault(name, None)
    return list(seen)


def _actions(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ordered = sorted(items, key=lambda i: (SEVERITY_RANK[i["severity"]], i["file"], i["line"]))
    return [
        {
            "id": f"A{number}",
            "issue": f"{i['title']} ({i['location']})",
            "severity": i["severity"],
            "fix": i["fix"],
            "when": WHEN[i["severity"]],
        }
        for number, i in enumerate(ordered, 1)
    ]


def _checklist(
    run: LintRun, findings: Sequence[Finding], standards: Sequence[tuple[str, Sequence[str]]]
) -> dict[str, Any]:
    evaluated = {r.id: r for r in run.rules}
    rows = []
    for name, rule_ids in standards:
        rules = [evaluated[r] for r in rule_ids if r in evaluated]
        if not rules:
            continue
        failing = [f for f in findings if f.rule in rule_ids]
        total = max(sum(_applicable(r, run.models) for r in rules), len(failing))
        offenders = {(f.rule, f.object or f"{f.file}:{f.line}") for f in failing}
        share = 100.0 if total == 0 else round(100 * (total - len(offenders)) / total, 1)
        rows.append(
            {
                "standard": name,
                "rules": [r.id for r in rules],
                "passed": not failing,
                "findings": len(failing),
                "share": max(share, 0.0),
            }
        )
    passed = sum(1 for row in rows if row["passed"])
    overall = round(100 * passed / len(rows), 1) if rows else 100.0
    return {"standards": rows, "passed": passed, "total": len(rows), "percent": overall}
