"""--diff-base REF: a real git repository; only what the change introduces is reported."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from schema_review.cli import main
from tests.helpers import commit_files


def test_only_findings_the_change_introduces(tmp_path: Path) -> None:
    repo = commit_files(
        tmp_path / "repo",
        [
            ("db/0001_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n"),
            # already there at the base: a table without primary key, never reported again
            ("db/0002_audit.sql", "CREATE TABLE audit (at timestamptz);\n"),
        ],
    )
    (repo / "db" / "0003_index.sql").write_text("CREATE INDEX users_email_idx ON users (email);\n")
    cwd = Path.cwd()
    os.chdir(repo)
    try:
        result = CliRunner().invoke(
            main, ["lint", "db", "--diff-base", "HEAD", "--format", "json", "--select", "all"]
        )
        unknown = CliRunner().invoke(main, ["lint", "db", "--diff-base", "origin/nope"])
    finally:
        os.chdir(cwd)
    document = json.loads(result.output)
    located = {(f["file"], f["rule"]) for f in document["findings"]}
    assert ("db/0003_index.sql", "create-index-not-concurrently") in located
    assert all(file == "db/0003_index.sql" for file, _ in located), located
    assert document["summary"]["baselined"] >= 1
    assert document["summary"]["hidden_as"] == "present at HEAD"
    assert unknown.exit_code == 2
    assert "git fetch --depth=1 origin origin/nope" in unknown.output
