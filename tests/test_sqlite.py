"""SQLite: the replayed model against the catalog Python's own sqlite3 builds from the same
files (tables, columns with declared type, NOT NULL, default and primary key position,
foreign keys with their actions, indexes, views, triggers), on focused histories and on
every SQLite history of the corpus."""

from __future__ import annotations

import base64
import csv
import re
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from schema_review.export import schema_document
from schema_review.model import replay
from schema_review.model.schema import SchemaModel
from schema_review.parse import SourceFile
from schema_review.parse.sqlglot_parse import parse_sqlglot
from schema_review.profile import Profile
from schema_review.rules import Rule, load_rules
from tests.helpers import CORPUS, REPO, LintSql, findings_of, split_example

Catalog = dict[str, Any]


# -- the two catalogs ---------------------------------------------------------------------
def engine_catalog(db: sqlite3.Connection) -> Catalog:
    """What SQLite says: per table its columns, foreign keys and indexes; views; triggers.
    A virtual table's own tables (fts5's `<name>_data` ...) are left out: the module's."""
    rows = db.execute("SELECT type, name, tbl_name, sql FROM sqlite_schema").fetchall()
    virtual = [n for t, n, _, sql in rows if t == "table" and "VIRTUAL TABLE" in (sql or "")]
    tables: dict[str, Any] = {}
    for kind, name, _, _ in rows:
        if kind != "table" or name.startswith("sqlite_"):
            continue
        if any(name.startswith(v + "_") for v in virtual):
            continue
        columns = [
            (
                c[1],
                c[2],
                bool(c[3]) or (bool(c[5]) and _pk_not_null(db, name, c[2])),
                c[4] is not None,
                c[5],
            )
            # table_xinfo: generated columns too (hidden 2, 3); 1 is a virtual table's own.
            for c in db.execute("SELECT * FROM pragma_table_xinfo(?) WHERE hidden <> 1", (name,))
        ]
        foreign = defaultdict(list)
        for fk in db.execute("SELECT * FROM pragma_foreign_key_list(?)", (name,)):
            foreign[fk[0]].append(fk)
        fks = sorted(
            (
                tuple(r[3] for r in fk),
                fk[0][2],
                tuple(r[4] for r in fk) if fk[0][4] is not None else (),
                fk[0][6],
                fk[0][5],
            )
            for fk in foreign.values()
        )
        indexes = []
        for index in db.execute("SELECT * FROM pragma_index_list(?)", (name,)):
            keys = tuple(
                k[2] if k[1] >= 0 else "<expression>"
                for k in db.execute("SELECT * FROM pragma_index_xinfo(?) WHERE key", (index[1],))
            )
            indexes.append((index[1], bool(index[2]), bool(index[4]), keys))
        tables[name] = {"columns": columns, "foreign_keys": fks, "indexes": sorted(indexes)}
    return {
        "tables": tables,
        "views": sorted(n for t, n, _, _ in rows if t == "view"),
        "triggers": sorted((n, table) for t, n, table, _ in rows if t == "trigger"),
    }


def _pk_not_null(db: sqlite3.Connection, table: str, declared: str) -> bool:
    """A primary key column never holds NULL on a WITHOUT ROWID table, nor as the rowid
    (INTEGER PRIMARY KEY); elsewhere it does unless declared NOT NULL."""
    sql = db.execute("SELECT sql FROM sqlite_schema WHERE name = ?", (table,)).fetchone()[0]
    keys = db.execute("SELECT count(*) FROM pragma_table_info(?) WHERE pk", (table,)).fetchone()
    return bool(re.search(r"without\s+rowid", sql, re.I)) or (
        keys[0] == 1 and declared.upper() == "INTEGER"
    )


def model_catalog(model: SchemaModel) -> Catalog:
    """The same from the replayed model; column types as `schema --format json` prints them."""
    document = schema_document(model, "history")
    types = {(t["name"], c["name"]): c["type"] for t in document["tables"] for c in t["columns"]}
    tables: dict[str, Any] = {}
    for table in model.live_tables():
        if table.external:
            continue
        primary = table.primary_key
        keys = [str(c) for c in primary.columns] if primary else []
        columns = [
            (
                c.name,
                types[(table.name, c.name)],
                c.not_null,
                c.default is not None and c.generated is None,
                keys.index(c.name) + 1 if c.name in keys else 0,
            )
            for c in table.columns.values()
        ]
        fks = sorted(
            (
                tuple(str(c) for c in fk.columns),
                str(fk.ref_table).split(".", 1)[1],
                tuple(fk.ref_columns),
                fk.on_delete.upper(),
                fk.on_update.upper(),
            )
            for fk in table.foreign_keys
        )
        indexes = sorted(
            (
                index.name,
                index.unique,
                index.predicate is not None,
                tuple(c if isinstance(c, str) else "<expression>" for c in index.columns),
            )
            for index in table.live_indexes
        )
        tables[table.name] = {"columns": columns, "foreign_keys": fks, "indexes": indexes}
    return {
        "tables": tables,
        "views": sorted(name for _, name in model.views),
        "triggers": sorted(
            (trigger.name, table.name)
            for table in model.live_tables()
            for trigger in table.triggers.values()
        ),
    }


def differences(engine: Catalog, model: Catalog) -> list[str]:
    found = []
    for key in ("views", "triggers"):
        if engine[key] != model[key]:
            found.append(f"{key}: sqlite {engine[key]} model {model[key]}")
    for name in sorted(set(engine["tables"]) | set(model["tables"])):
        ours, theirs = model["tables"].get(name), engine["tables"].get(name)
        if ours is None or theirs is None:
            found.append(
                f"table {name}: {'missing in the model' if ours is None else 'not in sqlite'}"
            )
            continue
        for part in ("columns", "foreign_keys", "indexes"):
            if ours[part] != theirs[part]:
                found.append(f"{name}.{part}: sqlite {theirs[part]} model {ours[part]}")
    return found


def replayed(files: list[tuple[str, str]]) -> tuple[SchemaModel, list[Any]]:
    statements, problems = [], []
    for name, text in files:
        found, trouble = parse_sqlglot(SourceFile(name, text), "sqlite")
        statements += found
        problems += trouble
    model = replay(statements, Profile(dialect="sqlite"))
    return model, problems


def applied(files: list[tuple[str, str]]) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    # authelia's migrations call a function its Go driver registers.
    db.create_function("BIN2B64", 1, lambda b: base64.b64encode(b or b"").decode())
    for _, text in files:
        db.executescript(text)
    return db


def check(files: list[tuple[str, str]]) -> list[str]:
    model, problems = replayed(files)
    assert not problems, [p.message for p in problems]
    assert not model.internal_errors, model.internal_errors
    db = applied(files)
    try:
        return differences(engine_catalog(db), model_catalog(model))
    finally:
        db.close()


# -- focused histories --------------------------------------------------------------------
CASES = {
    "types, keys and the rowid": [
        """
        CREATE TABLE users (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          email VARCHAR(255) NOT NULL UNIQUE,
          name text,
          score DECIMAL( 10, 2 ) DEFAULT 0,
          flags unsigned   big int,
          anything,
          created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
        );
        CREATE TABLE tags (slug TEXT PRIMARY KEY, label TEXT UNIQUE ON CONFLICT REPLACE);
        CREATE TABLE kv (k TEXT NOT NULL, v BLOB, PRIMARY KEY (k)) WITHOUT ROWID;
        CREATE TABLE strict_t (id INTEGER PRIMARY KEY, n INT NOT NULL) STRICT;
        CREATE TABLE pairs (a INT, b INT, UNIQUE (b, a), PRIMARY KEY (a, b));
        """
    ],
    "foreign keys with actions": [
        """
        CREATE TABLE orgs (id INTEGER PRIMARY KEY, code TEXT UNIQUE);
        CREATE TABLE members (
          id INTEGER PRIMARY KEY,
          org_id INTEGER NOT NULL REFERENCES orgs (id) ON DELETE CASCADE ON UPDATE SET NULL,
          org_code TEXT REFERENCES orgs (code),
          boss INTEGER,
          CONSTRAINT members_boss_fk FOREIGN KEY (boss) REFERENCES members DEFERRABLE
            INITIALLY DEFERRED
        );
        """
    ],
    "partial and expression indexes": [
        """
        CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT, at TEXT, deleted_at TEXT);
        CREATE INDEX events_kind ON events (kind) WHERE deleted_at IS NULL;
        CREATE UNIQUE INDEX IF NOT EXISTS events_lower_kind ON events (lower(kind), at DESC);
        CREATE INDEX events_at ON events (at COLLATE NOCASE);
        DROP INDEX events_at;
        """
    ],
    "rename, rename column, add and drop column": [
        """
        CREATE TABLE a (id INTEGER PRIMARY KEY, x TEXT NOT NULL DEFAULT 'x', gone INT);
        CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a (id));
        CREATE INDEX a_x ON a (x);
        ALTER TABLE a RENAME COLUMN x TO y;
        ALTER TABLE a RENAME TO a2;
        ALTER TABLE a2 ADD COLUMN note varchar(20) NOT NULL DEFAULT '';
        ALTER TABLE a2 ADD z;
        ALTER TABLE a2 DROP COLUMN gone;
        ALTER TABLE a2 DROP z;
        """
    ],
    "the rebuild pattern": [
        """
        CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, name TEXT);
        CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id));
        CREATE INDEX users_email ON users (email);
        CREATE TRIGGER users_touch AFTER UPDATE OF email ON users FOR EACH ROW
        WHEN new.email IS NOT NULL
        BEGIN
          UPDATE users SET name = CASE WHEN new.name IS NULL THEN 'x' ELSE new.name END
            WHERE id = new.id;
        END;
        """,
        """
        PRAGMA foreign_keys = OFF;
        BEGIN TRANSACTION;
        CREATE TABLE new_users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT);
        INSERT INTO new_users (id, email, name) SELECT id, email, name FROM users;
        DROP TABLE users;
        ALTER TABLE new_users RENAME TO users;
        CREATE INDEX users_name ON users (name);
        COMMIT;
        PRAGMA foreign_keys = ON;
        """,
    ],
    "views, triggers and a virtual table": [
        """
        CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, updated_at TEXT);
        CREATE VIEW recent_notes AS SELECT id, body FROM notes WHERE updated_at > '2024';
        CREATE VIEW IF NOT EXISTS all_notes (id) AS SELECT id FROM notes;
        DROP VIEW all_notes;
        CREATE VIRTUAL TABLE notes_fts USING fts5 (body, content='notes', content_rowid='id');
        CREATE TRIGGER IF NOT EXISTS notes_ai AFTER INSERT ON notes BEGIN
          INSERT INTO notes_fts (rowid, body) VALUES (new.id, new.body);
        END;
        CREATE TRIGGER notes_gone BEFORE DELETE ON notes BEGIN SELECT 1; END;
        DROP TRIGGER notes_gone;
        CREATE TEMP TABLE scratch (x);
        """
    ],
}


@pytest.mark.parametrize("name", list(CASES))
def test_model_matches_sqlite(name: str) -> None:
    files = [(f"{n:04}.sql", text) for n, text in enumerate(CASES[name], 1)]
    assert check(files) == []


def test_rebuild_continues_the_old_table_and_keeps_references() -> None:
    files = [(f"{n:04}.sql", text) for n, text in enumerate(CASES["the rebuild pattern"], 1)]
    model, _ = replayed(files)
    users = model.tables[("main", "users")]
    assert [e.action for e in users.history] == ["created", "renamed"]
    old = next(t for t in model.archive if t.kind == "table" and t.dropped and t.name == "users")
    assert old.replaced_by is users
    # posts' foreign key names `users`: it survives the drop and means the new table.
    assert [fk.ref_table for fk in model.tables[("main", "posts")].foreign_keys] == ["main.users"]
    drop = next(c for c in model.changes if c.kind == "drop_table")
    assert drop.table_recreated_later
    assert [c.detail for c in model.changes if c.kind == "set"] == [
        "foreign_keys=off",
        "foreign_keys=on",
    ]


def test_schema_json_prints_the_declared_type() -> None:
    model, _ = replayed([("1.sql", "CREATE TABLE t (a DECIMAL( 10, 2 ), b int, c, d DATETIME);")])
    document = schema_document(model, "h")
    assert [c["type"] for c in document["tables"][0]["columns"]] == [
        "DECIMAL( 10, 2 )",
        "INT",
        "",
        "DATETIME",
    ]


def _json_columns(sql: str) -> dict[str, dict[str, Any]]:
    model, problems = replayed([("1.sql", sql)])
    assert problems == []
    document = schema_document(model, "h")
    return {f"{t['name']}.{c['name']}": c for t in document["tables"] for c in t["columns"]}


def test_schema_json_says_which_primary_key_columns_take_null() -> None:
    """On a rowid table only the INTEGER PRIMARY KEY (the rowid) never holds NULL; another
    key column takes it unless declared NOT NULL (as sqlite3 shows: pragma notnull 0 and a
    NULL stored); WITHOUT ROWID tables refuse it."""
    sql = (
        "CREATE TABLE a (id TEXT PRIMARY KEY);"
        "CREATE TABLE b (id INTEGER PRIMARY KEY);"
        "CREATE TABLE c (id TEXT NOT NULL PRIMARY KEY);"
        "CREATE TABLE d (id TEXT PRIMARY KEY) WITHOUT ROWID;"
    )
    columns = _json_columns(sql)
    assert {name: c["not_null"] for name, c in columns.items()} == {
        "a.id": False,
        "b.id": True,
        "c.id": True,
        "d.id": True,
    }
    db = applied([("1.sql", sql)])
    db.execute("INSERT INTO a VALUES (NULL)")
    assert db.execute("SELECT id FROM a").fetchall() == [(None,)]
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO d VALUES (NULL)")


def test_schema_json_references_the_parents_primary_key_when_no_column_is_named() -> None:
    model, _ = replayed(
        [
            (
                "1.sql",
                "CREATE TABLE tenant (id TEXT PRIMARY KEY);"
                "CREATE TABLE app (tenant_id TEXT REFERENCES tenant ON DELETE CASCADE);",
            )
        ]
    )
    document = schema_document(model, "h")
    app = next(t for t in document["tables"] if t["name"] == "app")
    assert app["foreign_keys"][0]["references"] == {"table": "main.tenant", "columns": ["id"]}
    db = applied([("1.sql", "CREATE TABLE tenant (id TEXT PRIMARY KEY);")])
    db.execute("CREATE TABLE app (tenant_id TEXT REFERENCES tenant)")
    parent = db.execute("SELECT name FROM pragma_table_info('tenant') WHERE pk").fetchall()
    assert parent == [("id",)]


def test_schema_json_keeps_sqlites_own_spelling_of_defaults_and_generated_columns() -> None:
    """PostgreSQL's form of these does not translate back: strftime('%s', 'now') became
    to_char, a blob literal x'00' a bit string, json_extract the ->> operator."""
    columns = _json_columns(
        "CREATE TABLE t (at INTEGER DEFAULT (strftime('%s', 'now')),"
        " key BLOB NOT NULL DEFAULT x'0000', doc TEXT,"
        " kind TEXT GENERATED ALWAYS AS (json_extract(doc, '$.kind')) VIRTUAL);"
    )
    assert columns["t.at"]["default"] == "(STRFTIME('%s', 'now'))"
    assert columns["t.key"]["default"] == "x'0000'"
    assert columns["t.kind"]["generated"] == "JSON_EXTRACT(doc, '$.kind')"


def test_trigger_body_semicolons_do_not_end_the_statement() -> None:
    sql = (
        "CREATE TRIGGER t_ai AFTER INSERT ON t BEGIN\n"
        "  UPDATE t SET a = CASE WHEN new.a > 0 THEN 1 END; DELETE FROM u;\nEND;\n"
        "CREATE TABLE after_it (id INT);\n"
    )
    statements, problems = parse_sqlglot(SourceFile("1.sql", sql), "sqlite")
    assert not problems
    assert [(s.kind, s.line) for s in statements] == [("Command", 1), ("Create", 4)]


# -- the corpus ---------------------------------------------------------------------------
def corpus_histories() -> dict[str, list[Path]]:
    """Every SQLite history of the corpus, files in apply order: pop's (kratos: a version's
    `.sqlite3.`/`.sqlite.` file, else its generic file), Flyway's (authelia, conductor:
    by version number), diesel's and sqlx's (by name); temporal's `schema.sql` files alone."""
    with (CORPUS / "files.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    specific = {
        r["path"].split("_")[0]
        for r in rows
        if r["project"] == "kratos" and r["dialect"] == "sqlite" and r["path"].endswith(".up.sql")
    }
    found: dict[str, list[Path]] = defaultdict(list)
    for row in rows:
        project, path, dialect = row["project"], row["path"], row["dialect"]
        if path.endswith("down.sql"):
            continue
        if project == "kratos":
            if dialect == "sqlite" or (dialect == "generic" and path.split("_")[0] not in specific):
                found["kratos"].append(CORPUS / project / path)
            continue
        if dialect != "sqlite":
            continue
        folder = str(Path(path).parent)
        if project == "chirpstack":
            folder = "sqlite"
        elif project == "temporal":
            folder = path if path.endswith("schema.sql") else str(Path(path).parents[1])
        found[f"{project}/{folder}"].append(CORPUS / project / path)

    def version(path: Path) -> list[int]:
        return [int(n) for n in re.findall(r"\d+", path.name.split("__")[0].split(".")[0][1:])]

    for name, files in found.items():
        if name.startswith(("authelia", "conductor")):
            files.sort(key=version)
        elif "versioned" in name:
            files.sort(key=lambda p: int(p.parent.name.split(".")[1]))
        else:
            files.sort()
    return dict(found)


# temporal's versioned/ files upgrade a schema older than any in the corpus (their first
# ALTER names `current_executions` before any file creates it): SQLite rejects them alone.
CORPUS_EXCLUDED = {"temporal/sqlite/v3/temporal/versioned"}


@pytest.mark.skipif(not (CORPUS / "files.tsv").exists(), reason="../shared/corpus not present")
def test_corpus_sqlite_histories_match_sqlite() -> None:
    histories = corpus_histories()
    assert sum(len(f) for f in histories.values()) > 700
    mismatched = {}
    for name, paths in sorted(histories.items()):
        if name in CORPUS_EXCLUDED:
            continue
        files = [(str(p.relative_to(CORPUS)), p.read_text(encoding="utf-8")) for p in paths]
        found = check(files)
        if found:
            mismatched[name] = found
    assert mismatched == {}


# -- rules true for SQLite ----------------------------------------------------------------
# A rule enabled for SQLite (`dialects: [..., sqlite]`) fires on a SQLite bad example and not
# on its good one. Rules whose own examples are PostgreSQL get SQLite ones here; the others'
# own examples (file layouts, suppressions, plain CREATE TABLE) are run as SQLite.
_USERS = "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT);\n"
_ORDERS = "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER);\n"
SQLITE_EXAMPLES: dict[str, tuple[str, str]] = {
    "drop-table": (
        _USERS + "-- file: 0002_drop.sql\nDROP TABLE users;\n",
        # the rebuild pattern: the table goes and its new definition takes the name
        _USERS + "-- file: 0002_rebuild.sql\n"
        "CREATE TABLE new_users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT);\n"
        "INSERT INTO new_users SELECT id, email, name FROM users;\n"
        "DROP TABLE users;\nALTER TABLE new_users RENAME TO users;\n",
    ),
    "drop-column": (
        _USERS + "-- file: 0002_drop.sql\nALTER TABLE users DROP COLUMN name;\n",
        "CREATE TABLE import_rows (id INTEGER PRIMARY KEY, scratch TEXT);\n"
        "ALTER TABLE import_rows DROP COLUMN scratch;\n",
    ),
    "rename-column": (
        _USERS + "-- file: 0002_rename.sql\nALTER TABLE users RENAME COLUMN name TO full_name;\n",
        _USERS + "-- file: 0002_add.sql\nALTER TABLE users ADD COLUMN full_name TEXT;\n",
    ),
    "test-table-in-migrations": (
        "CREATE TABLE users_backup (id INTEGER PRIMARY KEY);\n",
        "CREATE TABLE users_archive_policy (id INTEGER PRIMARY KEY);\n",
    ),
    "required-columns": (
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT,\n"
        "  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,\n"
        "  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);\n",
    ),
    "naming-convention": (
        _USERS + "CREATE UNIQUE INDEX idx_email ON users (email);\n",
        _USERS + "CREATE UNIQUE INDEX users_email_key ON users (email);\n",
    ),
    "timestamp-naming-convention": (
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, paid TIMESTAMP);\n",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, paid_at TIMESTAMP);\n",
    ),
    "fk-nullable-multicolumn": (
        "CREATE TABLE orders (tenant_id INTEGER, id INTEGER, PRIMARY KEY (tenant_id, id));\n"
        "CREATE TABLE lines (id INTEGER PRIMARY KEY, tenant_id INTEGER, order_id INTEGER,\n"
        "  FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id));\n"
        "CREATE INDEX lines_order_idx ON lines (tenant_id, order_id);\n",
        "CREATE TABLE orders (tenant_id INTEGER, id INTEGER, PRIMARY KEY (tenant_id, id));\n"
        "CREATE TABLE lines (id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL,\n"
        "  order_id INTEGER NOT NULL,\n"
        "  FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id));\n"
        "CREATE INDEX lines_order_idx ON lines (tenant_id, order_id);\n",
    ),
    "fk-cascade-restrict-conflict": (
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY);\n"
        "CREATE TABLE projects (id INTEGER PRIMARY KEY,\n"
        "  account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE);\n"
        "CREATE TABLE invoices (id INTEGER PRIMARY KEY,\n"
        "  project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE RESTRICT);\n",
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY);\n"
        "CREATE TABLE projects (id INTEGER PRIMARY KEY,\n"
        "  account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE);\n"
        "CREATE TABLE invoices (id INTEGER PRIMARY KEY,\n"
        "  project_id INTEGER REFERENCES projects (id) ON DELETE SET NULL);\n",
    ),
    "fk-explicit-actions": (
        _USERS + "CREATE TABLE posts (id INTEGER PRIMARY KEY,\n"
        "  user_id INTEGER NOT NULL REFERENCES users (id));\n"
        "CREATE INDEX posts_user_id_idx ON posts (user_id);\n",
        _USERS + "CREATE TABLE posts (id INTEGER PRIMARY KEY,\n"
        "  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE RESTRICT);\n"
        "CREATE INDEX posts_user_id_idx ON posts (user_id);\n",
    ),
    "migration-not-in-journal": (
        '-- file: meta/_journal.json\n{"version": "7", "dialect": "sqlite", "entries": [\n'
        ' {"idx": 0, "version": "7", "when": 1700000000000, "tag": "0000_init",'
        ' "breakpoints": true}]}\n'
        "-- file: 0000_init.sql\n" + _USERS + "-- file: 0001_orders.sql\n" + _ORDERS,
        '-- file: meta/_journal.json\n{"version": "7", "dialect": "sqlite", "entries": [\n'
        ' {"idx": 0, "version": "7", "when": 1700000000000, "tag": "0000_init",'
        ' "breakpoints": true},\n'
        ' {"idx": 1, "version": "7", "when": 1700000000001, "tag": "0001_orders",'
        ' "breakpoints": true}]}\n'
        "-- file: 0000_init.sql\n" + _USERS + "-- file: 0001_orders.sql\n" + _ORDERS,
    ),
    "parse-error": (
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL;\n",
        _USERS,
    ),
    "unfilled-placeholder": (
        "-- file: V1__users.sql\nCREATE TABLE ${prefix}users (id INTEGER PRIMARY KEY);\n",
        "-- file: V1__users.sql\nCREATE TABLE app_users (id INTEGER PRIMARY KEY);\n",
    ),
    "suppression-without-reason": (
        _ORDERS + "-- schema-review: ignore fk-missing-index\n"
        "CREATE TABLE lines (id INTEGER PRIMARY KEY, order_id INTEGER REFERENCES orders (id));\n",
        _ORDERS + "-- schema-review: ignore fk-missing-index -- lines are read by order\n"
        "CREATE TABLE lines (id INTEGER PRIMARY KEY, order_id INTEGER REFERENCES orders (id));\n",
    ),
    "unused-suppression": (
        _ORDERS + "-- schema-review: ignore fk-missing-index -- no foreign key here\n"
        "CREATE INDEX orders_customer_id_idx ON orders (customer_id);\n",
        _ORDERS + "CREATE INDEX orders_customer_id_idx ON orders (customer_id);\n",
    ),
    "unknown-rule-in-suppression": (
        _ORDERS + "-- schema-review: ignore fk-missing-indx -- lines are read by order\n"
        "CREATE TABLE lines (id INTEGER PRIMARY KEY, order_id INTEGER REFERENCES orders (id));\n",
        _ORDERS + "-- schema-review: ignore fk-missing-index -- lines are read by order\n"
        "CREATE TABLE lines (id INTEGER PRIMARY KEY, order_id INTEGER REFERENCES orders (id));\n",
    ),
    "malformed-suppression": (
        _ORDERS + "-- schema-review: disable fk-missing-index -- lines are read by order\n"
        "CREATE TABLE lines (id INTEGER PRIMARY KEY, order_id INTEGER REFERENCES orders (id));\n",
        _ORDERS + "-- schema-review: ignore fk-missing-index -- lines are read by order\n"
        "CREATE TABLE lines (id INTEGER PRIMARY KEY, order_id INTEGER REFERENCES orders (id));\n",
    ),
    "uncommitted-transaction": (
        _ORDERS + "-- file: 0002_note.sql\nBEGIN;\nALTER TABLE orders ADD COLUMN note TEXT;\n",
        _ORDERS + "-- file: 0002_note.sql\nBEGIN;\nALTER TABLE orders ADD COLUMN note TEXT;\n"
        "COMMIT;\n",
    ),
}
SQLITE_EXAMPLES["modified-applied-migration"] = (
    "-- file: 0001_users.sql\nCREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\n",
    "-- file: 0001_users.sql\nCREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);\n"
    "-- file: 0002_name.sql\nALTER TABLE users ADD COLUMN name TEXT;\n",
)
SQLITE_BASES = {
    "modified-applied-migration": "-- file: 0001_users.sql\n"
    "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);\n"
}
# Bad examples SQLite cannot run by design: the placeholder is the runner's to fill.
_NOT_RUN = {"parse-error", "unfilled-placeholder"}
# Rules whose bad example SQLite refuses to run (what they report).
_REFUSED = {"sqlite-alter-unsupported", "sqlite-add-column-rejected"}

SQLITE_RULES = [r for r in load_rules() if "sqlite" in r.dialects]


def _examples(rule: Rule) -> tuple[str, str]:
    return SQLITE_EXAMPLES.get(rule.id) or (rule.examples["bad"], rule.examples["good"])


@pytest.mark.parametrize("rule", SQLITE_RULES, ids=[r.id for r in SQLITE_RULES])
def test_sqlite_rule_examples(rule: Rule, lint_sql: LintSql) -> None:
    bad, good = _examples(rule)
    for sql in (bad, good) if rule.id not in _NOT_RUN | _REFUSED else (good,):
        files = [f for f in split_example(sql) if f[0].endswith(".sql")]
        applied(files).close()  # SQLite runs the example: it is SQLite
    if rule.id in _REFUSED:  # the rule says SQLite refuses the bad example: it does
        with pytest.raises(sqlite3.OperationalError):
            applied(split_example(bad))
    settings: dict[str, object] = {**dict(rule.example_profile), "dialect": "sqlite"}
    if rule.example_options:
        settings["rule_options"] = {rule.id: rule.example_options}
    base = SQLITE_BASES.get(rule.id) if rule.id in SQLITE_EXAMPLES else rule.examples.get("base")
    fired = lint_sql(bad, base=base, **settings)
    assert findings_of(fired, rule.id), f"{rule.id}: SQLite bad example raised nothing"
    if rule.id != "parse-error":
        assert not findings_of(fired, "parse-error"), findings_of(fired, "parse-error")
    clean = lint_sql(good, base=base, **settings)
    assert not findings_of(clean, rule.id), f"{rule.id}: SQLite good example raised it"
    assert not findings_of(clean, "parse-error"), findings_of(clean, "parse-error")


FIXED_RULES = [r for r in SQLITE_RULES if r.fix]


@pytest.mark.parametrize("rule", FIXED_RULES, ids=[r.id for r in FIXED_RULES])
def test_sqlite_fixes_run_and_clear_their_finding(rule: Rule, lint_sql: LintSql) -> None:
    """A fix given on a SQLite history is SQLite: sqlite3 runs it after the bad example, and
    the history with it appended no longer has the finding. PostgreSQL-only fixes are not
    given at all."""
    bad, _ = _examples(rule)
    settings: dict[str, object] = {**dict(rule.example_profile), "dialect": "sqlite"}
    found = findings_of(lint_sql(bad, **settings), rule.id)
    fixes = [f.fix for f in found if f.fix]
    if not fixes:
        assert rule.id in ("rename-table", "rename-column"), f"{rule.id}: no fix on SQLite"
        return
    # appended to the file of the finding (the example's last), where a COMMIT belongs too
    *files, (name, text) = split_example(bad)
    files.append((name, text + "\n".join(fixes) + "\n"))
    applied(files).close()
    assert not findings_of(lint_sql(files, **settings), rule.id)


ADD_COLUMNS = [
    ("c TEXT NOT NULL", True),
    ("c TEXT NOT NULL DEFAULT NULL", True),
    ("c TEXT NOT NULL DEFAULT ''", False),
    ("c BOOLEAN NOT NULL DEFAULT FALSE", False),
    ("c INT PRIMARY KEY", True),
    ("c INT UNIQUE", True),
    ("c TEXT DEFAULT CURRENT_TIMESTAMP", True),
    ("c TEXT DEFAULT (datetime('now'))", True),
    ("c INT DEFAULT (1)", False),
    ("c INT DEFAULT -1", False),
    ("c BLOB DEFAULT x'00'", False),
    ("c INT GENERATED ALWAYS AS (1) STORED", True),
    ("c INT GENERATED ALWAYS AS (1)", False),
    ("c INT NOT NULL GENERATED ALWAYS AS (1) VIRTUAL", False),
    ("c INT REFERENCES t (id)", False),
]


@pytest.mark.parametrize(("definition", "refused"), ADD_COLUMNS)
def test_add_column_refusals_are_sqlites(definition: str, refused: bool) -> None:
    """sqlite-add-column-rejected fires exactly on the ADD COLUMNs sqlite3 refuses."""
    table = "CREATE TABLE t (id INTEGER PRIMARY KEY);\nINSERT INTO t VALUES (1);\n"
    sql = table + f"ALTER TABLE t ADD COLUMN {definition};\n"
    model, problems = replayed([("1.sql", sql)])
    assert not problems
    detail = next(c.detail for c in model.changes if c.kind == "add_column")
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(sql)
        error = ""
    except sqlite3.OperationalError as found:
        error = str(found)
    finally:
        db.close()
    assert bool(error) == refused
    assert bool(detail) == refused, (detail, error)


@pytest.mark.parametrize(
    "action",
    [
        "ALTER COLUMN email SET NOT NULL",
        "ALTER COLUMN email TYPE varchar(20)",
        "ADD CONSTRAINT email_key UNIQUE (email)",
        "DROP CONSTRAINT t_email_key",
    ],
)
def test_alter_table_sqlite_has_no_syntax_for(action: str, lint_sql: LintSql) -> None:
    sql = f"CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT);\nALTER TABLE t {action};\n"
    with pytest.raises(sqlite3.OperationalError, match="syntax error"):
        applied([("1.sql", sql)])
    assert findings_of(lint_sql(sql, dialect="sqlite"), "sqlite-alter-unsupported")


REBUILT_OVER_FILES = [
    ("0001_users.sql", _USERS + "CREATE INDEX users_email_idx ON users (email);\n"),
    (
        "0002_tmp.sql",
        "CREATE TABLE _users_tmp (id INTEGER PRIMARY KEY, email TEXT NOT NULL,"
        " name TEXT NOT NULL DEFAULT '');\n"
        "INSERT INTO _users_tmp (id, email, name)"
        " SELECT id, email, coalesce(name, '') FROM users;\n",
    ),
    ("0003_drop.sql", "DROP TABLE users;\n"),
    (
        "0004_rename.sql",
        "ALTER TABLE _users_tmp RENAME TO users;\nCREATE INDEX users_email_idx ON users (email);\n",
    ),
]


def test_a_rebuild_over_several_files_is_no_drop_nor_rename(lint_sql: LintSql) -> None:
    """pop's generated SQLite migrations rebuild a table over consecutive files (kratos): the
    rows are copied into the table that takes the name, so the drop loses nothing and the
    rename brings the application's name back."""
    applied(REBUILT_OVER_FILES).close()
    run = lint_sql(REBUILT_OVER_FILES, dialect="sqlite")
    rules = {f.rule for f in run.result.findings}
    assert not rules & {"drop-table", "rename-table", "object-created-then-dropped"}
    # a later rename-away rebuild makes a third `users`: the first still continues in the
    # second (the name's earlier owner is not handed on again)
    later = ("0005_again.sql", "ALTER TABLE users RENAME TO _old;\nCREATE TABLE users (id INT);\n")
    model, _ = replayed([*REBUILT_OVER_FILES, later])
    first, second = [t for t in model.archive if t.kind == "table"][:2]
    assert first.replaced_by is second and first.rebuilt
    # without the copy, the drop deletes the rows: reported
    uncopied = [REBUILT_OVER_FILES[0], ("0002_tmp.sql", REBUILT_OVER_FILES[1][1].split("\n")[0])]
    run = lint_sql([*uncopied, *REBUILT_OVER_FILES[2:]], dialect="sqlite")
    assert {"drop-table", "rename-table"} <= {f.rule for f in run.result.findings}


def test_rename_away_rebuild_keeps_the_name(lint_sql: LintSql) -> None:
    """authelia's rebuild: the old table renamed away, the new one created under the name,
    rows copied, the old one dropped."""
    files = [
        ("0001_users.sql", _USERS),
        (
            "0002_rebuild.sql",
            "ALTER TABLE users RENAME TO _bkp_users;\n"
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT);\n"
            "INSERT INTO users SELECT id, email, name FROM _bkp_users;\n"
            "DROP TABLE IF EXISTS _bkp_users;\n",
        ),
        (
            "0003_later.sql",
            "ALTER TABLE users RENAME TO _bkp2;\nCREATE TABLE users (id INTEGER);\n",
        ),
    ]
    applied(files).close()
    model, _ = replayed(files)
    first = next(t for t in model.archive if t.kind == "table" and t.name == "_bkp_users")
    second = next(t for t in model.archive if t.kind == "table" and t.name == "_bkp2")
    assert first.rebuilt and first.replaced_by is second  # not the table of 0003
    findings = lint_sql(files, dialect="sqlite").result.findings
    # both renames are followed by a table taking the old name in the same file
    assert not [f for f in findings if f.rule == "rename-table"]
    assert not [f for f in findings if f.rule == "object-created-then-dropped"]


def test_an_index_dropped_and_made_again_by_a_later_file_is_no_churn_on_sqlite(
    lint_sql: LintSql,
) -> None:
    files = [
        ("0001_users.sql", _USERS + "CREATE INDEX users_email_idx ON users (email);\n"),
        ("0002_drop.sql", "DROP INDEX users_email_idx;\n"),
        ("0003_again.sql", "CREATE INDEX users_email_idx ON users (email, name);\n"),
    ]
    applied(files).close()
    sqlite_run = lint_sql(files, dialect="sqlite")
    assert not findings_of(sqlite_run, "object-created-then-dropped")
    gone = [files[0], files[1]]
    assert findings_of(lint_sql(gone, dialect="sqlite"), "object-created-then-dropped")


def test_the_sqlite_examples_fixes_run_on_sqlite_and_clear_their_findings(
    lint_sql: LintSql,
) -> None:
    """examples/sqlite-app: each fix appended to the file of its finding runs on sqlite3
    (after the example's own files, minus the two SQLite refuses: what they are reported
    for) and the finding is gone."""
    folder = REPO / "examples" / "sqlite-app" / "migrations"
    files = [(p.name, p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.sql"))]
    run = lint_sql(files, dialect="sqlite")
    fixed = [f for f in run.result.findings if f.fix]
    assert {f.rule for f in fixed} == {"fk-missing-index"}
    refused = {f.file.split("/")[-1] for f in run.result.findings if f.severity == "critical"}
    kept = [(name, text) for name, text in files if name not in refused]
    for finding in fixed:
        name = finding.file.split("/")[-1]
        fix = finding.fix or ""
        with_fix = [(n, t + fix + "\n" if n == name else t) for n, t in kept]
        applied(with_fix).close()
        again = lint_sql(with_fix, dialect="sqlite")
        same = [
            f for f in again.result.findings if (f.rule, f.object) == (finding.rule, finding.object)
        ]
        assert not same, same


# kratos' SQLite migrations, as Ory's pop writes them: one migration (one timestamp) in
# numbered steps of one statement; SQLite has no ADD CONSTRAINT, so the `nid` column added in
# step 0 is dropped in step 1 and added again with its foreign key in step 2.
NID_STEPS = [
    (
        "20200101000000000000_flows.sqlite3.up.sql",
        "CREATE TABLE networks (id TEXT PRIMARY KEY);\n"
        "CREATE TABLE flows (id TEXT PRIMARY KEY, url TEXT NOT NULL, legacy TEXT);\n",
    ),
    (
        "20210410175418000000_network.sqlite3.up.sql",
        'ALTER TABLE "flows" ADD COLUMN "nid" char(36);',
    ),
    ("20210410175418000001_network.sqlite3.up.sql", "ALTER TABLE flows DROP COLUMN nid;"),
    (
        "20210410175418000002_network.sqlite3.up.sql",
        "ALTER TABLE flows ADD COLUMN nid CHAR(36) NULL REFERENCES networks(id)"
        " ON DELETE CASCADE ON UPDATE RESTRICT;",
    ),
]


def test_a_column_added_and_dropped_by_steps_of_one_migration_loses_nothing(
    lint_sql: LintSql,
) -> None:
    """The column dropped in step 1 was added in step 0 of the same migration (written and
    deployed together): no application version has used it, it holds nothing of theirs."""
    applied(NID_STEPS).close()
    assert not findings_of(lint_sql(NID_STEPS, dialect="sqlite"), "drop-column")
    # the same within one file
    one_file = [
        NID_STEPS[0],
        ("20210410175418000000_network.sqlite3.up.sql", NID_STEPS[1][1] + "\n" + NID_STEPS[2][1]),
    ]
    applied(one_file).close()
    assert not findings_of(lint_sql(one_file, dialect="sqlite"), "drop-column")
    # a column an earlier migration added (another timestamp) holds the application's data
    later = ("20230101000000000000_cleanup.sqlite3.up.sql", "ALTER TABLE flows DROP COLUMN nid;")
    dropped = findings_of(lint_sql([*NID_STEPS, later], dialect="sqlite"), "drop-column")
    assert [f.file.rsplit("/", 1)[-1] for f in dropped] == [later[0]]
    # and so does one made before the migration whose step drops it
    step = ("20210410175418000003_network.sqlite3.up.sql", "ALTER TABLE flows DROP COLUMN legacy;")
    dropped = findings_of(lint_sql([*NID_STEPS, step], dialect="sqlite"), "drop-column")
    assert [f.object for f in dropped] == ["main.flows.legacy"]


# kratos' 20230313141439000000_session_token_length, SQLite: a column's length changed by the
# swap written the other way round (the old column renamed away, a new one under its name,
# the data copied, the old one dropped), all in one transaction.
REVERSE_SWAP = [
    (
        "0001_sessions.sql",
        "CREATE TABLE sessions (id INTEGER PRIMARY KEY, token varchar(32));\n"
        "INSERT INTO sessions (token) VALUES ('abc');\n",
    ),
    (
        "0002_token_length.sql",
        "BEGIN;\n"
        "ALTER TABLE sessions RENAME COLUMN token TO old_token;\n"
        "ALTER TABLE sessions ADD COLUMN token varchar(39) NULL;\n"
        "UPDATE sessions SET token = old_token WHERE true;\n"
        "ALTER TABLE sessions DROP COLUMN old_token;\n"
        "COMMIT;\n",
    ),
]


def test_a_column_swapped_the_other_way_round_in_a_transaction_loses_nothing(
    lint_sql: LintSql,
) -> None:
    """On sqlite3 the data is in the column of the old name when the transaction commits, so
    the DROP of the renamed-away column is no loss; without the transaction the application
    sees the column missing between the RENAME and the ADD, and it is reported."""
    db = applied(REVERSE_SWAP)
    assert db.execute("SELECT token FROM sessions").fetchall() == [("abc",)]
    db.close()
    assert not findings_of(lint_sql(REVERSE_SWAP, dialect="sqlite"), "drop-column")
    outside = [
        REVERSE_SWAP[0],
        (
            "0002_token_length.sql",
            REVERSE_SWAP[1][1].replace("BEGIN;\n", "").replace("COMMIT;\n", ""),
        ),
    ]
    dropped = findings_of(lint_sql(outside, dialect="sqlite"), "drop-column")
    assert [f.object for f in dropped] == ["main.sessions.old_token"]
