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

import itertools
import re
import tempfile
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from schema_review.model import replay
from schema_review.model.schema import FINAL_KINDS
from schema_review.parse import SourceFile, Statement, parse_postgres
from schema_review.parse.plpgsql_blocks import BlockStep, do_block_steps
from schema_review.pipeline import ReplayedHistory
from schema_review.profile import file_in_transaction
from schema_review.rules import SEVERITIES, Hit, Rule, evaluate, rule_applies
from schema_review.verify.apply import (
    AUTOCOMMIT,
    apply_file,
    file_mode,
    install_stand_ins,
    pieces,
    provide_extensions,
)
from schema_review.verify.apply import _failure as failure_of
from schema_review.verify.apply import _send as send_piece
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


def _enclosing(history: ReplayedHistory, index: int, statement: Statement) -> Statement:
    """The statement of the file that holds `statement`: itself, or the DO block it runs in
    (the replay reads the SQL of a DO block as statements of the file, at their place)."""
    for candidate in history.parsed[index]:
        if candidate is statement:
            return candidate
    for candidate in history.parsed[index]:
        if candidate.start <= statement.start and statement.end <= candidate.end:
            return candidate
    raise AssertionError(f"{statement!r} is in no statement of its file")


# ALTER TABLE sub-commands a statement rule's `kinds` names.
_SUBTYPES = {
    "add_column": ("AT_AddColumn",),
    "add_constraint": ("AT_AddConstraint", "AT_AddColumn"),
    "alter_column_type": ("AT_AlterColumnType",),
    "set_not_null": ("AT_SetNotNull",),
    "drop_not_null": ("AT_DropNotNull",),
    "drop_column": ("AT_DropColumn",),
    "drop_constraint": ("AT_DropConstraint",),
    "validate_constraint": ("AT_ValidateConstraint",),
    "set_default": ("AT_ColumnDefault",),
}


def _command_names(cmd: dict[str, Any]) -> set[str]:
    """The names an ALTER TABLE sub-command acts on (column, constraint)."""
    names = {cmd.get("name", "")}
    definition = cmd.get("def", {})
    column = definition.get("ColumnDef", {})
    names.add(column.get("colname", ""))
    for item in column.get("constraints", ()):
        names.add(item.get("Constraint", {}).get("conname", ""))
    names.add(definition.get("Constraint", {}).get("conname", ""))
    names.discard("")
    return names


def _command(hit: Hit, statement: Statement) -> int | None:
    """Which sub-command of an ALTER TABLE of several the finding is about, when its kind and
    the name of its object tell (None: the whole statement)."""
    if statement.kind != "AlterTableStmt":
        return None
    cmds = [c.get("AlterTableCmd", {}) for c in statement.node.get("cmds", ())]
    if len(cmds) < 2:
        return None
    subtypes = {t for kind in hit.rule.kinds for t in _SUBTYPES.get(kind, ())}
    name = (hit.object or "").rsplit(".", 1)[-1]
    fitting = [i for i, c in enumerate(cmds) if c.get("subtype") in subtypes]
    named = [i for i in fitting if name in _command_names(cmds[i])]
    if len(named) == 1:
        return named[0]
    return fitting[0] if len(fitting) == 1 else None


def _alter_sql(statement: Statement, keep: slice) -> str:
    """The ALTER TABLE `statement` with only the sub-commands `keep` ('' for none)."""
    import pglast
    from pglast.stream import RawStream

    (raw,) = pglast.parse_sql(statement.text)
    node = raw.stmt
    assert isinstance(node, pglast.ast.AlterTableStmt)
    node.cmds = tuple(node.cmds or ())[keep]
    return str(RawStream()(node)) if node.cmds else ""


def _split(history: ReplayedHistory, index: int, hit: Hit) -> tuple[str, str]:
    """File `index` cut at the statement the fix rewrites: (what runs before the fix, what
    runs after it, blanked out before so that lines stay where they were).

    - a statement: the file up to it, and what follows it;
    - one sub-command of an ALTER TABLE of several: the sub-commands before it stay before
      the fix, those after it after the fix (as a reader who rewrites that one would do);
    - a statement a DO block runs: the block is run twice, up to the statement (without it)
      before the fix and from after it after the fix, each with `NULL` in the place of the
      statements it leaves out; the rest of the file follows."""
    assert hit.statement is not None
    head, tail = _split_at(history, index, hit)
    if _in_explicit_transaction(history, index, _enclosing(history, index, hit.statement)):
        # BEGIN ... COMMIT around the statement: the transaction ends before the fix and a
        # new one holds the rest, as a reader moving the statement out of it would write.
        head += "\nCOMMIT;\n"
        blank = len(tail) - len(tail.lstrip(" "))
        tail = "BEGIN;" + tail[6:] if blank >= 6 else "BEGIN;\n" + tail
    return head, tail


def _in_explicit_transaction(history: ReplayedHistory, index: int, statement: Statement) -> bool:
    """Whether the file opened a transaction (BEGIN) before `statement` and has not ended it."""
    open_ = False
    for earlier in history.parsed[index]:
        if earlier.start >= statement.start:
            break
        if earlier.kind == "TransactionStmt":
            kind = earlier.node.get("kind", "")
            if kind in ("TRANS_STMT_BEGIN", "TRANS_STMT_START"):
                open_ = True
            elif kind in ("TRANS_STMT_COMMIT", "TRANS_STMT_ROLLBACK", "TRANS_STMT_PREPARE"):
                open_ = False
    return open_


def _split_at(history: ReplayedHistory, index: int, hit: Hit) -> tuple[str, str]:
    assert hit.statement is not None
    statement = hit.statement
    text = history.sources[index].text
    outer = _enclosing(history, index, statement)
    if outer is not statement:
        if (outer.start, outer.end) == (statement.start, statement.end):
            # A body the file quotes: the block's span is all that is known; it goes.
            return text[: outer.start], _blank(text[: outer.end]) + text[outer.end :]
        inner = _block_statements(outer)
        first = _nulled(text, [s for s in inner if s.start >= statement.start])
        then = _nulled(text, [s for s in inner if s.start <= statement.start])
        head = first[: outer.end]
        tail = _blank(text[: outer.start]) + then[outer.start : outer.end] + text[outer.end :]
        return head, tail
    command = _command(hit, statement)
    if command is None:
        return text[: statement.start], _blank(text[: statement.end]) + text[statement.end :]
    earlier = _alter_sql(statement, slice(None, command))
    later = _alter_sql(statement, slice(command + 1, None))
    head = text[: statement.start] + (earlier + ";\n" if earlier else "")
    lines = "\n" * text.count("\n", statement.start, statement.end)
    tail = _blank(text[: statement.start]) + later + lines + text[statement.end :]
    return head, tail


def _block_statements(block: Statement) -> list[Statement]:
    """The SQL statements a DO block runs, in order, wherever they are in it."""
    found: list[Statement] = []

    def walk(steps: list[BlockStep]) -> None:
        for step in steps:
            if step.statement is not None:
                found.append(step.statement)
            walk(step.then)
            walk(step.otherwise)

    walk(do_block_steps(block) or [])
    return found


def _nulled(text: str, statements: Sequence[Statement]) -> str:
    """`text` with each of `statements` (of a PL/pgSQL body) replaced by `NULL`, a statement
    that does nothing; lines stay where they were."""
    for statement in sorted(statements, key=lambda s: -s.start):
        span = text[statement.start : statement.end]
        text = text[: statement.start] + "NULL" + _blank(span[4:]) + text[statement.end :]
    return text


def _cut_file(history: ReplayedHistory, index: int, text: str, order: int) -> _File:
    source = history.sources[index]
    cut = SourceFile(source.display, text, order, source.set_index, source.identity)
    cut.transaction = source.transaction
    statements, problems = parse_postgres(cut)
    known = sum(1 for p in history.problems if p.source is source)
    assert len(problems) <= known, f"the cut of {source.display} does not parse: {problems}"
    return _File(cut, list(statements))


def _blank(text: str) -> str:
    return re.sub(r"[^\n]", " ", text)


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
        head = tail = ""
        if where == "replace":
            head, tail = _split(history, index, hit)
            after.append(_cut_file(history, index, head, history.sources[index].order))
        for number, segment in enumerate(segments(hit.fix)):
            added = _new_source(history, f"fix_{number}", segment, order + number, folder)
            added.outside = segment.outside
            if segment.outside:
                added.source.transaction = False  # run with psql, as the fix says
            after.append(added)
        if where == "replace":
            rest = _cut_file(history, index, tail, order + 90)
            if rest.statements:
                after.append(rest)
    else:
        source = history.sources[index]
        text = hit.fix.strip() + "\n" + source.text
        if where == "append":
            text = source.text.rstrip() + "\n" + hit.fix.strip() + "\n"
        elif where == "before":
            assert hit.statement is not None
            at = _enclosing(history, index, hit.statement).start
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


# The hits of a history up to a file (with that file, or before it), by rules linted.
Linted = dict[tuple[int, bool, frozenset[str]], list[Hit]]


def _copy(server: Server, template: str) -> str:
    name = f"{template}_c{next(_COPIES)}"
    with server.connect() as connection:
        connection.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    return name


_COPIES = itertools.count()


def run_cases(
    server: Server,
    cases: Sequence[Case],
    rules: Sequence[Rule] | Callable[[Rule], Sequence[Rule]],
) -> list[Outcome]:
    """Round-trip the cases of one history (all of `cases` share it), in one pass over it:
    the database is copied at each file a case needs. The fixed history is linted with
    `rules`, or with `rules(the case's rule)`."""
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
    linted: dict[
        tuple[int, bool, frozenset[str]], list[Hit]
    ] = {}  # relint's hits of the history, by place
    with server.scratch_database() as database, tempfile.TemporaryDirectory() as scratch:
        with database.connect() as connection:
            install_stand_ins(connection, history.profile, cases[0].setup_files)
            if cases[0].setup_sql:
                connection.execute(cases[0].setup_sql.encode())
        for index in range(len(history.sources) + 1):
            for case in by_file.get(index, []):
                outcome = outcomes[id(case)]
                outcome.history_failures = list(failed)
                selection = rules(case.rule) if callable(rules) else rules
                # The last case needs no copy: nothing runs on the database after it.
                last = case is by_file[max(by_file)][-1]
                try:
                    _run_case(
                        server, database.name, case, selection, outcome, Path(scratch), linted, last
                    )
                except Exception as error:  # one case's trouble is reported, the rest go on
                    trace = traceback.format_exception(error)
                    outcome.failures.append("the round trip breaks: " + "".join(trace[-3:]))
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
    linted: Linted,
    last: bool = False,
) -> None:
    fix = case.hit.fix or ""
    for line in sql_lines(fix):
        if PLACEHOLDER.search(re.sub(r"'[^']*'", "''", line)):
            outcome.failures.append(f"placeholder in the fix's SQL: {line.strip()}")
    folder = scratch / f"case{id(case)}"
    folder.mkdir()
    before, after = fixed_files(case, folder)
    if _rolls_back(after) and not last:
        with server.connect(template) as connection:
            failure = _apply_rolled_back(connection, case.history, after)
        if failure:
            outcome.failures.append(f"fails on PostgreSQL: {failure}")
    else:
        name = template if last else _copy(server, template)
        try:
            with server.connect(name) as connection:
                for file in after:
                    failure = _apply(connection, case.history, file)
                    if failure:
                        outcome.failures.append(f"fails on PostgreSQL: {failure}")
                        break
        finally:
            if not last:
                server.drop_database(name)
    outcome.failures.extend(relint(case, before, after, rules, linted))


# What cannot run in a transaction block, or is not undone by ROLLBACK (setval), or ends the
# transaction: files with any of these are applied to a copy of the database.
_NOT_ROLLED_BACK = re.compile(
    r"\b(?:CONCURRENTLY|VACUUM|ADD\s+VALUE|setval|ALTER\s+SYSTEM|CREATE\s+DATABASE)\b",
    re.IGNORECASE,
)
_TRANSACTION_KINDS = frozenset({"TransactionStmt", "VacuumStmt", "CallStmt", "CreatedbStmt"})


def _rolls_back(files: Sequence[_File]) -> bool:
    """Whether the files can run in one transaction that is then rolled back, with the same
    outcome as when the runner applies them one by one: none of them has a statement that
    cannot run in a transaction block or controls transactions, or whose effect a ROLLBACK
    does not undo. (ALTER TYPE ... ADD VALUE runs in a transaction, but a value added there
    cannot be used before it commits: such files go one by one too.)"""
    for file in files:
        if file.outside or _NOT_ROLLED_BACK.search(file.source.text):
            return False
        if any(s.kind in _TRANSACTION_KINDS for s in file.statements):
            return False
    return True


def _apply_rolled_back(
    connection: psycopg.Connection[Any], history: ReplayedHistory, files: Sequence[_File]
) -> str:
    """Apply `files` in order in one transaction and roll it back: the database is left as it
    was, so the next case needs no copy. Each file starts with the settings a new session has
    (RESET ALL), as the runner's next file would."""
    connection.execute("BEGIN")
    try:
        for file in files:
            connection.execute("SET SESSION AUTHORIZATION DEFAULT; RESET ALL")
            for piece in pieces(file.source, file.statements):
                try:
                    send_piece(connection, file.source, piece)
                except psycopg.Error as error:
                    return str(failure_of(file.source, piece.start, piece.end, error))
        return ""
    finally:
        connection.execute("ROLLBACK")


def _hits(history: ReplayedHistory, files: Sequence[_File], rules: Sequence[Rule]) -> list[Hit]:
    statements = [s for f in files for s in f.statements]
    model = replay(statements, history.profile)
    applicable = [r for r in rules if rule_applies(r, history.profile)]
    return evaluate(applicable, model, (), history.profile)


def _key(hit: Hit) -> tuple[str, str]:
    return hit.rule.id, hit.object or ""


def _same(hit: Hit) -> tuple[str, str, str]:
    return hit.rule.id, hit.object or "", hit.message


def relint(
    case: Case,
    before: list[_File],
    after: list[_File],
    rules: Sequence[Rule],
    linted: Linted | None = None,
) -> list[str]:
    """What is wrong after the fix: the finding still there, or a finding at or above its
    severity that the fix brought.

    The fix brings a finding on a file it added (one the statement it rewrites did not have
    already), or on an object the history did not have it on. The statements of the history
    around a rewritten one are the history's: their own findings are not the fix's doing,
    even those that change because the file is cut in two around the fix (a foreign key
    dropped before the cut and added again after it). `linted` keeps the history's own hits
    between the cases of one history."""
    history = case.history
    hit = case.hit
    where = placement(case.rule)
    index = case.file_index
    rank = RANK[hit.rule.severity]
    # Only findings at or above the finding's severity count: the others are not linted.
    own = [r for r in rules if r.id != hit.rule.id and RANK[r.severity] <= rank] + [hit.rule]
    key = (index, where == "new", frozenset(r.id for r in own))
    if linted is None or key not in linted:
        original = before
        if where != "new":
            original = [*before, _File(history.sources[index], history.parsed[index])]
        hits = _hits(history, original, own)
        if linted is None:
            old = hits
        else:
            old = linted[key] = hits
    else:
        old = linted[key]
    new = _hits(history, before + after, own)
    count = len(history.sources)
    added = {id(f.source) for f in after if count < f.source.order < count + 90}
    changed = {id(f.source) for f in after}
    problems = []
    if where == "new":
        still = [h for h in new if _key(h) == _key(hit)]
    elif where == "replace":
        # The statement is gone: a hit of the rule on the files the fix added is the finding
        # still there (those on the statements around it are other findings).
        still = [h for h in new if h.rule.id == hit.rule.id and id(h.source) in added]
    else:
        # The file itself changed: the finding is gone when the file has one hit fewer like
        # it (as this history up to the file words it: a message can name what later files do).
        source = history.sources[index]
        mine = [h for h in old if h.source is source and h.rule.id == hit.rule.id]
        like = next((_same(h) for h in mine if h.start == hit.start), _same(hit))
        had = sum(1 for h in mine if _same(h) == like)
        has = sum(1 for h in new if id(h.source) in changed and _same(h) == like)
        still = [hit] if has >= had else []
    problems += [f"still reported after the fix: {h.rule.id}: {h.message}" for h in still]
    known = {_key(h) for h in old}
    # Where the history's own findings are: a finding of an earlier statement whose message
    # or object the fix renames (ADD PRIMARY KEY USING INDEX renames the index) is not new.
    placed = {(h.rule.id, id(h.statement)) for h in old if h.statement is not None}
    # A rewritten statement's own findings of other rules are not the fix's doing.
    replaced = {_key(h) for h in old if hit.statement is not None and h.statement is hit.statement}
    for h in new:
        if RANK[h.rule.severity] > rank or h.rule.id == hit.rule.id:
            continue
        if h.rule.id == "object-created-then-dropped" and h.object == hit.object:
            continue  # the fix replaces the object the finding is about: it drops it
        if id(h.source) in added:
            brought = _key(h) not in replaced and (
                h.rule.target not in FINAL_KINDS or _key(h) not in known
            )
        elif id(h.source) in changed:
            brought = h.rule.target in FINAL_KINDS and _key(h) not in known
        else:
            brought = _key(h) not in known and (h.rule.id, id(h.statement)) not in placed
        if brought:
            problems.append(f"the fix raises {h.rule.severity} {h.rule.id}: {h.message}")
    return problems


def fixed_hits(hits: Sequence[Hit]) -> Iterator[Hit]:
    for hit in hits:
        if hit.fix and hit.fix.strip():
            yield hit
