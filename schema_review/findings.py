"""Findings: hits turned into located, fingerprinted findings; suppressions; the gate."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Any, TypeVar

from schema_review.config import FileIgnores
from schema_review.parse import SourceFile, Statement
from schema_review.records import Record
from schema_review.resources import sha256
from schema_review.rules import SEVERITIES, Hit, Rule

SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}

# A comment that is meant as a directive: `schema-review:` at its start, or the tool's name
# followed by one of its verbs (the colon forgotten). A comment that only mentions the tool
# ("-- schema-review flags this, but...") is not one.
_DIRECTIVE = re.compile(r"\s*schema-review(?::|\s+(?=ignore(?:-file)?\b))")
_VERB = re.compile(r"\s*([A-Za-z]+(?:-[A-Za-z]+)*)")
VERBS = ("ignore", "ignore-file")
_SHAPE = "`-- schema-review: ignore RULE[, RULE...] -- reason`"


def at_gate(severity: str, fail_on: str) -> bool:
    """Whether a finding of `severity` fails a run whose gate is `fail_on` (`none`: never)."""
    return fail_on != "none" and SEVERITY_RANK[severity] <= SEVERITY_RANK[fail_on]


# A finding's fields, in order (its repr shows them all, as the dataclass's did).
_FINDING_FIELDS = (
    "rule",
    "severity",
    "category",
    "message",
    "file",
    "line",
    "column",
    "end_line",
    "end_column",
    "object",
    "fix",
    "fingerprint",
    "title",
    "order",
)


class Finding(Record):
    """A located, fingerprinted finding. A Record (records.py), not a dataclass: a run makes
    one per hit (a frozen dataclass sets each field through object.__setattr__), and a
    one-file run paid for compiling the dataclass's methods at import. == and hash leave out
    `order`, as the dataclass's `compare=False` did."""

    _fields = _FINDING_FIELDS
    __slots__ = _fields
    _compared = _FINDING_FIELDS[:-1]

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
    title: str
    # Where the file stands in apply order, so findings sort as migrations run.
    order: tuple[int, int]

    def __init__(
        self,
        rule: str,
        severity: str,
        category: str,
        message: str,
        file: str,
        line: int,
        column: int,
        end_line: int,
        end_column: int,
        object: str | None,
        fix: str | None,
        fingerprint: str,
        title: str = "",
        order: tuple[int, int] = (0, 0),
    ) -> None:
        self.rule = rule
        self.severity = severity
        self.category = category
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.end_line = end_line
        self.end_column = end_column
        self.object = object
        self.fix = fix
        self.fingerprint = fingerprint
        self.title = title
        self.order = order

    @property
    def sort_key(self) -> tuple[tuple[int, int], str, int, int, str, str]:
        key: tuple[tuple[int, int], str, int, int, str, str] = _FINDING_ORDER(self)
        return key

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


class Suppression:
    """One suppression comment and the part of its file it covers. == is identity (as the
    dataclass's eq=False had it): `used` fills in as findings are built."""

    __slots__ = ("covers", "file_level", "offset", "problem", "reason", "rules", "source", "used")

    def __init__(
        self,
        source: SourceFile,
        offset: int,
        rules: tuple[str, ...],
        reason: str,
        file_level: bool,
        covers: tuple[int, int],
        used: set[str] | None = None,
        problem: str = "",
    ) -> None:
        self.source = source
        self.offset = offset
        self.rules = rules
        self.reason = reason
        self.file_level = file_level
        self.covers = covers
        self.used: set[str] = set() if used is None else used
        # Why the comment is not a directive that can be read (no rule ids, an unknown
        # verb...): such a comment suppresses nothing and is reported as
        # `malformed-suppression`.
        self.problem = problem

    def __repr__(self) -> str:
        return (
            f"Suppression(source={self.source!r}, offset={self.offset!r}, "
            f"rules={self.rules!r}, reason={self.reason!r}, file_level={self.file_level!r}, "
            f"covers={self.covers!r}, used={self.used!r}, problem={self.problem!r})"
        )

    @property
    def line(self) -> int:
        return self.source.position(self.offset)[0]

    def applies(self, hit: Hit) -> bool:
        return (
            hit.source is self.source
            and (hit.rule.id in self.rules or "all" in self.rules)
            and self.covers[0] <= hit.start <= self.covers[1]
        )


class Suppressed(Record):
    """A finding a suppression comment or `per-file-ignores` hides, and why."""

    _fields = ("finding", "reason")
    __slots__ = _fields

    finding: Finding
    reason: str

    def __init__(self, finding: Finding, reason: str) -> None:
        self.finding = finding
        self.reason = reason


class FindingSet:
    """A run's findings, those suppressed, and with a baseline those it hides. Changed in
    place by the commands that narrow it (so not a Record); == compares every field, as the
    dataclass's did."""

    __slots__ = ("baseline_stale", "baselined", "findings", "hidden_as", "suppressed")

    def __init__(
        self,
        findings: list[Finding],
        suppressed: list[Suppressed],
        baselined: list[Finding] | None = None,
        baseline_stale: int = 0,
        hidden_as: str = "in the baseline",
    ) -> None:
        self.findings = findings
        self.suppressed = suppressed
        # With a baseline: the findings it hides, and its entries that no longer occur.
        self.baselined: list[Finding] = [] if baselined is None else baselined
        self.baseline_stale = baseline_stale
        self.hidden_as = hidden_as  # or "present at <REF>" with --diff-base

    def _values(self) -> tuple[Any, ...]:
        return (
            self.findings,
            self.suppressed,
            self.baselined,
            self.baseline_stale,
            self.hidden_as,
        )

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, FindingSet)
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # changed in place: unhashable

    def __repr__(self) -> str:
        names = ("findings", "suppressed", "baselined", "baseline_stale", "hidden_as")
        shown = zip(names, self._values(), strict=True)
        values = ", ".join(f"{name}={value!r}" for name, value in shown)
        return f"FindingSet({values})"

    def without(self, baseline: Baseline) -> FindingSet:
        """The findings the baseline does not know; the rest are counted, not reported."""
        known = baseline.fingerprints
        kept = [f for f in self.findings if f.fingerprint not in known]
        hidden = [f for f in self.findings if f.fingerprint in known]
        seen = {f.fingerprint for f in hidden}
        stale = len(known - seen) if baseline.label == "in the baseline" else 0
        return FindingSet(kept, self.suppressed, hidden, stale, baseline.label)

    def fails(self, fail_on: str) -> bool:
        if fail_on == "none":  # never: no finding need be looked at
            return False
        failing = {name for name in SEVERITIES if at_gate(name, fail_on)}
        return any(f.severity in failing for f in self.findings)

    def counts(self) -> dict[str, int]:
        counted = Counter(f.severity for f in self.findings)
        return {name: counted.get(name, 0) for name in SEVERITIES}


class BaselineError(Exception):
    """A baseline file that cannot be read: says which and why."""


class Baseline(Record):
    """Fingerprints of accepted findings (`schema-review baseline`), hidden by `--baseline`."""

    _fields = ("fingerprints", "label")
    __slots__ = _fields

    fingerprints: frozenset[str]
    label: str

    def __init__(self, fingerprints: frozenset[str], label: str = "in the baseline") -> None:
        self.fingerprints = fingerprints
        self.label = label

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


def find_suppressions(
    source: SourceFile, statements: Sequence[Statement], dialect: str = "postgres"
) -> list[Suppression]:
    """The suppression comments of a file, and the comments meant as one that cannot be read
    (with their `problem`). `ignore` on a line of its own covers the next statement; after
    code on its line, or inside a statement, it covers the statement on that line;
    `ignore-file` covers the file. In MySQL (`dialect`), `#` starts a line comment too (in
    PostgreSQL it is an operator)."""
    if "schema-review" not in source.text:
        return []
    from schema_review.parse.script import comments

    text = source.text
    starts = [s.start for s in statements]
    found: list[Suppression] = []
    for start, end in mysql_comments(text) if dialect == "mysql" else comments(text):
        line_comment = text.startswith(("--", "#"), start)
        opening = 1 if text.startswith("#", start) else 2
        body = text[start + opening : end if line_comment else end - 2]
        directive = _DIRECTIVE.match(body)
        if directive is None:
            continue
        try:
            if not line_comment:
                raise _Malformed(f"write it as a `--` line comment: {_SHAPE}")
            verb, rules, reason = _read_directive(body, directive)
        except _Malformed as error:
            nothing = (start, start)
            found.append(Suppression(source, start, (), "", False, nothing, problem=str(error)))
            continue
        if verb == "ignore-file":
            covers = (0, len(text))
        else:
            covers = _covered(text, start, end, statements, starts)
        found.append(Suppression(source, start, rules, reason, verb == "ignore-file", covers))
    return found


# MySQL's lexical pieces, for its comments: a `#` or `-- ` comment (`--` then a space or a
# control character) to the end of the line, a `/* */` comment (not nested), a string in
# single or double quotes (a backslash escapes; a doubled quote is one), a backticked name.
_MYSQL_TOKEN = re.compile(
    r"(?P<line>#[^\n]*|--(?:[ \t\r\f\v][^\n]*)?(?=\n|\Z|[ \t\r\f\v]))"
    r"|(?P<block>/\*.*?(?:\*/|\Z))"
    r"|'(?:[^'\\]|\\.|'')*(?:'|\Z)"
    r'|"(?:[^"\\]|\\.|"")*(?:"|\Z)'
    r"|`(?:[^`]|``)*(?:`|\Z)",
    re.DOTALL,
)


def mysql_comments(text: str) -> list[tuple[int, int]]:
    """The (start, end) of every comment of MySQL `text`: `#` and `-- ` to the end of the
    line, `/* */`; what looks like one inside a string or a backticked name is not one."""
    spans: list[tuple[int, int]] = []
    for match in _MYSQL_TOKEN.finditer(text):
        if match.lastgroup in ("line", "block"):
            spans.append(match.span())
    return spans


class _Malformed(Exception):
    """A comment meant as a directive that cannot be read: says what is wrong with it."""


def _read_directive(body: str, directive: re.Match[str]) -> tuple[str, tuple[str, ...], str]:
    """(verb, rule ids, reason) of a directive's comment text, or _Malformed."""
    import difflib

    if not directive.group().endswith(":"):
        raise _Malformed(f"a colon must follow schema-review: {_SHAPE}")
    verb_match = _VERB.match(body, directive.end())
    if verb_match is None:
        raise _Malformed(f"no verb after schema-review: (ignore or ignore-file): {_SHAPE}")
    verb = verb_match.group(1)
    if verb not in VERBS:
        close = difflib.get_close_matches(verb, VERBS, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else "the verbs are ignore and ignore-file"
        raise _Malformed(f"unknown verb {verb} ({hint}): {_SHAPE}")
    names, _, reason = body[verb_match.end() :].partition("--")
    rules = tuple(item.strip() for item in names.split(",") if item.strip())
    if not rules:
        raise _Malformed(f"{verb} names no rule (`all` for every rule): {_SHAPE}")
    spaced = next((item for item in rules if len(item.split()) > 1), None)
    if spaced is not None:
        raise _Malformed(
            f"{spaced!r} is not a rule id: rule ids are separated by commas, and the reason"
            f" goes after `--`: {_SHAPE}"
        )
    return verb, rules, reason.strip()


def _covered(
    text: str, start: int, end: int, statements: Sequence[Statement], starts: list[int]
) -> tuple[int, int]:
    """What an `ignore` comment at text[start:end] covers: the statement it is inside, or
    those on its line before it (`CREATE INDEX ...; -- schema-review: ignore ...`), or else
    the next statement."""
    before = bisect_right(starts, start) - 1
    if before >= 0 and statements[before].end > start:  # inside a statement
        return statements[before].start, statements[before].end
    line_start = text.rfind("\n", 0, start) + 1
    if text[line_start:start].strip():  # after code on its line
        if before >= 0 and "\n" not in text[statements[before].end : start]:
            line_start = min(line_start, statements[before].start)
        return line_start, start
    following = before + 1
    covered_end = statements[following].end if following < len(statements) else len(text)
    return end, covered_end


def build_findings(
    hits: Iterable[Hit],
    suppressions: Sequence[Suppression],
    rules_by_id: Mapping[str, Rule],
    severity_overrides: Mapping[str, str],
    catalogue: Iterable[Rule] = (),
    file_ignores: FileIgnores | None = None,
) -> FindingSet:
    """Fingerprint and order the hits; apply suppressions and `per-file-ignores`, and report
    the misuse of suppressions. `catalogue`: every rule there is, selected or not (the rule
    ids a suppression may name); the selected rules when not given. A list of hits is
    emptied."""
    findings: list[Finding] = []
    suppressed: list[Suppressed] = []
    # A list is taken over and emptied as its findings are built: a long history's hundreds
    # of thousands of hits are not all kept alive beside their findings.
    pending: list[Hit] = hits if isinstance(hits, list) else list(hits)
    known = {r.id: r for r in catalogue} or dict(rules_by_id)
    for suppression in suppressions:
        for rule_id, message in _problems_with(suppression, known):
            rule = rules_by_id.get(rule_id)
            if rule is not None:
                pending.append(
                    Hit(
                        rule,
                        suppression.source,
                        suppression.offset,
                        suppression.offset,
                        None,
                        message,
                    )
                )
    seen: dict[bytes, int] = {}
    shared = _Shared()
    shared.empty_hash = _empty_sha256(len(pending))
    shared.sharing = len(pending) >= _SHARED_FROM
    _sort_hits(pending)
    shared.several, shared.upcoming = _texts_of_several(pending)
    pending.reverse()  # taken from the end: in order, ties as the stable sort left them
    # Each hit is matched with its own file's suppressions only (most files have none).
    by_source: dict[SourceFile, list[Suppression]] = {}
    for suppression in suppressions:
        by_source.setdefault(suppression.source, []).append(suppression)
    while pending:
        hit = pending.pop()
        finding = _finding(hit, severity_overrides, seen, shared)
        own = by_source.get(hit.source)
        covering = next((s for s in own if s.applies(hit)), None) if own else None
        ignored_by = (
            file_ignores.ignoring(hit.source.display, hit.rule.id, hit.rule.category)
            if file_ignores
            else ""
        )
        if covering is not None and hit.rule.target != "suppression":
            covering.used.add(hit.rule.id)
            suppressed.append(Suppressed(finding, covering.reason))
        elif ignored_by:
            suppressed.append(Suppressed(finding, f"per-file-ignores: {ignored_by}"))
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
                findings.append(_finding(hit, severity_overrides, seen, shared))
    seen.clear()
    shared.clear()
    shared.statement = None
    shared.source = None
    shared.orders.clear()
    shared.counts.clear()
    _sort(findings, _FINDING_ORDER)
    _sort(suppressed, lambda s: s.finding.sort_key)
    return FindingSet(findings, suppressed)


_T = TypeVar("_T")

# The order of findings (`Finding.sort_key`), read in C: apply order (a pair), file, line,
# column, rule, fingerprint.
_FINDING_ORDER = attrgetter("order", "file", "line", "column", "rule", "fingerprint")


def _sort(items: list[_T], key: Callable[[_T], Any]) -> None:
    """Sort by `key`, unless already in order: built from hits in apply order, findings
    nearly always are, and a long history's sort keys (a tuple per finding) would all be
    alive at once at the run's peak of memory. Each key is made once (two at a time)."""
    keys = map(key, items)
    last = next(keys, None)
    for current in keys:
        if current < last:
            items.sort(key=key)
            return
        last = current


def _problems_with(suppression: Suppression, known: Mapping[str, Rule]) -> list[tuple[str, str]]:
    """What is wrong with a suppression comment: (rule id, message) for each problem."""
    if suppression.problem:
        return [("malformed-suppression", f"malformed suppression: {suppression.problem}")]
    problems = []
    unknown = [r for r in suppression.rules if r not in known and r != "all"]
    if unknown:
        problems.append(("unknown-rule-in-suppression", _unknown_rules(unknown, known)))
    if not suppression.reason:
        names = ", ".join(suppression.rules)
        problems.append(
            (
                "suppression-without-reason",
                f"suppression of {names} gives no reason: add `-- <why>` after the rule ids",
            )
        )
    return problems


def _unknown_rules(unknown: Sequence[str], known: Mapping[str, Rule]) -> str:
    import difflib

    categories = {r.category for r in known.values()}
    parts = []
    for name in unknown:
        if name in categories:
            parts.append(f"{name} is a category: a suppression names rule ids (or all)")
            continue
        close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.75)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        parts.append(f"{name}{hint}")
    return (
        f"suppression names no rule of schema-review: {'; '.join(parts)}; it suppresses "
        "nothing under that name (`schema-review rules` lists them)"
    )


def _sort_hits(hits: list[Hit]) -> None:
    """Sort hits by file (in apply order), place, rule and object, ties in their order: one
    stable sort per part, last part first, as sorting by the tuple of the parts would, but
    with no tuple per hit (a long history's hundreds of thousands would be the run's peak of
    memory): the sorts' keys are the hits' own strings, and one number for the place. A
    short list is sorted once by the tuple (its tuples are few: one key call a hit, not
    three)."""
    if len(hits) <= _TUPLE_SORT_MAX:
        _sort_by_file(hits)
        return
    hits.sort(key=_hit_object)
    hits.sort(key=_hit_rule)
    hits.sort(key=_hit_place)


# Up to this many hits, _sort_hits sorts by a tuple a hit (a few MB at most).
_TUPLE_SORT_MAX = 20_000


def _sort_by_file(hits: list[Hit]) -> None:
    """`hits.sort(key=_hit_order)`, a file at a time: the files in apply order, each one's
    hits (a few) sorted by place in the file, rule and object. The same order, with fewer
    and cheaper comparisons and no place number made for each hit (the corpus's 7,000
    hits are in 1,200 files). When two files have the same place in apply order (their
    hits would mix), the hits are sorted as one list."""
    by_source: dict[SourceFile, list[Hit]] = {}
    for hit in hits:
        found = by_source.get(hit.source)
        if found is None:
            by_source[hit.source] = [hit]
        else:
            found.append(hit)
    places = {(source.set_index, source.order): source for source in by_source}
    if len(places) < len(by_source):
        hits.sort(key=_hit_order)
        return
    hits.clear()
    for place in sorted(places):
        group = by_source[places[place]]
        if len(group) > 1:
            group.sort(key=_hit_in_file)
        hits += group


def _hit_in_file(hit: Hit) -> tuple[int, str, str]:
    return hit.start, hit.rule.id, hit.object or ""


def _hit_order(hit: Hit) -> tuple[int, str, str]:
    return _hit_place(hit), hit.rule.id, hit.object or ""


def _hit_object(hit: Hit) -> str:
    return hit.object or ""


def _hit_rule(hit: Hit) -> str:
    return hit.rule.id


def _hit_place(hit: Hit) -> int:
    # (set_index, order, start) as one number; each is far below 2**40.
    source = hit.source
    return (source.set_index << 80) | (source.order << 40) | hit.start


class _Shared(dict[Any, Any]):
    """One object for each equal value a statement's findings hold (the same object name,
    fix, line number) when the run is long (`sharing`: a long history has hundreds of
    thousands of findings), and one place in apply order for each file's. Only the current
    statement's values are kept (hits come in file order, a statement's together): a dict
    of every value of a long history would itself be a large part of the run's peak of
    memory."""

    # Slots: each finding reads and sets a dozen of these (no instance dict to look in).
    __slots__ = (
        "alone",
        "asked",
        "asked_end",
        "at",
        "counts",
        "empty_hash",
        "encoded",
        "last",
        "last_column",
        "last_line",
        "line",
        "line_start",
        "located",
        "orders",
        "several",
        "sharing",
        "source",
        "source_order",
        "statement",
        "substance",
        "text",
        "upcoming",
    )

    def __init__(self) -> None:
        super().__init__()
        # The last statement's text as its fingerprints read it: a statement has several
        # findings, and its text may be a long function body.
        self.statement: Statement | None = None
        self.substance = ""
        self.orders: dict[tuple[int, int], tuple[int, int]] = {}
        # The hashes of the texts more than one statement has (see _texts_of_several), and
        # the current statement's fingerprint keys counted, when its text is not one of them.
        self.several: set[int] = set()
        self.alone = False
        # The statements whose hits come next and their texts, the next last (worked out
        # with `several`: each text is made once).
        self.upcoming: list[tuple[Statement, str]] = []
        self.counts: dict[tuple[str, str], int] = {}  # (rule, object) -> count
        # Whether the findings share their equal values (a long run's, see _SHARED_FROM).
        self.sharing = True
        # The empty SHA-256 the fingerprints are copied from (see _empty_sha256).
        self.empty_hash: Any = _SHA256
        # `substance` as UTF-8: a statement's findings hash it, each after its own prefix.
        self.encoded = b""
        # The file `locate` last walked and how far: hits come in file order, each file's
        # by offset, so each file's text is walked once, newlines counted in C, and no
        # index of its lines is built.
        self.source: SourceFile | None = None
        self.source_order = (0, 0)  # its place in apply order (`order`)
        self.text = ""
        self.at = 0  # the offset last located
        self.line = 1  # its line
        self.line_start = 0  # where that line starts
        # The last place located, for the offsets asked.
        self.asked, self.asked_end = -1, -1
        self.located = (0, 0, 0, 0)
        # The last end located (the offset of its last character), its line and column.
        self.last, self.last_line, self.last_column = -1, 1, 1

    def enter(self, statement: Statement) -> None:
        """The hits of `statement` follow: the last one's values are let go."""
        self.clear()
        self.counts.clear()
        self.statement = statement
        upcoming = self.upcoming
        if upcoming and upcoming[-1][0] is statement:
            self.substance = upcoming.pop()[1]
        else:
            self.substance = _substance(statement)
        self.encoded = self.substance.encode()
        self.alone = hash(self.substance) not in self.several

    def locate(self, source: SourceFile, start: int, end: int) -> tuple[int, int, int, int]:
        """(line, column, end line, end column) of a hit at text[start:end], as
        `source.position` gives start's and the last character's (max(start, end - 1));
        1-based, offsets clamped to the text."""
        if start == self.asked and end == self.asked_end and source is self.source:
            # The place just given (a statement's findings mostly span the whole statement,
            # whose newlines would be counted again for each).
            return self.located
        self.asked, self.asked_end = start, end
        text = self.text
        if source is not self.source:
            self.source = source
            self.source_order = self.order(source)
            text = self.text = source.text
            self.at, self.line, self.line_start = 0, 1, 0
            self.last = -1
        size = len(text)
        start = 0 if start < 0 else size if start > size else start
        at = self.at
        if start < at:  # behind the walk (a finding made after the rest): from the top
            at, self.line, self.line_start = 0, 1, 0
        newlines = text.count("\n", at, start)
        if newlines:
            self.line += newlines
            self.line_start = text.rfind("\n", at, start) + 1
        self.at = start
        line = self.line
        column = start - self.line_start + 1
        last = end - 1
        if last <= start:
            place = line, column, line, column
        else:
            if last > size:
                last = size
            if last != self.last:  # (else the end of the last place: a statement's end)
                newlines = text.count("\n", start, last)
                self.last = last
                if not newlines:
                    self.last_line, self.last_column = line, column + last - start
                else:
                    self.last_line = line + newlines
                    self.last_column = last - text.rfind("\n", start, last)
            place = line, column, self.last_line, self.last_column
        self.located = place
        return place

    def order(self, source: SourceFile) -> tuple[int, int]:
        order = (source.set_index, source.order)
        return self.orders.setdefault(order, order)


# From this many hits, the findings of a statement share their equal values (_Shared): fewer
# findings are little memory (a few MB), and sharing costs four calls a finding.
_SHARED_FROM = 20_000


def _substance(statement: Statement) -> str:
    """A statement's text as its findings' fingerprints read it: what whitespace and case
    leave out. (Whitespace includes the \x1f that separates a fingerprint key's parts.)"""
    return " ".join(statement.text.split()).lower()


# The bitmap of the hashes seen once (_texts_of_several): with 64 bits a hit, ~1.5% of
# the hashes seen once land on a bit another set.
_BITS_PER_HIT = 64
_LEAST_BITS = 1 << 16


def _texts_of_several(hits: list[Hit]) -> tuple[set[int], list[tuple[Statement, str]]]:
    """The hashes of the texts (`_substance`) that more than one statement among the hits
    has, or that a finding without a statement is keyed by (its message, with an object).

    A fingerprint counts the findings with the same key (rule, object, text) before it. Of
    a statement whose text is no other's (nor any statement-less finding's), the findings
    with the key are its own: they are counted while its hits are taken (they come
    together, in order), and the run keeps no count of every key (on a long history, a
    dict as large as the findings). A hash two texts share only sends more keys to the
    run's count. A statement-less finding without an object is keyed by its file and
    message joined by \x1f, which no statement's text holds.

    And each statement with its text, in the order of the hits, the first last.

    The hashes seen once are bits of a bitmap, not a set (a set of a long history's hashes
    was 4 MB at the peak of build_findings): a hash whose bit another set is taken for one
    more than one text has, which only sends more keys to the run's count."""
    bits = max(_LEAST_BITS, _BITS_PER_HIT * len(hits))
    once = bytearray((bits + 7) >> 3)
    several: set[int] = set()
    texts: list[tuple[Statement, str]] = []
    last = None
    for hit in hits:
        statement = hit.statement
        if statement is last:
            continue
        if statement is not None:
            last = statement
            text = _substance(statement)
            texts.append((statement, text))
            value = hash(text)
        elif hit.object:
            value = hash(hit.message)
        else:
            continue
        bit = value % bits
        if once[bit >> 3] & (1 << (bit & 7)):
            several.add(value)
        else:
            once[bit >> 3] |= 1 << (bit & 7)
    texts.reverse()
    return several, texts


_SHA256 = sha256()
# From this many hits, the fingerprints are hashed with OpenSSL's SHA-256 (`import
# _hashlib`, ~10 M instructions once): a key holds its statement's whole text, and CPython's
# own SHA-256 takes ~60 instructions a byte (the corpus's 7,000 findings hash 2.6 MB: 160 M),
# OpenSSL's a few. Below, the import costs more than it saves. The same digests either way.
_OPENSSL_FROM = 1_000


def _empty_sha256(hits: int) -> Any:
    """An empty SHA-256 to copy for each fingerprint of a run of `hits` hits."""
    if hits >= _OPENSSL_FROM:
        try:
            from _hashlib import openssl_sha256
        except ImportError:  # a Python without OpenSSL, or another than CPython
            return _SHA256
        return openssl_sha256()
    return _SHA256


def _finding(
    hit: Hit,
    overrides: Mapping[str, str],
    seen: dict[bytes, int],
    shared: _Shared | None = None,
) -> Finding:
    share = shared if shared is not None else _Shared()
    source = hit.source
    statement = hit.statement
    rule = hit.rule
    rule_id = rule.id
    obj = hit.object or ""
    # The statement's text, not its file or line: a finding keeps its fingerprint when lines
    # are added above it or its file is renamed; findings without a statement (a file's)
    # are named by the file's path in its folder.
    if statement is not None:
        if statement is not share.statement:
            share.enter(statement)
        encoded = share.encoded
    elif obj:
        encoded = hit.message.encode()
    else:
        encoded = f"{source.identity or source.display}\x1f{hit.message}".encode()
    line, column, end_line, end_column = share.locate(source, hit.start, hit.end)
    fix = hit.fix
    if share.sharing:
        one = share.setdefault  # (share's own call, without its Python frame)
        line, end_line, obj_value, fix = (
            one(line, line),
            one(end_line, end_line),
            one(hit.object, hit.object),
            one(fix, fix),
        )
    else:
        obj_value = hit.object
    # Counted by a digest of the key (rule, object, text joined by \x1f): the key holds the
    # statement's whole text. The fingerprint is the digest of the key and its count: the
    # same hash, carried on (the key, which may be a long function body, is hashed once;
    # its text is encoded once for all of its statement's findings). A copy of an empty
    # hash is cheaper than a new one (OpenSSL looks the algorithm up for each new one).
    hashed = share.empty_hash.copy()
    hashed.update(f"{rule_id}\x1f{obj}\x1f".encode())
    hashed.update(encoded)
    # A statement's own count when its text is no other's, and its key's parts hold no
    # \x1f (else another key could read the same: the run's count). Its keys differ only
    # by rule and object: counted by those two, without a digest of the key.
    if share.alone and statement is not None and "\x1f" not in rule_id and "\x1f" not in obj:
        counts = share.counts
        own = (rule_id, obj)
        count = counts[own] = counts.get(own, 0) + 1
    else:
        counted = hashed.digest()[:16]
        count = seen[counted] = seen.get(counted, 0) + 1
    hashed.update(_COUNT_SUFFIXES[count] if count < _COUNT_SUFFIXES_MADE else b"\x1f%d" % count)
    return Finding(
        rule_id,
        overrides.get(rule_id, rule.severity),
        rule.category,
        hit.message,
        source.display,
        line,
        column,
        end_line,
        end_column,
        obj_value,
        fix,
        hashed.hexdigest()[:16],
        rule.title,
        share.source_order,
    )


# The fingerprint's last part, `\x1f` and the key's count, for the counts most keys have.
_COUNT_SUFFIXES_MADE = 16
_COUNT_SUFFIXES = [b"\x1f%d" % count for count in range(_COUNT_SUFFIXES_MADE)]
