"""Migration files applied to PostgreSQL as their runner sends them, with the platform's
stand-ins before the first one."""

from __future__ import annotations

from pathlib import Path

import pytest

from schema_review.config import Settings
from schema_review.parse import SourceFile, parse_postgres
from schema_review.pipeline import ReplayedHistory, replay_histories
from schema_review.verify.apply import (
    AUTOCOMMIT,
    IMPLICIT,
    TRANSACTION,
    FileOutcome,
    apply_history,
    pieces,
)
from schema_review.verify.build import build_on_server
from schema_review.verify.server import Database, Server
from tests.helpers import write_migrations


def _history(folder: Path, files: list[tuple[str, str]], **settings: str) -> ReplayedHistory:
    write_migrations(folder, files)
    (history,) = replay_histories([folder], Settings(**settings))  # type: ignore[arg-type]
    return history


def _apply(database: Database, history: ReplayedHistory) -> list[FileOutcome]:
    with database.connect() as connection:
        return apply_history(connection, history)


def _tables(database: Database) -> list[str]:
    with database.connect() as connection:
        rows = connection.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r'"
            " AND relnamespace = 'public'::regnamespace ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows]


def test_pieces_are_the_statements_and_the_text_that_did_not_parse() -> None:
    text = "-- a comment\nCREATE TABLE a (id int);\n\nCREATE TABLE b (id int;\nSELECT 1;\n"
    source = SourceFile("f.sql", text)
    statements, problems = parse_postgres(source)
    assert problems
    spans = [text[piece.start : piece.end] for piece in pieces(source, statements)]
    assert spans[0] == "CREATE TABLE a (id int)"
    assert "CREATE TABLE b (id int" in "".join(spans[1:])
    assert spans[-1].endswith("SELECT 1")


def test_a_multi_statement_query_fails_whole(tmp_path: Path, pg_database: Database) -> None:
    """prisma: the file is one query, one implicit transaction; the error's position names
    the statement, the next file still runs."""
    history = _history(
        tmp_path / "m",
        [
            ("0001_a.sql", "CREATE TABLE a (id int);\nCREATE TABLE b (id nosuch);\n"),
            ("0002_c.sql", "CREATE TABLE c (id int);\n"),
        ],
        runner="prisma",
    )
    first, second = _apply(pg_database, history)
    assert first.mode == IMPLICIT
    assert first.failure is not None
    assert (first.failure.line, first.failure.column) == (2, 20)
    assert first.failure.sqlstate == "42704"
    assert first.failure.message == 'type "nosuch" does not exist'
    assert first.failure.statement == "CREATE TABLE b (id nosuch)"
    assert second.ok
    assert _tables(pg_database) == ["c"]


def test_an_error_without_position_is_traced_to_its_statement(
    tmp_path: Path, pg_database: Database
) -> None:
    history = _history(
        tmp_path / "m",
        [("0001_a.sql", "CREATE TABLE a (id int);\n\nCREATE INDEX CONCURRENTLY a_i ON a (id);\n")],
        runner="prisma",
    )
    (outcome,) = _apply(pg_database, history)
    assert outcome.failure is not None
    assert outcome.failure.sqlstate == "25001"  # cannot run inside a transaction block
    assert (outcome.failure.line, outcome.failure.column) == (3, 1)
    assert _tables(pg_database) == []


def test_a_file_in_a_transaction_is_rolled_back(tmp_path: Path, pg_database: Database) -> None:
    history = _history(
        tmp_path / "m",
        [
            ("0001_a.sql", "-- +goose Up\nCREATE TABLE a (id int);\nSELECT nosuch(1);\n"),
            (
                "0002_b.sql",
                "-- +goose Up\n-- +goose NO TRANSACTION\nCREATE TABLE b (id int);\n"
                "CREATE INDEX CONCURRENTLY b_i ON b (id);\n",
            ),
        ],
    )
    assert history.profile.runner == "goose"
    first, second = _apply(pg_database, history)
    assert first.mode == TRANSACTION
    assert first.failure is not None
    assert (first.failure.line, first.failure.column, first.failure.sqlstate) == (3, 8, "42883")
    assert first.failure.hint is not None and "No function matches" in first.failure.hint
    assert "hint: No function matches" in str(first.failure)
    assert second.mode == AUTOCOMMIT
    assert second.ok, second.failure
    assert _tables(pg_database) == ["b"]


def test_statements_before_a_failure_stay_outside_a_transaction(
    tmp_path: Path, pg_database: Database
) -> None:
    """psql (runner none): statement by statement; the file stops at its first error."""
    text = "CREATE TABLE a (id int);\nCREATE TABLE a (id int);\nCREATE TABLE c (id int);\n"
    history = _history(tmp_path / "m", [("0001_a.sql", text)])
    (outcome,) = _apply(pg_database, history)
    assert outcome.mode == AUTOCOMMIT
    assert outcome.failure is not None
    assert (outcome.failure.line, outcome.failure.sqlstate) == (2, "42P07")
    assert _tables(pg_database) == ["a"]


@pytest.mark.parametrize(
    "runner, left", [("none", ["a"]), ("prisma", [])], ids=["psql", "one query"]
)
def test_a_transaction_left_open_is_rolled_back_and_reported(
    tmp_path: Path, pg_database: Database, runner: str, left: list[str]
) -> None:
    """The session ends with the file: what the open transaction did is gone (in one
    multi-statement query, BEGIN takes the statements before it into its block)."""
    history = _history(
        tmp_path / "m",
        [("0001_a.sql", "CREATE TABLE a (id int);\nBEGIN;\nCREATE TABLE b (id int);\n")],
        runner=runner,
    )
    (outcome,) = _apply(pg_database, history)
    assert outcome.failure is not None
    assert "never commits" in outcome.failure.message
    assert (outcome.failure.line, outcome.failure.column) == (3, 24)
    assert _tables(pg_database) == left


def test_text_that_does_not_parse_fails_where_it_is(tmp_path: Path, pg_database: Database) -> None:
    history = _history(
        tmp_path / "m", [("0001_a.sql", "CREATE TABLE a (id int);\nCREATE TABLE b (id int;\n")]
    )
    (outcome,) = _apply(pg_database, history)
    assert outcome.failure is not None
    assert (outcome.failure.line, outcome.failure.column) == (2, 23)
    assert outcome.failure.sqlstate == "42601"


def test_each_file_starts_a_new_session(tmp_path: Path, pg_database: Database) -> None:
    history = _history(
        tmp_path / "m",
        [
            (
                "0001_a.sql",
                "CREATE SCHEMA app;\nSET search_path = app;\nCREATE TABLE a (id int);\n",
            ),
            ("0002_b.sql", "CREATE TABLE b (id int);\n"),
        ],
    )
    assert all(o.ok for o in _apply(pg_database, history))
    assert _tables(pg_database) == ["b"]


SUPABASE_MIGRATION = """
create table public.profiles (
  id uuid primary key references auth.users on delete cascade,
  code text not null default encode(gen_random_bytes(12), 'hex'),
  token uuid default uuid_generate_v4()
);
alter table public.profiles enable row level security;
create policy "own" on public.profiles for select to authenticated using (id = auth.uid());
create policy "jwt" on public.profiles for select to anon
  using (auth.jwt() ->> 'role' = auth.role());
create function public.on_signup() returns trigger language plpgsql security definer
  set search_path = '' as $$
  begin insert into public.profiles (id) values (new.id); return new; end $$;
create trigger on_signup after insert on auth.users
  for each row execute function public.on_signup();
"""


def test_supabase_stand_ins(tmp_path: Path, pg_server: Server) -> None:
    """auth.users, auth.uid()/role()/jwt(), the API roles, and pgcrypto and uuid-ossp in the
    extensions schema that the search_path includes; all left out of the dump but the
    trigger the migration added to auth.users."""
    folder = tmp_path / "supabase" / "migrations"
    history = _history(folder, [("20240101000000_profiles.sql", SUPABASE_MIGRATION)])
    assert history.profile.supabase
    build = build_on_server(pg_server, history)
    assert build.failures == []
    catalog = build.catalog
    assert [(t["schema"], t["name"], t["external"]) for t in catalog["tables"]] == [
        ("auth", "users", True),
        ("public", "profiles", False),
    ]
    assert [t["name"] for t in catalog["tables"][0]["triggers"]] == ["on_signup"]
    assert catalog["schemas"] == [] and catalog["extensions"] == []
    assert [f["name"] for f in catalog["functions"]] == ["on_signup"]


def test_diesel_bookkeeping_table(tmp_path: Path, pg_server: Server) -> None:
    history = _history(
        tmp_path / "m",
        [("2024-01-01-000000_a/up.sql", "INSERT INTO __diesel_schema_migrations VALUES ('x');\n")],
    )
    assert history.profile.runner == "diesel"
    build = build_on_server(pg_server, history)
    assert build.failures == []
    assert build.catalog["tables"] == []  # the runner's, not the migrations'


@pytest.mark.parametrize(
    "sql",
    [
        'CREATE EXTENSION "uuid-ossp";'
        " SELECT uuid_generate_v4(), uuid_generate_v5(uuid_ns_url(), 'x')",
        "CREATE EXTENSION pgcrypto; SELECT crypt('pw', gen_salt('bf')), digest('x', 'sha256'),"
        " gen_random_bytes(20)",
    ],
    ids=["uuid-ossp", "pgcrypto"],
)
def test_stand_in_extensions(tmp_path: Path, pg_server: Server, sql: str) -> None:
    history = _history(tmp_path / "m", [("0001_a.sql", sql + ";\n")])
    build = build_on_server(pg_server, history)
    assert build.failures == []
    assert [e["name"] for e in build.catalog["extensions"]] == [sql.split()[2].strip('";')]
    assert build.catalog["functions"] == []  # extension members


def test_copy_from_stdin_reads_its_data_from_the_file_as_psql_does(
    tmp_path: Path, pg_database: Database
) -> None:
    text = (
        "CREATE TABLE a (id int, name text);\n"
        "COPY a (id, name) FROM stdin;\n1\tone\n2\ttwo\n\\.\n"
        "COPY a TO STDOUT;\n"
        "CREATE TABLE b (id int);\n"
    )
    history = _history(tmp_path / "m", [("0001_a.sql", text)])
    (outcome,) = _apply(pg_database, history)
    assert outcome.ok, outcome.failure
    assert outcome.statements == 4
    assert _tables(pg_database) == ["a", "b"]
    with pg_database.connect() as connection:
        assert connection.execute("SELECT count(*) FROM a").fetchone() == (2,)
