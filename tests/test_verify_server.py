"""The throwaway server: nothing outlives it, whatever ends the process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from schema_review.verify.server import (
    Server,
    connect_to,
    find_system_postgres,
    start_system,
)

# A process that starts a server, says where it lives, then ends as told.
_CHILD = textwrap.dedent(
    """
    import json, signal, sys, time
    from schema_review.verify import server as module

    # Ctrl-C as in a terminal: a suite run as a background job (`pytest &`) hands its
    # children SIGINT ignored, and this child would sleep through it and exit 0.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    how = sys.argv[1]
    if how == "atexit":
        server = module.start()  # never stopped: the atexit hook must do it
        print(json.dumps([str(server.directory), server.pid, str(module._runtime_dir)]), flush=True)
        sys.exit(0)
    with module.temporary_server() as server:
        print(json.dumps([str(server.directory), server.pid, str(module._runtime_dir)]), flush=True)
        if how == "error":
            sys.stdin.readline()  # the parent has seen the server: fail now
            raise RuntimeError("a failing run")
        time.sleep(60)  # until signalled
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def test_nothing_outlives_the_server_however_the_run_ends() -> None:
    """An exception, SIGTERM, Ctrl-C (SIGINT) and a server never stopped (atexit): the
    server process, its data directory and the runtime directory are gone afterwards."""
    ways = ["error", "sigterm", "sigint", "atexit"]
    children = {
        how: subprocess.Popen(
            [sys.executable, "-c", _CHILD, how],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for how in ways
    }
    try:
        where = {}
        for how, child in children.items():
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line, child.stderr.read() if child.stderr else ""
            where[how] = json.loads(line)
            if how != "atexit":  # that one may be gone already
                assert Path(where[how][0]).is_dir() and _alive(where[how][1])
        # The failing child waits until it has been seen alive: under load it could
        # otherwise fail and clean up before the check above ran.
        assert children["error"].stdin is not None
        children["error"].stdin.write("\n")
        children["error"].stdin.flush()
        children["sigterm"].send_signal(signal.SIGTERM)
        children["sigint"].send_signal(signal.SIGINT)
        for how, child in children.items():
            child.wait(timeout=60)
            directory, pid, runtime = where[how]
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not _alive(pid), f"{how}: postgres {pid} still running"
            assert not Path(directory).exists(), f"{how}: {directory} left behind"
            assert not Path(runtime).exists(), f"{how}: {runtime} left behind"
        assert children["error"].returncode == 1
        assert children["sigterm"].returncode == 128 + signal.SIGTERM
        assert children["sigint"].returncode != 0
        assert children["atexit"].returncode == 0
    finally:
        for child in children.values():
            if child.poll() is None:  # a failed assertion above: let it clean up still
                child.terminate()
            try:
                child.communicate(timeout=30)  # also closes the pipes
            except subprocess.TimeoutExpired:
                child.kill()
                child.communicate()


def test_a_scratch_database_takes_what_it_made_in_the_cluster_away(pg_server: Server) -> None:
    with pg_server.scratch_database() as database, database.connect() as connection:
        connection.execute("CREATE DATABASE schema_review_made_by_a_migration")
        connection.execute("CREATE ROLE schema_review_made_role")
        connection.execute("GRANT CONNECT ON DATABASE postgres TO schema_review_made_role")
        connection.execute("ALTER ROLE postgres SET work_mem = '7MB'")
        name = database.name
    with pg_server.connect() as connection:
        databases = {r[0] for r in connection.execute("SELECT datname FROM pg_database")}
        assert name not in databases
        assert "schema_review_made_by_a_migration" not in databases
        role = connection.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = 'schema_review_made_role'"
        ).fetchone()
        assert role is None
        settings = connection.execute(
            "SELECT setconfig FROM pg_db_role_setting WHERE setrole = 'postgres'::regrole"
        ).fetchall()
        assert settings == []


def test_a_server_given_by_url_keeps_everything_but_its_database(pg_server: Server) -> None:
    server = connect_to(pg_server.uri())
    assert (server.owned, server.version) == (False, pg_server.version)
    try:
        with server.scratch_database() as database, database.connect() as connection:
            connection.execute("CREATE ROLE schema_review_url_role")
            name = database.name
        server.stop()  # not ours: stays up
        with pg_server.connect() as connection:
            role = connection.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = 'schema_review_url_role'"
            ).fetchone()
            assert role == (1,)
            assert (
                connection.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
                ).fetchone()
                is None
            )
    finally:
        with pg_server.connect() as connection:
            connection.execute("DROP ROLE IF EXISTS schema_review_url_role")


@pytest.mark.skipif(find_system_postgres() is None, reason="no PostgreSQL installed here")
def test_an_installed_postgresql() -> None:
    bindir = find_system_postgres()
    assert bindir is not None
    server = start_system(bindir)
    try:
        assert server.kind == "system" and server.version >= 9
        with server.scratch_database() as database, database.connect() as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.stop()
    assert server.leftovers() == []


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_the_directory_is_removed_only_once_what_was_killed_on_it_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process killed on the server's directory (initdb's `postgres --check`, say) dies
    when it next runs: the clean-up waits for it, so a run that ends leaves none behind even
    for a moment. (Seen once under load: killed, but still listed after the run.)"""
    from schema_review.verify import server as module

    root = tmp_path / "schema-review-pg-test"
    pgdata = root / "data"
    pgdata.mkdir(parents=True)
    # A stand-in that names the directory on its command line, as postgres -D does.
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", str(pgdata)],
        start_new_session=True,
    )
    # Popen returns once the exec has begun, which can be before the kernel shows the new
    # command line: the clean-up would not know the child yet (seen under load, and idle).
    cmdline = Path(f"/proc/{child.pid}/cmdline")
    deadline = time.monotonic() + 10
    while str(pgdata).encode() not in cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)
    asked: list[int] = []
    real_alive = module._alive

    def slow_to_die(pid: int) -> bool:
        # Reported alive for its first few looks, as a process the signal has not reached yet.
        if pid == child.pid:
            asked.append(pid)
            if len(asked) <= 3:
                return True
        return real_alive(pid)

    monkeypatch.setattr(module, "_alive", slow_to_die)
    try:
        module._remove_server_directory(root, pgdata)
        assert not root.exists()
        assert len(asked) > 3  # it waited until the killed process was seen gone
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_the_clean_up_also_stops_what_it_did_not_see_at_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process in the directory that was not seen when the clean-up looked (mid-exec, with
    no command line yet) is stopped and waited for before the clean-up returns; one whose
    working directory is in it counts, as initdb's `postgres --single` (given the directory
    in PGDATA, not on its command line), which outlives initdb."""
    from schema_review.verify import server as module

    root = tmp_path / "schema-review-pg-test"
    pgdata = root / "data"
    pgdata.mkdir(parents=True)
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        cwd=pgdata,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while module._processes_on(pgdata) != [child.pid] and time.monotonic() < deadline:
        time.sleep(0.01)
    looks: list[int] = []
    real_processes_on = module._processes_on

    def unseen_at_first(directory: Path) -> list[int]:
        looks.append(1)
        return [] if len(looks) == 1 else real_processes_on(directory)

    monkeypatch.setattr(module, "_processes_on", unseen_at_first)
    try:
        module._remove_server_directory(root, pgdata)
        assert not root.exists()
        assert child.poll() == -signal.SIGKILL  # stopped, and gone, when the clean-up returned
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
