"""What each statement really does on the server (`verify --trace`): the locks it takes, the
relations whose storage it replaces (a rewrite), the tables it reads in full (a scan).

A `Tracer` wraps the sending of each statement of a file. Inside a transaction it reads
`pg_locks` for its own backend before and after the statement (locks are held until the
transaction ends, so what appeared is what the statement took), `pg_class.relfilenode` (a
new file node is a rewrite) and `pg_stat_xact_all_tables.seq_scan` (validation of a NOT
NULL, CHECK or foreign key, an index build and a rewrite all read the table). Only relations
that existed before the file started count: a table the file creates is empty, and locking
it harms nobody.

Where a statement cannot run in a transaction block (CREATE INDEX CONCURRENTLY, VACUUM, ...)
its locks are released before anyone could read them in the same session: an observer
session holds SHARE UPDATE EXCLUSIVE on the statement's tables first, so that the statement
queues behind it, reads the locks it was granted and the one it waits for, and lets go.

`seed` inserts a few rows into the tables a file touches, so that validation has rows to
check and a statement that fails only on a table with data (ADD COLUMN ... NOT NULL without
a default) fails here too. The trace of a file that runs in a transaction is taken in a trial
run of the file on seeded tables, rolled back (see build.py): the real run that follows is
the file as its runner sends it, on the tables as the migrations left them.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from schema_review.parse import Statement, walk_dicts

# pg_locks' names of the table lock modes, weakest first, and the names PostgreSQL's
# documentation (and the model, Change.lock) gives them.
LOCK_MODES = {
    "AccessShareLock": "ACCESS SHARE",
    "RowShareLock": "ROW SHARE",
    "RowExclusiveLock": "ROW EXCLUSIVE",
    "ShareUpdateExclusiveLock": "SHARE UPDATE EXCLUSIVE",
    "ShareLock": "SHARE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE",
    "ExclusiveLock": "EXCLUSIVE",
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
}
LOCK_RANK = {name: rank for rank, name in enumerate(LOCK_MODES.values(), 1)}

# Rows put in each empty table a file touches.
SEED_ROWS = 3

_TABLE_KINDS = frozenset("rpmf")  # table, partitioned table, materialized view, foreign table
_INDEX_KINDS = frozenset("iI")


def heaviest(modes: Iterable[str]) -> str:
    """The strongest of lock modes (documentation names), or ''."""
    return max(modes, key=lambda mode: LOCK_RANK.get(mode, 0), default="")


@dataclass(frozen=True, slots=True)
class Relation:
    oid: int
    name: str  # schema.name
    kind: str  # pg_class.relkind
    table: str  # an index's table (schema.name); a table's own name

    @property
    def is_table(self) -> bool:
        return self.kind in _TABLE_KINDS


@dataclass(slots=True)
class StatementTrace:
    """What one statement did to relations that existed before its file."""

    line: int
    column: int
    text: str  # the statement's first line, shortened
    locks: dict[str, list[str]] = field(default_factory=dict)  # relation -> modes taken
    held: dict[str, list[str]] = field(default_factory=dict)  # already held in the transaction
    rewritten: list[str] = field(default_factory=list)  # tables given new storage
    emptied: list[str] = field(default_factory=list)  # TRUNCATE: new, empty storage
    rebuilt: list[str] = field(default_factory=list)  # indexes rebuilt, their table not
    scanned: list[str] | None = field(default_factory=list)  # None: could not be measured
    how: str = "transaction"  # "transaction", "own transaction", "trial" or "observed"
    failed: bool = False
    # Tried alone on seeded tables, it failed with this message (the real run did not).
    fails_with_rows: str | None = None

    @property
    def table_locks(self) -> dict[str, list[str]]:
        return {name: modes for name, modes in self.locks.items() if name not in self.indexes}

    @property
    def lock(self) -> str:
        """The strongest lock taken on a table ('' when none)."""
        return heaviest(mode for modes in self.table_locks.values() for mode in modes)

    @property
    def lock_table(self) -> str:
        lock = self.lock
        return next((name for name, modes in self.table_locks.items() if lock in modes), "")

    @property
    def empty(self) -> bool:
        return not (
            self.locks
            or self.rewritten
            or self.rebuilt
            or self.scanned
            or self.held
            or self.emptied
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "statement": self.text,
            "lock": self.lock or None,
            "locks": self.locks,
            "held": self.held,
            "rewritten": self.rewritten,
            "indexes_rebuilt": self.rebuilt,
            "emptied": self.emptied,
            "scanned": self.scanned,
            "measured": self.how,
            "failed": self.failed,
            "fails_with_rows": self.fails_with_rows,
        }

    # Names of indexes among `locks` (set by the tracer; not part of the output).
    indexes: frozenset[str] = frozenset()


@dataclass(slots=True)
class FileTrace:
    """The trace of one migration file."""

    file: str
    statements: list[StatementTrace] = field(default_factory=list)
    seeded: dict[str, int] = field(default_factory=dict)  # table -> rows put in
    unseeded: dict[str, str] = field(default_factory=dict)  # table -> why it has none
    # "trial": a rolled-back run on seeded tables before the real one; "live": measured
    # during the real run (files that leave a transaction, or run outside one), unseeded;
    # "not traced": sent as one query (a multi-statement file with transaction control).
    how: str = "trial"
    # The trial failed where the real run did not: the file fails on tables with rows.
    fails_with_rows: tuple[int, int, str] | None = None

    @property
    def lock(self) -> tuple[str, str]:
        """The strongest lock the file took on an existing table, and the table."""
        best = ("", "")
        for statement in self.statements:
            lock = statement.lock
            if LOCK_RANK.get(lock, 0) > LOCK_RANK.get(best[0], 0):
                best = (lock, statement.lock_table)
        return best

    @property
    def rewritten(self) -> list[str]:
        return list(dict.fromkeys(t for s in self.statements for t in s.rewritten))

    @property
    def rebuilt(self) -> list[str]:
        return list(dict.fromkeys(i for s in self.statements for i in s.rebuilt))

    def to_dict(self) -> dict[str, Any]:
        lock, table = self.lock
        return {
            "file": self.file,
            "measured": self.how,
            "seeded": self.seeded,
            "unseeded": self.unseeded,
            "lock": {"mode": lock, "table": table} if lock else None,
            "rewritten": self.rewritten,
            "indexes_rebuilt": self.rebuilt,
            "fails_with_rows": (
                {
                    "line": self.fails_with_rows[0],
                    "column": self.fails_with_rows[1],
                    "message": self.fails_with_rows[2],
                }
                if self.fails_with_rows
                else None
            ),
            "statements": [s.to_dict() for s in self.statements],
        }


# -- the relations a file can touch ---------------------------------------------------------

_RELATIONS = """
SELECT c.oid, n.nspname, c.relname, c.relkind, c.relfilenode, coalesce(i.indrelid, c.oid)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index i ON i.indexrelid = c.oid
WHERE c.relkind IN ('r', 'p', 'm', 'f', 'i', 'I')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
"""

# The relation locks this backend holds (granted), with the file node of each (a rewrite
# gives a new one) and the sequential scans of it this session counted and has not published
# yet: read in the statement's transaction, before and after it. A table must be locked to be
# read, so the tables not locked were not read in the transaction; and the session publishes
# its counts just before each transaction the tracer opens (`flush`), so what is counted is
# the transaction's own: the difference across a statement is the statement's.
_HELD = """
SELECT l.relation::bigint, l.mode, c.relfilenode, pg_stat_get_xact_numscans(l.relation)
FROM pg_locks l
LEFT JOIN pg_class c ON c.oid = l.relation
WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.relation = ANY(%s)
"""

# Without the flush (PostgreSQL before 15): counts of earlier transactions may still wait to
# be published, so every table's count is read before and after.
_SCANS = "SELECT oid, pg_stat_get_xact_numscans(oid) FROM unnest(%s::oid[]) AS t(oid)"


@dataclass(slots=True)
class _Held:
    modes: dict[int, set[str]]
    filenodes: dict[int, int]
    scans: dict[int, int]


def _held(
    connection: psycopg.Connection[Any], relations: list[int], tables: list[int] | None
) -> _Held:
    """What this session holds of `relations` and has scanned of them so far; `tables`:
    every table, when their counts may hold earlier transactions' scans."""
    held = _Held({}, {}, {})
    for oid, mode, filenode, scans in connection.execute(_HELD, (relations,)):
        held.modes.setdefault(oid, set()).add(LOCK_MODES.get(mode, mode))
        if filenode is not None:
            held.filenodes[oid] = filenode
        if scans:
            held.scans[oid] = scans
    if tables is not None:
        held.scans = {oid: n for oid, n in connection.execute(_SCANS, (tables,)) if n}
    return held


class Tracer:
    """Traces the statements of one file on one connection (see the module's doc)."""

    def __init__(
        self,
        connection: psycopg.Connection[Any],
        server_uri: str,
        seed: bool = False,
        live: bool = False,
    ) -> None:
        """`seed`: measure on tables with rows. `live`: the file runs for real through the
        tracer (not in a trial of the whole file): a statement run outside a transaction is
        first tried on seeded tables in a transaction that is rolled back, then run."""
        self.connection = connection
        self.server_uri = server_uri  # where the observer session connects
        self.seed = seed
        self.live = live
        self.relations: dict[int, Relation] = {}
        self.filenodes: dict[int, int] = {}
        self.traces: list[StatementTrace] = []
        self.seeded: dict[str, int] = {}
        self.unseeded: dict[str, str] = {}
        self._truncating = False
        self._seeding_locks: dict[int, set[str]] = {}
        self._flushes = connection.info.server_version >= 150000
        self.refresh()

    def started(self, statements: Sequence[Statement]) -> None:
        """The trial's transaction is open: with `seed`, put rows in the existing tables
        the file's statements name."""
        if self.seed and not self.live:
            self._seed(list(tables_to_seed(self, statements)), statements)

    def _seed(self, tables: list[int], statements: Sequence[Statement]) -> None:
        seeder = Seeder(self.connection, self.relations, self._hints(statements))
        seeder.seed(tables)
        # The seeding's own locks (ROW EXCLUSIVE on the tables filled, ROW SHARE on those
        # their foreign keys reference) are not "held by an earlier statement".
        self._seeding_locks = self._held().modes
        for name, rows in seeder.seeded.items():
            if rows:
                self.seeded[name] = max(rows, self.seeded.get(name, 0))
        for name, why in seeder.unseeded.items():
            if name not in self.seeded:
                self.unseeded[name] = why
        self.seeded = dict(sorted(self.seeded.items()))
        self.unseeded = dict(sorted(self.unseeded.items()))

    def refresh(self) -> None:
        """The relations that exist now: the file's "existing" ones."""
        self.relations.clear()
        self.filenodes.clear()
        rows = self.connection.execute(_RELATIONS).fetchall()
        names = {oid: f"{schema}.{name}" for oid, schema, name, *_ in rows}
        for oid, _schema, _name, kind, filenode, table in rows:
            self.relations[oid] = Relation(oid, names[oid], kind, names.get(table, names[oid]))
            self.filenodes[oid] = filenode
        self._oids = list(self.relations)
        self._tables = [oid for oid, r in self.relations.items() if r.is_table]
        self._table_oids = {r.name: oid for oid, r in self.relations.items() if r.is_table}

    def _held(self) -> _Held:
        return _held(self.connection, self._oids, None if self._flushes else self._tables)

    def flush(self) -> None:
        """Outside a transaction, before one opens: publish this session's pending scan
        counts (pg_stat_force_next_flush, PostgreSQL 15+: they go out when the session is
        next idle, that is at once), so that the transaction counts only its own."""
        if self._flushes:
            self.connection.execute("SELECT pg_stat_force_next_flush()")

    def names_existing(self, statements: Sequence[Statement]) -> bool:
        """Whether any of the statements names a relation that exists now."""
        return any(self._tables_of(statement) for statement in statements)

    def run(
        self,
        statement: Statement | None,
        line: int,
        column: int,
        text: str,
        send: Callable[[], None],
    ) -> None:
        """Send one statement (`send`) and record what it did. An error of the statement
        propagates, after its trace (marked failed) is kept."""
        status = self.connection.info.transaction_status
        named = self._tables_of(statement) if statement is not None else []
        self._truncating = statement is not None and statement.kind == "TruncateStmt"
        if status == TransactionStatus.INTRANS:
            trace = StatementTrace(line, column, _short(text))
            self._in_transaction(trace, send, named)
        elif statement is not None and outside_transaction_only(statement):
            trace = StatementTrace(line, column, _short(text), how="observed")
            self._observed(trace, statement, send)
        elif (statement is not None and statement.kind == "TransactionStmt") or not named:
            self.flush()  # a BEGIN of the file's own, perhaps
            send()  # nothing existing to measure
        elif self.seed and statement is not None:
            # Outside a transaction: tried on seeded tables in a transaction rolled back,
            # then run for real (unmeasured: the trial said what it does). A trial that
            # fails on the seeded rows is tried again on the tables as they are.
            trace = StatementTrace(line, column, _short(text), how="trial")
            error = self._trial(trace, send, named, [statement])
            if error is not None:
                if trace in self.traces:
                    self.traces.remove(trace)
                trace = StatementTrace(line, column, _short(text), how="trial")
                if self._trial(trace, send, named, []) is not None:
                    if trace in self.traces:
                        self.traces.remove(trace)  # it fails anyway: the real run says so
                elif fails_on_any_rows(error.sqlstate or "", statement):
                    trace.fails_with_rows = _message(error)
            send()
        else:
            # The statement in a transaction of its own is the same statement, and its
            # locks can be read before its COMMIT.
            trace = StatementTrace(line, column, _short(text), how="own transaction")
            self.flush()
            self.connection.execute("BEGIN")
            try:
                self._in_transaction(trace, send, named)
            except BaseException:
                if self.connection.info.transaction_status != TransactionStatus.IDLE:
                    self.connection.execute("ROLLBACK")
                raise
            if self.connection.info.transaction_status != TransactionStatus.IDLE:
                self.connection.execute("COMMIT")

    def _trial(
        self,
        trace: StatementTrace,
        send: Callable[[], None],
        named: list[int],
        seed_for: Sequence[Statement],
    ) -> psycopg.Error | None:
        """Run one statement in a transaction and roll it back (sequences put back), on
        tables seeded for `seed_for` (none: as they are); the error when it fails."""
        sequences = sequence_states(self.connection)
        filenodes = dict(self.filenodes)
        self.flush()
        self.connection.execute("BEGIN")
        try:
            if seed_for:
                self._seed(named, seed_for)
            self._in_transaction(trace, send, named)
        except psycopg.Error as error:
            return error
        finally:
            self._seeding_locks = {}
            if self.connection.info.transaction_status != TransactionStatus.IDLE:
                self.connection.execute("ROLLBACK")
            restore_sequences(self.connection, sequences)
            self.filenodes = filenodes  # rolled back
        return None

    def _in_transaction(
        self, trace: StatementTrace, send: Callable[[], None], named: list[int]
    ) -> None:
        before = self._held()
        try:
            send()
        except psycopg.Error:
            trace.failed = True
            self._keep(trace, named)
            raise
        if self.connection.info.transaction_status != TransactionStatus.INTRANS:
            return  # the statement ended the transaction (COMMIT in the file): nothing held
        self._record(trace, before, self._held(), named)
        self._keep(trace, named)

    def _record(self, trace: StatementTrace, before: _Held, after: _Held, named: list[int]) -> None:
        """What appeared between `before` and `after`; `named`: the existing tables the
        statement names, touched even when nothing new shows (a lock already held)."""
        indexes: set[str] = set()
        touched: set[int] = set(named)
        for oid, modes in after.modes.items():
            relation = self.relations.get(oid)
            if relation is None:
                continue  # made by this file (or a system catalog)
            new = modes - before.modes.get(oid, set())
            if new:
                trace.locks[relation.name] = _ordered(new)
                touched.add(oid)
            if relation.kind in _INDEX_KINDS:
                indexes.add(relation.name)
        changed: set[int] = set()
        for oid, filenode in after.filenodes.items():
            relation = self.relations.get(oid)
            if relation is None or filenode == 0:
                continue
            if filenode != self.filenodes.get(oid, filenode):
                self.filenodes[oid] = filenode
                changed.add(oid)
        touched |= changed
        rewritten = {self.relations[oid].name for oid in changed if self.relations[oid].is_table}
        rebuilt = sorted(
            self.relations[oid].name
            for oid in changed
            if not self.relations[oid].is_table and self.relations[oid].table not in rewritten
        )
        if self._truncating:  # new storage, empty: no row was read or written
            trace.emptied = sorted(rewritten)
        else:
            trace.rewritten, trace.rebuilt = sorted(rewritten), rebuilt
        scanned = []
        for oid, scans in after.scans.items():
            relation = self.relations.get(oid)
            if relation is not None and relation.is_table and scans > before.scans.get(oid, 0):
                scanned.append(relation.name)
                touched.add(oid)
        # TRUNCATE builds its indexes again on the new, empty storage: not a scan of rows.
        trace.scanned = sorted(t for t in scanned if t not in trace.emptied)
        # Locks an earlier statement of the transaction already took on what this one
        # touched: a statement asking again for a mode it holds does not show.
        for oid in touched:
            relation = self.relations[oid]
            earlier = before.modes.get(oid, set()) - self._seeding_locks.get(oid, set())
            if earlier:
                trace.held[relation.name] = _ordered(earlier)
        trace.locks = dict(sorted(trace.locks.items()))
        trace.held = dict(sorted(trace.held.items()))
        trace.indexes = frozenset(indexes)

    def _keep(self, trace: StatementTrace, named: Sequence[int] = ()) -> None:
        """Statements on existing tables, and those that did something to one, are kept."""
        if named or not trace.empty:
            self.traces.append(trace)

    # -- statements that cannot run in a transaction block ----------------------------------

    def _observed(
        self, trace: StatementTrace, statement: Statement, send: Callable[[], None]
    ) -> None:
        tables = self._tables_of(statement)
        if not tables:
            send()
            return
        connection = self.connection
        pid = connection.info.backend_pid
        scans_before = self._flushed_scans(tables)
        seen: list[tuple[int, str, bool]] = []
        error: list[BaseException] = []
        with psycopg.connect(self.server_uri, autocommit=True) as observer:
            observer.execute("BEGIN")
            observer.execute("SET LOCAL lock_timeout = '10s'")
            for oid in tables:
                name = current_name(self.connection, oid)
                if name is not None:
                    observer.execute(
                        sql.SQL("LOCK TABLE ONLY {} IN SHARE UPDATE EXCLUSIVE MODE").format(name)
                    )

            def work() -> None:
                try:
                    send()
                except BaseException as caught:  # handed to the caller's thread
                    error.append(caught)

            worker = threading.Thread(target=work, daemon=True)
            worker.start()
            deadline = time.monotonic() + 30
            while worker.is_alive() and time.monotonic() < deadline:
                rows = observer.execute(
                    "SELECT relation::bigint, mode, granted FROM pg_locks"
                    " WHERE pid = %s AND locktype = 'relation'",
                    (pid,),
                ).fetchall()
                if any(not granted for _, _, granted in rows):
                    seen = [(oid, mode, granted) for oid, mode, granted in rows if oid]
                    break
                time.sleep(0.002)
            observer.execute("ROLLBACK")
            worker.join()
        for oid, mode, _granted in seen:
            relation = self.relations.get(oid)
            if relation is not None:
                trace.locks.setdefault(relation.name, []).append(LOCK_MODES.get(mode, mode))
                if relation.kind in _INDEX_KINDS:
                    trace.indexes = trace.indexes | {relation.name}
        trace.locks = {name: _ordered(set(modes)) for name, modes in sorted(trace.locks.items())}
        if error:
            trace.failed = True
            self._keep(trace, tables)
            raise error[0]
        scans_after = self._flushed_scans(tables)
        if scans_before is None or scans_after is None:
            trace.scanned = None
        else:
            trace.scanned = sorted(
                self.relations[oid].name
                for oid in tables
                if scans_after.get(oid, 0) > scans_before.get(oid, 0)
            )
        for oid, filenode in self._filenodes().items():
            relation = self.relations.get(oid)
            if relation is None or filenode == 0 or filenode == self.filenodes.get(oid):
                continue
            self.filenodes[oid] = filenode
            (trace.rewritten if relation.is_table else trace.rebuilt).append(relation.name)
        trace.rewritten.sort()
        trace.rebuilt.sort()
        self._keep(trace, tables)

    def _hints(self, statements: Sequence[Statement]) -> dict[int, dict[str, _Hint]]:
        """Values the statements will want of existing rows: a foreign key they add needs
        rows of the referenced table, a CHECK listing values one of them."""
        hints: dict[int, dict[str, _Hint]] = {}
        for statement in statements:
            if statement.kind != "AlterTableStmt":
                continue
            table = self._resolve(_range_var_name(statement.node.get("relation", {})))
            if table is None:
                continue
            for item in statement.node.get("cmds", ()):
                command = item.get("AlterTableCmd", {})
                if command.get("subtype") != "AT_AddConstraint":
                    continue
                constraint = command.get("def", {}).get("Constraint", {})
                found = self._constraint_hints(constraint)
                for column, hint in found.items():
                    hints.setdefault(table, {})[column] = hint
        return hints

    def _constraint_hints(self, constraint: dict[str, Any]) -> dict[str, _Hint]:
        kind = constraint.get("contype")
        if kind == "CONSTR_FOREIGN":
            referenced = self._resolve(_range_var_name(constraint.get("pktable", {})))
            if referenced is None:
                return {}
            mine = [_string(n) for n in constraint.get("fk_attrs", ())]
            theirs = [_string(n) for n in constraint.get("pk_attrs", ())] or self._key(referenced)
            return {m: _Hint(referenced, t) for m, t in zip(mine, theirs, strict=False)}
        if kind == "CONSTR_CHECK":
            expression = constraint.get("raw_expr")
            columns = {
                _string(ref["fields"][-1])
                for ref in walk_dicts(expression)
                if "fields" in ref and isinstance(ref.get("fields"), list) and ref["fields"]
            }
            literals = [
                item["sval"]["sval"]
                for item in walk_dicts(expression)
                if isinstance(item.get("sval"), dict) and "sval" in item["sval"]
            ]
            if len(columns) == 1 and literals:
                return {columns.pop(): _Hint(values=tuple(reversed(literals)))}
        return {}

    def _key(self, table: int) -> list[str]:
        rows = self.connection.execute(
            "SELECT a.attname FROM pg_index i"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = %s AND i.indisprimary"
            " ORDER BY array_position(i.indkey::int2[], a.attnum)",
            (table,),
        ).fetchall()
        return [r[0] for r in rows]

    def _resolve(self, name: str) -> int | None:
        if not name:
            return None
        row = self.connection.execute("SELECT to_regclass(%s)::oid::bigint", (name,)).fetchone()
        return row[0] if row and row[0] in self.relations else None

    def _tables_of(self, statement: Statement) -> list[int]:
        """The existing tables a statement names (an index stands for its table), as the
        names resolve now."""
        names = named_relations(statement)
        if not names:
            return []
        rows = self.connection.execute(
            "SELECT to_regclass(name)::oid::bigint FROM unnest(%s::text[]) AS t(name)", (names,)
        ).fetchall()
        found: list[int] = []
        for (oid,) in rows:
            relation = self.relations.get(oid) if oid else None
            table = self._table_oids.get(relation.table) if relation is not None else None
            if table is not None and table not in found:
                found.append(table)
        return found

    def _flushed_scans(self, tables: Sequence[int]) -> dict[int, int] | None:
        """Sequential scans of `tables` counted so far, with this session's pending counts
        flushed (they are only published when the session goes idle); None before
        PostgreSQL 15, which cannot be asked to flush them."""
        if not self._flushes:
            return None
        self.connection.execute("SELECT pg_stat_force_next_flush()")
        self.connection.execute("SELECT 1")  # idle in between: the forced flush happens
        rows = self.connection.execute(
            "SELECT relid::bigint, seq_scan FROM pg_stat_all_tables WHERE relid = ANY(%s)",
            (list(tables),),
        ).fetchall()
        self.connection.execute("SELECT pg_stat_clear_snapshot()")
        return {oid: scans or 0 for oid, scans in rows}

    def _filenodes(self) -> dict[int, int]:
        rows = self.connection.execute(
            "SELECT oid::bigint, relfilenode FROM pg_class WHERE oid = ANY(%s)",
            (list(self.relations),),
        ).fetchall()
        return dict(rows)


def _ordered(modes: Iterable[str]) -> list[str]:
    return sorted(modes, key=lambda mode: LOCK_RANK.get(mode, 0), reverse=True)


def _short(text: str, limit: int = 80) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def current_name(connection: psycopg.Connection[Any], oid: int) -> sql.Composable | None:
    """A relation's name now (the file may have renamed it since it started), or None when
    it is gone."""
    row = connection.execute(
        "SELECT n.nspname, c.relname FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = %s",
        (oid,),
    ).fetchone()
    return sql.Identifier(row[0], row[1]) if row else None


# -- what a statement names -----------------------------------------------------------------


def named_relations(statement: Statement) -> list[str]:
    """The relations a statement names, as text for to_regclass (quoted parts)."""
    names: list[str] = []
    node = statement.node
    remove = node.get("removeType") if statement.kind == "DropStmt" else None
    if remove in ("OBJECT_INDEX", "OBJECT_TABLE", "OBJECT_TRIGGER", "OBJECT_POLICY", "OBJECT_RULE"):
        for item in node.get("objects", ()):
            parts = [
                p.get("String", {}).get("sval", "") for p in item.get("List", {}).get("items", ())
            ]
            if remove not in ("OBJECT_INDEX", "OBJECT_TABLE"):
                parts = parts[:-1]  # `trigger ON table`: the table
            if parts:
                names.append(".".join(_quote(p) for p in parts))
    found: list[tuple[int, str]] = []
    for item in walk_dicts(node):
        relname = item.get("relname")
        if isinstance(relname, str) and "relpersistence" in item:
            schema = item.get("schemaname")
            name = f"{_quote(schema)}.{_quote(relname)}" if schema else _quote(relname)
            location = item.get("location")
            found.append((location if isinstance(location, int) else -1, name))
    names.extend(name for _, name in sorted(found))
    return list(dict.fromkeys(names))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def outside_transaction_only(statement: Statement) -> bool:
    """Whether PostgreSQL refuses the statement inside a transaction block."""
    node, kind = statement.node, statement.kind
    if kind in ("IndexStmt", "DropStmt"):
        return bool(node.get("concurrent"))
    if kind == "ReindexStmt":
        options = {p.get("DefElem", {}).get("defname") for p in node.get("params", ())}
        return "concurrently" in options or node.get("kind") in (
            "REINDEX_OBJECT_SYSTEM",
            "REINDEX_OBJECT_DATABASE",
        )
    if kind == "VacuumStmt":
        return bool(node.get("is_vacuumcmd"))
    if kind == "AlterTableStmt":
        return any(
            cmd.get("AlterTableCmd", {}).get("def", {}).get("PartitionCmd", {}).get("concurrent")
            for cmd in node.get("cmds", ())
        )
    if kind == "ClusterStmt":
        return not node.get("relation")
    return kind in (
        "CreatedbStmt",
        "DropdbStmt",
        "AlterSystemStmt",
        "CreateTableSpaceStmt",
        "DropTableSpaceStmt",
        "CreateSubscriptionStmt",
        "DropSubscriptionStmt",
        "AlterSubscriptionStmt",
    )


def transaction_control(statement: Statement) -> bool:
    return statement.kind == "TransactionStmt"


# -- seeding --------------------------------------------------------------------------------

_COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef,
       coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attidentity, a.attgenerated,
       coalesce(b.typtype, t.typtype), coalesce(b.typcategory, t.typcategory),
       coalesce(b.oid, t.oid)::bigint, coalesce(b.typname, t.typname),
       CASE WHEN a.atttypmod > 4 THEN a.atttypmod - 4 ELSE 0 END
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type b ON t.typtype = 'd' AND b.oid = t.typbasetype
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

_FOREIGN_KEYS = """
SELECT c.confrelid::bigint,
       array(SELECT attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute ON attrelid = c.conrelid AND attnum = k.n ORDER BY k.i),
       array(SELECT attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute ON attrelid = c.confrelid AND attnum = k.n ORDER BY k.i)
FROM pg_constraint c WHERE c.conrelid = %s AND c.contype = 'f'
"""

_CHECK_LITERALS = re.compile(r"'((?:[^']|'')*)'")


@dataclass(frozen=True, slots=True)
class _Column:
    name: str
    type: str
    not_null: bool
    has_default: bool
    default: str
    identity: str
    generated: str
    typtype: str
    category: str
    base_oid: int
    base_name: str
    length: int


class Seeder:
    """Puts SEED_ROWS rows in empty tables, inside the caller's transaction (each row under a
    savepoint: a row a constraint refuses is left out)."""

    def __init__(
        self,
        connection: psycopg.Connection[Any],
        relations: dict[int, Relation],
        hints: dict[int, dict[str, _Hint]] | None = None,
    ):
        self.connection = connection
        self.relations = relations
        self.hints = hints or {}
        self.seeded: dict[str, int] = {}
        self.unseeded: dict[str, str] = {}
        self._visiting: set[int] = set()
        self._filled: dict[int, bool] = {}
        self._labels: dict[int, list[str]] = {}

    def seed(self, tables: Iterable[int]) -> None:
        for oid in tables:
            self._seed(oid)

    def _seed(self, oid: int) -> bool:
        """Whether the table has rows now (asked once a table)."""
        if oid in self._filled:
            return self._filled[oid]
        relation = self.relations.get(oid)
        if relation is None or relation.kind not in "rp":
            return False
        if oid in self._visiting:
            return False  # a cycle of foreign keys: its first table stays empty
        name = current_name(self.connection, oid)
        if name is None:
            return False  # dropped or renamed away since the file started
        self._visiting.add(oid)
        try:
            # Under a savepoint: whatever fails here (a privilege, a type the values cannot
            # be made for) leaves the table empty, not the trial's transaction aborted.
            with self.connection.transaction():
                query = sql.SQL("SELECT 1 FROM {} LIMIT 1").format(name)
                if self.connection.execute(query).fetchone():
                    # The migrations put rows in it: those are what validation checks.
                    self._filled[oid] = True
                    return True
                rows, why = self._insert(oid, name)
        except psycopg.Error as error:
            rows, why = 0, _message(error)
        finally:
            self._visiting.discard(oid)
        if rows:
            self.seeded[relation.name] = rows
        else:
            self.unseeded[relation.name] = why
        self._filled[oid] = rows > 0
        return rows > 0

    def _insert(self, oid: int, name: sql.Composable) -> tuple[int, str]:
        columns = [_Column(*row) for row in self.connection.execute(_COLUMNS, (oid,))]
        references: dict[str, tuple[int, str]] = {}
        for referenced, own, theirs in self.connection.execute(_FOREIGN_KEYS, (oid,)).fetchall():
            for mine, their in zip(own, theirs, strict=False):
                references[mine] = (referenced, their)
        checks = self._check_literals(oid)
        for hinted, hint in self.hints.get(oid, {}).items():
            if hint.table is not None:
                references.setdefault(hinted, (hint.table, hint.column))
            elif hint.values:
                checks.setdefault(hinted, list(hint.values))
        statements: list[sql.Composed] = []
        statement: sql.Composed
        for number in range(1, SEED_ROWS + 1):
            names: list[sql.Composable] = []
            values: list[sql.Composable] = []
            overriding = False
            for column in columns:
                if column.generated:
                    continue
                value = self._value(column, number, references, checks)
                if value is None:
                    return 0, f"no value for column {column.name} ({column.type})"
                if column.identity == "a" and value is not _DEFAULT:
                    overriding = True
                names.append(sql.Identifier(column.name))
                values.append(value)
            statement = sql.SQL("INSERT INTO {} ({}) {}VALUES ({})").format(
                name,
                sql.SQL(", ").join(names),
                sql.SQL("OVERRIDING SYSTEM VALUE " if overriding else ""),
                sql.SQL(", ").join(values),
            )
            if not names:
                statement = sql.SQL("INSERT INTO {} DEFAULT VALUES").format(name)
            statements.append(statement)
        # All rows at once (one round trip), else row by row: a row a constraint refuses (a
        # CHECK, a unique boolean) leaves the others in.
        try:
            with self.connection.transaction():
                self.connection.execute(sql.SQL("; ").join(statements))
            return len(statements), ""
        except psycopg.Error:
            pass
        inserted, why = 0, "no row could be inserted"
        for statement in statements:
            try:
                with self.connection.transaction():
                    self.connection.execute(statement)
                inserted += 1
            except psycopg.Error as error:
                why = (error.diag.message_primary or str(error)).strip()
        return inserted, why

    def _check_literals(self, oid: int) -> dict[str, list[str]]:
        """String literals of CHECKs on one column (`status IN ('new', 'paid')`): values the
        constraint likely accepts."""
        found: dict[str, list[str]] = {}
        rows = self.connection.execute(
            "SELECT array(SELECT attname FROM pg_attribute WHERE attrelid = conrelid"
            " AND attnum = ANY(conkey)), pg_get_constraintdef(oid)"
            " FROM pg_constraint WHERE conrelid = %s AND contype = 'c'",
            (oid,),
        ).fetchall()
        for columns, definition in rows:
            if len(columns) == 1:
                literals = [m.replace("''", "'") for m in _CHECK_LITERALS.findall(definition)]
                if literals:
                    found[columns[0]] = literals
        return found

    def _value(
        self,
        column: _Column,
        number: int,
        references: dict[str, tuple[int, str]],
        checks: dict[str, list[str]],
    ) -> sql.Composable | None:
        if column.name in references:
            referenced, their = references[column.name]
            now = current_name(self.connection, referenced) if self._seed(referenced) else None
            if now is not None:
                return sql.SQL("(SELECT {} FROM {} ORDER BY 1 LIMIT 1)").format(
                    sql.Identifier(their), now
                )
            return sql.NULL if not column.not_null else None
        sequence = "nextval(" in column.default or column.identity
        if column.has_default and not sequence:
            return _DEFAULT
        if sequence:
            # Values no migration's own rows use: a sequence advanced by the seed would
            # shift the ids the migrations insert after a trial that is rolled back.
            return sql.Literal(2_000_000_000 + number) if column.category == "N" else _DEFAULT
        literal = self._literal(column, number, checks.get(column.name))
        if literal is not None:
            return sql.SQL("{}::{}").format(sql.Literal(literal), sql.SQL(column.type))
        return sql.NULL if not column.not_null else None

    def _literal(self, column: _Column, number: int, listed: list[str] | None) -> str | None:
        if listed:
            return listed[(number - 1) % len(listed)]
        category, base = column.category, column.base_name
        if column.typtype == "e":
            if column.base_oid not in self._labels:
                self._labels[column.base_oid] = [
                    r[0]
                    for r in self.connection.execute(
                        "SELECT enumlabel FROM pg_enum WHERE enumtypid = %s ORDER BY enumsortorder",
                        (column.base_oid,),
                    )
                ]
            labels = self._labels[column.base_oid]
            return labels[(number - 1) % len(labels)] if labels else None
        if category == "A":
            return "{}"
        if category == "N":
            return str(number)
        if category == "S":
            text = f"seed {number}"
            return text[-column.length :] if 0 < column.length < len(text) else text
        if category == "B":
            return "true"
        if category == "D":
            return f"2024-01-0{number} 12:00:00" if base not in ("time", "timetz") else "12:00"
        if category == "T":
            return f"{number} days"
        if category == "I":
            return f"10.0.0.{number}" if base == "inet" else f"10.0.{number}.0/24"
        if category == "R":
            return "empty"
        make = _KNOWN_VALUES.get(base)
        return make(number) if make is not None else None


_DEFAULT = sql.SQL("DEFAULT")


@dataclass(frozen=True, slots=True)
class _Hint:
    """What a column of a seeded row should hold: a value of `table`.`column` (a foreign
    key), or one of `values` (a CHECK's list)."""

    table: int | None = None
    column: str = ""
    values: tuple[str, ...] = ()


def _string(node: dict[str, Any]) -> str:
    return str(node.get("String", {}).get("sval", ""))


def _range_var_name(node: dict[str, Any]) -> str:
    relname = node.get("relname")
    if not isinstance(relname, str):
        return ""
    schema = node.get("schemaname")
    return f"{_quote(schema)}.{_quote(relname)}" if schema else _quote(relname)


def _message(error: psycopg.Error) -> str:
    return (error.diag.message_primary or str(error)).strip()


def fails_on_any_rows(sqlstate: str, statement: Statement | None) -> bool:
    """A failure on seeded rows that says something about real data: a NOT NULL that any
    existing row breaks (ALTER TABLE ... ADD COLUMN ... NOT NULL without a default, SET NOT
    NULL). Other refusals (a CHECK, a foreign key, a cast, an INSERT or UPDATE that computes a
    NULL) depend on the values, and the seeded values are made up."""
    return sqlstate == "23502" and statement is not None and statement.kind == "AlterTableStmt"


_KNOWN_VALUES: dict[str, Callable[[int], str | None]] = {
    "uuid": lambda n: f"00000000-0000-4000-8000-{n:012d}",
    "json": lambda n: "{}",
    "jsonb": lambda n: "{}",
    "bytea": lambda n: f"\\x{n:02x}",
    "xml": lambda n: "<seed/>",
    "tsvector": lambda n: "seed",
    "citext": lambda n: f"seed {n}",
    "macaddr": lambda n: f"08:00:2b:01:02:{n:02x}",
    "money": lambda n: str(n),
    "point": lambda n: f"({n},{n})",
}


def tables_to_seed(tracer: Tracer, statements: Iterable[Statement]) -> Iterator[int]:
    """The existing tables the statements name, in order (an index stands for its table)."""
    seen: set[int] = set()
    for statement in statements:
        for oid in tracer._tables_of(statement):
            if oid not in seen:
                seen.add(oid)
                yield oid


def sequence_states(connection: psycopg.Connection[Any]) -> dict[str, tuple[int, bool]]:
    """Every sequence's state (its last value, or its start before the first nextval):
    nextval() is not undone by a rollback."""
    rows = connection.execute(
        "SELECT format('%I.%I', schemaname, sequencename), last_value, start_value"
        " FROM pg_sequences"
    ).fetchall()
    return {
        name: (last, True) if last is not None else (start, False) for name, last, start in rows
    }


def restore_sequences(
    connection: psycopg.Connection[Any], states: dict[str, tuple[int, bool]]
) -> None:
    now = sequence_states(connection)
    for name, state in states.items():
        if now.get(name, state) != state:
            value, called = state
            connection.execute("SELECT setval(%s::regclass, %s, %s)", (name, value, called))
