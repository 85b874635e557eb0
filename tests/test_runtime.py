"""runtime.RuleSandbox: the built-in rules' compiled code run without Jinja, with the verdicts
and errors of Jinja's sandbox (sandbox.BoundedSandbox)."""

from __future__ import annotations

import subprocess
import sys
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jinja2.nodes import Const, EvalContext
from jinja2.sandbox import unsafe

from schema_review.rules import closures
from schema_review.rules.bounds import LimitExceeded
from schema_review.rules.expressions import _LazyTemplate, environment, variables
from schema_review.rules.runtime import (
    Filters,
    Parts,
    RuleSandbox,
    call_test,
    item,
    jinja_errors,
    sandbox_item,
)

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Table:
    name: str = "users"
    columns: list[str] = field(default_factory=lambda: ["id", "email"])
    options: dict[str, Any] = field(default_factory=lambda: {"words": ["id"]})
    _secret: str = "hidden"

    def rename(self, name: str) -> str:
        return name

    @unsafe
    def drop(self) -> str:
        return "dropped"

    def alter(self) -> str:
        return "altered"

    alter.alters_data = True  # type: ignore[attr-defined]


def _generator() -> Any:
    yield 1


OBJECTS: list[Any] = [
    Table(),
    Table().rename,
    Table.rename,
    Table,
    {"a": 1},
    OrderedDict(a=1),
    [1, 2],
    {1, 2},
    frozenset({1}),
    (1, 2),
    deque([1]),
    "text",
    3,
    _generator(),
    len,
]
ATTRIBUTES = [
    "name",
    "columns",
    "_secret",
    "__class__",
    "__dict__",
    "mro",
    "append",
    "pop",
    "clear",
    "update",
    "get",
    "items",
    "add",
    "upper",
    "format",
    "format_map",
    "gi_frame",
    "gi_code",
    "__func__",
    "__self__",
    "__globals__",
    "real",
]


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda obj: type(obj).__name__)
def test_attribute_verdicts_are_jinjas(obj: Any) -> None:
    ours, jinja = RuleSandbox(), environment()
    for attr in ATTRIBUTES:
        value = getattr(obj, attr, None)
        assert ours.is_safe_attribute(obj, attr, value) == jinja.is_safe_attribute(
            obj, attr, value
        ), attr


def test_call_verdicts_are_jinjas() -> None:
    ours, jinja = RuleSandbox(), environment()
    table = Table()
    callables = [table.rename, table.drop, table.alter, len, "x".upper, Table, print]
    verdicts = [ours.is_safe_callable(function) for function in callables]
    assert verdicts == [jinja.is_safe_callable(function) for function in callables]
    assert verdicts == [True, False, False, True, True, True, True]


def _outcome(function: Any, *args: Any) -> tuple[str, Any]:
    try:
        value = function(*args)
    except (Exception, LimitExceeded) as error:
        return "error", f"{type(error).__name__}: {error}"
    if callable(value) and getattr(value, "__name__", "") in ("format", "format_map"):
        return "value", value("{}", "x") if value.__name__ == "format" else value({})
    return "value", value


@pytest.mark.parametrize("attr", ATTRIBUTES)
def test_reads_are_jinjas(attr: str) -> None:
    """Each object's attribute as the closures read it on Jinja's sandbox: the same value, or
    the same error (undefined, refused) with the same message; twice, as the second read takes
    the shortcut the first one learnt."""
    if attr.startswith("_"):
        return  # the generator leaves those to Jinja's sandbox, which refuses them
    ours = RuleSandbox().reader(attr, set())
    jinja = closures._getattr(lambda obj: obj, attr, environment(), set())
    for obj in [*OBJECTS, {"name": "key"}, {attr: "item"}]:
        for _ in range(2):
            assert _outcome(ours, obj) == _outcome(jinja, obj), (attr, obj)


def test_calls_are_jinjas() -> None:
    ours = RuleSandbox().caller()
    jinja = closures._caller(environment())
    table = Table()
    calls: list[tuple[Any, ...]] = [
        (table.rename, "x"),
        (table.drop,),
        (table.alter,),
        ("abc".upper,),
        ("a,b".split, ","),
        ("x".center, 10**7),
        ("{}".format, 1),
        ([1].copy,),
        ({"a": 1}.get, "a"),
        ({"a": 1}.items,),
        ({"a": 1}.get, "b", 2),
        ([1, 2].index, 2),
        ([1, 2].index, 3),
        ([1, 1].count, 1),
    ]
    for call in calls:
        for _ in range(2):
            assert _outcome(ours, {}, *call) == _outcome(jinja, {}, *call), call


def test_closures_of_shipped_code_are_made_on_first_use() -> None:
    """A part of a condition outside the generator's subset is shipped as its syntax tree's
    data: made into a closure on Jinja's sandbox when first run, not when the rule loads."""
    parts = Parts()
    tree = {
        "n": "Filter",
        "l": 1,
        "f": [{"n": "Const", "l": 1, "f": [[1, 2]]}, "first", [], [], None, None],
    }
    closure = parts.closure(tree)
    assert closure({}) == 1
    assert closure({}) == 1


def test_jinjas_globals_are_there_where_jinja_runs() -> None:
    """The names of a run hold RuleSandbox's globals; a template Jinja runs (one of the team's,
    outside the closures' subset) still finds Jinja's own (`namespace`, `cycler`, `joiner`)."""
    names = variables(thing=Table())
    assert "namespace" not in names
    source = (
        "{% set ns = namespace(n=0) %}{% for c in thing.columns %}{% set ns.n = ns.n + 1 %}"
        "{% endfor %}{{ ns.n }} {% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}"
        " {% set j = joiner('+') %}{% for c in thing.columns %}{{ j() }}{{ c }}{% endfor %}"
    )
    assert _LazyTemplate(source, True).render(names) == "2 ab id+email"


_NO_JINJA = """\
import sys
from schema_review.rules import engine, runtime
assert "jinja2" not in sys.modules, "imported at import"
assert runtime.jinja_errors("UndefinedError", "TemplateError") == ()
import jinja2.exceptions
assert runtime.jinja_errors("UndefinedError", "TemplateError") == (
    jinja2.exceptions.UndefinedError, jinja2.exceptions.TemplateError)
"""


def test_the_engine_catches_jinjas_errors_once_jinja_is_imported() -> None:
    """The engine's `except` clauses name Jinja's errors only once Jinja is imported (before,
    nothing can raise one): importing the engine imports no Jinja."""
    done = subprocess.run(
        [sys.executable, "-c", _NO_JINJA],
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert jinja_errors("UndefinedError")  # imported in this process


KEYS: list[Any] = [0, 1, -1, 5, "a", "name", "get", "append", "_secret", "__class__", "format"]


@pytest.mark.parametrize("key", KEYS, ids=repr)
def test_items_are_jinjas(key: Any) -> None:
    """`obj[key]` as the generated code reads it (runtime.item, runtime.sandbox_item) and as
    the closures read it on Jinja's sandbox: the same value, or the same error."""
    jinja = environment()
    closure = closures._getitem(lambda names: names["obj"], Const(key), jinja)
    for obj in [*OBJECTS, {"name": "key"}, {key: "item"} if not isinstance(key, list) else {}]:
        assert _outcome(item, obj, key) == _outcome(closure, {"obj": obj}), (key, obj)
        ours, theirs = _outcome(sandbox_item, obj, key), _outcome(jinja.getitem, obj, key)
        if ours[0] == "value" and type(ours[1]).__name__.endswith("Undefined"):
            ours = ("value", str(ours[1]._undefined_message))
            theirs = ("value", str(theirs[1]._undefined_message))
        assert ours == theirs, (key, obj)


def test_tests_are_jinjas() -> None:
    jinja = environment()
    cases: list[tuple[Any, Any, list[Any]]] = [
        ("in", "a", [["a", "b"]]),
        ("in", "z", ["xyz"]),
        ("in", 1, [3]),
        ("equalto", 1, [1]),
        ("==", "a", ["b"]),
        ("eq", None, [None]),
        ("none", None, []),
        ("none", 0, []),
        ("in", 1, []),
        ("none", 1, [2]),
        ("defined", 1, []),
        ("odd", 3, []),
        ("no such test", 1, []),
    ]
    for test, value, arguments in cases:
        expected = _outcome(jinja.call_test, test, value, arguments)
        assert _outcome(call_test, test, value, arguments) == expected, test


def test_filters_are_jinjas() -> None:
    """runtime.Filters, the Jinja filters the built-in rules use, computed without Jinja:
    the value and the errors of the sandbox's filters (sandbox.BoundedSandbox.bounded_filter)."""
    jinja = environment()
    ours = Filters(RuleSandbox())
    context = jinja.context_class(jinja, dict(jinja.globals), "<rule>", {})
    eval_context = EvalContext(jinja, "<rule>")
    texts: list[Any] = ["", "users", " padded ", "Straße", 12, None, ["a"], "x" * 1_000_000]
    for text in texts:
        for name in ("upper", "trim"):
            assert _outcome(getattr(ours, name), text) == _outcome(jinja.filters[name], text)
        for old, new in (("s", "S"), ("", "-"), ("x", "xx"), (1, 2)):
            expected = _outcome(jinja.filters["replace"], eval_context, text, old, new)
            assert _outcome(ours.replace, text, old, new) == expected, (text, old, new)
        for length in (0, 3, 5, 9, 255, "9"):
            expected = _outcome(jinja.filters["truncate"], jinja, text, length)
            assert _outcome(ours.truncate, text, length) == expected, (text, length)
    long_text = "a b c d e f g h i j k l m n o p q r s t u v w x y z"
    for length in range(3, 60):
        expected = _outcome(jinja.filters["truncate"], jinja, long_text, length)
        assert _outcome(ours.truncate, long_text, length) == expected
    sequences: list[Any] = [[], ["a", "A", "b", 1, 1.0, None], ("x",), "text", [["list"]]]
    for sequence in sequences:
        first = _outcome(ours.first, sequence)
        expected = _outcome(jinja.filters["first"], jinja, sequence)
        if first[0] == expected[0] == "value" and type(first[1]).__name__.endswith("Undefined"):
            first, expected = (
                ("undefined", str(first[1]._undefined_hint)),
                (
                    "undefined",
                    str(expected[1]._undefined_hint),
                ),
            )
        assert first == expected, sequence
        assert _outcome(lambda s: list(ours.unique(s)), sequence) == _outcome(
            lambda s: list(jinja.filters["unique"](jinja, s)), sequence
        )
        for name in ("upper", "quote_ident"):
            mapped = getattr(ours, "map_" + name)
            assert _outcome(lambda s, f=mapped: list(f(s)), sequence) == (
                _outcome(lambda s, n=name: list(jinja.filters["map"](context, s, n)), sequence)
            ), (name, sequence)
    tables = [Table(), Table(name="orders"), {"name": "dict"}]
    for attribute in ("name", "columns.0", "options.words", "missing"):
        ours_mapped = _outcome(lambda a: [str(v) for v in ours.map_attribute(tables, a)], attribute)
        theirs = _outcome(
            lambda a: [str(v) for v in jinja.filters["map"](context, tables, attribute=a)],
            attribute,
        )
        assert ours_mapped == theirs, attribute


class _Counted:
    """A model object whose method counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def found(self, option: Any) -> list[str]:
        self.calls += 1
        return ["a", "b"]

    def items(self) -> Any:
        self.calls += 1
        return iter(["a"])


def test_a_model_method_is_called_once_an_evaluation_while_the_engine_evaluates() -> None:
    from schema_review.rules.bounds import CLOCK
    from schema_review.rules.runtime import environment, remembered_calls

    call = environment().caller()
    subject, options, other = _Counted(), {"x": 1}, {"x": 1}
    # Outside the engine's evaluation: every call is made.
    call({}, subject.found, options)
    call({}, subject.found, options)
    assert subject.calls == 2
    with remembered_calls():
        CLOCK.serial += 1
        first = call({}, subject.found, options)
        again = call({}, subject.found, options)
        assert subject.calls == 3 and first == again == ["a", "b"]
        assert first is not again  # (each its own list, as from two calls)
        call({}, subject.found, other)  # equal, not the same object: called
        assert subject.calls == 4
        assert list(call({}, subject.items)) == list(call({}, subject.items)) == ["a"]
        assert subject.calls == 6  # (an iterator is read once: never given again)
        CLOCK.serial += 1  # another evaluation
        call({}, subject.found, options)
        assert subject.calls == 7
    call({}, subject.found, options)
    assert subject.calls == 8
