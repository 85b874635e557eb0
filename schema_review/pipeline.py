"""One lint run, stage after stage: discover -> parse -> replay -> rules -> findings.

This module only wires the stages together; each stage knows nothing of the later ones.
"""

from __future__ import annotations

import contextlib
from array import array
from bisect import bisect_left
from collections.abc import Callable, Generator, Hashable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from schema_review.config import ConfigError, Settings, locate_option
from schema_review.discover import (
    POSTGRES,
    STDIN,
    BaseRevision,
    DialectGuess,
    DiscoveryError,
    MigrationFile,
    MigrationSet,
    Placeholder,
    base_revision,
    detect_dialect,
    discover,
    fill_placeholders,
    forward_sql,
    guess_dialect,
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
from schema_review.model.schema import statements_only
from schema_review.parse import ParseProblem, SourceFile, Statement
from schema_review.parse.postgres import StatementStream, Streamed, parse_streamed
from schema_review.profile import (
    DEFAULT_DEPLOY,
    DEFAULT_PG_VERSION,
    DIALECT_NAMES,
    Profile,
    detect_platform,
    detect_runner,
    file_in_transaction,
)
from schema_review.records import Record
from schema_review.rules import Hit, MigrationFacts, Rule, evaluate, load_rules
from schema_review.rules.engine import (
    INTERNAL_ERROR,
    RULE_STOPPED,
    PackedHits,
    evaluate_packed,
    prepare_to_share,
)
from schema_review.rules.options import OptionError, check_values
from schema_review.workers import can_fork, share


class LintRun(Record):
    _fields = (
        "sets",
        "sources",
        "models",
        "rules",
        "result",
        "profiles",
        "quiet",
        "base",
        "base_ref",
        "settings",
        "why",
        "digests",
    )
    __slots__ = _fields

    sets: list[MigrationSet]
    sources: list[SourceFile]
    models: list[SchemaModel]
    rules: list[Rule]
    result: FindingSet
    profiles: list[Profile]  # one per migration set: its runner may differ
    quiet: bool  # text output: findings only, no summary
    # With --diff-base: the same paths linted as they were at `base_ref`, every finding kept
    # (paths spelled as in the working tree): what the review counts as resolved and new.
    base: LintRun | None
    base_ref: str | None
    # What the run used: its settings, and why each history's profile is what it is (one
    # per migration set, as `profiles`).
    settings: Settings | None
    why: list[dict[str, str]]
    # What `lint`'s `digest` took of each model before it went (one per migration set), or
    # None when the run was not asked for one.
    digests: list[Any] | None

    def __init__(
        self,
        sets: list[MigrationSet],
        sources: list[SourceFile],
        models: list[SchemaModel],
        rules: list[Rule],
        result: FindingSet,
        profiles: list[Profile],
        quiet: bool = False,
        base: LintRun | None = None,
        base_ref: str | None = None,
        settings: Settings | None = None,
        why: list[dict[str, str]] | None = None,
        digests: list[Any] | None = None,
    ) -> None:
        self.sets = sets
        self.sources = sources
        self.models = models
        self.rules = rules
        self.result = result
        self.profiles = profiles
        self.quiet = quiet
        self.base = base
        self.base_ref = base_ref
        self.settings = settings
        self.why = list() if why is None else why
        self.digests = digests

    __hash__ = None  # type: ignore[assignment]  # changeable: unhashable, as its dataclass was

    @property
    def statement_count(self) -> int:
        return sum(len(m.statements) for m in self.models)

    @property
    def rules_run(self) -> list[Rule]:
        """The rules that ran: those written for the database of at least one history (a
        SQLite rule never runs on PostgreSQL migrations, nor the other way round)."""
        dialects = {p.dialect for p in self.profiles} or {"postgres"}
        return [r for r in self.rules if dialects & set(r.dialects)]


def select_rules(rules: Sequence[Rule], settings: Settings) -> list[Rule]:
    """The rules a run evaluates: `select` (ids, categories or `all`) minus `ignore`."""
    known = {r.id for r in rules} | {r.category for r in rules} | {"all"}
    lists = [("select", settings.select), ("ignore", settings.ignore)]
    if settings.per_file_ignores is not None:
        lists += [
            (f"per-file-ignores: {pattern}", names)
            for pattern, names in settings.per_file_ignores.patterns
        ]
    for option, names in lists:
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(f"{option}: unknown rule or category {_with_hints(unknown, known)}")
    for rule_id in settings.severity:
        if rule_id not in known:
            raise ConfigError(f"severity: unknown rule {rule_id}")

    rules = [_with_options(r, settings.rule_options.get(r.id), settings.source) for r in rules]
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
    # A rule named by id (or `all`) is the team's choice: it runs under every ORM profile.
    explicit = set(settings.select) & ({r.id for r in rules} | {"all"})
    return [
        r.replace(explicit=True) if r.id in explicit or "all" in explicit else r
        for r in chosen
        if not named(r, settings.ignore)
    ]


def _with_hints(unknown: Sequence[str], known: set[str]) -> str:
    """Unknown names, each with the known ones it is close to (a typo's correction)."""
    import difflib

    def hint(name: str) -> str:
        close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.75)
        return f"{name} (did you mean {', '.join(close)}?)" if close else name

    return ", ".join(hint(name) for name in unknown)


def _with_options(rule: Rule, given: dict[str, Any] | None, source: Path | None = None) -> Rule:
    """The rule with the team's option values; configuring a rule turns it on (the rules
    that are off by default are the ones that need the team's standard to mean anything).
    A value the option cannot take is an error at the line of the configuration giving it."""
    if given is None:
        return rule
    unknown = sorted(set(given) - set(rule.options))
    if unknown:
        known = ", ".join(sorted(rule.options)) or "none"
        raise ConfigError(
            f"{locate_option(source, rule.id, unknown[0])}options: {rule.id} has no option "
            f"{', '.join(unknown)} (its options: {known})"
        )
    try:
        check_values(rule.option_types, rule.options, given)
    except OptionError as error:
        where = locate_option(source, rule.id, error.option)
        raise ConfigError(f"{where}options: {rule.id}.{error.option}: {error.problem}") from None
    return rule.replace(options={**rule.options, **given}, enabled=True, explicit=True)


Progress = Callable[[int, int], None]  # (files read, files in all) after each file
# What a caller (the review) takes of a history's model before it goes: called with the
# model, the history's profile, the run's rules and the names of the objects the whole run's
# hits name (HashedNames).
Digest = Callable[[SchemaModel, Profile, Sequence[Rule], "HashedNames"], Any]


def lint(
    paths: Sequence[str | Path],
    settings: Settings,
    stdin: str | None = None,
    stdin_name: str = "<stdin>",
    progress: Progress | None = None,
    keep_models: bool = True,
    digest: Digest | None = None,
) -> LintRun:
    """Lint `paths`; with `settings.diff_base`, report only what changed since that revision:
    the same paths are linted as they were at the base, and findings present there hidden.
    Without `keep_models`, the run's models keep only their statements (see `_lint`; a
    run of KEPT_TEXT characters or less keeps them whole);
    `digest` takes what a caller reads of each model before that (`LintRun.digests`)."""
    if not settings.diff_base:
        return _lint(paths, settings, None, stdin, stdin_name, progress, keep_models, digest)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="schema-review-base-") as scratch:
        # Folders of the histories of `paths` that were not named (Flyway locations merged,
        # configured histories): the base copy needs them to merge them the same way.
        folders = [f for history in settings.histories for f in history]
        folders += [
            folder
            for found in discover(
                paths, settings.exclude, histories=settings.histories, dialect=_dialect(settings)
            )
            for folder in found.roots
        ]
        base = base_revision(settings.diff_base, paths, Path(scratch), folders)
        at_base = [base.at_base(p) for p in paths]
        existing = [p for p in at_base if p.exists()]
        # The configured histories as they were at the base (folders that existed there).
        histories = tuple(
            tuple(f for f in (_at_base(base, f) for f in history) if f.is_dir())
            for history in settings.histories
        )
        # A folder new since the base may hold nothing there yet.
        at_base_settings = settings.replace(diff_base=None, histories=histories, allow_empty=True)
        before = (
            _lint(existing, at_base_settings, None, keep_models=keep_models, digest=digest)
            if existing
            else None
        )
        run = _lint(paths, settings, base, stdin, stdin_name, progress, keep_models, digest)
        if before is not None:
            _spell_as_working_tree(before, base, paths)
    if before is not None:
        known = frozenset(f.fingerprint for f in before.result.findings)
        run.result = run.result.without(Baseline(known, f"present at {settings.diff_base}"))
    run.base = before
    run.base_ref = settings.diff_base
    return run


def _spell_as_working_tree(
    before: LintRun, base: BaseRevision, paths: Sequence[str | Path]
) -> None:
    """The base run's findings with the paths of the working tree: the copy of the base lies
    in a scratch folder that is gone when the run ends, and a finding is shown where it was."""
    import os

    prefixes: list[tuple[str, Path]] = []
    for path in paths:
        scratch = base.at_base(path)
        prefixes.append((scratch.as_posix(), Path(path)))
        relative = Path(os.path.relpath(scratch)).as_posix()  # discovery's spelling under cwd
        if not relative.startswith(".."):
            prefixes.append((relative, Path(path)))
    prefixes.sort(key=lambda pair: -len(pair[0]))

    def file(name: str) -> str:
        for scratch, given in prefixes:
            if name == scratch or name.startswith(scratch + "/"):
                return (given / name[len(scratch) :].lstrip("/")).as_posix()
        return name

    def message(text: str) -> str:
        for scratch, given in prefixes:
            text = text.replace(scratch, given.as_posix())
        return text

    result = before.result
    result.findings = [
        f._replace(file=file(f.file), message=message(f.message)) for f in result.findings
    ]


def _at_base(base: BaseRevision, folder: Path) -> Path:
    """Where a configured history's folder lies in the copy of the base revision; a folder
    outside the repository is not versioned, so it is the same at the base."""
    try:
        return base.at_base(folder)
    except (DiscoveryError, ValueError):
        return folder


class ReplayedHistory(Record):
    """One migration history after discover -> parse -> replay: what the rules and the schema
    export read. `parsed[i]` are the statements of `sources[i]`."""

    _fields = (
        "migration_set",
        "sources",
        "parsed",
        "problems",
        "profile",
        "model",
        "unfilled",
        "foreign",
        "why",
    )
    __slots__ = _fields

    migration_set: MigrationSet
    sources: list[SourceFile]
    parsed: list[list[Statement]]
    problems: list[ParseProblem]
    profile: Profile
    model: SchemaModel
    unfilled: list[UnfilledPlaceholders]
    # Files written for another database (MySQL, SQLite): not parsed into the model.
    foreign: list[tuple[SourceFile, MigrationFile, DialectGuess]]
    # Why each part of the profile is what it is (history_profile).
    why: dict[str, str]

    def __init__(
        self,
        migration_set: MigrationSet,
        sources: list[SourceFile],
        parsed: list[list[Statement]],
        problems: list[ParseProblem],
        profile: Profile,
        model: SchemaModel,
        unfilled: list[UnfilledPlaceholders] | None = None,
        foreign: list[tuple[SourceFile, MigrationFile, DialectGuess]] | None = None,
        why: dict[str, str] | None = None,
    ) -> None:
        self.migration_set = migration_set
        self.sources = sources
        self.parsed = parsed
        self.problems = problems
        self.profile = profile
        self.model = model
        self.unfilled = list() if unfilled is None else unfilled
        self.foreign = list() if foreign is None else foreign
        self.why = dict() if why is None else why

    __hash__ = None  # type: ignore[assignment]  # changeable: unhashable, as its dataclass was


class UnfilledPlaceholders(Record):
    """A file with placeholders its runner fills in and the configuration gives no value:
    `unparsed` statements did not parse because of them (their parse errors are not reported,
    the one finding of `unfilled-placeholder` is)."""

    _fields = ("source", "migration", "placeholders", "unparsed")
    __slots__ = _fields

    source: SourceFile
    migration: MigrationFile
    placeholders: tuple[Placeholder, ...]
    unparsed: int

    def __init__(
        self,
        source: SourceFile,
        migration: MigrationFile,
        placeholders: tuple[Placeholder, ...],
        unparsed: int,
    ) -> None:
        self.source = source
        self.migration = migration
        self.placeholders = placeholders
        self.unparsed = unparsed


class PlaceholderFacts(MigrationFacts):
    """The facts of a file with unfilled placeholders, for `unfilled-placeholder`
    (`migration.placeholders`, distinct, in order of appearance; `migration.unparsed`)."""

    _fields = (*MigrationFacts._fields, "placeholders", "unparsed")
    __slots__ = ("placeholders", "unparsed")

    placeholders: tuple[str, ...]
    unparsed: int

    def __init__(
        self, *facts: Any, placeholders: tuple[str, ...] = (), unparsed: int = 0, **named: Any
    ) -> None:
        super().__init__(*facts, **named)
        self.placeholders = placeholders
        self.unparsed = unparsed


def replay_histories(
    paths: Sequence[str | Path],
    settings: Settings,
    stdin: str | None = None,
    stdin_name: str = "<stdin>",
    progress: Progress | None = None,
    base: BaseRevision | None = None,
    keep_trees: bool = True,
) -> list[ReplayedHistory]:
    """Discover, read, parse and replay every migration history of `paths`; with `base` (a
    --diff-base run) the files new since it are the pull request's (`SourceFile.pending`).
    Without `keep_trees`, each statement's parse tree is dropped once it is replayed: a
    caller that reads `Statement.node` afterwards (`verify` applies the statements) keeps
    them."""
    sets = _discover(paths, settings, stdin_name)
    total = sum(len(s.files) for s in sets)
    done = 0
    histories: list[ReplayedHistory] = []
    for set_index, migration_set in enumerate(sets):
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
            source.pending = (
                base is not None
                and str(migration.path) != STDIN
                and base.status(migration.path) == "added"
            )
            source.step_of = migration.step_of
            set_sources.append(source)
            if text_problem:
                problems.append(text_problem)
        profile, why = history_profile(migration_set, set_sources, settings)
        left = [_fill_placeholders(source, settings, profile) for source in set_sources]
        unfilled: list[UnfilledPlaceholders] = []
        foreign: list[tuple[SourceFile, MigrationFile, DialectGuess]] = []
        # Each file is replayed once parsed: with --jobs, the next files are parsed by
        # other processes meanwhile (parse_each).
        parsing = parse_history(set_sources, profile.dialect, settings.jobs)
        with contextlib.closing(parsing):
            statements = _statements_of_files(
                migration_set,
                set_sources,
                left,
                parsing,
                profile,
                problems,
                parsed_files,
                unfilled,
                foreign,
            )
            model = replay(statements, profile, keep_trees)
        histories.append(
            ReplayedHistory(
                migration_set,
                set_sources,
                parsed_files,
                problems,
                profile,
                model,
                unfilled,
                foreign,
                why,
            )
        )
    return histories


def _statements_of_files(
    migration_set: MigrationSet,
    sources: list[SourceFile],
    left: list[tuple[Placeholder, ...]],
    parsing: Iterator[Streamed],
    profile: Profile,
    problems: list[ParseProblem],
    parsed_files: list[list[Statement]],
    unfilled: list[UnfilledPlaceholders],
    foreign: list[tuple[SourceFile, MigrationFile, DialectGuess]],
) -> Iterator[Statement]:
    """A history's statements for the replay, a file at a time as it is parsed; what the
    files are found to be goes to the lists given: their problems, statements, unfilled
    placeholders, and the files written for another database."""
    for source, migration, placeholders, (parsed, file_problems) in zip(
        sources, migration_set.files, left, parsing, strict=True
    ):
        guess = guess_dialect(source.text) if profile.dialect == "postgres" else POSTGRES
        if guess.foreign:
            # One finding for the file (`unsupported-dialect`), not a parse error per
            # statement and advice on the statements PostgreSQL happens to accept.
            foreign.append((source, migration, guess))
            parsed, file_problems, placeholders = [], [], ()
        in_transaction = file_in_transaction(
            profile.runner, source.text, migration.path.name, migration.path
        )
        source.transaction = (
            in_transaction
            and (profile.transaction_mode != "implicit" or len(parsed) > 1)
            # MySQL DDL is not transactional: each statement commits the open transaction
            # (an implicit commit), whatever the runner wraps the file in.
            and profile.dialect != "mysql"
        )
        # A long file's statements are parsed as the replay reads them (StatementStream):
        # its list fills as it goes.
        parsed_files.append(parsed.statements if isinstance(parsed, StatementStream) else parsed)
        if placeholders:
            kept = _unexplained(file_problems, placeholders)
            unparsed = len(file_problems) - len(kept)
            unfilled.append(UnfilledPlaceholders(source, migration, placeholders, unparsed))
            file_problems = kept
        yield from parsed
        # After the statements: a long file's stream adds the problems of a chunk the
        # parser refuses as it reads it (StatementStream).
        problems.extend(file_problems)


def parse_history(
    sources: list[SourceFile], dialect: str, jobs: int
) -> Generator[Streamed, None, None]:
    """Each file's statements and problems, in order, by the parser of the history's
    dialect (PostgreSQL's: see parse_each and parse_streamed)."""
    if dialect == "postgres":
        return parse_streamed(sources, jobs)
    from schema_review.parse.sqlglot_parse import parse_sqlglot

    return (parse_sqlglot(source, dialect) for source in sources)


def _discover(
    paths: Sequence[str | Path], settings: Settings, stdin_name: str
) -> list[MigrationSet]:
    """The migration histories of `paths` under the settings' exclude patterns, configured
    histories, dialect and tolerance of folders without migrations."""
    return discover(
        paths,
        exclude=settings.exclude,
        stdin_name=stdin_name,
        histories=settings.histories,
        allow_empty=settings.allow_empty,
        dialect=_dialect(settings),
    )


def _dialect(settings: Settings) -> str | None:
    """The configured dialect (`mariadb` is mysql), None when it is detected per history."""
    return DIALECT_NAMES[settings.dialect] if settings.dialect else None


def history_profile(
    migration_set: MigrationSet, sources: Sequence[SourceFile], settings: Settings
) -> tuple[Profile, dict[str, str]]:
    """The profile a history is linted with, and why each part of it is what it is: the flag
    or configuration file that set it, what gave it away (`detected: ...`), or `default`."""
    root = str(migration_set.root or "")
    why: dict[str, str] = {}
    texts = [s.text for s in sources]
    if settings.dialect:
        dialect, why["dialect"] = DIALECT_NAMES[settings.dialect], origin_of(settings, "dialect")
        if settings.dialect != dialect:
            why["dialect"] += f" ({settings.dialect} is linted as {dialect})"
    else:
        dialect, evidence = detect_dialect(migration_set, texts)
        why["dialect"] = f"detected: {evidence}" if evidence else "default: nothing detected"
    if settings.runner:
        runner, why["runner"] = settings.runner, origin_of(settings, "runner")
    else:
        runner, evidence = detect_runner(migration_set.convention, root, texts)
        why["runner"] = f"detected: {evidence}" if evidence else "default: nothing detected"
    if settings.platform:
        platform, why["platform"] = settings.platform, origin_of(settings, "platform")
    else:
        platform, evidence = detect_platform(runner, root)
        why["platform"] = f"detected: {evidence}" if evidence else "default"
    why["pg-version"] = origin_of(settings, "pg-version") if settings.pg_version else "default"
    why["deploy"] = origin_of(settings, "deploy") if settings.deploy else "default"
    profile = Profile(
        pg_version=settings.pg_version or DEFAULT_PG_VERSION,
        runner=runner,
        platform=platform,
        deploy=settings.deploy or DEFAULT_DEPLOY,
        dialect=dialect,
    )
    return profile, why


def profile_parts(profile: Profile) -> dict[str, object]:
    """What a run says it linted a history as, in the order it says it: the keys of
    history_profile's reasons. The PostgreSQL version and platform are PostgreSQL's only."""
    parts: dict[str, object] = {
        "dialect": profile.dialect,
        "runner": profile.runner,
        "pg-version": profile.pg_version,
        "platform": profile.platform,
        "deploy": profile.deploy,
    }
    if profile.dialect != "postgres":
        del parts["pg-version"], parts["platform"]
    return parts


def origin_of(settings: Settings, key: str) -> str:
    """Where a setting's value came from, as a run tells it: its flag, or `configured in`
    the configuration file."""
    where = settings.origins.get(key, "")
    if where.startswith("--") or not where:
        return where or "default"
    return f"configured in {display_path(Path(where))}"


def describe_histories(
    paths: Sequence[str | Path], settings: Settings, stdin_name: str = "<stdin>"
) -> list[tuple[MigrationSet, Profile, dict[str, str]]]:
    """Each migration history of `paths` with its profile and why (`lint --show-settings`):
    discovery and the files' text, nothing parsed."""
    sets = _discover(paths, settings, stdin_name)
    described = []
    for set_index, migration_set in enumerate(sets):
        sources = [
            read_source(
                m.path,
                m.display,
                set_index,
                order,
                m.path.name,
                "" if str(m.path) == STDIN else None,
            )[0]
            for order, m in enumerate(migration_set.files)
        ]
        described.append((migration_set, *history_profile(migration_set, sources, settings)))
    return described


def _fill_placeholders(
    source: SourceFile, settings: Settings, profile: Profile
) -> tuple[Placeholder, ...]:
    """Fill in the configured placeholders of a file, as its runner does before sending it;
    the placeholders left that matter: outside quotes (never valid SQL there), and for Flyway,
    which fills them everywhere and refuses to run with one missing, inside them too."""
    text, left = fill_placeholders(source.text, settings.placeholders)
    source.text = text
    flyway = profile.runner == "flyway"
    return tuple(p for p in left if p.in_code or (flyway and p.text.startswith("${")))


def _unexplained(
    problems: list[ParseProblem], placeholders: Sequence[Placeholder]
) -> list[ParseProblem]:
    """The parse problems not caused by a placeholder: those in a statement holding none."""
    statements = [p.statement for p in placeholders]
    return [
        problem
        for problem in problems
        if not any(start <= problem.offset < end for start, end in statements)
    ]


def placeholder_facts(history: ReplayedHistory) -> list[MigrationFacts]:
    """The facts of `unfilled-placeholder`: one per file with unfilled placeholders, located
    at the first of them (files named one by one included)."""
    facts: list[MigrationFacts] = []
    for unfilled in history.unfilled:
        texts = tuple(dict.fromkeys(p.text for p in unfilled.placeholders))
        facts.append(
            PlaceholderFacts(
                unfilled.source,
                unfilled.migration.version,
                unfilled.migration.name,
                history.migration_set.convention,
                has_down=False,
                set_has_downs=False,
                offset=unfilled.placeholders[0].offset,
                placeholders=texts,
                unparsed=unfilled.unparsed,
            )
        )
    return facts


def dialect_facts(history: ReplayedHistory) -> list[MigrationFacts]:
    """The facts of `unsupported-dialect`: one per file written for another database, at the
    first syntax that gives it away."""
    return [
        MigrationFacts(
            source,
            migration.version,
            migration.name,
            history.migration_set.convention,
            has_down=False,
            set_has_downs=False,
            offset=guess.offset,
            dialect=guess.dialect,
            dialect_evidence=guess.reason(source.text),
        )
        for source, migration, guess in history.foreign
    ]


def _lint(
    paths: Sequence[str | Path],
    settings: Settings,
    base: BaseRevision | None,
    stdin: str | None = None,
    stdin_name: str = "<stdin>",
    progress: Progress | None = None,
    keep_models: bool = True,
    digest: Digest | None = None,
) -> LintRun:
    # Rules whose findings only a server gives (`verify`) have nothing to say here.
    catalogue = load_rules(settings.rule_files)
    rules = [r for r in select_rules(catalogue, settings) if r.target != "server"]
    # The rules read the model, its changes and the statements' compact facts: the parse
    # trees, most of a long history's memory, go once replayed, unless a rule reads one.
    keep_trees = any(reads_parse_trees(rule) for rule in rules)
    histories = replay_histories(
        paths, settings, stdin, stdin_name, progress, base, keep_trees=keep_trees
    )
    # A short run keeps its models whole, and its hits and freed memory as they are: what
    # they would save its peak, it would spend time on (see KEPT_TEXT).
    short = sum(len(s.text) for h in histories for s in h.sources) <= KEPT_TEXT
    statements = sum(len(h.model.statements) for h in histories)
    if statements >= _LONG_HISTORY and not short:
        _return_freed_memory()
    # With --jobs, the rules are shared among processes once all histories are replayed;
    # otherwise each history's model goes as soon as its rules ran.
    shared = settings.jobs > 1 and statements >= SHARED_RULES_FROM and can_fork()
    # A long history's hits are packed (see PackedHits) until the models are gone.
    found: list[list[Hit] | PackedHits] = []
    suppressions: list[Suppression] = []
    work: list[Evaluation] = []
    for set_index, history in enumerate(histories):
        for source, parsed in zip(history.sources, history.parsed, strict=True):
            suppressions.extend(find_suppressions(source, parsed, history.profile.dialect))
        facts = migration_facts(history.migration_set, history.sources, set_index, base)
        facts += placeholder_facts(history) + dialect_facts(history)
        work.append(Evaluation(history.model, history.problems, history.profile, facts))
        if shared:
            continue
        # Taken off `work` (no name of it left here): an evaluation names its model.
        evaluation = work.pop()
        packs = evaluation.long and not short
        found.append(evaluation.packed(rules) if packs else evaluation.hits(rules))
        del evaluation
        if not keep_models and digest is None and not short:
            # A caller that reads no model once the rules ran (lint's outputs count the
            # statements): the model, most of a long history's memory, goes before the
            # findings are built, which reuse its memory.
            history.model = statements_only(history.model)
    if shared:
        found = _evaluate_shared(rules, work, settings.jobs)
        work.clear()  # the evaluations name the models
    # A review's digest of each model (what it reads of it), taken once every hit is known:
    # then the models go as above, before the hits are unpacked.
    digests = None
    if digest is not None:
        named = _objects_named(found)
        digests = [digest(h.model, h.profile, rules, named) for h in histories]
        del named
    if not keep_models and (shared or digest is not None) and not short:
        for history in histories:
            history.model = statements_only(history.model)
    hits = _unpacked(found)
    rules_by_id = {r.id: r for r in rules}
    result = build_findings(
        hits, suppressions, rules_by_id, settings.severity, catalogue, settings.per_file_ignores
    )
    return LintRun(
        [h.migration_set for h in histories],
        [s for h in histories for s in h.sources],
        [h.model for h in histories],
        rules,
        result,
        [h.profile for h in histories],
        settings=settings,
        why=[h.why for h in histories],
        digests=digests,
    )


class Evaluation(Record):
    """What the rules are evaluated on for one history (the arguments of `evaluate`)."""

    _fields = ("model", "problems", "profile", "facts")
    __slots__ = _fields

    model: SchemaModel
    problems: Sequence[ParseProblem]
    profile: Profile
    facts: Sequence[MigrationFacts]

    def __init__(
        self,
        model: SchemaModel,
        problems: Sequence[ParseProblem],
        profile: Profile,
        facts: Sequence[MigrationFacts],
    ) -> None:
        self.model = model
        self.problems = problems
        self.profile = profile
        self.facts = facts

    def hits(self, rules: Sequence[Rule]) -> list[Hit]:
        return evaluate(rules, self.model, self.problems, self.profile, self.facts)

    def packed(self, rules: Sequence[Rule]) -> PackedHits:
        return evaluate_packed(rules, self.model, self.problems, self.profile, self.facts)

    @property
    def long(self) -> bool:
        """Whether the history is long enough for its hits to be compressed (PackedHits)."""
        return len(self.model.statements) >= _LONG_HISTORY


def _objects_named(found: list[list[Hit] | PackedHits]) -> HashedNames:
    """The names of the objects the hits of `found` name (packs read a chunk at a time,
    left packed)."""
    return HashedNames(
        name
        for part in found
        for name in ((h.object for h in part) if isinstance(part, list) else part.objects())
        if name
    )


class HashedNames:
    """A set of names (strings, or tuples of them) kept as their hashes (`hash`, 64 bits),
    sorted: 8 bytes a name where a set of a long history's hundred thousand strings took
    about 90, while its model is alive. A name not in the set is taken for one that is only
    if their hashes are equal (one chance in 2**64 for each pair, the hash of a string keyed
    anew in each process)."""

    __slots__ = ("_hashes",)

    def __init__(self, names: Iterable[Hashable]) -> None:
        self._hashes = array("q", sorted({hash(name) for name in names}))

    def index(self, name: Hashable) -> int:
        """Where `name` is among the names, in their hashes' order; -1: not there."""
        hashes, hashed = self._hashes, hash(name)
        at = bisect_left(hashes, hashed)
        return at if at < len(hashes) and hashes[at] == hashed else -1

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str | tuple) and self.index(name) >= 0

    def __len__(self) -> int:
        return len(self._hashes)


def _unpacked(found: list[list[Hit] | PackedHits]) -> list[Hit]:
    """The hits of `found` in order, each pack emptied as it is unpacked."""
    hits: list[Hit] = []
    for part in found:
        hits.extend(part if isinstance(part, list) else part.unpack())
    found.clear()
    return hits


# From this many statements in all, `--jobs` shares the rules: below, forking costs more
# than it saves. On two cores, the corpus's 5,104 statements shared took 0.025 s less wall
# time and 0.075 s more CPU time (0.78 s in one process); 10,000 statements in files of 50,
# 0.19 s less wall time (1.52 s).
SHARED_RULES_FROM = 8_000
# Parts of the rules for each process: enough that a process finishing early takes more,
# few enough that each `evaluate` call (it lists the model's objects and changes by kind
# first) is worth it.
_PARTS_PER_JOB = 8


def evaluate_shared(rules: Sequence[Rule], work: Sequence[Evaluation], jobs: int) -> list[Hit]:
    """The hits of `rules` on every history of `work`, in the order calling `evaluate` on each
    in turn gives them, the rules evaluated by up to `jobs` processes (schema_review.workers):
    each part is a run of consecutive rules on one history, and a worker sends its hits back
    as data (see _HitEncoder)."""
    return _unpacked(_evaluate_shared(rules, work, jobs))


def _evaluate_shared(
    rules: Sequence[Rule], work: Sequence[Evaluation], jobs: int
) -> list[list[Hit] | PackedHits]:
    """evaluate_shared's hits, each part's packed (see PackedHits): a worker sends its pack
    back as data, kept packed here until the caller unpacks it."""
    # The parse problems' hits and the replay's internal errors come first in a history's
    # hits: `evaluate` gives them, and nothing else, for the rules it does not evaluate.
    leading = [r for r in rules if not r.evaluated]
    evaluated = [r for r in rules if r.evaluated]
    per_history = max(1, jobs * _PARTS_PER_JOB // max(len(work), 1))
    size = max(1, -(-len(evaluated) // per_history))
    parts = [
        (history, start, min(start + size, len(evaluated)))
        for history in range(len(work))
        for start in range(0, len(evaluated), size)
    ]

    def do(part: int) -> PackedHits:
        history, start, stop = parts[part]
        w = work[history]
        # The leading hits give the replay's internal errors.
        return evaluate_packed(
            evaluated[start:stop],
            w.model,
            (),
            w.profile,
            w.facts,
            replay_errors=False,
            compress=w.long,
        )

    encoders = [_HitEncoder(w) for w in work]
    decoders = [_HitDecoder(rules, w) for w in work]
    for w in work:
        prepare_to_share(evaluated, w.model, w.profile)
    done = share(
        len(parts),
        jobs,
        do,
        lambda part, packed: packed.data(encoders[parts[part][0]]),
        lambda part, data: decoders[parts[part][0]].packed(data),
    )
    found: list[list[Hit] | PackedHits] = []
    for history, w in enumerate(work):
        found.append(w.hits(leading))
        for (part_history, _, _), part_hits in zip(parts, done, strict=True):
            if part_history == history:
                found.append(part_hits)
    return found


class _HitEncoder:
    """Where a worker's hits are, as numbers (PackedHits.data). What a hit points at existed
    before the fork, so its place in the lists of the history (its statements, then those
    only its changes name, see _nested_statements; its migration facts) names it in both
    processes: a statement by its index, a file's source by -1 - the index of its facts. A
    hit naming anything else cannot be sent (KeyError: the part is evaluated again by the
    parent)."""

    def __init__(self, w: Evaluation) -> None:
        self.w = w
        self.statements: dict[int, int] | None = None
        self.facts = {id(f.source): i for i, f in enumerate(w.facts)}

    def __call__(self, place: Statement | SourceFile | tuple[SourceFile, Statement]) -> int:
        if isinstance(place, Statement):
            if self.statements is None:
                self.statements = {id(s): i for i, s in enumerate(self.w.model.statements)}
            number = self.statements.get(id(place))
            if number is None:
                # A statement of a DO block or a function's body: numbered after the
                # history's own, all of them at once (few histories have any).
                first = len(self.statements)
                nested = _nested_statements(self.w.model)
                self.statements.update((id(s), first + i) for i, s in enumerate(nested))
                number = self.statements[id(place)]
            return number
        if isinstance(place, SourceFile):
            return -1 - self.facts[id(place)]
        raise KeyError("a hit whose source is not its statement's")


def _nested_statements(model: SchemaModel) -> list[Statement]:
    """The statements the model's changes name that are not among its statements (those the
    replay found inside a DO block or a function's body), in the changes' order: the same
    list in a worker as in its parent, which built the model before the fork."""
    own = {id(s) for s in model.statements}
    nested: dict[int, Statement] = {}
    for change in model.changes:
        statement = change.statement
        if id(statement) not in own:
            nested.setdefault(id(statement), statement)
    return list(nested.values())


class _HitDecoder:
    """A worker's pack from its data (see _HitEncoder), with the rule objects of this process:
    a rule whose severity the history's deploy lowered (`as_deployed`) is that rule so
    lowered."""

    def __init__(self, rules: Sequence[Rule], w: Evaluation) -> None:
        # The lists the places index, not the evaluation: its model goes before the pack (a
        # decoder goes when the share ends; the model, for its nested statements if a
        # worker sent any, until then).
        self.statements = w.model.statements
        self.model = w.model
        self.nested: list[Statement] | None = None
        self.facts = w.facts
        known = (*rules, INTERNAL_ERROR, RULE_STOPPED)
        self.rules: dict[tuple[str, str], Rule] = {(r.id, r.severity): r for r in known}
        self.by_id = {r.id: r for r in known}

    def rule(self, rule_id: str, severity: str) -> Rule:
        rule = self.rules.get((rule_id, severity))
        if rule is None:
            rule = self.rules[rule_id, severity] = self.by_id[rule_id].replace(severity=severity)
        return rule

    def place(self, number: int) -> Statement | SourceFile:
        if number < 0:
            return self.facts[-1 - number].source
        if number < len(self.statements):
            return self.statements[number]
        if self.nested is None:
            self.nested = _nested_statements(self.model)
        return self.nested[number - len(self.statements)]

    def packed(self, data: tuple[Any, ...]) -> PackedHits:
        return PackedHits.from_data(data, self.rule, self.place)


def _return_freed_memory() -> None:
    """Give the memory the parse trees held back to the system once they are replayed.

    A statement's tree is kept as its JSON text until the replay reads it: hundreds of bytes,
    which the C library's allocator, not Python's, hands out. Freed, that memory stays with
    the process (what the model allocates afterwards comes from Python's own arenas), so a
    long history's peak would count its parse trees however early they were dropped.
    `malloc_trim` (glibc) returns the free pages; elsewhere this does nothing."""
    import sys

    if not sys.platform.startswith("linux"):
        return
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL(None).malloc_trim(0)  # the interpreter's own C library


# From this many statements a run returns its parse trees' memory and packs its hits while
# the models are alive, and a history this long compresses its packed hits (a short one has
# little to return or compress, and loading ctypes costs a few milliseconds).
_LONG_HISTORY = 5_000

# A run of this much SQL text (characters) or less keeps its schema models whole to the
# end, instead of taking them down to their statements once the rules ran: a process
# started for the command ends without freeing them object by object (cli._finish). On a
# cold run of the corpus (1.6 MB of SQL) that and the exit save 1.3% of the instructions for
# 3.5 MB more at the peak of memory. A longer run frees its models before the findings are
# built, which reuse that memory. (Keeping the parse trees as well saved 0.8% more of the
# instructions but no CPU time: the 30 MB more it touches on the corpus, 50 MB on 10,000
# generated statements, cost page faults. Not taken.) Such a run, however many statements
# it has (the corpus's 5,104), neither packs its hits nor returns freed memory to the
# system (_LONG_HISTORY): -0.4%.
KEPT_TEXT = 4 << 20


def reads_parse_trees(rule: Rule) -> bool:
    """Whether a rule may read a statement's parse tree (`node`, or `offset_of(node)`): a
    team's rule may, the built-in ones do not. Read from the expressions' text: an attribute
    a rule reads is named in it (the rule reference checks each name a rule uses)."""
    texts = (rule.when, rule.message, rule.fix, rule.object, rule.applies)
    return any("node" in text for text in texts if text)


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
            display_path(migration_set.journal),
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


def display_path(path: Path) -> str:
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
    UTF-8 is read with replacements. A file that cannot be read (see `_read_bytes`) is empty,
    with a problem saying why."""
    if text is not None:
        return SourceFile(display, forward_sql(text), order, set_index, identity), None
    data, problem_message = _read_bytes(path)
    try:
        # As data.decode("utf-8-sig") (a byte order mark left out), by the C decoder: that
        # codec is Python code, with a lookup of its name, for each file.
        text = (data[3:] if data.startswith(_BOM) else data).decode("utf-8")
    except UnicodeDecodeError as error:
        text = data.decode("utf-8-sig", errors="replace")
        problem_message = f"not valid UTF-8 (byte {error.start}): characters were replaced"
        offset = len(data[: error.start].decode("utf-8-sig", errors="replace"))
    else:
        offset = 0
    source = SourceFile(display, forward_sql(text), order, set_index, identity)
    problem = ParseProblem(source, offset, problem_message) if problem_message else None
    return source, problem


_BOM = b"\xef\xbb\xbf"  # UTF-8's byte order mark (codecs.BOM_UTF8)

# Larger files are not read: a migration is kilobytes and a whole schema dump a few
# megabytes, while reading a file costs its size in memory several times over.
MAX_FILE_BYTES = 64 * 1024 * 1024


def _read_bytes(path: Path) -> tuple[bytes, str | None]:
    """A regular file's bytes, or why it was not read. Named pipes, devices and sockets are
    never opened (reading one can wait forever, or never end: a link to /dev/zero), and no
    file is read past the size limit."""
    import os
    import stat

    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            return b"", _not_regular(info.st_mode)
        if info.st_size > MAX_FILE_BYTES:
            return b"", _too_large(info.st_size)
        # Non-blocking: a file swapped for a named pipe since the stat does not hang the open.
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        # Read from the descriptor itself: a file object (os.fdopen) costs three more system
        # calls (fstat, ioctl, lseek) and a read of the end, for each file.
        descriptor = os.open(path, flags)
        try:
            info = os.fstat(descriptor)
            if not stat.S_ISREG(info.st_mode):
                return b"", _not_regular(info.st_mode)
            # As many bytes as the file has, and one more to see it grew: a read of the limit
            # allocates a buffer of the limit (64 MB) for each file, a tenth of a second of
            # system time on 1,500 files.
            size = min(info.st_size, MAX_FILE_BYTES) + 1
            data = _read_descriptor(descriptor, size, info.st_size)
            if len(data) == size <= MAX_FILE_BYTES:  # it grew since the stat: read on
                data += _read_descriptor(descriptor, MAX_FILE_BYTES + 1 - size, MAX_FILE_BYTES)
        finally:
            os.close(descriptor)
    except OSError as error:
        return b"", f"cannot read file: {error.strerror or error}"
    if len(data) > MAX_FILE_BYTES:  # it grew since the stat
        return b"", _too_large(len(data))
    return data, None


def _read_descriptor(descriptor: int, size: int, enough: int) -> bytes:
    """Up to `size` bytes from an open file: read until it ends or has given `enough` of
    them (what its stat said it holds: a regular file gives them in one read, and a read
    of its end would be one more system call)."""
    import os

    data = os.read(descriptor, size)
    while len(data) < min(size, enough):
        more = os.read(descriptor, size - len(data))
        if not more:
            break
        data += more
    return data


def _not_regular(mode: int) -> str:
    import stat

    kinds = (
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    )
    kind = next((name for test, name in kinds if test(mode)), "a special file")
    return f"file not read: it is {kind}, not a regular file"


def _too_large(size: int) -> str:
    mib = 1024 * 1024
    return (
        f"file not read: {size / mib:.1f} MiB, over the limit of {MAX_FILE_BYTES // mib} MiB "
        "for one migration file"
    )


def _identity(migration_set: MigrationSet, path: Path) -> str:
    # A merged history's file is named within its own folder: its fingerprints do not change
    # when the folders are merged.
    roots = migration_set.roots or ((migration_set.root,) if migration_set.root else ())
    for root in roots:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return path.name
