"""`schema-review verify`: the migrations run on a real PostgreSQL, what it says as findings.

Most tests verify on the session's server through `--database-url` (a server verify did not
start, as a user's would be); two start the embedded server themselves, as a user's first run
does, and check that nothing of it is left afterwards, also when the run is killed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from schema_review.cli import main
from schema_review.verify.server import DATABASE_PREFIX, Server, find_system_postgres
from tests.helpers import REPO, write_migrations

ENUM_SWAP = [
    (
        "0001_init.sql",
        "CREATE TYPE order_status AS ENUM ('new', 'paid');\n"
        "CREATE TABLE orders (id bigint PRIMARY KEY,\n"
        "    status order_status NOT NULL DEFAULT 'new');\n",
    ),
    (
        "0002_refunded.sql",
        "ALTER TYPE order_status RENAME TO order_status_old;\n"
        "CREATE TYPE order_status AS ENUM ('new', 'paid', 'refunded');\n"
        "ALTER TABLE orders ALTER COLUMN status TYPE order_status\n"
        "    USING status::text::order_status;\n"
        "DROP TYPE order_status_old;\n",
    ),
]


def _verify(
    server: Server, folder: Path, *options: str, output: Path | None = None
) -> tuple[int, str]:
    arguments = ["verify", str(folder), "--database-url", server.uri(), *options]
    if output is not None:
        arguments += ["-o", str(output)]
    result = CliRunner().invoke(main, arguments, catch_exceptions=False)
    text = output.read_text(encoding="utf-8") if output is not None else result.stdout
    return result.exit_code, text


def _databases(server: Server) -> set[str]:
    with server.connect() as connection:
        return {r[0] for r in connection.execute("SELECT datname FROM pg_database")}


# -- findings --------------------------------------------------------------------------------


def test_the_enum_default_fails_on_postgres_and_lint_says_so(
    tmp_path: Path, pg_server: Server
) -> None:
    """The acceptance case: a migration that only the server refuses."""
    folder = write_migrations(tmp_path / "db", ENUM_SWAP)
    code, text = _verify(pg_server, folder, "--format", "json")
    assert code == 1
    document = json.loads(text)
    (finding,) = document["findings"]
    assert finding["rule"] == "fails-on-postgres"
    assert finding["severity"] == "critical"
    assert (Path(finding["file"]).name, finding["line"], finding["column"]) == (
        "0002_refunded.sql",
        3,
        1,
    )
    assert finding["message"].startswith(
        'default for column "status" cannot be cast automatically to type order_status'
    )
    assert "(SQLSTATE 42804); the statements before it in the file ran" in finding["message"]
    (history,) = document["verify"]["histories"]
    assert history["files"] == 2 and history["failed"] == 1
    assert history["objects_compared"] == history["objects_matching"] > 0

    lint = CliRunner().invoke(main, ["lint", str(folder), "--format", "json", "--no-cache"])
    rules = {f["rule"]: f for f in json.loads(lint.stdout)["findings"]}
    claim = rules["alter-type-with-incompatible-default"]
    assert (Path(claim["file"]).name, claim["line"]) == ("0002_refunded.sql", 3)
    assert "no implicit or assignment cast" in claim["message"]


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github", "gitlab", "junit"])
def test_every_format_locates_the_failure(fmt: str, tmp_path: Path, pg_server: Server) -> None:
    folder = write_migrations(
        tmp_path / "db",
        [
            ("0001_a.sql", "CREATE TABLE a (id int PRIMARY KEY);\n"),
            ("0002_b.sql", "CREATE TABLE b (\n  id int,\n  a_id nosuch\n);\n"),
        ],
    )
    code, text = _verify(pg_server, folder, "--format", fmt, output=tmp_path / f"out.{fmt}")
    assert code == 1
    message = 'type "nosuch" does not exist'
    assert message in text.replace('\\"', '"').replace("&quot;", '"')
    if fmt == "text":
        assert f"0002_b.sql:3:8: critical [fails-on-postgres] {message} (SQLSTATE 42704)" in text
        assert "Applied 2 files to PostgreSQL" in text
    elif fmt == "json":
        (finding,) = json.loads(text)["findings"]
        assert (finding["line"], finding["column"]) == (3, 8)
    elif fmt == "sarif":
        (result,) = json.loads(text)["runs"][0]["results"]
        region = result["locations"][0]["physicalLocation"]["region"]
        assert (result["ruleId"], region["startLine"], region["startColumn"]) == (
            "fails-on-postgres",
            3,
            8,
        )
    elif fmt == "github":
        assert "::error file=" in text and "0002_b.sql,line=3,col=8" in text
    elif fmt == "gitlab":
        (issue,) = json.loads(text)
        assert issue["check_name"] == "fails-on-postgres"
        assert issue["location"]["lines"]["begin"] == 3
    else:
        assert 'name="' in text and "fails-on-postgres" in text


def test_a_later_failure_that_follows_from_an_earlier_one_says_so(
    tmp_path: Path, pg_server: Server
) -> None:
    folder = write_migrations(
        tmp_path / "db",
        [
            ("0001_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email nosuchtype);\n"),
            ("0002_index.sql", "CREATE INDEX users_email_idx ON users (email);\n"),
            ("0003_other.sql", "CREATE TABLE other (id int);\nSELECT * FROM missing;\n"),
        ],
    )
    code, text = _verify(pg_server, folder, "--format", "json")
    assert code == 1
    findings = json.loads(text)["findings"]
    assert [(Path(f["file"]).name, f["line"]) for f in findings] == [
        ("0001_users.sql", 1),
        ("0002_index.sql", 1),
        ("0003_other.sql", 2),
    ]
    assert "may follow" not in findings[0]["message"]
    assert "this may follow from the failure at" in findings[1]["message"]
    assert "0001_users.sql:1 (it would have made or changed users)" in findings[1]["message"]
    assert "may follow" not in findings[2]["message"]  # names nothing 0001 would have made


def test_an_extension_the_server_lacks_is_one_finding_and_the_file_goes_on(
    tmp_path: Path, pg_server: Server
) -> None:
    folder = write_migrations(
        tmp_path / "db",
        [
            (
                "0001_geo.sql",
                "CREATE EXTENSION IF NOT EXISTS postgis;\n"
                "CREATE TABLE places (id bigint PRIMARY KEY);\n",
            ),
            ("0002_geom.sql", "ALTER TABLE places ADD COLUMN shape geometry;\n"),
        ],
    )
    with pg_server.connect() as connection:
        if connection.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'"
        ).fetchone():
            pytest.skip("this PostgreSQL has postgis")
    code, text = _verify(pg_server, folder, "--format", "json")
    document = json.loads(text)
    found = [(f["rule"], Path(f["file"]).name, f["line"]) for f in document["findings"]]
    assert found == [
        ("extension-not-available", "0001_geo.sql", 1),
        ("fails-on-postgres", "0002_geom.sql", 1),
    ]
    assert code == 1
    assert "extension postgis is not available" in document["findings"][0]["message"]
    assert "may follow from extension postgis" in document["findings"][1]["message"]
    (history,) = document["verify"]["histories"]
    assert history["extensions_skipped"] == ["postgis"]
    assert history["failed"] == 1  # the CREATE TABLE after the skipped statement ran


def test_a_difference_from_the_model_is_an_info_finding_on_its_statement(
    tmp_path: Path, pg_server: Server
) -> None:
    folder = write_migrations(
        tmp_path / "db",
        [
            (
                "0001_dynamic.sql",
                "CREATE TABLE kept (id int);\n"
                "DO $$\nBEGIN\n  EXECUTE 'CREATE TABLE ' || 'audit_log (id bigint)';\nEND\n$$;\n",
            )
        ],
    )
    code, text = _verify(pg_server, folder, "--format", "json")
    assert code == 0  # info is under the gate
    (finding,) = json.loads(text)["findings"]
    assert finding["rule"] == "model-differs-from-postgres"
    assert finding["object"] == "table public.audit_log"
    assert finding["line"] == 2  # the DO block that names it
    assert finding["message"].startswith("table public.audit_log: missing in model")
    assert "please report it" in finding["message"]


def test_a_suppressed_failure_is_not_reported(tmp_path: Path, pg_server: Server) -> None:
    folder = write_migrations(
        tmp_path / "db",
        [
            (
                "0001_a.sql",
                "-- schema-review: ignore fails-on-postgres -- made by the platform in production\n"
                "ALTER TABLE platform_owned ADD COLUMN x int;\n",
            )
        ],
    )
    code, text = _verify(pg_server, folder, "--format", "json")
    assert code == 0
    document = json.loads(text)
    assert document["findings"] == [] and document["summary"]["suppressed"] == 1


def test_a_clean_history_passes(tmp_path: Path, pg_server: Server) -> None:
    folder = write_migrations(
        tmp_path / "db",
        [("0001_a.sql", "CREATE TABLE a (id bigint PRIMARY KEY, note text DEFAULT 'x');\n")],
    )
    code, text = _verify(pg_server, folder)
    assert code == 0
    assert "Applied 1 file to PostgreSQL" in text
    assert "objects as the replayed schema has them" in text
    assert "Found 0 findings" in text


# -- the trace ------------------------------------------------------------------------------

TRACED = [
    (
        "0001_init.sql",
        "CREATE TABLE accounts (id bigint PRIMARY KEY, name text);\n"
        "CREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint, total integer,\n"
        "    note varchar(20));\n",
    ),
    (
        "0002_changes.sql",
        "CREATE INDEX orders_total_idx ON orders (total);\n"
        "ALTER TABLE orders ALTER COLUMN total TYPE bigint;\n"
        "ALTER TABLE orders ALTER COLUMN note TYPE text;\n"
        "ALTER TABLE orders ADD CONSTRAINT orders_account_fkey\n"
        "    FOREIGN KEY (account_id) REFERENCES accounts (id) NOT VALID;\n",
    ),
    (
        "0003_validate.sql",
        "-- +goose NO TRANSACTION\n"
        "ALTER TABLE orders VALIDATE CONSTRAINT orders_account_fkey;\n"
        "CREATE INDEX CONCURRENTLY orders_account_idx ON orders (account_id);\n"
        "ALTER TABLE accounts ADD COLUMN plan text NOT NULL;\n",
    ),
]


def _statement(trace: list[dict[str, Any]], file: str, line: int) -> dict[str, Any]:
    (entry,) = [f for f in trace if Path(f["file"]).name == file]
    (statement,) = [s for s in entry["statements"] if s["line"] == line]
    found: dict[str, Any] = statement
    return found


def test_the_trace_in_json(tmp_path: Path, pg_server: Server) -> None:
    folder = write_migrations(tmp_path / "db", TRACED)
    code, text = _verify(pg_server, folder, "--trace", "--format", "json", "--runner", "goose")
    assert code == 0, text
    trace = json.loads(text)["verify"]["trace"]
    first = next(f for f in trace if f["file"].endswith("0002_changes.sql"))
    assert first["measured"] == "trial"
    assert first["seeded"] == {"public.accounts": 3, "public.orders": 3}
    assert first["lock"] == {"mode": "ACCESS EXCLUSIVE", "table": "public.orders"}
    assert first["rewritten"] == ["public.orders"]

    index = _statement(trace, "0002_changes.sql", 1)
    assert index["lock"] == "SHARE" and index["scanned"] == ["public.orders"]
    retype = _statement(trace, "0002_changes.sql", 2)
    assert retype["rewritten"] == ["public.orders"]
    assert "ACCESS EXCLUSIVE" in retype["locks"]["public.orders"]
    free = _statement(trace, "0002_changes.sql", 3)  # varchar -> text: catalog only
    assert free["rewritten"] == [] and free["scanned"] == []
    assert free["held"]["public.orders"][0] == "ACCESS EXCLUSIVE"
    foreign_key = _statement(trace, "0002_changes.sql", 4)
    assert foreign_key["locks"]["public.accounts"][0] == "SHARE ROW EXCLUSIVE"
    assert foreign_key["scanned"] == []  # NOT VALID: no row is read

    validate = _statement(trace, "0003_validate.sql", 2)
    assert validate["lock"] == "SHARE UPDATE EXCLUSIVE"
    assert "public.orders" in validate["scanned"]  # the seeded rows are checked
    concurrent = _statement(trace, "0003_validate.sql", 3)
    assert concurrent["measured"] == "observed"
    assert concurrent["lock"] == "SHARE UPDATE EXCLUSIVE"
    not_null = _statement(trace, "0003_validate.sql", 4)
    assert (
        not_null["fails_with_rows"] == 'column "plan" of relation "accounts" contains null values'
    )


def test_a_failure_only_made_up_values_cause_is_not_reported(
    tmp_path: Path, pg_server: Server
) -> None:
    """The seeded rows' values are made up: an UPDATE that turns them into NULL says nothing
    about real rows (a NOT NULL added to a table with rows does: see the trace test)."""
    folder = write_migrations(
        tmp_path / "db",
        [
            ("0001_docs.sql", "CREATE TABLE docs (id bigint PRIMARY KEY, body jsonb NOT NULL);\n"),
            ("0002_move.sql", "UPDATE docs SET body = body -> 'v2' WHERE id > 0;\n"),
        ],
    )
    code, text = _verify(pg_server, folder, "--trace", "--format", "json", "--runner", "goose")
    assert code == 0, text
    (entry,) = [f for f in json.loads(text)["verify"]["trace"] if "0002" in f["file"]]
    assert entry["fails_with_rows"] is None
    (update,) = entry["statements"]  # measured again on the tables as they are
    assert update["lock"] == "ROW EXCLUSIVE" and not update["failed"]


def test_the_trace_in_text_and_in_the_review(tmp_path: Path, pg_server: Server) -> None:
    folder = write_migrations(tmp_path / "db", TRACED)
    code, text = _verify(pg_server, folder, "--trace", "--runner", "goose")
    assert code == 0
    assert "Trace: what each statement did to tables that existed before its file" in text
    assert "  1:1 CREATE INDEX orders_total_idx ON orders (total)\n" in text
    assert "      locks public.orders SHARE; scanned public.orders\n" in text
    assert "rewrote public.orders" in text
    assert 'fails when the table has rows: column "plan"' in text

    review = CliRunner().invoke(
        main,
        ["report", str(folder), "--trace", "--database-url", pg_server.uri(), "--runner", "goose"],
        catch_exceptions=False,
    )
    assert review.exit_code == 0, review.output
    measured = review.stdout.split("Measured on PostgreSQL")[1].split("\n\n")[1]
    rows = [line.split(" | ") for line in measured.splitlines()[2:]]
    assert [(Path(r[0].strip("|` ")).name.split(":")[0], *r[1:]) for r in rows] == [
        (
            "0002_changes.sql",
            "ACCESS EXCLUSIVE on public.orders",
            "ACCESS EXCLUSIVE on public.orders",
            "public.orders |",
        ),
        (
            "0003_validate.sql",
            "ACCESS EXCLUSIVE on public.accounts",
            "ACCESS EXCLUSIVE on public.accounts",
            " |",
        ),
    ]


# -- runners --------------------------------------------------------------------------------


def test_diesel_metadata_run_in_transaction_false_is_honoured(
    tmp_path: Path, pg_server: Server
) -> None:
    folder = write_migrations(
        tmp_path / "migrations",
        [
            ("2024-01-01-000000_init/up.sql", "CREATE TABLE t (id int, a int);\n"),
            ("2024-01-01-000000_init/down.sql", "DROP TABLE t;\n"),
            ("2024-01-02-000000_index/up.sql", "CREATE INDEX CONCURRENTLY t_a_idx ON t (a);\n"),
            ("2024-01-02-000000_index/down.sql", "DROP INDEX t_a_idx;\n"),
            ("2024-01-02-000000_index/metadata.toml", "run_in_transaction = false\n"),
        ],
    )
    code, text = _verify(pg_server, folder, "--format", "json")
    assert code == 0, text
    lint = CliRunner().invoke(main, ["lint", str(folder), "--format", "json", "--no-cache"])
    assert "concurrently-in-transaction" not in lint.stdout
    (folder / "2024-01-02-000000_index" / "metadata.toml").write_text("run_in_transaction = true\n")
    code, text = _verify(pg_server, folder, "--format", "json")
    assert code == 1
    (finding,) = json.loads(text)["findings"]
    assert "cannot run inside a transaction block" in finding["message"]


# -- servers --------------------------------------------------------------------------------


def test_a_server_given_by_url_keeps_no_database(tmp_path: Path, pg_server: Server) -> None:
    """--database-url against a server the test runs: each run makes its database and drops
    it (a separate process, as a CI job would run it)."""
    folder = write_migrations(tmp_path / "db", ENUM_SWAP)
    before = _databases(pg_server)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "schema_review",
            "verify",
            str(folder),
            "--database-url",
            pg_server.uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 1, done.stderr
    assert "critical [fails-on-postgres]" in done.stdout
    assert "(given by URL)" in done.stdout
    assert _databases(pg_server) == before
    assert not any(d.startswith(DATABASE_PREFIX) for d in _databases(pg_server) - before)


def test_a_server_that_cannot_be_reached_is_a_usage_error(tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "db", [("0001_a.sql", "SELECT 1;\n")])
    result = CliRunner().invoke(
        main, ["verify", str(folder), "--database-url", "postgresql://nobody@127.0.0.1:1/x"]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("schema-review: error: cannot connect to PostgreSQL")
    assert "Traceback" not in result.output


def test_standard_input_is_refused() -> None:
    result = CliRunner().invoke(main, ["verify", "-"], input="SELECT 1;")
    assert result.exit_code == 2
    assert "standard input" in result.stderr


def test_an_installed_server_of_the_version_asked_for(tmp_path: Path) -> None:
    bindir = find_system_postgres()
    if bindir is None:
        pytest.skip("no PostgreSQL installed on this machine")
    version = int(
        subprocess.run(
            [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True
        )
        .stdout.split()[-1]
        .split(".")[0]
    )
    folder = write_migrations(tmp_path / "db", [("0001_a.sql", "CREATE TABLE a (id int);\n")])
    result = CliRunner().invoke(
        main,
        ["verify", str(folder), "--pg-version", str(version), "--format", "json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    server = json.loads(result.stdout)["verify"]["server"]
    assert server["kind"] == "system" and server["version"].startswith(f"{version}.")


# -- nothing left behind --------------------------------------------------------------------


def _ours(tmp: Path) -> list[str]:
    """Processes whose command line or working directory lies in `tmp` (the server's data
    directory is there)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if str(tmp) in command or cwd.startswith(str(tmp)):
            found.append(f"{proc.name}: {command.strip()}")
    return found


@pytest.fixture
def tmp() -> Iterator[Path]:
    """A TMPDIR of its own for a verify run: what the run leaves is there. In the system's
    temporary folder and open to all, as the embedded server's initdb (as root it runs as
    another user) must reach its data directory."""
    folder = Path(tempfile.mkdtemp(prefix="schema-review-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _run_examples(tmp: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "schema_review", "verify", "examples/saas-app/migrations"],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(tmp), "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_verify_the_example_with_the_embedded_server_and_leave_nothing(tmp: Path) -> None:
    """The acceptance run: `schema-review verify examples/saas-app/migrations` after the
    README's set-up, with its own embedded server; afterwards no process and no directory of
    it remains."""
    process = _run_examples(tmp)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 1, stderr
    failure = (
        "examples/saas-app/migrations/0009_invoice_notes.up.sql:3:67: critical "
        "[fails-on-postgres] syntax error at end of input (SQLSTATE 42601)"
    )
    assert failure in stdout
    assert "PostgreSQL 18" in stdout and "(embedded)" in stdout
    assert "81 of 81 objects" in stdout
    assert "server start" in stderr  # the time it took, on standard error
    assert _ours(tmp) == []
    assert list(tmp.iterdir()) == []


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_killed_run_leaves_nothing(sig: signal.Signals, tmp: Path) -> None:
    process = _run_examples(tmp)
    deadline = time.monotonic() + 120
    # Wait for the server: a postmaster with its data directory in our TMPDIR.
    while time.monotonic() < deadline and not any("data" in p for p in _ours(tmp)):
        time.sleep(0.05)
    assert _ours(tmp), "the server never started"
    process.send_signal(sig)
    process.communicate(timeout=120)
    assert process.returncode != 0
    assert _ours(tmp) == []
    assert list(tmp.iterdir()) == []
