"""MySQL (MariaDB) and SQLite parsing with sqlglot.

The file is tokenized once with the dialect's tokenizer (token offsets are the file's own),
cut into statements at `;` tokens (or at a MySQL client `DELIMITER`), and each statement's
tokens parsed on their own: an error costs its statement only and points at its token.
sqlglot is imported here only, so a PostgreSQL run never pays for it.
"""

from __future__ import annotations

import logging
import re
from functools import cache
from typing import Any, ClassVar

from schema_review.parse import json_tree
from schema_review.parse.expressions import Expression
from schema_review.parse.postgres import Parsed, ParseProblem, Statement, pg_parser
from schema_review.parse.source import SourceFile
from schema_review.parse.sqlite_text import (
    read_create_table,
    starts_trigger,
    starts_virtual_table,
    tokens_of,
    trigger_ends,
)

# sqlglot's names of our dialects (what writes SQL back; `reader` gives what reads it).
SQLGLOT_DIALECTS = {"mysql": "mysql", "sqlite": "sqlite"}


def reader(dialect: str) -> Any:
    """The sqlglot dialect that reads `dialect`'s SQL: sqlglot's own, but MySQL's with its
    compatibility type names, which sqlglot reads as BIGINT (`LONG`) or not at all (`LONG
    VARCHAR`, `LONG VARBINARY`): MySQL makes them MEDIUMTEXT, MEDIUMTEXT and MEDIUMBLOB."""
    return _mysql_reader() if dialect == "mysql" else SQLGLOT_DIALECTS[dialect]


@cache
def _mysql_reader() -> Any:
    from sqlglot.dialects.mysql import MySQL

    keywords = MySQL.Tokenizer.KEYWORDS
    text, blob = keywords["MEDIUMTEXT"], keywords["MEDIUMBLOB"]

    class MySQLReader(MySQL):
        class Tokenizer(MySQL.Tokenizer):
            KEYWORDS: ClassVar[dict[str, Any]] = {
                **keywords,
                "LONG": text,
                "LONG VARCHAR": text,
                "LONG VARBINARY": blob,
            }

    return MySQLReader


# The mysql client's `DELIMITER $$` line: statements up to the next `$$` are one (a trigger's
# or procedure's body holds `;`). The server never sees these lines.
# Flyway and the client also read it right after a `;` on the same line.
_DELIMITER = re.compile(
    r"(?:^|(?<=;))[ \t]*DELIMITER[ \t]+(\S+)[ \t]*$", re.IGNORECASE | re.MULTILINE
)

# MySQL stored programs: CREATE [OR REPLACE] [DEFINER = ...] [AGGREGATE] PROCEDURE | FUNCTION |
# TRIGGER | EVENT. Their body may be a BEGIN ... END block of `;`-ended statements, which the
# server reads as one statement (a runner sending the file as one multi-statement query, as
# authelia's does, needs no DELIMITER); sqlglot has no grammar for them.
_ROUTINE = re.compile(
    r"\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:DEFINER\s*=\s*(?:`[^`]*`|'[^']*'|\S+?)"
    r"(?:@(?:`[^`]*`|'[^']*'|[^\s(]+))?\s+)?(?:AGGREGATE\s+)?"
    r"(?P<kind>PROCEDURE|FUNCTION|TRIGGER|EVENT)\b",
    re.IGNORECASE,
)

# MySQL statements sqlglot has no grammar for and the replay has no use for beyond knowing
# they are there: prepared statements' DEALLOCATE (PREPARE and EXECUTE it keeps as Command).
_MYSQL_OPAQUE = re.compile(r"\s*(?:DEALLOCATE|DROP)\s+PREPARE\b", re.IGNORECASE)
# ALTER TABLE ... ADD [COLUMN] (a int, b int): several columns at once, which sqlglot reads
# as a Command or not at all; kept as the Command the MySQL front end reads action by action.
_MYSQL_ADD_COLUMNS = re.compile(
    r"\s*ALTER\s+(?:ONLINE\s+|IGNORE\s+)*TABLE\b[^;]*?\bADD\s+(?:COLUMN\s+)?\(", re.IGNORECASE
)

# sqlglot warns on the logger for statements it keeps as an opaque Command; the replay
# records those as opaque statements, so the warning would only be noise on stderr.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


def parse_sqlglot(source: SourceFile, dialect: str) -> Parsed:
    """Parse a MySQL or SQLite file into statements, with a located problem for each part
    that does not parse (the other statements are kept)."""
    statements: list[Statement] = []
    problems: list[ParseProblem] = []
    text = source.text.replace("\x00", " ")
    for start, end, delimiter in _regions(text, dialect):
        _parse_region(source, text, start, end, delimiter, dialect, statements, problems)
    problems.sort(key=lambda p: p.offset)
    return statements, problems


def _regions(text: str, dialect: str) -> list[tuple[int, int, str]]:
    """Spans of the file and the delimiter that ends statements there (`;` but after a MySQL
    `DELIMITER` line). The DELIMITER lines themselves belong to no region."""
    if dialect != "mysql":
        return [(0, len(text), ";")]
    regions: list[tuple[int, int, str]] = []
    delimiter, position = ";", 0
    for match in _DELIMITER.finditer(text):
        regions.append((position, match.start(), delimiter))
        delimiter, position = match.group(1), match.end()
    regions.append((position, len(text), delimiter))
    return regions


def _parse_region(
    source: SourceFile,
    text: str,
    start: int,
    end: int,
    delimiter: str,
    dialect: str,
    statements: list[Statement],
    problems: list[ParseProblem],
) -> None:
    if delimiter == ";":
        pieces = _pieces_by_tokens(source, text, start, end, dialect, problems)
    else:
        pieces = _pieces_by_delimiter(text, start, end, delimiter)
    for piece_start, piece_end in pieces:
        _parse_piece(source, text, piece_start, piece_end, dialect, statements, problems)


def _pieces_by_delimiter(text: str, start: int, end: int, delimiter: str) -> list[tuple[int, int]]:
    pieces: list[tuple[int, int]] = []
    position = start
    while position < end:
        found = text.find(delimiter, position, end)
        stop = end if found == -1 else found
        if text[position:stop].strip():
            pieces.append((position, stop))
        position = stop + len(delimiter)
    return pieces


def _pieces_by_tokens(
    source: SourceFile,
    text: str,
    start: int,
    end: int,
    dialect: str,
    problems: list[ParseProblem],
) -> list[tuple[int, int]]:
    """Statement spans between `;` tokens; on a tokenizer error (an unterminated string or
    comment), one problem and the rest of the region left out."""
    from sqlglot.errors import TokenError

    try:
        tokens = _tokenize(text[start:end], dialect)
    except TokenError as error:
        problems.append(ParseProblem(source, start, f"syntax error: {error}"))
        return []
    pieces: list[tuple[int, int]] = []
    first: int | None = None
    statement: list[Any] = []  # the tokens of the statement being read
    depth = 0  # open BEGIN/CASE blocks of a MySQL stored program's body
    routine = False
    previous = ""
    for token in tokens:
        name = token.token_type.name
        if name == "SEMICOLON" and depth <= 0:
            # A SQLite trigger's body holds statements and their `;`: it ends at END's.
            trigger = dialect == "sqlite" and starts_trigger(statement)
            if trigger and not trigger_ends(statement, len(statement)):
                statement.append(token)
                continue
            if first is not None:
                pieces.append((start + first, start + token.start))
            first, depth, routine, previous = None, 0, False, ""
            statement = []
            continue
        if first is None:
            first = token.start
            routine = dialect == "mysql" and bool(_ROUTINE.match(text, start + first))
        if routine and name != "SEMICOLON":
            depth += _block_step(previous, token.text.upper())
        previous = token.text.upper() if name != "SEMICOLON" else ";"
        statement.append(token)
    if first is not None:
        pieces.append((start + first, end))
    return pieces


def _block_step(previous: str, word: str) -> int:
    """How a token of a stored program's body moves the depth of its BEGIN ... END blocks:
    BEGIN and CASE open one, END closes one unless it ends an IF, LOOP, WHILE, REPEAT or FOR
    (`END IF`: the word after END tells, and undoes the END's step)."""
    if word in ("BEGIN", "CASE") and previous != "END":
        return 1
    if word == "END":
        return -1
    if previous == "END" and word in ("IF", "LOOP", "WHILE", "REPEAT", "FOR"):
        return 1  # `END IF` closes no BEGIN/CASE: undo the END
    return 0


def _tokenize(text: str, dialect: str) -> list[Any]:
    from sqlglot.dialects.dialect import Dialect

    return list(Dialect.get_or_raise(reader(dialect)).tokenize(text))


def _parse_piece(
    source: SourceFile,
    text: str,
    start: int,
    end: int,
    dialect: str,
    statements: list[Statement],
    problems: list[ParseProblem],
) -> None:
    import sqlglot
    from sqlglot.errors import ParseError, TokenError

    piece = text[start:end]
    stripped = piece.rstrip()
    leading = len(piece) - len(piece.lstrip())
    begin, finish = start + leading, start + len(stripped)
    if begin >= finish:
        return
    written = text[begin:finish]
    if dialect == "mysql" and (_ROUTINE.match(text, begin) or _MYSQL_OPAQUE.match(text, begin)):
        # Kept whole as an opaque statement (a stored program's the front end reads itself).
        trees: list[Any] = [sqlglot.exp.Command(this="CREATE", expression=written)]
        _add_statements(source, text, begin, finish, trees, statements)
        return
    if dialect == "mysql" and _MYSQL_ADD_COLUMNS.match(text, begin):
        after_alter = written.lstrip()[5:].strip()
        trees = [sqlglot.exp.Command(this="ALTER", expression=after_alter)]
        _add_statements(source, text, begin, finish, trees, statements)
        return
    if dialect == "sqlite":
        trees_or_text = _sqlite_piece(written)
        if not isinstance(trees_or_text, str):
            _add_statements(source, text, begin, finish, trees_or_text, statements)
            return
        written = trees_or_text
    try:
        trees = sqlglot.parse(written, read=reader(dialect))
    except ParseError as error:
        details = error.errors[0] if error.errors else {}
        problems.append(
            ParseProblem(
                source,
                begin + _offset_in(text[begin:finish], details),
                f"syntax error: {details.get('description') or error}",
            )
        )
        return
    except (TokenError, RecursionError) as error:
        problems.append(ParseProblem(source, begin, f"syntax error: {error}"))
        return
    _add_statements(source, text, begin, finish, trees, statements)


def _add_statements(
    source: SourceFile,
    text: str,
    begin: int,
    finish: int,
    trees: list[Any],
    statements: list[Statement],
) -> None:
    for tree in trees:
        if tree is None:
            continue
        previous_end = statements[-1].end if statements else 0
        statements.append(
            Statement(
                source=source,
                index=len(statements),
                kind=type(tree).__name__,
                _tree={},
                start=begin,
                end=finish,
                trivia_start=previous_end + (text[previous_end : previous_end + 1] == ";"),
                tree=tree,
            )
        )


def _sqlite_piece(written: str) -> str | list[Any]:
    """A SQLite statement as sqlglot can read it: CREATE TABLE with its table options
    (`STRICT`, `WITHOUT ROWID`) and `ON CONFLICT` clauses blanked out and the column types
    read as BLOB (same length, so error offsets stay right; the replay reads what was
    written from the text); or, for CREATE TRIGGER, whose
    body sqlglot cannot read (and CREATE VIRTUAL TABLE, whose arguments are the module's
    own syntax), the statement kept whole as an opaque Command the replay reads.
    """
    from sqlglot import exp
    from sqlglot.errors import TokenError

    try:
        tokens = tokens_of(written)
    except TokenError:
        return written
    if starts_trigger(tokens) or starts_virtual_table(tokens):
        return [exp.Command(this="CREATE", expression=exp.Literal.string(written[6:].strip()))]
    table = read_create_table(written, tokens)
    if table is None:
        return written
    for blank_start, blank_end in table.blank:
        written = written[:blank_start] + " " * (blank_end - blank_start) + written[blank_end:]
    for type_start, type_end in table.retype:
        width = type_end - type_start
        written = written[:type_start] + "BLOB".ljust(width) + written[type_end:]
    return written


def _offset_in(text: str, details: dict[str, Any]) -> int:
    """The character offset of a sqlglot error's (line, col) in the statement's text."""
    line, column = details.get("line"), details.get("col")
    if not isinstance(line, int) or not isinstance(column, int):
        return 0
    offset = 0
    for _ in range(line - 1):
        found = text.find("\n", offset)
        if found == -1:
            return 0
        offset = found + 1
    return min(len(text), offset + max(column - 1, 0))


def expression_from_sqlglot(tree: Any, dialect: str | None = None) -> Expression | None:
    """A sqlglot expression in the model's one expression form, PostgreSQL's parse tree
    (sqlglot writes it as PostgreSQL, pglast parses that), so expression rules read every
    dialect alike; None when PostgreSQL has no way to say it. With `dialect`, the expression
    also keeps its text in that dialect (`Expression.dialect_text`), which the export prints."""
    if tree is None:
        return None
    try:
        text = "SELECT " + tree.sql(dialect="postgres")
        decoded = json_tree.loads(pg_parser.parse_sql_json(text))
        node = decoded["stmts"][0]["stmt"]["SelectStmt"]["targetList"][0]["ResTarget"]["val"]
    except Exception:
        return None
    expression = Expression(text, 0, node)
    if dialect is not None:
        try:
            expression.dialect_text = str(tree.sql(dialect=dialect))
        except Exception:
            expression.dialect_text = None
    return expression
