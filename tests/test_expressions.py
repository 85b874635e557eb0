"""The rule expression language: closures agree with Jinja, and the sandbox holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from schema_review.rules.closures import compile_closure
from schema_review.rules.expressions import (
    _condition_expression,
    _run,
    _template,
    environment,
    variables,
)


@dataclass
class Thing:
    name: str = "users"
    count: int = 3
    tags: list[str] = field(default_factory=lambda: ["a", "b"])
    parent: Thing | None = None
    info: dict[str, Any] = field(default_factory=lambda: {"kind": "table"})

    @property
    def doubled(self) -> int:
        return self.count * 2


EXPRESSIONS = [
    "thing.name == 'users'",
    "thing.count > 2 and thing.count <= 3",
    "not thing.parent",
    "thing.parent is none",
    "thing.parent is not none",
    "'a' in thing.tags and 'z' not in thing.tags",
    "thing.info.kind == 'table'",
    "thing.info['kind']",
    "thing.doubled if thing.count else 0",
    "thing.name ~ '_' ~ thing.count",
    "[thing.count, 1 + 2]",
    "1 < thing.count < 5",
    "thing.count - 1 == 2 or false",
]


@pytest.mark.parametrize("source", EXPRESSIONS)
def test_closure_agrees_with_jinja(source: str) -> None:
    env = environment()
    closure = compile_closure(_condition_expression(source), env)
    assert closure is not None, f"{source} should take the fast path"
    names = variables(thing=Thing())
    assert closure(names) == _run(_template("condition", source), names)


def test_calls_and_filters_fall_back_to_jinja() -> None:
    env = environment()
    for source in ("thing.tags|length > 1", "any(thing.tags)", "thing.name.upper()"):
        assert compile_closure(_condition_expression(source), env) is None


@pytest.mark.parametrize("source", ["thing.__class__", "thing.tags.append", "thing._secret"])
def test_sandbox_refuses_unsafe_attributes(source: str) -> None:
    env = environment()
    names = variables(thing=Thing())
    closure = compile_closure(_condition_expression(source), env)
    with pytest.raises((SecurityError, UndefinedError)):
        if closure is not None:
            closure(names)
        else:
            result = _run(_template("condition", source), names)
            str(result)  # an undefined result only fails when used


def test_unknown_names_and_attributes_are_errors() -> None:
    env = environment()
    names = variables(thing=Thing())
    for source in ("thing.nmae == 'x'", "thnig.name"):
        closure = compile_closure(_condition_expression(source), env)
        assert closure is not None
        with pytest.raises(UndefinedError):
            closure(names)
