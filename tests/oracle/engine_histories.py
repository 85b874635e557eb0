"""The MySQL and SQLite migration histories of the corpus, each with its files in the order its
runner applies them (MANIFEST.md of the corpus says which runner each project uses).

The order is worked out here, apart from `schema_review.discover`, from each runner's rules:
the oracle checks the model against what the engine builds from the files the runner would
apply, so it must not borrow the tool's own idea of the order.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tests.oracle import CORPUS


@dataclass(frozen=True)
class EngineHistory:
    id: str
    dialect: str  # "mysql" or "sqlite"
    folder: str  # relative to the corpus: the history's folder
    runner: str  # whose order the files are in
    list_files: Callable[[Path], list[Path]]
    mixed: bool = False  # the folder holds files of other dialects too (pop)
    # What `schema --format json` is given for the model, relative to `folder` (the folder
    # itself by default).
    model_path: str = "."
    # SQLite functions the application registers (tests/oracle/engines.py SQLITE_FUNCTIONS)
    functions: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        return CORPUS / self.folder

    @property
    def model_target(self) -> Path:
        return (self.path / self.model_path) if self.model_path != "." else self.path

    @property
    def available(self) -> bool:
        return self.path.is_dir()

    def files(self) -> list[Path]:
        return self.list_files(self.path)


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text))


def flyway(folder: Path) -> list[Path]:
    """Flyway: `V<version>__<description>.sql`, by version (`1.2` < `1.10`)."""
    found = []
    for path in folder.glob("V*__*.sql"):
        match = re.match(r"V([\d._]+)__", path.name)
        if match:
            found.append((_numbers(match.group(1)), path))
    return [path for _, path in sorted(found)]


def authelia(folder: Path) -> list[Path]:
    """Authelia's own migrator: `V<NNNN>.<Name>.up.sql`, by number."""
    found = []
    for path in folder.glob("V*.up.sql"):
        match = re.match(r"V(\d+)\.", path.name)
        if match:
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def sqlx(folder: Path) -> list[Path]:
    """sqlx: `<version>_<description>.sql` (or `.up.sql` when reversible), by version."""
    found = []
    for path in folder.glob("*.sql"):
        match = re.match(r"(\d+)_", path.name)
        if match and not path.name.endswith(".down.sql"):
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def diesel(folder: Path) -> list[Path]:
    """diesel: one folder per migration, by name (its date prefix), each with `up.sql`."""
    return [d / "up.sql" for d in sorted(folder.iterdir()) if (d / "up.sql").is_file()]


def prisma(folder: Path) -> list[Path]:
    """prisma: one folder per migration, in string order, each with `migration.sql`."""
    return [
        d / "migration.sql" for d in sorted(folder.iterdir()) if (d / "migration.sql").is_file()
    ]


_POP_SYNONYMS = {
    "mariadb": "mysql",
    "sqlite": "sqlite3",
    "postgresql": "postgres",
    "pg": "postgres",
}


def pop(dialect: str) -> Callable[[Path], list[Path]]:
    """Ory popx: `<version>_<name>[.<dialect>][.autocommit].up.sql`; for one version the
    file of the database's dialect replaces the dialect-free one (SortAndFilter); by version."""

    def files(folder: Path) -> list[Path]:
        chosen: dict[int, tuple[bool, Path]] = {}
        for path in folder.glob("*.up.sql"):
            match = re.fullmatch(r"(\d+)_[^.]+((?:\.[A-Za-z0-9]+)*)\.up\.sql", path.name)
            if not match:
                continue
            infixes = [i for i in match.group(2).split(".") if i and i != "autocommit"]
            named = _POP_SYNONYMS.get(infixes[0], infixes[0]) if infixes else None
            if named not in (None, dialect):
                continue
            version = int(match.group(1))
            specific = named is not None
            if version not in chosen or (specific and not chosen[version][0]):
                chosen[version] = (specific, path)
        return [path for _, (_, path) in sorted(chosen.items())]

    return files


def temporal_versioned(folder: Path) -> list[Path]:
    """temporal-sql-tool: `versioned/v<major>.<minor>/*.sql` by version; within a version the
    files by name (the tool reads their order from a manifest.json the corpus does not
    keep)."""
    versions = sorted((folder / "versioned").iterdir(), key=lambda d: _numbers(d.name))
    return [f for d in versions for f in sorted(d.glob("*.sql"))]


def single(name: str) -> Callable[[Path], list[Path]]:
    """One file that builds the whole schema (temporal's `schema.sql`)."""
    return lambda folder: [folder / name]


_HISTORIES = [
    # MySQL
    EngineHistory("authelia-mysql", "mysql", "authelia/mysql", "authelia", authelia),
    EngineHistory(
        "conductor-mysql", "mysql", "conductor/mysql-persistence/migration", "flyway", flyway
    ),
    EngineHistory(
        "conductor-scheduler-mysql",
        "mysql",
        "conductor/scheduler-mysql/migration_scheduler_mysql",
        "flyway",
        flyway,
    ),
    EngineHistory("kratos-mysql", "mysql", "kratos", "pop", pop("mysql"), mixed=True),
    EngineHistory(
        "temporal-mysql",
        "mysql",
        "temporal/mysql/v8/temporal",
        "temporal",
        temporal_versioned,
        model_path="versioned",
    ),
    EngineHistory(
        "temporal-mysql-schema",
        "mysql",
        "temporal/mysql/v8/temporal",
        "schema.sql",
        single("schema.sql"),
    ),
    EngineHistory(
        "temporal-mysql-visibility",
        "mysql",
        "temporal/mysql/v8/visibility",
        "temporal",
        temporal_versioned,
        model_path="versioned",
    ),
    EngineHistory(
        "temporal-mysql-visibility-schema",
        "mysql",
        "temporal/mysql/v8/visibility",
        "schema.sql",
        single("schema.sql"),
    ),
    EngineHistory("umami-mysql", "mysql", "umami-mysql", "prisma", prisma),
    # SQLite
    *(
        EngineHistory(f"atuin-{name.replace('/', '-')}", "sqlite", f"atuin/{name}", "sqlx", sqlx)
        for name in (
            "atuin-ai/migrations",
            "atuin-client/migrations",
            "atuin-client/meta-migrations",
            "atuin-client/record-migrations",
            "atuin-kv/migrations",
            "atuin-scripts/migrations",
            "atuin-server-sqlite/migrations",
        )
    ),
    EngineHistory(
        "authelia-sqlite", "sqlite", "authelia/sqlite", "authelia", authelia, functions=("BIN2B64",)
    ),
    EngineHistory("chirpstack-sqlite", "sqlite", "chirpstack/sqlite", "diesel", diesel),
    EngineHistory(
        "conductor-sqlite",
        "sqlite",
        "conductor/sqlite-persistence/migration_sqlite",
        "flyway",
        flyway,
    ),
    EngineHistory(
        "conductor-scheduler-sqlite",
        "sqlite",
        "conductor/scheduler-sqlite/migration_scheduler_sqlite",
        "flyway",
        flyway,
    ),
    EngineHistory("kratos-sqlite", "sqlite", "kratos", "pop", pop("sqlite3"), mixed=True),
    # temporal's SQLite store builds its schema from schema.sql; the versioned updates start
    # at v0.2 and upgrade a database made by an older schema.sql, not kept in the corpus.
    EngineHistory(
        "temporal-sqlite-schema",
        "sqlite",
        "temporal/sqlite/v3/temporal",
        "schema.sql",
        single("schema.sql"),
    ),
    EngineHistory(
        "temporal-sqlite-visibility-schema",
        "sqlite",
        "temporal/sqlite/v3/visibility",
        "schema.sql",
        single("schema.sql"),
    ),
]


@cache
def engine_histories() -> dict[str, EngineHistory]:
    return {history.id: history for history in _HISTORIES}
