"""What psql reads in a SQL file that is not SQL: meta-commands and COPY data, and NUL bytes.

psql scripts (pg_dump output, regression tests, hand-written setup files) mix backslash
meta-commands (`\\set`, `\\connect`, `\\i`) and the data of `COPY ... FROM stdin` with SQL.
PostgreSQL's parser rejects a backslash anywhere outside a literal, so a file with a
meta-command never takes the fast path; this module then finds them with a small lexer that
knows SQL's quotes, comments and dollar quotes as psql does, and blanks them out (same length,
newlines kept, so every offset stays valid) before the text is parsed again. The same lexer
cuts a file that still has an error into statements, as psql would send them.
"""

from __future__ import annotations

import functools
import itertools
import re
from bisect import bisect_left

from schema_review.records import Record

PSQL_RULE = "psql-meta-command"
PARSE_RULE = "parse-error"


class Mark(Record):
    """Something found in the text: where, which rule reports it, and what to say."""

    _fields = ("offset", "rule", "message")
    __slots__ = _fields

    offset: int
    rule: str
    message: str

    def __init__(self, offset: int, rule: str, message: str) -> None:
        self.offset = offset
        self.rule = rule
        self.message = message


# NULs reported one line at a time, and only this many lines: a binary file has thousands.
_NUL_LINES_REPORTED = 20


def nul_marks(text: str) -> list[Mark]:
    """One mark at the first NUL of each line that has any (at most 20 lines reported)."""
    marks: list[Mark] = []
    offset = text.find("\x00")
    lines = 0
    while offset != -1:
        lines += 1
        line_end = text.find("\n", offset)
        line_end = len(text) if line_end == -1 else line_end
        count = text.count("\x00", offset, line_end)
        if lines == _NUL_LINES_REPORTED:
            rest = text.count("\x00", offset)
            marks.append(Mark(offset, PARSE_RULE, _nul_message(rest, more_lines=True)))
            break
        marks.append(Mark(offset, PARSE_RULE, _nul_message(count, more_lines=False)))
        offset = text.find("\x00", line_end)
    return marks


def _nul_message(count: int, more_lines: bool) -> str:
    where = "from here to the end of the file" if more_lines else "on this line"
    amount = "a NUL byte" if count == 1 else f"{count} NUL bytes {where}"
    return (
        f"{amount} (0x00): PostgreSQL rejects text containing one; "
        "read here as a space, so the rest of the file is still checked"
    )


# Meta-commands that send the query buffer to the server: the statement ends there.
_SENDS_QUERY = frozenset(("g", "gx", "gset", "gexec", "gdesc", "crosstabview", "watch", "G"))

# What starts an identifier: ASCII letters, `_` and every character beyond ASCII (PostgreSQL's
# rule), written as the complement of the rest of ASCII (a class up to U+10FFFF takes 10 ms to
# compile); then digits too, and in a word (not a tag) `$`.
_LETTER = r"[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f]"
_LETTER_DIGIT = r"[^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]"
_LETTER_DIGIT_DOLLAR = r"[^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]"
# (Patterns as text, compiled by `_compiled` when first used: a file without a backslash or a
# COPY needs none of them.)
_SQL_TOKEN = rf"""
      (?P<space>\s+)
    | (?P<line_comment>--[^\n]*)
    | (?P<block_comment>/\*)
    | (?P<estring>[eE]')
    | (?P<string>')
    | (?P<ident>")
    | (?P<dollar>\$(?:{_LETTER}{_LETTER_DIGIT}*)?\$)
    | (?P<word>{_LETTER}{_LETTER_DIGIT_DOLLAR}*)
    | (?P<backslash>\\)
    | (?P<semicolon>;)
    | (?P<open>\()
    | (?P<close>\))
    # The rest of ASCII but whitespace, quotes, `$`, `\`, `/`, `;`, `(`, `)` and `-`.
    | (?P<other>[!#%&*+,.0-:<-@\[\]^`{{|}}~\x00-\x08\x0e-\x1b\x7f]+|.)
    """  # re.VERBOSE | re.DOTALL
_LITERAL_ENDS = {  # re.DOTALL
    "string": r"(?:[^']|'')*'",
    "estring": r"(?:[^'\\]|\\.|'')*'",
    "ident": r'(?:[^"]|"")*"',
}
_COMMENT_MARK = r"/\*|\*/"
_COMMAND_NAME = r"[A-Za-z][A-Za-z0-9_+]*|[^\sA-Za-z]?"
_FROM_STDIN = r"\bfrom\s+stdin\b"  # re.IGNORECASE
_STDIN = r"stdin"  # re.IGNORECASE
# The end of COPY data: a line of its own with `\.` (psql also stops at the end of the file).
_END_OF_DATA = r"^\\\.[ \t\r]*$"  # re.MULTILINE
_COPY_FROM_STDIN_LINE = r"^[ \t]*\\?copy\b[^\n]*\bfrom\s+stdin\b"  # re.IGNORECASE | re.MULTILINE


# Flags as plain ints for `_compiled`: combining RegexFlags and hashing one (its cache's key)
# run enum's Python code, and patterns are looked up for each token or line.
_DOTALL = int(re.DOTALL)
_IGNORECASE = int(re.IGNORECASE)
_IGNORECASE_MULTILINE = int(re.IGNORECASE | re.MULTILINE)
_MULTILINE = int(re.MULTILINE)
_VERBOSE_DOTALL = int(re.VERBOSE | re.DOTALL)


@functools.cache
def _compiled(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """A regular expression of this module, compiled when first used: a one-file run that
    needs none of them compiles none (compiling them all at import was 3% of its work)."""
    return re.compile(pattern, flags)


def blank_script(text: str) -> tuple[str, list[Mark]]:
    """`text` with psql's meta-commands and COPY data replaced by spaces, and a mark for each
    meta-command. The text is returned as it was (the same object) when there is none."""
    if "\\" not in text and _compiled(_STDIN, _IGNORECASE).search(text) is None:
        return text, []  # no meta-command, no COPY FROM stdin: nothing to lex
    marks: list[Mark] = []
    blanks: list[tuple[int, int, str]] = []  # (start, end, what replaces the first character)
    copy_data = _CopyData(text)
    depth = 0  # parentheses: a ';' inside them does not end the statement (psql's rule)
    words: list[str] = []  # the statement's first word, lower case (all words of a COPY)
    data_from = -1  # where COPY data starts: the line after the COPY statement
    position = 0
    size = len(text)
    while position < size:
        if 0 <= data_from <= position:
            position = copy_data.skip(data_from, position, blanks)
            data_from = -1
            words = []
            continue
        kind, end = _token(text, position)
        if kind == "word":
            # Only COPY statements need more than their first word.
            if depth == 0 and (not words or words[0] == "copy"):
                words.append(text[position:end].lower())
        elif kind == "semicolon":
            if depth == 0:
                data_from = _data_start(text, end, _copies_from_stdin(words))
                words = []
        elif kind == "open":
            depth += 1
        elif kind == "close":
            depth = max(0, depth - 1)
        elif kind == "backslash":
            end, name, blank = _meta_command(text, position)
            marks.append(Mark(position, PSQL_RULE, _meta_message(name)))
            blanks.append(blank)
            if name in _SENDS_QUERY:
                data_from = _data_start(text, end, _copies_from_stdin(words))
                words, depth = [], 0
            elif name == "copy" and _compiled(_FROM_STDIN, _IGNORECASE).search(text, position, end):
                data_from = _data_start(text, end, True)
        elif kind == "unterminated":
            break  # the rest of the file is inside it (the parser says so)
        position = end
    if not blanks:
        return text, marks
    return _apply(text, blanks), marks


class Piece(Record):
    """One statement's text as the splitter cut it: `start` and `stop` are offsets of its
    first and after its last token (comments around it, and its ';', left out)."""

    _fields = ("start", "stop", "terminated", "inner")
    __slots__ = _fields

    start: int
    stop: int
    terminated: bool  # a ';' ends it (not the end of the text or an unterminated token)
    inner: tuple[int, ...]  # offsets of the ';' inside parentheses or BEGIN ... END

    def __init__(
        self, start: int, stop: int, terminated: bool, inner: tuple[int, ...] = ()
    ) -> None:
        self.start = start
        self.stop = stop
        self.terminated = terminated
        self.inner = inner


_TRIVIA = frozenset(("space", "line_comment", "literal_comment"))
# The kinds of token `_SQL_TOKEN` matches whole (`_token` returns them as matched).
_WHOLE = frozenset(
    ("space", "line_comment", "word", "backslash", "semicolon", "open", "close", "other")
)
_ROUTINES = frozenset(("function", "procedure"))


def split_statements(text: str) -> tuple[list[Piece], int]:
    """Cut `text` at the ';' that end statements, as psql does: not inside parentheses nor
    in the BEGIN ... END body of CREATE FUNCTION or PROCEDURE. Also the offset where a
    quote, comment or dollar quote is left open until the end of the text, or -1.

    Unlike libpg_query's scanner split, an unbalanced parenthesis costs no statements: the
    pieces remember the ';' they kept inside, to be cut there when the piece does not parse.
    """
    pieces: list[Piece] = []
    start = stop = -1
    depth = begin_depth = 0
    words: list[str] = []  # the statement's first four words, lower case
    inner: list[int] = []
    position = 0
    size = len(text)
    # Most tokens are whole once matched: only quotes, comments and dollar quotes need
    # `_token`'s search for their end (the pattern looked up once, not for each token).
    match = _compiled(_SQL_TOKEN, _VERBOSE_DOTALL).match
    while position < size:
        token = match(text, position)
        assert token is not None  # `other` matches anything
        kind = token.lastgroup
        if kind in _WHOLE:
            end = token.end()
        else:
            kind, end = _token(text, position)
        if kind in _TRIVIA:
            position = end
            continue
        if kind == "unterminated":
            if start >= 0:
                pieces.append(Piece(start, stop, False, tuple(inner)))
            return pieces, position
        if kind == "semicolon":
            if depth == 0 and begin_depth == 0:
                if start >= 0:
                    pieces.append(Piece(start, stop, True, tuple(inner)))
                start, depth, words, inner = -1, 0, [], []
                position = end
                continue
            inner.append(position)
        if start < 0:
            start = position
        stop = end
        if kind == "open":
            depth += 1
        elif kind == "close":
            depth = max(0, depth - 1)
        elif kind == "word":
            word = text[position:end].lower()
            if len(words) < 4:
                words.append(word)
            if depth == 0 and _creates_routine(words):
                # psql's heuristic for SQL-standard bodies (BEGIN ATOMIC ... END).
                if word == "begin" or (word == "case" and begin_depth > 0):
                    begin_depth += 1
                elif word == "end" and begin_depth > 0:
                    begin_depth -= 1
        position = end
    if start >= 0:
        pieces.append(Piece(start, stop, False, tuple(inner)))
    return pieces, -1


def _creates_routine(words: list[str]) -> bool:
    """CREATE [OR REPLACE] FUNCTION or PROCEDURE."""
    if words[:1] != ["create"] or len(words) < 2:
        return False
    if words[1] in _ROUTINES:
        return True
    return words[1:3] == ["or", "replace"] and len(words) > 3 and words[3] in _ROUTINES


def _copies_from_stdin(words: list[str]) -> bool:
    """Whether a statement's first words are `COPY ... FROM STDIN`."""
    if words[:1] != ["copy"]:
        return False
    return any(a == "from" and b == "stdin" for a, b in itertools.pairwise(words))


def _data_start(text: str, end: int, copies: bool) -> int:
    """Where the data of a COPY FROM stdin ending at `end` starts (the next line), or -1."""
    if not copies:
        return -1
    line_end = text.find("\n", end)
    return -1 if line_end == -1 else line_end + 1


class _CopyData:
    """Where COPY data can end (`\\.` lines) and where COPY FROM stdin lines are, found once
    per file on first need: a file of many COPY statements costs one pass, not one each."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.ends: list[tuple[int, int]] | None = None
        self.copies: list[int] = []

    def skip(self, start: int, position: int, blanks: list[tuple[int, int, str]]) -> int:
        """Blank COPY data from `start` to its `\\.` line; return where SQL resumes.

        psql reads the data only when the server accepts the COPY: a COPY that fails (scripts
        that test errors do this) is followed by SQL. So the lines are data only up to a `\\.`
        line with no other COPY FROM stdin before it; otherwise they stay SQL, linted rather
        than lost (a COPY whose data runs to the end of the file without `\\.` included).
        """
        if self.ends is None:
            self.ends = [m.span() for m in _compiled(_END_OF_DATA, _MULTILINE).finditer(self.text)]
            copy_line = _compiled(_COPY_FROM_STDIN_LINE, _IGNORECASE_MULTILINE)
            self.copies = [m.start() for m in copy_line.finditer(self.text)]
        at = bisect_left(self.ends, (start, start))
        if at == len(self.ends):
            return position
        end_start, end = self.ends[at]
        other = bisect_left(self.copies, start)
        if other < len(self.copies) and self.copies[other] < end_start:
            return position
        blanks.append((start, end, " "))
        return end


def _meta_command(text: str, start: int) -> tuple[int, str, tuple[int, int, str]]:
    """A meta-command at `start` (its backslash): where it ends, its name, what to blank.

    A meta-command runs to the end of its line. `\\;` is only a ';' that psql does not send
    yet, and the meta-commands that send the query buffer (`\\g`, `\\gset`, ...) end the
    statement like a ';' does.
    """
    name_match = _compiled(_COMMAND_NAME).match(text, start + 1)
    name = name_match.group() if name_match else ""
    if name == ";":
        return start + 1, name, (start, start + 1, " ")
    line_end = text.find("\n", start)
    end = len(text) if line_end == -1 else line_end
    return end, name, (start, end, ";" if name in _SENDS_QUERY else " ")


def _meta_message(name: str) -> str:
    command = "\\" + name if name else "a backslash"
    return (
        f"{command} is a psql meta-command, not SQL: only psql runs it; other migration tools "
        "send it to the server, which rejects it"
    )


def comments(text: str) -> list[tuple[int, int]]:
    """The (start, end) of every comment of `text`, `--` to the end of its line or `/* */`
    (nested), as psql reads them: what looks like one inside a string, a quoted identifier or
    a dollar quote is not one, and nothing after a quote left open is."""
    spans: list[tuple[int, int]] = []
    position = 0
    size = len(text)
    while position < size:
        kind, end = _token(text, position)
        if kind in ("line_comment", "literal_comment"):
            spans.append((position, end))
        elif kind == "unterminated":
            break
        position = end
    return spans


def _token(text: str, position: int) -> tuple[str, int]:
    """The kind of the token at `position` and where it ends. Comments, strings, quoted
    identifiers and dollar quotes are one token each (`literal_...`), or `unterminated`
    (ending at the end of the text) when they are not closed."""
    token = _compiled(_SQL_TOKEN, _VERBOSE_DOTALL).match(text, position)
    assert token is not None and token.lastgroup is not None  # `other` matches anything
    kind = token.lastgroup
    start = token.end()
    if kind == "dollar":
        close = text.find(token.group(), start)
        end = -1 if close == -1 else close + len(token.group())
    elif kind == "block_comment":  # comments nest in PostgreSQL
        level = 1
        end = -1
        for mark in _compiled(_COMMENT_MARK).finditer(text, start):
            level += 1 if mark.group() == "/*" else -1
            if level == 0:
                end = mark.end()
                break
        kind = "comment"
    elif kind in _LITERAL_ENDS:
        found = _compiled(_LITERAL_ENDS[kind], _DOTALL).match(text, start)
        end = found.end() if found else -1
    else:
        return kind, start
    if end < 0:
        return "unterminated", len(text)
    return "literal_" + kind, end


def _apply(text: str, blanks: list[tuple[int, int, str]]) -> str:
    parts: list[str] = []
    position = 0
    for start, end, first in sorted(blanks):
        if start < position:
            continue
        parts.append(text[position:start])
        blanked = re.sub(r"[^\n]", " ", text[start:end])
        if first != " ":
            blanked = first + blanked[1:]
        parts.append(blanked)
        position = end
    parts.append(text[position:])
    return "".join(parts)
