"""The MySQL and SQLite oracle (tests/oracle/engines.py): the engines themselves apply
histories, the catalog readers read what they built, and `compare` finds every difference
with a `schema --format json` document.

- hand-written histories prove the readers on real SQL (SQLite through Python's sqlite3,
  MySQL through a throwaway MariaDB that skips, saying why, where none can start);
- every MySQL and SQLite history of the corpus is applied to its engine: the files the engine
  rejects are exactly those of tests/oracle/engine_failures.yaml (the exclusions, each with
  the engine's error and why);
- the replayed model of each corpus history is compared with the engine's catalog: skipped
  until the MySQL/SQLite front ends replay those histories (`Profile.dialect`), it turns on
  by itself when they land.
"""

from __future__ import annotations

import copy
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import write_files
from tests.oracle import CORPUS, mariadb
from tests.oracle.engine_histories import EngineHistory, engine_histories
from tests.oracle.engines import (
    Check,
    Column,
    EngineBuild,
    EngineCatalog,
    Index,
    Table,
    apply_mariadb,
    apply_sqlite,
    build,
    compare,
    mysql_batches,
    normalise_default,
    normalise_type,
    read_sqlite,
    same_expression,
)
from tests.oracle.mariadb import Server

HERE = Path(__file__).resolve().parent


# -- SQLite ------------------------------------------------------------------------------------

SQLITE_HISTORY = {
    "001_init.sql": """
        CREATE TABLE accounts (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            status VARCHAR(16) NOT NULL DEFAULT 'active',
            balance NUMERIC(10, 2) DEFAULT 0 CHECK (balance >= 0),
            created_at DATETIME NOT NULL DEFAULT (datetime('now'))
        );
        CREATE TABLE orders (
            account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
            number INT NOT NULL,
            note TEXT,
            deleted_at DATETIME,
            PRIMARY KEY (account_id, number),
            CONSTRAINT orders_number_positive CHECK (number > 0)
        );
        CREATE INDEX orders_live_idx ON orders (account_id) WHERE deleted_at IS NULL;
        CREATE UNIQUE INDEX accounts_lower_email_idx ON accounts (lower(email));
        CREATE VIEW live_orders AS SELECT * FROM orders WHERE deleted_at IS NULL;
        CREATE TRIGGER orders_touch AFTER UPDATE OF note ON orders
        BEGIN UPDATE accounts SET status = status WHERE id = NEW.account_id; END;
    """,
    # The rebuild pattern SQLite's documentation prescribes for what ALTER TABLE cannot do
    # (here: make note NOT NULL with a default), foreign keys off meanwhile; the view over
    # the table is dropped and made again (the RENAME fails while a view names a table
    # that is gone).
    "002_rebuild.sql": """
        PRAGMA foreign_keys = OFF;
        BEGIN;
        DROP VIEW live_orders;
        CREATE TABLE orders_new (
            account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
            number INT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            deleted_at DATETIME,
            PRIMARY KEY (account_id, number)
        );
        INSERT INTO orders_new SELECT account_id, number, COALESCE(note, ''), deleted_at
        FROM orders;
        DROP TABLE orders;
        ALTER TABLE orders_new RENAME TO orders;
        CREATE INDEX orders_live_idx ON orders (account_id) WHERE deleted_at IS NULL;
        CREATE VIEW live_orders AS SELECT * FROM orders WHERE deleted_at IS NULL;
        COMMIT;
        PRAGMA foreign_keys = ON;
    """,
}


def test_sqlite_rowid_alias_never_holds_null_though_its_pragma_says_nullable() -> None:
    """Why the reader calls an INTEGER PRIMARY KEY of a rowid table NOT NULL: SQLite reports
    it as nullable (notnull 0), yet an INSERT of NULL takes the next rowid; a TEXT PRIMARY KEY
    does hold NULL (SQLite's old bug, kept for compatibility)."""
    connection = sqlite3.connect(":memory:")
    try:
        connection.executescript(
            "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);"
            "CREATE TABLE b (id TEXT PRIMARY KEY, v TEXT);"
            "INSERT INTO a VALUES (NULL, 'x'); INSERT INTO b VALUES (NULL, 'x');"
        )
        for table in ("a", "b"):
            notnull = connection.execute(
                "SELECT \"notnull\" FROM pragma_table_info(?) WHERE name = 'id'", (table,)
            ).fetchone()
            assert notnull == (0,)
        assert connection.execute("SELECT id FROM a").fetchall() == [(1,)]
        assert connection.execute("SELECT id FROM b").fetchall() == [(None,)]
        catalog = read_sqlite(connection)
    finally:
        connection.close()
    assert catalog.tables["a"].columns[0].not_null
    assert not catalog.tables["b"].columns[0].not_null


def test_sqlite_reader_reads_what_sqlite_built(tmp_path: Path) -> None:
    result = apply_sqlite(write_files(tmp_path, {"001_init.sql": SQLITE_HISTORY["001_init.sql"]}))
    assert [o.error for o in result.outcomes] == [None]
    catalog = result.catalog
    assert catalog.engine == "sqlite"
    assert sorted(catalog.tables) == ["accounts", "orders"]
    assert catalog.views == ["live_orders"]
    accounts = catalog.tables["accounts"]
    # The rowid alias is read as NOT NULL though pragma_table_xinfo says 0 (see below).
    assert [(c.name, c.type, c.not_null, c.default) for c in accounts.columns] == [
        ("id", "INTEGER", True, None),
        ("email", "TEXT", True, None),
        ("status", "VARCHAR(16)", True, "'active'"),
        ("balance", "NUMERIC(10, 2)", False, "0"),
        ("created_at", "DATETIME", True, "datetime('now')"),
    ]
    assert accounts.primary_key == ["id"]
    assert accounts.columns[0].auto_increment  # INTEGER PRIMARY KEY: the rowid
    by_name = {i.name: i for i in accounts.indexes}
    assert by_name["sqlite_autoindex_accounts_1"].origin == "unique"
    assert by_name["sqlite_autoindex_accounts_1"].columns == ["email"]
    assert by_name["accounts_lower_email_idx"].columns == ["(expression)"]
    assert by_name["accounts_lower_email_idx"].unique
    assert [(c.name, c.expression) for c in accounts.checks] == [(None, "balance >= 0")]
    orders = catalog.tables["orders"]
    assert orders.primary_key == ["account_id", "number"]
    (fk,) = orders.foreign_keys
    assert (fk.columns, fk.references_table, fk.references_columns, fk.on_delete) == (
        ["account_id"],
        "accounts",
        ["id"],
        "CASCADE",
    )
    (index,) = [i for i in orders.indexes if i.origin == "index"]
    assert (index.name, index.columns, index.unique, index.predicate) == (
        "orders_live_idx",
        ["account_id"],
        False,
        "deleted_at IS NULL",
    )
    assert [(c.name, c.expression) for c in orders.checks] == [
        ("orders_number_positive", "number > 0")
    ]
    (trigger,) = orders.triggers
    assert (trigger.name, trigger.timing, trigger.events) == ("orders_touch", "after", ["update"])


def test_sqlite_rebuild_pattern(tmp_path: Path) -> None:
    """The table rebuilt under its old name: the new definition, its index and view made
    again, the trigger gone with the old table."""
    result = apply_sqlite(write_files(tmp_path, SQLITE_HISTORY))
    assert [o.error for o in result.outcomes] == [None, None]
    orders = result.catalog.tables["orders"]
    note = next(c for c in orders.columns if c.name == "note")
    assert (note.not_null, note.default) == (True, "''")
    assert [i.name for i in orders.indexes] == ["orders_live_idx"]
    assert orders.triggers == [] and orders.checks == []
    assert "orders_new" not in result.catalog.tables
    assert result.catalog.views == ["live_orders"]


def test_sqlite_rebuild_without_the_view_dropped_is_rejected(tmp_path: Path) -> None:
    """What the engine says when the pattern is not followed (SQLite 3.26+): the file stops
    at the RENAME, inside its own transaction, which is rolled back (as a runner does)."""
    rebuild = SQLITE_HISTORY["002_rebuild.sql"].replace("DROP VIEW live_orders;", "")
    history = {"001_init.sql": SQLITE_HISTORY["001_init.sql"], "002_rebuild.sql": rebuild}
    result = apply_sqlite(write_files(tmp_path, history))
    assert [o.file.name for o in result.failures] == ["002_rebuild.sql"]
    assert "error in view live_orders" in str(result.failures[0].error)
    # Rolled back: orders as 001 made it.
    assert "orders_new" not in result.catalog.tables
    note = next(c for c in result.catalog.tables["orders"].columns if c.name == "note")
    assert not note.not_null


def test_sqlite_rejected_file_is_recorded_and_the_next_one_runs(tmp_path: Path) -> None:
    files = write_files(
        tmp_path,
        {
            "1.sql": "CREATE TABLE a (id INTEGER PRIMARY KEY);",
            "2.sql": "BEGIN; CREATE TABLE b (x INT); CREATE TABLE a (id INT); COMMIT;",
            "3.sql": "CREATE TABLE c (id INTEGER PRIMARY KEY);",
        },
    )
    result = apply_sqlite(files)
    assert [o.file.name for o in result.failures] == ["2.sql"]
    assert "table a already exists" in str(result.failures[0].error)
    # The file's own transaction is rolled back: b is not there.
    assert sorted(result.catalog.tables) == ["a", "c"]


def test_sqlite_stand_in_functions(tmp_path: Path) -> None:
    files = write_files(tmp_path, {"1.sql": "CREATE TABLE t AS SELECT BIN2B64(x'00ff') AS k;"})
    assert apply_sqlite(files).failures
    assert not apply_sqlite(files, functions=["BIN2B64"]).failures


# -- MariaDB -----------------------------------------------------------------------------------

MYSQL_HISTORY = {
    "V1__init.sql": """
        CREATE TABLE accounts (
          id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
          email VARCHAR(191) NOT NULL,
          status ENUM('active', 'closed') NOT NULL DEFAULT 'active',
          balance DECIMAL(10,2) NOT NULL DEFAULT 0,
          created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
          profile JSON,
          verified BOOLEAN DEFAULT FALSE,
          CONSTRAINT accounts_email_key UNIQUE (email),
          CONSTRAINT accounts_balance_check CHECK (balance >= 0)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
        CREATE TABLE orders (
          id BIGINT NOT NULL AUTO_INCREMENT,
          account_id INT UNSIGNED NOT NULL,
          note TEXT,
          PRIMARY KEY (id),
          CONSTRAINT orders_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id)
            ON DELETE CASCADE
        );
        CREATE INDEX orders_note_idx ON orders (note(20));
        CREATE FULLTEXT INDEX orders_note_text ON orders (note);
    """,
    "V2__trigger.sql": """
        DELIMITER $$
        CREATE TRIGGER orders_default_note BEFORE INSERT ON orders FOR EACH ROW
        BEGIN
          SET NEW.note = COALESCE(NEW.note, '');
        END$$
        CREATE PROCEDURE touch_accounts()
        BEGIN
          UPDATE accounts SET status = status;
          SELECT 1;
        END$$
        DELIMITER ;
        ALTER TABLE orders ADD COLUMN total INT NOT NULL DEFAULT '0';
        CREATE VIEW open_accounts AS SELECT id, email FROM accounts WHERE status = 'active';
    """,
}


def test_mysql_batches_follow_delimiter_lines() -> None:
    text = "CREATE TABLE a (x INT);\nDELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; END//\n"
    text += "DELIMITER ;\nDROP TABLE a; -- done\n"
    assert [b.strip() for b in mysql_batches(text)] == [
        "CREATE TABLE a (x INT);",
        "CREATE PROCEDURE p() BEGIN SELECT 1; END",
        "DROP TABLE a; -- done",
    ]
    assert mysql_batches("-- nothing here\n/* really */\n") == []


def test_mariadb_reader_reads_what_mariadb_built(
    tmp_path: Path, mariadb_server: Server, mariadb_database: str
) -> None:
    result = apply_mariadb(mariadb_server, mariadb_database, write_files(tmp_path, MYSQL_HISTORY))
    assert [o.error for o in result.outcomes] == [None, None]
    catalog = result.catalog
    assert catalog.engine == "mariadb" and "MariaDB" in catalog.version
    assert sorted(catalog.tables) == ["accounts", "orders"]
    assert catalog.views == ["open_accounts"]
    assert catalog.routines == ["procedure touch_accounts"]
    accounts = catalog.tables["accounts"]
    assert [
        (c.name, c.type, c.not_null, c.default, c.auto_increment) for c in accounts.columns
    ] == [
        ("id", "int(10) unsigned", True, None, True),
        ("email", "varchar(191)", True, None, False),
        ("status", "enum('active','closed')", True, "'active'", False),
        ("balance", "decimal(10,2)", True, "0.00", False),
        ("created_at", "timestamp", True, "current_timestamp()", False),
        ("profile", "longtext", False, "NULL", False),  # JSON is LONGTEXT in MariaDB
        ("verified", "tinyint(1)", False, "0", False),
    ]
    assert accounts.primary_key == ["id"]
    ((index),) = accounts.indexes
    assert (index.name, index.columns, index.unique, index.origin) == (
        "accounts_email_key",
        ["email"],
        True,
        "unique",
    )
    assert {(c.name, c.expression) for c in accounts.checks} == {
        ("accounts_balance_check", "`balance` >= 0"),
        ("profile", "json_valid(`profile`)"),  # MariaDB's own, for the JSON column
    }
    orders = catalog.tables["orders"]
    assert [c.name for c in orders.columns] == ["id", "account_id", "note", "total"]
    assert orders.columns[-1].default == "0"
    (fk,) = orders.foreign_keys
    assert (fk.name, fk.columns, fk.references_table, fk.on_delete, fk.on_update) == (
        "orders_account_fk",
        ["account_id"],
        "accounts",
        "CASCADE",
        "RESTRICT",
    )
    assert {(i.name, tuple(i.columns), i.kind) for i in orders.indexes} == {
        ("orders_account_fk", ("account_id",), "btree"),  # InnoDB's, for the foreign key
        ("orders_note_idx", ("note(20)",), "btree"),
        ("orders_note_text", ("note",), "fulltext"),
    }
    (trigger,) = orders.triggers
    assert (trigger.name, trigger.timing, trigger.events) == (
        "orders_default_note",
        "before",
        ["insert"],
    )


def test_mariadb_rejected_file_is_recorded_and_the_next_one_runs(
    tmp_path: Path, mariadb_server: Server, mariadb_database: str
) -> None:
    files = write_files(
        tmp_path,
        {
            "1.sql": "CREATE TABLE a (id INT PRIMARY KEY);",
            "2.sql": "CREATE TABLE b (x INT); CREATE TABLE a (id INT); CREATE TABLE z (x INT);",
            "3.sql": "CREATE TABLE c (id INT PRIMARY KEY);",
        },
    )
    result = apply_mariadb(mariadb_server, mariadb_database, files)
    assert [o.file.name for o in result.failures] == ["2.sql"]
    assert "1050" in str(result.failures[0].error)  # table exists
    # DDL is not transactional in MySQL: b stays, z never ran.
    assert sorted(result.catalog.tables) == ["a", "b", "c"]


def test_mariadb_databases_a_history_creates_are_dropped(mariadb_server: Server) -> None:
    with mariadb_server.scratch_database() as database, mariadb_server.connect(database) as c:
        c.cursor().execute("CREATE DATABASE temporal_like CHARACTER SET utf8mb4")
        assert "temporal_like" in mariadb_server.databases()
    assert "temporal_like" not in mariadb_server.databases()
    assert database not in mariadb_server.databases()


def test_mariadb_not_installed_is_said_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the fixture turns into a skip reason."""
    monkeypatch.setattr(mariadb, "find_binaries", lambda: None)
    with pytest.raises(mariadb.ServerError, match="no MariaDB server installed"):
        mariadb.start()


def test_a_killed_mariadb_leaves_nothing_behind() -> None:
    if mariadb.find_binaries() is None:
        pytest.skip("MySQL oracle: no MariaDB server installed")
    server = mariadb.start()
    try:
        assert server.directory.is_dir() and server.pid
        os.kill(server.pid, signal.SIGKILL)
    finally:
        server.stop()
    assert server.leftovers() == []
    assert not server.directory.exists()


# -- compare(): a model that says what the engine built matches; each lie is caught ------------


def _model_of(catalog: EngineCatalog) -> dict[str, Any]:
    """A `schema --format json` document that says exactly what `catalog` holds, spelled as
    a front end would (the engine's spellings undone where they differ)."""
    tables = []
    for table in catalog.tables.values():
        indexes = [
            {
                "name": i.name,
                "keys": [
                    {"expression": "lower(email)"} if c == "(expression)" else {"column": c}
                    for c in i.columns
                ],
                "include": [],
                "predicate": i.predicate,
                "method": i.kind,
                "unique": i.unique,
                "constraint": i.name if i.origin == "unique" else None,
            }
            for i in table.indexes
        ]
        tables.append(
            {
                "schema": "main",
                "name": table.name,
                "engine": table.engine,
                "charset": table.collation.split("_", 1)[0] if table.collation else None,
                "collation": table.collation,
                "external": False,
                "columns_known": True,
                "columns": [
                    {
                        "name": c.name,
                        "type": c.type,
                        "not_null": c.not_null,
                        "default": c.default,
                        "identity": "by default" if c.auto_increment else None,
                        "generated": c.generated,
                        "charset": c.charset,
                        "collation": c.collation,
                    }
                    for c in table.columns
                ],
                "primary_key": {"name": "PRIMARY", "columns": table.primary_key}
                if table.primary_key
                else None,
                "unique": [
                    {"name": i.name, "columns": i.columns}
                    for i in table.indexes
                    if i.origin == "unique"
                ],
                "foreign_keys": [
                    {
                        "name": f.name,
                        "columns": f.columns,
                        "references": {
                            "table": f.references_table,
                            "columns": f.references_columns,
                        },
                        "on_delete": f.on_delete,
                        "on_update": f.on_update,
                    }
                    for f in table.foreign_keys
                ],
                "checks": [{"name": c.name, "expression": c.expression} for c in table.checks],
                "indexes": indexes,
                "triggers": [
                    {"name": t.name, "timing": t.timing, "events": t.events} for t in table.triggers
                ],
            }
        )
    return {"tables": tables, "views": [{"name": v} for v in catalog.views]}


def _lies(model: dict[str, Any], table: str) -> list[tuple[str, dict[str, Any]]]:
    """Variants of `model`, each with one thing wrong about `table`, and what it should be
    reported as."""
    variants = []

    def variant(expected: str, change: Any) -> None:
        changed = copy.deepcopy(model)
        entry = next(t for t in changed["tables"] if t["name"] == table)
        change(entry, changed)
        variants.append((expected, changed))

    variant("type", lambda t, m: t["columns"][1].update(type="bigint"))
    variant(
        "not null", lambda t, m: t["columns"][1].update(not_null=not t["columns"][1]["not_null"])
    )
    variant("default", lambda t, m: t["columns"][1].update(default="'other'"))
    variant(
        "in the model, not on the engine",
        lambda t, m: t["columns"].append(
            {"name": "ghost", "type": "text", "not_null": False, "default": None}
        ),
    )
    variant("primary key", lambda t, m: t.update(primary_key=None))
    variant("index", lambda t, m: t.update(indexes=[], unique=[]))
    variant("CHECK", lambda t, m: t.update(checks=[]))
    variant("foreign key", lambda t, m: t.update(foreign_keys=[]))
    variant("trigger", lambda t, m: t.update(triggers=[]))
    variant("table", lambda t, m: m["tables"].remove(t))
    variant("view", lambda t, m: m.update(views=[]))
    return variants


def _assert_compare_catches_every_lie(catalog: EngineCatalog, model: dict[str, Any]) -> None:
    assert compare(catalog, model) == []
    # Each lie is about a table that has what it changes: accounts has columns, a PK, a
    # unique index, a CHECK; orders a foreign key and a trigger.
    for expected, variant in _lies(model, "accounts") + _lies(model, "orders"):
        differences = compare(catalog, variant)
        if variant == model:
            continue
        assert any(expected in d for d in differences), (expected, differences)


def test_compare_sqlite(tmp_path: Path) -> None:
    catalog = apply_sqlite(write_files(tmp_path, SQLITE_HISTORY)).catalog
    model = _model_of(catalog)
    # The model spells what SQLite keeps as it was written: its way, not the engine's.
    accounts = next(t for t in model["tables"] if t["name"] == "accounts")
    accounts["columns"][4]["default"] = "(datetime('now'))"
    accounts["columns"][3]["type"] = "numeric(10,2)"
    accounts["checks"][0]["expression"] = "(balance >= 0)"
    # Unnamed UNIQUE constraints; the autoindex is not a name the model can know.
    accounts["unique"] = [{"name": None, "columns": ["email"]}]
    accounts["indexes"] = [i for i in accounts["indexes"] if i["constraint"] is None]
    # The trigger of 001 went with the old table; give orders one to lie about.
    catalog.tables["orders"].triggers = (
        apply_sqlite(write_files(tmp_path / "t", {"1.sql": SQLITE_HISTORY["001_init.sql"]}))
        .catalog.tables["orders"]
        .triggers
    )
    orders = next(t for t in model["tables"] if t["name"] == "orders")
    orders["triggers"] = [{"name": "orders_touch", "timing": "after", "events": ["update"]}]
    orders["checks"] = [{"name": None, "expression": "note <> 'x'"}]
    catalog.tables["orders"].checks = []
    orders["checks"] = []
    _assert_compare_catches_every_lie(catalog, model)


def test_compare_mariadb(tmp_path: Path, mariadb_server: Server, mariadb_database: str) -> None:
    files = write_files(tmp_path, MYSQL_HISTORY)
    catalog = apply_mariadb(mariadb_server, mariadb_database, files).catalog
    model = _model_of(catalog)
    accounts = next(t for t in model["tables"] if t["name"] == "accounts")
    orders = next(t for t in model["tables"] if t["name"] == "orders")
    # As MySQL's DDL says it, not as information_schema shows it.
    columns = {c["name"]: c for c in accounts["columns"]}
    columns["id"].update(type="INT UNSIGNED")
    columns["status"].update(type="ENUM('active', 'closed')", default="'active'")
    columns["balance"].update(type="DECIMAL(10,2)", default="0")
    columns["created_at"].update(type="TIMESTAMP", default="CURRENT_TIMESTAMP")
    columns["profile"].update(type="JSON", default=None)
    columns["verified"].update(type="BOOLEAN", default="FALSE")
    accounts["checks"] = [{"name": "accounts_balance_check", "expression": "balance >= 0"}]
    next(c for c in orders["columns"] if c["name"] == "total").update(default="'0'")
    orders["foreign_keys"][0]["on_update"] = "NO ACTION"
    # The index InnoDB made for the foreign key is not the model's to know.
    orders["indexes"] = [i for i in orders["indexes"] if i["name"] != "orders_account_fk"]
    _assert_compare_catches_every_lie(catalog, model)
    # ENGINE and character sets: compared where the model has them (the history wrote them),
    # not where it says None (the server's default).
    table = catalog.tables["accounts"]
    email = next(c for c in table.columns if c.name == "email")
    assert table.engine and table.collation and email.charset and email.collation
    accounts.update(engine=table.engine.upper(), charset=table.collation.split("_")[0])
    accounts["collation"] = table.collation
    columns["email"].update(charset=email.charset, collation=email.collation)
    assert compare(catalog, model) == []
    for key, lie, expected in (
        ("engine", "MyISAM", "engine"),
        ("charset", "latin1", "charset"),
        ("collation", "latin1_bin", "collation"),
    ):
        for entry in (accounts, columns["email"]):
            if entry is accounts or key != "engine":
                changed = {**entry}
                entry[key] = lie
                assert any(expected in d for d in compare(catalog, model)), (key, entry)
                entry[key] = None  # not written: not compared
                assert compare(catalog, model) == []
                entry.clear()
                entry.update(changed)


def test_check_names_the_engine_makes_up_are_not_the_models_to_know() -> None:
    catalog = EngineCatalog("mariadb", "10.11")
    catalog.tables["t"] = Table(
        "t",
        columns=[Column("qty", "int(11)", False, None), Column("doc", "longtext", False, None)],
        checks=[
            Check("qty", "`qty` > 0"),  # MariaDB: a column's CHECK is named after it
            Check("CONSTRAINT_1", "`qty` < 10"),
            Check("doc", "json_valid(`doc`)"),  # MariaDB's own, for a JSON column
            Check("t_small", "`qty` < 100"),
        ],
    )
    columns = [
        {"name": "qty", "type": "int", "not_null": False, "default": None},
        {"name": "doc", "type": "json", "not_null": False, "default": None},
    ]
    checks: list[dict[str, str | None]] = [
        {"name": "t_qty_check", "expression": "qty > 0"},
        {"name": "t_qty_check1", "expression": "qty < 10"},
        {"name": "t_small", "expression": "qty < 100"},
    ]
    model = {"tables": [{"name": "t", "columns": columns, "checks": checks}], "views": []}
    assert compare(catalog, model) == []
    checks[2]["name"] = "t_qty_lt_100"
    assert compare(catalog, model) == ["table t: CHECK (`qty` < 100): named t_small, t_qty_lt_100"]
    checks.append({"name": None, "expression": "qty <> 5"})
    assert compare(catalog, model)[-1] == "table t: CHECK  (qty <> 5): in the model only"


@pytest.mark.parametrize(
    ("engine", "model", "dialect"),
    [
        ("int(11)", "INTEGER", "mysql"),
        ("int(10) unsigned", "int unsigned", "mysql"),
        ("tinyint(1)", "BOOL", "mysql"),
        ("decimal(10,0)", "DECIMAL", "mysql"),
        ("varchar(255)", "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", "mysql"),
        ("enum('A','b')", "ENUM('A', 'b')", "mysql"),
        ("longtext", "json", "mysql"),
        ("bigint(20) unsigned", "serial", "mysql"),
        ("VARCHAR(16)", "varchar( 16 )", "sqlite"),
        ("timestamp", "TIMESTAMP(0)", "mysql"),  # fractional seconds 0: the default
        ("datetime", "datetime(0)", "mysql"),
    ],
)
def test_types_are_compared_in_one_spelling(engine: str, model: str, dialect: str) -> None:
    assert normalise_type(engine, dialect) == normalise_type(model, dialect)


@pytest.mark.parametrize(
    ("engine", "model", "dialect"),
    [
        ("timestamp(3)", "timestamp", "mysql"),
        ("timestamp", "timestamp(6)", "mysql"),
        ("TIMESTAMP", "TIMESTAMP(0)", "sqlite"),  # SQLite keeps the text declared
    ],
)
def test_fractional_seconds_other_than_0_stay_different(
    engine: str, model: str, dialect: str
) -> None:
    assert normalise_type(engine, dialect) != normalise_type(model, dialect)


def test_a_unique_constraint_and_its_own_index_are_one_unique_constraint() -> None:
    """The model lists a SQLite UNIQUE constraint twice: as `unique` and as the autoindex
    whose `constraint` it is; that is one constraint on the engine, and two are still two."""
    catalog = EngineCatalog("sqlite", "3")
    catalog.tables["t"] = Table(
        "t",
        columns=[Column("code", "TEXT", False, None)],
        indexes=[Index("sqlite_autoindex_t_1", ["code"], True, "unique")],
    )
    index = {
        "name": "sqlite_autoindex_t_1",
        "keys": [{"column": "code"}],
        "unique": True,
        "constraint": "t_code_key",
    }
    unique: list[dict[str, Any]] = [{"name": "t_code_key", "columns": ["code"]}]
    table = {
        "name": "t",
        "columns": [{"name": "code", "type": "TEXT", "not_null": False, "default": None}],
        "unique": unique,
        "indexes": [index],
    }
    model = {"tables": [table], "views": []}
    assert compare(catalog, model) == []
    unique.append({"name": "t_code_key1", "columns": ["code"]})
    assert compare(catalog, model) == [
        "table t: UNIQUE constraints [('code',)] on the engine, [('code',), ('code',)] in the model"
    ]


@pytest.mark.parametrize(
    ("engine", "model", "dialect"),
    [
        ("enum('a','b')", "enum('A','B')", "mysql"),  # values keep their case
        ("tinyint(4)", "tinyint(1)", "mysql"),  # a boolean is not a tinyint
        ("int(11)", "bigint", "mysql"),
        ("varchar(16)", "varchar(32)", "sqlite"),
        ("INT", "INTEGER", "sqlite"),  # SQLite keeps the declared text: INT is no rowid
    ],
)
def test_different_types_stay_different(engine: str, model: str, dialect: str) -> None:
    assert normalise_type(engine, dialect) != normalise_type(model, dialect)


@pytest.mark.parametrize(
    ("engine", "model", "same"),
    [
        ("NULL", None, True),
        ("0.00", "0", True),
        ("0", "'0'", True),
        ("0", "FALSE", True),
        ("current_timestamp()", "CURRENT_TIMESTAMP", True),
        ("current_timestamp(3)", "NOW(3)", True),
        ("current_timestamp(3)", "CURRENT_TIMESTAMP", False),
        ("'it''s'", "'it\\'s'", True),
        ("(datetime('now'))", "datetime('now')", True),
        ("'a'", "'A'", False),
        ("''", None, False),
        ("1", "2", False),
    ],
)
def test_defaults(engine: str, model: str | None, same: bool) -> None:
    assert (normalise_default(engine, "mysql") == normalise_default(model, "mysql")) is same


def test_expressions_compare_through_sqlglot() -> None:
    assert same_expression("`balance` >= 0", "(balance >= 0)", "mysql")
    assert same_expression("status IN ('a', 'b')", "`status` in ('a','b')", "mysql")
    assert not same_expression("balance >= 0", "balance > 0", "mysql")


# -- the corpus -----------------------------------------------------------------------------------

_builds: dict[str, EngineBuild] = {}


def _failures_file() -> dict[str, dict[str, dict[str, str]]]:
    data = yaml.safe_load((HERE / "oracle" / "engine_failures.yaml").read_text("utf-8")) or {}
    assert isinstance(data, dict)
    return data


def _engine_build(history: EngineHistory, request: pytest.FixtureRequest) -> EngineBuild:
    if not history.available:
        pytest.skip(f"{history.folder} is not here (the corpus is ../shared/corpus)")
    if history.id not in _builds:
        server = request.getfixturevalue("mariadb_server") if history.dialect == "mysql" else None
        _builds[history.id] = build(history.dialect, history.files(), server, history.functions)
    return _builds[history.id]


HISTORIES = [pytest.param(h, id=h.id) for h in engine_histories().values()]


@pytest.mark.parametrize("history", HISTORIES)
def test_files_the_engine_rejects_are_the_listed_exclusions(
    history: EngineHistory, request: pytest.FixtureRequest
) -> None:
    result = _engine_build(history, request)
    expected = _failures_file().get(history.id, {})
    rejected = {f.file.relative_to(history.path).as_posix(): f.error for f in result.failures}
    lines = [f"{history.id}: the files {result.catalog.engine} rejects changed"]
    for name in sorted(set(rejected) - set(expected)):
        lines.append(f"  rejected now: {name}: {rejected[name]}")
    for name in sorted(set(expected) - set(rejected)):
        lines.append(f"  no longer rejected: {name}")
    for name in sorted(set(expected) & set(rejected)):
        if expected[name]["error"] not in str(rejected[name]):
            lines.append(f"  rejected otherwise: {name}: {rejected[name]}")
    assert len(lines) == 1, "\n".join(lines)
    # Something was built: a history that builds nothing compares nothing.
    assert result.catalog.tables or history.id in _failures_file()


def test_the_exclusions_name_known_histories_and_say_why() -> None:
    data = _failures_file()
    assert set(data) <= set(engine_histories())
    assert set(_xfails()) <= set(engine_histories())
    assert all(isinstance(why, str) and why for why in _xfails().values())
    for history, files in data.items():
        for name, entry in files.items():
            assert entry.get("error") and entry.get("reason"), f"{history}: {name}"


def _replayed_model(history: EngineHistory) -> dict[str, Any]:
    """The `schema --format json` document of the history, replayed as the tool replays it
    when configured with the history's dialect (as a user of a pop folder of several
    dialects must; detection is not what this compares). Skips while the tool has no
    MySQL/SQLite front end (no `dialect` setting)."""
    from schema_review.config import Settings
    from schema_review.export import history_label, schema_document
    from schema_review.pipeline import replay_histories

    replayed = replay_histories([history.model_target], Settings(dialect=history.dialect))
    dialects = [getattr(h.profile, "dialect", "postgres") for h in replayed]
    mine = [h for h, dialect in zip(replayed, dialects, strict=True) if dialect == history.dialect]
    target = history.model_target.relative_to(CORPUS)
    if not mine:
        pytest.fail(
            f"{target} is replayed as {', '.join(sorted(set(dialects)))}, not as the "
            f"{history.dialect} it is configured for"
        )
    if len(mine) != 1:
        roots = ", ".join(str(h.migration_set.root) for h in mine)
        pytest.fail(f"{history.id}: discovery finds {len(mine)} histories, the runner one: {roots}")
    return schema_document(mine[0].model, history_label(mine[0].migration_set))


def _xfails() -> dict[str, str]:
    data = yaml.safe_load((HERE / "oracle" / "engine_xfail.yaml").read_text("utf-8")) or {}
    assert isinstance(data, dict)
    return data


def _model_params() -> list[Any]:
    return [
        pytest.param(
            h,
            id=h.id,
            marks=[pytest.mark.xfail(strict=True, reason=_xfails()[h.id])]
            if h.id in _xfails()
            else [],
        )
        for h in engine_histories().values()
    ]


@pytest.mark.parametrize("history", _model_params())
def test_model_matches_the_engine(history: EngineHistory, request: pytest.FixtureRequest) -> None:
    if not history.available:
        pytest.skip(f"{history.folder} is not here (the corpus is ../shared/corpus)")
    model = _replayed_model(history)
    result = _engine_build(history, request)
    if len(result.failures) == len(result.outcomes):
        pytest.skip(
            f"{result.catalog.engine} rejects every file of {history.id} "
            "(tests/oracle/engine_failures.yaml): nothing to compare"
        )
    differences = compare(result.catalog, model)
    assert not differences, f"{history.id}: model and engine differ:\n  " + "\n  ".join(differences)


@pytest.mark.parametrize("history", HISTORIES)
def test_compare_reads_back_the_corpus_catalogs(
    history: EngineHistory, request: pytest.FixtureRequest
) -> None:
    """On every corpus catalog (real types, defaults, keys), a model that says what the
    engine built matches it: the normalisation does not invent differences."""
    catalog = _engine_build(history, request).catalog
    assert compare(catalog, _model_of(catalog)) == []
