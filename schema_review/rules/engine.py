"""Evaluate rules over the replay: statements, the final schema, objects' histories."""

from __future__ import annotations

import sys
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain as chained
from itertools import repeat
from typing import Any, ClassVar

from schema_review.discover import version_key
from schema_review.model import Change, SchemaModel
from schema_review.packing import pack, unpack
from schema_review.parse import ParseProblem, SourceFile, Statement
from schema_review.profile import Profile
from schema_review.records import Record
from schema_review.rules import bounds as sandbox
from schema_review.rules.bounds import CLOCK, RUNAWAY, limited
from schema_review.rules.expressions import subject_name, variables
from schema_review.rules.loader import DIALECTS, Rule, RuleError, is_builtin, rule_location
from schema_review.rules.runtime import (
    _JUDGED,
    _METHOD_TYPES,
    environment,
    jinja_errors,
    remembered_calls,
)

# Not a lint rule: the tool itself failed on a statement. Always on, so a failure is never
# silent; the statement is still counted and the run goes on.
INTERNAL_ERROR = Rule(
    id="internal-error",
    title="schema-review could not handle this statement",
    severity="critical",
    category="tooling",
    target="internal_error",
    kinds=(),
    when=None,
    message="internal error",
    fix=None,
    why="A bug in schema-review: please report it with the statement.",
    examples={"bad": "", "good": ""},
    enabled=True,
    source="<built-in>",
    dialects=DIALECTS,
)

# Not a lint rule either: a rule went over a limit (time, size, memory, recursion) and was
# stopped; the run goes on with the other rules. Rule files can come from a pull request, and
# a rule that never ends must not hang CI (or pass it: this one is critical).
RULE_STOPPED = Rule(
    id="rule-stopped",
    title="A rule went over a limit and was stopped",
    severity="critical",
    category="tooling",
    target="internal_error",
    kinds=(),
    when=None,
    message="rule stopped",
    fix=None,
    why="A rule's expression took too long, built too large a value or recursed too deeply: "
    "it was stopped and its findings are left out. Fix the rule (its file and id are named).",
    examples={"bad": "", "good": ""},
    enabled=True,
    source="<built-in>",
    dialects=DIALECTS,
)

# What a runaway expression raises: the sandbox's limits, and Python's own.
_RUNAWAY = RUNAWAY


class _Stopped(Exception):
    """A rule went over a limit while evaluated at `where` (when known)."""

    def __init__(self, reason: str, where: tuple[SourceFile, int, int, Statement | None] | None):
        super().__init__(reason)
        self.reason = reason
        self.where = where


def _reason(error: BaseException) -> str:
    if isinstance(error, RecursionError):
        return "recursion too deep"
    if isinstance(error, MemoryError):
        return "out of memory"
    return str(error)


class MigrationFacts(Record):
    """What discovery knows of one migration file, for rules with `target: migration`."""

    # A Record, not a dataclass (see records.py): no methods compiled at import.
    _fields: ClassVar[tuple[str, ...]] = (
        "source",
        "version",
        "name",
        "convention",
        "has_down",
        "set_has_downs",
        "duplicate_of",
        "unjournaled",
        "journal_missing",
        "since_base",
        "before_base_file",
        "offset",
        "dialect",
        "dialect_evidence",
    )
    __slots__ = _fields

    source: SourceFile
    version: str
    name: str
    convention: str
    has_down: bool  # a down file, or a Down section in the file
    set_has_downs: bool  # the folder's convention keeps down migrations
    duplicate_of: str  # an earlier file of the folder with the same version
    unjournaled: bool  # a drizzle folder's file its journal does not list
    journal_missing: str  # a journal entry with no file (`source` is the journal)
    # With --diff-base: `added`, `modified` or `unchanged` since the base; and for an added
    # file that applies before the newest file of the base, that file.
    since_base: str
    before_base_file: str
    offset: int  # where in `source` the finding belongs
    # A file written for another database (discover.guess_dialect): `mysql` or `sqlite`, and
    # the syntax that gives it away, with lines; its statements are not linted.
    dialect: str
    dialect_evidence: str

    def __init__(
        self,
        source: SourceFile,
        version: str,
        name: str,
        convention: str,
        has_down: bool,
        set_has_downs: bool,
        duplicate_of: str = "",
        unjournaled: bool = False,
        journal_missing: str = "",
        since_base: str = "",
        before_base_file: str = "",
        offset: int = 0,
        dialect: str = "",
        dialect_evidence: str = "",
    ) -> None:
        self.source = source
        self.version = version
        self.name = name
        self.convention = convention
        self.has_down = has_down
        self.set_has_downs = set_has_downs
        self.duplicate_of = duplicate_of
        self.unjournaled = unjournaled
        self.journal_missing = journal_missing
        self.since_base = since_base
        self.before_base_file = before_base_file
        self.offset = offset
        self.dialect = dialect
        self.dialect_evidence = dialect_evidence

    @property
    def file(self) -> str:
        return self.source.display

    @property
    def label(self) -> str:
        """The migration as its tool knows it: `migration 7` (for 0007_x.sql), else its name.

        The object of file-level findings: it survives renames that keep the version.
        """
        fields = version_key(self.version)
        if self.journal_missing:
            return f"journal entry {self.journal_missing}"
        if fields:
            return "migration " + ".".join(str(f) for f in fields)
        return f"migration {self.name or self.source.display}"


class Hit(Record):
    """A rule that fired, and where: the raw material of a finding. A Record (records.py),
    not a frozen dataclass: a run makes one per finding."""

    _fields = ("rule", "source", "start", "end", "object", "message", "fix", "statement")
    __slots__ = _fields

    rule: Rule
    source: SourceFile
    start: int
    end: int
    object: str | None
    message: str
    fix: str | None
    statement: Statement | None

    def __init__(
        self,
        rule: Rule,
        source: SourceFile,
        start: int,
        end: int,
        object: str | None,
        message: str,
        fix: str | None = None,
        statement: Statement | None = None,
    ) -> None:
        self.rule = rule
        self.source = source
        self.start = start
        self.end = end
        self.object = object
        self.message = message
        self.fix = fix
        self.statement = statement


# A packed hit's values (see PackedHits): its rule's number among the pack's rules, start,
# end, object, message, fix.
_Record = tuple[int, int, int, str | None, str, str | None]
# Where a packed hit is: its statement (its source the statement's), its source (no
# statement), or both (a source that is not the statement's).
_Place = Statement | SourceFile | tuple[SourceFile, Statement]


class PackedHits:
    """Hits kept as compressed data while the model they were found on is alive, for a long
    history (issue 17): 200,000 hits as objects are ~90 MB at 100,000 statements (their
    messages and fixes, object names made afresh for each), on top of the model at the
    run's peak of memory; compressed (the messages of a rule differ in a few names), a
    few MB. `unpack` gives the hits back, once the model is gone.

    The hits come in as Hit objects and stay so until the pack holds UNCOMPRESSED_CHUNKS
    chunks of them (8,192): fewer are little memory (a few MB), and taking them apart,
    compressing them and making them again cost the corpus's 7,000 hits ~1.5% of its run
    (their records alone, uncompressed, ~1%). From there each CHUNK hits become a
    compressed chunk of records, each hit's rule's number among the pack's rules and its
    values (start, end, object, message, fix), and where it is: the statement or source
    objects themselves, which outlive the model (`statements_only`)."""

    __slots__ = ("_buffer", "_chunks", "_places", "_rule_numbers", "_rules", "_size")
    CHUNK = 1024
    UNCOMPRESSED_CHUNKS = 8

    def __init__(self, compress: bool = True) -> None:
        # Without `compress` (a short history: its hits are little memory, and compressing
        # them costs more than it saves) the hits stay as they are, in one buffer.
        # `_size`: how long the buffer grows before its whole chunks are compressed.
        self._size = self.UNCOMPRESSED_CHUNKS * self.CHUNK if compress else sys.maxsize
        self._rules: list[Rule] = []
        self._rule_numbers: dict[int, int] = {}  # id(rule) -> its place in `_rules`
        self._places: list[_Place] = []  # of the chunks' hits
        self._chunks: list[bytes] = []  # each CHUNK records, compressed
        self._buffer: list[Hit] = []  # the hits after the chunks'

    def __len__(self) -> int:
        return len(self._places) + len(self._buffer)

    def append(self, hit: Hit) -> None:
        buffer = self._buffer
        buffer.append(hit)
        if len(buffer) >= self._size:
            self._compress()

    def _record(self, hit: Hit) -> _Record:
        """The hit's values, its rule as its number among the pack's rules."""
        rule = hit.rule
        number = self._rule_numbers.get(id(rule))
        if number is None:
            number = self._rule_numbers[id(rule)] = len(self._rules)
            self._rules.append(rule)
        return (number, hit.start, hit.end, hit.object, hit.message, hit.fix)

    def _compress(self) -> None:
        """Compress the buffer's whole chunks (each CHUNK hits); from now on, each chunk
        as soon as it is whole."""
        buffer = self._buffer
        size = self.CHUNK
        whole = len(buffer) - len(buffer) % size
        for at in range(0, whole, size):
            chunk = buffer[at : at + size]
            self._chunks.append(pack([self._record(hit) for hit in chunk]))
            self._places.extend(map(_place, chunk))
        del buffer[:whole]
        self._size = size

    def objects(self) -> Iterator[str | None]:
        """Each hit's object, in order, the pack left as it is (a chunk at a time)."""
        for data in self._chunks:
            yield from (record[3] for record in _records(data))
        yield from (hit.object for hit in self._buffer)

    def truncate(self, count: int) -> None:
        """Keep the first `count` hits (a rule stopped: its hits are let go)."""
        size = self.CHUNK
        chunk = min(count // size, len(self._chunks))
        if chunk < len(self._chunks):
            rules, places = self._rules, self._places
            hits = [
                _unpacked(rules, record, places[at])
                for at, record in enumerate(
                    (r for data in self._chunks[chunk:] for r in _records(data)),
                    start=chunk * size,
                )
            ]
            self._buffer = hits + self._buffer
            del self._chunks[chunk:]
            del places[chunk * size :]
        del self._buffer[count - chunk * size :]

    def unpack(self) -> list[Hit]:
        """The hits, in the order they were packed; the pack is emptied."""
        rules, places, chunks = self._rules, self._places, self._chunks
        self._chunks, self._places = [], []
        chunks.reverse()
        hits: list[Hit] = []
        at = 0
        while chunks:  # each chunk let go once read
            records = _records(chunks.pop())
            hits += map(_unpacked, repeat(rules), records, places[at : at + len(records)])
            at += len(records)
        if hits:
            hits += self._buffer
        else:  # (the buffer is the hits: no copy)
            hits = self._buffer
        self._buffer = []
        return hits

    def data(self, number: Callable[[_Place], int]) -> tuple[Any, ...]:
        """The pack as plain data for another process (from the same fork, which numbers
        the places alike): the rules' ids and severities, the places' numbers."""
        buffer = [self._record(hit) for hit in self._buffer]
        rules = [(rule.id, rule.severity) for rule in self._rules]
        places = [number(place) for place in chained(self._places, map(_place, self._buffer))]
        return rules, places, self._chunks, buffer

    @classmethod
    def from_data(
        cls,
        data: tuple[Any, ...],
        rule: Callable[[str, str], Rule],
        place: Callable[[int], _Place],
    ) -> PackedHits:
        """The pack another process sent as `data`, with the rules and places of this one."""
        rules, places, chunks, buffer = data
        packed = cls()
        packed._rules = [rule(rule_id, severity) for rule_id, severity in rules]
        packed._chunks = list(chunks)
        places = [place(number) for number in places]
        packed._places = places[: len(places) - len(buffer)]
        packed._buffer = list(
            map(_unpacked, repeat(packed._rules), buffer, places[len(places) - len(buffer) :])
        )
        return packed


def _place(hit: Hit) -> _Place:
    """Where a packed hit is (see _Place)."""
    statement = hit.statement
    if statement is None:
        return hit.source
    if hit.source is statement.source:
        return statement
    return (hit.source, statement)


def _records(data: bytes) -> list[_Record]:
    records: list[_Record] = unpack(data)
    return records


def _unpacked(rules: list[Rule], record: _Record, place: _Place) -> Hit:
    number, start, end, obj, message, fix = record
    if isinstance(place, Statement):
        return Hit(rules[number], place.source, start, end, obj, message, fix, place)
    if isinstance(place, tuple):
        return Hit(rules[number], place[0], start, end, obj, message, fix, place[1])
    return Hit(rules[number], place, start, end, obj, message, fix)


def evaluate(
    rules: Sequence[Rule],
    model: SchemaModel,
    problems: Iterable[ParseProblem] = (),
    profile: Profile | None = None,
    migrations: Sequence[MigrationFacts] = (),
) -> list[Hit]:
    """Every hit of the enabled rules. A broken rule raises RuleError (configuration)."""
    hits: list[Hit] = []
    _evaluate(hits, rules, model, problems, profile, migrations)
    return hits


def evaluate_packed(
    rules: Sequence[Rule],
    model: SchemaModel,
    problems: Iterable[ParseProblem] = (),
    profile: Profile | None = None,
    migrations: Sequence[MigrationFacts] = (),
    replay_errors: bool = True,
    compress: bool = True,
) -> PackedHits:
    """`evaluate`'s hits, packed (see PackedHits): for a long history. Without
    `replay_errors`, none for the replay's internal errors (another part of the history's
    hits gives them)."""
    packed = PackedHits(compress)
    _evaluate(packed, rules, model, problems, profile, migrations, replay_errors)
    return packed


def prepare_to_share(rules: Sequence[Rule], model: SchemaModel, profile: Profile) -> None:
    """Before the rules are shared among forked processes: list the model's subjects of
    every rule (as `_run` lists them), and load the built-in rules' conditions compiled to
    Python (~7 ms), once for all processes, which would each do it again."""
    subjects, _ = _subjects_of(model)
    for rule in rules:
        if not rule.evaluated or rule.target in ("statement", "migration"):
            continue  # (their changes by kind, and the migrations, are listed already)
        if not rule_applies(rule, profile):
            continue  # it never runs on this history (_run's own test)
        if rule.target == "history":
            for kind in rule.kinds:
                subjects.history(kind)
        else:
            subjects.guarded(rule)


# Where the hits go: a list, or a pack.
_Hits = list[Hit] | PackedHits


def _evaluate(
    hits: _Hits,
    rules: Sequence[Rule],
    model: SchemaModel,
    problems: Iterable[ParseProblem],
    profile: Profile | None,
    migrations: Sequence[MigrationFacts],
    replay_errors: bool = True,
) -> None:
    profile = profile or Profile()
    context = {"model": model, "profile": profile}
    by_id = {rule.id: rule for rule in rules}
    for problem in problems:
        # `parse-error`, or `psql-meta-command` for psql's backslash commands.
        problem_rule = by_id.get(problem.rule)
        if problem_rule is not None:
            hits.append(
                Hit(
                    problem_rule,
                    problem.source,
                    problem.offset,
                    problem.offset,
                    None,
                    problem.message,
                )
            )
    for statement, error in model.internal_errors if replay_errors else ():
        hits.append(
            _at_statement(
                INTERNAL_ERROR, statement, None, f"could not replay {statement.kind}: {error}"
            )
        )
    subjects, changes_by_kind = _subjects_of(model)
    # Each evaluation has a time budget (see sandbox.limited): a rule that runs away is
    # stopped, reported once, and the other rules still run.
    with limited(sandbox.EVALUATION_SECONDS), remembered_calls():
        for rule in rules:
            rule = as_deployed(rule, profile)
            first = len(hits)
            try:
                _run(rule, subjects, profile, context, changes_by_kind, migrations, hits)
            except _Stopped as stopped:
                # What it found before it was stopped depends on timing.
                if isinstance(hits, PackedHits):
                    hits.truncate(first)
                else:
                    del hits[first:]
                hits.append(_stopped_hit(rule, stopped))
            except _RUNAWAY as error:  # the timer, between two evaluations of the rule
                raise RuleError(
                    f"{rule.source}: rule {rule.id}: stopped: {_reason(error)}"
                ) from None


# The key of a model's subjects in `model.computed` (see _subjects_of).
_SUBJECTS = "rule subjects"


def _subjects_of(model: SchemaModel) -> tuple[_Subjects, dict[str, list[Change]]]:
    """The model's subjects and its changes by kind, made on the first evaluation of the
    model and kept with it: with `--jobs`, each process evaluates the rules of a history in
    several parts, and listing the objects and changes of every kind again for each part cost
    more than the parts' rules on the corpus. The rules only read the model."""
    cached: tuple[_Subjects, dict[str, list[Change]]] | None = model.computed.get(_SUBJECTS)
    if cached is None:
        changes_by_kind: dict[str, list[Change]] = defaultdict(list)
        for change in model.changes:
            changes_by_kind[change.kind].append(change)
        cached = model.computed[_SUBJECTS] = (_Subjects(model), changes_by_kind)
    return cached


class _Subjects:
    """The final schema's objects and the history's, each kind listed once for all the rules
    of an evaluation (rules only read the model), and the values of the attributes the
    rules' guards compare (`column.type.name`), read once a subject."""

    def __init__(self, model: SchemaModel) -> None:
        self.model = model
        self._objects: dict[str, list[Any]] = {}
        self._history: dict[str, list[Any]] = {}
        self._archive_kinds: dict[str, list[Any]] | None = None
        # (target, attribute chain) -> where each string value of the chain is among the
        # target's objects, and where the objects whose value is not a string are.
        self._keys: dict[tuple[str, tuple[str, ...]], tuple[dict[str, array[int]], array[int]]] = {}

    def objects(self, kind: str) -> list[Any]:
        found = self._objects.get(kind)
        if found is None:
            found = self._objects[kind] = self.model.objects_of_kind(kind)
        return found

    def history(self, kind: str) -> list[Any]:
        """model.history_of_kind(kind): the archive's objects of each kind, in its order,
        sorted out in one pass for all the kinds the rules ask (a pass over a long
        history's archive for each kind was most of what listing them cost)."""
        found = self._history.get(kind)
        if found is None:
            if kind == "foreign_key":  # (constraints of a type, not a kind of their own)
                found = self.model.history_of_kind(kind)
            else:
                if self._archive_kinds is None:
                    by_kind: dict[str, list[Any]] = defaultdict(list)
                    for obj in self.model.archive:
                        by_kind[obj.kind].append(obj)
                    self._archive_kinds = by_kind
                found = self._archive_kinds.get(kind, [])
            self._history[kind] = found
        return found

    def guarded(self, rule: Rule) -> list[Any]:
        """The objects of the rule's target its condition can hold on: with a guard (see
        prebuild.condition_guard), those whose guarded attribute is one of its strings, or
        is not a string, or cannot be read as the sandbox reads it (the condition, evaluated,
        says what then). In their order."""
        objects = self.objects(rule.target)
        guard = _guard(rule)
        if guard is None or guard[0] not in (subject_name(rule.target), "obj"):
            return objects
        _, chain, strings = guard
        index = self._keys.get((rule.target, chain))
        if index is None:
            index = self._keys[(rule.target, chain)] = _index(objects, chain)
        by_string, others = index
        # The objects of each string (of none but the rule's), and those the condition must
        # see anyway: no pass over all the objects for each rule.
        parts = [others] if others else []
        parts += [found for found in map(by_string.get, strings) if found]
        if sum(map(len, parts)) == len(objects):
            return objects
        if len(parts) == 1:
            return [objects[position] for position in parts[0]]  # in order already
        return [objects[position] for position in sorted(chained.from_iterable(parts))]


def _index(objects: list[Any], chain: tuple[str, ...]) -> tuple[dict[str, array[int]], array[int]]:
    """Where each string value of `obj.<chain>` is among `objects` (positions in order), and
    the positions of the objects whose value is not a string or cannot be read. Positions as
    arrays of machine integers: as lists, a long history's were an int object each (4 MB for
    100,000 columns), alive while the rules ran.

    Each value is read as the condition reads it, when it reads the attributes themselves
    (safe in the sandbox, no method), else it is left to the condition (`others`). The
    sandbox's verdict on an attribute of a type whose verdicts depend on the type and name
    alone (all but the kinds Jinja's sandbox judges one by one) is asked once a type: each
    attribute of the chain has its own verdicts, by type."""
    by_string: dict[str, array[int]] = {}
    others = array("i")
    verdicts: list[dict[type, bool]] = [{} for _ in chain]
    steps = list(zip(chain, verdicts, strict=True))
    for position, obj in enumerate(objects):
        value = obj
        for attr, known in steps:
            try:
                found = getattr(value, attr)
            except Exception:
                value = _UNREAD
                break
            if type(found) in _METHOD_TYPES:
                value = _UNREAD
                break
            safe = known.get(type(value))
            if safe is None:
                safe = environment().is_safe_attribute(value, attr, found)
                if not isinstance(value, _JUDGED):
                    known[type(value)] = safe
            if not safe:
                value = _UNREAD
                break
            value = found
        if type(value) is str:
            found_positions = by_string.get(value)
            if found_positions is None:
                by_string[value] = array("i", (position,))
            else:
                found_positions.append(position)
        else:
            others.append(position)
    return by_string, others


# A value the guard could not read as the sandbox would: the condition is evaluated.
_UNREAD = object()


def _guard(rule: Rule) -> tuple[str, tuple[str, ...], frozenset[str]] | None:
    """The guard of the rule's condition, worked out when the package was built (keyed by
    the condition's text, so it holds for a rule of the team's with the same condition)."""
    if rule.when is None:
        return None
    from schema_review.rules.prebuilt_python import GUARDS

    guard: tuple[str, tuple[str, ...], frozenset[str]] | None = GUARDS.get(rule.when)
    return guard


def _run(
    rule: Rule,
    subjects: _Subjects,
    profile: Profile,
    context: dict[str, Any],
    changes_by_kind: dict[str, list[Change]],
    migrations: Sequence[MigrationFacts],
    hits: _Hits,
) -> None:
    if not rule.evaluated or not rule_applies(rule, profile):
        return
    if profile.dialect not in rule.dialects:
        return  # written for another database's engine
    if rule.target == "statement":
        # `any` applies a rule to every change, in replay order.
        groups = (
            [subjects.model.changes]
            if "any" in rule.kinds
            else [changes_by_kind.get(kind, []) for kind in rule.kinds]
        )
        for group in groups:
            _run_rule(rule, group, _locate_change, context, hits)
    elif rule.target == "migration":
        for migration in migrations:
            _check_migration(rule, migration, context, hits)
    elif rule.target == "history":
        for kind in rule.kinds:
            _run_rule(rule, subjects.history(kind), _locate_object, context, hits)
    else:
        count = len(subjects.objects(rule.target))
        _run_rule(rule, subjects.guarded(rule), _locate_object, context, hits, count)


def _stopped_hit(rule: Rule, stopped: _Stopped) -> Hit:
    message = (
        f"rule {rule.id} ({rule.source}) was stopped: {stopped.reason}; its findings are left out"
    )
    if stopped.where is None:
        raise RuleError(f"{rule.source}: rule {rule.id}: stopped: {stopped.reason}")
    source, start, end, statement = stopped.where
    return Hit(RULE_STOPPED, source, start, end, rule.id, message, None, statement)


def as_deployed(rule: Rule, profile: Profile) -> Rule:
    """The rule as the profile's deploy sees it: offline (the application is stopped while
    migrations run), a finding whose only harm is a lock that blocks it is info."""
    if profile.offline and rule.lock_only and rule.severity != "info":
        return rule.replace(severity="info")
    return rule


def rule_applies(rule: Rule, profile: Profile) -> bool:
    """Whether the rule can fire at all under this profile and its options (`applies`); a
    rule about what the profile's ORM generates is off unless the team named it, and one
    written for other database engines than the profile's never fires (nor, in a review,
    counts as a strength there)."""
    if rule.off_under(profile.orm) or profile.dialect not in rule.dialects:
        return False
    if rule.applicable is None:
        return True
    try:
        return rule.applicable.matches(variables(profile=profile, options=rule.options))
    except _RUNAWAY as error:
        raise RuleError(
            f"{rule.source}: rule {rule.id}: 'applies' stopped: {_reason(error)}"
        ) from None


_Location = tuple[Statement, str | None, int | None]


def _locate_change(change: Any) -> _Location | None:
    return change.statement, change.object_name, None


def _locate_object(obj: Any) -> _Location | None:
    """A final-schema finding belongs where the object was (re)defined."""
    event = obj.defined
    if event is None:
        return None
    return event.statement, obj.qualified_name, event.offset


def _run_rule(
    rule: Rule,
    subjects: Sequence[Any],
    locate: Callable[[Any], _Location | None],
    context: dict[str, Any],
    hits: _Hits,
    count: int | None = None,
) -> None:
    """Evaluate one rule on many subjects. One dict of names serves them all (templates that
    set a name copy it), and where a hit belongs is worked out only for hits: most subjects
    do not match. `count`: how many subjects there were before a guard left some out (how
    the condition is compiled depends on it)."""
    if not subjects:
        return  # many rules have none: no names, no matcher made
    compiled = rule.compiled
    assert compiled is not None
    names = variables(options=rule.options, **context)
    key = subject_name(rule.target)
    clock = CLOCK
    batch = None
    # The loop runs some 80,000 times on the corpus: nothing in it that a subject that does
    # not match (most) can do without.
    try:
        subject = subjects[0]  # (where a limit the compilation went over is reported)
        batch = compiled.batch(key)
        if batch is not None:  # a built-in rule's: the loop is the condition's own code
            for subject, failed in batch(names, subjects, key):
                located = locate(subject)
                if located is not None:
                    statement, object_name, offset = located
                    _check(
                        rule, subject, statement, object_name, context, hits, offset, failed, names
                    )
            return
        matches = compiled.matcher(len(subjects) if count is None else count)
        for subject in subjects:
            clock.serial += 1  # a new evaluation: its own time budget
            names[key] = subject
            names["obj"] = subject
            try:
                matched = matches(names)
            except _RUNAWAY:
                raise
            except Exception:
                failed = True  # evaluated again in _check, which says where it failed
            else:
                if not matched:  # (outside the `try`, as its truth was before)
                    continue
                failed = False
            located = locate(subject)
            if located is not None:
                statement, object_name, offset = located
                _check(rule, subject, statement, object_name, context, hits, offset, failed, names)
    except _RUNAWAY as error:
        if batch is not None:  # the subject the batch was evaluating (or the last it gave)
            subject = names.get(key, subject)
        where = locate(subject) if subject is not None else None
        at = None
        if where is not None:
            statement = where[0]
            start = statement.start if where[2] is None else where[2]
            at = (statement.source, start, statement.end, statement)
        raise _Stopped(_reason(error), at) from None


def _fix_fits(rule: Rule, names: dict[str, Any]) -> bool:
    """A rule's fix is SQL of its first dialect (PostgreSQL's, for the rules written for it
    first), unless its template reads `profile.dialect` (then it writes each engine's SQL, or
    nothing): a history of another dialect gets the finding without SQL it cannot run."""
    profile = names.get("profile")
    if profile is None or rule.dialects[0] == profile.dialect:
        return True
    return "profile.dialect" in (rule.fix or "")


def _check_migration(
    rule: Rule, migration: MigrationFacts, context: dict[str, Any], hits: _Hits
) -> None:
    compiled = rule.compiled
    assert compiled is not None
    names = variables(migration=migration, obj=migration, options=rule.options, **context)
    CLOCK.serial += 1  # a new evaluation: its own time budget
    try:
        if not compiled.matches(names):
            return
        message = compiled.message.render(names)
        fix = compiled.fix.render(names) if compiled.fix and _fix_fits(rule, names) else None
    except jinja_errors("UndefinedError", "SecurityError", "TemplateError") as error:
        raise RuleError(
            f"{rule_location(rule)}: rule {rule.id}: {error} (evaluating it on {migration.file})"
        ) from None
    except _RUNAWAY as error:
        at = (migration.source, migration.offset, migration.offset, None)
        raise _Stopped(_reason(error), at) from None
    offset = migration.offset
    hits.append(Hit(rule, migration.source, offset, offset, migration.label, message, fix or None))


def _check(
    rule: Rule,
    subject: Any,
    statement: Statement,
    object_name: str | None,
    context: dict[str, Any],
    hits: _Hits,
    offset: int | None = None,
    condition: bool = True,
    names: dict[str, Any] | None = None,
) -> None:
    """A finding of `rule` on `subject` when its condition holds; `condition`: the
    condition is still to be evaluated (the engine's loop evaluated it already, unless it
    failed there: a condition reads the model and options, never names a template sets).
    `names`: the loop's, set for `subject` (templates that set a name work on a copy)."""
    compiled = rule.compiled
    assert compiled is not None
    if names is None:
        names = variables(
            **{
                subject_name(rule.target): subject,
                "obj": subject,
                "options": rule.options,
                **context,
            }
        )
    try:
        if condition and not compiled.matches(names):
            return
        message = compiled.message.render(names)
        fix = compiled.fix.render(names) if compiled.fix and _fix_fits(rule, names) else None
        if compiled.object is not None:
            object_name = compiled.object.render(names) or object_name
    except jinja_errors("UndefinedError", "SecurityError") as error:
        raise RuleError(
            f"{rule_location(rule)}: rule {rule.id}: {error} "
            f"(evaluating it on {object_name or 'a statement'} at "
            f"{statement.file}:{statement.line})"
        ) from None
    except jinja_errors("TemplateError") as error:
        raise RuleError(f"{rule_location(rule)}: rule {rule.id}: {error}") from None
    except _RUNAWAY:
        raise  # the rule is stopped (see _run_rule)
    except Exception as error:
        if not is_builtin(rule):
            # A rule of the team's that fails on some object: the rule is wrong, say where.
            raise RuleError(
                f"{rule_location(rule)}: rule {rule.id}: {type(error).__name__}: {error} "
                f"(evaluating it on {object_name or 'a statement'} at "
                f"{statement.file}:{statement.line})"
            ) from None
        # A fact the model could not compute for a built-in rule: report, go on.
        hits.append(
            _at_statement(
                INTERNAL_ERROR,
                statement,
                object_name,
                f"rule {rule.id} failed: {type(error).__name__}: {error}",
            )
        )
        return
    start = statement.start if offset is None else offset
    hits.append(
        Hit(
            rule,
            statement.source,
            start,
            statement.end,
            object_name,
            message,
            fix or None,
            statement,
        )
    )


def _at_statement(
    rule: Rule,
    statement: Statement,
    object_name: str | None,
    message: str,
    fix: str | None = None,
    offset: int | None = None,
) -> Hit:
    """A hit on a statement, or on the part of it that defines the object (`offset`)."""
    start = statement.start if offset is None else offset
    return Hit(rule, statement.source, start, statement.end, object_name, message, fix, statement)
