"""Fixtures shared by the tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from schema_review.config import Settings
from schema_review.pipeline import LintRun, lint
from schema_review.verify.server import Database, Server, connect_to
from schema_review.verify.server import start as start_server
from tests.helpers import LintSql, commit_files, split_example, write_migrations

if TYPE_CHECKING:
    from tests.oracle.mariadb import Server as MariaDBServer

# A terminated session (a CI timeout's SIGTERM) stops like an interrupted one, fixtures torn
# down: the servers below never outlive it.
pytest_plugins = ("tests.termination",)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Compiled rules are cached between runs: the tests keep theirs out of the user's home."""
    before = os.environ.get("SCHEMA_REVIEW_CACHE_DIR")
    os.environ["SCHEMA_REVIEW_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if before is None:
        del os.environ["SCHEMA_REVIEW_CACHE_DIR"]
    else:
        os.environ["SCHEMA_REVIEW_CACHE_DIR"] = before


@pytest.fixture
def lint_sql(tmp_path: Path) -> LintSql:
    """Lint SQL text (or several files) as one migration folder, with every rule on."""
    counter = iter(range(1_000_000))

    def run(
        sql: str | list[tuple[str, str]], base: str | None = None, **settings: object
    ) -> LintRun:
        """With `base`, those files are committed to a new git repository first, replaced by
        `sql`, and the folder is linted with --diff-base HEAD."""
        files = split_example(sql) if isinstance(sql, str) else sql
        folder = tmp_path / f"migrations{next(counter)}"
        options: dict[str, object] = {"select": ("all",)}
        if base is not None:
            commit_files(folder, split_example(base))
            for old in folder.glob("**/*.sql"):
                old.unlink()
            options["diff_base"] = "HEAD"
        write_migrations(folder, files)
        options.update(settings)
        return lint([folder], Settings(**options))  # type: ignore[arg-type]

    return run


# -- a real PostgreSQL: the oracle tests and the verify package's own --------------------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    """One PostgreSQL for the whole session, started when a test first asks for it (a run
    without such tests starts none) and stopped and removed at the end, also when tests
    fail. `SCHEMA_REVIEW_TEST_POSTGRES` picks it: `embedded` (default, the wheel),
    `system` (an installed server) or a connection URL (a server you run; only the
    databases the tests create are dropped)."""
    choice = os.environ.get("SCHEMA_REVIEW_TEST_POSTGRES", "embedded")
    # SIGTERM (a CI timeout) ends the session (tests/termination.py): this clean-up runs.
    server = connect_to(choice) if "://" in choice else start_server(choice)
    try:
        yield server
    finally:
        server.stop()
        # Nothing may outlive the session: no process, no data or runtime directory.
        assert server.leftovers() == []


@pytest.fixture
def pg_database(pg_server: Server) -> Iterator[Database]:
    """A fresh, empty database for one test, dropped afterwards with whatever the test
    created in the cluster (databases, roles)."""
    with pg_server.scratch_database() as database:
        yield database


# -- a real MariaDB: the MySQL oracle (tests/oracle/engines.py) ----------------------------


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDBServer]:
    """One MariaDB for the whole session (Debian's mariadb-server, which .ci/run installs),
    started when a test first asks for it and stopped and removed at the end. Where none is
    installed or it cannot start, the tests that need it skip and say why; SQLite's and
    PostgreSQL's oracles still run."""
    try:
        from tests.oracle import mariadb
    except ImportError as error:  # PyMySQL is a dev extra
        pytest.skip(f"MySQL oracle: no MySQL client library ({error})")
    try:
        server = mariadb.start()
    except mariadb.ServerError as error:
        pytest.skip(f"MySQL oracle: MariaDB cannot start here: {error}")
    try:
        yield server
    finally:
        server.stop()
        assert server.leftovers() == []


@pytest.fixture
def mariadb_database(mariadb_server: MariaDBServer) -> Iterator[str]:
    """A fresh, empty MariaDB database (its name) for one test, dropped afterwards with any
    database the test created."""
    with mariadb_server.scratch_database() as name:
        yield name
