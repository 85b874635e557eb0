"""Discovery: which migration files a path holds, and the order the migration tool applies them.

The first stage of a run. It reads folder listings (and a drizzle journal) but never parses SQL.
Conventions recognised, by file and folder names:

- numbered files, `<version>_<name>.sql`: golang-migrate, goose, dbmate, sqlx, supabase, plain;
  versions compare as numbers (2 before 10); dates and timestamps compare field by field;
- `.up.sql` / `.down.sql` pairs (golang-migrate, sqlx, pop): down files are never replayed;
  pop's dialect infixes (`.postgres.up.sql`) keep the PostgreSQL and dialect-free files only;
- Flyway: `V<version>__<description>.sql` (versions like `1.10` or `1_10`), undo files `U...` are
  down files, repeatable `R__...` files run after every versioned one;
- one folder per migration: `<version>_<name>/up.sql` (diesel) or `/migration.sql` (prisma);
- drizzle: `meta/_journal.json` decides order; files it does not list are not applied by drizzle and
  are reported in `MigrationSet.unjournaled`.

A folder is one migration set, replayed into one schema. A folder without migrations of its own is
searched one level deeper at a time, each sub-folder with migrations becoming its own set. Files
named one by one are linted in the order given.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DiscoveryError",
    "MigrationFile",
    "MigrationSet",
    "discover",
    "forward_sql",
    "version_key",
]

# Folder-per-migration file names, forward and down.
_FOLDER_UP = ("up.sql", "migration.sql")
_FOLDER_DOWN = ("down.sql",)
# pop-style dialect infixes: `<name>.<dialect>.up.sql`. Only these dialects are recognised as
# infixes so that a dotted name (`V0006.Consent.up.sql`) is never mistaken for one.
_POSTGRES_INFIXES = frozenset({"postgres", "postgresql", "pg"})
_OTHER_INFIXES = frozenset(
    {"mysql", "mariadb", "sqlite", "sqlite3", "cockroach", "cockroachdb", "mssql", "sqlserver"}
)
_SKIPPED_FOLDERS = frozenset({"node_modules", "__pycache__", "venv", ".venv"})
# How deep a folder without migrations of its own is searched for migration folders.
_MAX_DEPTH = 4

_FLYWAY = re.compile(r"(?P<kind>[VUR])(?P<version>\d+(?:[._]\d+)*)?__(?P<name>.*)\Z", re.IGNORECASE)
# A version is a run of digits, optionally in fields separated by `-` or `.` (diesel's
# `2022-11-02-090533`, `1.2`), after an optional `V`; `_` separates the version from the name.
_VERSION = re.compile(r"[Vv]?(?P<version>\d+(?:[-.]\d+)*)(?:[_\-.](?P<name>.*))?\Z")


class DiscoveryError(Exception):
    """A path given on the command line that cannot be linted (missing, unreadable)."""


@dataclass(frozen=True, slots=True)
class MigrationFile:
    """One forward migration: the file replayed, and its down file when the convention has one."""

    path: Path
    display: str
    version: str
    name: str
    down: Path | None = None


@dataclass(frozen=True, slots=True)
class MigrationSet:
    """Migrations replayed one after the other into one schema.

    `root` is the folder (None for files named one by one); `convention` names the layout found;
    `notes` say what discovery decided that a user may not expect (files skipped, journal problems);
    `unjournaled` lists files of a drizzle folder that its journal does not apply.
    """

    root: Path | None
    convention: str
    files: tuple[MigrationFile, ...]
    notes: tuple[str, ...] = ()
    unjournaled: tuple[Path, ...] = ()
    journal: Path | None = None  # drizzle's meta/_journal.json
    journal_missing: tuple[str, ...] = ()  # journal entries with no file


@dataclass(frozen=True, slots=True)
class _Candidate:
    path: Path
    version: tuple[int, ...] | None
    version_text: str
    name: str
    down: bool
    repeatable: bool = False
    flyway: bool = False
    folder: bool = False
    updown: bool = False
    down_path: Path | None = None  # a folder migration's down.sql


STDIN = "-"  # the path that stands for standard input


def discover(
    paths: Sequence[str | Path], exclude: Sequence[str] = (), stdin_name: str = "<stdin>"
) -> list[MigrationSet]:
    """The migration sets of `paths`, in the order given; each folder becomes its own set(s).

    Consecutive file arguments form one set, linted in the order given. `exclude` holds glob
    patterns matched against a file's path relative to its folder, its display path and its name.
    """
    sets: list[MigrationSet] = []
    loose: list[MigrationFile] = []
    for raw in paths:
        path = Path(raw)
        if str(raw) == STDIN:
            loose.append(MigrationFile(path, stdin_name, "", Path(stdin_name).stem))
            continue
        try:
            is_dir = stat.S_ISDIR(os.stat(path).st_mode)
        except OSError:
            raise DiscoveryError(f"{raw}: no such file or directory") from None
        if is_dir:
            if loose:
                sets.append(MigrationSet(None, "files", tuple(loose)))
                loose = []
            sets.extend(_discover_folder(path, exclude, 0))
        elif not _excluded(path, path.name, exclude):
            loose.append(MigrationFile(path, _display(path), "", path.stem))
    if loose:
        sets.append(MigrationSet(None, "files", tuple(loose)))
    return sets


def forward_sql(text: str) -> str:
    """The Up part of a migration file, with every line kept so that line numbers stay true.

    goose (`-- +goose Down`) and dbmate (`-- migrate:down`) keep both directions in one file: the
    down section is blanked. goose's `-- +goose StatementEnd` also ends a statement, so its line
    becomes a `;` (a goose block's last statement may lack one).
    """
    if "+goose" not in text and "migrate:" not in text:
        return text
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    down = False
    for line in lines:
        marker = _annotation(line)
        if marker in ("up", "down"):
            down = marker == "down"
        elif marker == "statement-end" and not down:
            ending = line[len(line.rstrip("\r\n")) :]
            body = line[: len(line) - len(ending)]
            out.append(";" + " " * (len(body) - 1) + ending)
            continue
        if down:
            out.append(line[len(line.rstrip("\r\n")) :])
        else:
            out.append(line)
    return "".join(out)


_ANNOTATION = re.compile(
    r"\s*--\s*(?:\+goose\s+(?P<goose>up|down|statementend)\b|migrate:(?P<dbmate>up|down)\b)",
    re.IGNORECASE,
)


def _annotation(line: str) -> str | None:
    match = _ANNOTATION.match(line)
    if match is None:
        return None
    word = (match.group("goose") or match.group("dbmate")).lower()
    return "statement-end" if word == "statementend" else word


def _discover_folder(folder: Path, exclude: Sequence[str], depth: int) -> list[MigrationSet]:
    journal = folder / "meta" / "_journal.json"
    if journal.is_file():
        return [_drizzle_set(folder, journal, exclude)]
    candidates, skipped, subfolders = _scan(folder, folder, exclude)
    if candidates:
        return [_ordered_set(folder, candidates, skipped)]
    if depth >= _MAX_DEPTH:
        return []
    sets: list[MigrationSet] = []
    for sub in subfolders:
        sets.extend(_discover_folder(sub, exclude, depth + 1))
    return sets


def _scan(
    folder: Path, root: Path, exclude: Sequence[str]
) -> tuple[list[_Candidate], list[str], list[Path]]:
    """The migration candidates directly in `folder`, notes on skipped files, its sub-folders."""
    candidates: list[_Candidate] = []
    skipped: list[str] = []
    subfolders: list[Path] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as error:
        raise DiscoveryError(f"{folder}: cannot list folder: {error.strerror}") from error
    other_dialect = 0
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        relative = path.relative_to(root).as_posix()
        if _excluded(path, relative, exclude):
            continue
        if entry.is_dir():
            migration = _folder_migration(path, root, exclude)
            if migration is not None:
                candidates.append(migration)
            elif entry.name not in _SKIPPED_FOLDERS:
                subfolders.append(path)
            continue
        if not entry.name.lower().endswith(".sql"):
            continue
        candidate = _file_candidate(path)
        if candidate is None:
            other_dialect += 1
        else:
            candidates.append(candidate)
    if other_dialect:
        skipped.append(
            f"{other_dialect} file(s) for other database dialects (by their name's infix) skipped"
        )
    return candidates, skipped, subfolders


def _folder_migration(folder: Path, root: Path, exclude: Sequence[str]) -> _Candidate | None:
    """`<version>_<name>/up.sql` or `/migration.sql`: one migration held by a folder."""
    for up_name in _FOLDER_UP:
        up = folder / up_name
        if up.is_file() and not _excluded(up, up.relative_to(root).as_posix(), exclude):
            version, version_text, name = _split_version(folder.name)
            down = next((folder / n for n in _FOLDER_DOWN if (folder / n).is_file()), None)
            return _Candidate(
                up, version, version_text, name, down=False, folder=True, down_path=down
            )
    return None


def _file_candidate(path: Path) -> _Candidate | None:
    """What a `.sql` file's name says; None for a file of another dialect."""
    stem = path.name[: -len(".sql")]
    down = False
    updown = False
    lowered = stem.lower()
    if lowered.endswith((".up", ".down")):
        updown = True
        down = lowered.endswith(".down")
        stem = stem.rsplit(".", 1)[0]
        lowered = stem.lower()
    if "." in stem:
        infix = lowered.rsplit(".", 1)[1]
        if infix in _OTHER_INFIXES:
            return None
        if infix in _POSTGRES_INFIXES:
            stem = stem.rsplit(".", 1)[0]
    flyway = _FLYWAY.match(stem)
    if flyway is not None:
        kind = flyway.group("kind").upper()
        text = (flyway.group("version") or "").replace("_", ".")
        version = _version_tuple(text) if text else None
        if kind == "R" or version is not None:
            return _Candidate(
                path,
                None if kind == "R" else version,
                text,
                flyway.group("name"),
                down=down or kind == "U",
                repeatable=kind == "R",
                flyway=True,
                updown=updown,
            )
    version, version_text, name = _split_version(stem)
    return _Candidate(path, version, version_text, name, down=down, updown=updown)


def _split_version(name: str) -> tuple[tuple[int, ...] | None, str, str]:
    match = _VERSION.match(name)
    if match is None:
        return None, "", name
    text = match.group("version")
    return _version_tuple(text), text, match.group("name") or ""


def version_key(version: str) -> tuple[int, ...]:
    """A version as the tools compare it: numbers, trailing zero fields dropped (Flyway's 1
    and 1.0 are one version; `0007` is 7). Empty for a file without a version."""
    fields = [int(f) for f in re.split(r"[-._]", version) if f.isdigit()]
    while len(fields) > 1 and fields[-1] == 0:
        fields.pop()
    return tuple(fields)


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(field) for field in re.split(r"[-.]", text) if field)


def _ordered_set(folder: Path, candidates: list[_Candidate], notes: list[str]) -> MigrationSet:
    ups = [c for c in candidates if not c.down]
    downs = {_pair_key(c): c.path for c in candidates if c.down}
    if not ups and downs:
        notes.append("only down migrations found: nothing to replay")

    def order(candidate: _Candidate) -> tuple[int, tuple[int, ...], str, str]:
        # Versioned first (by version, then name); then Flyway's repeatable files by description;
        # then files without a version, by name.
        if candidate.version is not None:
            group = 0
        elif candidate.repeatable:
            group = 1
        else:
            group = 2
        return (group, candidate.version or (), candidate.name, candidate.path.name)

    ups.sort(key=order)
    unversioned = [c.path.name for c in ups if c.version is None and not c.repeatable]
    if unversioned and len(unversioned) < len(ups):
        notes.append(
            "files without a version run after the versioned ones, by name: "
            + ", ".join(unversioned)
        )
    files = tuple(
        MigrationFile(
            c.path, _display(c.path), c.version_text, c.name, c.down_path or downs.get(_pair_key(c))
        )
        for c in ups
    )
    return MigrationSet(folder, _convention(candidates), files, tuple(notes))


def _pair_key(candidate: _Candidate) -> tuple[str, str]:
    if candidate.folder:
        return ("folder", candidate.path.parent.name)
    return (candidate.version_text, candidate.name)


def _convention(candidates: Iterable[_Candidate]) -> str:
    found = list(candidates)
    if any(c.folder for c in found):
        names = {c.path.name for c in found if c.folder}
        return "prisma" if names == {"migration.sql"} else "folder-per-migration"
    if any(c.flyway for c in found):
        return "flyway"
    if any(c.updown for c in found):
        return "up-down"
    return "numbered"


def _drizzle_set(folder: Path, journal: Path, exclude: Sequence[str]) -> MigrationSet:
    """Order from drizzle's journal; a journal that cannot be read falls back to the names."""
    candidates, notes, _ = _scan(folder, folder, exclude)
    try:
        entries = json.loads(journal.read_text(encoding="utf-8"))["entries"]
        tags = [str(entry["tag"]) for entry in sorted(entries, key=lambda e: int(e["idx"]))]
    except (OSError, ValueError, KeyError, TypeError) as error:
        notes.append(
            f"{_display(journal)}: cannot read the drizzle journal ({type(error).__name__}: "
            f"{error}); files ordered by name"
        )
        ordered = _ordered_set(folder, candidates, notes)
        return MigrationSet(folder, "drizzle", ordered.files, ordered.notes)
    by_stem = {c.path.name[: -len(".sql")]: c for c in candidates if not c.down}
    files: list[MigrationFile] = []
    missing: list[str] = []
    for tag in tags:
        found = by_stem.pop(tag, None)
        if found is None:
            notes.append(f"journal entry {tag} has no file {tag}.sql")
            missing.append(tag)
            continue
        files.append(
            MigrationFile(found.path, _display(found.path), found.version_text, found.name)
        )
    unjournaled = tuple(sorted(c.path for c in by_stem.values()))
    if unjournaled:
        notes.append(
            "not in the drizzle journal, so never applied by drizzle (linted after the others): "
            + ", ".join(p.name for p in unjournaled)
        )
        # Still linted, after the journal's files: a reviewer must see them.
        files += [
            MigrationFile(c.path, _display(c.path), c.version_text, c.name)
            for c in sorted(by_stem.values(), key=lambda c: c.path.name)
        ]
    return MigrationSet(
        folder, "drizzle", tuple(files), tuple(notes), unjournaled, journal, tuple(missing)
    )


def _excluded(path: Path, relative: str, patterns: Sequence[str]) -> bool:
    if not patterns:
        return False
    names = (relative, path.name, _display(path))
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns for name in names)


def _display(path: Path) -> str:
    """The path as users see it: relative to the working directory when under it."""
    text = str(path)
    if not os.path.isabs(text):
        return path.as_posix()
    cwd = os.getcwd() + os.sep
    # A string prefix test, not Path.relative_to: discovery shows thousands of paths.
    return text[len(cwd) :].replace(os.sep, "/") if text.startswith(cwd) else path.as_posix()


@dataclass(frozen=True, slots=True)
class BaseRevision:
    """What a git revision (`--diff-base REF`) holds of the linted paths.

    `files` maps each file at REF (resolved path in the working tree) to its content at REF;
    `root` is a folder holding those files at REF, laid out as in the working tree, to lint.
    """

    ref: str
    files: dict[Path, bytes]
    root: Path

    def status(self, path: Path) -> str:
        """`added`, `modified` or `unchanged` since REF."""
        resolved = path.resolve()
        before = self.files.get(resolved)
        if before is None:
            return "added"
        try:
            return "unchanged" if resolved.read_bytes() == before else "modified"
        except OSError:
            return "modified"

    def at_base(self, path: str | Path) -> Path:
        """Where `path` (a linted path of the working tree) lies in the REF copy."""
        return self.root / Path(path).resolve().relative_to(_git_root(Path(path)))


def base_revision(ref: str, paths: Sequence[str | Path], into: Path) -> BaseRevision:
    """The linted paths as they were at `ref`, written under `into` (a scratch folder)."""
    import subprocess

    first = Path(paths[0]) if paths else Path.cwd()
    top = _git_root(first)

    def git(*args: str) -> bytes:
        try:
            done = subprocess.run(
                ["git", *args], cwd=top, capture_output=True, check=False, timeout=120
            )
        except OSError as error:
            raise DiscoveryError(f"--diff-base needs git: {error.strerror}") from None
        if done.returncode != 0:
            message = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise DiscoveryError(
                f"--diff-base {ref}: git {args[0]} failed: {message[-1] if message else ''}. "
                f"In a shallow CI clone, fetch the base first: git fetch --depth=1 origin {ref}"
            )
        return done.stdout

    git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    relative = [Path(p).resolve().relative_to(top).as_posix() for p in paths]
    listing = git("ls-tree", "-r", "-z", "--name-only", ref, "--", *relative)
    files: dict[Path, bytes] = {}
    for name in filter(None, listing.decode("utf-8", "replace").split("\0")):
        content = git("show", f"{ref}:{name}")
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        files[(top / name).resolve()] = content
    return BaseRevision(ref, files, into)


def _git_root(path: Path) -> Path:
    folder = path.resolve()
    folder = folder if folder.is_dir() else folder.parent
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    raise DiscoveryError(f"--diff-base: {path} is not inside a git repository")
