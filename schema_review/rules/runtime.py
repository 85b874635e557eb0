"""What the built-in rules' compiled code runs on, without importing Jinja (issue 17).

The built-in rules' conditions and templates are compiled to Python when the package is built
(prebuilt_python.py): a run only binds them to the sandbox's readers and callers. Importing
Jinja to do so cost a one-file run more than a tenth of its time, so `RuleSandbox` answers
what those readers and callers ask in the common case itself, exactly as Jinja's immutable
sandbox (`sandbox.BoundedSandbox`) answers it, and hands everything else to that sandbox,
imported on first need:

- an attribute that exists, whose name has no leading `_`, on an object that is none of the
  kinds whose attributes Jinja's sandbox judges one by one (functions, methods, classes, code,
  frames, tracebacks, generators, coroutines, mutable sets, mappings and sequences): Jinja's
  verdict for it is "safe", and so is this one's (`is_safe_attribute`);
- a missing attribute that is an item (`options.words` of a plain dict), read as Jinja reads it;
- a method call the sandbox would make as it is (a plain string method, a method of the
  model that is not marked unsafe), its result bounded (`bounds.Bounds`).

Anything else (a refused or missing attribute, a bound `str.format`, a call Jinja's sandbox
checks further, an expression the prebuilt code runs as closures of Jinja's syntax tree)
goes to Jinja's sandbox, which raises its own errors with its own messages: the semantics
never fork, and a run whose rules need none of it never imports Jinja.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, MutableMapping, MutableSequence, MutableSet
from functools import lru_cache
from types import (
    AsyncGeneratorType,
    BuiltinMethodType,
    CodeType,
    CoroutineType,
    FrameType,
    FunctionType,
    GeneratorType,
    MethodType,
    TracebackType,
)
from typing import TYPE_CHECKING, Any, NoReturn

from schema_review.parse import quote_ident
from schema_review.rules.bounds import RULE_VALUE_LIMIT, Bounds

if TYPE_CHECKING:
    from schema_review.rules.sandbox import BoundedSandbox

Names = dict[str, Any]
Closure = Callable[[Names], Any]

# A bound method named `format` or `format_map` may be `str.format`, which the sandbox wraps
# (`wrap_str_format` asks the same): such values are read through the sandbox every time.
_METHOD_TYPES = frozenset({BuiltinMethodType, MethodType})
_FORMATTERS = frozenset({"format", "format_map"})
_MISSING = object()
# Objects whose attributes Jinja's immutable sandbox judges by name (is_internal_attribute,
# modifies_known_mutable): their reads go to it. Of any other object, it allows every
# attribute without a leading `_`.
_JUDGED = (
    FunctionType,
    MethodType,
    type,
    CodeType,
    TracebackType,
    FrameType,
    GeneratorType,
    CoroutineType,
    AsyncGeneratorType,
    MutableSet,
    MutableMapping,
    MutableSequence,
    deque,
)
# The owners whose methods the sandbox's check_call looks at (a width, a count, a join).
_CHECKED_OWNERS = (str, bytes, bytearray, int)
# Methods of str that check_call leaves as they are and the sandbox deems safe to call (as
# every builtin method): the caller calls them at once and bounds the result, as the full
# path would. (Those check_call looks at, and `format`, which the sandbox wraps, are not
# among them.)
_PLAIN_STR_METHODS = frozenset(
    {
        "capitalize",
        "casefold",
        "count",
        "endswith",
        "find",
        "isalnum",
        "isalpha",
        "isdigit",
        "islower",
        "isupper",
        "lower",
        "lstrip",
        "partition",
        "removeprefix",
        "removesuffix",
        "rfind",
        "rpartition",
        "rsplit",
        "rstrip",
        "split",
        "splitlines",
        "startswith",
        "strip",
        "title",
        "upper",
    }
)


def plain_caller(
    bounded: Callable[[Any], Any],
    is_safe_callable: Callable[[Any], bool],
    otherwise: Callable[..., Any],
) -> Callable[..., Any]:
    """A method call (names, method, *arguments) made at once with its result bounded, where
    Jinja's sandbox would make it so: a plain string method, or a method of another owner
    than strings and integers that the sandbox deems safe (its verdict depends on the
    function only, so it is asked once a function); any other call goes to `otherwise`."""
    plain: dict[Any, bool] = {}  # function -> its bound methods are called as they are

    def call(names: Names, function: Any, *arguments: Any) -> Any:
        if (
            type(function) is BuiltinMethodType
            and type(function.__self__) is str
            and function.__name__ in _PLAIN_STR_METHODS
        ):
            return bounded(function(*arguments))  # `column.name.lower()`: the common call
        if type(function) is MethodType and not isinstance(function.__self__, _CHECKED_OWNERS):
            verdict = plain.get(function.__func__)
            if verdict is None:
                verdict = plain[function.__func__] = not hasattr(
                    function, "jinja_pass_arg"
                ) and is_safe_callable(function)
            if verdict:
                return bounded(function(*arguments))
        return otherwise(names, function, *arguments)

    return call


def intersects(values: Any, others: Any) -> bool:
    """Whether two collections share an item: `column.words | intersects(['price', 'cost'])`."""
    return not set(values).isdisjoint(others)


# The filters of the rules' own, beside Jinja's (expressions.environment() adds them to it).
RULE_FILTERS: dict[str, Callable[..., Any]] = {
    "quote_ident": quote_ident,
    "intersects": intersects,
}


class _Constant:
    """A constant that is not a literal in Python source."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _undefined_name(name: str) -> NoReturn:
    from jinja2.exceptions import UndefinedError

    raise UndefinedError(f"'{name}' is undefined")


def _undefined_value() -> Any:
    from jinja2 import Undefined

    return Undefined()


def jinja_errors(*names: str) -> tuple[type[BaseException], ...]:
    """Jinja's exception classes of these names, for an `except` clause: none while Jinja is
    not imported (then nothing can have raised one)."""
    module = sys.modules.get("jinja2.exceptions")
    if module is None:
        return ()
    return tuple(getattr(module, name) for name in names)


def _is_undefined(value: Any) -> bool:
    runtime = sys.modules.get("jinja2.runtime")
    return runtime is not None and isinstance(value, runtime.Undefined)


def jinja_sandbox() -> BoundedSandbox:
    """Jinja's sandbox of the rules (expressions.environment()), imported on first need."""
    from schema_review.rules.expressions import environment as jinja_environment

    return jinja_environment()


class RuleSandbox(Bounds):
    """The sandbox of the built-in rules' compiled code: the limits of rules, the verdicts of
    Jinja's immutable sandbox where they need no Jinja, Jinja's sandbox for the rest."""

    def __init__(self) -> None:
        self.value_limit = RULE_VALUE_LIMIT
        # The names every expression sees (Jinja's own globals, `cycler`, `joiner` and
        # `namespace`, are added where Jinja runs: expressions.with_jinja_globals).
        self.globals: dict[str, Any] = {
            "range": self.range,
            "dict": dict,
            "any": any,
            "all": all,
            "sorted": sorted,
        }

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr.startswith("_"):
            return False
        if not isinstance(obj, _JUDGED):
            return True
        return jinja_sandbox().is_safe_attribute(obj, attr, value)

    def is_safe_callable(self, obj: Any) -> bool:
        """As SandboxedEnvironment.is_safe_callable: unless marked unsafe (Jinja's `unsafe`
        decorator, Django's `alters_data`)."""
        return not (getattr(obj, "unsafe_callable", False) or getattr(obj, "alters_data", False))

    def reader(self, attr: str, allowed: set[type]) -> Callable[[Any], Any]:
        """`obj.attr` as `closures._getattr`'s closure reads it on Jinja's sandbox: the value
        at once for a type the sandbox allowed `attr` on (`allowed`, learnt here), else as
        SandboxedEnvironment.getattr reads it, where its answer needs no Jinja."""
        dict_key = not hasattr(dict, attr)
        private = attr.startswith("_")  # (the generator leaves those to Jinja's sandbox)
        fallback: Callable[[Any], Any] | None = None

        def read(obj: Any) -> Any:
            nonlocal fallback
            kind = type(obj)
            if kind is dict and dict_key:
                item = obj.get(attr, _MISSING)
                if item is not _MISSING:
                    return item
            elif kind in allowed:
                value: Any = getattr(obj, attr, _MISSING)
                if value is not _MISSING and (
                    type(value) not in _METHOD_TYPES or value.__name__ not in _FORMATTERS
                ):
                    return value
            value = getattr(obj, attr, _MISSING)
            if value is _MISSING:  # the item of that name, as the sandbox reads it next
                try:
                    return obj[attr]
                except (TypeError, LookupError):
                    pass
            elif (
                (type(value) not in _METHOD_TYPES or value.__name__ not in _FORMATTERS)
                and not private
                and not isinstance(obj, _JUDGED)
                and not _is_undefined(value)
            ):
                if not (kind is dict and dict_key):
                    allowed.add(kind)
                return value
            # Undefined, refused, `str.format`, or an object Jinja judges: its sandbox reads it.
            if fallback is None:
                from schema_review.rules.closures import _getattr

                fallback = _getattr(lambda obj: obj, attr, jinja_sandbox(), allowed)
            return fallback(obj)

        return read

    def caller(self) -> Callable[..., Any]:
        """A method call as `closures._caller` makes it on Jinja's sandbox (`env.call`): the
        calls `plain_caller` makes at once, any other by Jinja's sandbox."""
        fallback: Callable[..., Any] | None = None

        def by_jinja(names: Names, function: Any, *arguments: Any) -> Any:
            nonlocal fallback
            if fallback is None:
                from schema_review.rules.closures import _caller

                fallback = _caller(jinja_sandbox())
            return fallback(names, function, *arguments)

        return plain_caller(self.bounded, self.is_safe_callable, by_jinja)


@lru_cache(maxsize=1)
def environment() -> RuleSandbox:
    """The sandbox of a run's compiled rules (made once)."""
    return RuleSandbox()


class Parts:
    """What the shipped module of the built-in rules' expressions (`closures.shipped_module`)
    makes its functions of: the sandbox's readers and callers, and closures of the syntax
    trees of the parts outside the generator's subset, made from their data on first use
    (they run on Jinja's sandbox)."""

    def __init__(self, sandbox: RuleSandbox | None = None) -> None:
        self.sandbox = sandbox or environment()

    def reader(self, attr: str, allowed: set[type]) -> Callable[[Any], Any]:
        return self.sandbox.reader(attr, allowed)

    def caller(self) -> Callable[..., Any]:
        return self.sandbox.caller()

    def filter(self, name: str) -> Callable[..., Any]:
        """A filter of RULE_FILTERS, its result bounded (as BoundedSandbox.bounded_filter)."""
        function = RULE_FILTERS[name]
        bounded = self.sandbox.bounded

        def bounded_filter(*args: Any) -> Any:
            return bounded(function(*args))

        return bounded_filter

    def closure(self, tree: Any) -> Closure:
        """The closure of a syntax tree (prebuilt._node's data), compiled when first run."""
        compiled: Closure | None = None

        def run(names: Names) -> Any:
            nonlocal compiled
            if compiled is None:
                from schema_review.rules.closures import _compile
                from schema_review.rules.prebuilt import _node

                compiled = _compile(_node(tree), jinja_sandbox())
            return compiled(names)

        return run
