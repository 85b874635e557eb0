"""The GitHub Action: its script, run on temporary repositories as the action runs it, with a
simulated GitHub environment (the event, its payload, GITHUB_OUTPUT and the step summary) and a
fake `gh` on PATH that records what would be uploaded and posted."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from schema_review.verify.server import Server
from tests.helpers import REPO, commit_files

IDENTITY = ["-c", "user.name=test", "-c", "user.email=test@example.com"]

# Records each call of the tool (one line of arguments), then runs the real one.
FAKE_TOOL = """#!/bin/sh
printf '%s\\n' "$*" >> "$ACTION_TEST_LOG/schema-review.calls"
exec "$REAL_SCHEMA_REVIEW" "$@"
"""
# Records each call, keeps the bodies it was given, answers the comment search.
FAKE_GH = """#!/bin/sh
n=0
[ -f "$ACTION_TEST_LOG/gh.calls" ] && n=$(wc -l < "$ACTION_TEST_LOG/gh.calls")
printf '%s\\n' "$*" >> "$ACTION_TEST_LOG/gh.calls"
previous=""
for arg in "$@"; do
  case "$previous" in --input) cp "$arg" "$ACTION_TEST_LOG/gh.input.$n" ;; esac
  case "$arg" in body=@*) cp "${arg#body=@}" "$ACTION_TEST_LOG/gh.body.$n" ;; esac
  previous=$arg
done
case "$*" in *--jq*) printf '%s' "${FAKE_GH_COMMENT_ID:-}" ;; esac
exit "${FAKE_GH_EXIT:-0}"
"""


@dataclass
class ActionRun:
    done: subprocess.CompletedProcess[str]
    log: Path
    summary: Path
    outputs: Path

    @property
    def tool_calls(self) -> list[str]:
        return (self.log / "schema-review.calls").read_text().splitlines()

    @property
    def gh_calls(self) -> list[str]:
        calls = self.log / "gh.calls"
        return calls.read_text().splitlines() if calls.exists() else []

    def gh_file(self, kind: str, call: int) -> str:
        return (self.log / f"gh.{kind}.{call}").read_text()


def run_action(
    repo: Path,
    tmp_path: Path,
    event: str = "",
    payload: dict[str, Any] | None = None,
    **inputs: str,
) -> ActionRun:
    """action/run.sh in `repo`, as the step of action.yml runs it: INPUT_* from `inputs`
    (`fail_on` is INPUT_FAIL_ON), the event and its payload, the tool and gh on PATH."""
    log = tmp_path / "log"
    bin_dir = tmp_path / "bin"
    for folder in (log, bin_dir):
        folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("schema-review", FAKE_TOOL), ("gh", FAKE_GH)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755 | stat.S_IXUSR)
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(payload or {}))
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("INPUT_", "GITHUB_", "FAKE_GH_"))
    }
    env.update(
        {
            "PATH": os.pathsep.join(
                [str(bin_dir), str(Path(sys.executable).parent), os.environ.get("PATH", "")]
            ),
            "ACTION_TEST_LOG": str(log),
            "REAL_SCHEMA_REVIEW": str(Path(sys.executable).parent / "schema-review"),
            "GITHUB_EVENT_NAME": event,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_REPOSITORY": "acme/app",
            "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
            "GITHUB_REF": "refs/pull/7/merge" if event == "pull_request" else "refs/heads/main",
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_OUTPUT": str(outputs),
            "NO_COLOR": "1",
        }
    )
    for name, value in inputs.items():
        key = name.upper() if name.startswith("fake_gh_") else "INPUT_" + name.upper()
        env[key] = value
    done = subprocess.run(
        ["bash", str(REPO / "action" / "run.sh")],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return ActionRun(done, log, summary, outputs)


def pull_request(number: int = 7, head_repo: str = "acme/app") -> dict[str, Any]:
    return {
        "pull_request": {"number": number, "head": {"repo": {"full_name": head_repo}}},
        "repository": {"full_name": "acme/app"},
    }


def commit(repo: Path, message: str) -> str:
    for command in (["add", "."], [*IDENTITY, "commit", "-q", "-m", message]):
        subprocess.run(["git", *command], cwd=repo, check=True, capture_output=True)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_action_definition_runs_the_tested_script() -> None:
    action = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    assert "action/run.sh" in " ".join(step.get("run", "") for step in steps)
    assert set(action["inputs"]) >= {
        "paths",
        "base",
        "fail-on",
        "config",
        "baseline",
        "runner",
        "pg-version",
        "platform",
        "args",
        "verify",
        "database-url",
        "sarif-file",
        "comment-file",
        "upload-sarif",
        "comment",
        "github-token",
    }
    # No gate of its own: the repository's configuration decides unless the input is set.
    assert action["inputs"]["fail-on"]["default"] == ""
    # verify is off unless asked for, and then the verify extra is installed
    assert action["inputs"]["verify"]["default"] == "false"
    install = next(step for step in steps if step.get("name", "").startswith("Install"))
    assert "pip install" in install["run"] and "[verify]" in install["run"]
    assert install["env"]["INPUT_VERIFY"] == "${{ inputs.verify }}"
    # Every input reaches the script, and pip's downloads are cached between runs.
    review = next(step for step in steps if step.get("id") == "review")
    passed = {value for value in review["env"].values()}
    for name in action["inputs"]:
        if name not in ("python-version", "github-token"):
            assert f"${{{{ inputs.{name} }}}}" in passed, name
    assert review["env"]["GH_TOKEN"] == "${{ inputs.github-token }}"
    cache = next(step for step in steps if str(step.get("uses", "")).startswith("actions/cache"))
    assert cache["with"]["path"] == "${{ steps.pip-cache.outputs.dir }}"
    assert steps.index(cache) < steps.index(install)


def test_action_script_on_a_pull_request(tmp_path: Path) -> None:
    """One run of the tool gives the annotations, the SARIF, the comment, the summary and the
    gate; the SARIF is uploaded and the comment posted with gh."""
    repo = commit_files(
        tmp_path / "repo",
        [
            ("db/0001_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n"),
            ("db/0002_audit.sql", "CREATE TABLE audit (at timestamptz);\n"),  # at the base
        ],
    )
    (repo / "db" / "0003_index.sql").write_text("CREATE INDEX users_email_idx ON users (email);\n")
    run = run_action(repo, tmp_path, "pull_request", pull_request(), paths="db", base="HEAD")
    done = run.done
    assert done.returncode == 1, done.stdout + done.stderr  # the new index fails the gate
    assert "::error file=db/0003_index.sql,line=1" in done.stdout
    assert "0002_audit.sql" not in done.stdout  # present at the base: not this change's
    (call,) = run.tool_calls
    assert call.startswith("lint db --diff-base HEAD --format github")
    assert "--fail-on" not in call
    sarif = json.loads((repo / "schema-review.sarif").read_text())
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in sarif["runs"][0]["results"]
    }
    assert uris == {"db/0003_index.sql"}
    comment = (repo / "schema-review-comment.md").read_text()
    assert comment.startswith("### schema-review: CHANGES REQUESTED")
    assert "create-index-not-concurrently" in comment
    assert "CHANGES REQUESTED" in run.summary.read_text()
    assert run.outputs.read_text().splitlines() == [
        "sarif-file=schema-review.sarif",
        "comment-file=schema-review-comment.md",
    ]
    upload, search, post = run.gh_calls
    assert upload.startswith("api --method POST repos/acme/app/code-scanning/sarifs --input ")
    sent = json.loads(run.gh_file("input", 0))
    assert sent["commit_sha"] == "0123456789abcdef0123456789abcdef01234567"
    assert sent["ref"] == "refs/pull/7/merge"
    import base64
    import gzip

    assert json.loads(gzip.decompress(base64.b64decode(sent["sarif"]))) == sarif
    assert search.startswith("api --paginate repos/acme/app/issues/7/comments --jq ")
    assert post.startswith("api --method POST repos/acme/app/issues/7/comments -F body=@")
    body = run.gh_file("body", 2)
    assert body.startswith(comment) and body.rstrip().endswith("<!-- schema-review:review -->")


def test_a_later_run_updates_its_comment(tmp_path: Path) -> None:
    repo = commit_files(tmp_path / "repo", [("db/0001_users.sql", "CREATE TABLE u (id int);\n")])
    run = run_action(
        repo, tmp_path, "pull_request", pull_request(), paths="db", fake_gh_comment_id="42"
    )
    assert [c.split()[:3] for c in run.gh_calls][-1] == [
        "api",
        "--method",
        "PATCH",
    ], run.gh_calls
    assert "repos/acme/app/issues/comments/42" in run.gh_calls[-1]


def test_a_fork_skips_the_upload_and_the_comment_with_a_notice(tmp_path: Path) -> None:
    """A fork's pull request has a read-only token: publishing would fail the job; the
    annotations, summary and gate still work."""
    repo = commit_files(tmp_path / "repo", [("db/0001_users.sql", "CREATE TABLE u (id int);\n")])
    (repo / "db" / "0002_index.sql").write_text("CREATE INDEX u_id_idx ON u (id);\n")
    payload = pull_request(head_repo="stranger/app")
    run = run_action(repo, tmp_path, "pull_request", payload, paths="db", base="HEAD")
    assert run.done.returncode == 1, run.done.stdout + run.done.stderr
    assert run.gh_calls == []
    notices = [line for line in run.done.stdout.splitlines() if line.startswith("::notice::")]
    assert notices == [
        "::notice::schema-review: the SARIF upload skipped: a pull request from a fork"
        " (stranger/app) has a read-only token",
        "::notice::schema-review: the pull request comment skipped: a pull request from a fork"
        " (stranger/app) has a read-only token",
    ]
    assert "::error file=db/0002_index.sql" in run.done.stdout
    assert "CHANGES REQUESTED" in run.summary.read_text()


def test_a_failed_publication_warns_and_the_gate_decides(tmp_path: Path) -> None:
    """No permission to write (a 403 from the API): a warning, not a failed step."""
    repo = commit_files(tmp_path / "repo", [("db/0001_users.sql", "CREATE TABLE u (id int);\n")])
    run = run_action(
        repo, tmp_path, "pull_request", pull_request(), paths="db", fail_on="none", fake_gh_exit="1"
    )
    warnings = [line for line in run.done.stdout.splitlines() if line.startswith("::warning::")]
    assert len(warnings) == 2 and "security-events: write" in warnings[0]
    assert "pull-requests: write" in warnings[1]
    assert run.done.returncode == 0, run.done.stdout + run.done.stderr


def test_the_configuration_decides_the_gate_unless_fail_on_is_given(tmp_path: Path) -> None:
    repo = commit_files(
        tmp_path / "repo",
        [
            (".schema-review.yaml", "fail-on: low\n"),
            (
                "db/0001_users.sql",
                "CREATE TABLE IF NOT EXISTS u (id bigint PRIMARY KEY, at timestamp);\n",
            ),
        ],
    )
    configured = run_action(repo, tmp_path / "a", paths="db", upload_sarif="false")
    assert configured.done.returncode == 1, configured.done.stdout  # a low finding, gate low
    assert "timestamp-without-time-zone" in configured.done.stdout
    given = run_action(repo, tmp_path / "b", paths="db", fail_on="high")
    assert given.done.returncode == 0, given.done.stdout
    assert "--fail-on high" in given.tool_calls[0]


def test_every_path_of_a_multi_line_input_is_linted(tmp_path: Path) -> None:
    repo = commit_files(
        tmp_path / "repo",
        [
            ("db/app/0001_users.sql", "CREATE TABLE u (id int);\n"),
            ("db/billing/0001_invoices.sql", "CREATE TABLE i (id int);\n"),
            ("db/audit/0001_log.sql", "CREATE TABLE l (id int);\n"),
        ],
    )
    # `paths: |` in a workflow: one folder a line, a trailing newline, a space-separated pair.
    run = run_action(repo, tmp_path, paths="db/app\ndb/billing db/audit\n", fail_on="none")
    assert run.done.returncode == 0, run.done.stdout + run.done.stderr
    assert run.tool_calls[0].startswith("lint db/app db/billing db/audit ")
    for name in ("db/app/0001_users.sql", "db/billing/0001_invoices.sql", "db/audit/0001_log.sql"):
        assert f"file={name}," in run.done.stdout


def test_the_inputs_reach_the_tool(tmp_path: Path) -> None:
    repo = commit_files(
        tmp_path / "repo",
        [
            ("ci/review.yaml", "ignore: [missing-if-not-exists]\n"),
            ("db/0001_users.sql", "CREATE TABLE u (id bigint PRIMARY KEY);\n"),
        ],
    )
    run = run_action(
        repo,
        tmp_path,
        paths="db",
        config="ci/review.yaml",
        runner="goose",
        pg_version="14",
        platform="supabase",
        args="--select all --ignore table-missing-primary-key",
        fail_on="none",
    )
    assert run.done.returncode == 0, run.done.stdout + run.done.stderr
    (call,) = run.tool_calls
    assert call.startswith(
        "lint db --fail-on none --config ci/review.yaml --runner goose --pg-version 14"
        " --platform supabase --select all --ignore table-missing-primary-key --format github"
    )
    assert "missing-if-not-exists" not in run.done.stdout  # the configuration was read
    assert "rls-not-enabled" in run.done.stdout  # supabase: public tables are exposed


def _pushed(tmp_path: Path) -> tuple[Path, str]:
    """A repository whose first commit has a finding and whose second adds one."""
    repo = commit_files(
        tmp_path / "repo", [("db/0001_users.sql", "CREATE TABLE users (id int, email text);\n")]
    )
    first = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()
    (repo / "db" / "0002_index.sql").write_text("CREATE INDEX users_email_idx ON users (email);\n")
    commit(repo, "index")
    return repo, first


def test_a_push_reviews_what_it_added(tmp_path: Path) -> None:
    """On push there is no pull request base: the commit before the push is the base, so the
    first commit's table without a primary key is not this push's."""
    repo, first = _pushed(tmp_path)
    run = run_action(repo, tmp_path, "push", {"before": first}, paths="db", base="")
    assert run.done.returncode == 1, run.done.stdout + run.done.stderr
    assert f"::notice::schema-review: push: reviewing the changes since {first}" in run.done.stdout
    assert f"--diff-base {first}" in run.tool_calls[0]
    assert "create-index-not-concurrently" in run.done.stdout
    assert "table-missing-primary-key" not in run.done.stdout
    assert run.gh_calls[0].startswith("api --method POST repos/acme/app/code-scanning/sarifs")
    assert len(run.gh_calls) == 1  # no pull request: no comment


def test_a_new_branch_push_and_a_merge_queue_use_the_previous_commit(tmp_path: Path) -> None:
    repo, first = _pushed(tmp_path)
    zeros = "0" * 40
    new_branch = run_action(repo, tmp_path / "a", "push", {"before": zeros}, paths="db")
    assert f"--diff-base {first}" in new_branch.tool_calls[0]
    assert "table-missing-primary-key" not in new_branch.done.stdout
    queued = run_action(
        repo, tmp_path / "b", "merge_group", {"merge_group": {"base_sha": first}}, paths="db"
    )
    assert f"--diff-base {first}" in queued.tool_calls[0]
    assert queued.done.returncode == 1 and "create-index-not-concurrently" in queued.done.stdout
    assert "table-missing-primary-key" not in queued.done.stdout


def test_a_push_with_a_baseline_uses_the_baseline(tmp_path: Path) -> None:
    repo, first = _pushed(tmp_path)
    subprocess.run(
        [
            str(Path(sys.executable).parent / "schema-review"),
            "baseline",
            "db",
            "-o",
            "baseline.json",
        ],
        cwd=repo,
        check=True,
        capture_output=True,
    )
    (repo / "db" / "0003_more.sql").write_text("CREATE TABLE audit (at timestamp);\n")
    run = run_action(
        repo, tmp_path, "push", {"before": first}, paths="db", baseline="baseline.json"
    )
    (call,) = run.tool_calls
    assert "--baseline baseline.json" in call and "--diff-base" not in call
    assert "create-index-not-concurrently" not in run.done.stdout  # in the baseline
    assert "0003_more.sql" in run.done.stdout


def test_a_configuration_error_stops_the_action(tmp_path: Path) -> None:
    repo = commit_files(tmp_path / "repo", [("db/0001_users.sql", "CREATE TABLE u (id int);\n")])
    run = run_action(
        repo, tmp_path, "pull_request", pull_request(), paths="db", args="--select nope"
    )
    assert run.done.returncode == 2
    assert "unknown rule or category nope" in run.done.stderr
    assert run.gh_calls == []  # nothing published about a run that did not happen
    empty = run_action(repo, tmp_path / "b", paths=" \n")
    assert empty.done.returncode == 2
    assert "::error::schema-review: the paths input names no migration folder" in empty.done.stdout


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
    run = run_action(
        repo,
        tmp_path,
        paths="db",
        base="HEAD",
        fail_on="high",
        verify="true",
        database_url=pg_server.uri(),
    )
    done = run.done
    assert done.returncode == 1, done.stdout + done.stderr  # lint passes, PostgreSQL does not
    (annotation,) = [line for line in done.stdout.splitlines() if "fails-on-postgres" in line]
    assert annotation.startswith("::error file=db/0002_platform.sql,line=2,col=1,")
    assert 'relation "audit_log" does not exist' in annotation
    summary = run.summary.read_text()
    assert "On PostgreSQL: schema-review: 1 finding in 2 files; gate failed" in summary
    assert [call.split()[0] for call in run.tool_calls] == ["lint", "verify"]


def test_one_lint_run_writes_several_formats(tmp_path: Path) -> None:
    """`--output-format-file FORMAT=PATH`: the files the action publishes, from the run whose
    exit status is the gate; a wrong value is a usage error before the run."""
    from click.testing import CliRunner

    from schema_review.cli import main

    folder = REPO / "examples" / "saas-app" / "migrations"
    sarif, comment = tmp_path / "a.sarif", tmp_path / "comment.md"
    result = CliRunner().invoke(
        main,
        [
            "lint",
            str(folder),
            "--format",
            "json",
            "--output-format-file",
            f"sarif={sarif}",
            "--output-format-file",
            f"pr-comment={comment}",
        ],
    )
    assert result.exit_code == 1, result.output
    findings = json.loads(result.output)["findings"]
    assert len(json.loads(sarif.read_text())["runs"][0]["results"]) == len(findings)
    assert comment.read_text().startswith("### schema-review: CHANGES REQUESTED")
    for value, message in (
        ("sarif", "expected FORMAT=PATH"),
        ("html=x.html", "unknown format html"),
        (f"sarif={tmp_path}/missing/a.sarif", "does not exist"),
    ):
        bad = CliRunner().invoke(main, ["lint", str(folder), "--output-format-file", value])
        assert bad.exit_code == 2 and message in bad.output, bad.output


def test_the_pip_cache_is_keyed_by_the_action_and_python(tmp_path: Path) -> None:
    """The step that keys actions/cache, run as the composite action runs it: pip's cache
    folder, and a key that changes with the action's dependencies and the Python version
    (also when pip's own cache is turned off)."""
    action = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
    step = next(s for s in action["runs"]["steps"] if s.get("id") == "pip-cache")
    import platform

    for extra in ({}, {"PIP_NO_CACHE_DIR": "1"}):
        outputs = tmp_path / "outputs"
        outputs.unlink(missing_ok=True)
        env = {
            **os.environ,
            **extra,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_ACTION_PATH": str(REPO),
        }
        subprocess.run(["bash", "-c", step["run"]], env=env, check=True, timeout=120)
        values = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
        assert Path(values["dir"]).is_absolute()
        prefix = f"schema-review-pip-{platform.system()}-{platform.python_version()}-"
        assert values["key"].startswith(prefix) and len(values["key"]) == len(prefix) + 16
