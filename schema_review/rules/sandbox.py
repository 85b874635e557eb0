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

The limits need no Jinja (`bounds.py`, re-exported here): the built-in rules' compiled code
runs on `runtime.py`'s RuleSandbox, which asks this one only what it does not answer alike.

Going over a limit raises `LimitExceeded`, a BaseException: no `except Exception` on the way
(Jinja's, the model's) can swallow it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import update_wrapper
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import make_attrgetter
from jinja2.sandbox import ImmutableSandboxedEnvironment

from schema_review.rules.bounds import (
    CLOCK,
    EVALUATION_SECONDS,
    INT_BITS_LIMIT,
    MEMORY_HEADROOM,
    RANGE_LIMIT,
    RENDER_SECONDS,
    RULE_OUTPUT_LIMIT,
    RULE_VALUE_LIMIT,
    TEMPLATE_OUTPUT_LIMIT,
    Bounds,
    LimitExceeded,
    _joinable,
    _replaced_length,
    _strings,
    check_output,
    limited,
    output_too_long,
)

# The limits are bounds.py's; importers of this module find them here too.
__all__ = [
    "CLOCK",
    "EVALUATION_SECONDS",
    "INT_BITS_LIMIT",
    "MEMORY_HEADROOM",
    "RANGE_LIMIT",
    "RENDER_SECONDS",
    "RULE_OUTPUT_LIMIT",
    "RULE_VALUE_LIMIT",
    "TEMPLATE_OUTPUT_LIMIT",
    "BoundedSandbox",
    "LimitExceeded",
    "RuleEnvironment",
    "check_output",
    "limited",
    "output_too_long",
]


class BoundedSandbox(Bounds, ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with size limits on what expressions build.

    `value_limit` bounds the length of any string, list or mapping an operator, method
    or filter returns. The sandbox's per-attribute verdicts are cached: they depend only
    on the object's type and the attribute's name, and rules read the same few attributes
    of the same few types thousands of times.
    """

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


class RuleEnvironment(BoundedSandbox):
    """The sandbox rules run in on Jinja: strict undefined, no autoescape, the size limits of
    rules (expressions.environment() makes the one of a run)."""

    def __init__(self) -> None:
        super().__init__(RULE_VALUE_LIMIT, undefined=StrictUndefined, autoescape=False)
