"""The profile a run lints for: the dialect, the PostgreSQL version and the migration runner.

Both remove whole classes of false positives: a constant default is cheap since PostgreSQL 11,
and CREATE INDEX CONCURRENTLY only fails where the runner wraps the file in a transaction.
A leaf module: settings, discovery, replay and rules all read it.
"""

from __future__ import annotations

import re
from pathlib import Path

from schema_review.records import Record

DEFAULT_PG_VERSION = 16
SUPPORTED_PG_VERSIONS = range(9, 19)

# How each runner sends a migration file to PostgreSQL:
#   file      each file in its own transaction (BEGIN ... COMMIT around it)
#   implicit  the whole file as one multi-statement query: PostgreSQL runs it as one implicit
#             transaction, unless the file has a single statement
#   all       every pending file in one transaction (drizzle's migrator)
#   none      statement by statement, autocommit (psql without --single-transaction)
RUNNERS: dict[str, str] = {
    "none": "none",
    "drizzle": "all",
    "prisma": "implicit",
    "flyway": "file",
    "golang-migrate": "implicit",
    "goose": "file",
    "dbmate": "file",
    "diesel": "file",
    "sqlx": "file",
    "supabase": "file",
    "rails": "file",
    "pop": "file",
}

# Per-file opt-outs of the runner's transaction.
# (Pattern and flags, compiled when first used.)
_NO_TRANSACTION = {
    "goose": (r"^\s*--\s*\+goose\s+NO\s+TRANSACTION\b", re.IGNORECASE | re.MULTILINE),
    "dbmate": (r"^\s*--\s*migrate:up\b.*\btransaction:false\b", re.MULTILINE),
    "sqlx": (r"\A\s*--\s*no-transaction\b", 0),
}
# Words each of those comments holds, in lower case: a file without them is not searched (a
# case-blind search of each file costs more than lowering it and looking for words).
_NO_TRANSACTION_WORDS = {
    "goose": ("+goose", "transaction"),
    "dbmate": ("transaction:false",),
    "sqlx": ("no-transaction",),
}


# How a runner lets one migration run outside its transaction (CREATE INDEX CONCURRENTLY and
# the other CONCURRENTLY statements refuse a transaction block): the comment lines that start
# such a migration in a fix. The first line says where the migration goes (the reader's, not
# part of the file); the others are the file's own first lines. Runners missing here need
# nothing (none, flyway: a file of CONCURRENTLY statements runs outside one; prisma and
# golang-migrate: a file of one statement does).
_OWN_FILE = "-- in a migration of its own"
_OUTSIDE_TRANSACTION: dict[str, str] = {
    "goose": f"{_OWN_FILE}, which goose runs outside a transaction:\n-- +goose Up\n"
    "-- +goose NO TRANSACTION\n",
    "dbmate": f"{_OWN_FILE}, which dbmate runs outside a transaction:\n"
    "-- migrate:up transaction:false\n",
    "sqlx": f"{_OWN_FILE}, whose first line keeps sqlx from opening a transaction:\n"
    "-- no-transaction\n",
    "diesel": f"{_OWN_FILE}, with run_in_transaction = false in its metadata.toml"
    " (diesel then runs it outside a transaction):\n",
    "pop": f"{_OWN_FILE}, named <version>_<name>.autocommit.up.sql (Ory popx runs it"
    " outside a transaction; gobuffalo pop cannot: run it by hand):\n",
    "prisma": f"{_OWN_FILE} that holds only this statement (prisma runs a migration of one"
    " statement outside a transaction):\n",
    "golang-migrate": f"{_OWN_FILE} that holds only this statement (one statement runs"
    " outside a transaction):\n",
    "drizzle": "-- outside the migration tool: drizzle runs all pending migrations in one"
    " transaction and has no way out of it; run this with psql before the deploy:\n",
    "supabase": "-- outside the migration tool: the Supabase CLI runs each migration in a"
    " transaction and has no way out of it; run this with psql before the deploy:\n",
    "rails": "-- outside the migration tool: in a Rails migration with"
    " disable_ddl_transaction!, or with psql before the deploy:\n",
}

# How a team deploys: `online` (the application keeps serving while migrations run: a lock
# stalls it) or `offline` (it is stopped meanwhile: a lock waits for nobody, and the rules
# whose only harm is such a lock, `lock_only` in the rule files, report info).
DEPLOYS = ("online", "offline")
DEFAULT_DEPLOY = "online"

# ORMs that generate the migration files from a schema file of their own: what they write is
# not the team's to change (quoted mixed-case names, timestamp(3), serial keys, an ALTER per
# column), so the rules about it (`orm_generated` in the rule files) are off by default under
# their runner, unless the team selects them by id.
ORM_RUNNERS = frozenset({"prisma", "drizzle", "diesel"})


# What the database is deployed on. `supabase` knows the platform's schemas (auth, storage),
# roles (anon, authenticated, service_role), its preinstalled extensions and that the tables
# of `public` are exposed through its HTTP API.
PLATFORMS = ("postgres", "supabase")

# The roles Supabase grants EXECUTE on new functions in public to (its default privileges).
SUPABASE_API_ROLES = frozenset({"anon", "authenticated", "service_role"})
SUPABASE_EXTENSIONS = frozenset(
    {
        "plpgsql",
        "pgcrypto",
        "uuid-ossp",
        "pgjwt",
        "pg_stat_statements",
        "pg_graphql",
        "supabase_vault",
    }
)


# The SQL dialects a history can be written in. MariaDB is read as MySQL (the same grammar
# for migrations, and sqlglot's one MySQL dialect); CockroachDB is not one of them.
DIALECTS = ("postgres", "mysql", "sqlite")
# How the configuration, `--dialect` and the tools name them (Prisma's `postgresql`, pop's
# `sqlite3`...): the spelling -> the dialect.
DIALECT_NAMES: dict[str, str] = {
    "postgres": "postgres",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
    "sqlite3": "sqlite",
}
DIALECT_LABELS = {"postgres": "PostgreSQL", "mysql": "MySQL", "sqlite": "SQLite"}


class Profile(Record):
    _fields = ("pg_version", "runner", "platform", "deploy", "dialect")
    __slots__ = _fields

    pg_version: int
    runner: str
    platform: str
    deploy: str
    # The database the history is written for: postgres, mysql (MariaDB too) or sqlite.
    dialect: str

    def __init__(
        self,
        pg_version: int = DEFAULT_PG_VERSION,
        runner: str = "none",
        platform: str = "postgres",
        deploy: str = DEFAULT_DEPLOY,
        dialect: str = "postgres",
    ) -> None:
        self.pg_version = pg_version
        self.runner = runner
        self.platform = platform
        self.deploy = deploy
        self.dialect = dialect

    @property
    def offline(self) -> bool:
        return self.deploy == "offline"

    @property
    def orm(self) -> str:
        """The ORM that generates the files (prisma, drizzle, diesel), or ''."""
        return self.runner if self.runner in ORM_RUNNERS else ""

    @property
    def outside_transaction(self) -> str:
        """What starts a fix's migration that must run outside a transaction (CONCURRENTLY)
        under this runner: '' when a new file of such statements needs nothing."""
        return _OUTSIDE_TRANSACTION.get(self.runner, "")

    @property
    def supabase(self) -> bool:
        return self.platform == "supabase"

    @property
    def exposed_schemas(self) -> tuple[str, ...]:
        """Schemas whose tables anyone with the API key can query (row level security is
        their only guard)."""
        return ("public",) if self.supabase else ()

    @property
    def preinstalled_extensions(self) -> frozenset[str]:
        return SUPABASE_EXTENSIONS if self.supabase else frozenset({"plpgsql"})

    @property
    def transaction_mode(self) -> str:
        return RUNNERS.get(self.runner, "none")


def file_in_transaction(runner: str, text: str, name: str = "", path: Path | None = None) -> bool:
    """Whether `runner` wraps this file (`name` is its file name, `path` where it is) in a
    transaction, before counting its statements.

    For `implicit` runners a file of one statement is not in a transaction; the replay, which
    counts statements, decides that case.
    """
    mode = RUNNERS.get(runner, "none")
    if mode == "none":
        return False
    if runner == "diesel" and path is not None and not _diesel_transaction(path.parent):
        return False
    if runner == "pop" and ".autocommit." in name.lower():
        return False  # Ory popx runs `<version>_<name>[.<dialect>].autocommit.up.sql` bare
    if runner == "flyway" and "concurrently" in text.lower():
        # Flyway runs a PostgreSQL migration with non-transactional statements (CONCURRENTLY)
        # outside a transaction (and refuses one that mixes both kinds unless `mixed`).
        return False
    opt_out = _NO_TRANSACTION.get(runner)
    if opt_out is None:
        return True
    lowered = text.lower()
    if not all(word in lowered for word in _NO_TRANSACTION_WORDS[runner]):
        return True
    pattern, flags = opt_out
    return re.search(pattern, text, flags) is None


def _diesel_transaction(folder: Path) -> bool:
    """diesel runs a migration in a transaction unless the `metadata.toml` next to its
    up.sql says `run_in_transaction = false`."""
    import tomllib

    metadata = folder / "metadata.toml"
    try:
        with metadata.open("rb") as handle:
            settings = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError):
        return True  # no file, or one diesel would refuse too: its default
    return settings.get("run_in_transaction", True) is not False


def detect_platform(runner: str, root: str) -> tuple[str, str]:
    """`supabase` for a `supabase/migrations` folder (or one linted with its runner), and
    what gave it away ('' for the default, `postgres`)."""
    if "supabase/migrations" in root.replace("\\", "/"):
        return "supabase", "a supabase/migrations folder"
    if runner == "supabase":
        return "supabase", "the supabase runner"
    return "postgres", ""


def detect_runner(convention: str, root: str, texts: list[str]) -> tuple[str, str]:
    """The runner a migration folder is written for, from its layout and its annotations,
    and what gave it away ('' when nothing did: `none`)."""
    by_convention = {"drizzle": "drizzle", "prisma": "prisma", "flyway": "flyway", "pop": "pop"}
    if convention in by_convention:
        return by_convention[convention], f"{convention}'s file layout"
    if convention == "folder-per-migration":
        return "diesel", "a folder per migration with up.sql"
    if any("+goose" in t for t in texts):
        return "goose", "+goose annotations"
    if any("migrate:up" in t for t in texts):
        return "dbmate", "migrate:up annotations"
    if "supabase/migrations" in root.replace("\\", "/"):
        return "supabase", "a supabase/migrations folder"
    return "none", ""


# Placeholders the migration runner fills in before sending a file: a Go template action on one
# line (pop and Ory's popx run every file through Go's text/template:
# `{{ index .Options "Namespace" }}`), and a Flyway placeholder (`${schema}`,
# `${flyway:defaultSchema}`).
PLACEHOLDER = r"\{\{[^\n]*?\}\}|\$\{[^\s{}$]+\}"
_FLYWAY_PLACEHOLDER = r"\$\{[^\s{}$]+\}"  # compiled when first used (re's cache)


def placeholder_key(text: str) -> str | None:
    """How a placeholder is configured and matched: a Flyway placeholder as written; a Go
    template action with the whitespace inside its braces normalised (`{{index .X "a"}}` and
    `{{- index .X "a" -}}` are `{{ index .X "a" }}`). None for text that is neither."""
    if text.startswith("${"):
        return text if re.fullmatch(_FLYWAY_PLACEHOLDER, text) else None
    if not (text.startswith("{{") and text.endswith("}}") and len(text) >= 4):
        return None
    if "\n" in text:
        return None
    inner = text[2:-2].strip()
    # Go's trim markers (`{{- ` and ` -}}`) only change the whitespace around the output.
    if inner.startswith("- ") or inner == "-":
        inner = inner[1:]
    if inner.endswith(" -"):
        inner = inner[:-1]
    return "{{ " + " ".join(inner.split()) + " }}"
