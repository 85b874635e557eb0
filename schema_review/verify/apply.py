"""Apply a replayed migration history to a database the way its runner would.

Each file is sent as the runner sends it (profile.py): whole, as one multi-statement query,
for prisma and golang-migrate; statement by statement inside BEGIN ... COMMIT for runners
that wrap a file in a transaction; statement by statement in autocommit for a file run
outside one (psql, goose NO TRANSACTION, dbmate transaction:false, Flyway's CONCURRENTLY
files). A failing file is rolled back when it ran in a transaction, and the next file goes
on, as a developer's next attempt would; its outcome names the failing statement's line
and column with PostgreSQL's message, hint and SQLSTATE.

Decisions the runners leave open:
- drizzle applies every pending file in one transaction; here each file has its own, so one
  failure costs one file and not the whole history.
- Every file starts a new session (`DISCARD ALL`), as the replay assumes: a `SET` in one
  file does not reach the next.
- A file run outside a runner transaction that opens one (BEGIN) and never commits it is
  rolled back at its end (the session of a psql run ends there) and reported as failed.

Before the first file, `install_stand_ins` creates what the platform or the runner provides
(Supabase's roles, `auth` schema and functions, the `extensions` schema; diesel's
bookkeeping table), and `provide_extensions` makes extensions the server lacks available as
stand-ins (see `STAND_IN_EXTENSIONS`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from schema_review.parse import SourceFile, Statement
from schema_review.pipeline import ReplayedHistory
from schema_review.profile import Profile
from schema_review.verify.server import Server
from schema_review.verify.trace import Tracer

# Guards against a migration that waits forever: the database is ours alone, so a lock wait
# means a statement that deadlocks with itself (CREATE INDEX CONCURRENTLY beside an open
# transaction), and nothing in a migration of an empty schema should run for minutes.
STATEMENT_TIMEOUT = "120s"
LOCK_TIMEOUT = "30s"

# How a file is sent
IMPLICIT = "multi-statement query"
TRANSACTION = "transaction"
AUTOCOMMIT = "autocommit"


@dataclass(frozen=True, slots=True)
class Failure:
    """Where and why a file failed on the server."""

    file: str
    line: int
    column: int
    sqlstate: str
    message: str
    hint: str | None = None
    detail: str | None = None
    statement: str = ""
    offset: int = 0  # where in the file (characters): line and column, as an offset

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: {self.sqlstate or 'error'} {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text


@dataclass(frozen=True, slots=True)
class FileOutcome:
    file: str
    mode: str  # IMPLICIT, TRANSACTION or AUTOCOMMIT
    statements: int  # pieces of SQL sent (statements, or runs of text that did not parse)
    failure: Failure | None = None  # the first
    errors: int = 0  # statements that failed (more than one only with keep_going)

    @property
    def ok(self) -> bool:
        return self.failure is None


# -- pieces of a file ----------------------------------------------------------------------

_TRIVIA = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/|;)*", re.DOTALL)


class Piece(NamedTuple):
    """A part of a file sent on its own: source.text[start:end]; for COPY ... FROM STDIN,
    the data lines that follow it in the file (as psql reads them); `copy_out` for COPY ...
    TO STDOUT, whose rows are read and dropped."""

    start: int
    end: int
    data: str | None = None
    copy_out: bool = False
    statement: Statement | None = None  # None for text that did not parse


def pieces(source: SourceFile, statements: Sequence[Statement]) -> list[Piece]:
    """What a runner that splits the file sends: each parsed statement, and each stretch of
    text between them that did not parse (the server rejects it too, which is the point)."""
    text = source.text
    spans: list[Piece] = []
    cursor = 0
    for statement in statements:
        if statement.start < cursor:
            continue  # inside the data of a COPY
        _gap(text, cursor, statement.start, spans)
        cursor = statement.end
        data = None
        node = statement.node
        standard = statement.kind == "CopyStmt" and not node.get("filename")
        if standard and node.get("is_from"):
            data, cursor = _copy_data(text, statement.end)
        copy_out = standard and not node.get("is_from")
        spans.append(Piece(statement.start, statement.end, data, copy_out, statement))
    _gap(text, cursor, len(text), spans)
    return spans


def _copy_data(text: str, end: int) -> tuple[str, int]:
    """The data lines after a COPY ... FROM STDIN ending at `end`, up to a line `\\.` (or the
    end of the file), and the offset after them."""
    line_end = text.find("\n", end)
    if line_end == -1:
        return "", len(text)
    start = line_end + 1
    terminator = re.compile(r"^\\\.[ \t\r]*$", re.MULTILINE).search(text, start)
    if terminator is None:
        return text[start:], len(text)
    return text[start : terminator.start()], terminator.end()


def _gap(text: str, start: int, end: int, spans: list[Piece]) -> None:
    begin = _TRIVIA.match(text, start, end)
    first = begin.end() if begin else start
    if first >= end:
        return
    last = end
    while last > first and (text[last - 1].isspace() or text[last - 1] == ";"):
        last -= 1
    spans.append(Piece(first, last))


def _send(connection: psycopg.Connection[Any], source: SourceFile, piece: Piece) -> None:
    query = source.text[piece.start : piece.end].encode()
    if piece.copy_out:
        with connection.cursor() as cursor, cursor.copy(query) as copy:
            for _ in copy:
                pass
    elif piece.data is not None:
        with connection.cursor() as cursor, cursor.copy(query) as copy:
            copy.write(piece.data.encode())
    else:
        connection.execute(query)


# -- applying ------------------------------------------------------------------------------


def file_mode(profile: Profile, source: SourceFile) -> str:
    if profile.transaction_mode == "implicit":
        return IMPLICIT
    return TRANSACTION if source.transaction else AUTOCOMMIT


def apply_history(
    connection: psycopg.Connection[Any], history: ReplayedHistory
) -> list[FileOutcome]:
    """Apply every file of `history`, in order; one outcome a file."""
    return [
        apply_file(connection, source, parsed, file_mode(history.profile, source))
        for source, parsed in zip(history.sources, history.parsed, strict=True)
    ]


def apply_file(
    connection: psycopg.Connection[Any],
    source: SourceFile,
    statements: Sequence[Statement],
    mode: str,
    keep_going: bool = False,
    tracer: Tracer | None = None,
    rollback: bool = False,
) -> FileOutcome:
    """Apply one file on an autocommit connection (we send BEGIN and COMMIT, as runners do).

    `keep_going` (AUTOCOMMIT only): run every statement whatever fails, as psql does without
    ON_ERROR_STOP; for set-up scripts whose every part that can be made should be.
    `tracer`: each statement is sent through it (`verify --trace`); a multi-statement
    query then goes statement by statement in one transaction, which is what PostgreSQL
    makes of it. `rollback`: a trial: the file's transaction is rolled back at its end."""
    _new_session(connection)
    spans = pieces(source, statements)
    if not spans:
        return FileOutcome(source.display, mode, 0)
    whole = mode == IMPLICIT and tracer is None and not rollback
    if whole and not any(p.data is not None or p.copy_out for p in spans):
        return _apply_whole(connection, source, spans)
    if mode != AUTOCOMMIT:
        # (COPY ... FROM STDIN with its data cannot be part of one query: such a file of
        # an implicit runner goes statement by statement, in one transaction.)
        if tracer is not None:
            tracer.flush()
        connection.execute("BEGIN")
    if tracer is not None:
        tracer.started([p.statement for p in spans if p.statement is not None])
    failure = None
    errors = 0
    for piece in spans:
        try:
            if tracer is None:
                _send(connection, source, piece)
            else:
                tracer.run(
                    piece.statement,
                    *source.position(piece.start),
                    source.text[piece.start : piece.end],
                    functools.partial(_send, connection, source, piece),
                )
        except psycopg.Error as error:
            errors += 1
            failure = failure or _failure(source, piece.start, piece.end, error)
            if keep_going and mode == AUTOCOMMIT:
                if connection.info.transaction_status == TransactionStatus.INERROR:
                    connection.execute("ROLLBACK")
                continue
            break
    if keep_going and failure is not None:
        return FileOutcome(source.display, mode, len(spans), failure, errors)
    status = connection.info.transaction_status
    if failure is not None or (rollback and status != TransactionStatus.IDLE):
        if status != TransactionStatus.IDLE:
            connection.execute("ROLLBACK")
    elif status == TransactionStatus.INTRANS and mode != AUTOCOMMIT:
        connection.execute("COMMIT")
    elif status != TransactionStatus.IDLE:
        failure = _left_open(connection, source, spans)
    return FileOutcome(source.display, mode, len(spans), failure, errors)


def _left_open(
    connection: psycopg.Connection[Any], source: SourceFile, spans: list[Piece]
) -> Failure:
    """A file that opened a transaction (BEGIN) and never committed it: its session ends
    there, which rolls the transaction back."""
    connection.execute("ROLLBACK")
    return Failure(
        source.display,
        *source.position(spans[-1].end),
        "",
        "the file opens a transaction and never commits it: rolled back when its session ends",
        offset=spans[-1].end,
    )


def _apply_whole(
    connection: psycopg.Connection[Any], source: SourceFile, spans: list[Piece]
) -> FileOutcome:
    """The whole file as one simple query: PostgreSQL runs it as one implicit transaction
    (when it has more than one statement). On a failure without a position, the file is
    tried again statement by statement in a transaction that is rolled back, to name the
    statement that fails."""
    start, end = spans[0].start, spans[-1].end
    try:
        connection.execute(source.text[start:end].encode())
    except psycopg.Error as error:
        if connection.info.transaction_status != TransactionStatus.IDLE:
            connection.execute("ROLLBACK")
        failure = _failure(source, start, end, error, spans)
        if not error.diag.statement_position:
            probed = _probe(connection, source, spans)
            # The same error from one statement: that statement is where the file fails.
            if probed is not None and probed.sqlstate == failure.sqlstate:
                failure = probed
        return FileOutcome(source.display, IMPLICIT, len(spans), failure)
    if connection.info.transaction_status != TransactionStatus.IDLE:
        return FileOutcome(
            source.display, IMPLICIT, len(spans), _left_open(connection, source, spans)
        )
    return FileOutcome(source.display, IMPLICIT, len(spans))


def _probe(
    connection: psycopg.Connection[Any], source: SourceFile, spans: list[Piece]
) -> Failure | None:
    connection.execute("BEGIN")
    try:
        for piece in spans:
            try:
                _send(connection, source, piece)
            except psycopg.Error as error:
                return _failure(source, piece.start, piece.end, error)
        return None
    finally:
        if connection.info.transaction_status != TransactionStatus.IDLE:
            connection.execute("ROLLBACK")


def _failure(
    source: SourceFile,
    start: int,
    end: int,
    error: psycopg.Error,
    spans: Sequence[Piece] = (),
) -> Failure:
    """The failure of the text source.text[start:end]; with `spans`, the statement named is
    the one holding the error's position."""
    position = error.diag.statement_position
    offset = start
    if position and position.isdigit():
        # 1-based, in characters of the text sent.
        offset = min(start + int(position) - 1, end)
    for piece in spans:
        if piece.start <= offset <= piece.end:
            start, end = piece.start, piece.end
            break
    else:
        if spans:
            start, end = spans[0].start, spans[0].end
    at = offset if position else start
    line, column = source.position(at)
    return Failure(
        source.display,
        line,
        column,
        error.sqlstate or "",
        error.diag.message_primary or str(error).strip(),
        error.diag.message_hint,
        error.diag.message_detail,
        source.text[start:end],
        at,
    )


def _new_session(connection: psycopg.Connection[Any]) -> None:
    """What a new connection would be: no settings, temporary tables or prepared statements
    of an earlier file (the database's and role's settings apply again)."""
    if connection.info.transaction_status != TransactionStatus.IDLE:
        connection.execute("ROLLBACK")
    connection.execute("DISCARD ALL")
    connection.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(STATEMENT_TIMEOUT)))
    connection.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))


# -- what exists before the first migration ------------------------------------------------

# Extensions migrations create that the embedded server's build lacks (it has no pgcrypto
# or uuid-ossp). The stand-ins declare the functions migrations call, with the real
# signatures, as SQL functions; they are for building a schema, not for cryptography. As
# extension members they are left out of the catalog dump like the real ones.
STAND_IN_EXTENSIONS: dict[str, tuple[str, str]] = {
    "pgcrypto": (
        "1.3",
        """
CREATE FUNCTION gen_random_bytes(integer) RETURNS bytea LANGUAGE sql VOLATILE STRICT AS
$$ SELECT substring(decode(string_agg(replace(gen_random_uuid()::text, '-', ''), ''), 'hex')
   FROM 1 FOR $1) FROM generate_series(0, $1 / 16) $$;
CREATE FUNCTION digest(bytea, text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS
$$ SELECT CASE lower($2) WHEN 'md5' THEN decode(md5($1), 'hex') WHEN 'sha224' THEN sha224($1)
   WHEN 'sha384' THEN sha384($1) WHEN 'sha512' THEN sha512($1) ELSE sha256($1) END $$;
CREATE FUNCTION digest(text, text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS
$$ SELECT digest(convert_to($1, 'UTF8'), $2) $$;
CREATE FUNCTION hmac(bytea, bytea, text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS
$$ SELECT digest($2 || $1, $3) $$;
CREATE FUNCTION hmac(text, text, text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS
$$ SELECT digest($2 || $1, $3) $$;
CREATE FUNCTION gen_salt(text) RETURNS text LANGUAGE sql VOLATILE STRICT AS
$$ SELECT '$' || $1 || '$' || encode(gen_random_bytes(8), 'hex') $$;
CREATE FUNCTION gen_salt(text, integer) RETURNS text LANGUAGE sql VOLATILE STRICT AS
$$ SELECT gen_salt($1) $$;
CREATE FUNCTION crypt(text, text) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS
$$ SELECT $2 || md5($2 || $1) $$;
CREATE FUNCTION pgp_sym_encrypt(text, text) RETURNS bytea LANGUAGE sql VOLATILE STRICT AS
$$ SELECT convert_to($1, 'UTF8') $$;
CREATE FUNCTION pgp_sym_decrypt(bytea, text) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS
$$ SELECT convert_from($1, 'UTF8') $$;
CREATE FUNCTION encrypt(bytea, bytea, text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS
$$ SELECT $1 $$;
CREATE FUNCTION decrypt(bytea, bytea, text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS
$$ SELECT $1 $$;
""",
    ),
    "uuid-ossp": (
        "1.1",
        """
CREATE FUNCTION uuid_nil() RETURNS uuid LANGUAGE sql IMMUTABLE AS
$$ SELECT '00000000-0000-0000-0000-000000000000'::uuid $$;
CREATE FUNCTION uuid_ns_dns() RETURNS uuid LANGUAGE sql IMMUTABLE AS
$$ SELECT '6ba7b810-9dad-11d1-80b4-00c04fd430c8'::uuid $$;
CREATE FUNCTION uuid_ns_url() RETURNS uuid LANGUAGE sql IMMUTABLE AS
$$ SELECT '6ba7b811-9dad-11d1-80b4-00c04fd430c8'::uuid $$;
CREATE FUNCTION uuid_ns_oid() RETURNS uuid LANGUAGE sql IMMUTABLE AS
$$ SELECT '6ba7b812-9dad-11d1-80b4-00c04fd430c8'::uuid $$;
CREATE FUNCTION uuid_ns_x500() RETURNS uuid LANGUAGE sql IMMUTABLE AS
$$ SELECT '6ba7b814-9dad-11d1-80b4-00c04fd430c8'::uuid $$;
CREATE FUNCTION uuid_generate_v1() RETURNS uuid LANGUAGE sql VOLATILE AS
$$ SELECT gen_random_uuid() $$;
CREATE FUNCTION uuid_generate_v1mc() RETURNS uuid LANGUAGE sql VOLATILE AS
$$ SELECT gen_random_uuid() $$;
CREATE FUNCTION uuid_generate_v3(namespace uuid, name text) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT md5($1::text || $2)::uuid $$;
CREATE FUNCTION uuid_generate_v4() RETURNS uuid LANGUAGE sql VOLATILE AS
$$ SELECT gen_random_uuid() $$;
CREATE FUNCTION uuid_generate_v5(namespace uuid, name text) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT md5($1::text || $2)::uuid $$;
""",
    ),
}


def provide_extensions(server: Server) -> list[str]:
    """Make the stand-in extensions available on a server we own that lacks them
    (PostgreSQL 18's extension_control_path points at a folder of ours); returns their
    names. A server given by URL, or older than 18, has what it has."""
    if not server.owned or server.directory is None or server.version < 18:
        return []
    with server.connect() as connection:
        available = {
            row[0] for row in connection.execute("SELECT name FROM pg_available_extensions")
        }
        missing = [name for name in STAND_IN_EXTENSIONS if name not in available]
        if not missing:
            return []
        folder = server.directory / "stand-ins"
        extension = folder / "extension"
        extension.mkdir(parents=True, exist_ok=True)
        for name in missing:
            version, script = STAND_IN_EXTENSIONS[name]
            (extension / f"{name}.control").write_text(
                f"comment = 'schema-review stand-in for {name}'\n"
                f"default_version = '{version}'\nrelocatable = true\ntrusted = true\n",
                encoding="utf-8",
            )
            (extension / f"{name}--{version}.sql").write_text(script, encoding="utf-8")
        for path in (folder, extension, *extension.iterdir()):
            path.chmod(0o755 if path.is_dir() else 0o644)
        connection.execute(
            sql.SQL("ALTER SYSTEM SET extension_control_path = {}").format(
                sql.Literal(f"$system:{folder}")
            )
        )
        connection.execute("SELECT pg_reload_conf()")
    return missing


SUPABASE_ROLES = (
    "anon",
    "authenticated",
    "service_role",
    "authenticator",
    "supabase_admin",
    "supabase_auth_admin",
    "supabase_storage_admin",
    "dashboard_user",
)

# What a Supabase project has before its first migration, as far as migrations touch it:
# the API roles, `auth.users` with the columns the replay assumes (model/replay.py,
# platform_objects), the auth helper functions, and the preinstalled extensions in the
# `extensions` schema, which the database's search_path includes.
SUPABASE = """
CREATE SCHEMA IF NOT EXISTS extensions;
CREATE SCHEMA IF NOT EXISTS auth;
CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA extensions;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA extensions;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements WITH SCHEMA extensions;
GRANT USAGE ON SCHEMA public, extensions TO anon, authenticated, service_role;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
CREATE TABLE auth.users (
    id uuid NOT NULL PRIMARY KEY,
    email character varying(255),
    phone text,
    created_at timestamp with time zone,
    updated_at timestamp with time zone,
    raw_user_meta_data jsonb
);
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS
$$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;
CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS
$$ SELECT nullif(current_setting('request.jwt.claim.role', true), '')::text $$;
CREATE FUNCTION auth.email() RETURNS text LANGUAGE sql STABLE AS
$$ SELECT nullif(current_setting('request.jwt.claim.email', true), '')::text $$;
CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS
$$ SELECT coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb $$;
"""

# diesel's CLI creates its bookkeeping table before the first migration.
DIESEL = """
CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (
    version character varying(50) PRIMARY KEY NOT NULL,
    run_on timestamp without time zone NOT NULL DEFAULT CURRENT_TIMESTAMP
);
"""


def install_stand_ins(
    connection: psycopg.Connection[Any],
    profile: Profile,
    extra: Sequence[Path] = (),
) -> None:
    """Create what the platform and runner of `profile` provide before the first migration,
    then run the `extra` SQL files (a history's own set-up, such as an image's init
    scripts), each as one query."""
    _new_session(connection)
    if profile.supabase:
        for role in SUPABASE_ROLES:
            exists = connection.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)
            ).fetchone()
            if not exists:
                connection.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        connection.execute(SUPABASE.encode())
        database = connection.info.dbname
        connection.execute(
            sql.SQL('ALTER DATABASE {} SET search_path = "$user", public, extensions').format(
                sql.Identifier(database)
            )
        )
    if profile.runner == "diesel":
        connection.execute(DIESEL.encode())
    for path in extra:
        connection.execute(path.read_text(encoding="utf-8").encode())
