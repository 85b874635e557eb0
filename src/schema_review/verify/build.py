"""Build a replayed history's schema on a real server and read it back.

A fresh database; the stand-ins of its platform and runner (and a history's own set-up);
a baseline dump; every file applied as its runner would; the final dump, without what the
baseline held. What `verify` and the oracle tests put beside the replayed model.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from schema_review.discover import forward_sql
from schema_review.parse import SourceFile, parse_postgres
from schema_review.pipeline import ReplayedHistory
from schema_review.verify.apply import (
    AUTOCOMMIT,
    FileOutcome,
    apply_file,
    apply_history,
    install_stand_ins,
    provide_extensions,
)
from schema_review.verify.catalog import dump_catalog
from schema_review.verify.server import Server


@dataclass(slots=True)
class ServerBuild:
    history: str
    setup: list[FileOutcome]  # the history's own set-up files, before the baseline
    outcomes: list[FileOutcome]  # one per migration file, in apply order
    catalog: dict[str, Any]  # docs/schema-json.md, without the baseline's objects
    seconds: float

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
) -> ServerBuild:
    """Apply `history` to a new database of `server` and dump what it built.

    `setup_sql` and `setup_files` (each applied statement by statement, outside a
    transaction, going on past failures, which are recorded) run after the platform's
    stand-ins and before the baseline: what a history expects to exist, such as a database
    image's init scripts.
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
            setup, outcomes, catalog = _build(connection, history, setup_files)
    return ServerBuild(
        history_name(history), setup, outcomes, catalog, time.perf_counter() - started
    )


def _build(
    connection: psycopg.Connection[Any], history: ReplayedHistory, setup_files: Sequence[Path]
) -> tuple[list[FileOutcome], list[FileOutcome], dict[str, Any]]:
    setup = []
    for order, path in enumerate(setup_files):
        source = SourceFile(path.as_posix(), forward_sql(path.read_text(encoding="utf-8")), order)
        statements, _ = parse_postgres(source)
        setup.append(apply_file(connection, source, statements, AUTOCOMMIT, keep_going=True))
    baseline = dump_catalog(connection, private=True)
    outcomes = apply_history(connection, history)
    catalog = dump_catalog(connection, baseline, history=history_name(history))
    return setup, outcomes, catalog
