"""The expression language of rules: Jinja expressions in a sandboxed environment.

Conditions are Jinja expressions; messages, fixes and object names are Jinja templates.
The environment is sandboxed and immutable (no attribute starting with `_`, no
mutation of lists or dicts), and undefined names are errors, so a typo in a rule fails
loudly instead of silently evaluating to false.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from types import CodeType
from typing import Any

import jinja2
from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from schema_review.parse import quote_ident
from schema_review.resources import cache_dir, load_cached, store_cached
from schema_review.rules.closures import Closure, Renderer, compile_closure, compile_renderer

# The name a rule's condition uses for the thing it is evaluated on.
SUBJECT_NAMES = {
    "statement": "stmt",
    "history": "obj",
    "foreign_key": "fk",
}


def subject_name(target: str) -> str:
    return SUBJECT_NAMES.get(target, target)


class RuleEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, with its per-attribute safety verdicts cached.

    Whether an attribute is safe depends only on the object's type and the attribute's
    name, and rules read the same few attributes of the same few types thousands of times.
    """

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False)
        self._verdicts: dict[tuple[type, str], bool] = {}

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        key = (type(obj), attr)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = super().is_safe_attribute(obj, attr, value)
            self._verdicts[key] = verdict
        return verdict


def intersects(values: Any, others: Any) -> bool:
    """Whether two collections share an item: `column.words | intersects(['price', 'cost'])`."""
    return not set(values).isdisjoint(others)


@lru_cache(maxsize=1)
def environment() -> RuleEnvironment:
    env = RuleEnvironment()
    env.filters["quote_ident"] = quote_ident
    env.filters["intersects"] = intersects
    env.globals.update(any=any, all=all, sorted=sorted)
    return env


def variables(**names: Any) -> dict[str, Any]:
    """The names a rule's expressions see: the environment's globals plus `names`."""
    return {**environment().globals, **names}


def _run(template: Template, names: dict[str, Any]) -> Any:
    # A shared context uses `names` as it is: no copy of the globals per evaluation,
    # which is most of Jinja's per-call cost (see `variables`).
    env = template.environment
    context = env.context_class(env, names, template.name, template.blocks)
    output = "".join(template.root_render_func(context))
    return context.vars.get("result", output)


# Compiled code of the expressions seen in this process, by (kind, source). A rule file's
# codes are kept between runs as one bundle (`code_bundle`): reading one cache file per
# expression was most of the time it takes to load the rules.
_codes: dict[tuple[str, str], CodeType] = {}
# The bundles being filled: what each rule file's expressions use.
_recording: list[dict[tuple[str, str], CodeType]] = []


def _load_code(kind: str, source: str) -> CodeType | None:
    code = _codes.get((kind, source))
    if code is not None:
        for bundle in _recording:
            bundle[(kind, source)] = code
    return code


def _store_code(kind: str, source: str, code: CodeType) -> None:
    _codes[(kind, source)] = code
    for bundle in _recording:
        bundle[(kind, source)] = code
    _compiled.append((kind, source))


_compiled: list[tuple[str, str]] = []  # compiled in this process (not found in a bundle)


@contextmanager
def code_bundle(text: bytes) -> Iterator[None]:
    """Compile the expressions of one rule file (`text`) with the codes an earlier run kept
    for the same text, and keep them for the next run when some had to be compiled."""
    path = _bundle_path(text)
    cached = load_cached(path)
    if isinstance(cached, dict):
        _codes.update(
            (key, code)
            for key, code in cached.items()
            if isinstance(key, tuple) and isinstance(code, CodeType)
        )
    recorded: dict[tuple[str, str], CodeType] = {}
    compiled_before = len(_compiled)
    _recording.append(recorded)
    try:
        yield
    finally:
        _recording.pop()
    if len(_compiled) > compiled_before or not isinstance(cached, dict):
        store_cached(path, recorded)


def _bundle_path(text: bytes) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    # Compiled code depends on the Python (marshal format, bytecode) and on Jinja.
    version = f"{sys.version_info[:2]}|{jinja2.__version__}|bundle 1|".encode()
    return folder / "jinja" / (hashlib.sha256(version + text).hexdigest()[:32] + ".codes")


def _condition_code(source: str) -> CodeType:
    """Compile a condition, reusing the code of an earlier run.

    Compiling Jinja source costs about a millisecond and a half per expression, which a
    pre-commit run on one file would otherwise pay for every rule on every run.
    """
    code = _load_code("condition", source)
    if code is None:
        compiled = environment().compile(_condition_tree(source), filename="<rule condition>")
        assert isinstance(compiled, CodeType)
        code = compiled
        _store_code("condition", source, code)
    return code


def condition_template(source: str) -> Template:
    """A condition as a Jinja Template (the slow path, and the reference the closures are
    tested against)."""
    env = environment()
    return env.template_class.from_code(env, _condition_code(source), env.make_globals(None))


def _condition_expression(source: str) -> nodes.Expr:
    parser = Parser(environment(), source, state="variable")
    expression = parser.parse_expression()
    if not parser.stream.eos:
        raise TemplateSyntaxError("chunk after expression", parser.stream.current.lineno)
    return expression


def _condition_tree(source: str) -> nodes.Template:
    """A template that stores the expression's value in `result` (as Jinja's own
    compile_expression does), so it can run in a shared context."""
    body = [nodes.Assign(nodes.Name("result", "store"), _condition_expression(source), lineno=1)]
    return nodes.Template(body, lineno=1)


class _LazyTemplate:
    """A message or fix template: compiled (or found compiled) when the rule loads, made
    into a Template on first use (most templates of a run never render)."""

    __slots__ = ("_code", "_renderer", "_template", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self._template: Template | None = None
        self._renderer: Renderer | None = None
        code = _load_code("template", source)
        if code is None:
            env = environment()
            compiled = env.compile(env.parse(source), filename="<rule template>")
            assert isinstance(compiled, CodeType)
            code = compiled
            _store_code("template", source, code)
        self._code = code

    def render(self, names: dict[str, Any]) -> str:
        if self._template is None:
            env = environment()
            self._template = env.template_class.from_code(env, self._code, env.make_globals(None))
            # The same template as plain closures when it can be: several times faster.
            self._renderer = compile_renderer(env.parse(self.source), env)
        if self._renderer is not None:
            return self._renderer(names).strip()
        return str(_run(self._template, names)).strip()


class CompiledRule:
    """A rule's compiled expressions. The condition's code is found (or compiled) when the
    rule loads, which checks it; the Template and the closure are made on first use: a run
    on one file evaluates a fraction of the rules, and each costs about a millisecond."""

    __slots__ = ("_closure", "_condition", "_condition_code", "_ready", "fix", "message", "object")

    def __init__(
        self,
        condition: tuple[str, CodeType] | None,
        message: _LazyTemplate,
        fix: _LazyTemplate | None,
        object_template: _LazyTemplate | None,
    ) -> None:
        self._condition_code = condition
        self._condition: Template | None = None
        self._closure: Closure | None = None
        self._ready = condition is None
        self.message = message
        self.fix = fix
        self.object = object_template

    def _prepare(self) -> None:
        assert self._condition_code is not None
        source, code = self._condition_code
        env = environment()
        self._condition = env.template_class.from_code(env, code, env.make_globals(None))
        self._closure = compile_closure(_condition_expression(source), env)
        self._ready = True

    def matches(self, names: dict[str, Any]) -> bool:
        if not self._ready:
            self._prepare()
        if self._closure is not None:
            return bool(self._closure(names))
        if self._condition is None:
            return True
        return bool(_run(self._condition, names))


def compile_rule(
    target: str,
    condition: str | None,
    message: str,
    fix: str | None,
    object_template: str | None,
) -> CompiledRule:
    """Compile a rule's expressions; raises ValueError saying which one is malformed."""
    compiled_condition = None
    if condition is not None:
        try:
            compiled_condition = (condition, _condition_code(condition))
        except TemplateSyntaxError as error:
            raise ValueError(f"'when' is not a valid expression: {error.message}") from None
    templates: dict[str, _LazyTemplate | None] = {}
    for name, source in (("message", message), ("fix", fix), ("object", object_template)):
        if source is None:
            templates[name] = None
            continue
        try:
            templates[name] = _LazyTemplate(source)
        except TemplateSyntaxError as error:
            raise ValueError(
                f"'{name}' is not a valid template (line {error.lineno}): {error.message}"
            ) from None
    message_template = templates["message"]
    assert message_template is not None
    return CompiledRule(compiled_condition, message_template, templates["fix"], templates["object"])
