"""Fixtures shared by the tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from schema_review.config import Settings
from schema_review.pipeline import LintRun, lint
from tests.helpers import LintSql, commit_files, split_example, write_migrations


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
