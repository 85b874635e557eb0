"""Plain data as compressed bytes, for what a long history's run keeps while its model is alive
(the rules' hits, a review's inventory and timeline): marshal (fast), or pickle for what
marshal does not write (a subclass of str: Jinja's Markup), then zlib at its fastest level.
"""

from __future__ import annotations

import marshal
from typing import Any


def pack(value: Any) -> bytes:
    """`value` (tuples, lists, dicts, strings, numbers, None) as compressed bytes."""
    import zlib  # here: a short run packs nothing, and its start stays without the import

    try:
        data = b"m" + marshal.dumps(value)
    except ValueError:  # a subclass of str (or the like)
        import pickle

        data = b"p" + pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    return zlib.compress(data, 1)


def unpack(packed: bytes) -> Any:
    """The value `pack` packed."""
    import zlib

    data = zlib.decompress(packed)
    if data[:1] == b"p":
        import pickle

        return pickle.loads(data[1:])
    return marshal.loads(memoryview(data)[1:])
