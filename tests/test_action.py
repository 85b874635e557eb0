"""The GitHub Action: its script, run on a temporary repository as the action runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from schema_review.verify.server import Server
from tests.helpers import REPO, commit_files


def test_action_definition_runs_the_tested_script() -> None:
    action = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
    assert action["runs"]["using"] == "composite"
    steps = " ".join(step.get("run", "") for step in action["runs"]["steps"])
    assert "action/run.sh" in steps and "pip install" in steps
    assert set(action["inputs"]) >= {"paths", "base", "fail-on", "sarif-file", "comment-file"}
    # verify is off unless asked for, and then the verify extra is installed
    assert action["inputs"]["verify"]["default"] == "false"
    assert "database-url" in action["inputs"]
    install = next(
        step for step in action["runs"]["steps"] if step.get("name", "").startswith("Install")
    )
    assert "[verify]" in install["run"] and install["env"]["INPUT_VERIFY"] == "${{ inputs.verify }}"


def test_action_script_on_a_pull_request(tmp_path: Path) -> None:
    repo = commit_files(
        tmp_path / "repo",
        [
            ("db/0001_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n"),
            ("db/0002_audit.sql", "CREATE TABLE audit (at timestamptz);\n"),  # at the base
        ],
    )
    (repo / "db" / "0003_index.sql").write_text("CREATE INDEX users_email_idx ON users (email);\n")
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "INPUT_PATHS": "db",
        "INPUT_BASE": "HEAD",
        "INPUT_FAIL_ON": "high",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(outputs),
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        ["bash", str(REPO / "action" / "run.sh")],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # the new index fails the gate
    assert "::error file=db/0003_index.sql,line=1" in done.stdout
    assert "0002_audit.sql" not in done.stdout  # present at the base: not this change's
    sarif = json.loads((repo / "schema-review.sarif").read_text())
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in sarif["runs"][0]["results"]
    }
    assert uris == {"db/0003_index.sql"}
    comment = (repo / "schema-review-comment.md").read_text()
    assert comment.startswith("### schema-review: CHANGES REQUESTED")
    assert "create-index-not-concurrently" in comment
    assert "CHANGES REQUESTED" in summary.read_text()
    assert outputs.read_text().splitlines() == [
        "sarif-file=schema-review.sarif",
        "comment-file=schema-review-comment.md",
    ]


def test_action_script_verifies_on_postgres(tmp_path: Path, pg_server: Server) -> None:
    """verify: true (on a server given by URL, as a job's service container would be): a file
    that only PostgreSQL refuses is an error annotation, and fails the step."""
    repo = commit_files(
        tmp_path / "repo",
        [("db/0001_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n")],
    )
    (repo / "db" / "0002_platform.sql").write_text(
        "-- made by the platform in production, not by a migration\n"
        "ALTER TABLE audit_log ADD COLUMN actor text;\n"
    )
    summary = tmp_path / "summary.md"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "INPUT_PATHS": "db",
        "INPUT_BASE": "HEAD",
        "INPUT_FAIL_ON": "high",
        "INPUT_VERIFY": "true",
        "INPUT_DATABASE_URL": pg_server.uri(),
        "GITHUB_STEP_SUMMARY": str(summary),
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        ["bash", str(REPO / "action" / "run.sh")],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # lint passes, PostgreSQL does not
    (annotation,) = [line for line in done.stdout.splitlines() if "fails-on-postgres" in line]
    assert annotation.startswith("::error file=db/0002_platform.sql,line=2,col=1,")
    assert 'relation "audit_log" does not exist' in annotation
    assert "On PostgreSQL: schema-review: 1 finding in 2 files; gate failed" in summary.read_text()
