"""One lint run, stage after stage: discover -> parse -> replay -> rules -> findings.

This module only wires the stages together; each stage knows nothing of the later ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from schema_review.config import ConfigError, Settings
from schema_review.discover import MigrationSet, discover, forward_sql
from schema_review.findings import FindingSet, Suppression, build_findings, find_suppressions
from schema_review.model import SchemaModel, replay
from schema_review.parse import ParseProblem, SourceFile, Statement, parse_postgres
from schema_review.profile import DEFAULT_PG_VERSION, Profile, detect_runner, file_in_transaction
from schema_review.rules import Hit, Rule, evaluate, load_rules


@dataclass(slots=True)
class LintRun:
    sets: list[MigrationSet]
    sources: list[SourceFile]
    models: list[SchemaModel]
    rules: list[Rule]
    result: FindingSet
    profiles: list[Profile]  # one per migration set: its runner may differ

    @property
    def statement_count(self) -> int:
        return sum(len(m.statements) for m in self.models)


def select_rules(rules: Sequence[Rule], settings: Settings) -> list[Rule]:
    """The rules a run evaluates: `select` (ids, categories or `all`) minus `ignore`."""
    known = {r.id for r in rules} | {r.category for r in rules} | {"all"}
    for option, names in (("select", settings.select), ("ignore", settings.ignore)):
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(f"{option}: unknown rule or category {', '.join(unknown)}")
    for rule_id in settings.severity:
        if rule_id not in known:
            raise ConfigError(f"severity: unknown rule {rule_id}")

    def named(rule: Rule, names: Sequence[str]) -> bool:
        return rule.id in names or rule.category in names or "all" in names

    def selected(rule: Rule) -> bool:
        # A category selects its rules that are on by default; `all` or the id, any rule.
        if rule.id in settings.select or "all" in settings.select:
            return True
        return rule.enabled and rule.category in settings.select

    chosen = (
        [r for r in rules if selected(r)] if settings.select else [r for r in rules if r.enabled]
    )
    return [r for r in chosen if not named(r, settings.ignore)]


def lint(paths: Sequence[str | Path], settings: Settings) -> LintRun:
    rules = select_rules(load_rules(settings.rule_files), settings)
    sets = discover(paths, exclude=settings.exclude)
    sources: list[SourceFile] = []
    models: list[SchemaModel] = []
    hits: list[Hit] = []
    suppressions: list[Suppression] = []
    profiles: list[Profile] = []
    for set_index, migration_set in enumerate(sets):
        statements: list[Statement] = []
        problems: list[ParseProblem] = []
        set_sources: list[SourceFile] = []
        for order, migration in enumerate(migration_set.files):
            source, text_problem = read_source(
                migration.path,
                migration.display,
                set_index,
                order,
                _identity(migration_set, migration.path),
            )
            set_sources.append(source)
            if text_problem:
                problems.append(text_problem)
        profile = Profile(
            pg_version=settings.pg_version or DEFAULT_PG_VERSION,
            runner=settings.runner
            or detect_runner(
                migration_set.convention,
                str(migration_set.root or ""),
                [s.text for s in set_sources],
            ),
        )
        profiles.append(profile)
        for source in set_sources:
            parsed, file_problems = parse_postgres(source)
            source.transaction = file_in_transaction(profile.runner, source.text) and (
                profile.transaction_mode != "implicit" or len(parsed) > 1
            )
            statements.extend(parsed)
            problems.extend(file_problems)
            suppressions.extend(find_suppressions(source, parsed))
        sources.extend(set_sources)
        model = replay(statements, profile)
        models.append(model)
        hits.extend(evaluate(rules, model, problems, profile))
    rules_by_id = {r.id: r for r in rules}
    result = build_findings(hits, suppressions, rules_by_id, settings.severity)
    return LintRun(sets, sources, models, rules, result, profiles)


def read_source(
    path: Path, display: str, set_index: int, order: int, identity: str
) -> tuple[SourceFile, ParseProblem | None]:
    """A file's text, Up part only; a file that is not UTF-8 is read with replacements."""
    problem_message = None
    try:
        data = path.read_bytes()
    except OSError as error:
        data = b""
        problem_message = f"cannot read file: {error.strerror}"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        text = data.decode("utf-8-sig", errors="replace")
        problem_message = f"not valid UTF-8 (byte {error.start}): characters were replaced"
        offset = len(data[: error.start].decode("utf-8-sig", errors="replace"))
    else:
        offset = 0
    source = SourceFile(display, forward_sql(text), order, set_index, identity)
    problem = ParseProblem(source, offset, problem_message) if problem_message else None
    return source, problem


def _identity(migration_set: MigrationSet, path: Path) -> str:
    if migration_set.root is not None:
        try:
            return path.resolve().relative_to(migration_set.root.resolve()).as_posix()
        except ValueError:
            pass
    return path.name
