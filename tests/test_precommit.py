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


def _git(repo: Path, *args: str) -> None:
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run(["git", *identity, *args], cwd=repo, check=True, capture_output=True)


def _hook(repo: Path, *files: str) -> subprocess.CompletedProcess[str]:
    """The hook's entry (`schema-review hook`) as pre-commit runs it: in the repository's
    root, with the staged files."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "schema-review"), "hook", *files],
        cwd=repo,
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_hook_catches_an_edit_of_a_committed_migration(tmp_path: Path) -> None:
    """A committed migration was applied somewhere: editing it is caught before the commit,
    against HEAD, as `lint --diff-base` would catch it in the pull request."""
    repo = tmp_path / "app"
    migrations = repo / "db" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "0001_users.sql").write_text(
        "CREATE TABLE IF NOT EXISTS users (id bigint PRIMARY KEY, email text);\n"
    )
    (migrations / "0003_orders.sql").write_text(
        "CREATE TABLE IF NOT EXISTS orders (id bigint PRIMARY KEY, at timestamp);\n"
    )
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first migrations")

    (migrations / "0001_users.sql").write_text(
        "CREATE TABLE IF NOT EXISTS users (id bigint PRIMARY KEY, email text NOT NULL);\n"
    )
    edited = _hook(repo, "db/migrations/0001_users.sql")
    assert edited.returncode == 1, edited.stdout + edited.stderr
    assert "0001_users.sql:1:1: critical [modified-applied-migration]" in edited.stdout

    # A new migration numbered before a committed one would never run where 0003 did.
    _git(repo, "checkout", "--", "db/migrations/0001_users.sql")
    (migrations / "0002_late.sql").write_text(
        "CREATE TABLE IF NOT EXISTS late (id bigint PRIMARY KEY);\n"
    )
    late = _hook(repo, "db/migrations/0002_late.sql")
    assert "[migration-out-of-order]" in late.stdout, late.stdout + late.stderr

    # Findings already committed are still reported in a staged file (the base only adds the
    # history rules), and a repository without commits has no base.
    (migrations / "0003_orders.sql").write_text(
        "CREATE TABLE IF NOT EXISTS orders (id bigint PRIMARY KEY, at timestamp, note text);\n"
    )
    kept = _hook(repo, "db/migrations/0003_orders.sql")
    assert "[modified-applied-migration]" in kept.stdout
    assert "[timestamp-without-time-zone]" in kept.stdout
    fresh = tmp_path / "fresh"
    (fresh / "db").mkdir(parents=True)
    (fresh / "db" / "0001_users.sql").write_text(
        "CREATE TABLE IF NOT EXISTS users (id bigint PRIMARY KEY);\n"
    )
    _git(fresh, "init", "-q")
    clean = _hook(fresh, "db/0001_users.sql")
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_the_readme_limits_the_hook_to_the_migrations_folder() -> None:
    """The README's configuration keeps the hook to the migrations (pre-commit matches `files`
    with re.search on the path from the repository root)."""
    import re

    import yaml

    section = (REPO / "README.md").read_text(encoding="utf-8").split("### pre-commit", 1)[1]
    block = section.split("```yaml", 1)[1].split("```", 1)[0]
    (hook,) = yaml.safe_load(block)["repos"][0]["hooks"]
    assert hook["id"] == "schema-review"
    files = re.compile(hook["files"])
    assert files.search("db/migrations/0002_email_index.sql")
    for other in ("db/seeds/users.sql", "tests/fixtures/db/migrations.sql", "schema.sql"):
        assert not files.search(other), other
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hooks[0]["types"] == ["sql"]  # what `files` narrows down
