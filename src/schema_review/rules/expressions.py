"""The expression language of rules: Jinja expressions in a sandboxed environment.

Conditions are Jinja expressions; messages, fixes and object names are Jinja templates.
The environment is sandboxed and immutable (no attribute starting with `_`, no
mutation of lists or dicts), and undefined names are errors, so a typo in a rule fails
loudly instead of silently evaluating to false.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

# The name a rule's condition uses for the thing it is evaluated on.
SUBJECT_NAMES = {
    "statement": "stmt",
    "history": "obj",
    "foreign_key": "fk",
}

_PLAIN_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_$]*$")


def subject_name(target: str) -> str:
    return SUBJECT_NAMES.get(target, target)


def quote_ident(name: object) -> str:
    """Quote an identifier for SQL when it needs it (mixed case, spaces, keywords aside)."""
    text = str(name)
    if _PLAIN_IDENTIFIER.match(text):
        return text
    return '"' + text.replace('"', '""') + '"'


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
    )
    env.filters["quote_ident"] = quote_ident
    env.globals.update(any=any, all=all, sorted=sorted)
    return env


class _LazyTemplate:
    """A template checked at load time and compiled into code on first use."""

    __slots__ = ("_render", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self._render: Callable[..., str] | None = None

    def render(self, variables: dict[str, Any]) -> str:
        if self._render is None:
            self._render = environment().from_string(self.source).render
        return self._render(**variables).strip()


@dataclass(frozen=True, slots=True)
class CompiledRule:
    condition: Callable[..., Any] | None
    message: _LazyTemplate
    fix: _LazyTemplate | None
    object: _LazyTemplate | None

    def matches(self, variables: dict[str, Any]) -> bool:
        if self.condition is None:
            return True
        return bool(self.condition(**variables))


def compile_rule(
    target: str,
    condition: str | None,
    message: str,
    fix: str | None,
    object_template: str | None,
) -> CompiledRule:
    """Compile a rule's expressions; raises ValueError saying which one is malformed."""
    env = environment()
    compiled_condition = None
    if condition is not None:
        try:
            compiled_condition = env.compile_expression(condition, undefined_to_none=False)
        except TemplateSyntaxError as error:
            raise ValueError(f"'when' is not a valid expression: {error.message}") from None
    templates: dict[str, _LazyTemplate | None] = {}
    for name, source in (("message", message), ("fix", fix), ("object", object_template)):
        if source is None:
            templates[name] = None
            continue
        try:
            env.parse(source)
        except TemplateSyntaxError as error:
            raise ValueError(
                f"'{name}' is not a valid template (line {error.lineno}): {error.message}"
            ) from None
        templates[name] = _LazyTemplate(source)
    message_template = templates["message"]
    assert message_template is not None
    return CompiledRule(compiled_condition, message_template, templates["fix"], templates["object"])
