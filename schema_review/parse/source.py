"""Source text with positions: character offsets to 1-based lines and columns."""

from __future__ import annotations

from array import array
from bisect import bisect_right
from itertools import accumulate, repeat
from operator import add

# How much of a text its line index splits at once (see SourceFile._index_lines).
_PIECE = 1 << 20


class SourceFile:
    """One migration file's text, as it is replayed.

    `display` is the path shown in findings; `order` is the file's position in its
    migration set (apply order), used to sort findings and to tell "earlier file" apart.

    A plain slots class (a dataclass's generated methods cost a one-file run more than its
    parse); == is identity, as its dataclass (eq=False) had it.
    """

    __slots__ = (
        "_line_starts",
        "display",
        "identity",
        "order",
        "pending",
        "set_index",
        "step_of",
        "text",
        "transaction",
    )

    display: str
    text: str
    order: int
    set_index: int
    # What fingerprints name the file by: its path within its migration folder, so a
    # finding keeps its fingerprint when the folder is linted from elsewhere.
    identity: str
    # Whether the migration runner wraps this file in a transaction (see profile.py).
    transaction: bool
    # New since the --diff-base revision: deployed with the pull request's other new files,
    # so what they created is not used by the application yet.
    pending: bool
    # The migration the file is one step of, when the runner's layout splits one migration
    # over several files (discover.step_of: Ory's pop steps); '' when it is its own.
    step_of: str
    # Where each line starts: machine integers (a long file has hundreds of thousands).
    _line_starts: array[int]

    def __init__(
        self,
        display: str,
        text: str,
        order: int = 0,
        set_index: int = 0,
        identity: str = "",
        transaction: bool = False,
        pending: bool = False,
        step_of: str = "",
    ) -> None:
        self.display = display
        self.text = text
        self.order = order
        self.set_index = set_index
        self.identity = identity
        self.transaction = transaction
        self.pending = pending
        self.step_of = step_of
        self._line_starts = array("q")

    def __repr__(self) -> str:
        return (
            f"SourceFile(display={self.display!r}, text={self.text!r}, order={self.order!r}, "
            f"set_index={self.set_index!r}, identity={self.identity!r}, "
            f"transaction={self.transaction!r}, pending={self.pending!r}, "
            f"step_of={self.step_of!r})"
        )

    @property
    def change(self) -> str:
        """What is written and deployed as one: the migration the file is a step of, or the
        file itself. What an earlier file of the same change made, no application version
        has used yet."""
        return self.step_of or f"file:{self.display}"

    def position(self, offset: int) -> tuple[int, int]:
        """Return the 1-based (line, column) of a character offset."""
        starts = self._line_starts or self._index_lines()
        if offset < 0:
            offset = 0
        elif offset > len(self.text):
            offset = len(self.text)
        line = bisect_right(starts, offset)
        return line, offset - starts[line - 1] + 1

    def _index_lines(self) -> array[int]:
        """Where each line starts, worked out on the first position asked for: by pieces of
        the text, each split at its newlines and its lines' lengths summed up, all in C (a
        loop over the newlines in Python cost more than the rest of a finding), and no list
        of a long file's lines at once."""
        starts = array("q", [0])
        text = self.text
        for base in range(0, len(text), _PIECE):
            lines = text[base : base + _PIECE].split("\n")
            lines.pop()  # what follows the piece's last newline: no start in this piece
            # A line starts after each newline: the lengths of the lines before it, plus a
            # newline each, plus where the piece starts.
            ends = accumulate(map(add, map(len, lines), repeat(1)), initial=base)
            next(ends)  # `base` itself: a start of the previous piece's, or 0
            starts.extend(ends)
        self._line_starts = starts
        return starts

    def line_text(self, line: int) -> str:
        starts = self._line_starts or self._index_lines()
        if line < 1 or line > len(starts):
            return ""
        start = starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start : end if end != -1 else len(self.text)]
