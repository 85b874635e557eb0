"""One lint run, stage after stage: discover -> parse -> replay -> rules -> findings.

This module only wires the stages together; each stage knows nothing of the later ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from schema_review.config import ConfigError, Settings
from schema_review.discover import (
    STDIN,
    BaseRevision,
    MigrationSet,
    base_revision,
    discover,
    forward_sql,
    version_key,
)
from schema_review.findings import (
    Baseline,
    FindingSet,
    Suppression,
    build_findings,
    find_suppressions,
)
from schema_review.model import SchemaModel, replay
from schema_review.parse import ParseProblem, SourceFile, Statement, parse_many
from schema_review.profile import (
    DEFAULT_PG_VERSION,
    Profile,
    detect_platform,
    detect_runner,
    file_in_transaction,
)
from schema_review.rules import Hit, MigrationFacts, Rule, evaluate, load_rules


@dataclass(slots=True)
class LintRun:
    sets: list[MigrationSet]
    sources: list[SourceFile]
    models: list[SchemaModel]
    rules: list[Rule]
    result: FindingSet
    profiles: list[Profile]  # one per migration set: its runner may differ
    quiet: bool = False  # text output: findings only, no summary

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

    rules = [_with_options(r, settings.rule_options.get(r.id)) for r in rules]
    unknown = sorted(set(settings.rule_options) - {r.id for r in rules})
    if unknown:
        raise ConfigError(f"options: unknown rule {', '.join(unknown)}")

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


def _with_options(rule: Rule, given: dict[str, Any] | None) -> Rule:
    """The rule with the team's option values; configuring a rule turns it on (the rules
    that are off by default are the ones that need the team's standard to mean anything)."""
    if given is None:
        return rule
    unknown = sorted(set(given) - set(rule.options))
    if unknown:
        known = ", ".join(sorted(rule.options)) or "none"
        raise ConfigError(
            f"options: {rule.id} has no option {', '.join(unknown)} (its options: {known})"
        )
    for name, value in given.items():
        default = rule.options[name]
        if default is not None and type(value) is not type(default):
            raise ConfigError(
                f"options: {rule.id}.{name} must be a {type(default).__name__}, like its default"
            )
    return replace(rule, options={**rule.options, **given}, enabled=True)


Progress = Callable[[int, int], None]  # (files read, files in all) after each file


def lint(
    paths: Sequence[str | Path],
    settings: Settings,
    stdin: str | None = None,
    stdin_name: str = "<stdin>",
    progress: Progress | None = None,
) -> LintRun:
    """Lint `paths`; with `settings.diff_base`, report only what changed since that revision:
    the same paths are linted as they were at the base, and findings present there hidden."""
    if not settings.diff_base:
        return _lint(paths, settings, None, stdin, stdin_name, progress)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="schema-review-base-") as scratch:
        base = base_revision(settings.diff_base, paths, Path(scratch))
        at_base = [base.at_base(p) for p in paths]
        existing = [p for p in at_base if p.exists()]
        before = _lint(existing, replace(settings, diff_base=None), None) if existing else None
        run = _lint(paths, settings, base, stdin, stdin_name, progress)
    if before is not None:
        known = frozenset(f.fingerprint for f in before.result.findings)
        run.result = run.result.without(Baseline(known, f"present at {settings.diff_base}"))
    return run


@dataclass(slots=True)
class ReplayedHistory:
    """One migration history after discover -> parse -> replay: what the rules and the schema
    export read. `parsed[i]` are the statements of `sources[i]`."""

    migration_set: MigrationSet
    sources: list[SourceFile]
    parsed: list[list[Statement]]
    problems: list[ParseProblem]
    profile: Profile
    model: SchemaModel


def replay_histories(
    paths: Sequence[str | Path],
    settings: Settings,
    stdin: str | None = None,
    stdin_name: str = "<stdin>",
    progress: Progress | None = None,
) -> list[ReplayedHistory]:
    """Discover, read, parse and replay every migration history of `paths`."""
    sets = discover(paths, exclude=settings.exclude, stdin_name=stdin_name)
    total = sum(len(s.files) for s in sets)
    done = 0
    histories: list[ReplayedHistory] = []
    for set_index, migration_set in enumerate(sets):
        statements: list[Statement] = []
        problems: list[ParseProblem] = []
        set_sources: list[SourceFile] = []
        parsed_files: list[list[Statement]] = []
        for order, migration in enumerate(migration_set.files):
            source, text_problem = read_source(
                migration.path,
                migration.display,
                set_index,
                order,
                _identity(migration_set, migration.path),
                stdin if str(migration.path) == STDIN else None,
            )
            done += 1
            if progress is not None:
                progress(done, total)
            set_sources.append(source)
            if text_problem:
                problems.append(text_problem)
        root = str(migration_set.root or "")
        runner = settings.runner or detect_runner(
            migration_set.convention, root, [s.text for s in set_sources]
        )
        profile = Profile(
            pg_version=settings.pg_version or DEFAULT_PG_VERSION,
            runner=runner,
            platform=settings.platform or detect_platform(runner, root),
        )
        for source, (parsed, file_problems) in zip(
            set_sources, parse_many(set_sources, settings.jobs), strict=True
        ):
            source.transaction = file_in_transaction(profile.runner, source.text) and (
                profile.transaction_mode != "implicit" or len(parsed) > 1
            )
            statements.extend(parsed)
            parsed_files.append(parsed)
            problems.extend(file_problems)
        model = replay(statements, profile)
        histories.append(
            ReplayedHistory(migration_set, set_sources, parsed_files, problems, profile, model)
        )
    return histories


def _lint(
    paths: Sequence[str | Path],
    settings: Settings,
    base: BaseRevision | None,
    stdin: str | None = None,
    stdin_name: str = "<stdin>",
    progress: Progress | None = None,
) -> LintRun:
    rules = select_rules(load_rules(settings.rule_files), settings)
    histories = replay_histories(paths, settings, stdin, stdin_name, progress)
    hits: list[Hit] = []
    suppressions: list[Suppression] = []
    for set_index, history in enumerate(histories):
        for source, parsed in zip(history.sources, history.parsed, strict=True):
            suppressions.extend(find_suppressions(source, parsed))
        facts = migration_facts(history.migration_set, history.sources, set_index, base)
        hits.extend(evaluate(rules, history.model, history.problems, history.profile, facts))
    rules_by_id = {r.id: r for r in rules}
    result = build_findings(hits, suppressions, rules_by_id, settings.severity)
    return LintRun(
        [h.migration_set for h in histories],
        [s for h in histories for s in h.sources],
        [h.model for h in histories],
        rules,
        result,
        [h.profile for h in histories],
    )


def migration_facts(
    migration_set: MigrationSet,
    sources: Sequence[SourceFile],
    set_index: int,
    base: BaseRevision | None = None,
) -> list[MigrationFacts]:
    """Per-file facts of a folder for `target: migration` rules (files named one by one have
    no folder convention, so nothing to say)."""
    if migration_set.root is None:
        return []
    downs = [
        migration.down is not None or _has_down_section(source.text)
        for migration, source in zip(migration_set.files, sources, strict=True)
    ]
    set_has_downs = any(downs)
    unjournaled = set(migration_set.unjournaled)
    statuses = [base.status(m.path) if base else "" for m in migration_set.files]
    # The newest file that existed at the base: an added file applied before it runs out of
    # order on every database that already has it.
    newest_at_base = max((i for i, s in enumerate(statuses) if s and s != "added"), default=-1)
    seen_versions: dict[tuple[int, ...], str] = {}
    facts: list[MigrationFacts] = []
    for position, (migration, source, has_down) in enumerate(
        zip(migration_set.files, sources, downs, strict=True)
    ):
        status = statuses[position]
        before_base = ""
        if status == "added" and position < newest_at_base:
            before_base = sources[newest_at_base].display
        duplicate = ""
        key = version_key(migration.version)
        # drizzle's journal and prisma's folder names, not the versions, identify migrations.
        if key and migration_set.convention not in ("drizzle", "prisma"):
            duplicate = seen_versions.setdefault(key, source.display)
            if duplicate == source.display:
                duplicate = ""
        facts.append(
            MigrationFacts(
                source,
                migration.version,
                migration.name,
                migration_set.convention,
                has_down,
                set_has_downs,
                duplicate_of=duplicate,
                unjournaled=migration.path in unjournaled,
                since_base=status,
                before_base_file=before_base,
            )
        )
    if migration_set.journal is not None and migration_set.journal_missing:
        journal, _ = read_source(
            migration_set.journal,
            _display_path(migration_set.journal),
            set_index,
            len(sources),
            "meta/_journal.json",
        )
        for tag in migration_set.journal_missing:
            offset = max(journal.text.find(f'"{tag}"'), 0)
            facts.append(
                MigrationFacts(
                    journal,
                    "",
                    tag,
                    migration_set.convention,
                    False,
                    False,
                    journal_missing=tag,
                    offset=offset,
                )
            )
    return facts


def _has_down_section(text: str) -> bool:
    lowered = text.lower()
    return "+goose down" in lowered or "migrate:down" in lowered


def _display_path(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def read_source(
    path: Path,
    display: str,
    set_index: int,
    order: int,
    identity: str,
    text: str | None = None,
) -> tuple[SourceFile, ParseProblem | None]:
    """A file's text (or `text`, read from standard input), Up part only; a file that is not
    UTF-8 is read with replacements."""
    problem_message = None
    if text is not None:
        return SourceFile(display, forward_sql(text), order, set_index, identity), None
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
