"""The pre-commit hook, installed and run by the real pre-commit tool from this repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

PRE_COMMIT = shutil.which("pre-commit", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(PRE_COMMIT is None, reason="pre-commit is not installed (dev extra)")
def test_hook_lints_the_folder_and_reports_the_staged_files(tmp_path: Path) -> None:
    assert PRE_COMMIT is not None
    app = tmp_path / "app"
    migrations = app / "db" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "0001_users.sql").write_text(
        "CREATE TABLE IF NOT EXISTS users (id bigint PRIMARY KEY, email text);\n"
        # a finding in a file that is not staged: never shown
        "CREATE TABLE IF NOT EXISTS audit (at timestamptz);\n"
    )
    (migrations / "0002_email_index.sql").write_text(
        "CREATE INDEX IF NOT EXISTS users_email_idx ON users (email);\n"
    )
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "NO_COLOR": "1"}
    subprocess.run(["git", "init", "-q"], cwd=app, check=True)
    subprocess.run(["git", "add", "."], cwd=app, check=True)

    def hook(*files: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PRE_COMMIT, "try-repo", str(REPO), "schema-review", "--files", *files],
            cwd=app,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )

    failing = hook("db/migrations/0002_email_index.sql")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    # The replay saw 0001, so it knows users existed before 0002: the index blocks writes.
    assert "0002_email_index.sql:1:1: high [create-index-not-concurrently]" in failing.stdout
    assert "table-missing-primary-key" not in failing.stdout

    (migrations / "0002_email_index.sql").write_text(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);\n"
    )
    passing = hook("db/migrations/0002_email_index.sql")
    assert passing.returncode == 0, passing.stdout + passing.stderr
