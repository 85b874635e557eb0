"""The fix round trip: a finding's `fix` runs on PostgreSQL and clears the finding.

For one finding of one history:

1. the history up to the fix's place is applied to a real database as its runner applies it;
2. the fix is applied as its own migration file(s) under the same runner (a file the runner
   wraps in a transaction, or not, as the fix's own annotations say);
3. the history with the fix is linted again: the finding is gone and nothing at or above its
   severity appeared.

Where a fix goes follows what the review says of it (report.py, `_where`):

- a finding on the final schema (a table, a column, an index ...): a new migration after the
  whole history;
- a finding on a statement: the statement is rewritten as the fix, so the history is cut
  before it (its file keeps the statements before it) and the fix follows as new files;
- `missing-lock-timeout` / `missing-statement-timeout`: the SET goes at the top of the file;
- `uncommitted-transaction`: the COMMIT goes at the end of the file;
- `missing-extension`: CREATE EXTENSION goes right before the statement that needs it.

A fix made of several migrations says where each starts with a comment line
(`-- in a later migration ...`, `-- in a migration of its own ...`); that line is the
reader's, not part of the file. `-- outside the migration tool ...` starts SQL that a runner
without a way out of its transaction (drizzle) cannot run: it is applied outside any
transaction, as the fix tells the reader to.

Histories are applied once: a database is copied (CREATE DATABASE ... TEMPLATE) at the point
each finding needs, so a history of hundreds of files costs one pass.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from schema_review.model import replay
from schema_review.model.schema import FINAL_KINDS
from schema_review.parse import SourceFile, Statement, parse_postgres
from schema_review.pipeline import ReplayedHistory
from schema_review.profile import file_in_transaction
from schema_review.rules import SEVERITIES, Hit, Rule, evaluate, rule_applies
from schema_review.verify.apply import (
    AUTOCOMMIT,
    apply_file,
    file_mode,
    install_stand_ins,
    provide_extensions,
)
from schema_review.verify.server import Server

# Lines that start the next migration file of a fix; the line itself is advice to the reader.
NEW_FILE = re.compile(
    r"^--\s*in (?:a later migration|a migration of its own|a new migration)\b.*$", re.IGNORECASE
)
# A step the runner cannot take (drizzle's one transaction): run by hand, outside it.
OUTSIDE = re.compile(r"^--\s*outside the migration tool\b.*$", re.IGNORECASE)
# What a fix must never hold in its SQL: a placeholder for the reader to fill.
PLACEHOLDER = re.compile(r"<[a-z][^<>\n]*>|\.\.\.")

PREPEND = frozenset({"missing-lock-timeout", "missing-statement-timeout"})
APPEND = frozenset({"uncommitted-transaction"})
BEFORE = frozenset({"missing-extension"})
RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}


def placement(rule: Rule) -> str:
    if rule.id in PREPEND:
        return "prepend"
    if rule.id in APPEND:
        return "append"
    if rule.id in BEFORE:
        return "before"
    if rule.target in FINAL_KINDS:
        return "new"
    return "replace"


@dataclass(frozen=True)
class Segment:
    text: str
    outside: bool = False  # run by hand outside any transaction (a runner without a way out)
    header: str = ""  # the comment line that says where it goes (diesel's metadata.toml ...)


def segments(fix: str) -> list[Segment]:
    """The files of a fix, in order, without the comment lines that separate them."""
    parts: list[Segment] = []
    lines: list[str] = []
    outside = False
    header = ""
    for line in fix.splitlines():
        new_file = NEW_FILE.match(line.strip())
        out = OUTSIDE.match(line.strip())
        if new_file or out:
            if any(_code(x) for x in lines):
                parts.append(Segment("\n".join(lines) + "\n", outside, header))
            lines = []
            outside = bool(out)
            header = line.strip()
            continue
        lines.append(line)
    if any(_code(x) for x in lines):
        parts.append(Segment("\n".join(lines) + "\n", outside, header))
    return parts


def _code(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("--")


def sql_lines(fix: str) -> list[str]:
    """The lines of a fix that are SQL, not comments."""
    return [line for line in fix.splitlines() if _code(line)]


@dataclass
class Case:
    """One finding to round-trip: `hit` in `history`."""

    label: str
    history: ReplayedHistory
    hit: Hit
    setup_sql: str = ""
    setup_files: tuple[Path, ...] = ()

    @property
    def rule(self) -> Rule:
        return self.hit.rule

    @property
    def file_index(self) -> int:
        """The file the fix's place depends on (the last file for a new migration)."""
        if placement(self.rule) == "new":
            return len(self.history.sources)
        return next(i for i, s in enumerate(self.history.sources) if s is self.hit.source)


@dataclass
class Outcome:
    case: Case
    failures: list[str] = field(default_factory=list)
    history_failures: list[str] = field(default_factory=list)  # files before the fix's place

    @property
    def ok(self) -> bool:
        return not self.failures


# -- the files of the history with the fix --------------------------------------------------


@dataclass
class _File:
    source: SourceFile
    statements: list[Statement]
    outside: bool = False


def _new_source(
    history: ReplayedHistory, name: str, segment: Segment, order: int, folder: Path
) -> _File:
    """A migration file the fix adds, laid out as the runner expects (diesel's metadata.toml
    next to its up.sql, popx's `.autocommit.` name) so that its transaction is the runner's."""
    runner = history.profile.runner
    text = segment.text
    said = segment.header + "\n" + text
    if runner == "diesel":
        directory = folder / f"9999-12-31-{order:06d}_{name}"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "up.sql"
        if re.search(r"run_in_transaction\s*=\s*false", said):
            (directory / "metadata.toml").write_text("run_in_transaction = false\n")
    elif runner == "pop" and ".autocommit." in said:
        path = folder / f"99999999999999_{name}.autocommit.up.sql"
    else:
        path = folder / f"{99999000 + order}_{name}.sql"
    path.write_text(text, encoding="utf-8")
    set_index = history.sources[0].set_index if history.sources else 0
    source = SourceFile(path.as_posix(), text, order, set_index, path.name)
    statements, _ = parse_postgres(source)
    source.transaction = file_in_transaction(runner, text, path.name, path) and (
        history.profile.transaction_mode != "implicit" or len(statements) > 1
    )
    return _File(source, list(statements))


def _cut(
    history: ReplayedHistory, index: int, statement: Statement, order: int, after: bool = False
) -> _File:
    """File `index` up to `statement` (or, `after`, what follows it: blanked out before it,
    so that lines stay where they were)."""
    source = history.sources[index]
    if after:
        kept = [s for s in history.parsed[index] if s.start >= statement.end]
        text = re.sub(r"[^\n]", " ", source.text[: statement.end]) + source.text[statement.end :]
    else:
        kept = [s for s in history.parsed[index] if s.start < statement.start]
        text = source.text[: statement.start]
    cut = SourceFile(source.display, text, order, source.set_index, source.identity)
    cut.transaction = source.transaction
    statements, _ = parse_postgres(cut)
    assert len(statements) == len(kept), "the cut file parses as its statements"
    return _File(cut, list(statements))


def fixed_files(case: Case, folder: Path) -> tuple[list[_File], list[_File]]:
    """(the files of the history kept before the fix's place, the files from there on:
    what the copied database still applies and then what the fix adds)."""
    history = case.history
    hit = case.hit
    assert hit.fix
    where = placement(case.rule)
    index = case.file_index
    pairs = zip(history.sources[:index], history.parsed[:index], strict=True)
    before = [_File(s, p) for s, p in pairs]
    order = len(history.sources) + 1
    after: list[_File] = []
    if where == "new" or where == "replace":
        if where == "replace":
            assert hit.statement is not None
            after.append(_cut(history, index, hit.statement, history.sources[index].order))
        for number, segment in enumerate(segments(hit.fix)):
            added = _new_source(history, f"fix_{number}", segment, order + number, folder)
            added.outside = segment.outside
            if segment.outside:
                added.source.transaction = False  # run with psql, as the fix says
            after.append(added)
        if where == "replace":
            assert hit.statement is not None
            rest = _cut(history, index, hit.statement, order + 90, after=True)
            if rest.statements:
                after.append(rest)
    else:
        source = history.sources[index]
        text = hit.fix.strip() + "\n" + source.text
        if where == "append":
            text = source.text.rstrip() + "\n" + hit.fix.strip() + "\n"
        elif where == "before":
            assert hit.statement is not None
            at = hit.statement.start
            text = source.text[:at] + hit.fix.strip() + "\n" + source.text[at:]
        changed = SourceFile(source.display, text, source.order, source.set_index, source.identity)
        changed.transaction = source.transaction
        statements, _ = parse_postgres(changed)
        after.append(_File(changed, list(statements)))
    return before, after


# -- on the server ----------------------------------------------------------------------------


def _apply(connection: psycopg.Connection[Any], history: ReplayedHistory, file: _File) -> str:
    mode = AUTOCOMMIT if file.outside else file_mode(history.profile, file.source)
    outcome = apply_file(connection, file.source, file.statements, mode)
    return "" if outcome.ok else str(outcome.failure)


def _copy(server: Server, template: str) -> str:
    name = f"{template}_c{_copy.counter}"  # type: ignore[attr-defined]
    _copy.counter += 1  # type: ignore[attr-defined]
    with server.connect() as connection:
        connection.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    return name


_copy.counter = 0  # type: ignore[attr-defined]


def run_cases(server: Server, cases: Sequence[Case], rules: Sequence[Rule]) -> list[Outcome]:
    """Round-trip the cases of one history (all of `cases` share it)."""
    if not cases:
        return []
    history = cases[0].history
    assert all(c.history is history for c in cases)
    outcomes = {id(c): Outcome(c) for c in cases}
    by_file: dict[int, list[Case]] = {}
    for case in cases:
        by_file.setdefault(case.file_index, []).append(case)
    provide_extensions(server)
    failed: list[str] = []
    with server.scratch_database() as database, tempfile.TemporaryDirectory() as scratch:
        with database.connect() as connection:
            install_stand_ins(connection, history.profile, cases[0].setup_files)
            if cases[0].setup_sql:
                connection.execute(cases[0].setup_sql.encode())
        for index in range(len(history.sources) + 1):
            for case in by_file.get(index, []):
                outcome = outcomes[id(case)]
                outcome.history_failures = list(failed)
                _run_case(server, database.name, case, rules, outcome, Path(scratch))
            if index < len(history.sources) and index < max(by_file):
                file = _File(history.sources[index], history.parsed[index])
                with database.connect() as connection:
                    failure = _apply(connection, history, file)
                if failure:
                    failed.append(failure)
    return [outcomes[id(c)] for c in cases]


def _run_case(
    server: Server,
    template: str,
    case: Case,
    rules: Sequence[Rule],
    outcome: Outcome,
    scratch: Path,
) -> None:
    fix = case.hit.fix or ""
    for line in sql_lines(fix):
        if PLACEHOLDER.search(re.sub(r"'[^']*'", "''", line)):
            outcome.failures.append(f"placeholder in the fix's SQL: {line.strip()}")
    folder = scratch / f"case{id(case)}"
    folder.mkdir()
    before, after = fixed_files(case, folder)
    name = _copy(server, template)
    try:
        with server.connect(name) as connection:
            for file in after:
                failure = _apply(connection, case.history, file)
                if failure:
                    outcome.failures.append(f"fails on PostgreSQL: {failure}")
                    break
    finally:
        server.drop_database(name)
    outcome.failures.extend(relint(case, before, after, rules))


def _hits(history: ReplayedHistory, files: Sequence[_File], rules: Sequence[Rule]) -> list[Hit]:
    statements = [s for f in files for s in f.statements]
    model = replay(statements, history.profile)
    applicable = [r for r in rules if rule_applies(r, history.profile)]
    return evaluate(applicable, model, (), history.profile)


def _key(hit: Hit) -> tuple[str, str]:
    return hit.rule.id, hit.object or ""


def relint(case: Case, before: list[_File], after: list[_File], rules: Sequence[Rule]) -> list[str]:
    """What is wrong after the fix: the finding still there, or a finding at or above its
    severity that the fix brought (on a file the fix added, or on an object the history
    did not have it on)."""
    history = case.history
    hit = case.hit
    where = placement(case.rule)
    own = [r for r in rules if r.id != hit.rule.id] + [hit.rule]
    if where == "new":
        original = before
    else:
        index = case.file_index
        original = [*before, _File(history.sources[index], history.parsed[index])]
    old = _hits(history, original, own)
    new = _hits(history, before + after, own)
    added = {
        id(f.source)
        for f in after
        if len(history.sources) < f.source.order < len(history.sources) + 90
    }
    changed = {id(f.source) for f in after}
    problems = []
    for h in new:
        if h.rule.id != hit.rule.id:
            continue
        if (where == "new" and _key(h) == _key(hit)) or (
            where != "new" and id(h.source) in changed
        ):
            problems.append(f"still reported after the fix: {h.rule.id}: {h.message}")
    known = {_key(h) for h in old}
    # A rewritten statement's own findings of other rules are not the fix's doing.
    replaced = {_key(h) for h in old if hit.statement is not None and h.statement is hit.statement}
    rank = RANK[hit.rule.severity]
    for h in new:
        if RANK[h.rule.severity] > rank or h.rule.id == hit.rule.id:
            continue
        if h.rule.id == "object-created-then-dropped" and h.object == hit.object:
            continue  # the fix replaces the object the finding is about: it drops it
        if h.source.order >= len(history.sources) + 90:
            continue  # the statements after a rewritten one, as they were (split off)
        if id(h.source) in added:
            brought = _key(h) not in replaced and (
                h.rule.target not in FINAL_KINDS or _key(h) not in known
            )
        else:
            brought = _key(h) not in known
        if brought:
            problems.append(f"the fix raises {h.rule.severity} {h.rule.id}: {h.message}")
    return problems


def fixed_hits(hits: Sequence[Hit]) -> Iterator[Hit]:
    for hit in hits:
        if hit.fix and hit.fix.strip():
            yield hit
