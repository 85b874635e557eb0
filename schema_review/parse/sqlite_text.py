"""What SQLite keeps of a statement's text that sqlglot does not give back.

SQLite stores a table's definition as text and reads some of it as written: a column's
declared type is the span of its type tokens (`pragma_table_info` shows `DECIMAL( 20, 5 )`,
`unsigned big int`), and the table options after the column list (`STRICT`, `WITHOUT ROWID`)
are words sqlglot does not know. A trigger's body holds `;` that do not end it. These
helpers read sqlglot's tokens (start and end offsets, end inclusive) of one statement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Words that end a column's type and start its constraints (SQLite's grammar: `typetoken`
# is names and an optional `(n)` or `(n, m)`).
_CONSTRAINT_WORDS = frozenset(
    {
        "CONSTRAINT",
        "PRIMARY",
        "NOT",
        "NULL",
        "UNIQUE",
        "CHECK",
        "DEFAULT",
        "COLLATE",
        "REFERENCES",
        "GENERATED",
        "AS",
        "ON",
        "AUTOINCREMENT",
    }
)
_TABLE_CONSTRAINT_WORDS = frozenset({"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"})
# SQLite spells these type names in upper case whatever the file wrote (they are the STRICT
# tables' types; sqlite3StdType).
_STANDARD_TYPES = frozenset({"ANY", "BLOB", "INT", "INTEGER", "REAL", "TEXT"})


def tokens_of(text: str) -> list[Any]:
    from sqlglot.dialects.dialect import Dialect

    return list(Dialect.get_or_raise("sqlite").tokenize(text))


def _word(token: Any) -> str:
    """A keyword's first word, upper case (the tokenizer makes one token of `PRIMARY KEY`,
    `FOREIGN KEY`); '' for a quoted identifier."""
    if token.token_type.name == "IDENTIFIER":
        return ""
    words = str(token.text).upper().split()
    return words[0] if words else ""


def starts_trigger(tokens: list[Any]) -> bool:
    """CREATE [TEMP|TEMPORARY] TRIGGER."""
    words = [_word(t) for t in tokens[:3]]
    if words[:1] != ["CREATE"]:
        return False
    if len(words) > 1 and words[1] in ("TEMP", "TEMPORARY"):
        words = words[:1] + words[2:]
    return len(words) > 1 and words[1] == "TRIGGER"


def starts_virtual_table(tokens: list[Any]) -> bool:
    """CREATE VIRTUAL TABLE: a module's table, its arguments the module's own syntax."""
    return [_word(t) for t in tokens[:3]] == ["CREATE", "VIRTUAL", "TABLE"]


def read_virtual_table(tokens: list[Any]) -> tuple[str, str, list[str], bool] | None:
    """CREATE VIRTUAL TABLE [IF NOT EXISTS] name USING module(args): (name, module, the
    arguments that name a column, IF NOT EXISTS). An argument names a column when it starts
    with a name and holds no `=` (fts5's `content='t'` is an option)."""
    words = [_word(t) for t in tokens]
    position = 3
    if_not_exists = words[position : position + 3] == ["IF", "NOT", "EXISTS"]
    position += 3 if if_not_exists else 0
    if position + 1 < len(tokens) and tokens[position + 1].token_type.name == "DOT":
        position += 2
    if position + 2 >= len(tokens) or words[position + 1] != "USING":
        return None
    name, module = str(tokens[position].text), str(tokens[position + 2].text).lower()
    columns: list[str] = []
    argument: list[Any] = []
    depth = 0
    for token in tokens[position + 3 :]:
        kind = token.token_type.name
        if kind == "L_PAREN":
            depth += 1
            if depth == 1:
                continue
        elif kind == "R_PAREN":
            depth -= 1
        if depth == 0 or (depth == 1 and kind == "COMMA"):
            named = argument and argument[0].token_type.name in ("VAR", "IDENTIFIER")
            if named and not any(t.token_type.name == "EQ" for t in argument):
                columns.append(str(argument[0].text))
            argument = []
            continue
        argument.append(token)
    return name, module, columns, if_not_exists


def trigger_ends(tokens: list[Any], index: int) -> bool:
    """Whether the `;` at `tokens[index]` ends the trigger whose tokens start the list: the
    body's BEGIN is closed by an END (CASE ... END inside counts its own END)."""
    depth, begun = 0, False
    for token in tokens[:index]:
        word = _word(token)
        if word == "BEGIN" and not begun:
            begun, depth = True, 1
        elif begun and word == "CASE":
            depth += 1
        elif begun and word == "END":
            depth -= 1
    return begun and depth <= 0


@dataclass(slots=True)
class TableText:
    """What CREATE TABLE's text says that sqlglot does not: declared types by column, the
    table options, and spans sqlglot would stumble on (blanked before it parses)."""

    declared: dict[str, str] = field(default_factory=dict)
    strict: bool = False
    without_rowid: bool = False
    autoincrement: set[str] = field(default_factory=set)
    not_null: set[str] = field(default_factory=set)  # columns declared NOT NULL
    blank: list[tuple[int, int]] = field(default_factory=list)  # [start, end) offsets
    retype: list[tuple[int, int]] = field(default_factory=list)  # type spans, read as BLOB


def read_create_table(text: str, tokens: list[Any] | None = None) -> TableText | None:
    """The parts of a `CREATE [TEMP] TABLE name (...) [options]` statement; None when the
    text is not one (CREATE TABLE ... AS SELECT, or no column list)."""
    tokens = tokens if tokens is not None else tokens_of(text)
    words = [_word(t) for t in tokens[:3]]
    if not words or words[0] != "CREATE" or "TABLE" not in words:
        return None
    opening = next((i for i, t in enumerate(tokens) if t.token_type.name == "L_PAREN"), None)
    if opening is None or any(_word(t) == "AS" for t in tokens[:opening]):
        return None
    result = TableText()
    depth, closing = 0, None
    element: list[Any] = []
    elements: list[list[Any]] = []
    for position in range(opening + 1, len(tokens)):
        token = tokens[position]
        kind = token.token_type.name
        if kind == "L_PAREN":
            depth += 1
        elif kind == "R_PAREN":
            if depth == 0:
                closing = position
                break
            depth -= 1
        if kind == "COMMA" and depth == 0:
            elements.append(element)
            element = []
        else:
            element.append(token)
    elements.append(element)
    if closing is None:
        return None
    for element in elements:
        _read_element(text, element, result)
    options = tokens[closing + 1 :]
    option_words = [_word(t) for t in options]
    result.strict = "STRICT" in option_words
    result.without_rowid = "ROWID" in option_words and "WITHOUT" in option_words
    if options and all(w in ("STRICT", "WITHOUT", "ROWID", ",") for w in option_words):
        result.blank.append((options[0].start, options[-1].end + 1))
    return result


def _read_element(text: str, element: list[Any], result: TableText) -> None:
    if not element or _word(element[0]) in _TABLE_CONSTRAINT_WORDS:
        _blank_conflict_clauses(element, result)
        return
    name = str(element[0].text)
    type_tokens: list[Any] = []
    depth = 0
    for token in element[1:]:
        kind = token.token_type.name
        if depth == 0 and _word(token) in _CONSTRAINT_WORDS:
            break
        if kind == "L_PAREN":
            depth += 1
        elif kind == "R_PAREN":
            depth -= 1
        type_tokens.append(token)
    if not type_tokens:
        declared = ""
    elif len(type_tokens) == 1 and type_tokens[0].token_type.name in ("IDENTIFIER", "STRING"):
        declared = str(type_tokens[0].text)  # "my type": SQLite drops the quotes
    else:
        declared = text[type_tokens[0].start : type_tokens[-1].end + 1]
    if declared.upper() in _STANDARD_TYPES:
        declared = declared.upper()
    result.declared[name] = declared
    if type_tokens and type_tokens[-1].end + 1 - type_tokens[0].start >= 4:
        # sqlglot knows its own type names only (not `unsigned big int`): it reads the
        # column as BLOB, the declared text is kept here.
        result.retype.append((type_tokens[0].start, type_tokens[-1].end + 1))
    if any(_word(t) == "AUTOINCREMENT" for t in element):
        result.autoincrement.add(name)
    words = [_word(t) for t in element]
    if any(w == "NOT" and words[i + 1 : i + 2] == ["NULL"] for i, w in enumerate(words)):
        result.not_null.add(name)
    _blank_conflict_clauses(element, result)


def _blank_conflict_clauses(element: list[Any], result: TableText) -> None:
    """`ON CONFLICT REPLACE` (and ROLLBACK, ABORT, FAIL, IGNORE) after a key or NOT NULL:
    SQLite's own, sqlglot's grammar has no room for it; what it does is no schema fact."""
    for position in range(len(element) - 2):
        if _word(element[position]) == "ON" and _word(element[position + 1]) == "CONFLICT":
            result.blank.append((element[position].start, element[position + 2].end + 1))


@dataclass(slots=True)
class TriggerText:
    """CREATE TRIGGER's header."""

    name: str
    table: str
    timing: str  # before, after, instead of
    events: list[str]
    columns: list[str]
    for_each_row: bool
    if_not_exists: bool
    when: str | None  # the WHEN condition's text
    body: str


def read_create_trigger(text: str, tokens: list[Any] | None = None) -> TriggerText | None:
    """`CREATE [TEMP] TRIGGER [IF NOT EXISTS] [schema.]name [BEFORE|AFTER|INSTEAD OF]
    DELETE|INSERT|UPDATE [OF col, ...] ON table [FOR EACH ROW] [WHEN expr] BEGIN ... END`."""
    tokens = tokens if tokens is not None else tokens_of(text)
    words = [_word(t) for t in tokens]
    position = words.index("TRIGGER") + 1 if "TRIGGER" in words else len(words)
    if_not_exists = words[position : position + 3] == ["IF", "NOT", "EXISTS"]
    position += 3 if if_not_exists else 0
    if position + 1 < len(tokens) and tokens[position + 1].token_type.name == "DOT":
        position += 2  # schema-qualified name: the one namespace
    if position >= len(tokens):
        return None
    name = str(tokens[position].text)
    position += 1
    timing = "before"  # SQLite's default
    if position < len(words) and words[position] in ("BEFORE", "AFTER"):
        timing = words[position].lower()
        position += 1
    elif words[position : position + 2] == ["INSTEAD", "OF"]:
        timing = "instead of"
        position += 2
    events: list[str] = []
    columns: list[str] = []
    if position < len(words) and words[position] in ("DELETE", "INSERT", "UPDATE"):
        events.append(words[position].lower())
        position += 1
    if position < len(words) and words[position] == "OF":
        position += 1
        while position < len(words) and words[position] != "ON":
            if tokens[position].token_type.name != "COMMA":
                columns.append(str(tokens[position].text))
            position += 1
    if position >= len(words) or words[position] != "ON":
        return None
    position += 1
    if position + 1 < len(tokens) and tokens[position + 1].token_type.name == "DOT":
        position += 2
    if position >= len(tokens):
        return None
    table = str(tokens[position].text)
    position += 1
    for_each_row = words[position : position + 3] == ["FOR", "EACH", "ROW"]
    position += 3 if for_each_row else 0
    begin = words.index("BEGIN", position) if "BEGIN" in words[position:] else None
    if begin is None:
        return None
    when = None
    if position < len(words) and words[position] == "WHEN" and begin > position + 1:
        when = text[tokens[position + 1].start : tokens[begin - 1].end + 1]
    body = text[tokens[begin].start :]
    return TriggerText(
        name, table, timing, events, columns, for_each_row, if_not_exists, when, body
    )
