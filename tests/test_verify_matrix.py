"""The lint rules agree with the server (issue 11, item 3).

Every statement kind a locking or rewrite rule reasons about runs through `verify --trace` on
the real server, on a table that already holds rows, and what the model predicts for it
(`Change.lock`, `Change.rewrites_table`, `Change.slow`, and whether a rule says it fails) is
compared with what PostgreSQL did: the locks it took (pg_locks before COMMIT), whether the
table got new storage (relfilenode), whether it read the table (a sequential scan), whether it
failed. One history holds every case: a set-up file creates a table per case (with rows), then
one file per case, each in its own transaction (goose), or outside one for the statements
that cannot run in a transaction block.

`test_the_model_agrees_with_the_server` fails on any disagreement, listing them all; the other
tests pin facts the comparison rests on, so that a trace that measured nothing cannot pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from schema_review.config import Settings
from schema_review.model import Change
from schema_review.pipeline import lint, replay_histories
from schema_review.verify.build import ServerBuild, build_on_server
from schema_review.verify.server import Server
from schema_review.verify.trace import LOCK_RANK, StatementTrace, heaviest
from tests.helpers import LintSql, findings_of, write_migrations

# Every case's table has these columns and three rows; `{t}` is the case's table.
TABLE = """
CREATE TABLE {t} (
    id bigint NOT NULL, a integer, b text, c varchar(50), n numeric(10,2), ts timestamp,
    tz timestamptz, v varchar(100), j json, ip cidr, flag integer, ch char(5), r tsrange,
    s text
);
INSERT INTO {t} (id, a, b, c, n, ts, tz, v, j, ip, flag, ch, r, s)
SELECT g, g, g::text, 'c' || g, g, '2024-01-01', '2024-01-01', 'v', '{{}}', '10.0.0.0/8',
       0, 'x', tsrange('2024-01-01'::timestamp + g * interval '1 day',
                        '2024-01-01'::timestamp + (g + 1) * interval '1 day'), 'new'
FROM generate_series(1, 3) g;
CREATE INDEX {t}_c_idx ON {t} (c);
"""

# Statement kinds the model claims failure for, through these rules.
FAILING_RULES = (
    "alter-type-with-incompatible-default",
    "concurrently-in-transaction",
    "add-column-not-null-without-default",
    "enum-add-value-in-transaction",
)


@dataclass(frozen=True)
class Case:
    id: str
    sql: str  # the case's file; `{t}` is its table
    setup: str = ""  # more set-up after the table (and its rows)
    outside: bool = False  # the file runs outside a transaction (goose NO TRANSACTION)
    primary_key: bool = True


CASES = [
    # -- ALTER COLUMN TYPE -----------------------------------------------------------------
    Case("int-to-bigint", "ALTER TABLE {t} ALTER COLUMN a TYPE bigint;"),
    Case("int-to-smallint", "ALTER TABLE {t} ALTER COLUMN a TYPE smallint;"),
    Case("int-to-numeric", "ALTER TABLE {t} ALTER COLUMN a TYPE numeric;"),
    Case("int-to-text", "ALTER TABLE {t} ALTER COLUMN a TYPE text;"),
    Case("varchar-to-text", "ALTER TABLE {t} ALTER COLUMN c TYPE text;"),
    Case("varchar-longer", "ALTER TABLE {t} ALTER COLUMN c TYPE varchar(200);"),
    Case("varchar-shorter", "ALTER TABLE {t} ALTER COLUMN v TYPE varchar(10);"),
    Case("varchar-unlimited", "ALTER TABLE {t} ALTER COLUMN c TYPE varchar;"),
    Case("text-to-varchar", "ALTER TABLE {t} ALTER COLUMN b TYPE varchar;"),
    Case("text-to-varchar-n", "ALTER TABLE {t} ALTER COLUMN b TYPE varchar(20);"),
    Case("char-to-text", "ALTER TABLE {t} ALTER COLUMN ch TYPE text;"),
    Case("numeric-wider", "ALTER TABLE {t} ALTER COLUMN n TYPE numeric(12,2);"),
    Case("numeric-scale", "ALTER TABLE {t} ALTER COLUMN n TYPE numeric(10,3);"),
    Case("numeric-unconstrained", "ALTER TABLE {t} ALTER COLUMN n TYPE numeric;"),
    Case(
        "timestamp-to-timestamptz-utc",
        "SET LOCAL TIME ZONE 'UTC';\nALTER TABLE {t} ALTER COLUMN ts TYPE timestamptz;",
    ),
    Case(
        "timestamp-to-timestamptz-elsewhere",
        "SET LOCAL TIME ZONE 'America/New_York';\n"
        "ALTER TABLE {t} ALTER COLUMN ts TYPE timestamptz;",
    ),
    Case(
        # The session's time zone is the server's (UTC here): the model cannot know it.
        "timestamp-to-timestamptz-server-zone",
        "ALTER TABLE {t} ALTER COLUMN ts TYPE timestamptz;",
    ),
    Case(
        "timestamptz-to-timestamp-elsewhere",
        "SET TIME ZONE 'Europe/Paris';\nALTER TABLE {t} ALTER COLUMN tz TYPE timestamp;",
    ),
    Case("json-to-jsonb", "ALTER TABLE {t} ALTER COLUMN j TYPE jsonb;"),
    Case("text-to-jsonb-using", "ALTER TABLE {t} ALTER COLUMN b TYPE jsonb USING to_jsonb(b);"),
    Case("cidr-to-inet", "ALTER TABLE {t} ALTER COLUMN ip TYPE inet;"),
    Case("using-the-column", "ALTER TABLE {t} ALTER COLUMN c TYPE text USING c;"),
    Case("using-a-cast", "ALTER TABLE {t} ALTER COLUMN c TYPE text USING c::text;"),
    Case("using-an-expression", "ALTER TABLE {t} ALTER COLUMN a TYPE bigint USING a + 0;"),
    Case(
        "to-a-domain-with-a-check",
        "ALTER TABLE {t} ALTER COLUMN a TYPE positive_{t};",
        setup="CREATE DOMAIN positive_{t} AS integer CHECK (VALUE > 0);",
    ),
    Case(
        "enum-to-text",
        "ALTER TABLE {t} ALTER COLUMN e TYPE text;",
        setup="CREATE TYPE mood_{t} AS ENUM ('new', 'old');\n"
        "ALTER TABLE {t} ADD COLUMN e mood_{t} DEFAULT 'new';",
    ),
    Case(
        "text-to-enum",
        "ALTER TABLE {t} ALTER COLUMN s TYPE mood_{t} USING s::mood_{t};",
        setup="CREATE TYPE mood_{t} AS ENUM ('new', 'old');",
    ),
    # -- ALTER COLUMN TYPE with a default: PostgreSQL casts it at assignment or fails -------
    Case(
        "enum-swap-with-default",
        "ALTER TYPE mood_{t} RENAME TO mood_{t}_old;\n"
        "CREATE TYPE mood_{t} AS ENUM ('new', 'old', 'newer');\n"
        "ALTER TABLE {t} ALTER COLUMN e TYPE mood_{t} USING e::text::mood_{t};\n"
        "DROP TYPE mood_{t}_old;",
        setup="CREATE TYPE mood_{t} AS ENUM ('new', 'old');\n"
        "ALTER TABLE {t} ADD COLUMN e mood_{t} NOT NULL DEFAULT 'new';",
    ),
    Case(
        "enum-swap-with-cast-default",
        "ALTER TYPE mood_{t} RENAME TO mood_{t}_old;\n"
        "CREATE TYPE mood_{t} AS ENUM ('new', 'old', 'newer');\n"
        "ALTER TABLE {t} ALTER COLUMN e TYPE mood_{t} USING e::text::mood_{t};\n"
        "DROP TYPE mood_{t}_old;",
        setup="CREATE TYPE mood_{t} AS ENUM ('new', 'old');\n"
        "ALTER TABLE {t} ADD COLUMN e mood_{t} NOT NULL DEFAULT 'new'::mood_{t};",
    ),
    Case(
        "enum-swap-default-dropped",
        "ALTER TYPE mood_{t} RENAME TO mood_{t}_old;\n"
        "CREATE TYPE mood_{t} AS ENUM ('new', 'old', 'newer');\n"
        "ALTER TABLE {t} ALTER COLUMN e DROP DEFAULT;\n"
        "ALTER TABLE {t} ALTER COLUMN e TYPE mood_{t} USING e::text::mood_{t};\n"
        "ALTER TABLE {t} ALTER COLUMN e SET DEFAULT 'new';\n"
        "DROP TYPE mood_{t}_old;",
        setup="CREATE TYPE mood_{t} AS ENUM ('new', 'old');\n"
        "ALTER TABLE {t} ADD COLUMN e mood_{t} NOT NULL DEFAULT 'new';",
    ),
    Case(
        "enum-to-text-with-default",
        "ALTER TABLE {t} ALTER COLUMN e TYPE text;",
        setup="CREATE TYPE mood_{t} AS ENUM ('new', 'old');\n"
        "ALTER TABLE {t} ADD COLUMN e mood_{t} DEFAULT 'new'::mood_{t};",
    ),
    Case(
        "varchar-to-text-with-default",
        "ALTER TABLE {t} ALTER COLUMN c TYPE text;",
        setup="ALTER TABLE {t} ALTER COLUMN c SET DEFAULT 'x';",
    ),
    Case(
        "int-to-bigint-with-default",
        "ALTER TABLE {t} ALTER COLUMN a TYPE bigint;",
        setup="ALTER TABLE {t} ALTER COLUMN a SET DEFAULT 0;",
    ),
    Case(
        "int-to-text-with-default",
        "ALTER TABLE {t} ALTER COLUMN a TYPE text;",
        setup="ALTER TABLE {t} ALTER COLUMN a SET DEFAULT 0;",
    ),
    Case(
        "text-to-int-with-default",
        "ALTER TABLE {t} ALTER COLUMN b TYPE integer USING b::integer;",
        setup="ALTER TABLE {t} ALTER COLUMN b SET DEFAULT '0';",
    ),
    Case(
        "int-to-boolean-with-default",
        "ALTER TABLE {t} ALTER COLUMN flag TYPE boolean USING flag <> 0;",
        setup="ALTER TABLE {t} ALTER COLUMN flag SET DEFAULT 0;",
    ),
    Case(
        "uuid-to-text-with-default",
        "ALTER TABLE {t} ALTER COLUMN u TYPE text;",
        setup="ALTER TABLE {t} ADD COLUMN u uuid DEFAULT gen_random_uuid();",
    ),
    Case(
        "text-to-uuid-with-default",
        "ALTER TABLE {t} ALTER COLUMN s TYPE uuid USING gen_random_uuid();",
        setup="ALTER TABLE {t} ALTER COLUMN s SET DEFAULT '';",
    ),
    Case(
        "timestamptz-to-date-with-default",
        "ALTER TABLE {t} ALTER COLUMN tz TYPE date;",
        setup="ALTER TABLE {t} ALTER COLUMN tz SET DEFAULT now();",
    ),
    Case(
        "serial-to-bigint",
        "ALTER TABLE {t} ALTER COLUMN k TYPE bigint;",
        setup="ALTER TABLE {t} ADD COLUMN k serial;",
    ),
    # -- ADD COLUMN ------------------------------------------------------------------------
    Case("add-nullable", "ALTER TABLE {t} ADD COLUMN x text;"),
    Case("add-constant-default", "ALTER TABLE {t} ADD COLUMN x integer DEFAULT 0;"),
    Case("add-now-default", "ALTER TABLE {t} ADD COLUMN x timestamptz DEFAULT now();"),
    Case("add-uuid-default", "ALTER TABLE {t} ADD COLUMN x uuid DEFAULT gen_random_uuid();"),
    Case("add-random-default", "ALTER TABLE {t} ADD COLUMN x float8 DEFAULT random();"),
    Case(
        "add-clock-default", "ALTER TABLE {t} ADD COLUMN x timestamptz DEFAULT clock_timestamp();"
    ),
    Case("add-not-null-default", "ALTER TABLE {t} ADD COLUMN x integer NOT NULL DEFAULT 0;"),
    Case("add-not-null-no-default", "ALTER TABLE {t} ADD COLUMN x integer NOT NULL;"),
    Case("add-serial", "ALTER TABLE {t} ADD COLUMN x serial;"),
    Case("add-identity", "ALTER TABLE {t} ADD COLUMN x bigint GENERATED ALWAYS AS IDENTITY;"),
    Case(
        "add-generated-stored",
        "ALTER TABLE {t} ADD COLUMN x integer GENERATED ALWAYS AS (a * 2) STORED;",
    ),
    Case(
        "add-generated-virtual", "ALTER TABLE {t} ADD COLUMN x integer GENERATED ALWAYS AS (a * 2);"
    ),
    Case("add-column-check", "ALTER TABLE {t} ADD COLUMN x integer CHECK (x > 0);"),
    Case(
        "add-column-references",
        "ALTER TABLE {t} ADD COLUMN x bigint REFERENCES parent_{t} (id);",
        setup="CREATE TABLE parent_{t} (id bigint PRIMARY KEY);\n"
        "INSERT INTO parent_{t} VALUES (1), (2), (3);",
    ),
    Case(
        "add-column-default-references",
        "ALTER TABLE {t} ADD COLUMN x bigint DEFAULT 1 REFERENCES parent_{t} (id);",
        setup="CREATE TABLE parent_{t} (id bigint PRIMARY KEY);\n"
        "INSERT INTO parent_{t} VALUES (1), (2), (3);",
    ),
    Case("add-column-unique", "ALTER TABLE {t} ADD COLUMN x integer UNIQUE;"),
    Case(
        "two-actions",
        "ALTER TABLE {t} ADD COLUMN x integer, ALTER COLUMN a TYPE bigint;",
    ),
    # -- NOT NULL --------------------------------------------------------------------------
    Case("set-not-null", "ALTER TABLE {t} ALTER COLUMN b SET NOT NULL;"),
    Case(
        "set-not-null-after-valid-check",
        "ALTER TABLE {t} ALTER COLUMN b SET NOT NULL;",
        setup="ALTER TABLE {t} ADD CONSTRAINT {t}_b_nn CHECK (b IS NOT NULL);",
    ),
    Case(
        "set-not-null-after-not-valid-check",
        "ALTER TABLE {t} ALTER COLUMN b SET NOT NULL;",
        setup="ALTER TABLE {t} ADD CONSTRAINT {t}_b_nn CHECK (b IS NOT NULL) NOT VALID;",
    ),
    Case(
        "set-not-null-validated-in-the-file",
        "ALTER TABLE {t} VALIDATE CONSTRAINT {t}_b_nn;\n"
        "ALTER TABLE {t} ALTER COLUMN b SET NOT NULL;",
        setup="ALTER TABLE {t} ADD CONSTRAINT {t}_b_nn CHECK (b IS NOT NULL) NOT VALID;",
    ),
    Case("drop-not-null", "ALTER TABLE {t} ALTER COLUMN id DROP NOT NULL;", primary_key=False),
    # -- constraints -----------------------------------------------------------------------
    Case("add-check", "ALTER TABLE {t} ADD CONSTRAINT {t}_a_check CHECK (a > 0);"),
    Case(
        "add-check-not-valid",
        "ALTER TABLE {t} ADD CONSTRAINT {t}_a_check CHECK (a > 0) NOT VALID;",
    ),
    Case(
        "add-foreign-key",
        "ALTER TABLE {t} ADD CONSTRAINT {t}_a_fkey FOREIGN KEY (a) REFERENCES parent_{t} (id);",
        setup="CREATE TABLE parent_{t} (id integer PRIMARY KEY);\n"
        "INSERT INTO parent_{t} VALUES (1), (2), (3);",
    ),
    Case(
        "add-foreign-key-not-valid",
        "ALTER TABLE {t} ADD CONSTRAINT {t}_a_fkey FOREIGN KEY (a) REFERENCES parent_{t} (id)"
        " NOT VALID;",
        setup="CREATE TABLE parent_{t} (id integer PRIMARY KEY);",
    ),
    Case("add-unique", "ALTER TABLE {t} ADD CONSTRAINT {t}_a_key UNIQUE (a);"),
    Case("add-primary-key", "ALTER TABLE {t} ADD PRIMARY KEY (id);", primary_key=False),
    Case(
        "add-unique-using-index",
        "ALTER TABLE {t} ADD CONSTRAINT {t}_a_key UNIQUE USING INDEX {t}_a_uidx;",
        setup="CREATE UNIQUE INDEX {t}_a_uidx ON {t} (a);",
    ),
    Case(
        "add-exclusion",
        "ALTER TABLE {t} ADD CONSTRAINT {t}_r_excl EXCLUDE USING gist (r WITH &&);",
    ),
    Case(
        "validate-check",
        "ALTER TABLE {t} VALIDATE CONSTRAINT {t}_a_check;",
        setup="ALTER TABLE {t} ADD CONSTRAINT {t}_a_check CHECK (a > 0) NOT VALID;",
    ),
    Case(
        "validate-foreign-key",
        "ALTER TABLE {t} VALIDATE CONSTRAINT {t}_a_fkey;",
        setup="CREATE TABLE parent_{t} (id integer PRIMARY KEY);\n"
        "INSERT INTO parent_{t} VALUES (1), (2), (3);\n"
        "ALTER TABLE {t} ADD CONSTRAINT {t}_a_fkey FOREIGN KEY (a) REFERENCES parent_{t} (id)"
        " NOT VALID;",
    ),
    Case(
        "drop-constraint",
        "ALTER TABLE {t} DROP CONSTRAINT {t}_a_check;",
        setup="ALTER TABLE {t} ADD CONSTRAINT {t}_a_check CHECK (a > 0);",
    ),
    Case(
        "rename-constraint",
        "ALTER TABLE {t} RENAME CONSTRAINT {t}_a_check TO {t}_a_positive;",
        setup="ALTER TABLE {t} ADD CONSTRAINT {t}_a_check CHECK (a > 0);",
    ),
    # -- indexes ---------------------------------------------------------------------------
    Case("create-index", "CREATE INDEX {t}_a_idx ON {t} (a);"),
    Case("create-unique-index", "CREATE UNIQUE INDEX {t}_a_idx ON {t} (a);"),
    Case(
        "create-index-concurrently", "CREATE INDEX CONCURRENTLY {t}_a_idx ON {t} (a);", outside=True
    ),
    Case(
        "create-index-concurrently-in-a-transaction",
        "CREATE INDEX CONCURRENTLY {t}_a_idx ON {t} (a);",
    ),
    Case("drop-index", "DROP INDEX {t}_c_idx;"),
    Case("drop-index-concurrently", "DROP INDEX CONCURRENTLY {t}_c_idx;", outside=True),
    Case("reindex-index", "REINDEX INDEX {t}_c_idx;"),
    Case("reindex-table", "REINDEX TABLE {t};"),
    Case("reindex-concurrently", "REINDEX INDEX CONCURRENTLY {t}_c_idx;", outside=True),
    # -- enums -----------------------------------------------------------------------------
    Case(
        "enum-add-value",
        "ALTER TYPE mood_{t} ADD VALUE 'newer';",
        setup="CREATE TYPE mood_{t} AS ENUM ('new', 'old');\n"
        "ALTER TABLE {t} ADD COLUMN e mood_{t};",
    ),
    Case(
        "enum-add-value-used-in-its-transaction",
        "ALTER TYPE mood_{t} ADD VALUE 'newer';\nUPDATE {t} SET e = 'newer' WHERE id = 1;",
        setup="CREATE TYPE mood_{t} AS ENUM ('new', 'old');\n"
        "ALTER TABLE {t} ADD COLUMN e mood_{t};",
    ),
    Case(
        "enum-rename-recreate",
        "ALTER TYPE mood_{t} RENAME TO mood_{t}_old;\n"
        "CREATE TYPE mood_{t} AS ENUM ('new', 'old', 'newer');\n"
        "ALTER TABLE {t} ALTER COLUMN e TYPE mood_{t} USING e::text::mood_{t};\n"
        "DROP TYPE mood_{t}_old;",
        setup="CREATE TYPE mood_{t} AS ENUM ('new', 'old');\n"
        "ALTER TABLE {t} ADD COLUMN e mood_{t};",
    ),
    # -- the other ALTER TABLE actions -----------------------------------------------------
    Case("drop-column", "ALTER TABLE {t} DROP COLUMN b;"),
    Case("set-default", "ALTER TABLE {t} ALTER COLUMN a SET DEFAULT 1;"),
    Case(
        "drop-default",
        "ALTER TABLE {t} ALTER COLUMN a DROP DEFAULT;",
        setup="ALTER TABLE {t} ALTER COLUMN a SET DEFAULT 1;",
    ),
    Case("add-identity", "ALTER TABLE {t} ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY;"),
    Case(
        "drop-identity",
        "ALTER TABLE {t} ALTER COLUMN id DROP IDENTITY;",
        setup="ALTER TABLE {t} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY;",
    ),
    Case("enable-rls", "ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;"),
    Case("disable-rls", "ALTER TABLE {t} DISABLE ROW LEVEL SECURITY;"),
    Case("force-rls", "ALTER TABLE {t} FORCE ROW LEVEL SECURITY;"),
    Case("set-fillfactor", "ALTER TABLE {t} SET (fillfactor = 70);"),
    Case("set-statistics", "ALTER TABLE {t} ALTER COLUMN a SET STATISTICS 500;"),
    Case("set-storage", "ALTER TABLE {t} ALTER COLUMN b SET STORAGE EXTERNAL;"),
    Case("cluster-on", "ALTER TABLE {t} CLUSTER ON {t}_c_idx;"),
    Case("drop-cluster", "ALTER TABLE {t} SET WITHOUT CLUSTER;"),
    Case("reset-options", "ALTER TABLE {t} RESET (fillfactor);"),
    Case("column-options", "ALTER TABLE {t} ALTER COLUMN a SET (n_distinct = 10);"),
    Case("replica-identity", "ALTER TABLE {t} REPLICA IDENTITY FULL;"),
    Case(
        "set-identity",
        "ALTER TABLE {t} ALTER COLUMN id SET GENERATED BY DEFAULT;",
        setup="ALTER TABLE {t} ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY;",
    ),
    Case(
        "alter-constraint",
        "ALTER TABLE {t} ALTER CONSTRAINT {t}_a_fkey DEFERRABLE;",
        setup="CREATE TABLE parent_{t} (id integer PRIMARY KEY);\n"
        "INSERT INTO parent_{t} VALUES (1), (2), (3);\n"
        "ALTER TABLE {t} ADD CONSTRAINT {t}_a_fkey FOREIGN KEY (a) REFERENCES parent_{t} (id);",
    ),
    Case(
        "inherit",
        "ALTER TABLE {t} INHERIT base_{t};",
        setup="CREATE TABLE base_{t} (id bigint);",
    ),
    Case("owner-to", "ALTER TABLE {t} OWNER TO CURRENT_USER;"),
    Case(
        "enable-trigger",
        "ALTER TABLE {t} ENABLE ALWAYS TRIGGER {t}_touch;",
        setup="CREATE FUNCTION touch_{t}() RETURNS trigger LANGUAGE plpgsql AS"
        " $$BEGIN RETURN NEW; END$$;\n"
        "CREATE TRIGGER {t}_touch BEFORE UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION touch_{t}();",
    ),
    Case(
        "disable-trigger",
        "ALTER TABLE {t} DISABLE TRIGGER {t}_touch;",
        setup="CREATE FUNCTION touch_{t}() RETURNS trigger LANGUAGE plpgsql AS"
        " $$BEGIN RETURN NEW; END$$;\n"
        "CREATE TRIGGER {t}_touch BEFORE UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION touch_{t}();",
    ),
    Case("set-unlogged", "ALTER TABLE {t} SET UNLOGGED;"),
    Case("set-logged", "ALTER TABLE {t} SET LOGGED;", setup="ALTER TABLE {t} SET UNLOGGED;"),
    Case("rename-table", "ALTER TABLE {t} RENAME TO {t}_renamed;"),
    Case("rename-column", "ALTER TABLE {t} RENAME COLUMN b TO b2;"),
    Case(
        "attach-partition",
        "ALTER TABLE parted_{t} ATTACH PARTITION {t} FOR VALUES FROM (1) TO (100);",
        setup="CREATE TABLE parted_{t} (LIKE {t}) PARTITION BY RANGE (id);",
        primary_key=False,
    ),
    Case(
        "detach-partition",
        "ALTER TABLE parted_{t} DETACH PARTITION part_{t};",
        setup="CREATE TABLE parted_{t} (id bigint) PARTITION BY RANGE (id);\n"
        "CREATE TABLE part_{t} PARTITION OF parted_{t} FOR VALUES FROM (1) TO (100);",
    ),
    Case(
        "detach-partition-concurrently",
        "ALTER TABLE parted_{t} DETACH PARTITION part_{t} CONCURRENTLY;",
        setup="CREATE TABLE parted_{t} (id bigint) PARTITION BY RANGE (id);\n"
        "CREATE TABLE part_{t} PARTITION OF parted_{t} FOR VALUES FROM (1) TO (100);",
        outside=True,
    ),
    # -- whole tables ----------------------------------------------------------------------
    Case("drop-table", "DROP TABLE {t};"),
    Case("truncate", "TRUNCATE {t};"),
    Case("cluster", "CLUSTER {t} USING {t}_c_idx;"),
    Case("vacuum-full", "VACUUM FULL {t};", outside=True),
    Case("vacuum", "VACUUM {t};", outside=True),
    Case(
        "create-trigger",
        "CREATE TRIGGER {t}_touch BEFORE UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION touch_{t}();",
        setup="CREATE FUNCTION touch_{t}() RETURNS trigger LANGUAGE plpgsql AS"
        " $$BEGIN RETURN NEW; END$$;",
    ),
    Case(
        "drop-trigger",
        "DROP TRIGGER {t}_touch ON {t};",
        setup="CREATE FUNCTION touch_{t}() RETURNS trigger LANGUAGE plpgsql AS"
        " $$BEGIN RETURN NEW; END$$;\n"
        "CREATE TRIGGER {t}_touch BEFORE UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION touch_{t}();",
    ),
    Case("create-policy", "CREATE POLICY {t}_all ON {t} USING (true);"),
    Case(
        "drop-policy",
        "DROP POLICY {t}_all ON {t};",
        setup="CREATE POLICY {t}_all ON {t} USING (true);",
    ),
    Case("update", "UPDATE {t} SET a = a + 1;"),
    Case("delete", "DELETE FROM {t} WHERE a > 100;"),
]


def _table(number: int) -> str:
    return f"m{number:03d}"


def _files() -> list[tuple[str, str]]:
    setup = []
    files = []
    for number, case in enumerate(CASES, 1):
        table = _table(number)
        setup.append(TABLE.format(t=table))
        if case.primary_key:
            setup.append(f"ALTER TABLE {table} ADD PRIMARY KEY (id);\n")
        if case.setup:
            setup.append(case.setup.format(t=table) + "\n")
        head = "-- +goose NO TRANSACTION\n" if case.outside else ""
        files.append((f"{number + 1:04d}_{case.id}.sql", head + case.sql.format(t=table) + "\n"))
    return [("0001_setup.sql", "".join(setup)), *files]


@dataclass
class Row:
    """One statement of a case: what the model says and what the server did."""

    case: str
    line: int
    statement: str
    model_lock: str
    model_rewrite: bool
    model_slow: bool
    server: StatementTrace | None
    table: str
    # The model's rewrite depends on the session's time zone, which the file does not set.
    time_zone: bool = False
    disagreements: list[str] = field(default_factory=list)


@dataclass
class Matrix:
    rows: list[Row]
    failures: dict[str, tuple[bool, bool]]  # case -> (model says it fails, it fails)
    build: ServerBuild


_matrix: list[Matrix] = []


@pytest.fixture(scope="module")
def matrix(pg_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Matrix:
    if not _matrix:
        _matrix.append(run_matrix(pg_server, tmp_path_factory.mktemp("matrix")))
    return _matrix[0]


def run_matrix(server: Server, folder: Path) -> Matrix:
    write_migrations(folder, _files())
    settings = Settings(runner="goose", pg_version=server.version or 18)
    (history,) = replay_histories([folder], settings)
    build = build_on_server(server, history, trace=True)
    run = lint([folder], Settings(runner="goose", pg_version=server.version or 18, select=("all",)))
    claimed = {(f.file, f.line) for f in run.result.findings if f.rule in FAILING_RULES}
    rows: list[Row] = []
    failures: dict[str, tuple[bool, bool]] = {}
    traces = {t.file: t for t in build.traces}
    outcomes = {o.file: o for o in build.outcomes}
    for number, (case, source) in enumerate(zip(CASES, history.sources[1:], strict=True), 1):
        table = f"public.{_table(number)}"
        file_trace = traces[source.display]
        outcome = outcomes[source.display]
        fails = not outcome.ok or file_trace.fails_with_rows is not None
        says = any(file == source.display for file, _ in claimed)
        failures[case.id] = (says, fails)
        by_line = {t.line: t for t in file_trace.statements}
        for line, changes in _changes_by_line(history.model.changes, source):
            trace = by_line.get(line)
            by_table: dict[str, list[Change]] = {}
            for change in changes:
                if change.table is not None and change.table_existed:
                    name = change.table.qualified_name
                    if trace is not None and name not in trace.locks and name not in trace.held:
                        name = table  # renamed since: the trace names it as it was
                    by_table.setdefault(name, []).append(change)
            for name, on_table in by_table.items():
                row = Row(
                    case.id,
                    line,
                    changes[0].statement.text.splitlines()[0],
                    heaviest(c.lock for c in on_table),
                    any(c.rewrites_table for c in on_table),
                    any(c.slow for c in on_table),
                    trace,
                    name,
                    time_zone=any(c.rewrite_depends_on_time_zone for c in on_table),
                )
                _compare(row, fails)
                rows.append(row)
    return Matrix(rows, failures, build)


def _changes_by_line(changes: list[Change], source: object) -> Iterator[tuple[int, list[Change]]]:
    grouped: dict[int, list[Change]] = {}
    for change in changes:
        if change.statement.source is source:
            grouped.setdefault(change.statement.line, []).append(change)
    yield from sorted(grouped.items())


def _compare(row: Row, file_fails: bool) -> None:
    trace = row.server
    if trace is None:
        if row.model_lock or row.model_rewrite:
            row.disagreements.append("the server trace has no entry for it")
        return
    if trace.failed:
        return  # what a failed statement would have done is not measured (failures compared)
    taken = trace.locks.get(row.table, [])
    held = trace.held.get(row.table, [])
    measured = heaviest(taken)
    if row.model_lock != measured:
        # A mode held since an earlier statement of the transaction does not show again.
        weaker = LOCK_RANK.get(measured, 0) <= LOCK_RANK.get(row.model_lock, 0)
        if not (row.model_lock in held and weaker):
            row.disagreements.append(
                f"lock: model {row.model_lock or 'none'}, server {measured or 'none'}"
                + (f" (held: {', '.join(held)})" if held else "")
            )
    rewritten = row.table in trace.rewritten
    # timestamp <-> timestamptz with the server's time zone: the model says "a rewrite unless
    # the session's time zone is UTC", and the rule says so; both outcomes agree with it.
    either = row.time_zone and row.model_rewrite and not rewritten
    if row.model_rewrite != rewritten and not either:
        row.disagreements.append(f"rewrite: model {row.model_rewrite}, server {rewritten}")
    scanned = rewritten or (trace.scanned is not None and row.table in trace.scanned)
    if trace.scanned is not None and row.model_slow != scanned and not either:
        row.disagreements.append(f"scan: model {row.model_slow}, server {scanned}")


def test_the_model_agrees_with_the_server(matrix: Matrix) -> None:
    lines = [
        f"{row.case} line {row.line} ({row.statement}): {'; '.join(row.disagreements)}"
        for row in matrix.rows
        if row.disagreements
    ]
    lines += [
        f"{case}: model says it {'fails' if says else 'succeeds'}, "
        f"the server {'refuses it' if fails else 'runs it'}"
        for case, (says, fails) in matrix.failures.items()
        if says != fails
    ]
    assert not lines, "\n".join(lines)


def test_every_case_was_measured(matrix: Matrix) -> None:
    """Each case has statements compared, and a measured lock for those that take one."""
    compared = {row.case for row in matrix.rows}
    assert compared >= {c.id for c in CASES} - {"enum-add-value"}
    assert len(matrix.rows) >= len(CASES)


def test_facts_the_comparison_rests_on(matrix: Matrix) -> None:
    """A few server facts written out, so that a trace measuring nothing cannot pass."""
    by_case = {row.case: row for row in matrix.rows}

    def lock(case: str) -> str:
        trace = by_case[case].server
        assert trace is not None, case
        return heaviest(trace.locks.get(by_case[case].table, []))

    assert lock("create-index") == "SHARE"
    assert lock("create-index-concurrently") == "SHARE UPDATE EXCLUSIVE"
    assert lock("add-foreign-key") == "SHARE ROW EXCLUSIVE"
    assert lock("validate-check") == "SHARE UPDATE EXCLUSIVE"
    assert lock("add-column-check") == "ACCESS EXCLUSIVE"
    assert lock("vacuum-full") == "ACCESS EXCLUSIVE"
    int_to_bigint = by_case["int-to-bigint"].server
    varchar_to_text = by_case["varchar-to-text"].server
    assert int_to_bigint is not None and int_to_bigint.rewritten == [by_case["int-to-bigint"].table]
    assert varchar_to_text is not None and varchar_to_text.rewritten == []
    add_check = by_case["add-check"].server
    not_valid = by_case["add-check-not-valid"].server
    assert add_check is not None and add_check.scanned == [by_case["add-check"].table]
    assert not_valid is not None and not_valid.scanned == []
    assert matrix.failures["enum-swap-with-default"] == (True, True)
    assert matrix.failures["enum-to-text-with-default"] == (False, False)
    assert matrix.failures["add-not-null-no-default"] == (True, True)


def test_enum_swaps_alter_type_could_not_make_are_not_reported(lint_sql: LintSql) -> None:
    """enum-recreate-instead-of-alter: only a swap ADD VALUE / RENAME VALUE could have made
    (values added or renamed in place), not one that removes or reorders values."""
    base = (
        "-- file: 0001_init.sql\n"
        "CREATE TYPE level AS ENUM ('low', 'mid', 'high');\n"
        "CREATE TABLE alerts (id bigint PRIMARY KEY, level level NOT NULL);\n"
        "-- file: 0002_swap.sql\n"
        "ALTER TYPE level RENAME TO level_old;\n"
        "CREATE TYPE level AS ENUM ({values});\n"
        "ALTER TABLE alerts ALTER COLUMN level TYPE level USING level::text::level;\n"
        "DROP TYPE level_old;\n"
    )
    reported = {
        "'none', 'low', 'mid', 'high'": True,  # ADD VALUE 'none' BEFORE 'low'
        "'low', 'medium', 'high'": True,  # RENAME VALUE 'mid' TO 'medium'
        "'low', 'high'": False,  # 'mid' is gone: the conversion is needed
        "'high', 'mid', 'low'": False,  # reordered
    }
    for values, expected in reported.items():
        run = lint_sql(base.format(values=values))
        found = bool(findings_of(run, "enum-recreate-instead-of-alter"))
        assert found == expected, values
