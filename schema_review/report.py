"""The report model: one structure, built once from a lint run, that every review template renders.

Plain data (dicts, lists, strings, numbers) so that templates, including users' own, read it
in a sandbox and nothing else. Text that comes from the migrations stays plain here: the
templates escape it for Markdown. The score formula is documented in the README.

The document is read top down by a team deciding what to do: the first screen holds the
verdict and the ranked top issues, findings are grouped by rule (one root cause, one "why",
one fix block), and with a base (`--diff-base`, `--baseline`) it says what was resolved.
"""

from __future__ import annotations

import bisect
import json
import os
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from schema_review.findings import SEVERITY_RANK, Finding
from schema_review.model import SchemaModel, Table
from schema_review.model.changes import HEAVY_LOCKS, Change
from schema_review.model.schema import FINAL_KINDS
from schema_review.packing import pack, unpack
from schema_review.pipeline import HashedNames, LintRun
from schema_review.profile import DEFAULT_DEPLOY, DIALECT_LABELS, DIALECTS, Profile
from schema_review.rules import SEVERITIES, Rule, rule_applies

if TYPE_CHECKING:
    from schema_review.export import TableOutline
    from schema_review.parse.expressions import Expression

# The weight of a root cause in the score (see README, "Score").
SEVERITY_WEIGHTS = {"critical": 4.0, "high": 2.0, "medium": 1.0, "low": 0.25, "info": 0.0}
# A rule counts at most this many objects in the score: the twelfth timestamp column without
# a time zone says little the fifth did not, and one noisy rule must not bury the rest.
ROOT_CAUSES_PER_RULE = 5
# The first screen: about seven top issues; every group that fails the gate is among them,
# up to the second limit (past it, one line says how many more there are).
TOP_ISSUES = 7
TOP_GATE_ISSUES = 15
STRENGTHS = 5
PLAN_ROWS = 15
# A group lists this many locations (and a fix block this many lines) before folding them.
FOLD_AFTER = 12
# Statements rewritten in their own files: the first few show the way.
EDIT_EXAMPLES = 3
# The ER diagram: the tables a change touches (the ones with findings first), then their
# neighbours, up to a size a reader can still take in.
DIAGRAM_CORE = 15
DIAGRAM_TABLES = 30
# Categories whose findings are a risk when the migration runs in production (locks,
# breaking the running application, data); the others are design debt.
RUNTIME_CATEGORIES = frozenset(
    {
        "locking",
        "compatibility",
        "transactions",
        "data",
        "performance",
        "security",
        "correctness",
        "syntax",
        "verify",
    }
)
_LOCK_RANK = {
    "ACCESS EXCLUSIVE": 4,
    "EXCLUSIVE": 3,
    "SHARE ROW EXCLUSIVE": 2,
    "SHARE": 1,
}
# What a rule's findings are about, singular and plural, by the rule's target.
_NOUNS = {
    "table": ("table", "tables"),
    "column": ("column", "columns"),
    "constraint": ("constraint", "constraints"),
    "foreign_key": ("foreign key", "foreign keys"),
    "index": ("index", "indexes"),
    "policy": ("policy", "policies"),
    "trigger": ("trigger", "triggers"),
    "function": ("function", "functions"),
    "type": ("type", "types"),
    "sequence": ("sequence", "sequences"),
    "view": ("view", "views"),
    "extension": ("extension", "extensions"),
    "schema": ("schema", "schemas"),
    "statement": ("statement", "statements"),
    "parse_error": ("statement", "statements"),
    "migration": ("file", "files"),
    "suppression": ("comment", "comments"),
    "history": ("change", "changes"),
}
# Kinds of change that drop a whole object (DROP NOT NULL and DROP DEFAULT alter a column).
_NOT_DROPS = frozenset({"drop_not_null", "drop_default", "drop_identity", "drop_expression"})
# Changes that alter no object worth naming in the timeline.
_NOT_ALTERS = frozenset(
    {"begin", "commit", "rollback", "set", "update", "delete", "not_modelled", "grant", "revoke"}
)

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
    (
        "SECURITY DEFINER functions pin their search_path and are not PUBLIC",
        ("security-definer-search-path", "security-definer-executable-by-public"),
    ),
    (
        "Row level security on every table the API exposes",
        ("rls-not-enabled", "rls-enabled-without-policy", "rls-policy-recursion"),
    ),
    ("Every statement parses", ("parse-error",)),
)


@dataclass
class Report:
    """Everything a review document says; `as_dict()` is what templates see."""

    title: str
    date: str | None
    scope: dict[str, Any]
    verdict: str
    verdict_reason: dict[str, Any]
    score: float
    category_scores: list[dict[str, Any]]
    counts: dict[str, int]
    strengths: list[str]
    strengths_note: str
    critical: Sequence[dict[str, Any]]
    top_issues: list[dict[str, Any]]
    top_more: int
    sections: list[dict[str, Any]]
    findings: Sequence[dict[str, Any]]
    progress: dict[str, Any] | None
    inventory: dict[str, Any]
    diagrams: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    actions_note: str
    checklist: dict[str, Any]
    suppressed: list[dict[str, Any]]
    rules: list[dict[str, Any]]
    fail_on: str
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class BaseSide:
    """What the change is compared with: the paths at a git revision, or a baseline file.

    `files` maps (history, path in its folder) to the file's text at the base; None when the
    base does not know files (a baseline), so no file is known to be applied."""

    label: str
    findings: Sequence[Finding]
    tables: int | None = None
    files: dict[tuple[int, str], str] | None = None


def baseline_side(path: str, rules: Sequence[Rule]) -> BaseSide:
    """A baseline file (`schema-review baseline`) as the base of a review: its entries name
    rule, file and message, which is enough to say what was resolved."""
    with open(path, encoding="utf-8") as handle:
        entries = json.load(handle)["findings"]
    by_id = {r.id: r for r in rules}
    findings = []
    for entry in entries:
        rule = by_id.get(str(entry.get("rule", "")))
        findings.append(
            Finding(
                rule=str(entry.get("rule", "")),
                severity=rule.severity if rule else "info",
                category=rule.category if rule else "",
                message=str(entry.get("message", "")),
                file=str(entry.get("file", "")),
                line=0,
                column=0,
                end_line=0,
                end_column=0,
                object=None,
                fix=None,
                fingerprint=str(entry["fingerprint"]),
                title=rule.title if rule else "",
            )
        )
    return BaseSide(Path(path).name, findings)


@dataclass
class ModelDigest:
    """What a review reads of one history's schema model (`digest_model`): taken right
    after the run's rules ran (`pipeline.lint`'s `digest`), so that the model, most of a long
    history's memory, goes before the findings are built and the review made."""

    tables: int  # live tables
    unknown_columns: list[str]  # tables whose columns are unknown (CREATE TABLE AS)
    not_modelled: int  # statements with DDL the replay cannot see
    object_tables: ObjectTables
    inventory: dict[str, PackedRows]  # see _model_inventory
    timeline: dict[int, bytes]  # see _model_timeline
    touched: dict[str, list[str]]  # see _model_touched
    outlines: bytes  # the tables a diagram may draw (export), packed (see packing.pack)
    uncovered: HashedNames  # see _uncovered
    strength_subjects: dict[str, int]  # how many subjects each rule of _STRENGTHS has
    # How many subjects the rules of a standard have together, by the ids of those rules.
    standard_subjects: dict[tuple[str, ...], int]


def digest_model(
    model: SchemaModel,
    profile: Profile,
    rules: Sequence[Rule],
    named: HashedNames,
    standards: Sequence[tuple[str, Sequence[str]]] = (),
) -> ModelDigest:
    """What a review reads of `model` (the history's, with `profile`): `rules` are the run's,
    `named` the objects its findings may name, `standards` the checklist's (the default ones
    when none)."""
    from schema_review.export import diagram_outlines

    alike: dict[Any, Any] = {}  # one object for each equal text or tuple of the digest's
    tables = model.live_tables()
    by_id = {r.id: r for r in rules}
    strengths: dict[str, int] = {}
    for rule_id, _ in _STRENGTHS:
        if rule_id in by_id:
            strengths[rule_id] = len(_subjects(by_id[rule_id])[0](model, profile, rules))
    standard_subjects: dict[tuple[str, ...], int] = {}
    for _, rule_ids in standards or DEFAULT_STANDARDS:
        chosen = [by_id[r] for r in rule_ids if r in by_id]
        key = tuple(r.id for r in chosen)
        if key not in standard_subjects:
            found: set[int] = set()
            for rule in chosen:
                found |= _subjects(rule)[0](model, profile, rules)
            standard_subjects[key] = len(found)
    return ModelDigest(
        tables=len(tables),
        unknown_columns=[t.qualified_name for t in tables if not t.columns_known],
        not_modelled=sum(1 for change in model.changes if change.kind == "not_modelled"),
        object_tables=ObjectTables(model, named),
        inventory=_model_inventory(model, alike),
        timeline=_model_timeline(model),
        touched=_model_touched(model),
        outlines=pack(diagram_outlines(model, alike)),
        uncovered=_uncovered(model),
        strength_subjects=strengths,
        standard_subjects=standard_subjects,
    )


def review_digest(
    standards: Sequence[tuple[str, Sequence[str]]] = (),
) -> Callable[[SchemaModel, Profile, Sequence[Rule], HashedNames], ModelDigest]:
    """`pipeline.lint`'s `digest` for a review (`build_report` with these `standards`): the
    objects the run's hits name (`named`) are those its findings may name."""

    def digest(
        model: SchemaModel, profile: Profile, rules: Sequence[Rule], named: HashedNames
    ) -> ModelDigest:
        return digest_model(model, profile, rules, named, standards)

    return digest


def build_report(
    run: LintRun,
    fail_on: str,
    title: str | None = None,
    date: str | None = None,
    standards: Sequence[tuple[str, Sequence[str]]] = (),
    base: BaseSide | None = None,
) -> Report:
    if base is None and run.base is not None:
        base = BaseSide(
            run.base_ref or "the base",
            run.base.result.findings,
            sum(d.tables for d in _digests(run.base, standards))
            if run.base.digests is not None
            else sum(len(m.live_tables()) for m in run.base.models),
            {(s.set_index, s.identity): s.text for s in run.base.sources},
        )
    elif base is None and run.base_ref:
        base = BaseSide(run.base_ref, [], 0, {})  # the paths did not exist at the base
    paths = _PathSpeller()
    # The run's findings as they are: their rows spell paths (a copy of each finding with
    # its path spelled was a second set of a long history's hundreds of thousands), and are
    # made when a template reaches them (see FindingRows).
    findings = run.result.findings
    rules_by_id = {r.id: r for r in run.rules}
    still_open = [paths.finding(f) for f in run.result.baselined]
    digests = _digests(run, standards)
    tables = sum(d.tables for d in digests)
    counts = {name: 0 for name in SEVERITIES}
    counts.update(Counter(f.severity for f in findings))
    gate_rank = SEVERITIES.index(fail_on) if fail_on in SEVERITIES else -1
    scale = 5 + tables
    current = findings + still_open  # the state of the schema, not only what changed
    statuses = _file_statuses(run, base, paths)
    endings: dict[str, str] = {}  # each rule's shared ending of its messages (see _groups)
    row = _row_maker(rules_by_id, paths, endings)
    where_table = _object_tables(digests)
    groups = _groups(findings, rules_by_id, gate_rank, where_table, statuses, paths, endings, row)
    top = _top_issues(groups)
    not_modelled = sum(d.not_modelled for d in digests)
    unknown_columns = sorted(name for d in digests for name in d.unknown_columns)
    scope = {
        "paths": _unique(paths.path(str(s.root)) if s.root else "files" for s in run.sets),
        "files": len(run.sources),
        "statements": run.statement_count,
        "tables": tables,
        **_dialects(run),
        "runners": sorted({p.runner for p in run.profiles}),
        "platforms": sorted({p.platform for p in run.profiles if p.platform != "postgres"}),
        "deploy": run.profiles[0].deploy if run.profiles else DEFAULT_DEPLOY,
        "orm_profiles": sorted({p.orm for p in run.profiles if p.orm}),
        "rules": len(run.rules_run),
        # DDL only running it could tell (EXECUTE of built strings...): no "pass" covers it.
        "not_modelled": not_modelled,
        "unknown_columns": unknown_columns,
        "parse_errors": sum(1 for f in current if f.rule == "parse-error"),
        # MySQL or SQLite files in a PostgreSQL history: left out of the schema.
        "unread_files": sum(1 for f in current if f.rule == "unsupported-dialect"),
        "suppressed": len(run.result.suppressed),
        "under_review": _under_review(statuses),
    }
    by_category: dict[str, list[Finding]] = defaultdict(list)
    for finding in current:
        by_category[finding.category].append(finding)
    categories = sorted({r.category for r in run.rules if r.evaluated} | set(by_category))
    verdict = (
        "CHANGES REQUESTED"
        if run.result.fails(fail_on)
        else "APPROVED WITH FIXES"
        if findings
        else "APPROVED"
    )
    fired = {f.rule for f in current} | {s.finding.rule for s in run.result.suppressed}
    strengths, strengths_note = _strengths(run, digests, fired, not_modelled, bool(unknown_columns))
    actions, actions_note = _actions(groups, len(still_open), statuses, base is not None)
    return Report(
        title=title or "Schema review",
        date=date,
        scope=scope,
        verdict=verdict,
        verdict_reason=_verdict_reason(groups, fail_on, base is not None),
        score=score(current, scale, paths.path),
        category_scores=[
            {
                "category": name,
                "score": score(by_category.get(name, []), scale, paths.path),
                "findings": len(by_category.get(name, [])),
            }
            for name in categories
        ],
        counts=counts,
        strengths=strengths,
        strengths_note=strengths_note,
        critical=FindingRows([f for f in findings if f.severity == "critical"], row),
        top_issues=top,
        top_more=sum(1 for g in groups if g["gate"]) - sum(1 for g in top if g["gate"]),
        sections=_sections(groups),
        findings=FindingRows(findings, row),
        progress=_progress(base, findings, still_open, run, scale, paths, rules_by_id),
        inventory=_inventory([d.inventory for d in digests]),
        diagrams=_diagrams(run, digests, statuses, groups, paths),
        timeline=_timeline(run, digests, statuses, paths),
        actions=actions,
        actions_note=actions_note,
        checklist=_checklist(run, digests, current, standards or DEFAULT_STANDARDS, not_modelled),
        suppressed=[
            {
                **_finding(s.finding, rules_by_id.get(s.finding.rule), paths),
                "reason": s.reason,
            }
            for s in run.result.suppressed
        ],
        rules=[
            {"id": r.id, "title": r.title, "severity": r.severity, "category": r.category}
            for r in sorted(run.rules_run, key=lambda r: (r.category, r.id))
        ],
        fail_on=fail_on,
        notes=[note for s in run.sets for note in s.notes],
    )


def _digests(run: LintRun, standards: Sequence[tuple[str, Sequence[str]]]) -> list[ModelDigest]:
    """The run's digests of its models (`review_digest`), or taken now from its models."""
    if run.digests is not None:
        return run.digests
    named = HashedNames(f.object for f in run.result.findings if f.object)
    return [
        digest_model(model, profile, run.rules, named, standards)
        for model, profile in zip(run.models, run.profiles, strict=True)
    ]


# -- score ---------------------------------------------------------------------------------


def root_causes(
    findings: Iterable[Finding],
    spell: Callable[[str], str] | None = None,
    cap: int | None = None,
) -> dict[str, tuple[str, set[str]]]:
    """Per rule, its severity and the objects it fired on: the same rule on the same object
    is one root cause, however many statements show it. `spell`: a file's path as the
    document shows it (an object without a name is known by its location). `cap`: at most
    this many objects per rule (what the score counts), not a long history's every one."""
    causes: dict[str, tuple[str, set[str]]] = {}
    for finding in findings:
        severity, objects = causes.setdefault(finding.rule, (finding.severity, set()))
        if cap is None or len(objects) < cap:
            file = spell(finding.file) if spell is not None else finding.file
            objects.add(finding.object or f"{file}:{finding.line}")
        if SEVERITY_RANK[finding.severity] < SEVERITY_RANK[severity]:
            causes[finding.rule] = (finding.severity, objects)
    return causes


def score(
    findings: Iterable[Finding], scale: int, spell: Callable[[str], str] | None = None
) -> float:
    """10 x S / (S + W): W weighs each root cause by its severity, at most
    ROOT_CAUSES_PER_RULE of them per rule; S = 5 + tables, so bigger schemas absorb more."""
    weight = sum(
        SEVERITY_WEIGHTS.get(severity, 0.0) * min(len(objects), ROOT_CAUSES_PER_RULE)
        for severity, objects in root_causes(findings, spell, ROOT_CAUSES_PER_RULE).values()
    )
    return round(10 * scale / (scale + weight), 1)


# -- paths ---------------------------------------------------------------------------------


class _PathSpeller:
    """Paths as the document shows them: relative to the current directory when under it
    (discovery already spells them so), else to their git repository, never absolute."""

    def __init__(self) -> None:
        self._spelled: dict[str, str] = {}
        self._roots: dict[str, str] = {}  # an absolute folder -> its spelling, for messages

    def path(self, text: str) -> str:
        spelled = self._spelled.get(text)
        if spelled is None:
            spelled = self._spelled[text] = self._spell(text)
        return spelled

    def _spell(self, text: str) -> str:
        if not os.path.isabs(text):
            return text
        path = Path(text)
        for folder in (path.parent, *path.parents):
            if (folder / ".git").exists():
                relative = path.relative_to(folder).as_posix()
                self._roots.setdefault(folder.as_posix().rstrip("/") + "/", "")
                return relative
        relative = Path(os.path.relpath(path)).as_posix()
        return relative

    def text(self, text: str) -> str:
        for root, spelled in self._roots.items():
            text = text.replace(root, spelled)
        return text

    def finding(self, finding: Finding) -> Finding:
        spelled = self.path(finding.file)
        if spelled == finding.file and not self._roots:
            return finding
        return finding._replace(file=spelled, message=self.text(finding.message))


# -- findings and their groups -------------------------------------------------------------


def _finding(
    finding: Finding, rule: Rule | None, paths: _PathSpeller | None = None
) -> dict[str, Any]:
    """A finding's row; `paths`: its file and message spelled as `_PathSpeller.finding`
    spells them (without the copy of the finding)."""
    file, message = finding.file, finding.message
    if paths is not None:
        file, message = paths.path(file), paths.text(message)
    return _FINDING_ROW(
        rule=finding.rule,
        title=finding.title or (rule.title if rule else finding.rule),
        severity=finding.severity,
        category=finding.category,
        message=message,
        location=_location(file, finding.line),
        file=file,
        line=finding.line,
        object=finding.object,
        fix=finding.fix,
        why=_why(rule) if rule else "",
        fingerprint=finding.fingerprint,
    )


def _rows() -> Callable[..., dict[str, Any]]:
    """A maker of rows of one shape (the same keys, in the same order): plain dicts to the
    templates, but each the `__dict__` of an instance of a class of its own, whose dicts
    CPython makes share one table of keys: a row takes 40-65% of the memory of a dict of its
    own (a long history's review has hundreds of thousands of findings, columns, indexes).
    Keys are set one by one: `update` would give the dict a table of its own."""
    shape = type("_Row", (), {})

    def row(**fields: Any) -> dict[str, Any]:
        made: dict[str, Any] = shape().__dict__
        for key, value in fields.items():
            made[key] = value
        return made

    return row


_FINDING_ROW = _rows()


class LazyRows(Sequence[dict[str, Any]]):
    """Rows of the report, each made when it is read: a long history's review lists
    hundreds of thousands of findings and columns, which held as rows for the whole render
    were the peak of its memory. Reads as a list of dicts (length, index, slice, iteration,
    `+`, `==`, JSON)."""

    __slots__ = ()

    def __add__(self, other: Iterable[Any]) -> list[Any]:
        return [*self, *other]

    def __radd__(self, other: Iterable[Any]) -> list[Any]:
        return [*other, *self]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyRows | list | tuple):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self)!r})"

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | Sequence[dict[str, Any]]:
        if isinstance(index, slice):
            return [self._row_at(i) for i in range(len(self))[index]]
        return self._row_at(range(len(self))[index])  # an IndexError past the end

    def _row_at(self, position: int) -> dict[str, Any]:
        """The row at `position` (0 to len - 1)."""
        raise NotImplementedError


class FindingRows(LazyRows):
    """Findings' rows (`_finding`'s, with `detail`), made when read."""

    __slots__ = ("_findings", "_row")

    def __init__(self, findings: Sequence[Finding], row: Callable[[Finding], dict[str, Any]]):
        self._findings = findings
        self._row = row

    def __len__(self) -> int:
        return len(self._findings)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> FindingRows: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | FindingRows:
        if isinstance(index, slice):
            return FindingRows(self._findings[index], self._row)
        return self._row(self._findings[index])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(self._row, self._findings)

    def where(self, keep: Callable[[Finding], bool]) -> FindingRows:
        """The rows of the findings `keep` keeps, made as these are."""
        return FindingRows([f for f in self._findings if keep(f)], self._row)


class ColumnRows(LazyRows):
    """A table's rows of columns in the inventory (name, type, not_null, default), made
    when read from its columns' names, types, NOT NULL (a bit each) and defaults (None: none
    has one): tables alike share these (see `_model_inventory`)."""

    __slots__ = ("_defaults", "_names", "_not_null", "_types")

    def __init__(
        self,
        names: tuple[str, ...],
        types: tuple[str, ...],
        not_null: int,
        defaults: tuple[str | None, ...] | None,
    ) -> None:
        self._names, self._types, self._not_null, self._defaults = names, types, not_null, defaults

    def __len__(self) -> int:
        return len(self._names)

    def _row_at(self, position: int) -> dict[str, Any]:
        return _COLUMN_ROW(
            name=self._names[position],
            type=self._types[position],
            not_null=bool(self._not_null >> position & 1),
            default=self._defaults[position] if self._defaults is not None else None,
        )

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(self._row_at, range(len(self._names)))

    def key(self) -> tuple[Any, ...]:
        """Equal for tables with the same columns (names, types, NOT NULL, defaults)."""
        return (self._names, self._types, self._not_null, self._defaults)


class PackedRows(LazyRows):
    """Rows of one shape (`keys`, made by `row`, a maker of `_rows`) kept as their values,
    packed a chunk at a time (see `pack`), each row made when read: taken while a long
    history's model is alive (the inventory's tens of thousands of tables, foreign keys,
    indexes, CHECKs), rows held as dicts were the peak of its review's memory, and their
    strings kept the model's own alive after it went. Values are plain data (strings,
    numbers, None, tuples of them). Filled by `append` then `close`, or joined from others
    (`joined`)."""

    __slots__ = ("_chunks", "_keys", "_open", "_row", "_starts")

    # Rows per chunk: enough for zlib to find the names they repeat, few enough that reading
    # one row makes few others.
    CHUNK = 256

    def __init__(self, keys: tuple[str, ...], row: Callable[..., dict[str, Any]]) -> None:
        self._keys = keys
        self._row = row
        self._chunks: list[bytes] = []
        self._starts: list[int] = [0]  # the index of each chunk's first row, then the length
        self._open: list[tuple[Any, ...]] = []

    def append(self, *values: Any) -> None:
        """A row of `values`, in the order of the keys."""
        self._open.append(values)
        if len(self._open) >= self.CHUNK:
            self._flush()

    def close(self) -> PackedRows:
        """The rows, the last chunk packed."""
        if self._open:
            self._flush()
        return self

    def _flush(self) -> None:
        self._chunks.append(pack(self._open))
        self._starts.append(self._starts[-1] + len(self._open))
        self._open = []

    @classmethod
    def joined(cls, parts: Sequence[PackedRows]) -> PackedRows:
        """The rows of `parts` (of one shape, each closed), in turn."""
        if len(parts) == 1:
            return parts[0].close()
        joined = cls(parts[0]._keys, parts[0]._row) if parts else cls((), _rows())
        for part in parts:
            part.close()
            for chunk, start, stop in zip(
                part._chunks, part._starts, part._starts[1:], strict=False
            ):
                joined._chunks.append(chunk)
                joined._starts.append(joined._starts[-1] + stop - start)
        return joined

    def _values(self, chunk: int) -> list[tuple[Any, ...]]:
        values: list[tuple[Any, ...]] = unpack(self._chunks[chunk])
        return values

    def values(self) -> Iterator[tuple[Any, ...]]:
        """Each row's values, in the order of the keys."""
        for chunk in range(len(self._chunks)):
            yield from self._values(chunk)
        yield from list(self._open)

    def _made(self, values: tuple[Any, ...]) -> dict[str, Any]:
        return self._row(**dict(zip(self._keys, values, strict=True)))

    def __len__(self) -> int:
        return self._starts[-1] + len(self._open)

    def _row_at(self, position: int) -> dict[str, Any]:
        if position >= self._starts[-1]:
            return self._made(self._open[position - self._starts[-1]])
        chunk = bisect.bisect_right(self._starts, position) - 1
        return self._made(self._values(chunk)[position - self._starts[chunk]])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(self._made, self.values())


def _row_maker(
    rules: dict[str, Rule], paths: _PathSpeller, endings: dict[str, str]
) -> Callable[[Finding], dict[str, Any]]:
    """A finding's row with its `detail`: its message without the ending its rule's
    messages share (`endings`, filled by `_groups`), or its object when nothing is left."""

    def row(finding: Finding) -> dict[str, Any]:
        made = _finding(finding, rules.get(finding.rule), paths)
        made["detail"] = _detail(made["message"], endings.get(finding.rule, ""), finding.object)
        return made

    return row


def _detail(message: str, ending: str, object_name: str | None) -> str:
    own = message[: len(message) - len(ending)].rstrip(" ,:;") if ending else message
    return own or object_name or ""


def _location(file: str, line: int) -> str:
    """`file:line` (the file alone without a line); the last one made is reused: a
    statement's findings follow each other."""
    if not line:
        return file
    key = (file, line)
    if _LAST_LOCATION[0] != key:
        _LAST_LOCATION[:] = [key, f"{file}:{line}"]
    location: str = _LAST_LOCATION[1]
    return location


_LAST_LOCATION: list[Any] = [None, ""]


# A rule's `why` on one line, by its text as written: one string for all of a rule's findings
# (a long history has hundreds of thousands, each with the same few hundred characters).
_WHY: dict[str, str] = {}


def _why(rule: Rule) -> str:
    why = _WHY.get(rule.why)
    if why is None:
        why = _WHY[rule.why] = " ".join(rule.why.split())
    return why


class ObjectTables:
    """Which of the run's named objects (`named`, by a finding, or by a hit of the run: a
    finding's object is its hit's) are tables of a model's final schema, and the table each
    other one belongs to (the first that has one by its name): a byte and a number by each
    name's place among `named`. Only those, and not as maps of strings: a long history's
    every column and index, or its hundred thousand names, kept while its model is alive
    would be the peak of its review."""

    __slots__ = ("_is_table", "_named", "_table_names", "_tables")

    def __init__(self, model: SchemaModel, named: HashedNames) -> None:
        self._named = named
        self._is_table = bytearray(len(named))
        self._tables = array("l", [-1]) * len(named)  # into _table_names; -1: none
        self._table_names: list[str] = []
        numbers: dict[str, int] = {}  # each table's number in _table_names
        for table in model.live_tables():
            name = table.qualified_name
            at = named.index(name)
            if at >= 0:
                self._is_table[at] = 1
            for kind in (
                table.columns.values(),
                table.constraints.values(),
                table.live_indexes,
                table.policies.values(),
                table.triggers.values(),
            ):
                for item in kind:
                    at = named.index(item.qualified_name)
                    if at >= 0 and self._tables[at] < 0:
                        number = numbers.get(name)
                        if number is None:
                            number = numbers[name] = len(self._table_names)
                            self._table_names.append(name)
                        self._tables[at] = number

    def is_table(self, name: str) -> bool:
        at = self._named.index(name)
        return at >= 0 and self._is_table[at] == 1

    def table_of(self, name: str) -> str | None:
        at = self._named.index(name)
        number = self._tables[at] if at >= 0 else -1
        return self._table_names[number] if number >= 0 else None


def _object_tables(digests: Sequence[ModelDigest]) -> Callable[[str], str | None]:
    """The table an object of the final schema belongs to, by qualified name (None: none):
    a table is its own, whichever history has it (another history's object of that name
    comes second); another object's is the table of the first history that has it. Looked
    up in the digests, not gathered into one more map of a long history's objects."""
    found = [digest.object_tables for digest in digests]

    def where(name: str) -> str | None:
        if any(tables.is_table(name) for tables in found):
            return name
        for tables in found:
            table = tables.table_of(name)
            if table is not None:
                return table
        return None

    return where


def _dialects(run: LintRun) -> dict[str, Any]:
    """The scope's dialects: their names (`PostgreSQL`, `MySQL`), the PostgreSQL version when
    PostgreSQL is one, and why each was assumed, unless all are PostgreSQL by default (a
    folder name, Prisma's provider, the configuration: `dialect_why`)."""
    from schema_review.export import history_label

    profiles = run.profiles
    whys = run.why or [{} for _ in profiles]
    used = {p.dialect for p in profiles} or {"postgres"}
    dialects = [DIALECT_LABELS[d] for d in DIALECTS if d in used]
    reasons: dict[tuple[str, str], list[str]] = {}
    for migration_set, profile, why in zip(run.sets, profiles, whys, strict=True):
        reason = why.get("dialect", "default")
        reasons.setdefault((profile.dialect, reason), []).append(history_label(migration_set))
    if all(why.startswith("default") for _, why in reasons):
        shown = ""
    elif len(reasons) == 1:
        shown = next(iter(reasons))[1]
    else:
        shown = "; ".join(
            f"{DIALECT_LABELS[dialect]} for {', '.join(labels)}, {why}"
            for (dialect, why), labels in reasons.items()
        )
    postgres = [p for p in profiles if p.dialect == "postgres"]
    return {
        "dialects": dialects,
        "dialect": ", ".join(dialects),
        "pg_version": postgres[0].pg_version if postgres else None,
        "dialect_why": shown,
    }


def _file_statuses(run: LintRun, base: BaseSide | None, paths: _PathSpeller) -> dict[str, str]:
    """Each file (as the document spells it): `added` (under review), `modified` or
    `unchanged` (applied) since the base; no base: every file is `under review`."""
    if base is None or base.files is None:
        return {paths.path(s.display): "under review" for s in run.sources}
    statuses = {}
    for source in run.sources:
        before = base.files.get((source.set_index, source.identity))
        statuses[paths.path(source.display)] = (
            "added" if before is None else "unchanged" if before == source.text else "modified"
        )
    return statuses


def _under_review(statuses: dict[str, str]) -> dict[str, int]:
    counted = Counter(statuses.values())
    return {
        name: counted[name] for name in ("under review", "added", "modified") if name in counted
    }


def _shared_ending(messages: Sequence[str]) -> str:
    """The words every message ends with, when they say something (the consequence, most
    often: "...: while it waits for the lock, every query on the table queues behind it");
    each message keeps at least one word of its own."""
    if len(set(messages)) < 2:
        return ""
    # One message split at a time: a rule's hundred thousand findings split at once would
    # be the peak of a long history's review.
    first = messages[0].split(" ")
    shared = len(first) - 1
    for message in messages:
        words = message.split(" ")
        shared = min(shared, len(words) - 1)
        same = 0
        while same < shared and words[-1 - same] == first[-1 - same]:
            same += 1
        shared = same
        if not shared:
            break
    ending = " ".join(first[len(first) - shared :]) if shared else ""
    return ending if shared >= 4 and len(ending) >= 16 else ""


def _groups(
    findings: Sequence[Finding],
    rules: dict[str, Rule],
    gate_rank: int,
    where_table: Callable[[str], str | None],
    statuses: dict[str, str],
    paths: _PathSpeller,
    endings: dict[str, str],
    row: Callable[[Finding], dict[str, Any]],
) -> list[dict[str, Any]]:
    """One group per rule (a root cause, whatever number of objects it shows on), ranked:
    failing the gate first, then by severity, by how many objects, by where it first shows.
    Each rule's shared ending of its messages goes into `endings` (its rows' `detail`);
    a group's `findings` are its rows, made by `row` when read."""
    by_rule: dict[str, list[Finding]] = {}
    for finding in findings:
        by_rule.setdefault(finding.rule, []).append(finding)
    groups = []
    for order, (rule_id, members) in enumerate(by_rule.items()):
        rule = rules.get(rule_id)
        severity = min((m.severity for m in members), key=SEVERITY_RANK.__getitem__)
        target = rule.target if rule else "statement"
        final = target in FINAL_KINDS
        first = row(members[0])
        # Counted (for a rule on the final schema: its size), and the first few named: a dict,
        # not a list beside it, and for another rule no more than four (a rule's hundred
        # thousand locations).
        objects = _distinct(
            (m.object or _location(paths.path(m.file), m.line) for m in members),
            None if final else 4,
        )
        files = _unique(paths.path(m.file) for m in members)
        tables = _unique(
            table for m in members if m.object and (table := where_table(m.object)) is not None
        )
        singular, plural = _NOUNS.get(target, ("finding", "findings"))
        size = len(objects) if final else len(members)
        if size == 1:
            label = next(iter(objects)) if final or first["object"] else first["location"]
        else:
            label = f"{size} {plural}"
            if final and target != "table" and len(tables) > 1:
                label += f" in {len(tables)} tables"
            elif not final and target != "migration" and len(files) > 1:
                label += f" in {len(files)} files"
        messages = [paths.text(m.message) for m in members]
        # One message for all (a rule whose message names no object): said once.
        ending = messages[0] if len(members) > 1 and len(set(messages)) == 1 else ""
        ending = ending or _shared_ending(messages)
        del messages
        endings[rule_id] = ending
        if len(members) == 1:
            headline = first["message"]
        else:
            named = label
            if len(objects) <= 3 and all(m.object for m in members):
                named = f"{label} ({', '.join(objects)})"
            if ending == first["message"]:
                headline = f"{named}: {ending}"
            elif ending:
                headline = f"{named}: … {ending}"
            else:
                headline = f"{named}, such as: {first['message']}"
        title = first["title"]
        where, edit = _where(rule_id, target, files, statuses)
        fix = _fix_block(members, edit, paths)
        statements = _unique(m.fix.strip() for m in members if m.fix)
        groups.append(
            {
                "rule": rule_id,
                "title": title,
                "severity": severity,
                "category": first["category"],
                "why": first["why"],
                "anchor": _slug(f"{title} ({rule_id})"),
                "gate": SEVERITY_RANK[severity] <= gate_rank,
                "count": len(members),
                "size": size,
                "noun": singular if size == 1 else plural,
                "label": label,
                "headline": headline,
                "shared": ending,
                "first": first["location"],
                "more": len(members) - 1,
                "files": files,
                "tables": tables,
                "findings": FindingRows(members, row),
                "fold": len(members) > FOLD_AFTER,
                "where": where,
                "edit": edit,
                "fix": fix,
                "fix_lines": fix.count("\n") + 1 if fix else 0,
                "fix_count": len(statements),
                "fix_first": _first_line(statements[0]) if statements else "",
                "same_fix": len({m.fix for m in members}) == 1 and bool(members[0].fix),
                "fix_preview": "\n".join(fix.split("\n")[:8]) if fix else "",
                "fix_more": max(0, fix.count("\n") + 1 - 8) if fix else 0,
                "_order": order,
            }
        )
    groups.sort(
        key=lambda g: (not g["gate"], SEVERITY_RANK[g["severity"]], -g["size"], g["_order"])
    )
    for rank, group in enumerate(groups, 1):
        group["rank"] = rank
        del group["_order"]
    return groups


def _where(
    rule_id: str, target: str, files: list[str], statuses: dict[str, str]
) -> tuple[str, bool]:
    """Where a group's fix goes: a new migration for the final schema; the file itself while
    it is under review (a file that does not parse never ran anywhere); never an applied file,
    whose statements already ran: the next migrations do it right instead."""
    if target in FINAL_KINDS:
        return "in a new migration", False
    if target == "parse_error":
        return "in the file (it cannot have run anywhere)", True
    if rule_id == "modified-applied-migration":
        return "in a new migration, with the edit reverted", False
    if target == "migration":
        return "in the migration folder", False
    applied = [f for f in files if statuses.get(f) in ("unchanged", "modified")]
    if not applied:
        return ("in the file" if len(files) == 1 else "in each file"), True
    if len(applied) == len(files):
        return "in the next migrations (applied files are never edited)", False
    return "in the files under review; applied files stay as they are", True


def _fix_block(members: list[Finding], edit: bool, paths: _PathSpeller) -> str:
    """One block of SQL for the group: the statement once when it repeats; each distinct
    statement once for a new migration; each where it goes when files are edited."""
    fixes = [m for m in members if m.fix]
    distinct = _unique(m.fix.strip() for m in fixes if m.fix)
    if len(distinct) <= 1 or not edit:
        return "\n".join(distinct)
    seen: set[tuple[str, str]] = set()
    parts = []
    for member in fixes:
        file, fix = paths.path(member.file), (member.fix or "").strip()
        if (file, fix) not in seen:
            seen.add((file, fix))
            parts.append(f"-- {_location(file, member.line)}\n{fix}")
    if len(parts) > EDIT_EXAMPLES:
        # Each statement rewritten where it is: a few show the way, the messages say where.
        left = len(parts) - EDIT_EXAMPLES
        parts = [*parts[:EDIT_EXAMPLES], f"-- and {left} more, each rewritten the same way"]
    return "\n".join(parts)


def _top_issues(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every group that fails the gate (up to a limit), then the next ones by rank up to about
    seven; info findings never (they weigh nothing)."""
    gate = [g for g in groups if g["gate"]][:TOP_GATE_ISSUES]
    rest = [g for g in groups if not g["gate"] and g["severity"] != "info"]
    return gate + rest[: max(0, TOP_ISSUES - len(gate))]


def _sections(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sections = []
    for severity in SEVERITIES:
        of_severity = [g for g in groups if g["severity"] == severity]
        if of_severity:
            sections.append(
                {
                    "severity": severity,
                    "count": sum(g["count"] for g in of_severity),
                    "groups": of_severity,
                }
            )
    return sections


def _verdict_reason(groups: list[dict[str, Any]], fail_on: str, based: bool) -> dict[str, Any]:
    """The findings behind the verdict: the rules failing the gate, or the count below it."""
    gate = [g for g in groups if g["gate"]]
    new = "new " if based else ""
    if gate:
        count = sum(g["count"] for g in gate)
        plural = "" if count == 1 else "s"
        verb = "fails" if count == 1 else "fail"
        text = f"{count} {new}finding{plural} at or above {fail_on} {verb} the gate"
        return {"text": text, "rules": [g["rule"] for g in gate[:4]], "more": len(gate) - 4}
    count = sum(g["count"] for g in groups)
    if count:
        text = f"no {new}finding reaches the gate ({fail_on}); {count} below it"
    else:
        text = f"no {new}findings"
    return {"text": text, "rules": [], "more": 0}


# -- progress --------------------------------------------------------------------------------


def _progress(
    base: BaseSide | None,
    new: list[Finding],
    still_open: list[Finding],
    run: LintRun,
    scale: int,
    paths: _PathSpeller,
    rules: dict[str, Rule],
) -> dict[str, Any] | None:
    """Resolved (gone, by fingerprint), new and still open since the base; both scores."""
    if base is None:
        return None
    now = {f.fingerprint for f in new} | {f.fingerprint for f in still_open}
    suppressed = {s.finding.fingerprint for s in run.result.suppressed}
    before = [paths.finding(f) for f in base.findings]
    resolved = [f for f in before if f.fingerprint not in now and f.fingerprint not in suppressed]
    newly_suppressed = sum(1 for f in before if f.fingerprint in suppressed)
    return {
        "label": base.label,
        "resolved": len(resolved),
        "new": len(new),
        "open": len(still_open),
        "suppressed": newly_suppressed,
        "score_before": score(before, 5 + (base.tables if base.tables is not None else scale - 5)),
        "resolved_groups": _brief_groups(resolved, rules),
        "open_groups": _brief_groups(still_open, rules),
    }


def _brief_groups(findings: list[Finding], rules: dict[str, Rule]) -> list[dict[str, Any]]:
    """Findings by rule, severest first, with their locations: for what is only counted."""
    by_rule: dict[str, list[Finding]] = {}
    for finding in sorted(findings, key=lambda f: SEVERITY_RANK[f.severity]):
        by_rule.setdefault(finding.rule, []).append(finding)
    return [
        {
            "rule": rule_id,
            "title": members[0].title or (rules[rule_id].title if rule_id in rules else rule_id),
            "severity": members[0].severity,
            "count": len(members),
            "locations": [f"{f.file}:{f.line}" if f.line else f.file for f in members],
            "messages": [f.message for f in members],
        }
        for rule_id, members in by_rule.items()
    ]


# -- strengths and the checklist ------------------------------------------------------------


# A rule's subjects in one history's model (by identity): the model, its profile, the run's
# rules.
_Finder = Callable[[SchemaModel, Profile, Sequence[Rule]], set[int]]


def _changes(test: Callable[[Change], bool]) -> _Finder:
    return lambda model, profile, rules: {id(c) for c in model.changes if test(c)}


def _files(test: Callable[[Change], bool]) -> _Finder:
    return lambda model, profile, rules: {id(c.statement.source) for c in model.changes if test(c)}


def _objects(kind: str, keep: Callable[[Any], bool]) -> _Finder:
    return lambda model, profile, rules: {id(o) for o in model.objects_of_kind(kind) if keep(o)}


def _existing(*kinds: str) -> Callable[[Change], bool]:
    return lambda change: change.kind in kinds and change.table_existed and not change.noop


def _constraint_added(*types: str) -> Callable[[Change], bool]:
    def test(change: Change) -> bool:
        return (
            change.kind == "add_constraint"
            and change.table_existed
            and not change.inline
            and change.constraint is not None
            and change.constraint.type in types
        )

    return test


def _exposed_tables(model: SchemaModel, profile: Profile, rules: Sequence[Rule]) -> set[int]:
    """Tables of the schemas an API serves (rls-not-enabled's subjects)."""
    rule = next((r for r in rules if r.id == "rls-not-enabled"), None)
    configured = tuple(rule.options.get("schemas") or ()) if rule else ()
    return {
        id(t)
        for t in model.live_tables()
        if t.schema in (configured or profile.exposed_schemas) and not t.partition_of
    }


def _statements(model: SchemaModel, profile: Profile, rules: Sequence[Rule]) -> set[int]:
    return {id(s) for s in model.statements}


def _nothing(model: SchemaModel, profile: Profile, rules: Sequence[Rule]) -> set[int]:
    return set()


def _all(_: Any) -> bool:
    return True


# What a rule is about, where its target says too much: the subjects of a strength and of a
# checklist share ("80% of timestamp columns carry a time zone", not "of all columns").
_SUBJECTS: dict[str, tuple[_Finder, str]] = {
    "fk-missing-index": (_objects("foreign_key", _all), "foreign keys"),
    "fk-type-mismatch": (_objects("foreign_key", _all), "foreign keys"),
    "table-missing-primary-key": (_objects("table", lambda t: not t.partition_of), "tables"),
    "duplicate-index": (_objects("index", _all), "indexes"),
    "rls-not-enabled": (_exposed_tables, "exposed tables"),
    "rls-enabled-without-policy": (
        _objects("table", lambda t: t.rls_enabled),
        "tables with row level security",
    ),
    "timestamp-without-time-zone": (
        _objects("column", lambda c: c.type.name in ("timestamp", "timestamptz")),
        "timestamp columns",
    ),
    "security-definer-search-path": (
        _objects("function", lambda f: f.security_definer),
        "SECURITY DEFINER functions",
    ),
    "security-definer-executable-by-public": (
        _objects("function", lambda f: f.security_definer),
        "SECURITY DEFINER functions",
    ),
    # Reported once a file (at its first unguarded lock): its subjects are files.
    "missing-lock-timeout": (_files(lambda c: c.heavy_lock), "files locking existing tables"),
    "create-index-not-concurrently": (
        _changes(_existing("create_index")),
        "index builds on existing tables",
    ),
    "fk-without-not-valid": (
        _changes(_constraint_added("foreign_key")),
        "foreign keys added to existing tables",
    ),
    "check-without-not-valid": (
        _changes(_constraint_added("check")),
        "CHECKs added to existing tables",
    ),
    "add-unique-without-index": (
        _changes(_constraint_added("unique", "primary_key")),
        "keys added to existing tables",
    ),
    "set-not-null-on-existing-column": (
        _changes(_existing("set_not_null")),
        "SET NOT NULL on existing tables",
    ),
    "drop-table": (_changes(_existing("drop_table")), "drops and renames"),
    "drop-column": (_changes(_existing("drop_column")), "drops and renames"),
    "rename-table": (_changes(_existing("rename_table")), "drops and renames"),
    "rename-column": (_changes(_existing("rename_column")), "drops and renames"),
}

# What a reader is glad to know, in this order (at most five): the rules whose subjects are
# well defined, so that the sentence holds for each of them. A rule that could only speak of
# objects nobody has ("money column: none") is not among them.
_STRENGTHS: tuple[tuple[str, str], ...] = (
    ("fk-missing-index", "Every foreign key has a covering index"),
    ("table-missing-primary-key", "Every table has a primary key"),
    ("rls-not-enabled", "Row level security is on for every table the API exposes"),
    ("rls-enabled-without-policy", "Every table with row level security has a policy"),
    ("security-definer-search-path", "Every SECURITY DEFINER function pins its search_path"),
    ("create-index-not-concurrently", "Indexes on existing tables are built CONCURRENTLY"),
    ("fk-without-not-valid", "Foreign keys on existing tables are added NOT VALID"),
    ("missing-lock-timeout", "Heavy locks on existing tables are bounded by lock_timeout"),
    ("fk-type-mismatch", "Foreign key columns have the types of the keys they reference"),
    ("duplicate-index", "No index duplicates another"),
    ("timestamp-without-time-zone", "Every timestamp carries a time zone"),
)


def _subjects(rule: Rule) -> tuple[_Finder, str]:
    """What finds the objects or statements a rule is about (by identity) in a model, and
    what to call them."""
    if rule.id in _SUBJECTS:
        return _SUBJECTS[rule.id]
    plural = _NOUNS.get(rule.target, ("", "statements"))[1]
    if rule.target in FINAL_KINDS:
        return _objects(rule.target, _all), plural
    if rule.target == "statement":
        kinds = set(rule.kinds)
        return _changes(lambda c: c.kind in kinds or "any" in kinds), "statements"
    if rule.target == "parse_error":
        return _statements, "statements"
    return _nothing, plural


def _strengths(
    run: LintRun,
    digests: Sequence[ModelDigest],
    fired: set[str],
    not_modelled: int,
    unknown_columns: bool,
) -> tuple[list[str], str]:
    """At most five things the schema does right, each over the objects it is about (two or
    more), from a rule that looked at them all and fired on none. None at all when statements
    ran DDL the replay cannot see: no rule saw the whole schema."""
    if not_modelled:
        return [], (
            f"none listed: {not_modelled} statement{'' if not_modelled == 1 else 's'} run DDL "
            "the replay cannot see (ddl-not-modelled), so no rule saw the whole schema."
        )
    rules = {r.id: r for r in run.rules}
    strengths = []
    for rule_id, sentence in _STRENGTHS:
        rule = rules.get(rule_id)
        if rule is None or rule_id in fired or not rule.evaluated:
            continue
        if rule.target == "column" and unknown_columns:
            continue  # a table's columns are unknown: the rule did not see them all
        if not any(
            rule_applies(rule, profile) and profile.dialect in rule.dialects
            for profile in run.profiles
        ):
            continue  # cannot fire here (no exposed schema, an older PostgreSQL, MySQL)
        subjects = sum(d.strength_subjects[rule_id] for d in digests)
        if subjects >= 2:
            strengths.append(f"{sentence} ({subjects} {_subjects(rule)[1]})")
    return strengths[:STRENGTHS], ""


def _checklist(
    run: LintRun,
    digests: Sequence[ModelDigest],
    findings: Sequence[Finding],
    standards: Sequence[tuple[str, Sequence[str]]],
    not_modelled: int,
) -> dict[str, Any]:
    """Each standard: met, failed, or not verified (it would pass, but statements ran DDL the
    replay cannot see), with the share of its own subjects that pass."""
    evaluated = {r.id: r for r in run.rules}
    unknown_columns = any(d.unknown_columns for d in digests)
    rows = []
    for name, rule_ids in standards:
        rules = [evaluated[r] for r in rule_ids if r in evaluated]
        # A standard none of whose rules can fire here (row level security off Supabase, the
        # PostgreSQL lock rules on a MySQL history).
        if not any(
            rule_applies(r, profile) and profile.dialect in r.dialects
            for r in rules
            for profile in run.profiles
        ):
            continue
        failing = [f for f in findings if f.rule in rule_ids]
        subjects = sum(d.standard_subjects[tuple(r.id for r in rules)] for d in digests)
        nouns = [_subjects(rule)[1] for rule in rules]
        offenders = {f.object or f"{f.file}:{f.line}" for f in failing}
        total = max(subjects, len(offenders))
        passing = total - len(offenders)
        blind = not_modelled > 0 or (unknown_columns and any(r.target == "column" for r in rules))
        status = (
            "fail"
            if failing
            else "unverified"
            if blind
            else "nothing to check"
            if not subjects
            else "pass"
        )
        rows.append(
            {
                "standard": name,
                "rules": [r.id for r in rules],
                "status": status,
                "passed": status == "pass",
                "findings": len(failing),
                "subjects": total,
                "passing": passing,
                "noun": nouns[0] if len(set(nouns)) == 1 else _common_noun(rules),
                "share": 100.0 if total == 0 else round(100 * passing / total, 1),
            }
        )
    passed = sum(1 for row in rows if row["passed"])
    applicable = sum(1 for row in rows if row["status"] != "nothing to check")
    overall = round(100 * passed / applicable, 1) if applicable else 100.0
    return {
        "standards": rows,
        "passed": passed,
        "total": applicable,
        "idle": [row["standard"] for row in rows if row["status"] == "nothing to check"],
        "percent": overall,
    }


def _common_noun(rules: Sequence[Rule]) -> str:
    final = [r.target in FINAL_KINDS for r in rules]
    return "objects" if all(final) else "statements" if not any(final) else "objects and statements"


# -- the action plan -------------------------------------------------------------------------


def _actions(
    groups: list[dict[str, Any]], still_open: int, statuses: dict[str, str], based: bool
) -> tuple[list[dict[str, Any]], str]:
    """5-15 rows, one per group of findings: before merge (failing the gate, with the fix),
    before production (a risk when the migration runs), later (design debt)."""
    buckets: dict[str, list[dict[str, Any]]] = {
        "before merge": [],
        "before production": [],
        "later": [],
    }
    for group in groups:
        if group["gate"]:
            when = "before merge"
        elif group["category"] in RUNTIME_CATEGORIES and SEVERITY_RANK[group["severity"]] <= 2:
            when = "before production"
        else:
            when = "later"
        buckets[when].append(
            {
                "when": when,
                "rules": [group["rule"]],
                "what": f"{group['title']}: {group['label']}",
                "anchor": group["anchor"],
                "severity": group["severity"],
                "fix": group["fix_first"] if group["fix_count"] == 1 else "",
                "fixes": group["fix_count"] if group["fix_count"] > 1 else 0,
                "where": group["where"],
            }
        )
    if still_open:
        buckets["later"].append(
            {
                "when": "later",
                "rules": [],
                "what": f"{still_open} finding{'' if still_open == 1 else 's'} still open "
                "from before this change",
                "anchor": "still-open",
                "severity": "",
                "fix": "",
                "fixes": 0,
                "where": "",
            }
        )
    rows: list[dict[str, Any]] = []
    names = list(buckets)
    for position, when in enumerate(names):
        entries = buckets[when]
        later = sum(1 for n in names[position + 1 :] if buckets[n])
        room = max(1, PLAN_ROWS - len(rows) - later)
        if len(entries) > room:
            folded = entries[room - 1 :]
            ids = [r for e in folded for r in e["rules"]]
            shown = ", ".join(ids[:8]) + (f" and {len(ids) - 8} more" if len(ids) > 8 else "")
            entries = [
                *entries[: room - 1],
                {
                    "when": when,
                    "rules": ids,
                    "what": f"{len(folded)} more groups: {shown}",
                    "anchor": "new-in-this-change" if based else "findings",
                    "severity": "",
                    "fix": "",
                    "fixes": 0,
                    "where": "",
                },
            ]
        rows.extend(entries)
    for number, row in enumerate(rows, 1):
        row["id"] = f"A{number}"
    note = ""
    if statuses and all(s == "under review" for s in statuses.values()):
        note = (
            "No base to compare with (--diff-base): every file is read as not yet applied. "
            "A file that has run anywhere is never edited: its fix goes into a new migration."
        )
    return rows, note


# -- inventory, timeline, diagram -------------------------------------------------------------


def _model_inventory(
    model: SchemaModel, alike: dict[Any, Any] | None = None
) -> dict[str, PackedRows]:
    """A model's rows of the inventory (see `_inventory`); `alike`: one object for each
    equal text or tuple of them, which a caller may share."""
    tables = PackedRows(_TABLE_KEYS, _table_row)
    foreign_keys = PackedRows(_FOREIGN_KEY_KEYS, _FOREIGN_KEY_ROW)
    indexes = PackedRows(_INDEX_KEYS, _INDEX_ROW)
    checks = PackedRows(_CHECK_KEYS, _CHECK_ROW)
    functions = PackedRows(_FUNCTION_KEYS, _FUNCTION_ROW)
    triggers = PackedRows(_TRIGGER_KEYS, _TRIGGER_ROW)
    policies = PackedRows(_POLICY_KEYS, _POLICY_ROW)
    # One string for each distinct type and default: a long history's tables repeat them.
    texts: dict[Any, Any] = {} if alike is None else alike

    def share(text: str | None) -> str | None:
        return texts.setdefault(text, text)

    # A CHECK or a policy's expression printed once for each distinct tree: most need pglast
    # to parse their statement again (milliseconds each), and a long history repeats a few
    # (`status IN (...)`). Renamed columns are printed each time: pglast renames them in its
    # own tree, subqueries included, which the tree's key does not say.
    printed: dict[str, str] = {}

    def sql(expression: Expression) -> str:
        if expression.renames:
            return str(expression)
        key = expression.key
        text = printed.get(key)
        if text is None:
            text = printed[key] = str(expression)
        return text

    for table in sorted(model.live_tables(), key=lambda t: t.qualified_name):
        pk = table.primary_key
        # One string of the table's name for all its rows (each reading of it spells it anew).
        name = table.qualified_name
        tables.append(
            name,
            _column_rows(table, share).key(),
            table.columns_known,
            share(", ".join(pk.columns)) if pk else None,
            table.rls_enabled,
        )
        for fk in table.foreign_keys:
            foreign_keys.append(
                fk.name,
                f"{name}({fk.columns_sql})",
                share(f"{fk.ref_table}({', '.join(fk.ref_columns)})"),
                fk.on_delete,
                fk.on_update,
                fk.covering_index is not None,
            )
        for index in table.live_indexes:
            duplicate = index.duplicate_of
            indexes.append(
                index.name,
                name,
                share(index.columns_sql),
                index.unique,
                index.predicate is not None,
                index.method,
                duplicate.name if duplicate is not None else None,
            )
        for check in table.checks:
            checks.append(
                check.name,
                name,
                sql(check.expression) if check.expression else "",
                not check.not_valid,
            )
        for trigger in table.triggers.values():
            triggers.append(
                trigger.name,
                name,
                trigger.timing,
                ", ".join(trigger.events),
                trigger.function,
            )
        for policy in table.policies.values():
            policies.append(
                policy.name,
                name,
                policy.command,
                policy.permissive,
                ", ".join(policy.roles) or "public",
                sql(policy.using) if policy.using is not None else "",
                sql(policy.with_check) if policy.with_check is not None else "",
            )
    for function in sorted(model.functions.values(), key=lambda f: f.signature):
        functions.append(
            function.signature,
            function.language,
            function.security_definer,
            function.config.get("search_path"),
        )
    return {
        "tables": tables.close(),
        "foreign_keys": foreign_keys.close(),
        "indexes": indexes.close(),
        "checks": checks.close(),
        "functions": functions.close(),
        "triggers": triggers.close(),
        "policies": policies.close(),
    }


def _inventory(parts: Sequence[dict[str, PackedRows]]) -> dict[str, Any]:
    """The final schema's objects, each history's in turn (`_model_inventory`)."""
    inventory: dict[str, Any] = {
        name: PackedRows.joined([part[name] for part in parts])
        for name in ("foreign_keys", "indexes", "checks", "functions", "triggers", "policies")
    }
    # A table whose columns are those of one listed before (a partition, the same table in
    # another history) says so instead of repeating them.
    tables = PackedRows((*_TABLE_KEYS, "same_as"), _table_row)
    first: dict[tuple[Any, ...], str] = {}
    for part in parts:
        for values in part["tables"].values():
            name, columns = values[0], values[1]
            tables.append(*values, first.get(columns, "") if columns[0] else "")
            first.setdefault(columns, name)
    inventory["tables"] = tables.close()
    return {
        "tables": inventory["tables"],
        "foreign_keys": inventory["foreign_keys"],
        "unindexed_foreign_keys": sum(1 for fk in inventory["foreign_keys"] if not fk["covered"]),
        "indexes": inventory["indexes"],
        "checks": inventory["checks"],
        "functions": inventory["functions"],
        "triggers": inventory["triggers"],
        "policies": inventory["policies"],
    }


def _column_rows(table: Table, share: Callable[[Any], Any]) -> ColumnRows:
    """A table's columns as the inventory lists them; `share`: one object for each equal
    text or tuple (tables with the same columns share theirs)."""
    columns = list(table.columns.values())
    names = tuple(c.name for c in columns)
    types = tuple(share(str(c.type)) or "" for c in columns)
    defaults = tuple(share(_default_text(c)) for c in columns)
    not_null = 0
    for position, column in enumerate(columns):
        if not column.nullable:
            not_null |= 1 << position
    return ColumnRows(
        share(names),
        share(types),
        not_null,
        share(defaults) if any(d is not None for d in defaults) else None,
    )


# The inventory's rows, one maker per shape (see `_rows`), and the keys of those packed (see
# PackedRows), in the order the rows have them.
_TABLE_ROW, _COLUMN_ROW, _FOREIGN_KEY_ROW, _INDEX_ROW, _CHECK_ROW = (_rows() for _ in range(5))
_FUNCTION_ROW, _TRIGGER_ROW, _POLICY_ROW = (_rows() for _ in range(3))
_TABLE_KEYS = ("name", "columns", "columns_known", "primary_key", "rls")
_FOREIGN_KEY_KEYS = ("name", "from", "to", "on_delete", "on_update", "covered")
_INDEX_KEYS = ("name", "table", "columns", "unique", "partial", "method", "duplicate_of")
_CHECK_KEYS = ("name", "table", "expression", "validated")
_FUNCTION_KEYS = ("signature", "language", "security_definer", "search_path")
_TRIGGER_KEYS = ("name", "table", "timing", "events", "function")
_POLICY_KEYS = ("name", "table", "command", "permissive", "roles", "using", "with_check")


def _table_row(**fields: Any) -> dict[str, Any]:
    """A table's row of the inventory from its packed values: its columns' (`ColumnRows.key`)
    made into its rows of columns."""
    fields["columns"] = ColumnRows(*fields["columns"])
    return _TABLE_ROW(**fields)


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


class _NamesThen:
    """Objects' names as they were when a statement ran. The model keeps one object per
    identity, with its last name: a table created as `memberships` and renamed later would
    read as created under its new name. Walking the changes backwards, each rename gives the
    object its old name back for the statements before it."""

    def __init__(self) -> None:
        self._leaf: dict[int, str] = {}
        # Each object's name spelled once until a rename changes names: one string for all
        # the changes that name it (a long history's hundred thousand name a few thousand).
        self._spelled: dict[int, str] = {}

    def walk(
        self, changes: Sequence[Change]
    ) -> Iterator[tuple[Change, str | None, str | None, str | None]]:
        """The changes, last first, each with the names of its object and of its table at
        the time, and for a rename what it renamed (`old → new`)."""
        for change in reversed(changes):
            target = self._target(change)
            renamed = None
            if change.kind.startswith("rename_") and target is not None:
                new = self._name(target)
                detail = change.detail
                old = detail.split(" -> ")[0] if " -> " in detail else detail.rpartition(".")[2]
                if old:
                    self._leaf[id(target)] = old
                    self._spelled.clear()
                    renamed = f"{self._name(target)} → {new.rpartition('.')[2]}"
            table = self._name(change.table) if change.table is not None else None
            yield change, (self._name(target) if target is not None else None), table, renamed

    @staticmethod
    def _target(change: Change) -> Any:
        for candidate in (change.column, change.constraint, change.index, change.object):
            if candidate is not None:
                return candidate
        return change.table

    def _name(self, item: Any) -> str:
        spelled = self._spelled.get(id(item))
        if spelled is None:
            spelled = self._spelled[id(item)] = self._spell(item)
        return spelled

    def _spell(self, item: Any) -> str:
        name = str(item.name)
        own = self._leaf.get(id(item), name)
        table = getattr(item, "table", None)
        qualified = str(item.qualified_name)
        if isinstance(table, Table) and qualified == f"{table.qualified_name}.{name}":
            return f"{self._name(table)}.{own}"
        if qualified.endswith("." + name):
            return qualified[: len(qualified) - len(name)] + own
        return own if qualified == name else qualified


def _dropped_name(change: Change, name: str | None, table: str | None) -> str | None:
    """What a DROP dropped (`name`, `table`: its object's and table's names then): the
    constraint, column, policy..., never its table (unless the table is what was dropped)."""
    detail = change.detail
    if change.kind == "drop_column" or not detail:
        return name if name != table or change.kind == "drop_table" else None
    if "." in detail or table is None:
        return detail
    return f"{table}.{detail}"


# What a file did (see `_timeline`): created, altered, renamed, dropped, and its heaviest
# lock on an existing table (mode, table, line, statement).
_FileChanges = tuple[list[str], list[str], list[str], list[str], tuple[str, str, int, str]]


def _model_timeline(model: SchemaModel) -> dict[int, bytes]:
    """What each file of a model's history did (`_FileChanges`, packed: see
    `_file_changes`), by the identity of its source. Made while the names of the time are
    found, walking backwards (the changes' names are not all kept for a second walk: a long
    history has a hundred thousand); a file's lists are packed as soon as its changes are
    walked, as they were walked (last first), taken while the model is alive."""
    packed: dict[int, bytes] = {}
    walked: int | None = None  # the source whose changes are being walked
    did: list[Any] = []  # its lists, last first, and its heaviest lock
    nothing = ("", "", 0, "")
    for change, name, table, renamed in _NamesThen().walk(model.changes):
        source = id(change.statement.source)
        if source != walked:
            # A file's changes are walked together: the one before is done.
            if walked is not None:
                packed[walked] = pack(tuple(did))
            walked = source
            before = packed.pop(source, None)  # walked again after all: its lists so far
            did = list(unpack(before)) if before is not None else [[], [], [], [], nothing]
        kind = change.kind
        if kind.startswith("create_") and not change.noop and name:
            did[0].append(name)
        elif kind.startswith("rename_") and renamed is not None:
            did[2].append(renamed)
        elif kind.startswith("drop_") and kind not in _NOT_DROPS:
            gone = _dropped_name(change, name, table)
            if gone:
                did[3].append(gone)
        elif table is not None and kind not in _NOT_ALTERS:
            did[1].append(table)
        elif table is None and name and kind not in _NOT_ALTERS and change.object:
            did[1].append(name)
        rank = _LOCK_RANK.get(change.lock, 0)
        # The file's first change of the heaviest mode (the last seen, walking backwards).
        if change.heavy_lock and rank and rank >= _LOCK_RANK.get(did[4][0], 0):
            words = kind.replace("_", " ").upper()
            # `ADD COLUMN tenant_id` on public.users: the table has its own column.
            own = name or ""
            schema = table.rpartition(".")[0] if table else ""
            if table and own.startswith(table + "."):
                own = own[len(table) + 1 :]
            elif table and own == table:
                own = ""
            elif schema and own.startswith(schema + "."):
                own = own[len(schema) + 1 :]
            did[4] = (change.lock, table or "", change.statement.line, f"{words} {own}")
    if walked is not None:
        packed[walked] = pack(tuple(did))
    return packed


def _file_changes(packed: bytes) -> _FileChanges:
    """A file's `_FileChanges` as `_model_timeline` packed them (see `pack`: a long history's
    names are tens of megabytes as strings), its lists put in the order of the file."""
    created, altered, renamed, dropped, heaviest = unpack(packed)
    return created[::-1], altered[::-1], renamed[::-1], dropped[::-1], heaviest


def _timeline(
    run: LintRun, digests: Sequence[ModelDigest], statuses: dict[str, str], paths: _PathSpeller
) -> list[dict[str, Any]]:
    """Each file in apply order: what it created, altered, renamed and dropped (by the names
    of the time), and its heaviest lock on an existing table. One dict per file, so that
    other measures of a file (a run on a server) can join it."""
    nothing: _FileChanges = ([], [], [], [], ("", "", 0, ""))
    by_source: dict[int, bytes] = {}
    for digest in digests:
        by_source.update(digest.timeline)
    entries = []
    for source in run.sources:
        packed = by_source.get(id(source))
        did = _file_changes(packed) if packed is not None else nothing
        created, altered, renamed, dropped, heaviest = did
        lock_mode, lock_table, lock_line, statement = heaviest
        heavy = lock_mode in HEAVY_LOCKS
        created_names = set(created)  # a set: a file can create thousands of objects
        entries.append(
            {
                "file": paths.path(source.display),
                "status": statuses.get(paths.path(source.display), ""),
                "created": _unique(created),
                "altered": _unique(a for a in altered if a not in created_names),
                "renamed": _unique(renamed),
                "dropped": _unique(dropped),
                "lock": f"{lock_mode} on {lock_table}" if heavy else "",
                "lock_mode": lock_mode if heavy else "",
                "lock_table": lock_table if heavy else "",
                "lock_line": lock_line if heavy else 0,
                "lock_statement": statement.strip() if heavy else "",
            }
        )
    return entries


def _diagrams(
    run: LintRun,
    digests: Sequence[ModelDigest],
    statuses: dict[str, str],
    groups: list[dict[str, Any]],
    paths: _PathSpeller,
) -> list[dict[str, Any]]:
    """Per history, a Mermaid ER diagram (the `schema` command's, of a part of the schema) of
    the tables the change touches and their neighbours, unindexed foreign keys labelled."""
    from schema_review.export import history_label, mermaid, outline_document

    changed = {d for d, s in statuses.items() if s in ("under review", "added", "modified")}
    hot: dict[str, int] = {}
    for group in groups:
        for table in group["tables"]:
            hot[table] = min(hot.get(table, 9), SEVERITY_RANK[group["severity"]])
    diagrams = []
    for digest, migration_set in zip(digests, run.sets, strict=True):
        touched = {
            name
            for display, names in digest.touched.items()
            if paths.path(display) in changed
            for name in names
        }
        if not touched:
            continue
        # The tables the schema document draws (not a platform's), by name.
        tables: dict[str, TableOutline] = unpack(digest.outlines)
        core = sorted(n for n in touched if n in tables)
        if not core:
            continue
        ranked = sorted(core, key=lambda n: (hot.get(n, 9), n))
        chosen = set(ranked[:DIAGRAM_CORE])
        neighbours: set[str] = set()
        for name, outline in tables.items():
            for _, _, target in outline[7]:
                if name in chosen and target in tables:
                    neighbours.add(target)
                elif target in chosen:
                    neighbours.add(name)
        extra = sorted(neighbours - chosen)
        room = max(0, DIAGRAM_TABLES - len(chosen))
        left_out = len(core) - len(chosen) + max(0, len(extra) - room)
        drawn_core = set(chosen)
        chosen |= set(extra[:room])
        names = sorted(chosen)
        part = [
            _diagram_table(
                name, outline_document(tables[name]), name in drawn_core, chosen, digest.uncovered
            )
            for name in names
        ]
        diagrams.append(
            {
                "history": history_label(migration_set),
                "mermaid": mermaid({"tables": part}).rstrip("\n"),
                "tables": len(chosen),
                "touched": len(drawn_core),
                "neighbours": len(chosen) - len(drawn_core),
                "left_out": left_out,
                "unindexed": sum(1 for t in part for fk in t["foreign_keys"] if fk["unindexed"]),
            }
        )
    return diagrams


def _model_touched(model: SchemaModel) -> dict[str, list[str]]:
    """The tables (by their final names) each file of a model's history changed, by the
    file's `display`."""
    touched: dict[str, dict[str, None]] = {}
    for change in model.changes:
        if change.table is not None:
            names = touched.setdefault(change.statement.source.display, {})
            names.setdefault(change.table.qualified_name, None)
    return {display: list(names) for display, names in touched.items()}


def _uncovered(model: SchemaModel) -> HashedNames:
    """The foreign keys no index covers, by their table's name and their own (a pair)."""
    return HashedNames(
        (t.qualified_name, fk.name)
        for t in model.live_tables()
        for fk in t.foreign_keys
        if fk.covering_index is None
    )


def _diagram_table(
    name: str,
    table: dict[str, Any],
    core: bool,
    chosen: set[str],
    uncovered: HashedNames,
) -> dict[str, Any]:
    """A table of the export document, cut for the diagram: foreign keys to tables drawn
    (labelled when unindexed), every column of a touched table, key columns of a neighbour.
    Names are made safe for a Mermaid label (the diagram sits in a code block anyway)."""
    drawn = [fk for fk in table["foreign_keys"] if fk["references"]["table"] in chosen]
    keys = set(table["primary_key"]["columns"] if table["primary_key"] else [])
    for group in (drawn, table["unique"]):
        for item in group:
            keys.update(c for c in item["columns"] if isinstance(c, str))
    columns = [c for c in table["columns"] if core or c["name"] in keys]
    primary = table["primary_key"]
    return {
        **table,
        "columns": [{**c, "name": _label(c["name"])} for c in columns],
        "primary_key": None
        if primary is None
        else {**primary, "columns": [_label(c) for c in primary["columns"]]},
        "unique": [{**u, "columns": [_label(c) for c in u["columns"]]} for u in table["unique"]],
        "foreign_keys": [
            {
                **fk,
                "columns": [_label(c) for c in fk["columns"]],
                "unindexed": (name, fk["name"]) in uncovered,
            }
            for fk in drawn
        ],
    }


def _label(text: Any) -> str:
    """A name as a Mermaid label can hold it: printable, no double quote."""
    return "".join(c if c.isprintable() and c != '"' else "_" for c in str(text))


# -- small helpers ----------------------------------------------------------------------------


def _unique(names: Iterable[Any]) -> list[Any]:
    seen: dict[Any, None] = {}
    for name in names:
        seen.setdefault(name, None)
    return list(seen)


def _distinct(items: Iterable[Any], limit: int | None = None) -> dict[Any, None]:
    """The distinct items, in order (the first `limit` of them)."""
    found: dict[Any, None] = {}
    for item in items:
        if limit is not None and len(found) >= limit:
            break
        found.setdefault(item, None)
    return found


def _first_line(sql: str) -> str:
    """A statement's first line, marked when there is more."""
    first, _, rest = sql.partition("\n")
    return f"{first} …" if rest.strip() else first


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading (github-slugger): lower case, punctuation dropped,
    spaces to hyphens."""
    kept = "".join(c for c in heading.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")
