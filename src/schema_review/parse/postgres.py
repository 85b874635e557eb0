"""PostgreSQL parsing with pglast on its fast path.

`pglast.parser.parse_sql_json` returns libpg_query's JSON; decoding it with the stdlib
is several times cheaper than building pglast Node objects (see NOTES.md). We keep the
decoded dicts and never build Node objects unless an expression must be printed.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from schema_review.parse.expressions import Expression
from schema_review.parse.source import SourceFile
from schema_review.resources import CacheKey, cache_key, load_cached, store_cached


class _DeferredModule(ModuleType):
    """A module whose code runs on first use of one of its attributes.

    (importlib's LazyLoader does not help here: on Python 3.11 the import system's own
    look-up of `__spec__` already triggers it.)
    """

    def __getattr__(self, name: str) -> Any:
        spec = self.__spec__
        object.__setattr__(self, "__class__", ModuleType)  # stop deferring; run the code
        if spec is not None and spec.loader is not None:
            spec.loader.exec_module(self)
        return ModuleType.__getattribute__(self, name)


def _import_parser() -> ModuleType:
    """pglast's parser, with `pglast.ast` and `pglast.enums` loaded on first use.

    pglast's package imports its Node classes and enums (about 25 ms, a sixth of a
    one-file run) though the JSON fast path never touches them; printing an expression
    (`deparse`) loads them when it first needs them. Any surprise: the plain import.
    """
    if "pglast" not in sys.modules:
        try:
            spec = importlib.util.find_spec("pglast")
            locations = list(spec.submodule_search_locations or []) if spec else []
            root = Path(locations[0]) if locations else None
            for name, path in (("pglast.ast", "ast.py"), ("pglast.enums", "enums/__init__.py")):
                if root is None or name in sys.modules or not (root / path).is_file():
                    continue
                package = [str((root / path).parent)] if path.endswith("__init__.py") else None
                deferred = importlib.util.spec_from_file_location(
                    name, root / path, submodule_search_locations=package
                )
                if deferred is None or deferred.loader is None:
                    continue
                module = importlib.util.module_from_spec(deferred)
                module.__class__ = _DeferredModule
                sys.modules[name] = module
        except (ImportError, OSError, ValueError):
            pass
    import pglast
    from pglast import parser

    # The import system binds a submodule on its package only when it runs it.
    for name in ("ast", "enums"):
        if not hasattr(pglast, name) and f"pglast.{name}" in sys.modules:
            setattr(pglast, name, sys.modules[f"pglast.{name}"])
    return parser


pg_parser = _import_parser()

# Whitespace and comments that libpg_query counts as part of the next statement.
_LEADING_TRIVIA = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)*", re.DOTALL)


@dataclass(slots=True, eq=False)
class Statement:
    """One parsed statement and where it is in its file.

    `node` holds the statement's fields as libpg_query names them; `kind` is its node
    type (`CreateStmt`, `AlterTableStmt`, ...). Offsets are character offsets into
    `source.text`; `trivia_start` is where the comments before the statement begin.
    """

    source: SourceFile
    index: int
    kind: str
    node: dict[str, Any]
    start: int
    end: int
    trivia_start: int
    base: int = 0  # locations inside `node` are relative to this offset

    def offset_of(self, node: dict[str, Any] | None) -> int | None:
        """The character offset in the file of a node of this statement, if it has one."""
        location = node.get("location") if node else None
        if not isinstance(location, int) or location < 0:
            return None
        offset = self.base + location
        return offset if self.start <= offset <= self.end else None

    def expression(self, node: dict[str, Any] | None) -> Expression | None:
        """An expression node of this statement, printed only when someone asks."""
        if not node:
            return None
        return Expression(self.text, self.start - self.base, node)

    @property
    def text(self) -> str:
        return self.source.text[self.start : self.end]

    @property
    def file(self) -> str:
        return self.source.display

    @property
    def line(self) -> int:
        return self.source.position(self.start)[0]

    @property
    def column(self) -> int:
        return self.source.position(self.start)[1]

    @property
    def end_line(self) -> int:
        return self.source.position(max(self.start, self.end - 1))[0]

    @property
    def end_column(self) -> int:
        return self.source.position(max(self.start, self.end - 1))[1]

    @property
    def leading_comments(self) -> str:
        return self.source.text[self.trivia_start : self.start]

    def __repr__(self) -> str:
        return f"<Statement {self.kind} {self.file}:{self.line}>"


@dataclass(frozen=True, slots=True)
class ParseProblem:
    """A part of a file that pglast could not parse."""

    source: SourceFile
    offset: int
    message: str

    @property
    def line(self) -> int:
        return self.source.position(self.offset)[0]

    @property
    def column(self) -> int:
        return self.source.position(self.offset)[1]


def _reserved_words() -> frozenset[str]:
    from pglast import keywords

    return frozenset(keywords.RESERVED_KEYWORDS) | frozenset(keywords.TYPE_FUNC_NAME_KEYWORDS)


# Words PostgreSQL reserves: as names they must be quoted everywhere.
RESERVED_WORDS = _reserved_words()

# Anything that could be an identifier over 63 bytes: a run of 64 characters that are not
# separators (or 16 when the text is not ASCII: 4 bytes a character). The scanner runs only
# on statements that have one.
_LONG_ASCII_WORD = re.compile(r"[^\s(),;.:=<>+*/\-\[\]\']{64,}")
_LONG_WORD = re.compile(r"[^\s(),;.:=<>+*/\-\[\]\']{16,}")


def long_identifier(text: str, limit: int = 63) -> str:
    """The first identifier of `text` longer than `limit` bytes, as written, or ''.

    The parser truncates such names silently (so does PostgreSQL, with a NOTICE): only the
    scanner still sees them whole.
    """
    if len(text) <= limit:
        return ""
    if not (_LONG_ASCII_WORD if text.isascii() else _LONG_WORD).search(text):
        return ""
    for token in pg_parser.scan(text):
        if token.name != "IDENT":
            continue
        word = text[token.start : token.end + 1]
        name = word[1:-1].replace('""', '"') if word.startswith('"') else word
        if len(name.encode("utf-8")) > limit:
            return name
    return ""


def references_actions_written(text: str, start: int) -> bool:
    """Whether the REFERENCES clause whose table starts at `start` of `text` says ON DELETE or
    ON UPDATE, read from the scanner's tokens up to the end of the constraint."""
    depth = 0
    previous = ""
    # From the table name on: the clause is a run of whole tokens, and the statement before
    # it need not be scanned again for every foreign key.
    for token in pg_parser.scan(text[start:]):
        if token.name in ("C_COMMENT", "SQL_COMMENT"):
            continue
        if token.name == "ASCII_40":  # (
            depth += 1
        elif token.name == "ASCII_41":  # )
            depth -= 1
            if depth < 0:
                return False  # the end of the table's element list
        elif token.name == "ASCII_44" and depth == 0:  # , : the next element
            return False
        elif previous == "ON" and token.name in ("DELETE_P", "UPDATE"):
            return True
        previous = token.name
    return False


# Bump when what the cache holds changes shape.
_CACHE_FORMAT = 2  # 2: locations in characters for non-ASCII text


Parsed = tuple[list[Statement], list[ParseProblem]]
# A parse as plain data (marshal and pickle can carry it): statements' fields, problems.
_ParseData = tuple[list[tuple[Any, ...]], list[tuple[int, str]]]


def parse_postgres(source: SourceFile) -> Parsed:
    """Parse a file into statements, reusing an earlier run's parse of the same text.

    The cache is keyed by the text and the parser's version, so an edited file, or another
    pglast, is always parsed again.
    """
    return parse_many([source])[0]


def parse_many(sources: list[SourceFile], jobs: int = 1) -> list[Parsed]:
    """Parse files (cached ones from the cache); with `jobs` > 1 and many files to parse,
    in that many processes."""
    paths = [_cache_path(source.text) for source in sources]
    data: list[_ParseData | None] = [_cached(path) for path in paths]
    missing = [i for i, found in enumerate(data) if found is None]
    if jobs > 1 and len(missing) >= _PARALLEL_FROM:
        import concurrent.futures
        import multiprocessing

        # fork: the workers start with pglast already imported.
        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
            texts = [sources[i].text for i in missing]
            for i, parsed in zip(missing, pool.map(_parse_text, texts, chunksize=16), strict=True):
                data[i] = parsed
    else:
        for i in missing:
            data[i] = _as_data(_parse_guarded(sources[i]))
    for i in missing:
        _store(paths[i], data[i])
    results: list[Parsed] = []
    for source, item in zip(sources, data, strict=True):
        assert item is not None
        statements, problems = item
        results.append(
            (
                [Statement(source, *fields) for fields in statements],
                [ParseProblem(source, offset, message) for offset, message in problems],
            )
        )
    return results


# Below this many files to parse, starting processes costs more than it saves.
_PARALLEL_FROM = 64


def _parse_text(text: str) -> _ParseData:
    return _as_data(_parse_guarded(SourceFile("", text)))


def _parse_guarded(source: SourceFile) -> Parsed:
    """A parse that never raises: a failure of ours is the file's problem, not the run's."""
    try:
        return _parse_postgres(source)
    except Exception as error:  # pragma: no cover - a bug of ours; the other files go on
        message = f"internal error while parsing: {type(error).__name__}: {error}"
        return [], [ParseProblem(source, 0, message)]


def _as_data(parsed: Parsed) -> _ParseData:
    statements, problems = parsed
    return (
        [(s.index, s.kind, s.node, s.start, s.end, s.trivia_start, s.base) for s in statements],
        [(p.offset, p.message) for p in problems],
    )


def _cached(key: CacheKey | None) -> _ParseData | None:
    """A parse an earlier run kept, when it has the shape `_as_data` gives (anything else
    is a miss: the cache is checked, but never trusted to hold what it should)."""
    data = load_cached(key)
    if not isinstance(data, tuple) or len(data) != 2:
        return None
    statements, problems = data
    if not isinstance(statements, list) or not isinstance(problems, list):
        return None
    for fields in statements:
        if (
            type(fields) is not tuple
            or len(fields) != _STATEMENT_FIELDS
            or type(fields[1]) is not str
            or type(fields[2]) is not dict
            or not all(type(fields[i]) is int for i in (0, 3, 4, 5, 6))
        ):
            return None
    for fields in problems:
        if (
            type(fields) is not tuple
            or len(fields) != _PROBLEM_FIELDS
            or type(fields[0]) is not int
            or not all(type(field) is str for field in fields[1:])
        ):
            return None
    return statements, problems


# What `_as_data` keeps of a statement and of a problem: every field but the source.
_STATEMENT_FIELDS = len(Statement.__dataclass_fields__) - 1
_PROBLEM_FIELDS = len(ParseProblem.__dataclass_fields__) - 1


def _store(key: CacheKey | None, data: _ParseData | None) -> None:
    if data is not None:
        store_cached(key, data)


def _cache_path(text: str) -> CacheKey | None:
    version = getattr(sys.modules.get("pglast"), "__version__", "?")
    return cache_key("parse", f"{_CACHE_FORMAT}|{version}|{sys.version_info[:2]}", text)


def _parse_postgres(source: SourceFile) -> tuple[list[Statement], list[ParseProblem]]:
    """Parse a file into statements; on a syntax error, keep every statement that parses.

    A file with an error is split with pglast's scanner and each piece is parsed alone,
    so one bad statement costs only itself and its finding points at the error.
    """
    text = source.text
    try:
        decoded = json.loads(pg_parser.parse_sql_json(text))
    except pg_parser.ParseError as error:
        return _parse_piecewise(source, _problem(source, error, 0))
    statements: list[Statement] = []
    _collect(source, decoded, 0, len(text), statements)
    return statements, []


def _collect(
    source: SourceFile,
    decoded: dict[str, Any],
    base: int,
    limit: int,
    out: list[Statement],
) -> None:
    # Comments before a statement start after the previous statement, or at the start of
    # this piece when the file was split after a syntax error.
    text = source.text
    chunk = text[base:limit]
    if not chunk.isascii():
        _characters_for_bytes(decoded, chunk)
    for raw in decoded.get("stmts", ()):
        location = base + raw.get("stmt_location", 0)
        length = raw.get("stmt_len", 0)
        end = location + length if length else limit
        start = _LEADING_TRIVIA.match(text, location, end)
        begin = start.end() if start else location
        while end > begin and text[end - 1].isspace():
            end -= 1
        ((kind, node),) = raw["stmt"].items()
        trivia_start = max(out[-1].end if out else 0, base)
        if trivia_start < len(text) and text[trivia_start] == ";":
            trivia_start += 1
        out.append(Statement(source, len(out), kind, node, begin, end, trivia_start, base))


def _characters_for_bytes(decoded: dict[str, Any], chunk: str) -> None:
    """libpg_query gives locations in bytes of UTF-8; the model counts characters."""
    encoded = chunk.encode("utf-8", "surrogatepass")
    char_at = [0] * (len(encoded) + 1)
    position = 0
    for index, character in enumerate(chunk):
        width = len(character.encode("utf-8", "surrogatepass"))
        for offset in range(width):
            char_at[position + offset] = index
        position += width
    char_at[position] = len(chunk)
    last = len(encoded)

    def convert(value: int) -> int:
        return char_at[min(max(value, 0), last)]

    for raw in decoded.get("stmts", ()):
        start = raw.get("stmt_location", 0)
        length = raw.get("stmt_len", 0)
        if length:
            raw["stmt_len"] = convert(start + length) - convert(start)
        if "stmt_location" in raw:
            raw["stmt_location"] = convert(start)
    stack: list[Any] = [raw.get("stmt") for raw in decoded.get("stmts", ())]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            location = item.get("location")
            if isinstance(location, int) and location >= 0:
                item["location"] = convert(location)
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))


def _parse_piecewise(
    source: SourceFile, first: ParseProblem
) -> tuple[list[Statement], list[ParseProblem]]:
    """Parse statement by statement after `first`, the whole file's first error."""
    text = source.text
    try:
        pieces = pg_parser.split(text, with_parser=False, only_slices=True)
    except pg_parser.ParseError:
        return [], [first]
    statements: list[Statement] = []
    problems: list[ParseProblem] = []
    for piece in pieces:
        chunk = text[piece.start : piece.stop]
        try:
            decoded = json.loads(pg_parser.parse_sql_json(chunk))
        except pg_parser.ParseError as error:
            # The whole-file error is the most precise one for its own statement (a piece
            # ends before its ';', so alone it would fail "at end of input").
            if piece.start <= first.offset <= piece.stop + 1:
                problems.append(first)
            else:
                problems.append(_problem(source, error, piece.start, piece.stop))
            continue
        _collect(source, decoded, piece.start, piece.stop, statements)
    if first not in problems:
        problems.insert(0, first)
    return statements, problems


def _problem(
    source: SourceFile, error: Exception, base: int, stop: int | None = None
) -> ParseProblem:
    message = str(error.args[0]) if error.args else str(error)
    offset = error.args[1] if len(error.args) > 1 and isinstance(error.args[1], int) else 0
    if stop is not None and "end of input" in message:
        return ParseProblem(source, stop, message)
    return ParseProblem(source, base + offset, message)
