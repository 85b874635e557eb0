"""`schema --format sql` of a SQLite or MySQL history: DDL the engine itself runs, proven on
the engine. The history's own files build one database, the exported DDL another, and the
two catalogs are compared with the oracle's comparison (tests/oracle/engines.py): tables,
columns with type, nullability and default, primary keys, foreign keys, indexes with their
columns, uniqueness and WHERE, CHECKs, triggers, views. SQLite's table options (STRICT,
WITHOUT ROWID, AUTOINCREMENT) are compared on top.

Corpus histories whose round trip does not match are listed in
tests/oracle/export_xfail.yaml with the reason (strict: one that starts matching fails).
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from schema_review.config import Settings
from schema_review.export import history_label, schema_document, schema_sql
from schema_review.model import SchemaModel
from schema_review.pipeline import replay_histories
from tests.helpers import REPO, write_files
from tests.oracle import CORPUS
from tests.oracle.engine_histories import EngineHistory, engine_histories
from tests.oracle.engines import EngineBuild, apply_mariadb, apply_sqlite, compare
from tests.oracle.mariadb import Server
from tests.test_oracle_engines import _engine_build, _model_of

HERE = Path(__file__).resolve().parent
_SCRATCH = "/dev/shm" if Path("/dev/shm").is_dir() else None


def _replayed(target: Path, dialect: str) -> tuple[SchemaModel, dict[str, Any], str]:
    """The model of the one history at `target`, its `schema --format json` document and its
    `schema --format sql`."""
    histories = [
        h
        for h in replay_histories([target], Settings(dialect=dialect))
        if h.profile.dialect == dialect
    ]
    if len(histories) != 1:
        pytest.fail(f"{target}: discovery finds {len(histories)} {dialect} histories, not one")
    (history,) = histories
    document = schema_document(history.model, history_label(history.migration_set))
    return history.model, document, schema_sql(document, history.model)


# -- SQLite -----------------------------------------------------------------------------------


def _sqlite_options(database: Path) -> dict[str, Any]:
    """What the oracle's catalog does not hold: each table's STRICT and WITHOUT ROWID, which
    tables AUTOINCREMENT, and each index's key order and collations."""
    connection = sqlite3.connect(database)
    try:
        tables = {
            name: (bool(strict), bool(without_rowid))
            for name, strict, without_rowid in connection.execute(
                "SELECT name, strict, wr FROM pragma_table_list WHERE schema = 'main'"
                " AND type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
            )
        }
        autoincrement = sorted(
            name
            for name, text in connection.execute(
                "SELECT name, sql FROM sqlite_schema WHERE type = 'table'"
            )
            if text and re.search(r"\bAUTOINCREMENT\b", text, re.IGNORECASE)
        )
        keys = {
            index: [
                (column, bool(desc), collation)
                for column, desc, collation in connection.execute(
                    "SELECT name, desc, coll FROM pragma_index_xinfo(?) WHERE key = 1"
                    " ORDER BY seqno",
                    (index,),
                )
            ]
            for (index,) in connection.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL"
            )
        }
    finally:
        connection.close()
    return {"tables": tables, "autoincrement": autoincrement, "index keys": keys}


def _sqlite_round_trip(
    files: list[Path],
    sql: str,
    folder: Path,
    functions: tuple[str, ...] = (),
    document: dict[str, Any] | None = None,
) -> list[str]:
    """Differences between the database the files build and the one the DDL builds (and the
    DDL's own errors, and, given the `schema --format json` document, the differences of
    the DDL's database with the model); empty when they match."""
    ddl = write_files(folder / "ddl", {"schema.sql": sql})
    # The databases are files (read again after apply_sqlite closes them), in memory where
    # the machine has a tmpfs: SQLite syncs each statement of an autocommit script to disk.
    with tempfile.TemporaryDirectory(dir=_SCRATCH) as scratch:
        original_db, exported_db = Path(scratch, "original.db"), Path(scratch, "exported.db")
        original = apply_sqlite(files, str(original_db), functions)
        exported = apply_sqlite(ddl, str(exported_db), functions)
        mine, theirs = _sqlite_options(original_db), _sqlite_options(exported_db)
    problems = [f"the DDL fails: {o.error}" for o in exported.failures]
    problems += compare(original.catalog, _model_of(exported.catalog))
    if document is not None:
        problems += [f"export and model: {d}" for d in compare(exported.catalog, document)]
    for what in mine:
        if mine[what] != theirs[what]:
            problems.append(f"{what}: {mine[what]} from the files, {theirs[what]} from the DDL")
    return problems


def _sqlite_case(tmp_path: Path, files: dict[str, str]) -> tuple[str, list[str]]:
    paths = write_files(tmp_path / "migrations", files)
    _, _, sql = _replayed(tmp_path / "migrations", "sqlite")
    return sql, _sqlite_round_trip(paths, sql, tmp_path)


def test_sqlite_rebuilt_table_autoincrement_partial_index_view_and_trigger(tmp_path: Path) -> None:
    """The rebuild pattern (the copy renamed into place: its trigger written `ON x_new` is
    the table's now), AUTOINCREMENT, a rowid key declared NOT NULL and one not, `REFERENCES
    parent` without columns, a UNIQUE constraint beside an equivalent unique index, a partial
    index, an expression index, a named CHECK, STRICT, WITHOUT ROWID, a view."""
    sql, problems = _sqlite_case(
        tmp_path,
        {
            "001_init.sql": """
                CREATE TABLE parent (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    code TEXT NOT NULL,
                    created DATETIME NOT NULL DEFAULT (datetime('now')),
                    UNIQUE (code)
                );
                CREATE UNIQUE INDEX parent_code_idx ON parent (code);
                CREATE INDEX parent_lower_code ON parent (lower(code));
                CREATE TABLE child (
                    id INTEGER NOT NULL PRIMARY KEY,
                    parent_id INTEGER REFERENCES parent,
                    note TEXT
                );
                CREATE TABLE tags (name TEXT PRIMARY KEY, weight REAL DEFAULT -1.5) WITHOUT ROWID;
            """,
            "002_rebuild.sql": """
                PRAGMA foreign_keys = OFF;
                CREATE TABLE child_new (
                    id INTEGER NOT NULL PRIMARY KEY,
                    parent_id INTEGER NOT NULL REFERENCES parent (id) ON DELETE CASCADE,
                    note TEXT NOT NULL DEFAULT '',
                    CONSTRAINT note_short CHECK (length(note) < 100)
                ) STRICT;
                CREATE TRIGGER child_new_touch AFTER INSERT ON child_new
                BEGIN UPDATE parent SET code = code WHERE id = NEW.parent_id; END;
                INSERT INTO child_new SELECT id, parent_id, coalesce(note, '') FROM child;
                DROP TABLE child;
                ALTER TABLE child_new RENAME TO child;
                CREATE INDEX child_live ON child (parent_id) WHERE note <> '';
                CREATE VIEW child_notes AS SELECT id, note FROM child;
                PRAGMA foreign_keys = ON;
            """,
        },
    )
    assert problems == []
    assert '"id" INTEGER PRIMARY KEY AUTOINCREMENT,' in sql
    assert 'CONSTRAINT "note_short" CHECK' in sql and ") STRICT;" in sql
    assert ") WITHOUT ROWID;" in sql and "DEFAULT -1.5" in sql
    assert "DEFAULT (DATETIME('now'))" in sql
    assert 'CREATE INDEX "child_live" ON "child" ("parent_id") WHERE note <> \'\';' in sql
    assert 'AFTER INSERT ON "child"' in sql and "ON child_new" not in sql
    # SQLite's own automatic indexes come back from the constraints; the unique index the
    # file made beside its UNIQUE constraint is printed once.
    assert "sqlite_autoindex" not in sql
    assert sql.count("parent_code_idx") == 1 and sql.count('UNIQUE ("code")') == 1
    # Unnamed constraints stay unnamed (the model's names for them are its own).
    assert "parent_pkey" not in sql and "child_parent_id_fkey" not in sql


def test_sqlite_generated_columns_collations_and_a_composite_key(tmp_path: Path) -> None:
    sql, problems = _sqlite_case(
        tmp_path,
        {
            "001.sql": """
                CREATE TABLE a (x INTEGER, y INTEGER, PRIMARY KEY (x, y));
                CREATE TABLE b (
                    x INTEGER NOT NULL, y INTEGER NOT NULL,
                    total INT GENERATED ALWAYS AS (x + y) STORED,
                    half INT AS (x / 2),
                    name TEXT,
                    FOREIGN KEY (x, y) REFERENCES a (x, y) ON UPDATE SET NULL ON DELETE RESTRICT
                );
                CREATE INDEX b_name ON b (name COLLATE NOCASE);
                CREATE INDEX b_recent ON b (y DESC, x);
            """,
        },
    )
    assert problems == []
    assert "GENERATED ALWAYS AS (x + y) STORED" in sql and "AS (x / 2) VIRTUAL" in sql
    assert 'PRIMARY KEY ("x", "y")' in sql
    assert 'CREATE INDEX "b_name" ON "b" (name COLLATE NOCASE);' in sql


def test_sqlite_what_the_model_cannot_print_is_said_and_left_out(tmp_path: Path) -> None:
    """A CHECK and an index WHERE the model has no text for (GLOB has no PostgreSQL form):
    an SQL comment says what is left out, and the round trip shows exactly that."""
    sql, problems = _sqlite_case(
        tmp_path,
        {
            "001.sql": """
                CREATE TABLE t (code TEXT CHECK (code GLOB '[0-9]*'), n INT, s TEXT COLLATE NOCASE);
                CREATE INDEX t_digits ON t (n) WHERE code GLOB '1*';
            """,
        },
    )
    assert "-- t: CHECK t_code_check could not be printed (the model has no text for it)" in sql
    assert "-- index t_digits: a key or its WHERE could not be printed" in sql
    assert "GLOB" not in sql
    # The model keeps no column collation: the header says the DDL leaves them out.
    assert "left out below: column collations (COLLATE)." in sql and "NOCASE" not in sql
    assert problems == [
        "table t: index t_digits: on the engine, not in the model",
        "table t: CHECK  (code GLOB '[0-9]*'): engine only",
        "index keys: {'t_digits': [('n', False, 'BINARY')]} from the files, {} from the DDL",
    ]


def test_sqlite_example_round_trips(tmp_path: Path) -> None:
    folder = REPO / "examples/sqlite-app/migrations"
    files = sorted(p for p in folder.rglob("*.sql"))
    _, _, sql = _replayed(folder, "sqlite")
    assert _sqlite_round_trip(files, sql, tmp_path) == []


def _export_xfails() -> dict[str, str]:
    data = yaml.safe_load((HERE / "oracle" / "export_xfail.yaml").read_text("utf-8")) or {}
    assert isinstance(data, dict) and all(isinstance(v, str) and v for v in data.values())
    assert set(data) <= set(engine_histories())
    return data


def _engine_xfails() -> dict[str, str]:
    data = yaml.safe_load((HERE / "oracle" / "engine_xfail.yaml").read_text("utf-8")) or {}
    assert isinstance(data, dict)
    return data


def _params(dialect: str) -> list[Any]:
    xfails = _export_xfails()
    return [
        pytest.param(
            h,
            id=h.id,
            marks=[pytest.mark.xfail(strict=True, reason=xfails[h.id])] if h.id in xfails else [],
        )
        for h in engine_histories().values()
        if h.dialect == dialect
    ]


def _corpus_history(history: EngineHistory) -> None:
    if not history.available:
        pytest.skip(f"{history.folder} is not here (the corpus is ../shared/corpus)")


@pytest.mark.parametrize("history", _params("sqlite"))
def test_sqlite_corpus_export_rebuilds_what_the_files_build(
    history: EngineHistory, tmp_path: Path
) -> None:
    _corpus_history(history)
    _, document, sql = _replayed(history.model_target, "sqlite")
    problems = _sqlite_round_trip(history.files(), sql, tmp_path, history.functions, document)
    assert problems == [], f"{history.id}:\n  " + "\n  ".join(problems)
    assert "could not be printed" not in sql


# -- MySQL (MariaDB) ----------------------------------------------------------------------------


@pytest.fixture
def mariadb_build(mariadb_server: Server) -> Iterator[Any]:
    """Builds files on a fresh database of the session's MariaDB (dropped afterwards)."""

    def build(files: list[Path]) -> EngineBuild:
        with mariadb_server.scratch_database() as database:
            built = apply_mariadb(mariadb_server, database, files)
            _KEY_PARTS[id(built)] = _key_parts(mariadb_server, database)
            return built

    yield build


# What the oracle's catalog does not hold: index key prefix lengths and order, and a
# column's EXTRA (STORED or VIRTUAL GENERATED, auto_increment).
_KEY_PARTS: dict[int, list[tuple[Any, ...]]] = {}


def _key_parts(server: Server, database: str) -> list[tuple[Any, ...]]:
    with server.connect() as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, SUB_PART, COLLATION"
            " FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s"
            " ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
            (database,),
        )
        found = [tuple(row) for row in cursor.fetchall()]
        cursor.execute(
            "SELECT TABLE_NAME, COLUMN_NAME, EXTRA FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME, ORDINAL_POSITION",
            (database,),
        )
        return found + [tuple(row) for row in cursor.fetchall()]


def _mysql_case(tmp_path: Path, mariadb_build: Any, files: dict[str, str]) -> tuple[str, list[str]]:
    paths = write_files(tmp_path / "migrations", files)
    _, _, sql = _replayed(tmp_path / "migrations", "mysql")
    original = mariadb_build(paths)
    assert original.failures == []
    exported = mariadb_build(write_files(tmp_path / "ddl", {"schema.sql": sql}))
    problems = [f"the DDL fails: {o.error}" for o in exported.failures]
    problems += compare(original.catalog, _model_of(exported.catalog))
    assert exported.catalog.routines == original.catalog.routines
    if _KEY_PARTS[id(original)] != _KEY_PARTS[id(exported)]:
        problems.append(f"key parts {_KEY_PARTS[id(original)]} != {_KEY_PARTS[id(exported)]}")
    return sql, problems


def test_mysql_enum_unsigned_auto_increment_composite_key_prefix_trigger_routine(
    tmp_path: Path, mariadb_build: Any
) -> None:
    """Also generated columns, STORED and VIRTUAL: `GENERATED ALWAYS AS (expr)` without
    either word, which sqlglot reads as an identity node, was lost by the replay until this
    round trip showed it (model/sqlglot_front.py)."""
    sql, problems = _mysql_case(
        tmp_path,
        mariadb_build,
        {
            "V1__init.sql": """
                CREATE TABLE `accounts` (
                  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
                  `email` varchar(255) NOT NULL,
                  `status` enum('active','closed') NOT NULL DEFAULT 'active',
                  `balance` decimal(10,2) unsigned DEFAULT 0.00,
                  `created_at` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
                  `seen_at` timestamp NULL DEFAULT NULL,
                  `note` text,
                  `flag` tinyint(1) NOT NULL DEFAULT '0',
                  `cents` bigint AS (`balance` * 100) STORED,
                  `domain` varchar(255) GENERATED ALWAYS AS (substring_index(`email`, '@', -1)),
                  PRIMARY KEY (`id`),
                  UNIQUE KEY `accounts_email` (`email`),
                  KEY `by_status` (`status`, `created_at`),
                  KEY (`note`(20)),
                  CONSTRAINT `positive` CHECK (`balance` >= 0)
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
                CREATE TABLE orders (
                  account_id bigint unsigned NOT NULL,
                  number int NOT NULL,
                  parent_account bigint unsigned, parent_number int,
                  PRIMARY KEY (account_id, number),
                  CONSTRAINT orders_account FOREIGN KEY (account_id) REFERENCES accounts (id)
                    ON DELETE CASCADE,
                  FOREIGN KEY (parent_account, parent_number)
                    REFERENCES orders (account_id, number) ON UPDATE SET NULL
                );
            """,
            "V2__more.sql": """
                ALTER TABLE orders ADD COLUMN total decimal(12,2) NOT NULL DEFAULT 0;
                ALTER TABLE accounts MODIFY status enum('active','closed','frozen') NOT NULL
                  DEFAULT 'active';
                CREATE INDEX orders_total ON orders (total DESC, number);
                DELIMITER $$
                CREATE TRIGGER orders_bi BEFORE INSERT ON orders FOR EACH ROW
                BEGIN
                  SET NEW.total = GREATEST(NEW.total, 0);
                END$$
                CREATE PROCEDURE touch_accounts() BEGIN UPDATE accounts SET flag = flag; END$$
                DELIMITER ;
            """,
        },
    )
    assert problems == []
    # Table options and character sets are the model's now: printed, not said to be lost.
    assert "left out below" not in sql and ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;" in sql
    assert "`email` varchar(255) CHARACTER SET utf8mb4 NOT NULL," in sql
    assert "`id` bigint unsigned NOT NULL AUTO_INCREMENT," in sql
    assert "enum('active','closed','frozen') CHARACTER SET utf8mb4 NOT NULL DEFAULT 'active'" in sql
    assert "`seen_at` timestamp NULL" in sql
    assert "AS (`balance` * 100) STORED" in sql and "'@', -1)) VIRTUAL" in sql
    assert "KEY `note` (`note`(20))" in sql and "(`total` DESC, `number`)" in sql
    assert "ON DELETE CASCADE" in sql and "ON UPDATE SET NULL" in sql
    assert sql.count("END$$") == 2 and "DELIMITER ;" in sql


def test_mysql_engines_charsets_and_collations_round_trip(
    tmp_path: Path, mariadb_build: Any
) -> None:
    """ENGINE=, the tables' defaults and the columns' character sets and collations, as the
    history leaves them (CONVERT TO, MODIFY, ADD COLUMN (...)), rebuild the same catalog."""
    from tests.test_mysql import CASES

    sql, problems = _mysql_case(
        tmp_path, mariadb_build, {"V1__init.sql": CASES["engines-charsets-and-collations"]}
    )
    assert problems == []
    assert ") ENGINE=Aria DEFAULT CHARSET=latin1;" in sql
    assert "`q` varchar(3) CHARACTER SET latin1 COLLATE latin1_bin," in sql


def test_mysql_multi_valued_key_is_printed_as_mysql_writes_it(tmp_path: Path) -> None:
    """MySQL 8's `CAST(x AS CHAR(255) ARRAY)` key part (MariaDB has none: checked by text)."""
    folder = tmp_path / "migrations"
    write_files(
        folder,
        {
            "V1__t.sql": "CREATE TABLE t (id int PRIMARY KEY, tags json,\n"
            "  KEY by_tag ((CAST(tags AS CHAR(64) ARRAY))));\n"
        },
    )
    _, _, sql = _replayed(folder, "mysql")
    assert "CAST(tags AS CHAR(64) ARRAY)" in sql and "ARRAY<" not in sql


def test_statements_the_replay_does_not_read_are_said_not_printed(tmp_path: Path) -> None:
    """What the model never took in (here MySQL's CREATE FULLTEXT INDEX and CREATE VIEW,
    which the MySQL replay keeps opaque) is listed in a comment with its file and line, not
    silently missing; CREATE DATABASE is no part of a schema."""
    folder = tmp_path / "migrations"
    write_files(
        folder,
        {
            "V1__docs.sql": "CREATE DATABASE app;\n"
            "CREATE TABLE docs (id int PRIMARY KEY, title varchar(100)) ENGINE=InnoDB;\n"
            "CREATE FULLTEXT INDEX ft_title ON docs (title);\n"
            "CREATE VIEW titles AS SELECT title FROM docs;\n"
        },
    )
    _, _, sql = _replayed(folder, "mysql")
    unread = [line for line in sql.splitlines() if line.startswith("--   ")]
    assert [line.split(": ", 1)[1] for line in unread] == [
        "CREATE FULLTEXT INDEX ft_title ON docs (title)",
        "CREATE VIEW titles AS SELECT title FROM docs",
    ]
    assert unread[0].startswith("--   ") and "V1__docs.sql:3" in unread[0]
    assert "CREATE DATABASE" not in sql


def test_mysql_example_round_trips(tmp_path: Path, mariadb_build: Any) -> None:
    folder = REPO / "examples/mysql-app/migrations"
    files = sorted(p for p in folder.glob("*.up.sql"))
    _, _, sql = _replayed(folder, "mysql")
    original = mariadb_build(files)
    exported = mariadb_build(write_files(tmp_path, {"schema.sql": sql}))
    assert exported.failures == []
    assert compare(original.catalog, _model_of(exported.catalog)) == []


@pytest.mark.parametrize("history", _params("mysql"))
def test_mysql_corpus_export_rebuilds_what_the_files_build(
    history: EngineHistory, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The export builds on MariaDB what the model says, and so, for a history whose model
    matches MariaDB's catalog, what its files build (the others' gaps are the model's,
    tests/oracle/engine_xfail.yaml)."""
    _corpus_history(history)
    original = _engine_build(history, request)
    if len(original.failures) == len(original.outcomes):
        pytest.skip(
            f"{original.catalog.engine} rejects every file of {history.id} "
            "(tests/oracle/engine_failures.yaml): nothing to compare"
        )
    _, document, sql = _replayed(history.model_target, "mysql")
    exported = request.getfixturevalue("mariadb_build")(write_files(tmp_path, {"schema.sql": sql}))
    assert [o.error for o in exported.failures] == []
    # What the export builds is the model ...
    problems = compare(exported.catalog, document)
    assert problems == [], f"{history.id}: export and model differ:\n  " + "\n  ".join(problems)
    assert "could not be printed" not in sql
    # ... and what the files build, where the model is (the others: the model's gaps).
    if history.id not in _engine_xfails():
        problems = compare(original.catalog, _model_of(exported.catalog))
        assert problems == [], f"{history.id}: files and export differ:\n  " + "\n  ".join(problems)


def test_export_exclusions_name_corpus_histories() -> None:
    assert set(_export_xfails()) <= set(engine_histories())
    assert CORPUS.name == "corpus"
