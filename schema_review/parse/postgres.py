"""PostgreSQL parsing with pglast on its fast path.

`pglast.parser.parse_sql_json` returns libpg_query's JSON; decoding it with the stdlib
is several times cheaper than building pglast Node objects (see NOTES.md). We keep the
decoded dicts and never build Node objects unless an expression must be printed.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Generator, Iterator
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

from schema_review.parse import json_tree
from schema_review.parse.expressions import Expression, node_name
from schema_review.parse.script import (
    PARSE_RULE,
    Mark,
    Piece,
    blank_script,
    nul_marks,
    split_statements,
)
from schema_review.parse.source import SourceFile
from schema_review.records import Record
from schema_review.resources import CacheKey, cache_key, load_cached, store_cached
from schema_review.workers import ahead


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


class TreeReleased(RuntimeError):
    """A statement's parse tree read after the replay dropped it (a bug of ours: what later
    stages read must be kept as compact facts during the replay)."""


class Statement:
    """One parsed statement and where it is in its file.

    `node` holds the statement's fields as libpg_query names them; `kind` is its node
    type (`CreateStmt`, `AlterTableStmt`, ...). Offsets are character offsets into
    `source.text`; `trivia_start` is where the comments before the statement begin (kept as
    its distance to `start`: a small number, which CPython keeps one object for, where an
    offset into a long file is an int of its own for each statement).

    `_tree` is the node as parsed: the decoded dicts (a file parsed whole is decoded
    whole), or its JSON text until the node is first read (a long file's chunks: a fraction
    of the memory of the dicts); None once `release_tree` dropped it after the replay,
    when only the compact facts the later stages read are kept.

    A plain slots class, not a dataclass (whose methods a run compiled from source when it
    imported the parser); == is identity, as the dataclass's eq=False had it.
    """

    __slots__ = (
        "_lead",
        "_tree",
        "_written_name",
        "base",
        "end",
        "index",
        "kind",
        "source",
        "start",
        "tree",
    )

    source: SourceFile
    index: int
    kind: str
    _tree: dict[str, Any] | str | None
    start: int
    end: int
    _lead: int  # start - trivia_start
    base: int  # locations inside `node` are relative to this offset
    # MySQL and SQLite statements: sqlglot's tree (`node` stays empty, `kind` is the tree's
    # class: Create, Alter, Drop, Command ...).
    tree: Any
    _written_name: tuple[str, ...] | None

    def __init__(
        self,
        source: SourceFile,
        index: int,
        kind: str,
        _tree: dict[str, Any] | str | None,
        start: int,
        end: int,
        trivia_start: int,
        base: int = 0,
        tree: Any = None,
    ) -> None:
        self.source = source
        self.index = index
        self.kind = kind
        self._tree = _tree
        self.start = start
        self.end = end
        self._lead = start - trivia_start
        self.base = base
        self.tree = tree
        self._written_name = None

    @property
    def trivia_start(self) -> int:
        return self.start - self._lead

    @property
    def node(self) -> dict[str, Any]:
        tree = self._tree
        if type(tree) is str:
            tree = self._tree = json_tree.loads(tree)
        elif tree is None:
            raise TreeReleased(f"{self!r}: its parse tree was dropped after the replay")
        return tree  # type: ignore[return-value]

    @property
    def written_name(self) -> tuple[str, ...]:
        """The name a CREATE statement gives as written: `(schema, name)` or `(name,)` for a
        table, index's table, view, sequence or composite type; a function's or enum's name
        list; () for other statements."""
        if self._written_name is None:
            self._written_name = _written_name(self.kind, self.node)
        return self._written_name

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
        # Without a base (a file parsed whole), the start itself: no int of its own.
        offset = self.start - self.base if self.base else self.start
        return Expression.in_file(self.source, self.start, self.end, offset, node)

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


def release_tree(statement: Statement) -> None:
    """Drop a statement's parse tree, keeping what is read of it after the replay. (A MySQL
    or SQLite statement keeps sqlglot's: its empty `node` costs nothing.)"""
    if statement._tree is not None and statement.tree is None:
        if statement._written_name is None:
            # Only a CREATE of a named relation, function or enum has a name to read.
            kind = statement.kind
            statement._written_name = (
                _written_name(kind, statement.node) if kind in _NAME_FIELD else ()
            )
        statement._tree = None


def has_tree(statement: Statement) -> bool:
    """Whether a statement still holds its parse tree (as text or decoded)."""
    return statement._tree is not None


# The field naming what a CREATE statement creates: a RangeVar, or a list of names.
_NAME_FIELD = {
    "CreateStmt": "relation",
    "IndexStmt": "relation",
    "ViewStmt": "view",
    "CreateSeqStmt": "sequence",
    "CompositeTypeStmt": "typevar",
    "CreateFunctionStmt": "funcname",
    "CreateEnumStmt": "typeName",
}


def _written_name(kind: str, node: dict[str, Any]) -> tuple[str, ...]:
    key = _NAME_FIELD.get(kind)
    if key is None:
        return ()
    value = node.get(key)
    if isinstance(value, list):
        return tuple(node_name(value))
    relation = value.get("RangeVar", value) if isinstance(value, dict) else {}
    name = str(relation.get("relname", ""))
    schema = relation.get("schemaname")
    return (str(schema), name) if schema else (name,)


class ParseProblem(Record):
    """A part of a file that is not SQL pglast could parse, and the rule that reports it
    (`parse-error`, or `psql-meta-command` for psql's backslash commands). A Record
    (records.py): no dataclass methods compiled when a run imports the parser."""

    _fields = ("source", "offset", "message", "rule")
    __slots__ = _fields

    source: SourceFile
    offset: int
    message: str
    rule: str

    def __init__(self, source: SourceFile, offset: int, message: str, rule: str = PARSE_RULE):
        self.source = source
        self.offset = offset
        self.message = message
        self.rule = rule

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
# on statements that have one. Each run is tried from its first character only (the
# look-behind), not again from each of its characters.
_SEPARATORS = r"\s(),;.:=<>+*/\-\[\]\'"
_LONG_ASCII_WORD = re.compile(rf"(?<![^{_SEPARATORS}])[^{_SEPARATORS}]{{64}}")
_LONG_WORD = re.compile(rf"(?<![^{_SEPARATORS}])[^{_SEPARATORS}]{{16}}")
# An ASCII text's bytes with what str.split() splits on as a space and all else as `x`: a
# word of 64 characters or more is a run of 64 `x`.
_RUNS = bytes(32 if chr(byte).isspace() else 120 for byte in range(256))
_LONG_RUN = b"x" * 64


# A statement's changes each ask about its text (a CREATE TABLE's columns and constraints,
# which a rule reads kind by kind, far apart): the text is scanned once.
@lru_cache(maxsize=4096)
def long_identifier(text: str, limit: int = 63) -> str:
    """The first identifier of `text` longer than `limit` bytes, as written, or ''.

    The parser truncates such names silently (so does PostgreSQL, with a NOTICE): only the
    scanner still sees them whole.
    """
    if len(text) <= limit:
        return ""
    if text.isascii():
        # A run of 64 characters that are not separators lies within a run of 64 that are
        # not spaces: most statements have no such word.
        if not _has_long_ascii_word(text):
            return ""
    elif not _LONG_WORD.search(text):
        return ""
    for token in _scan(text):
        if token.name != "IDENT":
            continue
        word = text[token.start : token.end + 1]
        name = word[1:-1].replace('""', '"') if word.startswith('"') else word
        if len(name.encode("utf-8")) > limit:
            return name
    return ""


def _has_long_ascii_word(text: str) -> bool:
    """Whether an ASCII text has a run of 64 characters that are not separators: sought only
    in its runs of 64 or more that are not spaces (the text's bytes as runs of `x` between
    spaces, one C pass, tell where they are; text.split() made a string a word)."""
    runs = text.encode("ascii").translate(_RUNS)
    start = runs.find(_LONG_RUN)
    while start >= 0:
        end = runs.find(b" ", start)
        end = len(runs) if end < 0 else end
        if _LONG_ASCII_WORD.search(text, start, end) is not None:
            return True
        start = runs.find(_LONG_RUN, end)
    return False


def _scan(text: str) -> list[Any]:
    """pglast's scanner tokens of a statement's text, never an error: NUL bytes (which end
    the C string) read as spaces, and a text that does not scan to its end (a psql
    meta-command kept inside a statement) gives the tokens before the failure."""
    text = text.replace("\x00", " ")
    try:
        return list(pg_parser.scan(text))
    except pg_parser.ParseError as error:
        location = _location(error)
        if not location:
            return []
        try:
            return list(pg_parser.scan(text[:location]))
        except pg_parser.ParseError:
            return []


def references_actions_written(
    text: str, start: int, actions: tuple[str, str] | None = None
) -> tuple[str, ...]:
    """The actions the REFERENCES clause whose table starts at `start` of `text` writes out
    (`delete` for ON DELETE, `update` for ON UPDATE), read from the scanner's tokens up to the
    end of the constraint. `actions`: the parse tree's ON DELETE and ON UPDATE action codes
    (libpg_query's fk_del_action and fk_upd_action), when known."""
    rest = text[start:].lower()
    if "delete" not in rest and "update" not in rest:
        return ()  # no word after the table that could be an action: nothing to scan
    if actions is not None and "action" not in rest:
        # The tree cannot tell an omitted action from NO ACTION ('a'), but without the word
        # NO ACTION is not written: the actions written are those that are not 'a'. (The
        # scan, a token object for each word of the clause, is for the others.)
        return tuple(word for word, code in zip(_ACTION_WORDS, actions, strict=True) if code != "a")
    # From the table name on: the clause is a run of whole tokens, and the statement before
    # it need not be scanned again for every foreign key. The clause ends a few dozen
    # characters on, where a CREATE TABLE's may have thousands after it: the text up to
    # _CLAUSE_WINDOW is scanned first, and the rest only when the clause does not end well
    # inside it (its last tokens may be cut, or read otherwise with what follows).
    stop = start + _CLAUSE_WINDOW
    if stop < len(text):
        ended, written = _references_actions(_scan(text[start:stop]), _CLAUSE_WINDOW - 16)
        if ended:
            return written
    return _references_actions(_scan(text[start:]), len(text))[1]


_ACTION_WORDS = ("delete", "update")  # in the order `references_actions_written` gives them

# How much of a statement `references_actions_written` scans first (characters).
_CLAUSE_WINDOW = 256


def _references_actions(tokens: list[Any], trusted: int) -> tuple[bool, tuple[str, ...]]:
    """Whether the clause ended at a token that ends before `trusted`, and the actions
    written up to there."""
    depth = 0
    previous = ""
    written: list[str] = []
    for token in tokens:
        if token.name in ("C_COMMENT", "SQL_COMMENT"):
            continue
        if token.name == "ASCII_40":  # (
            depth += 1
        elif token.name == "ASCII_41":  # )
            depth -= 1
            if depth < 0:
                return token.end < trusted, tuple(sorted(written))  # the element list's end
        elif token.name == "ASCII_44" and depth == 0:  # , : the next element
            return token.end < trusted, tuple(sorted(written))
        elif previous == "ON" and token.name in ("DELETE_P", "UPDATE"):
            written.append("delete" if token.name == "DELETE_P" else "update")
        previous = token.name
    return False, tuple(sorted(written))


# Bump when what the cache holds changes shape.
_CACHE_FORMAT = 3  # 2: locations in characters for non-ASCII text; 3: problems name a rule


Parsed = tuple[list[Statement], list[ParseProblem]]
# What `parse_streamed` gives for a file.
Streamed = tuple["list[Statement] | StatementStream", list[ParseProblem]]
# A parse as plain data (marshal and pickle can carry it): statements' fields, problems.
_ParseData = tuple[list[tuple[Any, ...]], list[tuple[int, str, str]]]


def parse_postgres(source: SourceFile) -> Parsed:
    """Parse a file into statements, reusing an earlier run's parse of the same text.

    The cache is keyed by the text and the parser's version, so an edited file, or another
    pglast, is always parsed again.
    """
    return parse_many([source])[0]


def parse_many(sources: list[SourceFile], jobs: int = 1) -> list[Parsed]:
    """Parse files (cached ones from the cache); see `parse_each`."""
    return list(parse_each(sources, jobs))


def parse_each(sources: list[SourceFile], jobs: int = 1) -> Generator[Parsed, None, None]:
    """Each file's statements and problems, in order, the ones an earlier run parsed from
    the cache. With `jobs` > 1 and many files to parse, forked workers parse them ahead of
    the caller (schema_review.workers.ahead): the caller replays a file while the next
    ones are parsed, and a parse comes back as libpg_query's JSON of the file (or, for a
    file the fast path does not take whole, as plain data, each tree as its JSON text),
    which costs a fraction of parsing it. A caller that stops early closes the iterator."""
    for statements, problems in _parse_each(sources, jobs, stream=False):
        assert isinstance(statements, list)
        yield statements, problems


def parse_streamed(sources: list[SourceFile], jobs: int = 1) -> Generator[Streamed, None, None]:
    """`parse_each`, but a long file that nothing caches comes as a `StatementStream`: its
    statements are parsed a chunk at a time as the caller reads them."""
    return _parse_each(sources, jobs, stream=True)


def _parse_each(
    sources: list[SourceFile], jobs: int, stream: bool
) -> Generator[Streamed, None, None]:
    keys = [_cache_path(source.text) for source in sources]
    data: list[_ParseData | None] = [_cached(key) for key in keys]
    # A long file the cache does not hold whole streams (its chunks are cached one by one).
    streamed = {
        i
        for i, (source, found) in enumerate(zip(sources, data, strict=True))
        if stream and found is None and _may_stream(source.text)
    }
    missing = [i for i, found in enumerate(data) if found is None and i not in streamed]

    ahead_pays = (
        jobs > 1
        and len(missing) >= _PARALLEL_FROM
        and sum(len(sources[i].text) for i in missing) >= _PARALLEL_FILE_SIZE * len(missing)
    )
    workers = jobs if ahead_pays else 1

    def parse(item: int) -> _ParseData | str:
        # A worker's parse crosses a pipe. A file the fast path takes whole goes as
        # libpg_query's JSON of it: one string to send (cutting it into statements and
        # pickling them cost the worker more than the parse), which this process then
        # reads as it reads a file it parsed itself. Any other file goes as its statements.
        source = sources[missing[item]]
        doc = _whole_file_json(source.text)
        if doc is not None:
            return doc
        return _as_data(_parse_guarded(source))

    parsing = ahead(len(missing), workers, parse) if workers > 1 else None
    try:
        for number, (source, key, item) in enumerate(zip(sources, keys, data, strict=True)):
            if number in streamed:
                yield _stream_or_parse(source)
                continue
            if item is None:
                sent = None if parsing is None else next(parsing)
                if sent is None or isinstance(sent, str):
                    # Parsed here, or read from a worker's JSON of the file: the statements
                    # as the parse made them, not turned into data and back (the cache, when
                    # on, gets the data).
                    parsed = _parse_guarded(source, doc=sent)
                    if key is not None:
                        _store(key, _as_data(parsed))
                    yield parsed
                    continue
                item = sent
                _store(key, item)
            yield _from_data(source, item)
    finally:
        if parsing is not None:
            parsing.close()


class StatementStream:
    """A long file's statements, parsed a chunk of about `_CHUNK` characters at a time as
    they are read: the replay drops each statement's parse tree once it has replayed it, so
    only one chunk's trees are ever alive, not the whole file's (the JSON of 100,000
    statements is some 70 MB). `statements` fills as the stream is read; `len` is the
    number the whole file has (the parser split it into statements before: a file with a
    syntax error is never streamed). Each statement comes out as the whole file's parse
    gives it: a chunk ends right after a statement's ';'. The cache keeps each chunk's
    parse by the chunk's text, its positions counted from the chunk's start (all a chunk's
    statements need: the first one's comments start where the chunk does), so an edit
    near a long file's end parses only the chunks it touched again."""

    __slots__ = ("_cuts", "_text", "count", "problems", "source", "statements")

    _cuts: list[int] | None
    _text: str | None

    def __init__(
        self,
        source: SourceFile,
        text: str,
        cuts: list[int],
        count: int,
        problems: list[ParseProblem],
    ) -> None:
        self.source = source
        self._text = text
        self._cuts = cuts
        self.count = count
        self.statements: list[Statement] = []
        # The file's problems: those of a chunk the parser refuses are added as it is read.
        self.problems = problems

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Statement]:
        cuts, text, out = self._cuts, self._text, self.statements
        if cuts is None or text is None:  # read before: once is all it parses
            yield from out
            return
        self._cuts = self._text = None
        start = 0
        for end in cuts:
            first = len(out)
            chunk = text[start:end]
            key = _cache_path(chunk, "chunk|")
            cached = _cached(key)
            if cached is None:
                try:
                    decoded = _statements_json(pg_parser.parse_sql_json(chunk))
                except pg_parser.ParseError:
                    # What the splitter took, the parser may still refuse (an expression
                    # nested too deeply for it): the chunk is parsed as a file of its own.
                    cached = _as_data(_parse_guarded(SourceFile("", chunk)))
                    _store(key, cached)
                else:
                    _collect(self.source, text, decoded, start, end, out)
                    del decoded
                    _store(key, _as_data((out[first:], []), first, start))
            if cached is not None:
                statements, problems = _from_data(self.source, cached, first, start)
                out.extend(statements)
                self.problems.extend(problems)
            for number in range(first, len(out)):
                yield out[number]
            start = end


def _may_stream(text: str) -> bool:
    """Whether a file is long enough to stream, and has no COPY (which may read the lines
    after it as its data: see `_reads_stdin`)."""
    return len(text) >= _CHUNKED_FROM and _COPY.search(text) is None


_COPY = re.compile(r"\bcopy\b", re.IGNORECASE)


def _stream_or_parse(source: SourceFile) -> Streamed:
    """A long file as a `StatementStream` when the parser splits it into statements without
    an error; parsed whole otherwise (`_parse_postgres`: its errors are reported as always)."""
    text = source.text
    marks: list[Mark] = []
    if "\x00" in text:
        marks = nul_marks(text)
        text = text.replace("\x00", " ")
    try:
        slices = pg_parser.split(text, with_parser=True, only_slices=True)
    except pg_parser.ParseError:
        return _parse_guarded(source)
    cuts: list[int] = []
    start = 0
    for piece in slices:
        stop = piece.stop
        # Right after the statement's ';', not before another ';': the comments of the next
        # statement start after one ';' (`_collect`), as in the whole file's parse.
        if stop - start >= _CHUNK and text[stop : stop + 2] in (";", ";\n", ";\r", ";\t", "; "):
            cuts.append(stop + 1)
            start = stop + 1
    cuts.append(len(text))
    problems = [ParseProblem(source, m.offset, m.message, m.rule) for m in marks]
    return StatementStream(source, text, cuts, len(slices), problems), problems


# A worker parses ahead from this many files to parse, of this many characters on average:
# below, starting a process costs more than it saves, and so do small files (each is a frame
# the worker writes and this process reads, and the copied pages of a forked process). The
# corpus's 1,551 files of 1 KB on average parsed ahead took 0.08 s more wall time and 0.14 s
# more CPU time (0.78 s in one process); 10,000 statements in 200 files of 4.5 KB, 0.04 s
# less wall time (1.52 s).
_PARALLEL_FROM = 64
_PARALLEL_FILE_SIZE = 2_048


def _parse_guarded(source: SourceFile, doc: str | None = None) -> Parsed:
    """A parse that never raises: a failure of ours is the file's problem, not the run's."""
    try:
        return _parse_postgres(source, doc)
    except Exception as error:  # pragma: no cover - a bug of ours; the other files go on
        message = f"internal error while parsing: {type(error).__name__}: {error}"
        return [], [ParseProblem(source, 0, message)]


def _as_data(parsed: Parsed, first: int = 0, start: int = 0) -> _ParseData:
    """A parse as data; `first`, `start`: counted from that statement and that character
    (a long file's chunk, see StatementStream). Each tree as its JSON text: a run that reads
    the cache loads every file's parse before the replay, and the texts of a long history's
    trees are a fraction of the memory of their dicts (each is decoded when the replay
    reads it)."""
    statements, problems = parsed
    return (
        [
            (
                s.index - first,
                s.kind,
                _json_text(s._tree),
                s.start - start,
                s.end - start,
                s.trivia_start - start,
                s.base - start,
            )
            for s in statements
        ],
        [(p.offset - start, p.message, p.rule) for p in problems],
    )


def _json_text(tree: dict[str, Any] | str | None) -> dict[str, Any] | str | None:
    """A statement's tree as JSON text (see `_as_data`), or as it is when orjson cannot
    write it (a lone surrogate, from `E'\\udc80'`; deeper than its limit)."""
    if not isinstance(tree, dict):
        return tree
    try:
        return orjson.dumps(tree).decode()
    except TypeError:  # (orjson's JSONEncodeError)
        return tree


def _from_data(source: SourceFile, data: _ParseData, first: int = 0, start: int = 0) -> Parsed:
    """`source`'s parse from its data (`_as_data`'s, with the same `first` and `start`)."""
    statements, problems = data
    return (
        [
            Statement(
                source,
                index + first,
                kind,
                node,
                at + start,
                end + start,
                trivia + start,
                base + start,
            )
            for index, kind, node, at, end, trivia, base in statements
        ],
        [ParseProblem(source, offset + start, message, rule) for offset, message, rule in problems],
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
        if type(fields) is not tuple or len(fields) != _STATEMENT_FIELDS:
            return None
        index, kind, node, start, end, trivia_start, base = fields
        if (
            type(kind) is not str
            or type(node) not in (dict, str)
            or type(index) is not int
            or type(start) is not int
            or type(end) is not int
            or type(trivia_start) is not int
            or type(base) is not int
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
_STATEMENT_FIELDS = 7  # source and the compact facts kept after the replay left out
_PROBLEM_FIELDS = len(ParseProblem._fields) - 1


def _store(key: CacheKey | None, data: _ParseData | None) -> None:
    if data is not None:
        store_cached(key, data)


def _cache_path(text: str, part: str = "") -> CacheKey | None:
    """The key of the parse of `text`: a file's, or a long file's chunk's (`part`)."""
    version = getattr(sys.modules.get("pglast"), "__version__", "?")
    return cache_key("parse", f"{_CACHE_FORMAT}|{part}{version}|{sys.version_info[:2]}", text)


def _whole_file_json(text: str) -> str | None:
    """libpg_query's JSON of a file `_parse_postgres` parses whole (no NUL, not long enough
    to be parsed in chunks), or None: another file, a syntax error (the slow path), or a
    failure of the parser, which `_parse_guarded` meets again and reports for the file."""
    if "\x00" in text or len(text) >= _CHUNKED_FROM:
        return None
    try:
        doc: str = pg_parser.parse_sql_json(text)
    except Exception:  # (pglast's ParseError, or a failure `_parse_guarded` reports)
        return None
    return doc


def _parse_postgres(source: SourceFile, doc: str | None = None) -> Parsed:
    """Parse a file into statements; on a syntax error, keep every statement that parses.

    The whole file is parsed at once when it can be (nearly always). Otherwise the slow path
    (`_parse_script`) takes over: psql's meta-commands and COPY data are blanked out, and a file
    that still has an error is split into statements as psql splits it and each piece parsed
    alone, so one bad statement costs only itself and its finding points at the error. NUL
    bytes are reported and read as spaces (libpg_query would stop at the first one).
    `doc`: libpg_query's JSON of the file, when a worker parsed it (`_whole_file_json`).
    """
    text = source.text
    marks: list[Mark] = []
    if "\x00" in text:
        marks = nul_marks(text)
        text = text.replace("\x00", " ")
    statements: list[Statement] = []
    if len(text) < _CHUNKED_FROM or not _parse_in_chunks(source, text, statements):
        statements = []
        try:
            if doc is None:
                doc = pg_parser.parse_sql_json(text)
            decoded = _decoded(doc)
        except pg_parser.ParseError as error:
            return _parse_script(source, text, marks, None, _problem(source, error, 0))
        if _reads_stdin(decoded):
            return _parse_script(source, text, marks, decoded, None)
        _collect(source, text, decoded, 0, len(text), statements)
    return statements, [ParseProblem(source, m.offset, m.message, m.rule) for m in marks]


# A file this long (characters) is parsed in pieces of about _CHUNK: libpg_query's tree and
# JSON of a whole file of 100,000 statements take several hundred megabytes at once.
_CHUNKED_FROM = 1 << 18
_CHUNK = 1 << 17


def _parse_in_chunks(source: SourceFile, text: str, out: list[Statement]) -> bool:
    """Parse a long file in pieces cut right after a statement's ';' (where the scanner ends
    one): each statement comes out as the whole file's parse gives it. False, with `out`
    partly filled, when the file is not one the fast path takes whole (a syntax error, COPY
    FROM STDIN, a ';' inside a statement): the caller parses it whole."""
    try:
        slices = pg_parser.split(text, with_parser=False, only_slices=True)
    except pg_parser.ParseError:
        return False
    start = 0
    for number, piece in enumerate(slices):
        stop = piece.stop
        last = number + 1 == len(slices)
        if not last and (stop - start < _CHUNK or text[stop : stop + 1] != ";"):
            continue
        end = len(text) if last else stop + 1
        try:
            decoded = _statements_json(pg_parser.parse_sql_json(text[start:end]))
        except pg_parser.ParseError:
            return False
        if _reads_stdin(decoded):
            return False
        _collect(source, text, decoded, start, end, out)
        start = end
    return True


# Where a statement starts in libpg_query's JSON of a file: `{"stmt":{"CreateStmt":...`. Only
# RawStmt has a field `stmt`, and inside a JSON string a quote is always escaped.
_STATEMENT_START = re.compile(r'\{"stmt":\{"')
# What follows a statement's node: its location and length, each left out when 0.
_STATEMENT_TAIL = re.compile(r'(?:,"stmt_location":(\d+))?(?:,"stmt_len":(\d+))?')


def _statements_json(doc: str) -> dict[str, Any]:
    """libpg_query's JSON of a file, decoded but for each statement's node, which is kept as
    its JSON text: the replay decodes it when it reads it, and drops it when done, so a
    file's statements never all take the memory of their decoded dicts (several times that
    of the text) at once. A text not shaped as expected is decoded whole."""
    starts = [match.start() for match in _STATEMENT_START.finditer(doc)]
    statements: list[dict[str, Any]] = []
    for number, start in enumerate(starts):
        last = number + 1 == len(starts)
        stop = len(doc) - 2 if last else starts[number + 1] - 1  # the statement's last "}" + 1
        separator = doc[stop:] if last else doc[stop]
        if separator != ("]}" if last else ","):
            return _decoded(doc)
        # {"stmt":{"Kind":NODE}TAIL}: the tail holds no brace.
        kind_start = start + len('{"stmt":{"')
        kind_end = doc.find('":', kind_start, stop)
        close = doc.rfind("}", kind_start, stop - 1)
        tail = _STATEMENT_TAIL.fullmatch(doc, close + 1, stop - 1)
        if kind_end < 0 or close < kind_end or tail is None or doc[stop - 1] != "}":
            return _decoded(doc)
        raw: dict[str, Any] = {"stmt": {doc[kind_start:kind_end]: doc[kind_end + 2 : close]}}
        if tail.group(1):
            raw["stmt_location"] = int(tail.group(1))
        if tail.group(2):
            raw["stmt_len"] = int(tail.group(2))
        statements.append(raw)
    return {"stmts": statements} if statements else _decoded(doc)


def _decoded(doc: str) -> dict[str, Any]:
    """libpg_query's JSON of a file decoded whole, in one call of the C decoder: a file
    parsed whole is replayed right after, which reads nearly every statement's node, and
    finding each statement's text in the JSON first cost more than decoding it. (A long
    file's chunks keep their nodes as text: `_statements_json`.)"""
    decoded: dict[str, Any] = json_tree.loads(doc)
    return decoded


def _node(raw: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A statement's kind and node, decoded (`_statements_json` keeps it as text)."""
    ((kind, node),) = raw["stmt"].items()
    if isinstance(node, str):
        node = raw["stmt"][kind] = json_tree.loads(node)
    return kind, node


def _reads_stdin(decoded: dict[str, Any]) -> bool:
    """Whether a statement is COPY ... FROM STDIN: psql reads its data from the lines after it."""
    for raw in decoded.get("stmts", ()):
        if "CopyStmt" not in raw.get("stmt", {}):
            continue
        _, copy = _node(raw)
        if copy.get("is_from") and not copy.get("filename"):
            return True
    return False


def _parse_script(
    source: SourceFile,
    text: str,
    marks: list[Mark],
    decoded: dict[str, Any] | None,
    first: ParseProblem | None,
) -> Parsed:
    """The slow path, for a file the fast path could not take whole: `decoded` is the parse of
    `text` when it had no error, `first` its first error otherwise."""
    clean, script_marks = blank_script(text)
    problems = [ParseProblem(source, m.offset, m.message, m.rule) for m in marks + script_marks]
    if clean is not text:
        try:
            decoded, first = _decoded(pg_parser.parse_sql_json(clean)), None
        except pg_parser.ParseError as error:
            decoded, first = None, _problem(source, error, 0)
    statements: list[Statement] = []
    if decoded is not None:
        _collect(source, clean, decoded, 0, len(clean), statements)
    else:
        statements, piece_problems = _parse_piecewise(source, clean, first)
        problems.extend(piece_problems)
    problems.sort(key=lambda p: p.offset)
    return statements, problems


def _collect(
    source: SourceFile,
    text: str,
    decoded: dict[str, Any],
    base: int,
    limit: int,
    out: list[Statement],
) -> None:
    # `text` is the text that was parsed: the file's, or the same with NULs, meta-commands
    # and COPY data blanked out (same length, so offsets are the file's).
    # Comments before a statement start after the previous statement, or at the start of
    # this piece when the file was split after a syntax error. (A long file parsed in pieces
    # is cut right after a statement's ';': where the whole file's parse starts the next.)
    chunk = text[base:limit]
    if not chunk.isascii():
        for raw in decoded.get("stmts", ()):
            _node(raw)
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
        # One string for each kind, not one sliced from the JSON for each statement.
        kind = sys.intern(kind)
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
    source: SourceFile, text: str, first: ParseProblem | None
) -> tuple[list[Statement], list[ParseProblem]]:
    """Parse statement by statement after `first`, the whole file's first error.

    When a quote, comment or dollar quote is left open, the rest of the file is inside it:
    the statements before it are parsed, and the statement it is in is reported at it.
    """
    pieces, open_at = split_statements(text)
    # The whole file's error is the most precise message for its own statement (a piece ends
    # before its ';', so alone it would fail "at end of input"). Without a position, each
    # piece's own error says where.
    located = first if first is not None and first.offset != _NOWHERE else None
    statements: list[Statement] = []
    problems: list[ParseProblem] = []
    for piece in pieces:
        if open_at >= 0 and not piece.terminated:
            # The statement the open token is in (the last piece) never runs. When it kept
            # ';' inside (an unbalanced parenthesis), what comes before them may be statements.
            *before, piece = _cut(text, piece)
            for part in before:
                _parse_piece(source, text, part, located, statements, problems)
            if located is not None and piece.start <= located.offset < open_at:
                problems.append(located)
            continue
        _parse_piece(source, text, piece, located, statements, problems)
    if open_at >= 0:
        unterminated = _unterminated(source, text, open_at)
        if unterminated not in problems:
            problems.append(unterminated)
    elif located is not None and located not in problems:
        problems.insert(0, located)
    return statements, [p if p.offset != _NOWHERE else p._replace(offset=0) for p in problems]


def _parse_piece(
    source: SourceFile,
    text: str,
    piece: Piece,
    located: ParseProblem | None,
    statements: list[Statement],
    problems: list[ParseProblem],
) -> None:
    """Parse one piece; when it fails and kept ';' inside (an unbalanced parenthesis makes
    the rest of the file one piece), parse it again cut at each of them."""
    try:
        decoded = _decoded(pg_parser.parse_sql_json(text[piece.start : piece.stop]))
    except pg_parser.ParseError as error:
        if piece.inner:
            for part in _cut(text, piece):
                _parse_piece(source, text, part, located, statements, problems)
            return
        if located is not None and piece.start <= located.offset <= piece.stop + 1:
            problems.append(located)
        else:
            problems.append(_problem(source, error, piece.start, piece.stop))
        return
    _collect(source, text, decoded, piece.start, piece.stop, statements)


def _cut(text: str, piece: Piece) -> list[Piece]:
    """A piece cut at each ';' it kept inside, whitespace trimmed (the last part keeps the
    piece's own end)."""
    if not piece.inner:
        return [piece]
    parts: list[Piece] = []
    starts = [piece.start, *(at + 1 for at in piece.inner)]
    stops = [*piece.inner, piece.stop]
    for number, (start, stop) in enumerate(zip(starts, stops, strict=True)):
        part = text[start:stop]
        begin = start + len(part) - len(part.lstrip())
        end = start + len(part.rstrip())
        last = number == len(starts) - 1
        if end > begin or last:
            parts.append(Piece(begin, max(begin, end), piece.terminated or not last))
    return parts


def _unterminated(source: SourceFile, text: str, at: int) -> ParseProblem:
    """The error of the quote, comment or dollar quote left open at `at`, in PostgreSQL's
    words (its scanner fails on the first token of the text from there)."""
    try:
        pg_parser.parse_sql_json(text[at:])
    except pg_parser.ParseError as error:
        return _problem(source, error, at, len(text))
    return ParseProblem(source, at, "not closed before the end of the file")  # pragma: no cover


# An error libpg_query gives no position for ("stack depth limit exceeded") in a whole file.
_NOWHERE = -1


def _location(error: Exception) -> int | None:
    location = error.args[1] if len(error.args) > 1 else None
    return location if isinstance(location, int) and location >= 0 else None


_UNTERMINATED = re.compile(r'(unterminated [^"]*?) at or near "(.*)"\Z', re.DOTALL)


def _problem(
    source: SourceFile, error: Exception, base: int, stop: int | None = None
) -> ParseProblem:
    """A parse error as a problem at its place in the file. Errors without a position are at
    the start of the piece parsed, or nowhere (-1) for a whole file."""
    message = str(error.args[0]) if error.args else str(error)
    offset = _location(error)
    unterminated = _UNTERMINATED.match(message)
    if unterminated:
        message = _unterminated_message(*unterminated.groups())
    elif message == "stack depth limit exceeded":
        message = "expression nested too deeply for PostgreSQL's parser (stack depth exceeded)"
    if stop is not None and "end of input" in message:
        return ParseProblem(source, stop, message)
    if offset is None:
        return ParseProblem(source, base if stop is not None else _NOWHERE, message)
    return ParseProblem(source, base + offset, message)


def _unterminated_message(what: str, near: str) -> str:
    """PostgreSQL's message quotes the whole rest of the file: show its first line, and say
    what was expected."""
    shown = near.split("\n", 1)[0]
    if len(shown) > 40:
        shown = shown[:40] + "..."
    if "identifier" in what:
        closer = '"'
    elif "comment" in what:
        closer = "*/"
    elif "dollar" in what:
        tag = re.match(r"\$[^$]*\$", near)
        closer = tag.group() if tag else "$$"
    else:
        closer = "'"
    return f'{what} at or near "{shown}": no closing {closer} before the end of the file'
