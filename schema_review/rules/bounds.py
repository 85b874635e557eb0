"""The limits of the sandbox, which need no Jinja: sizes, time and memory.

`sandbox.py`'s BoundedSandbox (Jinja's immutable sandbox) and `runtime.py`'s RuleSandbox (what
the built-in rules' compiled code runs on, without importing Jinja) share them: the checks
of `Bounds` on what an operator, a method or `range` builds, and `limited()`'s time budget
and memory ceiling. Going over a limit raises `LimitExceeded`, a BaseException: no
`except Exception` on the way (Jinja's, the model's) can swallow it.
"""

from __future__ import annotations

import operator
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import signal
else:
    try:
        # The C module `signal` wraps: the same functions and constants, without the enums
        # that `import signal` builds of them (1% of a one-file run).
        import _signal as signal
    except ImportError:  # another Python than CPython
        import signal

# Characters (or items) of one value an expression of a rule builds.
RULE_VALUE_LIMIT = 1_000_000
# Characters of one rendered message, fix or object name.
RULE_OUTPUT_LIMIT = 100_000
# Characters of one value, and of the whole output, of a report template.
TEMPLATE_OUTPUT_LIMIT = 50_000_000
# Bits of an integer an expression builds (a 20,000-digit number).
INT_BITS_LIMIT = 65_536
# Items of `range(...)` (Jinja's own sandbox limit).
RANGE_LIMIT = 100_000
# Seconds of CPU time one rule evaluation (one statement or object) may take; a report render
# may take RENDER_SECONDS. CPU time, so that a loaded CI machine does not stop a rule that is
# merely waiting for the processor (nothing in the sandbox can wait on anything else). The
# budget is checked by a periodic timer: it runs out between once and twice these figures.
EVALUATION_SECONDS = 10.0
RENDER_SECONDS = 60.0
# Memory a rule evaluation or a render may add to the process, when the platform lets us
# enforce it (Linux: RLIMIT_AS).
MEMORY_HEADROOM = 2 << 30


_SIZED = (str, bytes, list, tuple)
# The sized types `Bounds.bounded` checks, exactly (their subclasses take the isinstance path).
_PLAIN_SIZED = frozenset({str, bytes, list, tuple, dict, set, frozenset})


class LimitExceeded(BaseException):
    """An expression or template went over a limit (size, time, memory, recursion)."""


# What a runaway expression raises: the sandbox's limits, and Python's own.
RUNAWAY = (LimitExceeded, RecursionError, MemoryError)


def check_output(text: str, limit: int) -> str:
    """`text`, when it is at most `limit` characters long."""
    if len(text) > limit:
        raise output_too_long(len(text), limit)
    return text


def output_too_long(size: int, limit: int) -> LimitExceeded:
    """What an output of `size` characters, over `limit`, raises."""
    return LimitExceeded(f"output of {size:,} characters exceeds the limit of {limit:,}")


# The operators as Jinja's sandbox calls them (SandboxedEnvironment.default_binop_table).
_BINARY_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "**": operator.pow,
    "%": operator.mod,
}


def _too_large(what: str, size: int, limit: int) -> LimitExceeded:
    return LimitExceeded(f"{what} of {size:,} exceeds the limit of {limit:,}")


class Bounds:
    """Size limits on what expressions build: `value_limit` bounds the length of any string,
    list or mapping an operator or method returns. A mixin of both sandboxes."""

    value_limit: int
    # Each of these can multiply a size; they go through `call_binop`.
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def bounded(self, value: Any) -> Any:
        """`value`, when it is within the limits."""
        kind = type(value)
        if kind in _PLAIN_SIZED:  # a method's common answers: one lookup, no isinstance
            if len(value) > self.value_limit:
                raise _too_large("a value", len(value), self.value_limit)
            return value
        if value is None or kind is bool:
            return value
        if isinstance(value, str | bytes | list | tuple | dict | set | frozenset):
            if len(value) > self.value_limit:
                raise _too_large("a value", len(value), self.value_limit)
        elif type(value) is int and value.bit_length() > INT_BITS_LIMIT:
            raise LimitExceeded(f"an integer of more than {INT_BITS_LIMIT:,} bits")
        return value

    def _fits(self, size: int, what: str = "a value") -> None:
        if size > self.value_limit:
            raise _too_large(what, size, self.value_limit)

    def range(self, *args: int) -> range:
        items = range(*args)
        if len(items) > RANGE_LIMIT:
            raise _too_large("a range", len(items), RANGE_LIMIT)
        return items

    def concat_bounded(self, parts: Iterable[Any]) -> str:
        """The `~` operator."""
        strings = [str(part) for part in parts]
        self._fits(sum(map(len, strings)), "a string")
        return "".join(strings)

    def join(self, separator: Any, items: Iterable[Any]) -> str:
        """`separator.join(items)`, stopping as soon as the result would be too long."""
        glue = str(separator)
        strings = list(_joinable(self, glue, _strings(items)))
        return glue.join(strings)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for sized, count in ((left, right), (right, left)):
                if isinstance(count, int) and isinstance(sized, _SIZED):
                    self._fits(len(sized) * max(count, 0))
        elif operator == "**":
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and right > 0
                and right * max(abs(left).bit_length() - 1, 0) > INT_BITS_LIMIT
            ):
                raise LimitExceeded(f"an integer of more than {INT_BITS_LIMIT:,} bits")
        elif operator == "%" and isinstance(left, str):
            self._check_percent_format(left)
        elif operator == "+" and isinstance(left, _SIZED) and isinstance(right, _SIZED):
            self._fits(len(left) + len(right))
        return self.bounded(_BINARY_OPERATORS[operator](left, right))

    _PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")

    def _check_percent_format(self, template: str) -> None:
        """`'%999999999d' % 1` allocates the width before anything can look at the result."""
        for width, precision in self._PERCENT_SPEC.findall(template):
            for number in (width, precision):
                if number == "*":
                    raise LimitExceeded("a '*' width in a % format (give the width as digits)")
                if number and int(number) > self.value_limit:
                    self._fits(int(number), "a format width")

    def _check_format_string(self, template: str) -> None:
        """`'{:999999999}'.format(1)` and `'{:{}}'.format(1, 10**9)`, before they run."""
        from string import Formatter  # (importing `string` compiles a regular expression)

        for _text, _field, spec, _conversion in Formatter().parse(template):
            if not spec:
                continue
            if "{" in spec:
                raise LimitExceeded("a nested field in a format spec (give the width as digits)")
            for number in re.findall(r"\d+", spec):
                self._fits(int(number), "a format width")

    def check_call(self, function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Refuse a call of a method that would build a value over the limit; the arguments
        to call it with (an iterable to join is read here, within the limit)."""
        owner = getattr(function, "__self__", None)
        name = getattr(function, "__name__", "")
        if isinstance(owner, str | bytes | bytearray):
            if name in ("center", "ljust", "rjust", "zfill"):
                width = args[0] if args else kwargs.get("width", 0)
                if isinstance(width, int):
                    self._fits(width, "a width")
            elif name == "expandtabs":
                tabsize = args[0] if args else kwargs.get("tabsize", 8)
                tab: Any = "\t" if isinstance(owner, str) else b"\t"
                if isinstance(tabsize, int):
                    self._fits(len(owner) + owner.count(tab) * tabsize)
            elif name == "replace" and len(args) >= 2:
                count = args[2] if len(args) > 2 else kwargs.get("count", -1)
                self._fits(_replaced_length(owner, args[0], args[1], count))
            elif name == "join" and args and isinstance(owner, str):
                return (list(_joinable(self, owner, args[0])), *args[1:])
            elif name == "translate" and args and isinstance(args[0], dict):
                longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
                self._fits(len(owner) * max(longest, 1))
        elif isinstance(owner, int) and name == "to_bytes":
            length = args[0] if args else kwargs.get("length", 1)
            if isinstance(length, int):
                self._fits(length)
        return args


def _replaced_length(text: Any, old: Any, new: Any, count: Any) -> int:
    if not isinstance(old, str | bytes) or not isinstance(new, str | bytes):
        return len(text)
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(len(new) - len(old), 0)


def _joinable(env: Bounds, separator: str, items: Iterable[Any]) -> Iterator[Any]:
    """The items of a join, read one by one while the joined length stays within the limit."""
    total = 0
    for index, item in enumerate(items):
        total += (len(item) if isinstance(item, str) else 0) + (len(separator) if index else 0)
        env._fits(total, "a string")
        yield item


def _strings(items: Iterable[Any]) -> Iterator[str]:
    for item in items:
        yield str(item)


# -- time and memory ---------------------------------------------------------------------


class _Clock:
    """What the timer sees: `serial` counts evaluations (the engine adds one per statement or
    object), `seen` is its value at the previous tick."""

    __slots__ = ("armed", "seconds", "seen", "serial")

    def __init__(self) -> None:
        self.serial = 0
        self.seen = -1
        self.armed = False
        self.seconds = 0.0


CLOCK = _Clock()


def _tick(signum: int, frame: FrameType | None) -> None:
    # Two ticks without a new evaluation: the current one has run for a whole period.
    if CLOCK.serial == CLOCK.seen:
        CLOCK.seen = -1
        raise LimitExceeded(f"took more than {CLOCK.seconds:g} s")
    CLOCK.seen = CLOCK.serial


@contextmanager
def limited(seconds: float) -> Iterator[None]:
    """Run the body with a budget of `seconds` of CPU time for each evaluation (see `CLOCK`),
    and a memory ceiling of MEMORY_HEADROOM above what the process uses now.

    The timer is a periodic SIGVTALRM, so it needs the main thread of a POSIX system; the
    ceiling needs Linux (RLIMIT_AS and /proc). Elsewhere the body runs without them, and the
    size limits of `BoundedSandbox` still hold. Nested uses keep the outer limits.
    """
    if CLOCK.armed:
        yield
        return
    timer = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    previous: Any = None
    CLOCK.armed = True
    CLOCK.seconds = seconds
    CLOCK.seen = -1
    memory = _lower_memory_ceiling()
    try:
        if timer:
            previous = signal.signal(signal.SIGVTALRM, _tick)
            signal.setitimer(signal.ITIMER_VIRTUAL, seconds, seconds)
        yield
    finally:
        if timer:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
            signal.signal(signal.SIGVTALRM, previous)
        CLOCK.armed = False
        _restore_memory_ceiling(memory)


def _lower_memory_ceiling() -> tuple[int, int] | None:
    """Limit the address space to what the process uses now plus MEMORY_HEADROOM; the
    limits to restore afterwards (None: nothing was changed)."""
    try:
        import resource

        with open("/proc/self/statm", encoding="ascii") as statm:
            size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        ceiling = size + MEMORY_HEADROOM
        if hard != resource.RLIM_INFINITY:
            ceiling = min(ceiling, hard)
        if soft != resource.RLIM_INFINITY and soft <= ceiling:
            return None
        resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))
    except (ImportError, OSError, ValueError, IndexError, AttributeError):
        return None
    return soft, hard


def _restore_memory_ceiling(limits: tuple[int, int] | None) -> None:
    if limits is None:
        return
    import resource

    with suppress(OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_AS, limits)
