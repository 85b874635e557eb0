"""A throwaway MariaDB server for the MySQL oracle: Debian's `mariadb-server` package, started
in a temporary directory on a Unix socket (no network), removed afterwards.

The same shape as `schema_review.verify.server` for PostgreSQL: `start()` gives a `Server`,
`Server.scratch_database()` a fresh database per use (dropped afterwards with any other
database the migrations created), `Server.stop()` stops the process and removes the
directory, `Server.leftovers()` says what would still be there. A server never stopped is
stopped at exit.

It lives with the tests, not in `schema_review.verify`: only the tests apply MySQL histories
to an engine (the `verify` command is PostgreSQL's), and the client (PyMySQL) is a dev extra.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pymysql
from pymysql.connections import Connection
from pymysql.constants import CLIENT

# Names of the databases we create, so that a leftover is recognisable.
DATABASE_PREFIX = "schema_review_"
# Databases a fresh MariaDB has, never dropped.
SYSTEM_DATABASES = frozenset({"information_schema", "mysql", "performance_schema", "sys"})

_SERVER_BINARIES = ("mariadbd", "mysqld")
_INSTALL_BINARIES = ("mariadb-install-db", "mysql_install_db")
# Debian puts the server in /usr/sbin, often not on a user's PATH.
_SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])


class ServerError(Exception):
    """MariaDB is not installed, or could not be started or reached."""


@dataclass(eq=False)
class Server:
    directory: Path
    socket: str
    version: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    pid: int = 0  # the server's process id, kept after it stops (see `leftovers`)

    def connect(self, database: str | None = None) -> Connection:
        """An autocommit connection as root; several statements per query are allowed (a
        migration file goes to the server whole, as drivers with multiStatements send it)."""
        return pymysql.connect(
            unix_socket=self.socket,
            user="root",
            database=database,
            autocommit=True,
            charset="utf8mb4",
            client_flag=CLIENT.MULTI_STATEMENTS,
        )

    def databases(self) -> set[str]:
        with self.connect() as connection, connection.cursor() as cursor:
            cursor.execute("SHOW DATABASES")
            return {row[0] for row in cursor.fetchall()}

    @contextlib.contextmanager
    def scratch_database(self) -> Iterator[str]:
        """A new empty database (its name), dropped afterwards with every other database
        that appeared meanwhile (a history may create its own)."""
        before = self.databases()
        name = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:12]}"
        with self.connect() as connection, connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}`")
        try:
            yield name
        finally:
            with self.connect() as connection, connection.cursor() as cursor:
                for database in sorted(self.databases() - before - SYSTEM_DATABASES):
                    cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")

    def stop(self) -> None:
        atexit.unregister(self.stop)
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)  # a clean shutdown
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)

    def leftovers(self) -> list[str]:
        """After `stop`: what is still there (a process, the directory); empty when clean."""
        found = []
        if self.pid and _alive(self.pid):
            found.append(f"mariadbd process {self.pid} still running")
        if self.directory.exists():
            found.append(f"directory {self.directory} still there")
        return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return True


def find_binaries() -> tuple[str, str] | None:
    """(server, install-db) of an installed MariaDB (or MySQL-compatible) server, or None."""
    server = next(filter(None, (shutil.which(b, path=_SEARCH) for b in _SERVER_BINARIES)), None)
    install = next(filter(None, (shutil.which(b, path=_SEARCH) for b in _INSTALL_BINARIES)), None)
    return (server, install) if server and install else None


def start(timeout: float = 60.0) -> Server:
    """Initialise a data directory and start a server on a socket in it. As root the server
    runs as root (`--user=root`): a throwaway server in a private directory, and no system
    user to hand the directory to is needed."""
    binaries = find_binaries()
    if binaries is None:
        raise ServerError(
            "no MariaDB server installed (apt-get install mariadb-server; .ci/run does)"
        )
    server_binary, install_binary = binaries
    root = Path(tempfile.mkdtemp(prefix="schema-review-mariadb-"))
    data = root / "data"
    user = ["--user=root"] if os.geteuid() == 0 else []
    server = Server(root, str(root / "mysqld.sock"))
    try:
        install = subprocess.run(
            [
                install_binary,
                "--no-defaults",
                f"--datadir={data}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *user,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if install.returncode != 0:
            raise ServerError(f"mariadb-install-db failed: {install.stderr or install.stdout}")
        log = root / "error.log"
        server.process = subprocess.Popen(
            [
                server_binary,
                "--no-defaults",
                f"--datadir={data}",
                f"--socket={server.socket}",
                f"--pid-file={root / 'mysqld.pid'}",
                f"--log-error={log}",
                "--skip-networking",
                # MySQL 8's defaults, so histories written for it apply (MariaDB's own
                # default character set is latin1).
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_general_ci",
                # A throwaway server: no durability, a small buffer pool.
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-flush-method=nosync",
                "--innodb-doublewrite=0",
                "--innodb-file-per-table=0",
                "--innodb-buffer-pool-size=64M",
                "--skip-log-bin",
                *user,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server.pid = server.process.pid
        atexit.register(server.stop)
        server.version = _wait_ready(server, log, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_ready(server: Server, log: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        assert server.process is not None
        if server.process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ServerError(f"mariadbd exited with {server.process.returncode}:\n{tail}")
        try:
            # Probe the socket first: PyMySQL leaves its socket open when the connect fails.
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(server.socket)
            with server.connect() as connection, connection.cursor() as cursor:
                cursor.execute("SELECT VERSION()")
                row = cursor.fetchone()
                return str(row[0]) if row else ""
        except (OSError, pymysql.err.OperationalError) as error:
            if time.monotonic() > deadline:
                raise ServerError(f"mariadbd did not accept connections: {error}") from error
            time.sleep(0.1)
