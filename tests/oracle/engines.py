"""The MySQL and SQLite oracle: apply a migration history to the engine itself, read back what
it built, and compare that with the replayed model (`schema --format json`).

- SQLite: Python's `sqlite3` applies each file in order (`executescript`, autocommit: a
  file's own BEGIN/COMMIT and `PRAGMA foreign_keys` take effect as they would in the
  `sqlite3` shell); the catalog is read from `sqlite_schema` and the pragma table-valued
  functions (`pragma_table_xinfo`, `pragma_foreign_key_list`, `pragma_index_list`,
  `pragma_index_xinfo`), CHECK constraints from the stored CREATE TABLE text.
- MariaDB (`tests/oracle/mariadb.py`): each file goes to the server whole on one connection
  (multi-statement queries: the server splits it, as drivers with multiStatements do), cut
  at `DELIMITER` lines first, as the `mariadb` client and Flyway do; the catalog is read from
  information_schema (TABLES, COLUMNS, STATISTICS, TABLE_CONSTRAINTS, KEY_COLUMN_USAGE,
  REFERENTIAL_CONSTRAINTS, CHECK_CONSTRAINTS, VIEWS, TRIGGERS, ROUTINES).

Both engines are read into one shape (`EngineCatalog`), and `compare(catalog, model)` lists
the differences with a `schema --format json` document. What is compared, and how each side
is normalised, is in docs/oracle-engines.md.
"""

from __future__ import annotations

import base64
import functools
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from tests.oracle.mariadb import Server

# -- the engine's catalog, one shape for both engines ----------------------------------------


@dataclass
class Column:
    name: str
    type: str  # as the engine spells it (SQLite: the declared type, verbatim)
    not_null: bool
    default: str | None  # SQL text as the engine keeps it; None: no default
    auto_increment: bool = False
    generated: str | None = None
    charset: str | None = None  # MariaDB: a character column's character set and collation
    collation: str | None = None


@dataclass
class Index:
    name: str
    columns: list[str]  # a key that is an expression is "(expression)"
    unique: bool
    origin: str = "index"  # "index" (CREATE INDEX / KEY), "unique" (a UNIQUE constraint)
    predicate: str | None = None  # SQLite partial indexes
    kind: str = "btree"  # "fulltext", "spatial" (MariaDB)


@dataclass
class ForeignKey:
    name: str | None  # SQLite keeps none
    columns: list[str]
    references_table: str
    references_columns: list[str]
    on_delete: str
    on_update: str


@dataclass
class Check:
    name: str | None
    expression: str


@dataclass
class Trigger:
    name: str
    timing: str  # "before", "after", "instead of"
    events: list[str]  # "insert", "delete", "update"


@dataclass
class Table:
    name: str
    columns: list[Column] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    triggers: list[Trigger] = field(default_factory=list)
    engine: str | None = None  # MariaDB: ENGINE and the table's default collation
    collation: str | None = None


@dataclass
class EngineCatalog:
    engine: str  # "sqlite" or "mariadb"
    version: str
    tables: dict[str, Table] = field(default_factory=dict)
    views: list[str] = field(default_factory=list)
    routines: list[str] = field(default_factory=list)  # MariaDB procedures and functions

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FileOutcome:
    file: Path
    error: str | None  # what the engine said when it rejected the file


@dataclass
class EngineBuild:
    catalog: EngineCatalog
    outcomes: list[FileOutcome]

    @property
    def failures(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.error is not None]


def _is_blank(text: str) -> bool:
    """Whitespace and comments only (pop's per-dialect placeholders, commented-out files)."""
    text = re.sub(r"/\*(?!!).*?\*/", "", text, flags=re.DOTALL)
    text = re.sub(r"(--[ \t\r]|--$|#)[^\n]*", "", text, flags=re.MULTILINE)
    return not text.strip().strip(";").strip()


# -- SQLite -----------------------------------------------------------------------------------


def _bin2b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode()


# SQL functions an application registers on its own SQLite connections, which its migrations
# call: name -> (number of arguments, the function). Authelia's Go storage provider
# registers BIN2B64 (a blob as base64 text); its V0002 migration converts keys with it.
SQLITE_FUNCTIONS: dict[str, tuple[int, Callable[..., str | int | float | bytes | None]]] = {
    "BIN2B64": (1, _bin2b64),
}


def apply_sqlite(
    files: Sequence[Path], database: str = ":memory:", functions: Iterable[str] = ()
) -> EngineBuild:
    """Apply the files in order to a new SQLite database and read its catalog; `functions`:
    names of SQLITE_FUNCTIONS the history's application provides."""
    connection = sqlite3.connect(database, isolation_level=None)
    for name in functions:
        arguments, function = SQLITE_FUNCTIONS[name]
        connection.create_function(name, arguments, function, deterministic=True)
    try:
        outcomes = []
        for path in files:
            text = path.read_text(encoding="utf-8", errors="replace")
            error = None
            if not _is_blank(text):
                try:
                    connection.executescript(text)
                except sqlite3.Error as failure:
                    error = f"{type(failure).__name__}: {failure}"
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
            outcomes.append(FileOutcome(path, error))
        return EngineBuild(read_sqlite(connection), outcomes)
    finally:
        connection.close()


def read_sqlite(connection: sqlite3.Connection) -> EngineCatalog:
    catalog = EngineCatalog("sqlite", sqlite3.sqlite_version)
    rows = connection.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_schema"
        " WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY type, name"
    ).fetchall()
    triggers: list[tuple[str, str, str]] = []
    # The tables a virtual table (FTS5, R*Tree) keeps its data in are not the migration's.
    shadow = {
        row[0]
        for row in connection.execute(
            "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'shadow'"
        )
    }
    for kind, name, table_name, text in rows:
        if kind == "table" and name in shadow:
            continue
        if kind == "table":
            catalog.tables[name] = _sqlite_table(connection, name, text or "")
        elif kind == "view":
            catalog.views.append(name)
        elif kind == "trigger":
            triggers.append((name, table_name, text or ""))
    for name, table_name, text in triggers:
        table = catalog.tables.get(table_name)
        if table is not None:
            table.triggers.append(_sqlite_trigger(name, text))
    return catalog


def _sqlite_table(connection: sqlite3.Connection, name: str, text: str) -> Table:
    table = Table(name)
    pk: list[tuple[int, str]] = []
    for column, declared, notnull, default, in_pk, hidden in connection.execute(
        'SELECT name, type, "notnull", dflt_value, pk, hidden FROM pragma_table_xinfo(?)',
        (name,),
    ):
        if hidden == 1:  # a virtual table's hidden column
            continue
        generated = _sqlite_generated(text).get(column) if hidden in (2, 3) else None
        table.columns.append(Column(column, declared, bool(notnull), default, False, generated))
        if in_pk:
            pk.append((in_pk, column))
    table.primary_key = [column for _, column in sorted(pk)]
    # An INTEGER PRIMARY KEY is the rowid: it autoincrements with or without AUTOINCREMENT,
    # and never holds NULL (an INSERT of NULL takes the next rowid), though pragma_table_xinfo
    # reports only the NOT NULL it was declared with.
    if len(pk) == 1 and _sqlite_rowid_alias(table, pk[0][1], text):
        for column_entry in table.columns:
            if column_entry.name == pk[0][1]:
                column_entry.auto_increment = True
                column_entry.not_null = True
    foreign: dict[int, ForeignKey] = {}
    for key, _seq, parent, child, parent_column, on_update, on_delete in connection.execute(
        'SELECT id, seq, "table", "from", "to", on_update, on_delete'
        " FROM pragma_foreign_key_list(?) ORDER BY id, seq",
        (name,),
    ):
        entry = foreign.setdefault(key, ForeignKey(None, [], parent, [], on_delete, on_update))
        entry.columns.append(child)
        entry.references_columns.append(parent_column)
    for entry in foreign.values():
        if all(c is None for c in entry.references_columns):
            # REFERENCES parent without columns: the parent's primary key.
            entry.references_columns = _sqlite_primary_key(connection, entry.references_table)
    table.foreign_keys = sorted(foreign.values(), key=lambda f: (f.columns, f.references_table))
    for _seq, index, unique, origin, partial in connection.execute(
        "SELECT seq, name, [unique], origin, partial FROM pragma_index_list(?)", (name,)
    ):
        if origin == "pk":
            continue  # the primary key, compared as such
        index_sql = connection.execute(
            "SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = ?", (index,)
        ).fetchone()
        columns = [
            column if column is not None else "(expression)"
            for (column,) in connection.execute(
                "SELECT name FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno", (index,)
            )
        ]
        predicate = None
        if partial and index_sql and index_sql[0]:
            match = re.search(r"\bWHERE\b(.*)$", index_sql[0], re.IGNORECASE | re.DOTALL)
            predicate = match.group(1).strip() if match else None
        table.indexes.append(
            Index(
                index,
                columns,
                bool(unique),
                "unique" if origin == "u" else "index",
                predicate,
            )
        )
    table.indexes.sort(key=lambda i: i.name)
    table.checks = _checks_of(text, "sqlite")
    return table


def _sqlite_primary_key(connection: sqlite3.Connection, table: str) -> list[str]:
    rows = connection.execute(
        "SELECT name, pk FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", (table,)
    ).fetchall()
    return [row[0] for row in rows]


def _sqlite_rowid_alias(table: Table, column: str, text: str) -> bool:
    declared = next((c.type for c in table.columns if c.name == column), "")
    return declared.upper() == "INTEGER" and "WITHOUT ROWID" not in text.upper()


@functools.lru_cache(maxsize=64)
def _sqlite_generated(text: str) -> dict[str, str]:
    """Generated column -> its expression, from a CREATE TABLE text (parsed once a table)."""
    try:
        tree = sqlglot.parse_one(text, read="sqlite")
    except sqlglot.errors.SqlglotError:
        return {}
    found = {}
    for definition in tree.find_all(exp.ColumnDef):
        for constraint in definition.find_all(exp.ComputedColumnConstraint):
            found[definition.name] = str(constraint.this.sql("sqlite"))
    return found


_TRIGGER = re.compile(
    r"\bTRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?\S+\s+(BEFORE|AFTER|INSTEAD\s+OF)?\s*"
    r"(INSERT|DELETE|UPDATE)\b",
    re.IGNORECASE,
)


def _sqlite_trigger(name: str, text: str) -> Trigger:
    match = _TRIGGER.search(text)
    if match is None:
        return Trigger(name, "?", [])
    timing = " ".join((match.group(1) or "BEFORE").lower().split())
    return Trigger(name, timing, [match.group(2).lower()])


def _checks_of(create_table: str, dialect: str) -> list[Check]:
    """The CHECK constraints of a CREATE TABLE text (SQLite keeps them only there)."""
    if not re.search(r"\bCHECK\b", create_table, re.IGNORECASE):
        return []
    try:
        tree = sqlglot.parse_one(create_table, read=dialect)
    except sqlglot.errors.SqlglotError:
        return []
    checks = []
    for node in tree.find_all(exp.CheckColumnConstraint):
        parent = node.parent
        name = parent.name if isinstance(parent, exp.Constraint) else None
        checks.append(Check(name or None, node.this.sql(dialect)))
    return sorted(checks, key=lambda c: (c.name or "", c.expression))


# -- MariaDB ----------------------------------------------------------------------------------

_DELIMITER = re.compile(r"^[ \t]*DELIMITER[ \t]+(\S+)[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)


def mysql_batches(text: str) -> list[str]:
    """The queries to send for one file: with the standard delimiter, a stretch of the file
    goes whole (the server splits it); after `DELIMITER $$`, each `$$`-ended statement is one
    query (a CREATE PROCEDURE body keeps its inner `;`)."""
    batches: list[str] = []
    delimiter = ";"
    position = 0
    for match in [*_DELIMITER.finditer(text), None]:
        end = match.start() if match else len(text)
        chunk = text[position:end]
        if delimiter == ";":
            batches.append(chunk)
        else:
            batches.extend(chunk.split(delimiter))
        if match:
            delimiter = match.group(1)
            position = match.end()
    return [b for b in batches if not _is_blank(b)]


def apply_mariadb(server: Server, database: str, files: Sequence[Path]) -> EngineBuild:
    """Apply the files in order to `database` on one connection (session settings a file
    makes, such as FOREIGN_KEY_CHECKS, last, as on a runner's connection) and read the
    catalog. A file the server rejects stops where it failed (MySQL's DDL is not
    transactional: what ran before stays) and the next file still runs."""
    import pymysql

    outcomes = []
    connection = server.connect(database)
    try:
        for path in files:
            error = None
            for batch in mysql_batches(path.read_text(encoding="utf-8", errors="replace")):
                try:
                    with connection.cursor() as cursor:
                        cursor.execute(batch)
                        while cursor.nextset():
                            pass
                except pymysql.err.MySQLError as failure:
                    error = f"{type(failure).__name__} {failure.args[0]}: {failure.args[-1]}"
                    if not connection.open:  # the error closed it: a new session
                        connection = server.connect(database)
                    break
            outcomes.append(FileOutcome(path, error))
    finally:
        connection.close()
    return EngineBuild(read_mariadb(server, database), outcomes)


def read_mariadb(server: Server, database: str) -> EngineCatalog:
    with server.connect() as connection:
        cursor = connection.cursor()

        def query(text: str) -> list[tuple[Any, ...]]:
            cursor.execute(text, (database,))
            return list(cursor.fetchall())

        catalog = EngineCatalog("mariadb", server.version)
        for name, engine, collation in query(
            "SELECT TABLE_NAME, ENGINE, TABLE_COLLATION FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA = %s AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')"
            " ORDER BY TABLE_NAME"
        ):
            catalog.tables[name] = Table(name, engine=engine, collation=collation)
        catalog.views = [
            row[0]
            for row in query(
                "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s"
                " ORDER BY TABLE_NAME"
            )
        ]
        catalog.routines = [
            f"{row[1].lower()} {row[0]}"
            for row in query(
                "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES"
                " WHERE ROUTINE_SCHEMA = %s ORDER BY ROUTINE_NAME"
            )
        ]
        for (
            table,
            name,
            column_type,
            nullable,
            default,
            extra,
            generation,
            charset,
            collation,
        ) in query(
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA,"
            " GENERATION_EXPRESSION, CHARACTER_SET_NAME, COLLATION_NAME"
            " FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s"
            " ORDER BY TABLE_NAME, ORDINAL_POSITION"
        ):
            if table not in catalog.tables:
                continue  # a view's columns
            generated = generation if generation else None
            catalog.tables[table].columns.append(
                Column(
                    name,
                    column_type,
                    nullable == "NO",
                    None if generated else default,
                    "auto_increment" in (extra or "").lower(),
                    generated,
                    charset,
                    collation,
                )
            )
        constraint_types = {
            (row[0], row[1]): row[2]
            for row in query(
                "SELECT TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE"
                " FROM information_schema.TABLE_CONSTRAINTS WHERE TABLE_SCHEMA = %s"
            )
        }
        indexes: dict[tuple[str, str], Index] = {}
        for table, index, non_unique, column, sub_part, index_type in query(
            "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, INDEX_TYPE"
            " FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s"
            " ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
        ):
            if table not in catalog.tables:
                continue
            if index == "PRIMARY":
                catalog.tables[table].primary_key.append(column)
                continue
            kind = index_type.lower() if index_type in ("FULLTEXT", "SPATIAL") else "btree"
            origin = "unique" if constraint_types.get((table, index)) == "UNIQUE" else "index"
            entry = indexes.setdefault(
                (table, index), Index(index, [], not int(non_unique), origin, None, kind)
            )
            entry.columns.append(f"{column}({sub_part})" if sub_part else column)
        for (table, _), index_entry in sorted(indexes.items()):
            catalog.tables[table].indexes.append(index_entry)
        rules = {
            (row[0], row[1]): (row[2], row[3])
            for row in query(
                "SELECT TABLE_NAME, CONSTRAINT_NAME, DELETE_RULE, UPDATE_RULE"
                " FROM information_schema.REFERENTIAL_CONSTRAINTS"
                " WHERE CONSTRAINT_SCHEMA = %s"
            )
        }
        foreign: dict[tuple[str, str], ForeignKey] = {}
        for table, name, column, parent, parent_column in query(
            "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME,"
            " REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE"
            " WHERE TABLE_SCHEMA = %s AND REFERENCED_TABLE_NAME IS NOT NULL"
            " ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION"
        ):
            on_delete, on_update = rules.get((table, name), ("RESTRICT", "RESTRICT"))
            entry_fk = foreign.setdefault(
                (table, name), ForeignKey(name, [], parent, [], on_delete, on_update)
            )
            entry_fk.columns.append(column)
            entry_fk.references_columns.append(parent_column)
        for (table, _), fk in sorted(foreign.items()):
            if table in catalog.tables:
                catalog.tables[table].foreign_keys.append(fk)
        for table, name, clause in query(
            "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE"
            " FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = %s"
            " ORDER BY TABLE_NAME, CONSTRAINT_NAME"
        ):
            if table in catalog.tables:
                catalog.tables[table].checks.append(Check(name, clause))
        for name, event, table, timing in query(
            "SELECT TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_TIMING"
            " FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s"
            " ORDER BY TRIGGER_NAME"
        ):
            if table in catalog.tables:
                catalog.tables[table].triggers.append(
                    Trigger(name, timing.lower(), [event.lower()])
                )
        cursor.close()
    return catalog


# -- the comparison with `schema --format json` -------------------------------------------------


def compare(catalog: EngineCatalog, model: dict[str, Any]) -> list[str]:
    """Differences between what the engine built and one `schema --format json` document
    (one history), as lines naming the object; empty when they match. Tables are matched by
    name alone (a SQLite or MySQL history lives in one database: the model's `schema` field
    is not compared); external tables of the model are skipped."""
    dialect = "mysql" if catalog.engine == "mariadb" else "sqlite"
    differences: list[str] = []
    model_tables = {t["name"]: t for t in model.get("tables", []) if not t.get("external")}
    for name in sorted(set(catalog.tables) - set(model_tables)):
        differences.append(f"table {name}: on the engine, not in the model")
    for name in sorted(set(model_tables) - set(catalog.tables)):
        differences.append(f"table {name}: in the model, not on the engine")
    for name in sorted(set(catalog.tables) & set(model_tables)):
        differences += _compare_table(catalog.tables[name], model_tables[name], dialect)
    model_views = {v["name"] for v in model.get("views", [])}
    for name in sorted(set(catalog.views) ^ model_views):
        where = "on the engine, not in the model" if name in catalog.views else "in the model only"
        differences.append(f"view {name}: {where}")
    return differences


def _compare_table(table: Table, model: dict[str, Any], dialect: str) -> list[str]:
    where = f"table {table.name}"
    out: list[str] = []
    if model.get("columns_known", True):
        out += _compare_columns(table, model, dialect)
    model_pk = (model.get("primary_key") or {}).get("columns") or []
    if table.primary_key != list(model_pk):
        out.append(f"{where}: primary key {table.primary_key} on the engine, {model_pk} in model")
    out += _compare_indexes(table, model, dialect)
    if dialect == "mysql":
        out += _compare_options(
            where, (table.engine, table.collation), (model.get("engine"), model.get("charset"))
        )
        if model.get("collation") and model["collation"] != (table.collation or "").lower():
            out.append(
                f"{where}: collation {table.collation!r} on the engine, "
                f"{model['collation']!r} in the model"
            )
    out += _compare_foreign_keys(table, model, dialect)
    out += _compare_checks(table, model, dialect)
    engine_triggers = {t.name: t for t in table.triggers}
    model_triggers = {t["name"]: t for t in model.get("triggers", [])}
    for name in sorted(set(engine_triggers) ^ set(model_triggers)):
        side = "on the engine, not in the model" if name in engine_triggers else "model only"
        out.append(f"{where}: trigger {name}: {side}")
    for name in sorted(set(engine_triggers) & set(model_triggers)):
        mine, theirs = engine_triggers[name], model_triggers[name]
        if (mine.timing, mine.events) != (theirs.get("timing"), list(theirs.get("events", []))):
            out.append(
                f"{where}: trigger {name}: {mine.timing} {mine.events} on the engine, "
                f"{theirs.get('timing')} {theirs.get('events')} in the model"
            )
    return out


def _compare_columns(table: Table, model: dict[str, Any], dialect: str) -> list[str]:
    where = f"table {table.name}"
    out: list[str] = []
    engine_names = [c.name for c in table.columns]
    model_columns = list(model.get("columns", []))
    model_names = [c["name"] for c in model_columns]
    if engine_names != model_names:
        if sorted(engine_names) == sorted(model_names):
            out.append(f"{where}: column order {engine_names} on the engine, {model_names} model")
        else:
            for name in [n for n in engine_names if n not in model_names]:
                out.append(f"{where}: column {name}: on the engine, not in the model")
            for name in [n for n in model_names if n not in engine_names]:
                out.append(f"{where}: column {name}: in the model, not on the engine")
    by_name = {c["name"]: c for c in model_columns}
    for column in table.columns:
        theirs = by_name.get(column.name)
        if theirs is None:
            continue
        what = f"{where}: column {column.name}"
        model_type = str(theirs.get("type") or "")
        if normalise_type(column.type, dialect) != normalise_type(model_type, dialect):
            out.append(f"{what}: type {column.type!r} on the engine, {model_type!r} in the model")
        model_not_null = bool(theirs.get("not_null"))
        # MySQL: a PRIMARY KEY column is NOT NULL whatever it says.
        if column.not_null != model_not_null:
            out.append(f"{what}: not null {column.not_null} on the engine, {model_not_null} model")
        model_default = theirs.get("default")
        if normalise_default(column.default, dialect) != normalise_default(model_default, dialect):
            out.append(
                f"{what}: default {column.default!r} on the engine, {model_default!r} in the model"
            )
        model_auto = bool(theirs.get("auto_increment")) or theirs.get("identity") is not None
        if dialect == "mysql" and column.auto_increment != model_auto:
            out.append(f"{what}: auto_increment {column.auto_increment} on the engine, not model")
        for key, value in (("charset", column.charset), ("collation", column.collation)):
            # Only where the history writes it (the model's None: the server's default).
            if dialect == "mysql" and theirs.get(key) and theirs[key] != (value or "").lower():
                out.append(f"{what}: {key} {value!r} on the engine, {theirs[key]!r} in the model")
        model_generated = theirs.get("generated")
        if (column.generated is None) != (model_generated is None) or (
            column.generated is not None
            and not same_expression(column.generated, str(model_generated), dialect)
        ):
            out.append(
                f"{what}: generated {column.generated!r} on the engine, "
                f"{model_generated!r} in the model"
            )
    return out


def _compare_options(
    where: str, engine_side: tuple[str | None, str | None], model_side: tuple[Any, Any]
) -> list[str]:
    """A MySQL table's ENGINE and default character set (its collation's prefix), where the
    history writes them: a value it does not write is the server's default, which the model
    leaves out (None) and is not compared."""
    (engine, collation), (model_engine, model_charset) = engine_side, model_side
    out: list[str] = []
    if model_engine and str(model_engine).lower() != (engine or "").lower():
        out.append(f"{where}: engine {engine!r} on the engine, {model_engine!r} in the model")
    charset = (collation or "").lower().split("_", 1)[0]
    if model_charset and model_charset != charset:
        out.append(f"{where}: charset {charset!r} on the engine, {model_charset!r} in the model")
    return out


def _model_indexes(model: dict[str, Any]) -> list[Index]:
    """The model's indexes and UNIQUE constraints (in MySQL and SQLite a UNIQUE constraint is
    an index), without the primary key's."""
    primary = (model.get("primary_key") or {}).get("name")
    found: list[Index] = []
    for index in model.get("indexes", []):
        if index.get("constraint") and index.get("constraint") == primary:
            continue
        keys = [k.get("column", "(expression)") for k in index.get("keys", [])]
        method = str(index.get("method") or "btree").lower()
        origin = "unique" if index.get("constraint") else "index"
        found.append(
            Index(
                index.get("name") or "",
                keys,
                bool(index.get("unique")),
                origin,
                index.get("predicate"),
                method if method in ("fulltext", "spatial") else "btree",
            )
        )
    # A UNIQUE constraint's own index (its `constraint`) is the constraint: counted once.
    listed = {i.name for i in found if i.name} | {
        str(i["constraint"]) for i in model.get("indexes", []) if i.get("constraint")
    }
    for unique in model.get("unique", []):
        if unique.get("name") and unique["name"] in listed:
            continue
        found.append(Index(unique.get("name") or "", list(unique["columns"]), True, "unique"))
    return found


def _compare_indexes(table: Table, model: dict[str, Any], dialect: str) -> list[str]:
    """MySQL: every index by name (a UNIQUE constraint is a named index there). SQLite: indexes
    made by CREATE INDEX by name; UNIQUE constraints (autoindexes) by their columns.
    An index the engine made on its own for a foreign key (InnoDB, when no index starts with
    the key's columns) is not required of the model, nor reported when the model has it and
    the engine dropped it for another index that serves the key."""
    where = f"table {table.name}"
    out: list[str] = []
    fk_columns = [_bare(fk.columns) for fk in table.foreign_keys]

    def serves_a_key(index: Index) -> bool:
        return not index.unique and _bare(index.columns) in fk_columns and dialect == "mysql"

    mine = list(table.indexes)
    theirs = _model_indexes(model)
    if dialect == "sqlite":
        # Unnamed by the user: compared as column lists.
        engine_unique = sorted(_bare(i.columns) for i in mine if i.origin == "unique")
        model_unique = sorted(
            _bare(i.columns)
            for i in theirs
            if i.origin == "unique" or i.name.startswith("sqlite_autoindex_")
        )
        if engine_unique != model_unique:
            out.append(
                f"{where}: UNIQUE constraints {engine_unique} on the engine, "
                f"{model_unique} in the model"
            )
        mine = [i for i in mine if i.origin != "unique"]
        theirs = [
            i for i in theirs if i.origin != "unique" and not i.name.startswith("sqlite_autoindex_")
        ]
    engine_by_name = {i.name: i for i in mine}
    model_by_name = {i.name: i for i in theirs if i.name}
    # A model index without a name (MySQL names it after its first column) pairs with an
    # engine index of the same columns.
    for unnamed in [i for i in theirs if not i.name]:
        match = next(
            (
                i
                for i in mine
                if i.name not in model_by_name
                and _bare(i.columns) == _bare(unnamed.columns)
                and i.unique == unnamed.unique
            ),
            None,
        )
        if match is not None:
            model_by_name[match.name] = unnamed
        else:
            out.append(f"{where}: unnamed index on {unnamed.columns}: in the model only")
    for name in sorted(set(engine_by_name) - set(model_by_name)):
        if not serves_a_key(engine_by_name[name]):
            out.append(f"{where}: index {name}: on the engine, not in the model")
    for name in sorted(set(model_by_name) - set(engine_by_name)):
        if not serves_a_key(model_by_name[name]):
            out.append(f"{where}: index {name}: in the model, not on the engine")
    for name in sorted(set(engine_by_name) & set(model_by_name)):
        a, b = engine_by_name[name], model_by_name[name]
        if _bare(a.columns) != _bare(b.columns):
            out.append(f"{where}: index {name}: columns {a.columns} engine, {b.columns} model")
        if a.unique != b.unique:
            out.append(f"{where}: index {name}: unique {a.unique} engine, {b.unique} model")
        if a.kind != b.kind:
            out.append(f"{where}: index {name}: {a.kind} on the engine, {b.kind} in the model")
        if (a.predicate is None) != (b.predicate is None) or (
            a.predicate is not None
            and b.predicate is not None
            and not same_expression(a.predicate, b.predicate, dialect)
        ):
            out.append(f"{where}: index {name}: WHERE {a.predicate!r} engine, {b.predicate!r}")
    return out


def _bare(columns: Iterable[str]) -> tuple[str, ...]:
    """Key columns without a prefix length (`name(191)`): the model does not carry it yet."""
    return tuple(re.sub(r"\(\d+\)$", "", c).lower() for c in columns)


def _compare_foreign_keys(table: Table, model: dict[str, Any], dialect: str) -> list[str]:
    """Matched by columns and referenced table; names compared where both sides have one and
    the engine's is not one it made up (`<table>_ibfk_<n>`)."""
    where = f"table {table.name}"
    out: list[str] = []

    def key(columns: Iterable[str], parent: str) -> tuple[tuple[str, ...], str]:
        return _bare(columns), parent.rsplit(".", 1)[-1].lower()

    engine = {key(f.columns, f.references_table): f for f in table.foreign_keys}
    model_fks = {
        key(f["columns"], f["references"]["table"]): f for f in model.get("foreign_keys", [])
    }
    for k in sorted(set(engine) - set(model_fks)):
        out.append(f"{where}: foreign key {list(k[0])} -> {k[1]}: on the engine, not in model")
    for k in sorted(set(model_fks) - set(engine)):
        out.append(f"{where}: foreign key {list(k[0])} -> {k[1]}: in the model, not on engine")
    for k in sorted(set(engine) & set(model_fks)):
        mine, theirs = engine[k], model_fks[k]
        what = f"{where}: foreign key {list(k[0])} -> {k[1]}"
        if _bare(mine.references_columns) != _bare(theirs["references"]["columns"]):
            out.append(
                f"{what}: references {mine.references_columns} on the engine, "
                f"{theirs['references']['columns']} in the model"
            )
        for side, engine_rule in (("on_delete", mine.on_delete), ("on_update", mine.on_update)):
            if _rule(engine_rule, dialect) != _rule(theirs.get(side) or "NO ACTION", dialect):
                out.append(f"{what}: {side} {engine_rule} on the engine, {theirs.get(side)} model")
        made_up = re.fullmatch(rf"{re.escape(table.name)}_ibfk_\d+", mine.name or "")
        if mine.name and theirs.get("name") and not made_up and mine.name != theirs["name"]:
            out.append(f"{what}: named {mine.name} on the engine, {theirs['name']} in the model")
    return out


def _rule(rule: str, dialect: str) -> str:
    rule = " ".join(rule.upper().split())
    # InnoDB: NO ACTION is RESTRICT (checked at once); MariaDB reports an omitted rule as
    # RESTRICT.
    return "RESTRICT" if dialect == "mysql" and rule == "NO ACTION" else rule


def _compare_checks(table: Table, model: dict[str, Any], dialect: str) -> list[str]:
    """By expression (normalised through sqlglot); names where the model gives one and the
    engine did not make its own up (MariaDB: CONSTRAINT_<n>, and a column's CHECK named
    after its column; MySQL 8: <table>_chk_<n>). MariaDB's own CHECK (json_valid(`col`)) of
    a JSON column, named after it, pairs with the model's when it has one and is not
    required of it otherwise."""
    where = f"table {table.name}"
    columns = {c.name.lower() for c in table.columns}
    theirs = [(c.get("name"), str(c.get("expression", ""))) for c in model.get("checks", [])]
    out: list[str] = []
    unmatched = list(theirs)
    for check in table.checks:
        name = check.name or ""
        found = next(
            (t for t in unmatched if same_expression(check.expression, t[1], dialect)), None
        )
        if found is None:
            own_json_check = re.fullmatch(
                rf"json_valid\(`{re.escape(name)}`\)", check.expression.strip(), re.IGNORECASE
            )
            if not (dialect == "mysql" and own_json_check):
                out.append(f"{where}: CHECK {name} ({check.expression}): engine only")
            continue
        unmatched.remove(found)
        named_by_engine = dialect == "mysql" and (
            re.fullmatch(rf"CONSTRAINT_\d+|{re.escape(table.name)}_chk_\d+", name)
            or name.lower() in columns
        )
        if found[0] and name and not named_by_engine and found[0] != name:
            out.append(f"{where}: CHECK ({check.expression}): named {name}, {found[0]}")
    for model_name, expression in unmatched:
        out.append(f"{where}: CHECK {model_name or ''} ({expression}): in the model only")
    return out


# -- normalisation --------------------------------------------------------------------------------

_QUOTED = re.compile(r"'(?:[^'\\]|''|\\.)*'")

_MYSQL_SYNONYMS = {
    "integer": "int",
    "int4": "int",
    "int8": "bigint",
    "int2": "smallint",
    "int1": "tinyint",
    "int3": "mediumint",
    "middleint": "mediumint",
    "dec": "decimal",
    "numeric": "decimal",
    "fixed": "decimal",
    "double precision": "double",
    "real": "double",
    "float8": "double",
    "float4": "float",
    "character varying": "varchar",
    "national varchar": "varchar",
    "nvarchar": "varchar",
    "national char": "char",
    "nchar": "char",
    "character": "char",
    "long varchar": "mediumtext",
    "long": "mediumtext",
    "bool": "tinyint(1)",
    "boolean": "tinyint(1)",
    "serial": "bigint unsigned",
    "json": "longtext",  # MariaDB: an alias of LONGTEXT (plus a json_valid CHECK)
}


def _lower_outside_quotes(text: str) -> str:
    parts, position = [], 0
    for match in _QUOTED.finditer(text):
        parts.append(text[position : match.start()].lower())
        parts.append(match.group(0))
        position = match.end()
    parts.append(text[position:].lower())
    return "".join(parts)


def normalise_type(text: str, dialect: str) -> str:
    """One spelling per type: SQLite keeps the declared text (compared without case and
    spacing); MySQL's synonyms become the name information_schema shows, integer display
    widths go (MySQL 8 shows none; MariaDB does) except tinyint(1), the boolean."""
    spaced = " ".join(_lower_outside_quotes(text.strip()).split())
    spaced = re.sub(r"\s*,\s*", ",", spaced)
    spaced = re.sub(r"\s*\(\s*", "(", spaced)
    spaced = re.sub(r"\s*\)", ")", spaced)
    if dialect != "mysql":
        return spaced
    spaced = re.sub(r"\b(character set|charset|collate)\s+\w+", "", spaced)
    spaced = re.sub(r"\bsigned\b", "", spaced).strip()
    spaced = " ".join(spaced.split())
    base = re.match(r"[a-z ]+?(?=\(|$| unsigned| zerofill)", spaced)
    if base:
        name = base.group(0).strip()
        spaced = _MYSQL_SYNONYMS.get(name, name) + spaced[base.end() :]
    spaced = re.sub(r"^decimal(?=$| )", "decimal(10,0)", spaced)
    spaced = re.sub(r"^decimal\((\d+)\)", r"decimal(\1,0)", spaced)
    spaced = re.sub(r"^(char|binary|bit)(?=$| )", r"\1(1)", spaced)
    spaced = re.sub(r"^year\(4\)", "year", spaced)
    # Fractional seconds 0 is the default precision: information_schema shows none.
    spaced = re.sub(r"^(timestamp|datetime|time)\(0\)", r"\1", spaced)
    if not spaced.startswith("tinyint(1)"):
        spaced = re.sub(r"^(tinyint|smallint|mediumint|int|bigint)\(\d+\)", r"\1", spaced)
    return spaced


_NOW = re.compile(
    r"(current_timestamp|now|localtime|localtimestamp)(\s*\(\s*(\d*)\s*\))?", re.IGNORECASE
)


def normalise_default(text: str | None, dialect: str) -> tuple[str, Any] | None:
    """A default as a comparable value: None (no default, or NULL), ("number", Decimal) for a
    number, quoted or not, and TRUE/FALSE, ("string", value) for other literals, ("now",
    precision) for the current timestamp in any of its spellings, else ("expression", text
    without case, quoting of identifiers and spacing)."""
    if text is None:
        return None
    value = str(text).strip()
    while value.startswith("(") and value.endswith(")") and _balanced(value[1:-1]):
        value = value[1:-1].strip()
    if value.upper() == "NULL" or not value:
        return None
    if value.upper() in ("TRUE", "FALSE"):
        return ("number", Decimal(1 if value.upper() == "TRUE" else 0))
    if _QUOTED.fullmatch(value):
        inner = value[1:-1].replace("''", "'")
        inner = re.sub(r"\\(.)", r"\1", inner) if dialect == "mysql" else inner
        number = _number(inner)
        return ("number", number) if number is not None else ("string", inner)
    number = _number(value)
    if number is not None:
        return ("number", number)
    now = _NOW.fullmatch(value)
    if now:
        return ("now", int(now.group(3) or 0))
    if re.fullmatch(r"b'[01]+'", value, re.IGNORECASE):
        return ("number", Decimal(int(value[2:-1], 2)))
    return ("expression", re.sub(r"[\s`\"]", "", _lower_outside_quotes(value)))


def _number(text: str) -> Decimal | None:
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text.strip()):
        return None
    try:
        return Decimal(text.strip()).normalize()
    except InvalidOperation:
        return None


def _balanced(text: str) -> bool:
    depth = 0
    for char in _QUOTED.sub("''", text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def same_expression(a: str, b: str, dialect: str) -> bool:
    """Two SQL expressions, as the engine keeps one and the model prints the other, are the
    same once both are parsed and printed by sqlglot (backticks, case, spacing, redundant
    parentheses go); when one does not parse, their texts are compared without those."""
    return _expression_key(a, dialect) == _expression_key(b, dialect)


def _expression_key(text: str, dialect: str) -> str:
    try:
        tree = sqlglot.parse_one(text, read=dialect)
        while isinstance(tree, exp.Paren):
            tree = tree.this
        for identifier in tree.find_all(exp.Identifier):
            identifier.set("quoted", False)  # `balance` (MariaDB) is balance (the model)
        return str(tree.sql(dialect, normalize=True, identify=False)).lower()
    except sqlglot.errors.SqlglotError:
        return re.sub(r"[\s`\"()]", "", _lower_outside_quotes(text))


def build(
    dialect: str, files: Sequence[Path], mariadb: Server | None, functions: Iterable[str] = ()
) -> EngineBuild:
    """Apply `files` to a fresh database of the dialect's engine (MySQL: a scratch database
    of `mariadb`, dropped afterwards)."""
    if dialect == "sqlite":
        return apply_sqlite(files, functions=functions)
    if mariadb is None:
        raise ValueError("a MySQL history needs a MariaDB server")
    with mariadb.scratch_database() as database:
        return apply_mariadb(mariadb, database, files)
