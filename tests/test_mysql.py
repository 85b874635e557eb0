"""MySQL (MariaDB) histories: the replayed model against the catalog MariaDB itself builds.

A MariaDB server from the system's packages (Debian's `mariadb-server`) is started once per
session in a temporary directory; each case gets a fresh database. Without `mariadbd` (or
pymysql) the server cases skip and say why; the cases without a server still run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from schema_review.model import replay
from schema_review.model.schema import SchemaModel
from schema_review.model.sqlglot_front import written_type
from schema_review.parse import SourceFile
from schema_review.parse.sqlglot_parse import parse_sqlglot
from schema_review.profile import Profile
from tests.oracle.engine_histories import pop

Catalog = dict[str, dict[str, Any]]


# -- the server ---------------------------------------------------------------------------------
def _server_programs() -> tuple[str, str] | None:
    server = shutil.which("mariadbd") or next(
        (p for p in ("/usr/sbin/mariadbd", "/usr/sbin/mysqld") if Path(p).exists()), None
    )
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    return (server, install) if server and install else None


@pytest.fixture(scope="session")
def mariadb() -> Iterator[Callable[[], Any]]:
    """A function that opens a connection to a fresh, empty database of the session's
    server."""
    programs = _server_programs()
    if programs is None:
        pytest.skip("no MariaDB server on this machine (apt-get install mariadb-server)")
    pymysql = pytest.importorskip("pymysql")
    server, install = programs
    # The socket's path must stay short (108 bytes): not under pytest's long tmp_path.
    home = Path(tempfile.mkdtemp(prefix="sr-mariadb-"))
    socket = home / "s.sock"
    process: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [
                install,
                f"--datadir={home / 'data'}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
        )
        process = subprocess.Popen(
            [
                server,
                "--no-defaults",
                f"--datadir={home / 'data'}",
                f"--socket={socket}",
                f"--pid-file={home / 'server.pid'}",
                "--skip-networking",
                "--user=root",
                "--innodb-buffer-pool-size=32M",
                "--skip-log-bin",
                # A test server: no durability, DDL as fast as it goes.
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-doublewrite=0",
                "--innodb-flush-method=nosync",
                "--innodb-file-per-table=0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not (home / "server.pid").exists():  # written once it accepts connections
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.skip("the MariaDB server did not start")
            time.sleep(0.2)
        numbers = count()

        def fresh() -> Any:
            name = f"case_{next(numbers)}"
            admin = pymysql.connect(unix_socket=str(socket), user="root", autocommit=True)
            with admin.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {name}")
            admin.close()
            return pymysql.connect(
                unix_socket=str(socket),
                user="root",
                database=name,
                autocommit=True,
                client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS,
            )

        yield fresh
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(home, ignore_errors=True)


def apply(connection: Any, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for text in statements:
            cursor.execute(text)


# -- the two sides, in one form -------------------------------------------------------------
_INTEGERS = ("tinyint", "smallint", "mediumint", "int", "bigint")
_SYNONYMS = {
    "integer": "int",
    "bool": "tinyint(1)",
    "boolean": "tinyint(1)",
    "json": "longtext",  # MariaDB: an alias of LONGTEXT (with a json_valid CHECK)
    "real": "double",
    "dec": "decimal",
    "numeric": "decimal",
    "character": "char",
}


def normal_type(text: str) -> str:
    """A column type as both sides can agree on it: lower case, no integer display width
    (MySQL 8 shows none, MariaDB shows its default), synonyms resolved."""
    text = re.sub(r"\s+", " ", text.lower().strip())
    text = re.sub(r"\s*,\s*", ",", text)
    head, _, rest = text.partition(" ")
    base = head.split("(", 1)[0]
    if base in _SYNONYMS and "(" not in head:
        head = _SYNONYMS[base]
        base = head.split("(", 1)[0]
    if base in _INTEGERS and head != "tinyint(1)":
        head = base
    if base == "decimal" and "(" not in head:
        head = "decimal(10,0)"
    if base in ("timestamp", "datetime", "time") and head.endswith("(0)"):
        head = base  # fractional seconds: 0 is the default
    if base in ("varchar", "char") and head == "char":
        head = "char(1)"
    words = [w for w in rest.split() if w in ("unsigned", "zerofill")]
    return " ".join([head, *words])


def engine_catalog(connection: Any) -> Catalog:
    """What MariaDB says the schema is, from information_schema."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT DATABASE()")
        (database,) = cursor.fetchone()

        def rows(query: str) -> list[tuple[Any, ...]]:
            cursor.execute(query, (database,))
            return list(cursor.fetchall())

        tables: Catalog = {}
        for name, engine, collation in rows(
            "SELECT table_name, engine, table_collation FROM information_schema.tables "
            "WHERE table_schema = %s AND table_type = 'BASE TABLE'"
        ):
            tables[name] = {"columns": {}, "keys": {}, "indexes": {}, "foreign_keys": {}}
            tables[name]["options"] = {
                "engine": engine.lower(),
                "charset": collation.split("_", 1)[0],
                "collation": collation,
            }
        for table, column, type_, nullable, default, extra, charset, collation in rows(
            "SELECT table_name, column_name, column_type, is_nullable, column_default, extra, "
            "character_set_name, collation_name "
            "FROM information_schema.columns WHERE table_schema = %s ORDER BY ordinal_position"
        ):
            if table in tables:
                tables[table]["columns"][column] = {
                    "type": normal_type(type_),
                    "not_null": nullable == "NO",
                    "default": default is not None and default != "NULL",
                    "auto_increment": "auto_increment" in extra.lower(),
                    "charset": charset,
                    "collation": collation,
                }
        for table, index, unique, column in rows(
            "SELECT table_name, index_name, non_unique = 0, column_name "
            "FROM information_schema.statistics WHERE table_schema = %s "
            "ORDER BY table_name, index_name, seq_in_index"
        ):
            entry = tables[table]["indexes"].setdefault(
                index, {"unique": bool(unique), "columns": []}
            )
            entry["columns"].append(column)
        for table, name, kind in rows(
            "SELECT table_name, constraint_name, constraint_type "
            "FROM information_schema.table_constraints WHERE table_schema = %s"
        ):
            if kind in ("PRIMARY KEY", "UNIQUE", "CHECK"):
                tables[table]["keys"][name] = kind.split()[0].lower()
        for table, name, ref_table, on_delete, on_update in rows(
            "SELECT table_name, constraint_name, referenced_table_name, delete_rule, update_rule "
            "FROM information_schema.referential_constraints WHERE constraint_schema = %s"
        ):
            tables[table]["foreign_keys"][name] = {
                "ref_table": ref_table,
                "on_delete": on_delete,
                "on_update": on_update,
                "columns": [],
            }
        for table, name, column in rows(
            "SELECT table_name, constraint_name, column_name FROM "
            "information_schema.key_column_usage WHERE table_schema = %s AND "
            "referenced_table_name IS NOT NULL ORDER BY table_name, constraint_name, "
            "ordinal_position"
        ):
            tables[table]["foreign_keys"][name]["columns"].append(column)
    return tables


_ENGINE_CHECKS = re.compile(r"json_valid\(", re.IGNORECASE)


def model_catalog(model: SchemaModel) -> Catalog:
    """The replayed model in the form of `engine_catalog`."""
    tables: Catalog = {}
    for table in model.live_tables():
        if table.external:
            continue
        entry: dict[str, Any] = {"columns": {}, "keys": {}, "indexes": {}, "foreign_keys": {}}
        entry["options"] = {
            "engine": table.engine.lower() if table.engine else None,
            "charset": table.charset,
            "collation": table.collation,
        }
        for column in table.columns.values():
            entry["columns"][column.name] = {
                "type": normal_type(written_type(column.type)),
                "not_null": column.not_null,
                "default": column.default is not None and column.default.sql.upper() != "NULL",
                "auto_increment": column.identity == "auto_increment",
                "charset": column.charset,
                "collation": column.collation,
            }
        for index in table.live_indexes:
            entry["indexes"][index.name] = {
                "unique": index.unique,
                "columns": [str(c) for c in index.columns],
            }
        for constraint in table.constraints.values():
            if constraint.type == "foreign_key":
                entry["foreign_keys"][constraint.name] = {
                    "ref_table": (constraint.ref_table or "").split(".", 1)[-1],
                    "on_delete": constraint.on_delete.upper(),
                    "on_update": constraint.on_update.upper(),
                    "columns": list(constraint.columns),
                }
            else:
                kind = {"primary_key": "primary", "unique": "unique", "check": "check"}
                entry["keys"][constraint.name] = kind.get(constraint.type, constraint.type)
        tables[table.name] = entry
    return tables


def differences(engine: Catalog, model: Catalog) -> list[str]:
    """What differs, one line each (empty: the model matches)."""
    found: list[str] = []
    for name in sorted(set(engine) | set(model)):
        if name not in model:
            found.append(f"table {name}: missing from the model")
            continue
        if name not in engine:
            found.append(f"table {name}: not on the server")
            continue
        ours, theirs = model[name], engine[name]
        # MariaDB adds a CHECK (json_valid(c)) named after a JSON column: not the files'.
        json_checks = {c for c, facts in theirs["columns"].items() if facts["type"] == "longtext"}
        # What the history does not write is the server's default, which the model leaves
        # out (None): not compared.
        for facts, engine_facts in [
            (ours["options"], theirs["options"]),
            *(
                (column, theirs["columns"][name])
                for name, column in ours["columns"].items()
                if name in theirs["columns"]
            ),
        ]:
            for key in ("engine", "charset", "collation"):
                if key in facts and facts[key] is None:
                    engine_facts[key] = None
        found += [
            f"{name} options {key}: server {theirs['options'][key]!r}, model {value!r}"
            for key, value in ours["options"].items()
            if theirs["options"][key] != value
        ]
        for part in ("columns", "keys", "indexes", "foreign_keys"):
            left, right = theirs[part], ours[part]
            for key in sorted(set(left) | set(right)):
                if part == "keys" and key in json_checks and key not in right:
                    continue
                if left.get(key) != right.get(key):
                    found.append(
                        f"{name} {part} {key}: server {left.get(key)!r}, model {right.get(key)!r}"
                    )
    return found


def replay_sql(files: list[tuple[str, str]]) -> tuple[SchemaModel, list[str]]:
    """The model of MySQL files, and the text of each statement (for the server)."""
    statements = []
    texts: list[str] = []
    for name, sql in files:
        parsed, problems = parse_sqlglot(SourceFile(name, sql), "mysql")
        assert not problems, [p.message for p in problems]
        statements += parsed
        texts += [s.text for s in parsed]
    model = replay(statements, Profile(dialect="mysql"))
    assert not model.internal_errors, model.internal_errors
    return model, texts


def check_against_server(mariadb: Callable[[], Any], sql: str) -> SchemaModel:
    model, texts = replay_sql([("0001.sql", sql)])
    connection = mariadb()
    try:
        apply(connection, texts)
        assert differences(engine_catalog(connection), model_catalog(model)) == []
    finally:
        connection.close()
    return model


# -- the model against the server ---------------------------------------------------------------
CASES = {
    "names-of-unnamed-keys": """
        CREATE TABLE p (id int PRIMARY KEY);
        CREATE TABLE c (
          id int AUTO_INCREMENT PRIMARY KEY, a int, b int,
          e varchar(10) UNIQUE, f varchar(10) CHECK (f <> ''),
          UNIQUE (e), UNIQUE KEY (a, b), KEY (a), CHECK (a > 0), CHECK (b > 0),
          FOREIGN KEY (b) REFERENCES p (id),
          CONSTRAINT myfk FOREIGN KEY (a) REFERENCES p (id) ON DELETE CASCADE,
          FOREIGN KEY (a) REFERENCES p (id),
          CONSTRAINT cfk2 FOREIGN KEY (id) REFERENCES p (id)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
        CREATE TABLE d (id int, x int, CONSTRAINT foo UNIQUE (x),
          CONSTRAINT named_fk FOREIGN KEY (id) REFERENCES p (id));
        CREATE TABLE d2 (id int, FOREIGN KEY fkix (id) REFERENCES p (id));
    """,
    "foreign-key-index-made-then-replaced": """
        CREATE TABLE p (id int PRIMARY KEY);
        CREATE TABLE q (id int, x int, y int);
        ALTER TABLE q ADD FOREIGN KEY (x) REFERENCES p (id);
        ALTER TABLE q ADD CONSTRAINT qfk FOREIGN KEY (y) REFERENCES p (id);
        ALTER TABLE q ADD FOREIGN KEY (id) REFERENCES p (id) ON UPDATE SET NULL;
        ALTER TABLE q ADD INDEX both_idx (y, x);
        ALTER TABLE q DROP FOREIGN KEY qfk;
        CREATE INDEX q_x_id ON q (x, id);
    """,
    "modify-and-change-redefine-the-column": """
        CREATE TABLE t (id bigint unsigned NOT NULL AUTO_INCREMENT, a varchar(20) NOT NULL
          DEFAULT 'x', b int, c decimal(10,2), e enum('a','b') NOT NULL, PRIMARY KEY (id));
        ALTER TABLE t MODIFY a varchar(40);
        ALTER TABLE t CHANGE COLUMN b bee bigint NOT NULL DEFAULT 0;
        ALTER TABLE t CHANGE c c decimal(12,4) unsigned NOT NULL;
        ALTER TABLE t MODIFY e enum('a','b','c') NOT NULL DEFAULT 'a';
        ALTER TABLE t ALTER COLUMN bee DROP DEFAULT;
        ALTER TABLE t ALTER a SET DEFAULT 'y';
        ALTER TABLE t MODIFY id bigint unsigned NOT NULL;
    """,
    "renames-and-drops": """
        CREATE TABLE a (id int NOT NULL, code varchar(10), parent int,
          PRIMARY KEY (id), UNIQUE KEY code_uk (code), KEY parent_idx (parent));
        RENAME TABLE a TO b;
        ALTER TABLE b RENAME INDEX parent_idx TO b_parent_idx;
        ALTER TABLE b RENAME KEY code_uk TO b_code_uk;
        CREATE TABLE c (id int PRIMARY KEY, b_id int, CONSTRAINT c_b FOREIGN KEY (b_id)
          REFERENCES b (id));
        ALTER TABLE c DROP FOREIGN KEY c_b;
        ALTER TABLE b DROP PRIMARY KEY, ADD PRIMARY KEY (id, code);
        DROP INDEX b_code_uk ON b;
        ALTER TABLE b ADD UNIQUE (code), ADD INDEX (parent, id), ALGORITHM=INPLACE, LOCK=NONE;
        ALTER TABLE b DROP KEY b_parent_idx;
        ALTER TABLE c RENAME TO c2, ADD COLUMN note text;
        RENAME TABLE c2 TO c3, b TO b2;
        CREATE TABLE copy LIKE b2;
        ALTER TABLE copy DROP COLUMN parent;
    """,
    "rename-renames-the-engine-named-foreign-keys": """
        CREATE TABLE p (id int PRIMARY KEY);
        CREATE TABLE old_name (id int PRIMARY KEY, p_id int, p2 int REFERENCES p (id),
          FOREIGN KEY (p_id) REFERENCES p (id) ON DELETE CASCADE);
        RENAME TABLE old_name TO new_name;
        ALTER TABLE new_name ADD FOREIGN KEY (id) REFERENCES p (id);
    """,
    # authelia's helper: the DDL a CALL builds from its literal arguments is replayed.
    "procedure-calls-replay-their-ddl": """
        CREATE TABLE p (id int PRIMARY KEY);
        CREATE TABLE t (id int PRIMARY KEY, name varchar(20), p_id int,
          UNIQUE KEY name (name), CONSTRAINT t_p_fkey FOREIGN KEY (p_id) REFERENCES p (id));
        CREATE PROCEDURE PROC_DROP_INDEX(IN tableName VARCHAR(64), IN indexName VARCHAR(64))
        BEGIN
            IF EXISTS(
                SELECT * FROM information_schema.STATISTICS
                WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = tableName
                  AND INDEX_NAME = indexName)
            THEN
                SET @query = CONCAT('ALTER TABLE ', tableName, ' DROP INDEX ', indexName, ';');
                PREPARE stmt FROM @query;
                EXECUTE stmt;
                DEALLOCATE PREPARE stmt;
            END IF;
        END;
        CREATE PROCEDURE PROC_DROP_FOREIGN_KEY(IN tableName VARCHAR(64), IN fk VARCHAR(64))
        BEGIN
            SET @query = CONCAT('ALTER TABLE ', tableName, ' DROP FOREIGN KEY ', fk);
            PREPARE stmt FROM @query;
            EXECUTE stmt;
        END;
        CALL PROC_DROP_INDEX('t', 'name');
        CALL PROC_DROP_INDEX('t', 'missing');
        CALL PROC_DROP_FOREIGN_KEY('t', 't_p_fkey');
        ALTER TABLE t ADD CONSTRAINT t_p_fkey FOREIGN KEY (p_id) REFERENCES p (id);
    """,
    # MySQL's compatibility names: LONG and LONG VARCHAR are MEDIUMTEXT, LONG VARBINARY is
    # MEDIUMBLOB (sqlglot read LONG as BIGINT and the other two not at all).
    "long-types": """
        CREATE TABLE t (id int PRIMARY KEY, a long, b LONG VARCHAR NOT NULL,
          c long varbinary, d Long Varchar CHARACTER SET utf8mb4, e bigint);
        ALTER TABLE t ADD COLUMN f long, MODIFY e LONG;
    """,
    # conductor's: a statement chosen at run time by what information_schema says exists,
    # then prepared and executed; replayed when it can run (what it drops exists, what it
    # adds does not), as the existence check decides.
    "ddl-chosen-by-existence-checks": """
        CREATE TABLE q (id int PRIMARY KEY, name varchar(20), message_id varchar(20),
          UNIQUE KEY q_name (name), KEY combo (name, id));
        SET @dbname = DATABASE();
        SET @tablename = "q";
        SET @columnname = "priority";
        SET @preparedStatement = (SELECT IF(
          (SELECT COUNT(*) FROM INFORMATION_SCHEMA.COLUMNS WHERE (table_name = @tablename)
            AND (table_schema = @dbname) AND (column_name = @columnname)) > 0,
          "SELECT 1",
          CONCAT("ALTER TABLE ", @tablename, " ADD ", @columnname,
                 " TINYINT DEFAULT 0 AFTER `message_id`")));
        PREPARE addColumnIfNotExist FROM @preparedStatement;
        EXECUTE addColumnIfNotExist;
        DEALLOCATE PREPARE addColumnIfNotExist;
        SET @exist := (SELECT COUNT(INDEX_NAME) FROM information_schema.STATISTICS
          WHERE `TABLE_NAME` = 'q' AND `INDEX_NAME` = 'combo' AND TABLE_SCHEMA = database());
        SET @sqlstmt := IF(@exist > 0, 'ALTER TABLE `q` DROP INDEX `combo`',
                           'SELECT ''INFO: Index already exists.''');
        PREPARE stmt FROM @sqlstmt;
        EXECUTE stmt;
        CREATE INDEX combo ON q (name, priority, id);
        SET @exist := (SELECT COUNT(INDEX_NAME) FROM information_schema.STATISTICS
          WHERE `TABLE_NAME` = 'q' AND `INDEX_NAME` = 'missing' AND TABLE_SCHEMA = database());
        SET @sqlstmt := IF(@exist > 0, 'ALTER TABLE `q` DROP INDEX `missing`', 'SELECT 1');
        PREPARE stmt FROM @sqlstmt;
        EXECUTE stmt;
    """,
    "stored-programs-and-data": """
        CREATE TABLE t (id int PRIMARY KEY, n int);
        CREATE PROCEDURE add_n(IN x int)
        BEGIN
          IF x > 0 THEN
            UPDATE t SET n = n + x;
          END IF;
          CASE WHEN x = 1 THEN SELECT 1; ELSE SELECT 2; END CASE;
        END;
        CREATE TRIGGER t_bi BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.n = 1; END;
        UPDATE t SET n = 2 WHERE id = 1;
        DELETE FROM t;
        CREATE TABLE u (id int PRIMARY KEY);
    """,
    # Table options, character sets and collations: a column takes the table's default as it
    # is when the column is (re)defined; CONVERT TO changes every character column.
    "engines-charsets-and-collations": """
        CREATE TABLE t (id int PRIMARY KEY, a varchar(10) CHARACTER SET latin1,
          b text COLLATE utf8mb4_bin, c varchar(5), d int, e enum('x','y'),
          f char(2) CHARACTER SET utf8mb4, g varchar(3) CHARACTER SET utf8 COLLATE utf8_bin
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
        CREATE TABLE u (id int, s varchar(3), n int) ENGINE=MyISAM CHARSET=latin1;
        CREATE TABLE v (id int, s varchar(3)) COLLATE utf8mb4_bin;
        CREATE TABLE w (id int, s varchar(3)) ENGINE=Aria DEFAULT CHARACTER SET = utf8;
        ALTER TABLE u ENGINE=InnoDB;
        ALTER TABLE u DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
        ALTER TABLE u ADD COLUMN s2 varchar(3);
        ALTER TABLE u MODIFY n varchar(4) NOT NULL;
        ALTER TABLE w CHARSET latin1;
        ALTER TABLE w CHANGE s s2 varchar(5);
        CREATE TABLE t2 LIKE t;
        ALTER TABLE t ENGINE=InnoDB, CONVERT TO CHARACTER SET utf8 COLLATE utf8_general_ci;
        ALTER TABLE t ADD COLUMN (x int, y varchar(4) DEFAULT 'a,b');
        ALTER TABLE t ADD (z int NOT NULL DEFAULT 0, q varchar(3) COLLATE latin1_bin);
        ALTER TABLE t2 CONVERT TO CHARACTER SET latin1, ALGORITHM=COPY;
        ALTER TABLE v MODIFY s varchar(3) CHARACTER SET utf8mb4;
        CREATE TABLE wide (a tinytext, b text, c mediumtext, d longtext, e varchar(10),
          f text CHARACTER SET utf8mb4, g tinytext CHARACTER SET utf8) CHARSET latin1;
        ALTER TABLE wide CONVERT TO CHARACTER SET utf8mb4;
        CREATE TABLE narrow (a tinytext, b text) CHARSET utf8mb4;
        ALTER TABLE narrow CONVERT TO CHARACTER SET latin1;
    """,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_model_matches_mariadb(mariadb: Callable[[], Any], case: str) -> None:
    check_against_server(mariadb, CASES[case])


# -- parsing: what MySQL accepts parses, statement by statement --------------------------------
def test_an_execute_the_existence_check_decides_is_modelled_not_reported() -> None:
    """conductor's EXECUTEs: the DDL ran (replayed) or the check chose the SELECT (nothing
    changes); either way the model knows their effect, so ddl-not-modelled does not say it
    does not. An EXECUTE whose DDL cannot run and has no SELECT to fall back on still is."""
    model, _ = replay_sql([("0001.sql", CASES["ddl-chosen-by-existence-checks"])])
    assert [c for c in model.changes if c.kind == "not_modelled"] == []
    assert "priority" in model.tables[("main", "q")].columns
    unguarded = "SET @q = 'ALTER TABLE t ADD COLUMN n int';\nPREPARE s FROM @q;\nEXECUTE s;\n"
    model, _ = replay_sql([("0001.sql", unguarded)])
    assert [c.detail for c in model.changes if c.kind == "not_modelled"] == ["EXECUTE s"]


def test_stored_program_bodies_are_one_statement_with_or_without_delimiter() -> None:
    sql = (
        "CREATE PROCEDURE p(IN t VARCHAR(64))\nBEGIN\n  IF t <> '' THEN\n"
        "    SET @q = CONCAT('DROP TABLE ', t);\n    PREPARE s FROM @q;\n    EXECUTE s;\n"
        "    DEALLOCATE PREPARE s;\n  END IF;\nEND;\n"
        "CALL p('x');\nDEALLOCATE PREPARE s;DELIMITER $$\n"
        "CREATE DEFINER=`root`@`%` TRIGGER t_bi BEFORE INSERT ON t FOR EACH ROW\n"
        "BEGIN SET NEW.n = 1; END$$\nDELIMITER ;\nCREATE TABLE t (id int);\n"
    )
    statements, problems = parse_sqlglot(SourceFile("0001.sql", sql), "mysql")
    assert not problems
    assert [(s.line, s.text.split(None, 2)[1]) for s in statements] == [
        (1, "PROCEDURE"),
        (10, "p('x')"),
        (11, "PREPARE"),
        (12, "DEFINER=`root`@`%`"),
        (15, "TABLE"),
    ]
    model = replay(statements, Profile(dialect="mysql"))
    assert [c.kind for c in model.changes] == [
        "create_function",
        "not_modelled",
        "create_trigger",
        "create_table",
    ]


def test_mysql_files_run_outside_a_transaction(tmp_path: Path) -> None:
    """Every MySQL DDL statement commits: a runner's transaction does not hold the file."""
    from schema_review.config import Settings
    from schema_review.pipeline import replay_histories

    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "V1__a.sql").write_text("CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n")
    (history,) = replay_histories([folder], Settings(dialect="mysql", runner="flyway"))
    assert history.profile.runner == "flyway" and history.profile.dialect == "mysql"
    assert not history.sources[0].transaction
    assert not any(c.in_transaction for c in history.model.changes)


def test_schema_export_writes_types_as_mysql_does() -> None:
    from schema_review.export import schema_document, schema_sql

    model, _ = replay_sql(
        [
            (
                "0001.sql",
                "CREATE TABLE t (id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,\n"
                "  s enum('a','b') NOT NULL DEFAULT 'a', d decimal(10,2) unsigned,\n"
                "  v varchar(255), at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP);\n",
            )
        ]
    )
    document = schema_document(model, "h")
    (table,) = document["tables"]
    assert [(c["name"], c["type"], c["identity"], c["default"]) for c in table["columns"]] == [
        ("id", "bigint unsigned", "auto_increment", None),
        ("s", "enum('a','b')", None, "'a'"),
        ("d", "decimal(10,2) unsigned", None, None),
        ("v", "varchar(255)", None, None),
        ("at", "timestamp", None, "CURRENT_TIMESTAMP()"),
    ]
    # DDL MySQL runs (tests/test_export_dialects.py applies it to MariaDB).
    sql = schema_sql(document, model)
    assert "CREATE TABLE `t` (\n  `id` bigint unsigned NOT NULL AUTO_INCREMENT," in sql


# -- the rules that hold on MySQL: a MySQL bad and good case each --------------------------------
_USERS = "CREATE TABLE users (id bigint PRIMARY KEY, name varchar(80) NOT NULL, n int);\n"
_NEXT = "-- file: 0002_next.sql\n"
_FK = (
    "CREATE TABLE p (id int PRIMARY KEY);\n"
    "CREATE TABLE c (id int PRIMARY KEY, p_id int,\n"
    "  CONSTRAINT c_p_fk FOREIGN KEY (p_id) REFERENCES p (id));\n"
)
_DROP_T = "CREATE TABLE t (id int PRIMARY KEY);\n" + _NEXT
_SIXTEEN = ", ".join(f"'v{n}'" for n in range(16))

# rule -> (bad, good[, options])
MYSQL_RULE_CASES: dict[str, tuple[str, ...]] = {
    "drop-table": (_USERS + _NEXT + "DROP TABLE users;\n", _USERS + "DROP TABLE users;\n"),
    "drop-column": (
        _USERS + _NEXT + "ALTER TABLE users DROP COLUMN n;\n",
        _USERS + "ALTER TABLE users DROP COLUMN n;\n",
    ),
    "rename-table": (
        _USERS + _NEXT + "RENAME TABLE users TO people;\n",
        _USERS + _NEXT + "RENAME TABLE users TO users_old;\n"
        "CREATE TABLE users (id bigint PRIMARY KEY, name varchar(120) NOT NULL);\n",
    ),
    "rename-column": (
        _USERS + _NEXT + "ALTER TABLE users CHANGE name full_name varchar(80) NOT NULL;\n",
        _USERS + _NEXT + "ALTER TABLE users CHANGE name name varchar(120) NOT NULL;\n",
    ),
    # MODIFY redefines the column: leaving NOT NULL out makes it nullable.
    "drop-not-null": (
        _USERS + _NEXT + "ALTER TABLE users MODIFY name varchar(120);\n",
        _USERS + _NEXT + "ALTER TABLE users MODIFY name varchar(120) NOT NULL;\n",
    ),
    "drop-foreign-key": (
        _FK + _NEXT + "ALTER TABLE c DROP FOREIGN KEY c_p_fk;\n",
        # A misnamed key renamed: dropped and added again under its right name.
        _FK + _NEXT + "ALTER TABLE c DROP FOREIGN KEY c_p_fk, ADD CONSTRAINT c_p_id_fkey "
        "FOREIGN KEY (p_id) REFERENCES p (id) ON DELETE CASCADE;\n",
    ),
    "unbatched-backfill": (
        _USERS + _NEXT + "UPDATE users SET n = 0;\n",
        _USERS + _NEXT + "UPDATE users SET n = 0 WHERE id BETWEEN 1 AND 5000;\n",
    ),
    "test-table-in-migrations": (
        "CREATE TABLE users_backup (id int PRIMARY KEY);\n",
        "CREATE TABLE users_backup (id int PRIMARY KEY);\n" + _NEXT + "DROP TABLE users_backup;\n",
    ),
    "required-columns": (
        "CREATE TABLE notes (id bigint AUTO_INCREMENT PRIMARY KEY, body text);\n",
        "CREATE TABLE notes (id bigint AUTO_INCREMENT PRIMARY KEY, body text,\n"
        "  created_at datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,\n"
        "  updated_at datetime NOT NULL DEFAULT CURRENT_TIMESTAMP);\n",
    ),
    "duplicate-index": (
        "CREATE TABLE t (id int PRIMARY KEY, e varchar(80), UNIQUE KEY e_uk (e), KEY e_idx (e));\n",
        "CREATE TABLE t (id int PRIMARY KEY, e varchar(80), UNIQUE KEY e_uk (e));\n",
    ),
    "redundant-index": (
        "CREATE TABLE t (id int PRIMARY KEY, a int, b int, KEY a_idx (a), KEY ab_idx (a, b));\n",
        "CREATE TABLE t (id int PRIMARY KEY, a int, b int, KEY ab_idx (a, b), KEY b_idx (b));\n",
    ),
    "enum-like-column-without-check": (
        "CREATE TABLE orders (id int PRIMARY KEY, status varchar(20) NOT NULL);\n",
        "CREATE TABLE orders (id int PRIMARY KEY, status enum('new','paid') NOT NULL);\n",
    ),
    "check-temporal-order": (
        "CREATE TABLE jobs (id int PRIMARY KEY, started_at datetime, completed_at datetime);\n",
        "CREATE TABLE jobs (id int PRIMARY KEY, started_at datetime, completed_at datetime,\n"
        "  CHECK (completed_at IS NULL OR started_at <= completed_at));\n",
    ),
    "large-check-in-list": (
        f"CREATE TABLE t (id int PRIMARY KEY, c varchar(9), CHECK (c IN ({_SIXTEEN})));\n",
        "CREATE TABLE t (id int PRIMARY KEY, c varchar(9), CHECK (c IN ('a', 'b')));\n",
    ),
    "flag-timestamp-consistency-check": (
        "CREATE TABLE tasks (id int PRIMARY KEY, is_completed boolean, completed_at datetime);\n",
        "CREATE TABLE tasks (id int PRIMARY KEY, is_completed boolean, completed_at datetime,\n"
        "  CHECK (is_completed = (completed_at IS NOT NULL)));\n",
    ),
    # InnoDB's default action is RESTRICT: the cascade from users stops at tasks.
    "fk-cascade-restrict-conflict": (
        "CREATE TABLE users (id int PRIMARY KEY);\n"
        "CREATE TABLE projects (id int PRIMARY KEY, user_id int,\n"
        "  FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE);\n"
        "CREATE TABLE tasks (id int PRIMARY KEY, project_id int,\n"
        "  FOREIGN KEY (project_id) REFERENCES projects (id));\n",
        "CREATE TABLE users (id int PRIMARY KEY);\n"
        "CREATE TABLE projects (id int PRIMARY KEY, user_id int,\n"
        "  FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE);\n"
        "CREATE TABLE tasks (id int PRIMARY KEY, project_id int,\n"
        "  FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE);\n",
    ),
    "object-created-then-dropped": (
        _DROP_T + "DROP TABLE t;\n",
        _DROP_T + "ALTER TABLE t ADD COLUMN n int;\n",
    ),
    "ddl-not-modelled": (
        "SET @q = 'ALTER TABLE t ADD COLUMN n int';\nPREPARE s FROM @q;\nEXECUTE s;\n",
        "CREATE TABLE t (id int PRIMARY KEY);\n",
    ),
    "parse-error": ("CREATE TABLE (;\n", "CREATE TABLE `t` (`id` int PRIMARY KEY);\n"),
    "suppression-without-reason": (
        _DROP_T + "-- schema-review: ignore drop-table\nDROP TABLE t;\n",
        _DROP_T + "# schema-review: ignore drop-table -- replaced by t2 since v3\nDROP TABLE t;\n",
    ),
    "unused-suppression": (
        "-- schema-review: ignore drop-table -- gone\nCREATE TABLE t (id int PRIMARY KEY);\n",
        "CREATE TABLE t (id int PRIMARY KEY);\n",
    ),
    "unknown-rule-in-suppression": (
        _DROP_T + "-- schema-review: ignore drop-tabel -- replaced by t2\nDROP TABLE t;\n",
        _DROP_T + "-- schema-review: ignore drop-table -- replaced by t2\nDROP TABLE t;\n",
    ),
    "malformed-suppression": (
        _DROP_T + "-- schema-review: disable drop-table -- replaced by t2\nDROP TABLE t;\n",
        _DROP_T + "-- schema-review: ignore drop-table -- replaced by t2\nDROP TABLE t;\n",
    ),
}
# Rules about files and versions, not SQL: their own examples, linted as MySQL.
_OWN_EXAMPLES = (
    "missing-down-migration",
    "duplicate-migration-version",
    "modified-applied-migration",
    "migration-out-of-order",
    "migration-not-in-journal",
    "unfilled-placeholder",
)


def _mysql_rules() -> list[Any]:
    from schema_review.rules import load_rules

    return [rule for rule in load_rules() if "mysql" in rule.dialects]


def test_every_rule_for_mysql_has_a_mysql_case() -> None:
    assert sorted(r.id for r in _mysql_rules()) == sorted(
        [*MYSQL_RULE_CASES, *_OWN_EXAMPLES, *MYSQL_OWN_RULES]
    )


def _case(rule: Any, which: str) -> tuple[str, str | None]:
    if rule.id in MYSQL_RULE_CASES:
        return MYSQL_RULE_CASES[rule.id][0 if which == "bad" else 1], None
    return rule.examples[which], rule.examples.get("base")


@pytest.mark.parametrize("which", ["bad", "good"])
@pytest.mark.parametrize("rule", _mysql_rules(), ids=lambda r: r.id)
def test_mysql_rule_cases(rule: Any, which: str, lint_sql: Any) -> None:
    from tests.helpers import findings_of

    sql, base = _case(rule, which)
    settings: dict[str, Any] = dict(rule.example_profile)
    settings["dialect"] = "mysql"
    if rule.example_options:
        settings["rule_options"] = {rule.id: rule.example_options}
    run = lint_sql(sql, base=base, **settings)
    assert run.profiles[0].dialect == "mysql"
    found = findings_of(run, rule.id)
    assert bool(found) == (which == "bad"), [f.message for f in found]
    if rule.id != "parse-error":
        assert not findings_of(run, "parse-error")
    if "postgres" in rule.dialects:
        assert all(f.fix is None for f in found), "a PostgreSQL fix on a MySQL history"


# rules/mysql.yaml: their own examples are MySQL.
MYSQL_OWN_RULES = (
    "mysql-non-transactional-ddl",
    "mysql-utf8mb3",
    "mysql-timestamp-2038",
    "mysql-enum-change-copies-table",
    "mysql-column-type-change-copies-table",
    "mysql-zero-date-default",
)


# -- what the MySQL rules say the server does, on the server -----------------------------------
COPY_CASES = [
    ("enum('a','b')", "enum('a','b','c')"),
    ("enum('a','b')", "enum('b','a')"),
    ("enum('a','b')", "enum('a')"),
    ("set('x','y')", "set('x','y','z')"),
    ("varchar(20)", "varchar(30)"),
    ("varchar(60)", "varchar(300)"),
    ("varchar(60)", "varchar(10)"),
    ("int", "bigint"),
    ("int(11)", "int"),
    ("boolean", "tinyint(1)"),
    ("decimal(10,2)", "decimal(12,2)"),
    ("blob", "mediumblob"),
    ("char(10)", "varchar(10)"),
    ("varchar(255)", "text"),
]


@pytest.mark.parametrize(("old", "new"), COPY_CASES)
def test_copies_table_is_what_innodb_does(mariadb: Callable[[], Any], old: str, new: str) -> None:
    """The model says a MODIFY copies the table exactly when MariaDB refuses to do it
    without a copy (ALGORITHM=INPLACE)."""
    model, _ = replay_sql(
        [
            ("0001.sql", f"CREATE TABLE t (id int PRIMARY KEY, c {old}) CHARSET=utf8mb4;\n"),
            ("0002.sql", f"ALTER TABLE t MODIFY c {new};\n"),
        ]
    )
    changes = [c for c in model.changes if c.kind == "alter_column_type"]
    claimed = bool(changes) and changes[0].copies_table
    connection = mariadb()
    try:
        apply(connection, [f"CREATE TABLE t (id int PRIMARY KEY, c {old}) CHARSET=utf8mb4"])
        try:
            apply(connection, [f"ALTER TABLE t MODIFY c {new}, ALGORITHM=INPLACE"])
            copied = False
        except Exception as error:  # ER_ALTER_OPERATION_NOT_SUPPORTED_REASON
            assert "ALGORITHM=COPY" in str(error), error
            copied = True
    finally:
        connection.close()
    assert claimed == copied


def test_mysql_rule_claims_hold_on_the_server(mariadb: Callable[[], Any]) -> None:
    connection = mariadb()
    try:
        with connection.cursor() as cursor:
            # Each DDL statement commits: the first stays when the second fails.
            cursor.execute("CREATE TABLE a (id int PRIMARY KEY)")
            with pytest.raises(Exception, match="doesn't exist"):
                cursor.execute("START TRANSACTION")
                cursor.execute("CREATE TABLE b (id int PRIMARY KEY)")
                cursor.execute("ALTER TABLE missing ADD COLUMN x int")
            cursor.execute("ROLLBACK")
            cursor.execute("SHOW TABLES LIKE 'b'")
            assert cursor.fetchall() == (("b",),)
            # utf8 is utf8mb3: a 4-byte character is refused in strict mode.
            cursor.execute("CREATE TABLE u (s varchar(10)) CHARSET=utf8")
            cursor.execute(
                "SELECT character_set_name FROM information_schema.columns "
                "WHERE table_schema = DATABASE() AND table_name = 'u'"
            )
            assert cursor.fetchone() == ("utf8mb3",)
            with pytest.raises(Exception, match="Incorrect string value"):
                cursor.execute("INSERT INTO u VALUES ('\U0001f600')")
            # TIMESTAMP ends in 2038 (MariaDB before 11.5, MySQL); DATETIME does not.
            cursor.execute("SET time_zone = '+00:00'")
            cursor.execute("CREATE TABLE ts (t timestamp NULL, d datetime NULL)")
            cursor.execute("INSERT INTO ts VALUES ('2038-01-19 03:14:07', '2099-01-01')")
            with pytest.raises(Exception, match=r"Incorrect datetime value|Out of range"):
                cursor.execute("INSERT INTO ts (t) VALUES ('2038-01-19 03:14:08')")
            # A zero date default: MariaDB's default mode takes it, MySQL 8's refuses it.
            cursor.execute("CREATE TABLE z1 (d datetime NOT NULL DEFAULT '0000-00-00 00:00:00')")
            cursor.execute(
                "SET SESSION sql_mode = 'ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,"
                "NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'"
            )
            with pytest.raises(Exception, match="Invalid default value"):
                cursor.execute(
                    "CREATE TABLE z2 (d datetime NOT NULL DEFAULT '0000-00-00 00:00:00')"
                )
    finally:
        connection.close()


# -- the corpus's MySQL histories ---------------------------------------------------------------
def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text))


def _flyway(folder: Path) -> list[Path]:
    found = [(_numbers(p.name.split("__")[0]), p) for p in folder.glob("V*__*.sql")]
    return [p for _, p in sorted(found)]


def _authelia(folder: Path) -> list[Path]:
    return sorted(folder.glob("V*.up.sql"), key=lambda p: _numbers(p.name)[0])


def _prisma(folder: Path) -> list[Path]:
    return [
        d / "migration.sql" for d in sorted(folder.iterdir()) if (d / "migration.sql").is_file()
    ]


def _temporal(folder: Path) -> list[Path]:
    versions = sorted((folder / "versioned").iterdir(), key=lambda d: _numbers(d.name))
    return [f for d in versions for f in sorted(d.glob("*.sql"))]


def _pop_mysql(folder: Path) -> list[Path]:
    """pop's order for MySQL (the oracle's, tests/oracle/engine_histories.py), empty files
    skipped."""
    return [p for p in pop("mysql")(folder) if p.read_text(encoding="utf-8").strip()]


# history -> (folder, the runner's order, tables whose model may differ from MariaDB's and why)
CORPUS_HISTORIES: dict[str, tuple[str, Callable[[Path], list[Path]], dict[str, str]]] = {
    "authelia": ("authelia/mysql", _authelia, {}),
    "conductor": ("conductor/mysql-persistence/migration", _flyway, {}),
    "conductor-scheduler": (
        "conductor/scheduler-mysql/migration_scheduler_mysql",
        _flyway,
        {},
    ),
    "kratos": (
        "kratos",
        _pop_mysql,
        {
            "identity_pending_traits_changes": "MariaDB refuses its generated column "
            "(CASE in GENERATED ALWAYS AS, error 1901), which MySQL 8 accepts"
        },
    ),
    "temporal": ("temporal/mysql/v8/temporal", _temporal, {}),
    "temporal-schema": ("temporal/mysql/v8/temporal", lambda f: [f / "schema.sql"], {}),
    "umami": ("umami-mysql", _prisma, {}),
    # temporal's visibility store (functional indexes, ->> in generated columns) is MySQL 8
    # only: MariaDB refuses every table of it, so there is nothing to compare.
}


def _corpus_history(name: str) -> list[Path]:
    from tests.helpers import CORPUS

    folder, order, _ = CORPUS_HISTORIES[name]
    if not (CORPUS / folder).is_dir():
        pytest.skip("../shared/corpus not present")
    return order(CORPUS / folder)


def test_every_mysql_file_of_the_corpus_parses_and_replays() -> None:
    from tests.helpers import CORPUS

    listing = CORPUS / "files.tsv"
    if not listing.exists():
        pytest.skip("../shared/corpus not present")
    rows = [line.split("\t") for line in listing.read_text(encoding="utf-8").splitlines()[1:]]
    mysql = [CORPUS / row[0] / row[1] for row in rows if row[2] == "mysql"]
    problems = []
    for path in mysql:
        _, found = parse_sqlglot(SourceFile(str(path), path.read_text(encoding="utf-8")), "mysql")
        problems += [f"{path}:{p.line}: {p.message}" for p in found]
    assert len(mysql) == 766 and problems == []
    for name in CORPUS_HISTORIES:
        files = _corpus_history(name)
        model, _ = replay_sql([(str(p), p.read_text(encoding="utf-8")) for p in files])
        assert model.internal_errors == []


@pytest.mark.parametrize("name", sorted(CORPUS_HISTORIES))
def test_corpus_history_model_matches_mariadb(mariadb: Callable[[], Any], name: str) -> None:
    files = _corpus_history(name)
    model, texts = replay_sql([(str(p), p.read_text(encoding="utf-8")) for p in files])
    known = CORPUS_HISTORIES[name][2]
    connection = mariadb()
    refused = 0
    try:
        with connection.cursor() as cursor:
            for text in texts:
                try:
                    cursor.execute(text)
                    while cursor.nextset():
                        pass
                except Exception:
                    refused += 1  # what MariaDB refuses is in `known` (or changes nothing)
        found = differences(engine_catalog(connection), model_catalog(model))
    finally:
        connection.close()
    unexplained = [d for d in found if d.split()[1 if d.startswith("table ") else 0] not in known]
    assert unexplained == []
    # The exclusions are still needed: each known table does differ.
    assert {d.split()[1 if d.startswith("table ") else 0].rstrip(":") for d in found} == set(known)


def test_an_index_made_and_dropped_by_steps_of_one_migration_is_scratch(
    mariadb: Callable[[], Any], lint_sql: Any
) -> None:
    """kratos' MySQL steps of one pop migration (one timestamp) make an index and drop it
    again a few steps later: scratch within one change, as within one file. An index a later
    migration drops is reported."""
    files = [
        ("20200101000000000000_t.mysql.up.sql", "CREATE TABLE t (id int PRIMARY KEY, nid int);"),
        ("20210410175418000000_network.mysql.up.sql", "CREATE INDEX t_nid_idx ON t (nid);"),
        ("20210410175418000001_network.mysql.up.sql", "DROP INDEX t_nid_idx ON t;"),
        ("20210410175418000002_network.mysql.up.sql", "CREATE INDEX t_nid_id_idx ON t (nid, id);"),
    ]
    check_against_server(mariadb, "\n".join(text for _, text in files))
    run = lint_sql(files, dialect="mysql")
    assert not [f for f in run.result.findings if f.rule == "object-created-then-dropped"]
    later = ("20230101000000000000_cleanup.mysql.up.sql", "DROP INDEX t_nid_id_idx ON t;")
    run = lint_sql([*files, later], dialect="mysql")
    dropped = [f.object for f in run.result.findings if f.rule == "object-created-then-dropped"]
    assert dropped == ["main.t_nid_id_idx"]


def test_added_columns_take_their_place_first_or_after(mariadb: Callable[[], Any]) -> None:
    sql = (
        "CREATE TABLE q (id int PRIMARY KEY, name varchar(20), message_id varchar(20));\n"
        "ALTER TABLE q ADD priority tinyint DEFAULT 0 AFTER `message_id`;\n"
        "ALTER TABLE q ADD COLUMN z int FIRST, ADD y int AFTER id, ADD last int;\n"
    )
    model, texts = replay_sql([("0001.sql", sql)])
    connection = mariadb()
    try:
        apply(connection, texts)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA ="
                " DATABASE() AND TABLE_NAME = 'q' ORDER BY ORDINAL_POSITION"
            )
            engine = [row[0] for row in cursor.fetchall()]
    finally:
        connection.close()
    assert engine == ["z", "id", "y", "name", "message_id", "priority", "last"]
    assert list(model.tables[("main", "q")].columns) == engine


def test_table_options_and_character_sets_are_modelled() -> None:
    """What the MariaDB case above compares is there to compare (None would skip it), and
    each change is in its object's history."""
    model, _ = replay_sql([("0001.sql", CASES["engines-charsets-and-collations"])])
    tables = {t.name: t for t in model.live_tables()}
    t, u, w = tables["t"], tables["u"], tables["w"]
    assert (t.engine, t.charset, t.collation) == ("InnoDB", "utf8mb3", "utf8mb3_general_ci")
    assert (u.engine, u.charset, u.collation) == ("InnoDB", "utf8mb4", "utf8mb4_bin")
    assert (w.engine, w.charset, w.collation) == ("Aria", "latin1", None)
    assert (tables["v"].charset, tables["v"].collation) == ("utf8mb4", "utf8mb4_bin")
    assert tables["t2"].engine == "InnoDB" and tables["t2"].charset == "latin1"

    def charset(table: Any, name: str) -> tuple[str | None, str | None]:
        column = table.columns[name]
        return column.charset, column.collation

    assert charset(t, "a") == ("utf8mb3", "utf8mb3_general_ci")  # CONVERT TO
    assert charset(t, "d") == (None, None)  # not a character column
    assert charset(t, "y") == ("utf8mb3", "utf8mb3_general_ci")  # ADD COLUMN (...)
    assert charset(t, "q") == ("latin1", "latin1_bin")
    assert charset(u, "s") == ("latin1", None)  # the table's default when it was made
    assert charset(u, "n") == ("utf8mb4", "utf8mb4_bin")  # MODIFY: the default of now
    assert charset(w, "s2") == ("latin1", None)
    assert charset(tables["v"], "s") == ("utf8mb4", None)  # CHARACTER SET alone
    assert ("altered", "ENGINE=InnoDB") in [(e.action, e.detail) for e in u.history]
    assert ("altered", "CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci") in [
        (e.action, e.detail) for e in t.columns["a"].history
    ]
    assert [c.name for c in t.columns.values()][-4:] == ["x", "y", "z", "q"]
    # CONVERT TO widens a TEXT to hold as many characters (never narrows it).
    assert [str(c.type) for c in tables["wide"].columns.values()] == [
        "text",
        "mediumtext",
        "longtext",
        "longtext",
        "varchar(10)",
        "text",
        "text",
    ]
    assert [str(c.type) for c in tables["narrow"].columns.values()] == ["tinytext", "text"]
