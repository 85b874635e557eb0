"""libpg_query's JSON as dicts, however deeply its nodes nest.

orjson decodes it in about half the stdlib decoder's time (the decode is a tenth of a corpus
run). Both stop at a depth: orjson at 1,024 levels, the stdlib decoder at the interpreter's
recursion limit; a ~490-term `a || b || ...` chain is about a thousand levels of JSON. Such
text is rare, so it falls back to the stdlib decoder, and past that to a loop with an
explicit stack here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import orjson

# One JSON token, whitespace before it skipped. The text comes from libpg_query, so it is
# well formed: commas and colons carry no information the stack does not already have.
# Compiled when first needed (`loads_iteratively`): few runs meet text that nests so deeply.
_TOKEN = r'\s*(?:([{\[])|([}\]])|[,:]|("(?:[^"\\]|\\.)*")|(-?\d+)(?![.eE\d])|([^\s,:{}\[\]"]+))'
_OPEN, _CLOSE, _STRING, _INTEGER, _LITERAL = 1, 2, 3, 4, 5


def loads(text: str) -> Any:
    """`json.loads`, without a limit on how deeply the value nests.

    orjson first. Text it refuses (too deep, a lone surrogate escape, an error) goes to the
    stdlib's C scanner, called directly (`json.loads`'s own steps around it were 8,000
    instructions a call), and what that does not take whole to `json.loads`, which says why."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        value, end = _scan(text, 0)
    except RecursionError:
        return loads_iteratively(text)
    except StopIteration:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


# The decoder's C scanner (`scan_once`, which typeshed does not list).
_scan: Callable[[str, int], tuple[Any, int]] = getattr(json.JSONDecoder(), "scan_once")  # noqa: B009


def loads_iteratively(text: str) -> Any:
    """Decode JSON with a loop and a stack of open containers instead of recursion."""
    stack: list[Any] = []  # the open containers, innermost last
    key: str | None = None  # in an object: the key read, waiting for its value
    root: Any = None
    for match in re.compile(_TOKEN, re.DOTALL).finditer(text):
        group = match.lastindex
        value: Any
        if group is None:  # a comma, a colon or trailing whitespace
            continue
        if group == _CLOSE:
            stack.pop()
            continue
        if group == _OPEN:
            value = {} if match.group(_OPEN) == "{" else []
        elif group == _STRING:
            raw = match.group(_STRING)
            value = json.loads(raw) if "\\" in raw else raw[1:-1]
            if key is None and stack and isinstance(stack[-1], dict):
                key = value
                continue
        elif group == _INTEGER:
            value = int(match.group(_INTEGER))
        else:
            value = json.loads(match.group(_LITERAL))  # true, false, null or a float
        if not stack:
            root = value
        elif isinstance(stack[-1], dict):
            stack[-1][key] = value
            key = None
        else:
            stack[-1].append(value)
        if group == _OPEN:
            stack.append(value)
    return root
