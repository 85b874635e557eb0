"""The lexers' letter classes, written as complements of ASCII so that they compile in
microseconds (a class up to U+10FFFF takes about 10 ms each, paid by every run), match what the
plain definition matches: ASCII letters, `_` and every character beyond ASCII start an
identifier or a dollar-quote tag; digits (and `$` in an identifier) may follow."""

from __future__ import annotations

import re

from schema_review.discover import _SQL_SCAN
from schema_review.discover import _compiled as compiled_in_discover
from schema_review.parse.script import _SQL_TOKEN
from schema_review.parse.script import _compiled as compiled_in_script

# The definitions the fast classes stand for (the patterns as they were written before).
_DEFINITION_TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<line_comment>--[^\n]*)
    | (?P<block_comment>/\*)
    | (?P<estring>[eE]')
    | (?P<string>')
    | (?P<ident>")
    | (?P<dollar>\$(?:[A-Za-z_\x80-\U0010ffff][A-Za-z_0-9\x80-\U0010ffff]*)?\$)
    | (?P<word>[A-Za-z_\x80-\U0010ffff][A-Za-z_0-9$\x80-\U0010ffff]*)
    | (?P<backslash>\\)
    | (?P<semicolon>;)
    | (?P<open>\()
    | (?P<close>\))
    | (?P<other>[^\s'"$\\/A-Za-z_;()\-\x80-\U0010ffff]+|.)
    """,
    re.VERBOSE | re.DOTALL,
)
_DEFINITION_SCAN = re.compile(
    r";|--|/\*|[eE]?'|\"|\$(?:[A-Za-z_\x80-\U0010ffff][\w\x80-\U0010ffff]*)?\$"
)
# Every ASCII character, and beyond it the edges and the odd ones (Unicode spaces, a lone
# surrogate, the last code point).
_CHARACTERS = [chr(c) for c in range(0x100)] + [
    "\u0085",
    "\u2028",
    "\u3000",
    "\u4e2d",
    "\ud800",
    "\ufeff",
    "\uffff",
    "\U00010000",
    "\U0010ffff",
]


def _contexts(ch: str) -> list[str]:
    return [ch, f"${ch}$", f"a{ch}", f"1{ch}x", ch + ch, f"$a{ch}$", f"x{ch}$$", f"{ch}$tag$"]


def test_lexer_tokens_are_those_of_the_definition() -> None:
    for ch in _CHARACTERS:
        for text in _contexts(ch):
            expected = _DEFINITION_TOKEN.match(text)
            found = compiled_in_script(_SQL_TOKEN, re.VERBOSE | re.DOTALL).match(text)
            assert expected is not None and found is not None
            assert (found.lastgroup, found.group()) == (expected.lastgroup, expected.group()), text


def test_light_scan_stops_where_the_definition_stops() -> None:
    for ch in _CHARACTERS:
        for text in _contexts(ch):
            expected = [(m.span(), m.group()) for m in _DEFINITION_SCAN.finditer(text)]
            scan = compiled_in_discover(_SQL_SCAN)
            assert [(m.span(), m.group()) for m in scan.finditer(text)] == expected, text
