"""Discovery: which migration files a path holds, and the order the migration tool applies them.

The first stage of a run. It reads folder listings (and a drizzle journal) but never parses SQL.
Conventions recognised, by file and folder names:

- numbered files, `<version>_<name>.sql`: golang-migrate, goose, dbmate, sqlx, supabase, plain;
  versions compare as numbers (2 before 10); dates and timestamps compare field by field;
- `.up.sql` / `.down.sql` pairs (golang-migrate, sqlx, pop): down files are never replayed;
- pop (and Ory's popx): a dialect infix (`<version>_<name>.postgres.up.sql`) marks a file for one
  database. pop applies, on each database, its dialect's files and the dialect-free ones: a
  folder whose infixes name several of PostgreSQL, MySQL and SQLite is one history per dialect
  (PostgreSQL's first), each with the dialect-free files; CockroachDB's and SQL Server's files
  are skipped. For one version the dialect's file replaces the dialect-free one, as pop applies
  it; `.autocommit.` is a modifier (popx runs such a file outside a transaction). Up/down
  folders with such names are `pop`;
- Flyway: `V<version>__<description>.sql` (versions like `1.10` or `1_10`), undo files `U...` are
  down files, repeatable `R__...` files run after every versioned one;
- one folder per migration: `<version>_<name>/up.sql` (diesel) or `/migration.sql` (prisma, which
  applies its folders in string order of their names: `10_x` before `2_x`);
- drizzle: `meta/_journal.json` decides order; files it does not list are not applied by drizzle and
  are reported in `MigrationSet.unjournaled`;
- temporal-sql-tool: `versioned/v<major>.<minor>/*.sql`, one history in version order (1.2 before
  1.10), each version's files in its `manifest.json` order (by name without one).

Empty files (pop's per-dialect placeholders) are not replayed. A folder is one migration set (a
pop folder, one per dialect), replayed into one schema. A folder without migrations of its own is
searched one level deeper at a time, each sub-folder with migrations becoming its own set, except
that sibling Flyway folders whose versions interleave without clashing are one history (Flyway
merges its locations), also when one of them is named alone; the configuration can name the
folders of one history (`histories`). A folder reached twice (named twice, or through a symbolic
link) is discovered once; FIFOs, devices and sockets are never listed. Files named one by one are
linted in the order given.

`detect_dialect` tells which SQL dialect a history is written in from its layout (Prisma's lock
file, drizzle's journal, pop infixes, folder names) and, last, its files' syntax.

Placeholders that the migration runner fills in (Go templates `{{ ... }}`, Flyway `${name}`) are
text too: `fill_placeholders` applies configured values before parsing and finds those left.
"""

from __future__ import annotations

import bisect
import fnmatch
import functools
import json
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from schema_review.profile import PLACEHOLDER, placeholder_key
from schema_review.records import Record

__all__ = [
    "DialectGuess",
    "DiscoveryError",
    "MigrationFile",
    "MigrationSet",
    "Placeholder",
    "detect_dialect",
    "detection_files",
    "discover",
    "fill_placeholders",
    "forward_sql",
    "guess_dialect",
    "history_label",
    "version_key",
]

# Folder-per-migration file names, forward and down.
_FOLDER_UP = ("up.sql", "migration.sql")
_FOLDER_DOWN = ("down.sql",)
# pop-style dialect infixes: `<name>.<dialect>.up.sql`, with pop's synonyms. Only these dialects
# are recognised as infixes so that a dotted name (`V0006.Consent.up.sql`) is never taken for one.
_INFIX_DIALECTS = {
    **{infix: "postgres" for infix in ("postgres", "postgresql", "pg")},
    **{infix: "mysql" for infix in ("mysql", "mariadb")},
    **{infix: "sqlite" for infix in ("sqlite", "sqlite3")},
}
# Databases schema-review has no dialect for: their files are skipped.
_UNSUPPORTED_INFIXES = frozenset(
    {"mssql", "sqlserver", *("cockroach", "cockroachdb", "crdb")}  # CockroachDB: its own grammar
)
# The order histories of one pop folder come in, and how a note names each dialect's infix.
_DIALECT_ORDER = ("postgres", "mysql", "sqlite")
_INFIX_NAMES = {"postgres": ".postgres.", "mysql": ".mysql.", "sqlite": ".sqlite3."}
# Ory popx's modifier after the dialect (`.postgres.autocommit.up.sql`): no transaction.
_AUTOCOMMIT = ".autocommit"
_SKIPPED_FOLDERS = frozenset({"node_modules", "__pycache__", "venv", ".venv"})
# How deep a folder without migrations of its own is searched for migration folders.
_MAX_DEPTH = 4
# Files at most this large are read to tell whether they hold only whitespace (pop's empty
# per-dialect placeholders); larger ones never do in practice.
_BLANK_PROBE = 64

# (Patterns as text, compiled by `_compiled` when first used.)
_FLYWAY = r"(?P<kind>[VUR])(?P<version>\d+(?:[._]\d+)*)?__(?P<name>.*)\Z"  # re.IGNORECASE
# A version is a run of digits, optionally in fields separated by `-` or `.` (diesel's
# `2022-11-02-090533`, `1.2`), after an optional `V`; `_` separates the version from the name.
_VERSION = r"[Vv]?(?P<version>\d+(?:[-.]\d+)*)(?:[_\-.](?P<name>.*))?\Z"


class DiscoveryError(Exception):
    """A path given on the command line that cannot be linted (missing, unreadable)."""


class MigrationFile(Record):
    """One forward migration: the file replayed, and its down file when the convention has one."""

    _fields = ("path", "display", "version", "name", "down", "step_of")
    __slots__ = _fields

    path: Path
    display: str
    version: str
    name: str
    down: Path | None
    # The migration this file is one step of, when the layout writes one migration as several
    # files deployed together (`step_of`); '' when the file is a migration of its own.
    step_of: str

    def __init__(
        self,
        path: Path,
        display: str,
        version: str,
        name: str,
        down: Path | None = None,
        step_of: str = "",
    ) -> None:
        self.path = path
        self.display = display
        self.version = version
        self.name = name
        self.down = down
        self.step_of = step_of


class MigrationSet(Record):
    """Migrations replayed one after the other into one schema.

    `root` is the folder (None for files named one by one); `convention` names the layout found;
    `notes` say what discovery decided that a user may not expect (files skipped, journal problems);
    `unjournaled` lists files of a drizzle folder that its journal does not apply; `roots` holds
    every folder of a history merged from several (Flyway locations, configured `histories`),
    `root` being the first of them.
    """

    _fields = (
        "root",
        "convention",
        "files",
        "notes",
        "unjournaled",
        "journal",
        "journal_missing",
        "roots",
        "dialect",
    )
    __slots__ = _fields

    root: Path | None
    convention: str
    files: tuple[MigrationFile, ...]
    notes: tuple[str, ...]
    unjournaled: tuple[Path, ...]
    journal: Path | None  # drizzle's meta/_journal.json
    journal_missing: tuple[str, ...]  # journal entries with no file
    roots: tuple[Path, ...]
    # The dialect its files' pop infix names (`.mysql.`), '' when none does: a pop folder
    # holding files for several databases is one history per dialect.
    dialect: str

    def __init__(
        self,
        root: Path | None,
        convention: str,
        files: tuple[MigrationFile, ...],
        notes: tuple[str, ...] = (),
        unjournaled: tuple[Path, ...] = (),
        journal: Path | None = None,
        journal_missing: tuple[str, ...] = (),
        roots: tuple[Path, ...] = (),
        dialect: str = "",
    ) -> None:
        self.root = root
        self.convention = convention
        self.files = files
        self.notes = notes
        self.unjournaled = unjournaled
        self.journal = journal
        self.journal_missing = journal_missing
        self.roots = roots
        self.dialect = dialect


def history_label(migration_set: MigrationSet) -> str:
    """How a history is named: its folder relative to the working directory, or its files.
    A pop folder's histories for other databases than PostgreSQL say whose files they hold
    (`kratos (mysql files)`): the folder is theirs too."""
    if migration_set.root is not None:
        label = os.path.relpath(migration_set.root).replace(os.sep, "/")
        if migration_set.dialect not in ("", "postgres"):
            label += f" ({migration_set.dialect} files)"
        return label
    return ", ".join(m.display for m in migration_set.files)


class _Candidate(Record):
    _fields = (
        "path",
        "version",
        "version_text",
        "name",
        "down",
        "repeatable",
        "flyway",
        "folder",
        "updown",
        "down_path",
        "infix",
        "pop",
    )
    __slots__ = _fields

    path: Path
    version: tuple[int, ...] | None
    version_text: str
    name: str
    down: bool
    repeatable: bool
    flyway: bool
    folder: bool
    updown: bool
    down_path: Path | None  # a folder migration's down.sql
    infix: str  # the dialect a pop infix names the file for (`.mysql.`: mysql), or ''
    pop: bool  # named as only pop names files: a dialect infix, `.autocommit.`

    def __init__(
        self,
        path: Path,
        version: tuple[int, ...] | None,
        version_text: str,
        name: str,
        down: bool,
        repeatable: bool = False,
        flyway: bool = False,
        folder: bool = False,
        updown: bool = False,
        down_path: Path | None = None,
        infix: str = "",
        pop: bool = False,
    ) -> None:
        self.path = path
        self.version = version
        self.version_text = version_text
        self.name = name
        self.down = down
        self.repeatable = repeatable
        self.flyway = flyway
        self.folder = folder
        self.updown = updown
        self.down_path = down_path
        self.infix = infix
        self.pop = pop


STDIN = "-"  # the path that stands for standard input


def discover(
    paths: Sequence[str | Path],
    exclude: Sequence[str] = (),
    stdin_name: str = "<stdin>",
    histories: Sequence[Sequence[str | Path]] = (),
    allow_empty: bool = True,
    dialect: str | None = None,
) -> list[MigrationSet]:
    """The migration sets of `paths`, in the order given; each folder becomes its own set(s).

    Consecutive file arguments form one set, linted in the order given. `exclude` holds glob
    patterns matched against a file's path relative to its folder, its display path and its name.
    `histories` lists groups of folders that are one history (the configuration's `histories`):
    when discovery finds one of them, the set holds the files of all of them, in version order.
    Unless `allow_empty`, a folder holding no migration file to replay is a DiscoveryError: a
    wrong path must not pass a CI gate by linting nothing. `dialect` (the configured one:
    postgres, mysql, sqlite) keeps, of a pop folder with files for several databases, that
    dialect's files and the dialect-free ones; without it each dialect is a history.
    """
    walk = _Walk(tuple(exclude), _checked_histories(histories), dialect)
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
            key = _folder_key(path)
            again = key is not None and key in walk.seen  # named twice: linted once
            found = walk.folder(path, 0)
            if not allow_empty and not again and not any(s.files for s in found):
                raise DiscoveryError(_nothing_found(raw, path, found, exclude))
            sets.extend(found)
        elif not _excluded(path, path.name, exclude):
            loose.append(MigrationFile(path, _display(path), "", path.stem))
    if loose:
        sets.append(MigrationSet(None, "files", tuple(loose)))
    return walk.merge_configured(sets)


def _nothing_found(
    raw: str | Path, folder: Path, found: Sequence[MigrationSet], exclude: Sequence[str]
) -> str:
    """Why a folder gave no migration file to replay, and what to do."""
    notes = [note for s in found for note in s.notes]
    if notes:
        why = "; ".join(notes)
    else:
        try:
            names = [e.name for e in os.scandir(folder) if not e.name.startswith(".")]
        except OSError:
            names = []
        sql = [n for n in names if n.lower().endswith(".sql")]
        if not names:
            why = "the folder is empty"
        elif sql and exclude:
            why = f"its .sql files are excluded (exclude: {', '.join(exclude)})"
        else:
            why = f"it holds {len(names)} entr{'y' if len(names) == 1 else 'ies'}, no .sql file"
            why += f" in it or in its sub-folders (up to {_MAX_DEPTH} levels)"
    return (
        f"{raw}: no migration files found ({why}); check the path, or pass "
        "--no-error-on-unmatched-pattern to accept a folder without migrations"
    )


def forward_sql(text: str) -> str:
    """The Up part of a migration file, with every line kept so that line numbers stay true.

    goose (`-- +goose Down`) and dbmate (`-- migrate:down`) keep both directions in one file: the
    down section is blanked. goose's `-- +goose StatementEnd` also ends a statement, so its line
    becomes a `;` (a goose block's last statement may lack one).

    Lines as `str.splitlines` cuts them. Only the annotation lines are visited, found by one
    search of the text: a loop over every line of goose's files was 1% of a cold run of
    the corpus.
    """
    if "+goose" not in text and "migrate:" not in text:
        return text
    out: list[str] = []
    down = False
    position = 0  # the start of the first line not yet written
    line_end = _compiled(_LINE_END).search
    for match in _compiled(_ANNOTATION, _IGNORECASE).finditer(text):
        start = match.start()
        while start and text[start - 1] not in _LINE_BREAKS and text[start - 1].isspace():
            start -= 1
        if start and text[start - 1] not in _LINE_BREAKS:
            continue  # not at the start of its line
        out.append(_down_blanked(text[position:start]) if down else text[position:start])
        found = line_end(text, match.end())
        position = found.end() if found is not None else len(text)
        line = text[start:position]
        word = (match.group("goose") or match.group("dbmate")).lower()
        if word in ("up", "down"):
            down = word == "down"
        elif not down:  # StatementEnd
            ending = line[len(line.rstrip("\r\n")) :]
            out.append(";" + " " * (len(line) - len(ending) - 1) + ending)
            continue
        out.append(_down_blanked(line) if down else line)
    out.append(_down_blanked(text[position:]) if down else text[position:])
    return "".join(out)


def _down_blanked(lines: str) -> str:
    """Whole lines of a down section, each but its line break removed: a line holds no
    \\r or \\n but those that end it, so what stays is every \\r and \\n of `lines`."""
    if "\r" not in lines:
        return "\n" * lines.count("\n")
    return _compiled(_NO_LINE_BREAK).sub("", lines)


# What `str.splitlines` cuts lines at; whitespace within a line is the rest of `\s`.
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_SPACE = rf"[^\S{_LINE_BREAKS}]"
# A goose or dbmate annotation (re.IGNORECASE), where only whitespace comes before it on its
# line (checked in Python: a pattern that starts with `--` is searched for at C speed).
_ANNOTATION = (
    rf"--{_SPACE}*"
    rf"(?:\+goose{_SPACE}+(?P<goose>up|down|statementend)\b|migrate:(?P<dbmate>up|down)\b)"
)
# The end of a line, its break included (\r\n is one break).
_LINE_END = rf"\r\n|[{_LINE_BREAKS}]"
_NO_LINE_BREAK = r"[^\r\n]+"


# What a light scan of SQL stops at: the end of a statement, or the start of a comment, a
# string, a quoted identifier or a dollar-quoted body. A tag's letters are ASCII letters, `_` and
# all beyond ASCII, written as the complement of the rest of ASCII (a class up to U+10FFFF takes
# 10 ms to compile).
_TAG_START = r"[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f]"
_TAG_REST = r"[^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*"
# Each alternative starts with a literal character, so that the engine skips to the next
# of them at C speed (`[eE]?'` would make it try every position: four times slower).
_SQL_SCAN = rf";|--|/\*|e'|E'|'|\"|\$(?:{_TAG_START}{_TAG_REST})?\$"
# Whole comments, quoted strings and identifiers, for masking: each found in one search (the
# scan above takes a Python step per quote). A doubled quote ends one match where the next
# begins; a block comment (they nest) and a dollar-quoted body are ended in Python: the
# spans cover what _sql_regions' regions cover.
_ESCAPED = r"'(?:[^'\\]|\\[\s\S]?|'')*'?"
_REGION = (
    rf"--[^\n]*|'[^']*(?:'|\Z)|\"[^\"]*(?:\"|\Z)|e{_ESCAPED}|E{_ESCAPED}"
    rf"|\$(?:{_TAG_START}{_TAG_REST})?\$|/\*"
)


# Flags as plain ints for `_compiled`: combining RegexFlags and hashing one (its cache's key)
# run enum's Python code, and patterns are looked up for each token or line.
_IGNORECASE = int(re.IGNORECASE)
_IGNORECASE_MULTILINE = int(re.IGNORECASE | re.MULTILINE)


@functools.cache
def _compiled(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """A regular expression of this module, compiled when first used: a pre-commit run on a
    file without quotes to scan or dialect words to check compiles none of them."""
    return re.compile(pattern, flags)


class Placeholder(Record):
    """A placeholder left unfilled in a file's text (offsets in the filled text).

    `in_code` is false inside a string literal or a dollar-quoted body, where the text is valid
    SQL as it is (only a runner that fills placeholders there, like Flyway, makes it one);
    `statement` is the stretch of text (`start <= offset < end`) from the `;` before it to its
    own `;`: the statement holding it.
    """

    _fields = ("offset", "text", "in_code", "statement")
    __slots__ = _fields

    offset: int
    text: str
    in_code: bool
    statement: tuple[int, int]

    def __init__(self, offset: int, text: str, in_code: bool, statement: tuple[int, int]) -> None:
        self.offset = offset
        self.text = text
        self.in_code = in_code
        self.statement = statement


def fill_placeholders(text: str, values: Mapping[str, str]) -> tuple[str, list[Placeholder]]:
    """`text` with the placeholders of `values` (keyed by `placeholder_key`) filled in, as the
    runner fills them, everywhere in the file; and the placeholders left unfilled outside
    comments.

    Values hold no line break, so line numbers stay true; on a line with a filled placeholder,
    columns after it count the filled text, which is what the runner sends to PostgreSQL.
    """
    if "{{" not in text and "${" not in text:
        return text, []
    if values:

        def fill(match: re.Match[str]) -> str:
            key = placeholder_key(match.group())
            value = values.get(key) if key is not None else None
            return match.group() if value is None else value

        text = _compiled(PLACEHOLDER).sub(fill, text)
    tokens = list(_compiled(PLACEHOLDER).finditer(text))
    if not tokens:
        return text, []
    # Scanned with the placeholders masked: their own quotes (`"{{ index .Options "Namespace"
    # }}"` names a schema) must not open or close anything.
    masked = _compiled(PLACEHOLDER).sub(lambda m: "x" * len(m.group()), text)
    regions, ends = _sql_regions(masked)
    starts = [start for start, _, _ in regions]
    left: list[Placeholder] = []
    for token in tokens:
        offset = token.start()
        inside = bisect.bisect_right(starts, offset) - 1
        where = "code"
        if inside >= 0 and offset < regions[inside][1]:
            where = regions[inside][2]
        if where == "comment":
            continue
        after = bisect.bisect_left(ends, offset)
        start = ends[after - 1] + 1 if after else 0
        # Up to and with its `;`; the last statement without one, up to the end of the text
        # and an error "at end of input" there.
        end = ends[after] + 1 if after < len(ends) else len(text) + 1
        left.append(Placeholder(offset, token.group(), where == "code", (start, end)))
    return text, left


def _sql_regions(
    text: str, identifiers: bool = False
) -> tuple[list[tuple[int, int, str]], list[int]]:
    """The comments and quoted text of `text` as (start, end, `comment` or `literal`: a string
    or a dollar-quoted body), and the `;` that end statements. A scanner for quotes and
    comments, not a parser; a quoted identifier is neither (a placeholder there names an
    object, like one outside quotes), unless `identifiers` asks for them (`identifier`)."""
    regions: list[tuple[int, int, str]] = []
    ends: list[int] = []
    position = 0
    size = len(text)
    scan = _compiled(_SQL_SCAN).search
    while True:
        match = scan(text, position)
        if match is None:
            return regions, ends
        start, token = match.start(), match.group()
        if token == ";":
            ends.append(start)
            position = match.end()
            continue
        end, where = _region_end(text, match, size)
        if where == "identifier" and not identifiers:
            where = ""
        if where:
            regions.append((start, end, where))
        position = max(end, match.end())


def _region_end(text: str, match: re.Match[str], size: int) -> tuple[int, str]:
    """Where the comment or quoted text `match` opens ends, and what it is."""
    token = match.group()
    start = match.start()
    if token == "--":
        newline = text.find("\n", start)
        return (size if newline == -1 else newline), "comment"
    if token == "/*":
        return _block_comment_end(text, start), "comment"
    if token.endswith("'"):
        return _string_end(text, match.end(), len(token) == 2), "literal"
    if token == '"':
        return _string_end(text, match.end(), False, '"'), "identifier"
    close = text.find(token, match.end())
    return (size if close == -1 else close + len(token)), "literal"


def _masked_spans(text: str) -> list[tuple[int, int]]:
    """Spans that together cover what `_sql_regions(text, identifiers=True)`'s regions
    cover: what masking blanks."""
    spans: list[tuple[int, int]] = []
    position = 0
    search = _compiled(_REGION).search
    while True:
        match = search(text, position)
        if match is None:
            return spans
        start, end = match.span()
        first = text[start]
        if first == "$":  # a dollar quote's opening tag: its body runs to the same tag
            close = text.find(match.group(), end)
            end = len(text) if close == -1 else close + end - start
        elif first == "/":
            end = _block_comment_end(text, start)
        spans.append((start, end))
        position = end


def _block_comment_end(text: str, start: int) -> int:
    """The end of the block comment at `start`; PostgreSQL's block comments nest."""
    depth = 0
    position = start
    while True:
        # The next opening or closing mark, whichever comes first (they cannot start at the
        # same place): the character-by-character walk this replaces found the same ones.
        opening = text.find("/*", position)
        closing = text.find("*/", position)
        if closing == -1:
            return len(text)
        if opening != -1 and opening < closing:
            depth += 1
            position = opening + 2
            continue
        depth -= 1
        position = closing + 2
        if depth == 0:
            return position


def _string_end(text: str, position: int, backslashes: bool, quote: str = "'") -> int:
    """The end of a quoted string whose text starts at `position` (a doubled quote is a quote;
    in an E'' string, a backslash escapes the next character)."""
    if backslashes:
        return _escaped_string_end(text, position)
    while True:
        found = text.find(quote, position)
        if found == -1:
            return len(text)
        if text.startswith(quote, found + 1):
            position = found + 2
            continue
        return found + 1


def _escaped_string_end(text: str, position: int) -> int:
    size = len(text)
    while position < size:
        quote = text.find("'", position)
        backslash = text.find("\\", position, quote if quote != -1 else size)
        if backslash != -1:
            position = backslash + 2  # the escaped character, whatever it is
            continue
        if quote == -1:
            return size
        if text.startswith("'", quote + 1):
            position = quote + 2
            continue
        return quote + 1
    return size


# What gives away SQL written for another database, outside comments, strings and quoted
# identifiers: syntax PostgreSQL's parser refuses, so none of it occurs in a file that runs on
# PostgreSQL. (name, dialect, pattern); `mysql or sqlite` counts for MySQL unless SQLite's own
# syntax is there too.
_FOREIGN_SYNTAX = (
    ("backtick-quoted identifiers", "mysql or sqlite", r"`[^`\n]*`"),
    ("ENGINE=", "mysql", r"\bENGINE\s*="),
    ("AUTO_INCREMENT", "mysql", r"\bAUTO_INCREMENT\b"),
    ("CHARSET", "mysql", r"\b(?:DEFAULT\s+)?CHARSET\s*=|\bCHARACTER\s+SET\s*="),
    (
        "UNSIGNED integers",
        "mysql",
        r"\b(?:TINY|SMALL|MEDIUM|BIG)?INT(?:EGER)?(?:\s*\(\d+\))?\s+UNSIGNED\b",
    ),
    ("ON UPDATE CURRENT_TIMESTAMP", "mysql", r"\bON\s+UPDATE\s+CURRENT_TIMESTAMP\b"),
    ("DELIMITER", "mysql", r"^[ \t]*DELIMITER[ \t]+\S"),
    ("AUTOINCREMENT", "sqlite", r"\bAUTOINCREMENT\b"),
    ("PRAGMA", "sqlite", r"^[ \t]*PRAGMA\b"),
    ("WITHOUT ROWID", "sqlite", r"\bWITHOUT\s+ROWID\b"),
)
# A cheap test first: most files hold none of these words, and are not scanned further.
_FOREIGN_HINT = (
    r"`|ENGINE|AUTO_?INCREMENT|CHARSET|CHARACTER|UNSIGNED|CURRENT_TIMESTAMP|DELIMITER|PRAGMA"
    r"|ROWID"
)
_HINT_WORDS = (
    "`",
    "engine",
    "auto_increment",
    "autoincrement",
    "charset",
    "character",
    "unsigned",
    "current_timestamp",
    "delimiter",
    "pragma",
    "rowid",
)
# The same constructs for ASCII text (most files), searched in the lowered text with
# patterns that start with a literal, which Python's engine finds fast (a leading \b or ^
# makes it try every position: a hundred times slower). Each: name, dialect, the words of
# which every text it matches holds all of one group, and its searches: a lowercase pattern
# and what must hold where it starts (see _anchored_search). The construct's first match
# is the leftmost of its searches'. Words first: a match outside comments and strings is
# made of the text's own characters, so a file without them is not searched at all.
_Search = tuple[str, str]
_ASCII_FOREIGN: tuple[tuple[str, str, tuple[tuple[str, ...], ...], tuple[_Search, ...]], ...] = (
    (
        "backtick-quoted identifiers",
        "mysql or sqlite",
        (("`",),),
        ((r"`[^`\n]*`", ""),),
    ),
    ("ENGINE=", "mysql", (("engine", "="),), ((r"engine\s*=", "word"),)),
    (
        "AUTO_INCREMENT",
        "mysql",
        (("auto_increment",),),
        ((r"auto_increment\b", "word"),),
    ),
    (
        "CHARSET",
        "mysql",
        (("charset", "="), ("character", "set", "=")),
        tuple(
            (pattern, "word")
            for pattern in (r"default\s+charset\s*=", r"charset\s*=", r"character\s+set\s*=")
        ),
    ),
    (
        "UNSIGNED integers",
        "mysql",
        (("unsigned", "int"),),
        tuple(
            (rf"{size}int(?:eger)?(?:\s*\(\d+\))?\s+unsigned\b", "word")
            for size in ("tiny", "small", "medium", "big", "")
        ),
    ),
    (
        "ON UPDATE CURRENT_TIMESTAMP",
        "mysql",
        (("current_timestamp", "update", "on"),),
        ((r"on\s+update\s+current_timestamp\b", "word"),),
    ),
    ("DELIMITER", "mysql", (("delimiter",),), ((r"delimiter[ \t]+\S", "line"),)),
    ("AUTOINCREMENT", "sqlite", (("autoincrement",),), ((r"autoincrement\b", "word"),)),
    ("PRAGMA", "sqlite", (("pragma",),), ((r"pragma\b", "line"),)),
    (
        "WITHOUT ROWID",
        "sqlite",
        (("rowid", "without"),),
        ((r"without\s+rowid\b", "word"),),
    ),
)


# The first word of each group: a text holding none of them holds none of the constructs.
_ANCHORS = tuple(dict.fromkeys(words[0] for *_, groups, _ in _ASCII_FOREIGN for words in groups))
# Every word of the groups.
_WORDS = tuple(
    dict.fromkeys(word for *_, groups, _ in _ASCII_FOREIGN for words in groups for word in words)
)

# What the lowered text must match for a construct of common words to be found in it once
# masked (most files that say ON UPDATE CASCADE and DEFAULT CURRENT_TIMESTAMP hold `on`,
# `update` and `current_timestamp`, and were masked for nothing). Masking turns comments,
# strings, quoted identifiers and dollar-quoted bodies into whitespace, and nothing else:
# the words of a match are the text's own, and a gap between two of them (whitespace once
# masked) is whitespace in the text, or whitespace and then the start of one of those.
_GAP_STARTS = r"""\s*(?:[-/'"$]|e')"""
_MASKED_NEEDS = {
    "ENGINE=": rf"engine(?:\s*=|{_GAP_STARTS})",
    # (PostgreSQL's `character varying` and `SET x = ...` are not; a schema dump has both.)
    "CHARSET": rf"charset(?:\s*=|{_GAP_STARTS})|character(?:\s+set|{_GAP_STARTS})",
    "ON UPDATE CURRENT_TIMESTAMP": rf"update(?:\s+current_timestamp|{_GAP_STARTS})",
    "WITHOUT ROWID": rf"without(?:\s+rowid|{_GAP_STARTS})",
}


def _may_match_masked(name: str, lowered: str) -> bool:
    """Whether the construct `name` may match the lowered ASCII text once masked."""
    needs = _MASKED_NEEDS.get(name)
    return needs is None or _compiled(needs).search(lowered) is not None


def _anchored_search(pattern: str, text: str, anchor: str) -> int:
    r"""Where the first match of `pattern` in `text` starts that has, before it, what
    `anchor` asks: `word`, no letter, digit or _ (a leading \b: the match starts with a
    letter); `line`, only spaces and tabs from the line's start, which is then where the
    match starts (a leading ^[ \t]* in MULTILINE); '' anything. -1 when there is none. For
    ASCII text."""
    search = _compiled(pattern).search
    position = 0
    while True:
        match = search(text, position)
        if match is None:
            return -1
        start = match.start()
        if not anchor:
            return start
        if anchor == "word":
            if start == 0 or not (text[start - 1].isalnum() or text[start - 1] == "_"):
                return start
        else:
            line = text.rfind("\n", 0, start) + 1
            if not text[line:start].strip(" \t"):
                return line
        position = start + 1


# _POSTGRES_ONLY's alternatives, for ASCII text as above.
_ASCII_POSTGRES_ONLY: tuple[tuple[str, _Search], ...] = tuple(
    (word, (pattern, anchor))
    for word, pattern, anchor in (
        ("::", "::", ""),
        ("extension", r"create\s+extension\b", "word"),
        ("concurrently", r"concurrently\b", "word"),
        ("plpgsql", r"language\s+plpgsql\b", "word"),
        ("timestamptz", r"timestamptz\b", "word"),
        ("jsonb", r"jsonb\b", "word"),
        ("trigger", r"returns\s+trigger\b", "word"),
        ("owner", r"owner\s+to\b", "word"),
    )
)


def _foreign_hint(text: str) -> bool:
    """`_FOREIGN_HINT.search(text)`, found faster in ASCII text (most files): substrings of
    the lowered text, which for ASCII are what IGNORECASE matches. Outside ASCII, case
    folding has its own rules (the Kelvin sign is a k): the pattern decides."""
    if not text.isascii():
        return _compiled(_FOREIGN_HINT, _IGNORECASE).search(text) is not None
    lowered = text.lower()
    return any(word in lowered for word in _HINT_WORDS)


# What only PostgreSQL writes: a file holding any of it is PostgreSQL with a mistake in it
# (its parse errors say where), not another database's file.
_POSTGRES_ONLY = (
    r"::|\bCREATE\s+EXTENSION\b|\bCONCURRENTLY\b|\bLANGUAGE\s+plpgsql\b|\btimestamptz\b"
    r"|\bjsonb\b|\bRETURNS\s+TRIGGER\b|\bOWNER\s+TO\b"
)


class DialectGuess(Record):
    """Which database a file's SQL is written for, and why: `postgres` (nothing says
    otherwise), `mysql` or `sqlite`, with the syntax that gives it away (what, offset)."""

    _fields = ("dialect", "evidence", "located")
    __slots__ = _fields

    dialect: str
    evidence: tuple[tuple[str, int], ...]
    # False for what its history shows (a folder name, Prisma's provider), not the file's
    # own syntax: no line to give.
    located: bool

    def __init__(
        self, dialect: str, evidence: tuple[tuple[str, int], ...] = (), located: bool = True
    ) -> None:
        self.dialect = dialect
        self.evidence = evidence
        self.located = located

    @property
    def foreign(self) -> bool:
        return self.dialect != "postgres"

    @property
    def offset(self) -> int:
        return self.evidence[0][1] if self.evidence else 0

    @property
    def label(self) -> str:
        return {"mysql": "MySQL", "sqlite": "SQLite"}.get(self.dialect, "PostgreSQL")

    def reason(self, text: str) -> str:
        """The evidence in words, with lines: `backtick-quoted identifiers (line 2), ENGINE=
        (line 9)`."""
        if not self.located:
            return ", ".join(name for name, _ in self.evidence)
        return ", ".join(
            f"{name} (line {text.count(chr(10), 0, offset) + 1})" for name, offset in self.evidence
        )


POSTGRES = DialectGuess("postgres")


def guess_dialect(text: str) -> DialectGuess:
    """The database a file is written for, from syntax only another database accepts (outside
    comments, strings and quoted identifiers). A file is taken for MySQL or SQLite only when
    such syntax is there and nothing only PostgreSQL writes is: one clear finding then stands
    for the file, instead of a parse error per statement. The first use of each telling
    construct is the evidence."""
    asked = _ASKED.pop(id(text), None)
    if asked is not None and asked[0] is text:
        return asked[1]
    if not text.isascii():
        return _guess_by_patterns(text)
    lowered = text.lower()
    anchor = next((word for word in _ANCHORS if word in lowered), None)
    if anchor is None:
        return POSTGRES  # most files: no scan, no mask
    # The constructs' words the text holds, each looked for once (the anchors before the one
    # found are not there): several constructs share words.
    absent = _ANCHORS[: _ANCHORS.index(anchor)]
    found = {word for word in _WORDS if word not in absent and word in lowered}
    candidates = [
        construct
        for construct in _ASCII_FOREIGN
        if any(found.issuperset(words) for words in construct[2])
        and _may_match_masked(construct[0], lowered)
    ]
    if not candidates:
        return POSTGRES
    known = _GUESSED.get(text)
    if known is None:
        known = _guess_masked(text, candidates)
        if len(_GUESSED) >= _GUESSED_MAX:
            _GUESSED.clear()
        _GUESSED[text] = known
    return known


# The guesses `_content_dialect` made for a history's files, by the text's identity: a run
# asks twice for each file (the history's dialect, then the file's own finding), the second
# time with the same string, and taking the guess back drops it (what the second asks never
# take stays until the next history's guesses replace them). The first ask lowers and
# searches the whole text: 3% of a cold run of the corpus each time.
_ASKED: dict[int, tuple[str, DialectGuess]] = {}

# Guesses of the files that had to be masked, by text: a text asked again (another run in
# the same process). Bounded; a text is its own key.
_GUESSED: dict[str, DialectGuess] = {}
_GUESSED_MAX = 512


def _guess_masked(
    text: str, candidates: list[tuple[str, str, tuple[tuple[str, ...], ...], tuple[_Search, ...]]]
) -> DialectGuess:
    # Masked before lowering: dollar-quote tags are case-sensitive ($a$ does not close $A$).
    masked = _code_only(text).lower()
    found: list[tuple[str, str, int]] = []
    for name, dialect, _, searches in candidates:
        starts = [_anchored_search(pattern, masked, anchor) for pattern, anchor in searches]
        first = min((start for start in starts if start != -1), default=-1)
        if first != -1:
            found.append((name, dialect, first))
    if not found or _postgres_only_in(masked):
        return POSTGRES
    return _guess_from(found)


def _postgres_only_in(masked: str) -> bool:
    """Whether masked, lowered ASCII text holds what only PostgreSQL writes."""
    return any(
        word in masked and _anchored_search(pattern, masked, anchor) != -1
        for word, (pattern, anchor) in _ASCII_POSTGRES_ONLY
    )


def _holds_postgres_only(text: str) -> bool:
    """Whether a file holds, outside comments and strings, what only PostgreSQL writes."""
    if not text.isascii():
        return _compiled(_POSTGRES_ONLY, _IGNORECASE).search(_code_only(text)) is not None
    lowered = text.lower()
    if not any(word in lowered for word, _ in _ASCII_POSTGRES_ONLY):
        return False  # the words of a match are the text's own
    return _postgres_only_in(_code_only(text).lower())


def _guess_by_patterns(text: str) -> DialectGuess:
    """guess_dialect for text beyond ASCII, whose case folding has its own rules (the Kelvin
    sign is a k): the case-blind patterns decide."""
    if not _foreign_hint(text):
        return POSTGRES
    masked = _code_only(text)
    if _compiled(_POSTGRES_ONLY, _IGNORECASE).search(masked):
        return POSTGRES
    found: list[tuple[str, str, int]] = []
    for name, dialect, pattern in _FOREIGN_SYNTAX:
        match = _compiled(pattern, _IGNORECASE_MULTILINE).search(masked)
        if match is not None:
            found.append((name, dialect, match.start()))
    return _guess_from(found) if found else POSTGRES


def _guess_from(found: list[tuple[str, str, int]]) -> DialectGuess:
    dialect = "sqlite" if any(d == "sqlite" for _, d, _ in found) else "mysql"
    evidence = tuple((name, offset) for name, _, offset in sorted(found, key=lambda item: item[2]))
    return DialectGuess(dialect, evidence)


# Prisma's `provider` and drizzle's journal `dialect`, per dialect. Values left out (Prisma's
# sqlserver and mongodb, CockroachDB, drizzle's singlestore and gel) say nothing here.
_TOOL_DIALECTS = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "mysql": "mysql",
    "sqlite": "sqlite",
    "turso": "sqlite",  # drizzle's libSQL
}
# A folder named for a database: a word of its name (`mysql`, `migration_sqlite`,
# `atuin-server-postgres`, `pg16`), a version may follow it.
_FOLDER_WORD = re.compile(r"(mysql|mariadb|sqlite|sqlite3|postgres|postgresql|pgsql|pg)\d*")
_FOLDER_DIALECTS = {**_INFIX_DIALECTS, "pgsql": "postgres"}
# How far up from a history's folder a folder name counts (temporal: `mysql/v8/temporal`),
# never past the repository's own folder.
_FOLDER_LEVELS = 4


def detect_dialect(migration_set: MigrationSet, texts: Sequence[str]) -> tuple[str, str]:
    """The dialect a history is written in (postgres, mysql, sqlite) and what gave it away,
    '' when nothing did (postgres then). `texts` are its files' text. In order: Prisma's
    `migration_lock.toml` provider, drizzle's journal `dialect`, pop's file name infixes, the
    sqlx driver feature of the crate beside the folder, a folder named for a database on the
    way to it, and the files' syntax."""
    root = _detection_root(migration_set)
    # Each asked only when those before it said nothing.
    return (
        _prisma_provider(root)
        or _drizzle_dialect(migration_set)
        or _infix_dialect(migration_set)
        or _sqlx_dialect(root)
        or _folder_dialect(migration_set)
        or _content_dialect(texts)
    )


# sqlx's features that pick its database driver.
_SQLX_FEATURES = {
    "postgres": "postgres",
    "mysql": "mysql",
    "sqlite": "sqlite",
    "sqlite-unbundled": "sqlite",
}


def _sqlx_dialect(root: Path | None) -> tuple[str, str] | None:
    """sqlx's `migrate!()` reads `migrations/` (or the folder it names) beside the crate's
    Cargo.toml: the database driver the crate enables on its sqlx dependency (`features =
    ["sqlite"]`) is the one its migrations run on; a crate that enables none inherits its
    workspace's (`workspace = true`). Nothing when the features name no database or
    several."""
    if root is None:
        return None
    crate = root.parent / "Cargo.toml"
    own = _sqlx_features(crate, ("dependencies", "sqlx"))
    if own is None:
        return None
    features, inherits = own
    if not features and inherits:
        folder = root.parent.parent
        for _ in range(_FOLDER_LEVELS):
            workspace = _sqlx_features(folder / "Cargo.toml", ("workspace", "dependencies", "sqlx"))
            if workspace is not None:
                features = workspace[0]
                crate = folder / "Cargo.toml"
                break
            if folder.parent == folder or (folder / ".git").exists():
                break
            folder = folder.parent
    dialects = {_SQLX_FEATURES[f] for f in features if f in _SQLX_FEATURES}
    if len(dialects) != 1:
        return None
    (dialect,) = dialects
    feature = next(f for f in features if _SQLX_FEATURES.get(f) == dialect)
    return dialect, f'{_display(crate)}: sqlx with the "{feature}" feature'


def detection_files(migration_set: MigrationSet) -> list[Path]:
    """The files beside or above a history whose content `detect_dialect` may read (Prisma's
    lock file, the crate's and its workspace's Cargo.toml), those that exist: what a cached
    result depends on besides the migrations."""
    root = _detection_root(migration_set)
    if root is None:
        return []
    found = [root / "migration_lock.toml"]
    folder = root.parent
    for _ in range(_FOLDER_LEVELS + 1):
        found.append(folder / "Cargo.toml")
        if folder.parent == folder or (folder / ".git").exists():
            break
        folder = folder.parent
    return [path for path in found if path.is_file()]


def _sqlx_features(manifest: Path, keys: tuple[str, ...]) -> tuple[list[str], bool] | None:
    """The features a Cargo.toml gives its sqlx dependency at `keys`, and whether it takes
    the workspace's (`workspace = true`); None without such a dependency."""
    try:
        with manifest.open("rb") as handle:
            # Imported only when there is a Cargo.toml to read (most runs have none).
            import tomllib

            try:
                found: object = tomllib.load(handle)
            except (tomllib.TOMLDecodeError, UnicodeDecodeError):
                return None
    except OSError:
        return None
    for key in keys:
        if not isinstance(found, dict) or key not in found:
            return None
        found = found[key]
    if isinstance(found, str):
        return [], False  # `sqlx = "0.8"`: the default features name no database
    if not isinstance(found, dict):
        return None
    features = found.get("features", [])
    names = [str(f) for f in features] if isinstance(features, list) else []
    return names, found.get("workspace") is True


def _detection_root(migration_set: MigrationSet) -> Path | None:
    """The folder whose neighbours say a history's dialect: its root, or for files named one
    by one (a pre-commit hook's changed files) the one folder they are in, or the folder
    above it when that holds Prisma's lock file (`migrations/<name>/migration.sql`), so
    that a hook lints a file as the whole folder's run does."""
    if migration_set.root is not None:
        return migration_set.root
    folders: set[Path] = set()
    for file in migration_set.files:
        if str(file.path) != STDIN:
            folders.add(file.path.parent)
            if len(folders) > 1:
                return None  # files of several folders (no need to see the rest)
    if not folders:
        return None
    (folder,) = folders
    if (
        not (folder / "migration_lock.toml").is_file()
        and (folder.parent / "migration_lock.toml").is_file()
    ):
        return folder.parent
    return folder


def _prisma_provider(root: Path | None) -> tuple[str, str] | None:
    if root is None:
        return None
    lock = root / "migration_lock.toml"
    try:
        with lock.open("rb") as handle:
            # Imported only when there is a lock file to read (most runs have none).
            import tomllib

            try:
                provider = tomllib.load(handle).get("provider")
            except (tomllib.TOMLDecodeError, UnicodeDecodeError):
                return None  # one prisma would refuse too
    except OSError:
        return None  # no lock file
    dialect = _TOOL_DIALECTS.get(str(provider).lower())
    if dialect is None:
        return None
    return dialect, f'prisma\'s migration_lock.toml: provider = "{provider}"'


def _drizzle_dialect(migration_set: MigrationSet) -> tuple[str, str] | None:
    if migration_set.journal is None:
        return None
    try:
        value = json.loads(migration_set.journal.read_text(encoding="utf-8")).get("dialect")
    except (OSError, ValueError, AttributeError):
        return None
    dialect = _TOOL_DIALECTS.get(str(value).lower())
    if dialect is None:
        return None
    return dialect, f'drizzle\'s meta/_journal.json: "dialect": "{value}"'


def _infix_dialect(migration_set: MigrationSet) -> tuple[str, str] | None:
    if not migration_set.dialect:
        return None
    infix = _INFIX_NAMES[migration_set.dialect]
    return migration_set.dialect, f"pop file names: the {infix} infix"


def _folder_dialect(migration_set: MigrationSet) -> tuple[str, str] | None:
    """A folder named for one database, from the history's folder up (files named one by
    one: from theirs, when they agree)."""
    if migration_set.root is not None:
        starts: Iterable[Path] = [migration_set.root]
    else:
        starts = (f.path.parent for f in migration_set.files if str(f.path) != STDIN)
    seen: set[Path] = set()
    found: set[tuple[str, str] | None] = set()
    for start in starts:
        if start in seen:
            continue
        seen.add(start)
        found.add(_named_folder(start))
        if len(found) > 1:
            return None  # folders that disagree: the rest cannot make them agree
    if not found:
        return None
    (named,) = found
    if named is None:
        return None
    dialect, name = named
    return dialect, f"the folder name {name}"


def _named_folder(start: Path) -> tuple[str, str] | None:
    try:
        folder = start.resolve()
    except OSError:
        return None
    for _ in range(_FOLDER_LEVELS):
        if folder.parent == folder or (folder / ".git").exists():
            return None  # the repository's own name says nothing of its migrations
        words = re.split(r"[^a-z0-9]+", folder.name.lower())
        dialects = {
            _FOLDER_DIALECTS[match.group(1)]
            for word in words
            if (match := _FOLDER_WORD.fullmatch(word)) is not None
        }
        if len(dialects) == 1:
            return dialects.pop(), folder.name
        if dialects:
            return None  # `mysql-to-postgres`: which?
        folder = folder.parent
    return None


def _content_dialect(texts: Sequence[str]) -> tuple[str, str]:
    """The dialect the files' syntax says: MySQL or SQLite when files with syntax only that
    database accepts (guess_dialect) outnumber those with syntax only PostgreSQL writes; a
    history with no such file is PostgreSQL, and says so with ''."""
    all_guesses = [guess_dialect(text) for text in texts]
    _ASKED.clear()
    _ASKED.update((id(text), (text, guess)) for text, guess in zip(texts, all_guesses, strict=True))
    guesses = [g for g in all_guesses if g.foreign]
    if not guesses:
        return "postgres", ""
    postgres = sum(1 for text in texts if _holds_postgres_only(text))
    if len(guesses) <= postgres:
        return "postgres", ""
    names = [{name for name, _ in g.evidence} for g in guesses]
    sqlite = sum(1 for g in guesses if g.dialect == "sqlite")
    mysql = sum(1 for found in names if found & _MYSQL_ONLY)
    dialect = "sqlite" if sqlite > mysql else "mysql"
    counted: dict[str, int] = {}
    for found in names:
        for name in found:
            counted[name] = counted.get(name, 0) + 1
    shown = sorted(counted, key=lambda name: (-counted[name], name))[:3]
    label = DialectGuess(dialect).label
    return dialect, (
        f"{label} syntax in {len(guesses)} of {len(texts)} file{'' if len(texts) == 1 else 's'}"
        f" ({', '.join(shown)})"
    )


_MYSQL_ONLY = frozenset(name for name, dialect, _ in _FOREIGN_SYNTAX if dialect == "mysql")


def _code_only(text: str) -> str:
    """`text` with comments, string literals, dollar-quoted bodies and quoted identifiers
    blanked (offsets and line breaks kept): what is left is the SQL's own syntax."""
    spans = _masked_spans(text)
    if not spans:
        return text
    pieces: list[str] = []
    position = 0
    if text.isascii():
        # The text blanked whole, in C, and the spans taken from it: no Python loop over a
        # span's lines.
        blank = text.translate(_BLANKED)
        for start, end in spans:
            pieces.append(text[position:start])
            pieces.append(blank[start:end])
            position = end
        pieces.append(text[position:])
        return "".join(pieces)
    for start, end in spans:
        pieces.append(text[position:start])
        # Each character but a line break becomes a space (as re.sub("[^\n]", " ") would).
        if text.find("\n", start, end) == -1:
            pieces.append(" " * (end - start))
        else:
            pieces.append("\n".join(" " * len(line) for line in text[start:end].split("\n")))
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


# What blanking makes of each ASCII character: a space, but a line break (\n) itself.
_BLANKED = " " * 10 + "\n" + " " * 117

_FolderKey = tuple[int, int]  # (device, inode): a folder however it is reached


def _folder_key(folder: Path) -> _FolderKey | None:
    try:
        info = os.stat(folder)  # follows links: a linked folder is the folder it points to
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def _checked_histories(histories: Sequence[Sequence[str | Path]]) -> tuple[tuple[Path, ...], ...]:
    """The configured histories, each folder checked: it exists, is no drizzle folder (its
    journal decides its order) and belongs to one history only."""
    checked: list[tuple[Path, ...]] = []
    owner: dict[_FolderKey, Path] = {}
    for history in histories:
        folders: list[Path] = []
        for raw in history:
            folder = Path(raw)
            key = _folder_key(folder)
            if key is None or not folder.is_dir():
                raise DiscoveryError(f"histories: {_display(folder)}: no such folder")
            if (folder / "meta" / "_journal.json").is_file():
                raise DiscoveryError(
                    f"histories: {_display(folder)} is a drizzle folder: its journal decides "
                    "its order, so it cannot be merged with other folders"
                )
            if key in owner:
                raise DiscoveryError(
                    f"histories: {_display(folder)} is named twice (as {_display(owner[key])})"
                )
            owner[key] = folder
            folders.append(folder)
        checked.append(tuple(folders))
    return tuple(checked)


class _Group(Record):
    """Sibling Flyway folders becoming one history: their indexes among the sets, versions."""

    _fields = ("members", "versions", "low", "high")
    __slots__ = _fields

    members: list[int]
    versions: set[tuple[int, ...]]
    low: tuple[int, ...]
    high: tuple[int, ...]

    def __init__(
        self,
        members: list[int],
        versions: set[tuple[int, ...]],
        low: tuple[int, ...],
        high: tuple[int, ...],
    ) -> None:
        self.members = members
        self.versions = versions
        self.low = low
        self.high = high

    __hash__ = None  # type: ignore[assignment]  # changeable: unhashable, as its dataclass was


class _Walk:
    """One discovery: its exclude patterns, the folders already discovered (by device and inode,
    so that a folder reached again, through a link or a loop of links, is discovered once) and
    the configured histories."""

    def __init__(
        self,
        exclude: tuple[str, ...],
        histories: tuple[tuple[Path, ...], ...],
        dialect: str | None = None,
    ) -> None:
        self.exclude = exclude
        self.histories = histories
        self.dialect = dialect
        self.configured = frozenset(
            key for history in histories for key in map(_folder_key, history) if key is not None
        )
        self.seen: set[_FolderKey] = set()

    def folder(self, folder: Path, depth: int) -> list[MigrationSet]:
        key = _folder_key(folder)
        if key is not None:
            if key in self.seen:
                return []
            self.seen.add(key)
        journal = folder / "meta" / "_journal.json"
        if journal.is_file():
            return [_drizzle_set(folder, journal, self.exclude)]
        scanned = _scan(folder, folder, self.exclude)
        if scanned.candidates:
            found = [
                _ordered_set(folder, group, [*scanned.notes, *notes], dialect=dialect)
                for dialect, group, notes in _dialect_histories(scanned, self.dialect)
            ]
            if depth == 0 and len(found) == 1 and found[0].convention == "flyway":
                found = [self._with_flyway_siblings(found[0])]
            return found
        if depth >= _MAX_DEPTH:
            return []
        sets: list[MigrationSet] = []
        subfolders = scanned.subfolders
        versioned = _versioned_set(folder, subfolders, self.exclude)
        if versioned is not None:
            sets.append(versioned)
            taken = set(versioned.roots)
            subfolders = [sub for sub in subfolders if sub not in taken]
        for sub in subfolders:
            sets.extend(self.folder(sub, depth + 1))
        return self._merge_flyway_siblings(folder, sets)

    def _with_flyway_siblings(self, found: MigrationSet) -> MigrationSet:
        """A Flyway folder named on its own, with the sibling locations of its history (the
        rule of `_merge_flyway_siblings`): linting one location, as the pre-commit hook does
        with the folder of a staged file, replays the history Flyway applies."""
        root = found.root
        assert root is not None
        own = _folder_key(root)
        if own is None or own in self.configured:
            return found
        parent = root.parent
        try:
            entries = sorted(os.scandir(parent), key=lambda e: e.name)
        except OSError:
            return found
        siblings: list[MigrationSet] = []
        for entry in entries:
            if entry.name.startswith(".") or entry.name in _SKIPPED_FOLDERS or not entry.is_dir():
                continue
            path = Path(entry.path)
            key = _folder_key(path)
            if key == own:
                siblings.append(found._replace(root=path))
                continue
            if key is None or key in self.seen or key in self.configured:
                continue
            if (path / "meta" / "_journal.json").is_file():
                continue
            try:
                scanned = _scan(path, path, self.exclude)
            except DiscoveryError:
                continue
            dialect, candidates, notes = _dialect_histories(scanned, self.dialect)[0]
            if any(c.flyway for c in candidates):
                siblings.append(
                    _ordered_set(path, candidates, [*scanned.notes, *notes], dialect=dialect)
                )
        for merged in self._merge_flyway_siblings(parent, siblings):
            if merged.roots and any(_folder_key(r) == own for r in merged.roots):
                self.seen.update(k for k in map(_folder_key, merged.roots) if k is not None)
                return merged
        return found

    def _merge_flyway_siblings(self, parent: Path, sets: list[MigrationSet]) -> list[MigrationSet]:
        """Flyway applies all its locations as one history, ordered by version. Sibling Flyway
        folders (sub-folders of `parent`) are taken for the locations of one application when
        their version ranges interleave and no version appears in two of them: separate
        histories side by side (one per dialect, one per service) each start at V1, and
        folders with one version each would make Flyway refuse to run."""
        groups: list[_Group] = []
        for index, found in enumerate(sets):
            root = found.root
            if found.convention != "flyway" or found.roots or root is None:
                continue
            if root.parent != parent or _folder_key(root) in self.configured:
                continue  # configured histories are merged as configured
            versions = {version_key(f.version) for f in found.files if f.version}
            if not versions:
                continue  # repeatable files only: nothing says where they belong
            low, high = min(versions), max(versions)
            for group in groups:
                if group.low <= high and low <= group.high and not group.versions & versions:
                    group.members.append(index)
                    group.versions |= versions
                    group.low, group.high = min(group.low, low), max(group.high, high)
                    break
            else:
                groups.append(_Group([index], versions, low, high))
        merged = {group.members[0]: group for group in groups if len(group.members) > 1}
        if not merged:
            return sets
        absorbed = {index for group in merged.values() for index in group.members[1:]}
        out: list[MigrationSet] = []
        for index, found in enumerate(sets):
            first = merged.get(index)
            if first is not None:
                folders = [root for i in first.members if (root := sets[i].root) is not None]
                note = (
                    "one Flyway history from sibling folders whose versions interleave "
                    f"({', '.join(_display(f) for f in folders)}): Flyway applies all its "
                    "locations as one history; the configuration's `histories` overrides this"
                )
                out.append(self.merged(folders, note))
            elif index not in absorbed:
                out.append(found)
        return out

    def merged(self, folders: Sequence[Path], note: str) -> MigrationSet:
        """One set holding the migrations of every folder, in version order."""
        candidates: list[_Candidate] = []
        notes = [note]
        other_dialects = 0
        for folder in folders:
            scanned = _scan(folder, folder, self.exclude)
            candidates.extend(scanned.candidates)
            other_dialects += scanned.other_dialects
            notes.extend(f"{_display(folder)}: {n}" for n in scanned.notes)
        # One history: of a pop layout, the first dialect's (as `_dialect_histories` orders).
        merged = _Scanned(candidates, [], [], other_dialects)
        dialect, kept, more = _dialect_histories(merged, self.dialect)[0]
        return _ordered_set(folders[0], kept, [*notes, *more], tuple(folders), dialect)

    def merge_configured(self, sets: list[MigrationSet]) -> list[MigrationSet]:
        """Sets of a configured history become one set, in place of the first of them; its
        folders that were not discovered are brought in (a location alone is half a schema)."""
        if not self.histories:
            return sets
        keys = [{_folder_key(r) for r in (s.roots or ((s.root,) if s.root else ()))} for s in sets]
        for history in self.histories:
            if len(history) < 2:
                continue  # a folder kept to itself: only out of automatic merging
            wanted = {_folder_key(f) for f in history}
            members = [i for i, found in enumerate(keys) if found & wanted]
            if not members:
                continue
            note = "one history from the configured folders (`histories`): " + ", ".join(
                _display(f) for f in history
            )
            merged = self.merged(history, note)
            first = members[0]
            sets = [merged if i == first else s for i, s in enumerate(sets) if i not in members[1:]]
            keys = [wanted if i == first else k for i, k in enumerate(keys) if i not in members[1:]]
        return sets


# temporal-sql-tool's schema folders: `versioned/v<major>.<minor>/`, each a version's files
# (its manifest.json lists them in order), applied in version order.
_VERSION_FOLDER = r"v(\d+(?:\.\d+)*)"
_MANIFEST = "manifest.json"


def _versioned_set(
    folder: Path, subfolders: Sequence[Path], exclude: Sequence[str]
) -> MigrationSet | None:
    """The sub-folders named as versions (`v1.2`, `v1.10`) of a folder without migrations of its
    own, as one history: temporal-sql-tool applies `versioned/v<major>.<minor>/` in version
    order (1.2 before 1.10), each version's files in its manifest.json's order (by name
    without one). None when no sub-folder is a version, or a version folder holds no `.sql`
    file, sub-folders, or anything but plain `.sql` files (up/down pairs, Flyway or pop
    names, migration folders: another layout, discovered as such)."""
    versions = sorted(
        (tuple(int(n) for n in match.group(1).split(".")), sub)
        for sub in subfolders
        if (match := _compiled(_VERSION_FOLDER).fullmatch(sub.name))
    )
    if not versions:
        return None
    files: list[MigrationFile] = []
    notes: list[str] = []
    for _, sub in versions:
        scanned = _scan(sub, folder, exclude)
        candidates = scanned.candidates
        if not candidates or scanned.subfolders:
            return None  # a folder of folders (temporal's `mysql/v8/`): searched as usual
        if any(c.flyway or c.folder or c.updown or c.pop or c.infix for c in candidates):
            return None
        notes += [f"{sub.name}: {note}" for note in scanned.notes]
        ordered = _manifest_order(sub, candidates, notes)
        ordered = _without_blank_files(ordered, notes)
        files += [MigrationFile(c.path, _display(c.path), c.version_text, c.name) for c in ordered]
    roots = tuple(sub for _, sub in versions)
    notes.insert(
        0,
        f"one history from the {len(roots)} version folders (v<major>.<minor>), in version "
        "order: temporal-sql-tool's versioned layout",
    )
    return MigrationSet(folder, "versioned", tuple(files), tuple(notes), roots=roots)


def _manifest_order(
    folder: Path, candidates: list[_Candidate], notes: list[str]
) -> list[_Candidate]:
    """A version folder's files in the order its manifest.json lists them
    (`SchemaUpdateCqlFiles`, temporal-sql-tool's), those it does not list after them and said
    so; without a readable manifest, by version and name."""
    by_name = sorted(candidates, key=lambda c: (c.version or (), c.name, c.path.name))
    manifest = folder / _MANIFEST
    if not manifest.is_file():
        return by_name
    try:
        listed = json.loads(manifest.read_text(encoding="utf-8"))["SchemaUpdateCqlFiles"]
        order = {str(name): index for index, name in enumerate(listed)}
    except (OSError, ValueError, KeyError, TypeError) as error:
        notes.append(
            f"{_display(manifest)}: cannot read the file list ({type(error).__name__}: {error});"
            " files ordered by name"
        )
        return by_name
    unlisted = [c.path.name for c in by_name if c.path.name not in order]
    if unlisted:
        notes.append(
            f"{folder.name}: not in its manifest.json, so never applied by temporal-sql-tool "
            "(linted after the others): " + ", ".join(unlisted)
        )
    return sorted(by_name, key=lambda c: order.get(c.path.name, len(order)))


class _Scanned(Record):
    """What a folder holds directly: migration candidates (of every dialect a pop infix names),
    notes on skipped files, its sub-folders, and how many files were skipped for naming a
    database without a dialect here (CockroachDB, SQL Server)."""

    _fields = ("candidates", "notes", "subfolders", "other_dialects")
    __slots__ = _fields

    candidates: list[_Candidate]
    notes: list[str]
    subfolders: list[Path]
    other_dialects: int

    def __init__(
        self,
        candidates: list[_Candidate],
        notes: list[str],
        subfolders: list[Path],
        other_dialects: int,
    ) -> None:
        self.candidates = candidates
        self.notes = notes
        self.subfolders = subfolders
        self.other_dialects = other_dialects


def _scan(folder: Path, root: Path, exclude: Sequence[str]) -> _Scanned:
    """The migration candidates directly in `folder`, notes on skipped files, its sub-folders."""
    candidates: list[_Candidate] = []
    skipped: list[str] = []
    subfolders: list[Path] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as error:
        raise DiscoveryError(f"{folder}: cannot list folder: {error.strerror}") from error
    other_dialect = 0
    special: list[str] = []
    for entry in entries:
        name = entry.name
        if name.startswith("."):
            continue
        # Paths are built only when needed: a pop folder holds thousands of files of other
        # dialects, and discovery runs on every lint.
        if exclude:
            path = Path(entry.path)
            if _excluded(path, path.relative_to(root).as_posix(), exclude):
                continue
        if entry.is_dir():
            path = Path(entry.path)
            migration = _folder_migration(path, root, exclude)
            if migration is not None:
                candidates.append(migration)
            elif name not in _SKIPPED_FOLDERS:
                subfolders.append(path)
            continue
        if not name.lower().endswith(".sql"):
            continue
        if not entry.is_file():
            # A FIFO, device or socket (or a link to one, or to nothing): reading it could
            # block for ever or never end.
            special.append(name)
            continue
        candidate = _file_candidate(entry.path, name)
        if candidate is None:
            other_dialect += 1
        else:
            candidates.append(candidate)
    if other_dialect or any(c.infix for c in candidates):
        # Up/down files beside files of other dialects: pop's layout.
        candidates = [c._replace(pop=True) if c.updown else c for c in candidates]
    if special:
        skipped.append("not regular files, skipped: " + ", ".join(special))
    return _Scanned(candidates, skipped, subfolders, other_dialect)


def _dialect_histories(
    scanned: _Scanned, wanted: str | None
) -> list[tuple[str, list[_Candidate], list[str]]]:
    """The histories of a folder's candidates: (the dialect their infix names or '', the
    candidates, notes). pop applies, on each database, the files named for its dialect and
    the dialect-free ones: a folder whose infixes name several dialects (Ory kratos:
    `.postgres.`, `.mysql.`, `.sqlite3.`) is one history per dialect, each with the
    dialect-free files, PostgreSQL's first; `wanted` (the configured dialect) keeps its own
    only. A folder without infixes is one history."""
    candidates = scanned.candidates
    named = [d for d in _DIALECT_ORDER if any(c.infix == d for c in candidates)]
    dialects: list[str] = [wanted] if wanted else named or [""]
    histories: list[tuple[str, list[_Candidate], list[str]]] = []
    for dialect in dialects:
        kept = [c for c in candidates if c.infix in ("", dialect)]
        skipped = scanned.other_dialects + len(candidates) - len(kept)
        notes = (
            [f"{skipped} file(s) for other database dialects (by their name's infix) skipped"]
            if skipped
            else []
        )
        histories.append((dialect if dialect in named else "", kept, notes))
    return histories


def _folder_migration(folder: Path, root: Path, exclude: Sequence[str]) -> _Candidate | None:
    """`<version>_<name>/up.sql` or `/migration.sql`: one migration held by a folder."""
    for up_name in _FOLDER_UP:
        up = folder / up_name
        if up.is_file() and not (
            exclude and _excluded(up, up.relative_to(root).as_posix(), exclude)
        ):
            version, version_text, name = _split_version(folder.name)
            down = next((folder / n for n in _FOLDER_DOWN if (folder / n).is_file()), None)
            return _Candidate(
                up, version, version_text, name, down=False, folder=True, down_path=down
            )
    return None


def _file_candidate(location: str, file_name: str) -> _Candidate | None:
    """What a `.sql` file's name says; None for a file of another dialect."""
    stem = file_name[: -len(".sql")]
    down = False
    updown = False
    dialect = ""
    pop = False
    lowered = stem.lower()
    if lowered.endswith((".up", ".down")):
        updown = True
        down = lowered.endswith(".down")
        stem = stem.rsplit(".", 1)[0]
        lowered = stem.lower()
        if lowered.endswith(_AUTOCOMMIT):
            stem = stem[: -len(_AUTOCOMMIT)]
            lowered = stem.lower()
            pop = True
    if "." in stem:
        infix = lowered.rsplit(".", 1)[1]
        if infix in _UNSUPPORTED_INFIXES:
            return None
        if infix in _INFIX_DIALECTS:
            stem = stem.rsplit(".", 1)[0]
            dialect = _INFIX_DIALECTS[infix]
            pop = True
    flyway = _compiled(_FLYWAY, _IGNORECASE).match(stem)
    if flyway is not None:
        kind = flyway.group("kind").upper()
        text = (flyway.group("version") or "").replace("_", ".")
        version = _version_tuple(text) if text else None
        if kind == "R" or version is not None:
            return _Candidate(
                Path(location),
                None if kind == "R" else version,
                text,
                flyway.group("name"),
                down=down or kind == "U",
                repeatable=kind == "R",
                flyway=True,
                updown=updown,
                infix=dialect,
                pop=pop,
            )
    version, version_text, name = _split_version(stem)
    return _Candidate(
        Path(location),
        version,
        version_text,
        name,
        down=down,
        updown=updown,
        infix=dialect,
        pop=pop,
    )


def _split_version(name: str) -> tuple[tuple[int, ...] | None, str, str]:
    match = _compiled(_VERSION).match(name)
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


def _ordered_set(
    folder: Path,
    candidates: list[_Candidate],
    notes: list[str],
    roots: tuple[Path, ...] = (),
    dialect: str = "",
) -> MigrationSet:
    convention = _convention(candidates)
    candidates = _dialect_files_win(candidates, notes)
    ups = [c for c in candidates if not c.down]
    downs = {_pair_key(c): c.path for c in candidates if c.down}
    if not ups and downs:
        notes.append("only down migrations found: nothing to replay")
    ups = _without_blank_files(ups, notes)

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

    if convention == "prisma":
        # prisma applies its migration folders in string order of their names, not by version
        # (`10_x` before `2_x`): the order of the folder names' code points, as its engine
        # compares them (Rust's byte order of UTF-8).
        ups.sort(key=lambda c: (c.path.parent.name, c.path.as_posix()))
    else:
        ups.sort(key=order)
        unversioned = [c.path.name for c in ups if c.version is None and not c.repeatable]
        if unversioned and len(unversioned) < len(ups):
            notes.append(
                "files without a version run after the versioned ones, by name: "
                + ", ".join(unversioned)
            )
    files = tuple(
        MigrationFile(
            c.path,
            _display(c.path),
            c.version_text,
            c.name,
            c.down_path or downs.get(_pair_key(c)),
            step_of(convention, c.version_text),
        )
        for c in ups
    )
    return MigrationSet(folder, convention, files, tuple(notes), roots=roots, dialect=dialect)


# Ory's pop versions: `YYYYMMDDHHMMSS` (when the migration was created) and a 6-digit step
# (ory/cli#223: `YYYYMMDDHHmmSS000000_<name>.[engine.]up|down.sql`).
_ORY_STEP = r"(\d{14})\d{6}"


def step_of(convention: str, version: str) -> str:
    """The migration a file is one step of, or '' when it is a migration of its own. Ory's
    pop layout writes one migration as numbered steps of one timestamp (kratos'
    `20210410175418000000_network...` to `...000180_network...`, and its SQLite rebuilds one
    statement a file): written together, in one pull request, and deployed together, so a
    later step changes what an earlier one made before any application version used it."""
    if convention not in ("pop", "up-down"):
        return ""
    match = _compiled(_ORY_STEP).fullmatch(version)
    return f"{convention}:{match.group(1)}" if match else ""


def _dialect_files_win(candidates: list[_Candidate], notes: list[str]) -> list[_Candidate]:
    """pop's rule: for one version, the file written for the database's dialect is applied and
    the dialect-free file of that version is not (Ory popx's SortAndFilter); up and down alike."""
    specific = {(c.version_text, c.down) for c in candidates if c.infix and c.version_text}
    if not specific:
        return candidates
    replaced = {
        id(c)
        for c in candidates
        if c.updown and not c.infix and (c.version_text, c.down) in specific
    }
    if replaced:
        names = [c.path.name for c in candidates if id(c) in replaced and not c.down]
        infix = next(_INFIX_NAMES[c.infix] for c in candidates if c.infix)
        notes.append(
            f"{len(names)} dialect-free file(s) not replayed: the {infix} file of the same "
            "version replaces them, as pop applies them: " + ", ".join(names)
        )
    return [c for c in candidates if id(c) not in replaced]


def _without_blank_files(ups: list[_Candidate], notes: list[str]) -> list[_Candidate]:
    """Files holding only whitespace (pop keeps an empty file for every dialect a migration
    does nothing on): nothing to replay, so nothing to report."""
    blank = [c for c in ups if _blank(c.path)]
    if not blank:
        return ups
    names = [f"{c.path.parent.name}/{c.path.name}" if c.folder else c.path.name for c in blank]
    notes.append(f"{len(blank)} empty file(s) not replayed: " + ", ".join(names))
    skipped = {id(c) for c in blank}
    return [c for c in ups if id(c) not in skipped]


def _blank(path: Path) -> bool:
    """Whether a file holds only whitespace; only files of a few bytes are read."""
    try:
        size = os.stat(path).st_size
        if size > _BLANK_PROBE:
            return False
        with open(path, "rb") as handle:
            return not handle.read(_BLANK_PROBE + 1).strip()
    except OSError:
        return False  # reading it reports the problem


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
        return "pop" if any(c.pop for c in found) else "up-down"
    return "numbered"


def _drizzle_set(folder: Path, journal: Path, exclude: Sequence[str]) -> MigrationSet:
    """Order from drizzle's journal; a journal that cannot be read falls back to the names."""
    scanned = _scan(folder, folder, exclude)
    _, candidates, more = _dialect_histories(scanned, None)[0]
    notes = [*scanned.notes, *more]
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


class BaseRevision(Record):
    """What a git revision (`--diff-base REF`) holds of the linted paths.

    `files` maps each file at REF (resolved path in the working tree) to its content at REF;
    `root` is a folder holding those files at REF, laid out as in the working tree, to lint.
    """

    _fields = ("ref", "files", "root")
    __slots__ = _fields

    ref: str
    files: dict[Path, bytes]
    root: Path

    def __init__(self, ref: str, files: dict[Path, bytes], root: Path) -> None:
        self.ref = ref
        self.files = files
        self.root = root

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


def base_revision(
    ref: str, paths: Sequence[str | Path], into: Path, extra: Sequence[Path] = ()
) -> BaseRevision:
    """The linted paths as they were at `ref`, written under `into` (a scratch folder), with
    the `extra` folders inside the repository (the configured histories' other folders)."""
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
    for folder in extra:
        resolved = folder.resolve()
        if resolved.is_relative_to(top):
            relative.append(resolved.relative_to(top).as_posix())
    listing = git("ls-tree", "-r", "-z", "--name-only", ref, "--", *relative)
    files: dict[Path, bytes] = {}
    for name in filter(None, listing.decode("utf-8", "replace").split("\0")):
        content = git("show", f"{ref}:{name}")
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        files[(top / name).resolve()] = content
    # The copy's root stands for the repository's: reading folder names stops there, as in
    # the working tree (detect_dialect), not at the scratch folder's random name.
    (into / ".git").mkdir(exist_ok=True)
    return BaseRevision(ref, files, into)


def _git_root(path: Path) -> Path:
    folder = path.resolve()
    folder = folder if folder.is_dir() else folder.parent
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    raise DiscoveryError(f"--diff-base: {path} is not inside a git repository")
