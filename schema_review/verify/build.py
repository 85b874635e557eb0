"""Build a replayed history's schema on a real server and read it back.

A fresh database; the stand-ins of its platform and runner (and a history's own set-up);
a baseline dump; every file applied as its runner would; the final dump, without what the
baseline held. What `verify` and the oracle tests put beside the replayed model.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from schema_review.discover import forward_sql
from schema_review.model import SchemaModel, replay
from schema_review.parse import SourceFile, Statement, parse_postgres
from schema_review.pipeline import ReplayedHistory
from schema_review.verify.apply import (
    AUTOCOMMIT,
    IMPLICIT,
    FileOutcome,
    apply_file,
    file_mode,
    install_stand_ins,
    provide_extensions,
)
from schema_review.verify.catalog import dump_catalog
from schema_review.verify.server import Server
from schema_review.verify.trace import (
    FileTrace,
    Tracer,
    fails_on_any_rows,
    outside_transaction_only,
    restore_sequences,
    sequence_states,
    transaction_control,
)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A statement left out because the server cannot run it: CREATE EXTENSION of an
    extension it does not have."""

    file: str
    line: int
    column: int
    offset: int
    extension: str
    statement: Statement


@dataclass(slots=True)
class ServerBuild:
    history: str
    setup: list[FileOutcome]  # the history's own set-up files, before the baseline
    outcomes: list[FileOutcome]  # one per migration file, in apply order
    catalog: dict[str, Any]  # docs/schema-json.md, without the baseline's objects
    seconds: float
    traces: list[FileTrace] = field(default_factory=list)  # with `trace`: one per file
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def failures(self) -> list[FileOutcome]:
        return [o for o in self.setup + self.outcomes if not o.ok]


def history_name(history: ReplayedHistory) -> str:
    root = history.migration_set.root
    return root.as_posix() if root is not None else ""


def build_on_server(
    server: Server,
    history: ReplayedHistory,
    setup_files: Sequence[Path] = (),
    setup_sql: str = "",
    trace: bool = False,
    skip_missing_extensions: bool = False,
) -> ServerBuild:
    """Apply `history` to a new database of `server` and dump what it built.

    `setup_sql` and `setup_files` (each applied statement by statement, outside a
    transaction, going on past failures, which are recorded) run after the platform's
    stand-ins and before the baseline: what a history expects to exist, such as a database
    image's init scripts. `trace`: each file is traced (see trace.py), at about twice the
    time a file. `skip_missing_extensions`: CREATE EXTENSION of an extension the server
    lacks is not sent (`build.skipped` lists them) instead of failing its file.
    """
    started = time.perf_counter()
    provide_extensions(server)
    with server.scratch_database() as database:
        with database.connect() as connection:
            install_stand_ins(connection, history.profile)
            if setup_sql:
                connection.execute(setup_sql.encode())
        # A new session: settings the stand-ins gave the database (search_path) apply.
        with database.connect() as connection:
            build = _build(
                connection,
                history,
                setup_files,
                database.uri if trace else None,
                skip_missing_extensions,
            )
    build.seconds = time.perf_counter() - started
    return build


def _build(
    connection: psycopg.Connection[Any],
    history: ReplayedHistory,
    setup_files: Sequence[Path],
    trace_uri: str | None,
    skip_missing_extensions: bool,
) -> ServerBuild:
    setup = []
    for order, path in enumerate(setup_files):
        source = SourceFile(path.as_posix(), forward_sql(path.read_text(encoding="utf-8")), order)
        statements, _ = parse_postgres(source)
        setup.append(apply_file(connection, source, statements, AUTOCOMMIT, keep_going=True))
    baseline = dump_catalog(connection, private=True)
    available = None
    if skip_missing_extensions:
        rows = connection.execute("SELECT name FROM pg_available_extensions")
        available = {row[0] for row in rows}
    outcomes: list[FileOutcome] = []
    traces: list[FileTrace] = []
    skipped: list[Skipped] = []
    for source, parsed in zip(history.sources, history.parsed, strict=True):
        mode = file_mode(history.profile, source)
        sent, statements, left_out = _without_missing_extensions(source, parsed, available)
        skipped.extend(left_out)
        if trace_uri is None:
            outcomes.append(apply_file(connection, sent, statements, mode))
            continue
        outcome, file_trace = _traced(connection, trace_uri, sent, statements, mode)
        outcomes.append(outcome)
        traces.append(file_trace)
    catalog = dump_catalog(connection, baseline, history=history_name(history))
    return ServerBuild(history_name(history), setup, outcomes, catalog, 0.0, traces, skipped)


def _without_missing_extensions(
    source: SourceFile, statements: list[Statement], available: set[str] | None
) -> tuple[SourceFile, list[Statement], list[Skipped]]:
    """The file as sent: CREATE EXTENSION of an extension the server lacks is left out (its
    text blanked, so that positions in the file stay what they are). `available`: None
    leaves everything in."""
    if available is None:
        return source, statements, []
    missing = [
        s
        for s in statements
        if s.kind == "CreateExtensionStmt" and s.node.get("extname") not in available
    ]
    if not missing:
        return source, statements, []
    text = source.text
    for statement in missing:
        blank = re.sub(r"[^\n]", " ", text[statement.start : statement.end])
        text = text[: statement.start] + blank + text[statement.end :]
    sent = SourceFile(
        source.display, text, source.order, source.set_index, source.identity, source.transaction
    )
    left_out = [
        Skipped(source.display, *source.position(s.start), s.start, str(s.node["extname"]), s)
        for s in missing
    ]
    return sent, [s for s in statements if s not in missing], left_out


def _traced(
    connection: psycopg.Connection[Any],
    uri: str,
    source: SourceFile,
    statements: list[Statement],
    mode: str,
) -> tuple[FileOutcome, FileTrace]:
    """Apply a file and trace it. A file that runs in one transaction is first run as a
    trial on seeded tables and rolled back (sequences put back as they were), then for real;
    a file run outside a transaction (or that ends its own) is traced as it runs, without
    seeding; a multi-statement query with transaction control is sent as it is, untraced."""
    file_trace = FileTrace(source.display)
    trial_possible = mode != AUTOCOMMIT and not any(
        transaction_control(s) or outside_transaction_only(s) for s in statements
    )
    if not trial_possible:
        if mode == IMPLICIT:
            file_trace.how = "not traced"
            return apply_file(connection, source, statements, mode), file_trace
        tracer = Tracer(connection, uri, seed=True, live=True)
        outcome = apply_file(connection, source, statements, mode, tracer=tracer)
        file_trace.how = "live"
        file_trace.statements = tracer.traces
        file_trace.seeded, file_trace.unseeded = tracer.seeded, tracer.unseeded
        file_trace.fails_with_rows = next(
            (
                (t.line, t.column, t.fails_with_rows)
                for t in tracer.traces
                if t.fails_with_rows is not None
            ),
            None,
        )
        return outcome, file_trace
    tracer = Tracer(connection, uri, seed=True)
    if not tracer.names_existing(statements):
        # Nothing that existed before the file: nothing to measure, no trial.
        return apply_file(connection, source, statements, mode), file_trace
    sequences = sequence_states(connection)
    trial = apply_file(connection, source, statements, mode, tracer=tracer, rollback=True)
    restore_sequences(connection, sequences)
    file_trace.statements = tracer.traces
    file_trace.seeded, file_trace.unseeded = tracer.seeded, tracer.unseeded
    if trial.failure is not None:
        # The trial stopped at the failure: trace the file again unseeded. When it fails only
        # with rows, and any row would do (a NOT NULL), say where.
        tracer = Tracer(connection, uri)
        again = apply_file(connection, source, statements, mode, tracer=tracer, rollback=True)
        restore_sequences(connection, sequences)
        if again.ok:
            failure = trial.failure
            failed = next((s for s in statements if s.start <= failure.offset <= s.end), None)
            if fails_on_any_rows(failure.sqlstate, failed):
                file_trace.fails_with_rows = (failure.line, failure.column, failure.message)
            file_trace.statements = tracer.traces
    return apply_file(connection, source, statements, mode), file_trace


def as_the_server_kept_it(history: ReplayedHistory, build: ServerBuild) -> SchemaModel:
    """The model of what the server kept: a file that failed in a transaction was rolled
    back whole, one run statement by statement kept what ran before the failing statement;
    a statement skipped (an extension the server lacks) is left out. What the model says a
    failing statement would have done cannot be checked on a server that refused it."""
    failures = {o.file: o for o in build.outcomes if o.failure is not None}
    skipped = {id(s.statement) for s in build.skipped}
    if not failures and not skipped:
        return history.model
    statements = []
    for source, parsed in zip(history.sources, history.parsed, strict=True):
        kept = [s for s in parsed if id(s) not in skipped]
        outcome = failures.get(source.display)
        if outcome is None or outcome.failure is None:
            statements.extend(kept)
        elif outcome.mode == AUTOCOMMIT:
            offset = outcome.failure.offset
            statements.extend(s for s in kept if s.end <= offset)
    return replay(statements, history.profile)
