"""The names PostgreSQL gives objects created without one, byte for byte.

A later `DROP CONSTRAINT <the server's name>` must find its object, so the replay names
unnamed constraints, indexes and sequences exactly as the server does (src/backend/
commands/indexcmds.c and catalog/pg_constraint.c): `makeObjectName` joins and cuts the
parts to 63 bytes, and on a collision the label gets a number (`_key1`, `_check2`) before
the cut.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

NAMEDATALEN = 64


def _clip(text: str, limit: int) -> str:
    """The longest prefix of `text` of at most `limit` UTF-8 bytes, whole characters only
    (pg_mbcliplen)."""
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode(errors="ignore")


def make_object_name(name1: str, name2: str | None, label: str | None) -> str:
    """makeObjectName: `name1_name2_label`, the longer of name1 and name2 shortened first
    until the whole fits in 63 bytes."""
    if (
        len(name1) + (len(name2) + 1 if name2 else 0) + (len(label) + 1 if label else 0)
        < NAMEDATALEN
        and name1.isascii()
        and (not name2 or name2.isascii())
        and (not label or label.isascii())
    ):
        # ASCII that fits (as good as every name): a character is a byte, nothing is cut.
        joined = f"{name1}_{name2}" if name2 else name1
        return f"{joined}_{label}" if label else joined
    chars1 = len(name1.encode())
    chars2 = len(name2.encode()) if name2 else 0
    overhead = (1 if name2 else 0) + (len(label.encode()) + 1 if label else 0)
    available = NAMEDATALEN - 1 - overhead
    while chars1 + chars2 > available:
        if chars1 > chars2:
            chars1 -= 1
        else:
            chars2 -= 1
    name = _clip(name1, chars1)
    if name2:
        name += "_" + _clip(name2, chars2)
    if label:
        name += "_" + label
    return name


def choose_name(name1: str, name2: str | None, label: str, taken: Callable[[str], bool]) -> str:
    """ChooseRelationName / ChooseConstraintName: the first of `name1_name2_label`,
    `..._label1`, `..._label2` ... that `taken` says is free."""
    number = 0
    while True:
        candidate = make_object_name(name1, name2, f"{label}{number}" if number else label)
        if not taken(candidate):
            return candidate
        number += 1


def name_addition(names: Iterable[str]) -> str:
    """ChooseIndexNameAddition / ChooseForeignKeyConstraintNameAddition: the names joined
    by `_`, stopping once 63 bytes are reached."""
    text = ""
    for name in names:
        if text:
            text += "_"
        text += _clip(name, NAMEDATALEN - 1)
        if len(text.encode()) >= NAMEDATALEN:
            break
    return text  # makeObjectName cuts it


def index_column_names(names: Iterable[str | None]) -> list[str]:
    """ChooseIndexColumnNames: each key's name (a column's own, the function an expression
    calls, or `expr`), made distinct with a number (`expr`, `expr1`)."""
    chosen: list[str] = []
    for original in names:
        base = original or "expr"
        candidate = base
        number = 0
        while candidate in chosen:
            number += 1
            suffix = str(number)
            candidate = _clip(base, NAMEDATALEN - 1 - len(suffix)) + suffix
        chosen.append(sys.intern(candidate))  # the same few names, index after index
    return chosen
