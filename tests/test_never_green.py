"""A CI gate never passes by accident: a path without migrations is an error, and a file
written for another database is one clear finding (issue 14, item 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from schema_review.cli import main
from schema_review.discover import guess_dialect
from tests.helpers import CORPUS, write_migrations

MYSQL = """\
-- the `users` table (a comment: backticks here say nothing)
CREATE TABLE `users` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `email` varchar(255) NOT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX users_email ON users (email);
"""

SQLITE = """\
PRAGMA foreign_keys = ON;
CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL);
CREATE INDEX users_email ON users (email);
"""


@pytest.mark.parametrize(
    "layout",
    [
        [],  # an empty folder
        [("README.md", "# migrations\n"), ("schema.prisma", "model User {}\n")],  # no SQL
        [("0001_users.down.sql", "DROP TABLE users;\n")],  # only down migrations
    ],
    ids=["empty", "no-sql", "only-down"],
)
@pytest.mark.parametrize("command", ["lint", "report", "baseline", "schema", "verify"])
def test_a_folder_without_migrations_is_an_error(
    tmp_path: Path, layout: list[tuple[str, str]], command: str
) -> None:
    folder = write_migrations(tmp_path / "db", layout)
    extra = ["-o", str(tmp_path / "out.json")] if command == "baseline" else []
    result = CliRunner().invoke(main, [command, str(folder), *extra])
    assert result.exit_code == 2, result.output
    assert f"{folder}: no migration files found" in result.output
    assert "--no-error-on-unmatched-pattern" in result.output
    assert "Traceback" not in result.output


def test_the_flag_accepts_a_folder_without_migrations(tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "db", [("notes.txt", "nothing\n")])
    result = CliRunner().invoke(main, ["lint", str(folder), "--no-error-on-unmatched-pattern"])
    assert result.exit_code == 0, result.output
    assert "Found 0 findings in 0 files" in result.output


def test_excluded_files_say_so(tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "db", [("0001_a.sql", "SELECT 1;\n")])
    config = tmp_path / ".schema-review.yaml"
    config.write_text("exclude: ['*.sql']\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["lint", str(folder), "--config", str(config)])
    assert result.exit_code == 2
    assert "its .sql files are excluded (exclude: *.sql)" in result.output


def test_a_folder_named_twice_or_below_another_is_no_error(tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "db" / "migrations", [("0001_a.sql", "SELECT 1;\n")])
    result = CliRunner().invoke(main, ["lint", str(tmp_path / "db"), str(folder), str(folder)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("sql", "dialect", "label"), [(MYSQL, "mysql", "MySQL"), (SQLITE, "sqlite", "SQLite")]
)
def test_another_database_in_a_postgres_history_is_one_finding(
    tmp_path: Path, sql: str, dialect: str, label: str
) -> None:
    postgres = "CREATE TABLE accounts (id bigint PRIMARY KEY, settings jsonb);\n"
    folder = write_migrations(
        tmp_path / "db", [("0000_accounts.sql", postgres), ("0001_users.sql", sql)]
    )
    result = CliRunner().invoke(
        main,
        ["lint", str(folder), "--format", "json", "--no-cache", "--select", "unsupported-dialect"],
    )
    assert result.exit_code == 1, result.output  # high: the gate fails, not passes
    findings = json.loads(result.output)["findings"]
    assert [f["rule"] for f in findings] == ["unsupported-dialect"]
    (finding,) = findings
    assert finding["message"].startswith(f"this file is {label}, not PostgreSQL like the rest")
    assert finding["line"] == (2 if dialect == "mysql" else 1)
    assert guess_dialect(sql).dialect == dialect


@pytest.mark.parametrize(("sql", "dialect"), [(MYSQL, "mysql"), (SQLITE, "sqlite")])
def test_a_history_of_another_database_is_linted_as_that_database(
    tmp_path: Path, sql: str, dialect: str
) -> None:
    """Not green by leaving it out: its statements are read and the run says which
    database it took the history for."""
    folder = write_migrations(tmp_path / "db", [("0001_users.sql", sql)])
    result = CliRunner().invoke(main, ["lint", str(folder), "--format", "json", "--no-cache"])
    summary = json.loads(result.output)["summary"]
    assert summary["statements"] >= 1
    (history,) = summary["settings"]["histories"]
    assert history["dialect"]["value"] == dialect
    assert "unsupported-dialect" not in result.output


def test_postgres_with_backticks_in_comments_and_strings_is_postgres() -> None:
    sql = (
        "-- `users` holds accounts\n"
        "/* `x` */ CREATE TABLE users (id bigint PRIMARY KEY, note text DEFAULT 'a `b`');\n"
        'CREATE TABLE "odd`name" (id int);\n'
        "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT '`' $$;\n"
    )
    assert guess_dialect(sql).dialect == "postgres"


def test_a_postgres_file_with_a_mistake_keeps_its_parse_errors() -> None:
    # PostgreSQL's own syntax beside the backtick: a PostgreSQL file with a typo.
    sql = "CREATE TABLE `users` (id bigint, at timestamptz, data jsonb);\n"
    assert guess_dialect(sql).dialect == "postgres"


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the corpus is not here")
def test_no_postgres_file_of_the_corpus_is_taken_for_another_database() -> None:
    postgres = [
        f
        for f in sorted(CORPUS.rglob("*.sql"))
        if f.is_file() and not any(word in f.as_posix().lower() for word in ("mysql", "sqlite"))
    ]
    assert len(postgres) > 1000
    wrong = [f for f in postgres if guess_dialect(f.read_text(errors="replace")).foreign]
    assert wrong == []
    mysql = sorted((CORPUS / "umami-mysql").rglob("*.sql"))
    assert mysql and all(guess_dialect(f.read_text()).dialect == "mysql" for f in mysql)
