"""The one sandbox for what a repository can change: rule expressions and report templates.

A pull request can edit rule files and templates, and CI runs them with secrets in its
environment. Jinja's ImmutableSandboxedEnvironment decides which attributes and calls are
safe (no `_` attributes, no `str.format` without its own sandboxed formatter, no mutation);
`BoundedSandbox` adds limits, so that a runaway expression is an error and not a hung or
killed run:

- values an expression builds (strings, lists, integers) stay under a size limit: the
  operators that can multiply a size (`*`, `**`, `%`, `+`, `~`), the string methods and
  filters that can (`center`, `replace`, `join`, `indent`, ...) are checked before they run;
- `range` is limited to 100,000 items, as Jinja's sandbox does;
- `limited()` gives each evaluation a time budget and the process a memory ceiling while
  rules or templates run.

Going over a limit raises `LimitExceeded`, a BaseException: no `except Exception` on the way
(Jinja's, the model's) can swallow it.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from functools import update_wrapper
from string import Formatter
from types import FrameType
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import make_attrgetter
from jinja2.sandbox import ImmutableSandboxedEnvironment

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


class LimitExceeded(BaseException):
    """An expression or template went over a limit (size, time, memory, recursion)."""


def check_output(text: str, limit: int) -> str:
    """`text`, when it is at most `limit` characters long."""
    if len(text) > limit:
        raise LimitExceeded(f"output of {len(text):,} characters exceeds the limit of {limit:,}")
    return text


def _too_large(what: str, size: int, limit: int) -> LimitExceeded:
    return LimitExceeded(f"{what} of {size:,} exceeds the limit of {limit:,}")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with size limits on what expressions build.

    `value_limit` bounds the length of any string, list or mapping an operator, method
    or filter returns. The sandbox's per-attribute verdicts are cached: they depend only
    on the object's type and the attribute's name, and rules read the same few attributes
    of the same few types thousands of times.
    """

    # Each of these can multiply a size; they go through `call_binop`.
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, value_limit: int, **options: Any) -> None:
        super().__init__(**options)
        self.value_limit = value_limit
        self._verdicts: dict[tuple[type, str], bool] = {}
        self.globals.pop("lipsum", None)  # pages of text on demand: nothing a rule needs
        self.globals["range"] = self.range
        self.filters = {name: self.bounded_filter(name, f) for name, f in self.filters.items()}

    code_generator_class = CodeGenerator  # replaced below, once the class exists

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        key = (type(obj), attr)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = super().is_safe_attribute(obj, attr, value)
            self._verdicts[key] = verdict
        return verdict

    # -- sizes -----------------------------------------------------------------------------

    def bounded(self, value: Any) -> Any:
        """`value`, when it is within the limits."""
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
        return self.bounded(self.binop_table[operator](left, right))

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
        for _text, _field, spec, _conversion in Formatter().parse(template):
            if not spec:
                continue
            if "{" in spec:
                raise LimitExceeded("a nested field in a format spec (give the width as digits)")
            for number in re.findall(r"\d+", spec):
                self._fits(int(number), "a format width")

    # -- calls -----------------------------------------------------------------------------

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        template: str = value.__self__
        inner = wrapped

        def bounded_format(*args: Any, **kwargs: Any) -> str:
            self._check_format_string(template)
            return str(self.bounded(inner(*args, **kwargs)))

        return update_wrapper(bounded_format, value)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        args = __self.check_call(__obj, args, kwargs)
        return __self.bounded(super().call(__context, __obj, *args, **kwargs))

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

    # -- filters ---------------------------------------------------------------------------

    def bounded_filter(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """The filter, with its result checked and, where one call can multiply a size,
        its arguments checked first."""
        check = _FILTER_CHECKS.get(name)

        def bounded_filter(*args: Any, **kwargs: Any) -> Any:
            if check is not None:
                args = check(self, args, kwargs)
            return self.bounded(function(*args, **kwargs))

        return update_wrapper(bounded_filter, function)


def _replaced_length(text: Any, old: Any, new: Any, count: Any) -> int:
    if not isinstance(old, str | bytes) or not isinstance(new, str | bytes):
        return len(text)
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(len(new) - len(old), 0)


def _joinable(env: BoundedSandbox, separator: str, items: Iterable[Any]) -> Iterator[Any]:
    """The items of a join, read one by one while the joined length stays within the limit."""
    total = 0
    for index, item in enumerate(items):
        total += (len(item) if isinstance(item, str) else 0) + (len(separator) if index else 0)
        env._fits(total, "a string")
        yield item


# Filters whose one call can build a value much larger than their input: their arguments
# are checked before the call. Each takes the filter's positional and keyword arguments
# (after the environment or context Jinja passes to some) and returns the positional ones.
def _check_center(env: BoundedSandbox, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    width = args[1] if len(args) > 1 else kwargs.get("width", 80)
    if isinstance(width, int):
        env._fits(width, "a width")
    return args


def _check_indent(env: BoundedSandbox, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    text = str(args[0]) if args else ""
    width = args[1] if len(args) > 1 else kwargs.get("width", 4)
    size = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    env._fits(len(text) + (text.count("\n") + 1) * max(size, 0))
    return args


def _check_replace(env: BoundedSandbox, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # do_replace(eval_ctx, s, old, new, count=None)
    if len(args) >= 4:
        count = args[4] if len(args) > 4 else kwargs.get("count")
        text = args[1] if isinstance(args[1], str) else str(args[1])
        old, new = args[2], args[3]
        env._fits(_replaced_length(text, str(old), str(new), -1 if count is None else count))
    return args


def _check_format(env: BoundedSandbox, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if args and isinstance(args[0], str):
        env._check_percent_format(args[0])
    return args


def _check_join(env: BoundedSandbox, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # do_join(eval_ctx, value, d="", attribute=None): the items are read here, within the limit.
    if len(args) < 2:
        return args
    separator = args[2] if len(args) > 2 else kwargs.pop("d", "")
    attribute = args[3] if len(args) > 3 else kwargs.pop("attribute", None)
    items = args[1] if attribute is None else map(make_attrgetter(env, attribute), args[1])
    return (args[0], list(_joinable(env, str(separator), _strings(items))), separator)


def _strings(items: Iterable[Any]) -> Iterator[str]:
    for item in items:
        yield str(item)


def _check_wordwrap(env: BoundedSandbox, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # do_wordwrap(environment, s, width=79, break_long_words=True, wrapstring=None, ...)
    if len(args) >= 2:
        wrapstring = args[4] if len(args) > 4 else kwargs.get("wrapstring") or "\n"
        text = str(args[1])
        env._fits(len(text) * (len(str(wrapstring)) + 1))
    return args


def _check_tojson(env: BoundedSandbox, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # do_tojson(eval_ctx, value, indent=None): an indent multiplies every line.
    indent = args[2] if len(args) > 2 else kwargs.get("indent")
    if isinstance(indent, int) and indent > 64:
        raise LimitExceeded(f"a JSON indent of {indent:,} (at most 64)")
    return args


def _check_slice(env: BoundedSandbox, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    slices = args[1] if len(args) > 1 else kwargs.get("slices", 0)
    if isinstance(slices, int):
        env._fits(slices, "a number of slices")
    return args


def _check_sum(env: BoundedSandbox, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # do_sum(environment, iterable, attribute=None, start=0): adding lists or strings copies
    # them again and again.
    if len(args) < 2:
        return args
    attribute = args[2] if len(args) > 2 else kwargs.pop("attribute", None)
    start = args[3] if len(args) > 3 else kwargs.pop("start", 0)
    iterable = args[1] if attribute is None else map(make_attrgetter(env, attribute), args[1])
    items = list(iterable)
    sized = [item for item in (start, *items) if isinstance(item, str | bytes | list | tuple)]
    env._fits(sum(map(len, sized)))
    return (args[0], items, None, start)


_FILTER_CHECKS: dict[
    str, Callable[[BoundedSandbox, tuple[Any, ...], dict[str, Any]], tuple[Any, ...]]
] = {
    "center": _check_center,
    "indent": _check_indent,
    "replace": _check_replace,
    "format": _check_format,
    "join": _check_join,
    "wordwrap": _check_wordwrap,
    "tojson": _check_tojson,
    "slice": _check_slice,
    "sum": _check_sum,
}


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with `~` going through the sandbox (`concat_bounded`): Jinja has no
    hook for it, and `a ~ a` doubles a string."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.concat_bounded((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")


BoundedSandbox.code_generator_class = _BoundedCodeGenerator


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
