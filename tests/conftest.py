"""Fixtures shared by the tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from schema_review.config import Settings
from schema_review.pipeline import LintRun, lint
from tests.helpers import LintSql, split_example, write_migrations


@pytest.fixture
def lint_sql(tmp_path: Path) -> LintSql:
    """Lint SQL text (or several files) as one migration folder, with every rule on."""
    counter = iter(range(1_000_000))

    def run(sql: str | list[tuple[str, str]], **settings: object) -> LintRun:
        files = split_example(sql) if isinstance(sql, str) else sql
        folder = write_migrations(tmp_path / f"migrations{next(counter)}", files)
        options: dict[str, object] = {"select": ("all",)}
        options.update(settings)
        return lint([folder], Settings(**options))  # type: ignore[arg-type]

    return run
