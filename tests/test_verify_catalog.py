"""The catalog dump (docs/schema-json.md) read from a real PostgreSQL, against hand-written
documents."""

from __future__ import annotations

from typing import Any

from schema_review.verify.catalog import dump_catalog
from schema_review.verify.server import Database


def _column(name: str, type_name: str, **fields: Any) -> dict[str, Any]:
    column = {
        "name": name,
        "type": type_name,
        "not_null": False,
        "default": None,
        "identity": None,
        "generated": None,
    }
    column.update(fields)
    return column


def _table(name: str, columns: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "schema": "public",
        "name": name,
        "external": False,
        "partitioned": False,
        "partition_of": None,
        "inherits": [],
        "unlogged": False,
        "columns_known": True,
        "columns": columns,
        "primary_key": None,
        "unique": [],
        "foreign_keys": [],
        "checks": [],
        "exclusions": [],
        "indexes": [],
        "triggers": [],
        "row_level_security": {"enabled": False, "forced": False},
        "policies": [],
    }
    table.update(fields)
    return table


def _index(name: str, *columns: str, **fields: Any) -> dict[str, Any]:
    index = {
        "name": name,
        "keys": [{"column": c} for c in columns],
        "include": [],
        "predicate": None,
        "method": "btree",
        "unique": False,
        "constraint": None,
    }
    index.update(fields)
    return index


def _function(schema: str, name: str, arguments: list[str], **fields: Any) -> dict[str, Any]:
    function = {
        "schema": schema,
        "name": name,
        "kind": "function",
        "arguments": arguments,
        "returns": "trigger",
        "returns_set": False,
        "language": "plpgsql",
        "security_definer": False,
        "volatility": "volatile",
        "search_path": None,
    }
    function.update(fields)
    return function


SCHEMA = """
CREATE SCHEMA app;
CREATE EXTENSION citext;
CREATE EXTENSION btree_gist;
CREATE TYPE status AS ENUM ('active', 'closed');
CREATE TYPE app.mood AS ENUM ('sad', 'ok');
CREATE TYPE app.pair AS (a integer, b text);
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE TYPE floatrange AS RANGE (subtype = float8);
CREATE TABLE accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email citext UNIQUE
);
CREATE TABLE orders (
    id serial PRIMARY KEY,
    ref text,
    account_id bigint REFERENCES accounts ON DELETE CASCADE,
    status status NOT NULL DEFAULT 'active',
    total numeric(10,2) CHECK (total >= 0),
    doubled numeric GENERATED ALWAYS AS (total * 2) STORED,
    deleted_at timestamptz,
    CONSTRAINT orders_ref_key UNIQUE (ref) DEFERRABLE
);
ALTER TABLE orders ADD CONSTRAINT orders_account_fk FOREIGN KEY (account_id)
    REFERENCES accounts (id) ON UPDATE SET NULL NOT VALID;
CREATE INDEX orders_lower_idx ON orders (lower(ref), status) INCLUDE (total)
    WHERE deleted_at IS NULL;
CREATE TABLE rooms (room int, during tstzrange, EXCLUDE USING gist (room WITH =, during WITH &&));
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql SET search_path = ''
    AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER orders_touch BEFORE INSERT OR UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION touch();
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders FORCE ROW LEVEL SECURITY;
CREATE ROLE schema_review_reader;
CREATE ROLE schema_review_auditor;
CREATE POLICY own ON orders FOR SELECT TO schema_review_reader, schema_review_auditor
    USING (account_id IN (1, 2)) ;
CREATE POLICY add ON orders AS RESTRICTIVE FOR INSERT WITH CHECK (total > 0);
CREATE VIEW open_orders WITH (security_invoker = on) AS SELECT * FROM orders;
CREATE MATERIALIZED VIEW totals AS SELECT sum(total) AS total FROM orders;
CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE vip () INHERITS (accounts);
CREATE UNLOGGED TABLE scratch (x int);
CREATE PROCEDURE app.archive(days integer, reason text) LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION app.ids(VARIADIC names text[]) RETURNS SETOF integer LANGUAGE sql STABLE
    SECURITY DEFINER SET search_path = app, pg_temp AS 'SELECT 1';
CREATE SEQUENCE free_seq;
CREATE TEMPORARY TABLE session_only (x int);
"""

EXPECTED: dict[str, Any] = {
    "format": "schema-review.schema",
    "version": 1,
    "history": "db/migrations",
    "schemas": [{"name": "app"}],
    "extensions": [
        {"name": "btree_gist", "schema": "public"},
        {"name": "citext", "schema": "public"},
    ],
    "types": [
        {"schema": "app", "name": "mood", "kind": "enum", "values": ["sad", "ok"]},
        {"schema": "app", "name": "pair", "kind": "composite", "values": []},
        {"schema": "public", "name": "floatrange", "kind": "range", "values": []},
        {"schema": "public", "name": "positive", "kind": "domain", "values": []},
        {"schema": "public", "name": "status", "kind": "enum", "values": ["active", "closed"]},
    ],
    # The identity column's sequence is part of its column: not listed.
    "sequences": [
        {"schema": "public", "name": "free_seq", "owned_by": None},
        {"schema": "public", "name": "orders_id_seq", "owned_by": "public.orders.id"},
    ],
    "tables": [
        _table(
            "accounts",
            [
                _column("id", "bigint", not_null=True, identity="always"),
                _column("email", "citext"),
            ],
            primary_key={"name": "accounts_pkey", "columns": ["id"], "deferrable": False},
            unique=[{"name": "accounts_email_key", "columns": ["email"], "deferrable": False}],
            indexes=[
                _index(
                    "accounts_email_key",
                    "email",
                    unique=True,
                    constraint="accounts_email_key",
                ),
                _index("accounts_pkey", "id", unique=True, constraint="accounts_pkey"),
            ],
        ),
        _table("events", [_column("id", "integer"), _column("at", "date")], partitioned=True),
        _table(
            "events_2024",
            [_column("id", "integer"), _column("at", "date")],
            partition_of="public.events",
        ),
        _table(
            "orders",
            [
                _column(
                    "id",
                    "integer",
                    not_null=True,
                    default="nextval('orders_id_seq'::regclass)",
                ),
                _column("ref", "text"),
                _column("account_id", "bigint"),
                _column("status", "status", not_null=True, default="'active'::status"),
                _column("total", "numeric(10,2)"),
                _column("doubled", "numeric", generated="(total * (2)::numeric)"),
                _column("deleted_at", "timestamp with time zone"),
            ],
            primary_key={"name": "orders_pkey", "columns": ["id"], "deferrable": False},
            unique=[{"name": "orders_ref_key", "columns": ["ref"], "deferrable": True}],
            foreign_keys=[
                {
                    "name": "orders_account_fk",
                    "columns": ["account_id"],
                    "references": {"table": "public.accounts", "columns": ["id"]},
                    "on_delete": "NO ACTION",
                    "on_update": "SET NULL",
                    "valid": False,
                    "deferrable": False,
                },
                {
                    "name": "orders_account_id_fkey",
                    "columns": ["account_id"],
                    "references": {"table": "public.accounts", "columns": ["id"]},
                    "on_delete": "CASCADE",
                    "on_update": "NO ACTION",
                    "valid": True,
                    "deferrable": False,
                },
            ],
            checks=[
                {
                    "name": "orders_total_check",
                    "expression": "(total >= (0)::numeric)",
                    "valid": True,
                }
            ],
            indexes=[
                _index(
                    "orders_lower_idx",
                    include=["total"],
                    keys=[{"expression": "lower(ref)"}, {"column": "status"}],
                    predicate="deleted_at IS NULL",
                ),
                _index("orders_pkey", "id", unique=True, constraint="orders_pkey"),
                _index("orders_ref_key", "ref", unique=True, constraint="orders_ref_key"),
            ],
            # Internal triggers (the foreign keys') are not listed.
            triggers=[
                {
                    "name": "orders_touch",
                    "timing": "before",
                    "events": ["insert", "update"],
                    "level": "row",
                    "function": "public.touch",
                }
            ],
            row_level_security={"enabled": True, "forced": True},
            policies=[
                {
                    "name": "add",
                    "command": "insert",
                    "roles": ["public"],
                    "permissive": False,
                    "using": None,
                    "with_check": "(total > (0)::numeric)",
                },
                {
                    "name": "own",
                    "command": "select",
                    "roles": ["schema_review_auditor", "schema_review_reader"],
                    "permissive": True,
                    "using": "(account_id = ANY (ARRAY[(1)::bigint, (2)::bigint]))",
                    "with_check": None,
                },
            ],
        ),
        _table(
            "rooms",
            [_column("room", "integer"), _column("during", "tstzrange")],
            exclusions=[
                {
                    "name": "rooms_room_during_excl",
                    "method": "gist",
                    "elements": ["room WITH =", "during WITH &&"],
                    "predicate": None,
                }
            ],
            indexes=[
                _index(
                    "rooms_room_during_excl",
                    "room",
                    "during",
                    method="gist",
                    constraint="rooms_room_during_excl",
                )
            ],
        ),
        _table("scratch", [_column("x", "integer")], unlogged=True),
        _table(
            "vip",
            # Columns inherited, constraints and identity not.
            [_column("id", "bigint", not_null=True), _column("email", "citext")],
            inherits=["public.accounts"],
        ),
    ],
    "views": [
        {
            "schema": "public",
            "name": "open_orders",
            "materialized": False,
            "security_invoker": True,
        },
        {"schema": "public", "name": "totals", "materialized": True, "security_invoker": False},
    ],
    # No extension functions, no range constructors (floatrange(), floatmultirange()).
    "functions": [
        _function(
            "app",
            "archive",
            ["integer", "text"],
            kind="procedure",
            returns=None,
            language="sql",
        ),
        _function(
            "app",
            "ids",
            ["text[]"],
            returns="integer",
            returns_set=True,
            language="sql",
            security_definer=True,
            volatility="stable",
            search_path="app, pg_temp",
        ),
        _function("public", "touch", [], search_path='""'),
    ],
}


def test_the_dump_is_the_documented_structure(pg_database: Database) -> None:
    with pg_database.connect() as connection:
        connection.execute(SCHEMA)
        dumped = dump_catalog(connection, history="db/migrations")
    for key, expected in EXPECTED.items():
        assert dumped[key] == expected, key
    assert list(dumped) == list(EXPECTED)


def test_the_dump_reads_with_the_default_search_path(pg_database: Database) -> None:
    with pg_database.connect() as connection:
        connection.execute("CREATE SCHEMA app; CREATE TYPE app.mood AS ENUM ('ok')")
        connection.execute("CREATE TABLE app.t (m app.mood)")
        connection.execute("SET search_path = app")
        (table,) = dump_catalog(connection)["tables"]
        # Qualified as with "$user", public, whatever the session's path ...
        assert table["columns"][0]["type"] == "app.mood"
        # ... which the dump leaves as it found it.
        assert connection.execute("SHOW search_path").fetchone() == ("app",)


PLATFORM = """
CREATE SCHEMA auth;
CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS 'SELECT NULL::uuid';
CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS 'SELECT NULL::text';
CREATE ROLE schema_review_anon;
"""

MIGRATIONS = """
CREATE TABLE profiles (id uuid PRIMARY KEY REFERENCES auth.users);
CREATE FUNCTION on_signup() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER on_signup AFTER INSERT ON auth.users FOR EACH ROW EXECUTE FUNCTION on_signup();
ALTER TABLE auth.users ADD COLUMN nickname text;
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE
    AS 'SELECT gen_random_uuid()';
GRANT EXECUTE ON FUNCTION auth.role() TO schema_review_anon;
ALTER FUNCTION auth.role() OWNER TO schema_review_anon;
"""


def test_what_the_baseline_held_is_left_out_but_what_migrations_added(
    pg_database: Database,
) -> None:
    with pg_database.connect() as connection:
        connection.execute(PLATFORM)
        baseline = dump_catalog(connection, private=True)
        connection.execute(MIGRATIONS)
        dumped = dump_catalog(connection, baseline)
    assert dumped["schemas"] == []
    users, profiles = dumped["tables"]
    assert (users["schema"], users["name"], users["external"]) == ("auth", "users", True)
    assert [c["name"] for c in users["columns"]] == ["nickname"]
    assert [t["name"] for t in users["triggers"]] == ["on_signup"]
    assert users["primary_key"] is None
    assert users["indexes"] == []
    assert profiles["name"] == "profiles"
    assert not profiles["external"]
    # Redefined: listed; only granted and given away: not.
    assert [(f["schema"], f["name"]) for f in dumped["functions"]] == [
        ("auth", "uid"),
        ("public", "on_signup"),
    ]
    assert all("_version" not in f for f in dumped["functions"])


def test_an_unchanged_baseline_table_is_left_out(pg_database: Database) -> None:
    with pg_database.connect() as connection:
        connection.execute(PLATFORM)
        baseline = dump_catalog(connection, private=True)
        connection.execute("CREATE TABLE notes (id int)")
        dumped = dump_catalog(connection, baseline)
    assert [t["name"] for t in dumped["tables"]] == ["notes"]
    assert dumped["functions"] == []


def test_foreign_keys_into_a_partitioned_table_are_listed_once(pg_database: Database) -> None:
    with pg_database.connect() as connection:
        connection.execute(
            """
            CREATE TABLE parent (id int PRIMARY KEY) PARTITION BY RANGE (id);
            CREATE TABLE parent_1 PARTITION OF parent FOR VALUES FROM (0) TO (10);
            CREATE TABLE parent_2 PARTITION OF parent FOR VALUES FROM (10) TO (20);
            CREATE TABLE child (parent_id int REFERENCES parent) PARTITION BY LIST (parent_id);
            CREATE TABLE child_a PARTITION OF child FOR VALUES IN (1);
            """
        )
        tables = {t["name"]: t for t in dump_catalog(connection)["tables"]}
    # One per referencing table: the partition of `child` has its parent's, cloned.
    assert [fk["name"] for fk in tables["child"]["foreign_keys"]] == ["child_parent_id_fkey"]
    assert [fk["references"]["table"] for fk in tables["child_a"]["foreign_keys"]] == [
        "public.parent"
    ]
    assert tables["parent_1"]["foreign_keys"] == []
    # The partitions' own indexes, attached to the parent's.
    assert [i["name"] for i in tables["parent_1"]["indexes"]] == ["parent_1_pkey"]
