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
from collections.abc import Callable, Iterator, MutableMapping, MutableSequence, MutableSet
from contextlib import contextmanager
from functools import lru_cache
from operator import is_
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
from schema_review.rules.bounds import CLOCK, RULE_VALUE_LIMIT, Bounds, _replaced_length

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
# Of the plain mutable builtins, the methods Jinja's immutable sandbox refuses
# (sandbox.modifies_known_mutable): it allows any other attribute without a leading `_`.
_MUTATING: dict[type, frozenset[str]] = {
    dict: frozenset({"clear", "pop", "popitem", "setdefault", "update"}),
    list: frozenset({"append", "clear", "pop", "reverse", "insert", "sort", "extend", "remove"}),
}
# Their methods that read only, which the sandbox calls as they are (check_call leaves
# them alone, none is marked unsafe): `hints.get(kind, default)`.
_PLAIN_CONTAINER_METHODS = frozenset({"get", "keys", "values", "items", "index", "count"})


def _allowed_by_name(obj: Any, attr: str) -> bool:
    """Jinja's immutable sandbox's verdict on `obj.attr` (`attr` without a leading `_`) where
    it needs no Jinja: False means "ask Jinja", not "refused"."""
    mutating = _MUTATING.get(type(obj))
    if mutating is not None:
        return attr not in mutating
    return not isinstance(obj, _JUDGED)


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


# Calls remembered in one evaluation: a condition and its templates make a few; a template
# that calls a method in a loop is not searched through at each call.
_REMEMBERED = 4


class _ModelCalls:
    """The model's methods called during one evaluation (a rule on one subject: the clock's
    `serial`), and their results: a condition and its message often call the same one with
    the same arguments (`table.naming_violations(options)`), and the model does not change
    while rules run. Kept only while the engine evaluates (`remembered_calls`)."""

    __slots__ = ("calls", "open", "serial")

    def __init__(self) -> None:
        self.open = False
        self.serial = -1
        # (function, its object, the arguments, the result), for the evaluation `serial`
        self.calls: list[tuple[Any, Any, tuple[Any, ...], Any]] = []

    def result(self, method: MethodType, arguments: tuple[Any, ...], bounded: Any) -> Any:
        """`bounded(method(*arguments))`, or what it gave earlier in this evaluation (the
        same function of the same object, called with the same objects)."""
        calls = self.calls
        serial = CLOCK.serial
        if serial != self.serial:
            self.serial = serial
            if calls:
                calls.clear()
        elif calls:
            function, owner = method.__func__, method.__self__
            for called, of, given, value in calls:
                if (
                    called is function
                    and of is owner
                    and len(given) == len(arguments)
                    and all(map(is_, given, arguments))
                ):
                    return _copy(value)
        value = method(*arguments)
        kind = type(value)
        if value is not None and kind is not bool:  # (the common answers: bounded already)
            value = bounded(value)
        # (An iterator is read once, by the expression that asked for it: never given again.
        # The first result is given as it is: the sandbox lets no expression change it.)
        if len(calls) < _REMEMBERED and (kind in _NOT_ITERATORS or not hasattr(kind, "__next__")):
            calls.append((method.__func__, method.__self__, arguments, value))
        return value


# What the model's methods return most, none an iterator: known without `hasattr`, which
# for a type without the attribute makes an AttributeError and drops it (~3,000
# instructions, as much as the rest of a remembered call).
_NOT_ITERATORS = frozenset({type(None), bool, int, float, str, list, tuple, dict, set, frozenset})


def _copy(value: Any) -> Any:
    """A result given again, as a new container when it is a mutable one (each call of a
    model method makes its own list: what one expression does to it, the other never sees)."""
    kind = type(value)
    if kind is list or kind is dict or kind is set:
        return kind(value)
    return value


_MODEL_CALLS = _ModelCalls()


@contextmanager
def remembered_calls() -> Iterator[None]:
    """Within the body (the engine's evaluation of rules over a model that does not change),
    a model method called again in the same evaluation with the same arguments gives its
    first result (see _ModelCalls)."""
    memo = _MODEL_CALLS
    if memo.open:
        yield
        return
    memo.open = True
    try:
        yield
    finally:
        memo.open = False
        memo.serial = -1
        memo.calls.clear()  # (nothing of the model kept alive)


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
    memo = _MODEL_CALLS

    def call(names: Names, function: Any, *arguments: Any) -> Any:
        kind = type(function)
        if kind is BuiltinMethodType:
            owner = type(function.__self__)
            if (owner is str and function.__name__ in _PLAIN_STR_METHODS) or (
                owner in _MUTATING and function.__name__ in _PLAIN_CONTAINER_METHODS
            ):
                return bounded(function(*arguments))  # `column.name.lower()`: the common call
        elif kind is MethodType and not isinstance(function.__self__, _CHECKED_OWNERS):
            verdict = plain.get(function.__func__)
            if verdict is None:
                verdict = plain[function.__func__] = not hasattr(
                    function, "jinja_pass_arg"
                ) and is_safe_callable(function)
            if verdict:
                if memo.open:
                    return memo.result(function, arguments, bounded)
                value = function(*arguments)
                # (None and booleans, a method's common answers, are within the limits)
                return value if value is None or type(value) is bool else bounded(value)
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
    if _probing:  # `name is defined`: no error to make
        raise _Missing
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


def sandbox_item(obj: Any, key: Any) -> Any:
    """`obj[key]` as SandboxedEnvironment.getitem reads it (the item, else a safe attribute of
    that name, else an undefined value), answered here where the answer needs no Jinja."""
    try:
        return obj[key]
    except (TypeError, LookupError):
        pass
    if type(key) is str and not key.startswith("_") and _allowed_by_name(obj, key):
        value: Any = getattr(obj, key, _MISSING)
        if (
            value is not _MISSING
            and (type(value) not in _METHOD_TYPES or value.__name__ not in _FORMATTERS)
            and not _is_undefined(value)
        ):
            return value
    # Missing, refused, `str.format`, or an object Jinja judges: its sandbox answers.
    return jinja_sandbox().getitem(obj, key)


class _Missing(Exception):
    """A name or an item that is not there, read while `defined` asks: what Jinja's sandbox
    would answer with a plain undefined value, said without Jinja."""


# How many `defined` tests are running (they nest): while one is, a missing name or item
# raises _Missing, which it catches.
_probing = 0


def item(obj: Any, key: Any) -> Any:
    """`obj[key]` in an expression (`closures._getitem`): the sandbox's item, an error when
    it is undefined."""
    try:
        value = obj[key]
    except (TypeError, LookupError):
        # Neither an item nor an attribute: Jinja's sandbox answers a plain undefined value.
        if _probing and (not isinstance(key, str) or not hasattr(obj, str(key))):
            raise _Missing from None
        value = sandbox_item(obj, key)
    if _is_undefined(value):
        value._fail_with_undefined_error()
    return value


def defined(names: Names, inner: Closure) -> bool:
    """`inner is defined` (the closures' test): false when reading it fails as undefined."""
    global _probing
    _probing += 1
    try:
        value = inner(names)
    except _Missing:
        return False
    except jinja_errors("UndefinedError"):  # (evaluated only once something raised)
        return False
    finally:
        _probing -= 1
    return not _is_undefined(value)


def _attribute_parts(attribute: Any) -> list[Any]:
    """As Jinja's _prepare_attribute_parts: a dotted path, digits as integers."""
    if attribute is None:
        return []
    if isinstance(attribute, str):
        return [int(part) if part.isdigit() else part for part in attribute.split(".")]
    return [attribute]


def attribute_getter(attribute: Any) -> Callable[[Any], Any]:
    """Jinja's make_attrgetter on the rules' sandbox (no postprocess, no default): each part
    read as the sandbox's getitem reads it."""
    parts = _attribute_parts(attribute)

    def read(value: Any) -> Any:
        for part in parts:
            value = sandbox_item(value, part)
        return value

    return read


def _equal(value: Any, other: Any) -> Any:
    return value == other


# Jinja's tests that the built-in rules pass to select and its kin (name -> function of the
# value and the test's one argument; `none` takes none): others go to Jinja.
_TESTS_OF_ONE: dict[str, Callable[[Any, Any], Any]] = {
    "in": lambda value, seq: value in seq,
    "==": _equal,
    "eq": _equal,
    "equalto": _equal,
}


def call_test(test: Any, value: Any, arguments: list[Any]) -> Any:
    """Environment.call_test(test, value, arguments) of the rules' sandbox."""
    if type(test) is str:
        if test == "none" and not arguments:
            return value is None
        function = _TESTS_OF_ONE.get(test)
        if function is not None and len(arguments) == 1:
            return function(value, arguments[0])
    return jinja_sandbox().call_test(test, value, arguments)


def select_tested(
    names: Names,
    keep: bool,
    value: Closure,
    attribute: Closure | None,
    test: Closure,
    arguments: tuple[Closure, ...],
) -> Iterator[Any]:
    """`value | select(test, ...)` and its kin as `closures._select` computes them: every
    operand read when the first item is asked for, the items whose value (or attribute)
    passes the test (`keep`), or fails it."""
    test_name = test(names)
    given = [argument(names) for argument in arguments]
    read = attribute_getter(attribute(names)) if attribute is not None else None
    for entry in value(names):
        subject = read(entry) if read is not None else entry
        if bool(call_test(test_name, subject, given)) == keep:
            yield entry


def select_truthy(value: Any, keep: bool, *attribute: Any) -> Iterator[Any]:
    """`value | select`, `reject`, `selectattr(attr)`, `rejectattr(attr)` without a test, as
    Jinja's select_or_reject computes them: the items whose value (or attribute) is true
    (`keep`), or false."""
    if value:
        read = attribute_getter(attribute[0]) if attribute else None
        for entry in value:
            subject = read(entry) if read is not None else entry
            if bool(subject) == keep:
                yield entry


def map_attribute(value: Any, attribute: Any) -> Iterator[Any]:
    """`value | map(attribute=attribute)`, as Jinja's sync_do_map computes it."""
    if value:
        read = attribute_getter(attribute)
        for entry in value:
            yield read(entry)


def _mapped(value: Any, function: Callable[[Any], Any]) -> Iterator[Any]:
    if value:  # (as sync_do_map)
        for entry in value:
            yield function(entry)


def unique(value: Any) -> Iterator[Any]:
    """`value | unique`, as Jinja's sync_do_unique computes it (strings without case)."""
    seen = set()
    for entry in value:
        key = entry.lower() if isinstance(entry, str) else entry
        if key not in seen:
            seen.add(key)
            yield entry


def _soft_str(value: Any) -> str:
    """markupsafe.soft_str, as Jinja's filters convert their value."""
    return value if isinstance(value, str) else str(value)


class Filters:
    """Jinja's filters that the built-in rules use, as the rules' sandbox runs them
    (sandbox.BoundedSandbox.bounded_filter: its checks first, the result bounded), computed
    here without Jinja; an unusual case goes to Jinja's own filter."""

    def __init__(self, bounds: Bounds) -> None:
        self.bounded = bounds.bounded
        self._fits = bounds._fits

    def upper(self, value: Any) -> Any:
        return self.bounded(_soft_str(value).upper())

    def trim(self, value: Any) -> Any:
        return self.bounded(_soft_str(value).strip(None))

    def replace(self, value: Any, old: Any, new: Any) -> Any:
        # The sandbox's check (sandbox._check_replace), then do_replace without autoescape.
        text = value if isinstance(value, str) else str(value)
        self._fits(_replaced_length(text, str(old), str(new), -1))
        return self.bounded(str(value).replace(str(old), str(new), -1))

    def first(self, value: Any) -> Any:
        for entry in value:
            return self.bounded(entry)
        return self.bounded(jinja_sandbox().undefined("No first item, sequence was empty."))

    def truncate(self, value: Any, length: Any) -> Any:
        if type(value) is not str or type(length) is not int or length < 3:
            return jinja_sandbox().filters["truncate"](jinja_sandbox(), value, length)
        # do_truncate with its defaults: end "...", the policy's leeway of 5, whole words.
        if len(value) <= length + _TRUNCATE_LEEWAY:
            return self.bounded(value)
        return self.bounded(value[: length - 3].rsplit(" ", 1)[0] + "...")

    def map_upper(self, value: Any) -> Any:
        """`value | map('upper')`, as Jinja's sync_do_map computes it."""
        return _mapped(value, self.upper)

    def map_quote_ident(self, value: Any) -> Any:
        """`value | map('quote_ident')`, the rules' filter bounded as the sandbox's."""
        return _mapped(value, lambda entry: self.bounded(quote_ident(entry)))

    def unique(self, value: Any) -> Any:
        return unique(value)

    def map_attribute(self, value: Any, attribute: Any) -> Any:
        return map_attribute(value, attribute)


# Jinja's default policy `truncate.leeway` (the rules' sandbox keeps Jinja's policies).
_TRUNCATE_LEEWAY = 5
# What the generated code calls by name (`Parts.helper`, closures._Generator).
HELPERS: dict[str, Callable[..., Any]] = {
    "item": item,
    "defined": defined,
    "select_tested": select_tested,
    "select_truthy": select_truthy,
}


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
        if _allowed_by_name(obj, attr):
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
                    # Neither: the sandbox's answer is a plain undefined value.
                    if _probing:
                        raise _Missing from None
            elif (
                (type(value) not in _METHOD_TYPES or value.__name__ not in _FORMATTERS)
                and not private
                and _allowed_by_name(obj, attr)
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

    def helper(self, name: str) -> Callable[..., Any]:
        """A function of this module's that the generated code calls (HELPERS)."""
        return HELPERS[name]

    def jinja_filter(self, name: str) -> Callable[..., Any]:
        """A filter of Jinja's as `Filters` computes it on this sandbox."""
        filters: Callable[..., Any] = getattr(Filters(self.sandbox), name)
        return filters

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
