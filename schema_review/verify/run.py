"""`schema-review verify`: run the migrations on a real PostgreSQL and report what it says.

For each history: a fresh database (of the embedded server, an installed one, or a server
given by URL), the files applied as their runner applies them (build.py), and then:

- each file that fails is a `fails-on-postgres` finding at the failing statement, with
  PostgreSQL's message, detail, hint and SQLSTATE; a later failure that may only follow from
  an earlier one (it names what the failed file would have made, or uses an extension the
  server lacks) says so;
- each CREATE EXTENSION of an extension the server lacks is skipped, one
  `extension-not-available` finding each;
- the catalog is compared with the replayed model of what the server kept, one
  `model-differs-from-postgres` finding a difference.

With `trace`, every file is traced (trace.py) and the traces come with the result.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schema_review.config import Settings
from schema_review.export import history_label, schema_document
from schema_review.findings import build_findings, find_suppressions
from schema_review.model import SchemaModel
from schema_review.parse import SourceFile, Statement
from schema_review.pipeline import LintRun, ReplayedHistory, replay_histories
from schema_review.rules import Hit, Rule, load_rules
from schema_review.verify.apply import AUTOCOMMIT, Failure, FileOutcome
from schema_review.verify.build import ServerBuild, as_the_server_kept_it, build_on_server
from schema_review.verify.compare import Comparison, Difference, compare
from schema_review.verify.server import Server, ServerError, connect_to, exit_on_termination, start
from schema_review.verify.trace import FileTrace, heaviest

FAILS = "fails-on-postgres"
NO_EXTENSION = "extension-not-available"
DIFFERS = "model-differs-from-postgres"

# Errors of something missing: what an earlier failure (or a skipped extension) explains.
_MISSING = frozenset({"42P01", "42704", "42883", "42703", "3F000", "42P06", "42710", "42P07"})


@dataclass(slots=True)
class HistoryCheck:
    history: ReplayedHistory
    build: ServerBuild
    comparison: Comparison
    label: str


@dataclass(slots=True)
class Verification:
    """What `verify` found: the findings as a lint run (for every output format), the server,
    each history's build and comparison, and the time it took."""

    run: LintRun
    server: dict[str, Any]
    checks: list[HistoryCheck]
    start_seconds: float
    notes: list[str] = field(default_factory=list)
    traced: bool = False

    @property
    def traces(self) -> list[FileTrace]:
        return [t for c in self.checks for t in c.build.traces]

    @property
    def files(self) -> int:
        return sum(len(c.build.outcomes) for c in self.checks)

    @property
    def apply_seconds(self) -> float:
        return sum(c.build.seconds for c in self.checks)

    def summary(self) -> dict[str, Any]:
        """Deterministic facts of the run (no times): for the JSON output."""
        return {
            "server": self.server,
            "histories": [
                {
                    "history": c.label,
                    "files": len(c.build.outcomes),
                    "failed": sum(1 for o in c.build.outcomes if not o.ok),
                    "extensions_skipped": sorted({s.extension for s in c.build.skipped}),
                    "objects_compared": c.comparison.compared,
                    "objects_matching": c.comparison.matched,
                }
                for c in self.checks
            ],
            "notes": self.notes,
        }


class VerifyError(Exception):
    """The run could not happen: no server, a server that refuses us. Says why."""


def verify_rules(settings: Settings) -> list[Rule]:
    """The rules whose findings the server gives (target `server`)."""
    return [r for r in load_rules(settings.rule_files) if r.target == "server"]


@contextlib.contextmanager
def open_server(
    database_url: str | None, pg_version: int | None
) -> Iterator[tuple[Server, list[str]]]:
    """The server to verify on, and notes on the choice: the one at `database_url`; else an
    installed PostgreSQL of `pg_version` when there is one; else the embedded server. One we
    start is stopped and removed on the way out, whatever happens (Ctrl-C and SIGTERM
    included)."""
    notes: list[str] = []
    with exit_on_termination():
        try:
            server = (
                connect_to(database_url)
                if database_url
                else start("auto" if pg_version else "embedded", pg_version)
            )
        except ServerError as error:
            raise VerifyError(str(error)) from None
        try:
            if pg_version and server.version != pg_version:
                where = "the server given" if database_url else "this machine's"
                notes.append(
                    f"PostgreSQL {pg_version} was asked for; {where} is PostgreSQL "
                    f"{server.version}: what fails only on {pg_version} is not seen here"
                )
            yield server, notes
        finally:
            server.stop()


def server_info(server: Server) -> dict[str, Any]:
    with server.connect() as connection:
        row = connection.execute("SHOW server_version").fetchone()
    text = str(row[0]).split()[0] if row else str(server.version)
    return {"kind": server.kind, "version": text}


def verify(
    paths: Sequence[str | Path],
    settings: Settings,
    database_url: str | None = None,
    trace: bool = False,
    server: Server | None = None,
) -> Verification:
    """Replay `paths`, apply them to PostgreSQL and compare (see the module's doc). `server`:
    one to use (the tests'); otherwise one is opened and closed here."""
    rules = verify_rules(settings)
    histories = replay_histories(paths, settings)
    started = time.perf_counter()
    if server is not None:
        checks = _check_all(server, histories, trace)
        return _verification(histories, checks, rules, settings, server, 0.0, [], trace)
    with open_server(database_url, settings.pg_version) as (opened, notes):
        start_seconds = time.perf_counter() - started
        checks = _check_all(opened, histories, trace)
        return _verification(
            histories, checks, rules, settings, opened, start_seconds, notes, trace
        )


def _check_all(server: Server, histories: list[ReplayedHistory], trace: bool) -> list[HistoryCheck]:
    checks = []
    for history in histories:
        build = build_on_server(server, history, trace=trace, skip_missing_extensions=True)
        kept = as_the_server_kept_it(history, build)
        label = history_label(history.migration_set)
        comparison = compare(build.catalog, schema_document(kept, label))
        checks.append(HistoryCheck(history, build, comparison, label))
    return checks


def _verification(
    histories: list[ReplayedHistory],
    checks: list[HistoryCheck],
    rules: list[Rule],
    settings: Settings,
    server: Server,
    start_seconds: float,
    notes: list[str],
    traced: bool,
) -> Verification:
    info = server_info(server)
    by_id = {r.id: r for r in rules}
    hits: list[Hit] = []
    for check in checks:
        hits.extend(_hits(check, by_id, info))
    suppressions = [
        s
        for h in histories
        for source, parsed in zip(h.sources, h.parsed, strict=True)
        for s in find_suppressions(source, parsed, h.profile.dialect)
    ]
    result = build_findings(
        hits, suppressions, by_id, settings.severity, file_ignores=settings.per_file_ignores
    )
    run = LintRun(
        [h.migration_set for h in histories],
        [s for h in histories for s in h.sources],
        [h.model for h in histories],
        rules,
        result,
        [h.profile for h in histories],
        settings=settings,
        why=[h.why for h in histories],
    )
    return Verification(run, info, checks, start_seconds, notes, traced)


# -- findings --------------------------------------------------------------------------------


def _hits(check: HistoryCheck, rules: dict[str, Rule], server: dict[str, Any]) -> list[Hit]:
    history, build = check.history, check.build
    sources = {
        s.display: (s, parsed) for s, parsed in zip(history.sources, history.parsed, strict=True)
    }
    order = {source.display: number for number, source in enumerate(history.sources)}
    hits: list[Hit] = []
    extension = rules.get(NO_EXTENSION)
    for skipped in build.skipped:
        if extension is None:
            continue
        created = skipped.statement
        message = (
            f"extension {skipped.extension} is not available on this PostgreSQL "
            f"({server['version']}, {server['kind']}): CREATE EXTENSION was left out and the run "
            "went on; statements that need it may fail after it"
        )
        hits.append(
            Hit(extension, created.source, created.start, created.end, None, message, None, created)
        )
    fails = rules.get(FAILS)
    if fails is not None:
        earlier: list[tuple[Failure, set[str]]] = []
        for outcome in build.outcomes:
            failure = outcome.failure
            if failure is None:
                continue
            source, parsed = sources[outcome.file]
            failed = _statement_at(parsed, failure.offset)
            # Extensions left out before this failure (in an earlier file, or earlier here).
            before = [
                s.extension
                for s in build.skipped
                if order[s.file] < order[outcome.file]
                or (s.file == outcome.file and s.offset < failure.offset)
            ]
            because = _follows(failure, earlier, before)
            message = _failure_message(outcome, failure, because)
            end = failed.end if failed is not None else failure.offset
            hits.append(Hit(fails, source, failure.offset, end, None, message, None, failed))
            earlier.append((failure, _would_make(history.model, source, outcome)))
    differs = rules.get(DIFFERS)
    if differs is not None:
        for difference in check.comparison.differences:
            source, start, located = _locate(difference, history.model, history)
            message = (
                f"{difference}: the schema schema-review replays from the files differs from what "
                "PostgreSQL built (please report it to schema-review's maintainers)"
            )
            end = located.end if located is not None else start
            hits.append(Hit(differs, source, start, end, difference.object, message, None, located))
    return hits


def _statement_at(statements: Sequence[Statement], offset: int) -> Statement | None:
    for statement in statements:
        if statement.start <= offset <= statement.end:
            return statement
    return None


def _failure_message(outcome: FileOutcome, failure: Failure, because: str) -> str:
    parts = [failure.message.rstrip(".")]
    if failure.detail:
        parts.append(f"detail: {failure.detail.rstrip('.')}")
    if failure.hint:
        parts.append(f"hint: {failure.hint.rstrip('.')}")
    text = "; ".join(parts)
    if failure.sqlstate:
        text += f" (SQLSTATE {failure.sqlstate})"
    if outcome.mode == AUTOCOMMIT:
        text += "; the statements before it in the file ran, the rest did not"
    else:
        text += "; the whole file was rolled back"
    if because:
        text += f"; {because}"
    return text


_WORD = re.compile(r'"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*)')


def _words(text: str) -> set[str]:
    found = set()
    for quoted, plain in _WORD.findall(text):
        found.add(quoted.replace('""', '"') if quoted else plain.lower())
    return found


def _would_make(model: SchemaModel, source: SourceFile, outcome: FileOutcome) -> set[str]:
    """The names of what a failed file would have created or changed (what the server did
    not keep), unqualified."""
    failure = outcome.failure
    names: set[str] = set()
    for change in model.changes:
        statement = change.statement
        if statement.source is not source:
            continue
        if outcome.mode == AUTOCOMMIT and failure is not None and statement.end <= failure.offset:
            continue  # ran and was kept
        for name in (change.object_name, change.table.qualified_name if change.table else None):
            if name:
                names.add(name.rpartition(".")[2])
    return names


def _follows(
    failure: Failure, earlier: list[tuple[Failure, set[str]]], skipped_extensions: list[str]
) -> str:
    """Why a failure may only follow from an earlier one, or ''."""
    named = _words(failure.statement) | _words(failure.message)
    for first, names in reversed(earlier):
        common = sorted(names & named)
        if common:
            return (
                f"this may follow from the failure at {first.file}:{first.line} "
                f"(it would have made or changed {', '.join(common[:3])})"
            )
    if skipped_extensions and failure.sqlstate in _MISSING:
        listed = ", ".join(sorted(set(skipped_extensions)))
        return f"this may follow from extension {listed} not being available here"
    return ""


def _locate(
    difference: Difference, model: SchemaModel, history: ReplayedHistory
) -> tuple[SourceFile, int, Statement | None]:
    """Where a difference belongs: the statement that last touched the object in the model
    (or its table); for an object only the server has, the last statement naming it."""
    wanted = f"{difference.table}.{difference.name}" if difference.table else difference.name
    for candidate in (wanted, difference.table):
        if not candidate:
            continue
        for obj in reversed(model.archive):
            if obj.qualified_name == candidate and obj.history:
                event = obj.history[-1]
                start = event.offset if event.offset is not None else event.statement.start
                return event.statement.source, start, event.statement
    short = difference.name.rpartition(".")[2].lower()
    for parsed in reversed(history.parsed):
        for statement in reversed(parsed):
            if short and short in statement.text.lower():
                return statement.source, statement.start, statement
    source = history.sources[-1]
    return source, 0, None


# -- text ------------------------------------------------------------------------------------


def render_trace_text(verification: Verification, printable: Any) -> str:
    """The trace for people: per file, each statement on an existing table with the locks it
    took, what it rewrote and what it scanned."""
    lines: list[str] = []
    for file_trace in verification.traces:
        if not file_trace.statements and not file_trace.fails_with_rows:
            continue
        how = {
            "trial": "measured in a trial of the file, rolled back, before it ran",
            "live": "measured statement by statement",
            "not traced": "sent as one query: not traced",
        }[file_trace.how]
        if file_trace.seeded:
            rows = ", ".join(f"{t} {n}" for t, n in file_trace.seeded.items())
            how += f"; rows seeded: {rows}"
        lines.append(f"{printable(file_trace.file)} ({how})")
        for statement in file_trace.statements:
            lines.append(f"  {statement.line}:{statement.column} {printable(statement.text)}")
            lines.append(f"      {_effects(statement, printable)}")
        if file_trace.fails_with_rows and file_trace.how == "trial":
            line, column, message = file_trace.fails_with_rows
            lines.append(f"  {line}:{column} fails when the tables have rows: {printable(message)}")
    if not lines:
        return ""
    return (
        "\n".join(["Trace: what each statement did to tables that existed before its file", *lines])
        + "\n\n"
    )


def _effects(statement: Any, printable: Any) -> str:
    parts = []
    # The strongest mode a table: a statement takes the weaker ones it implies as well.
    locks = statement.table_locks
    if locks:
        parts.append(
            "locks " + ", ".join(f"{printable(t)} {heaviest(m)}" for t, m in locks.items())
        )
    held = {
        t: m for t, m in statement.held.items() if t not in locks and t not in statement.indexes
    }
    if held:
        parts.append(
            "holding already " + ", ".join(f"{printable(t)} {heaviest(m)}" for t, m in held.items())
        )
    if statement.rewritten:
        parts.append("rewrote " + ", ".join(printable(t) for t in statement.rewritten))
    if statement.rebuilt:
        parts.append("rebuilt " + ", ".join(printable(i) for i in statement.rebuilt))
    if statement.scanned is None:
        parts.append("scans not measured")
    elif statement.scanned:
        parts.append("scanned " + ", ".join(printable(t) for t in statement.scanned))
    if statement.failed:
        parts.append("failed")
    if statement.fails_with_rows:
        parts.append(f"fails when the table has rows: {printable(statement.fails_with_rows)}")
    return "; ".join(parts) or "no new lock, no rewrite, no scan"


def render_server_line(verification: Verification) -> str:
    server = verification.server
    kind = {"embedded": "embedded", "system": "installed", "url": "given by URL"}.get(
        server["kind"], server["kind"]
    )
    failed = sum(1 for c in verification.checks for o in c.build.outcomes if not o.ok)
    compared = sum(c.comparison.compared for c in verification.checks)
    matched = sum(c.comparison.matched for c in verification.checks)
    text = (
        f"Applied {verification.files} file{'' if verification.files == 1 else 's'} to "
        f"PostgreSQL {server['version']} ({kind}): {failed} failed; {matched} of {compared} "
        "objects as the replayed schema has them."
    )
    return "\n".join([*(f"Note: {n}." for n in verification.notes), text]) + "\n"


def measured_timeline(verification: Verification) -> dict[str, dict[str, Any]]:
    """Per file: the heaviest lock taken on an existing table and the tables rewritten, as the
    review's timeline shows them (`report --trace`)."""
    measured: dict[str, dict[str, Any]] = {}
    for file_trace in verification.traces:
        lock, table = file_trace.lock
        measured[file_trace.file] = {
            "lock": f"{lock} on {table}" if lock else "",
            "rewritten": file_trace.rewritten,
            "traced": file_trace.how != "not traced",
        }
    return measured
