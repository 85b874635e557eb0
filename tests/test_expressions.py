"""The rule expression language: closures agree with Jinja, and the sandbox holds."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jinja2 import Undefined
from jinja2.exceptions import SecurityError, UndefinedError

from schema_review.rules.closures import (
    compile_closure,
    compile_python,
    compile_python_renderer,
    compile_renderer,
)
from schema_review.rules.expressions import (
    _condition_expression,
    _run,
    condition_template,
    environment,
    variables,
)
from schema_review.rules.prebuild import shipped_functions


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
    "thing.tags|length > 1",
    "thing.name.upper()",
    "thing.info.get('missing', 'fallback')",
    "{'a': 1, 'b': thing.count}[thing.tags[0]]",
    "(thing.name ~ '_long_suffix')[:7]",
    "thing.tags | intersects(['b', 'c']) and not thing.tags[-1:] | intersects(['a'])",
    "thing.tags|join('_')",
    "thing.tags[-1]",
    "thing.tags|list",
    "thing.tags|reject('in', ['a'])|list",
    "thing.tags|select('equalto', 'b')|list|length",
    "[thing]|selectattr('name', 'equalto', 'users')|list|length",
    "[thing]|rejectattr('parent', 'none')|list",
    # str.format as the sandbox wraps it (its formatter reads fields through the sandbox).
    "'{0.name}-{0.count}'.format(thing)",
    "{'f': '{0.name}'.format}.f(thing)",
    "'{x.name}'.format_map({'x': thing})",
    "thing.info['kind'] ~ thing['name']",
    "thing.count * 2 + 1",
    # Jinja's filters and tests as the built-in rules use them, compiled without Jinja
    # (runtime.Filters, runtime.item, runtime.defined).
    "thing.name|upper ~ (' ' ~ thing.name ~ ' ')|trim ~ thing.name|replace('s', 'S')",
    "thing.tags|first ~ ('a b c d e f g h i j k l m n o p q r s t u v w x y z'|truncate(9))",
    "thing.tags|map('upper')|join('/') ~ thing.tags|map('quote_ident')|join",
    "[thing, thing]|map(attribute='name')|unique|list",
    "['A', 'a', 'b', thing.name, 'USERS']|unique|join(',')",
    "thing.info['missing'] is defined or thing.info[thing.name] is defined or nothing is defined",
    "thing.info['kind'] is defined and thing.tags[0] is defined and thing.tags[5] is not defined",
    "thing.nothing is defined or thing.info.nothing is defined or thing.info.kind is defined",
    "thing.tags|select|list ~ [thing, thing]|selectattr('parent')|list|length",
    "[thing]|rejectattr('tags')|list|length ~ thing.tags|reject|list|length",
    "[thing]|selectattr('info.kind', 'equalto', 'table')|list|length",
    "{'a': thing.count, thing.name: 2}[thing.name] + {'x': 1}.get(thing.name, 5)",
    "thing.tags + ['c'] and thing.count - 1",
]


@pytest.mark.parametrize("source", EXPRESSIONS)
def test_closure_agrees_with_jinja(source: str) -> None:
    env = environment()
    closure = compile_closure(_condition_expression(source), env)
    assert closure is not None, f"{source} should take the fast path"
    names = variables(thing=Thing())
    assert closure(names) == _run(condition_template(source), names)


@pytest.mark.parametrize("source", EXPRESSIONS)
def test_python_agrees_with_jinja(source: str) -> None:
    """A condition compiled to one Python function (for rules with many subjects)."""
    env = environment()
    python = compile_python(_condition_expression(source), env)
    assert python is not None, f"{source} should take the fast path"
    template = condition_template(source)
    for thing in (Thing(), Thing(count=0, tags=[], parent=Thing())):
        names = variables(thing=thing)
        for _ in range(2):  # the second time takes the shortcuts the first one learnt
            assert _outcome(python, names) == _outcome(lambda n: _run(template, n), names)


def _outcome(function: Any, names: dict[str, Any]) -> tuple[str, Any]:
    """A value, or the error; Jinja's strict undefined fails when used, the closures and the
    Python functions when read: for a condition or a message the same."""
    try:
        value = function(names)
    except Exception as error:
        return "error", type(error).__name__
    if isinstance(value, Undefined):
        return "error", "UndefinedError"
    return "value", value


def test_calls_of_globals_fall_back_to_jinja() -> None:
    env = environment()
    assert compile_closure(_condition_expression("any(thing.tags)"), env) is None
    # A filter that takes a context gets one over the names, as Jinja's compiled code does.
    assert compile_closure(_condition_expression("thing.tags|map('upper')|list"), env)


TEMPLATES = [
    "plain text",
    "{{ thing.name }} has {{ thing.count }} rows{{ ' (tagged)' if thing.tags }}",
    "{{ 'x' if thing.parent }}|{% if thing.count > 5 %}big{% elif thing.count %}small"
    "{% else %}none{% endif %}",
    "{% set hints = {'users': 'a hint'} %}{{ hints.get(thing.name, 'none') }} and"
    " {{ hints.get('other', 'default') }}",
    "{{ thing.tags | join(', ') }} {{ thing.name | quote_ident }} {{ 'Mixed' | quote_ident }}",
    "{{ thing.parent }}",
    # Filters that take the environment, an evaluation context or a context, and keywords.
    "{{ [thing, thing] | map(attribute='name') | join(', ') }} {{ thing.tags | map('upper')"
    " | join }} {{ thing.name | replace('u', 'U') }} {{ 'a long text' | truncate(9) }}"
    " {{ thing.tags | first }} {{ ['', thing.name] | select | list | length }}"
    " {{ [thing, thing] | selectattr('tags') | list | length }}"
    " {{ thing.tags | join(',', attribute='upper') if false else 'x' }}",
    "{% for t in thing.tags %}{{ t }}{% if t == 'a' %}!{% endif %}, {% endfor %}"
    "{% for t in [] %}never{% endfor %}{{ t is defined }}",
    "{% set n = thing.name %}{% for t in thing.tags %}{% for u in thing.tags %}{{ n }}{{ t }}"
    "{{ u }} {% endfor %}{% endfor %}",
    # A loop with a filter, as the built-in rules' fixes loop over a statement's constraints.
    "{% for t in thing.tags if t != 'a' %}{{ t | quote_ident }};{% endfor %}{{ t is defined }}"
    "{% for t in thing.tags if t in ('a', 'z') and thing.count %}{{ t }}{% endfor %}",
    "{{ (thing.name ~ '_' ~ thing.count ~ '_check')[:9] | quote_ident }}",
]


@pytest.mark.parametrize("source", TEMPLATES)
def test_renderer_agrees_with_jinja(source: str) -> None:
    env = environment()
    renderer = compile_renderer(env.parse(source), env)
    assert renderer is not None, f"{source} should take the fast path"
    names = variables(thing=Thing())
    assert renderer(names) == env.from_string(source).render(names)
    assert "hints" not in names  # `set` stays inside the template


# Templates only the Python code renders (the closures leave them to Jinja): loops that read
# `loop`, unpacking `set`.
PYTHON_TEMPLATES = [
    "{% for t in thing.tags %}{{ loop.index }}/{{ loop.length }}{{ ', ' if not loop.last }}"
    "{{ (' and ' if loop.revindex == 2 else ', ') if not loop.last }}{% endfor %}",
    "{% for t in thing.tags %}{% for u in thing.tags %}{{ loop.index0 }}{{ loop.first }}"
    "{% endfor %}{{ loop.revindex0 }}{% endfor %}{{ loop is defined }}",
    "{% set a, b = thing.name.split('e') %}{{ b }}{{ a }}",
]


@pytest.mark.parametrize("source", TEMPLATES + PYTHON_TEMPLATES)
def test_python_renderer_agrees_with_jinja(source: str) -> None:
    """A template compiled to one Python function, at run time or when the package is built
    (as prebuilt_python.py holds the built-in rules')."""
    env = environment()
    renderer = compile_python_renderer(env.parse(source), env)
    shipped = shipped_functions([], [source])[1].get(source)
    assert renderer is not None and shipped is not None, f"{source} should take the fast path"
    template = env.from_string(source)
    for thing in (Thing(), Thing(count=0, tags=[], parent=Thing())):
        names = variables(thing=thing)
        expected = _outcome(template.render, names)
        for _ in range(2):  # the second time takes the shortcuts the first one learnt
            assert _outcome(renderer, names) == _outcome(shipped, names) == expected
        assert "hints" not in names  # `set` stays inside the template


@pytest.mark.parametrize("source", EXPRESSIONS)
def test_shipped_conditions_agree_with_jinja(source: str) -> None:
    shipped = shipped_functions([source], [])[0].get(source)
    assert shipped is not None, f"{source} should take the fast path"
    template = condition_template(source)
    for thing in (Thing(), Thing(count=0, tags=[], parent=Thing())):
        names = variables(thing=thing)
        for _ in range(2):
            assert _outcome(shipped, names) == _outcome(lambda n: _run(template, n), names)


@pytest.mark.parametrize(
    "source",
    [
        "{% for t in thing.tags %}{{ loop.cycle('a', 'b') }}{% endfor %}",
        "{% for t in thing.tags if t %}{{ loop.index }}{% endfor %}",
        "{% for t in thing.tags %}{% set x = t %}{% endfor %}",
        "{% for t in thing.tags %}{{ t }}{% else %}none{% endfor %}",
        "{% for a, b in thing.info.items() %}{{ a }}{% endfor %}",
    ],
)
def test_renderer_leaves_loops_it_does_not_scope_as_jinja_to_jinja(source: str) -> None:
    env = environment()
    assert compile_renderer(env.parse(source), env) is None
    # Shipped as the code Jinja compiles for it (prebuilt_python.py), it renders as Jinja does.
    functions = shipped_functions([], [source])
    assert source not in functions[1]
    names = variables(thing=Thing())
    assert _outcome(functions[2][source].render, names) == _outcome(
        env.from_string(source).render, names
    )


@pytest.mark.parametrize(
    "source",
    [
        "thing.__class__",
        "thing.tags.append",
        "thing.tags.append('x')",
        "thing._secret",
    ],
)
@pytest.mark.parametrize("compiler", [compile_closure, compile_python])
def test_sandbox_refuses_unsafe_attributes(source: str, compiler: Any) -> None:
    env = environment()
    names = variables(thing=Thing())
    closure = compiler(_condition_expression(source), env)
    for _ in range(2):  # the second time after the shortcuts learnt what the first read
        with pytest.raises((SecurityError, UndefinedError)):
            if closure is not None:
                closure(names)
            else:
                result = _run(condition_template(source), names)
                str(result)  # an undefined result only fails when used


def test_selectattr_reads_attributes_through_the_sandbox() -> None:
    # An unsafe attribute reads as Jinja's unsafe undefined, in the closure as in Jinja:
    # never its value.
    env = environment()
    names = variables(thing=Thing())
    source = "[thing]|selectattr('__class__', 'defined')|list|length"
    closure = compile_closure(_condition_expression(source), env)
    assert closure is not None
    assert closure(names) == _run(condition_template(source), names) == 0


def test_unknown_names_and_attributes_are_errors() -> None:
    env = environment()
    names = variables(thing=Thing())
    for source in ("thing.nmae == 'x'", "thnig.name"):
        closure = compile_closure(_condition_expression(source), env)
        assert closure is not None
        with pytest.raises(UndefinedError):
            closure(names)


def test_rule_files_parse_once_and_the_cache_holds_no_code(tmp_path: Path) -> None:
    """A second process parses no expression of an unchanged rule file (the rule cache says
    they parse), and the cache holds data only: no compiled code of any kind. The built-in
    rules are parsed in neither: prebuilt.json holds their trees (tests/test_prebuilt_rules)."""
    import marshal
    import subprocess
    import sys
    from types import CodeType

    script = (
        "from jinja2 import parser\n"
        "calls = []\n"
        "original = parser.Parser.__init__\n"
        "def counting(self, *args, **kwargs):\n"
        "    calls.append(1)\n"
        "    original(self, *args, **kwargs)\n"
        "parser.Parser.__init__ = counting\n"
        "from schema_review.rules import load_rules\n"
        f"rules = load_rules([{str(tmp_path / 'team.yaml')!r}])\n"
        "print(len(calls))\n"
    )
    env = {**os.environ, "SCHEMA_REVIEW_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("SCHEMA_REVIEW_NO_CACHE", None)

    (tmp_path / "team.yaml").write_text(
        "- id: team-no-uuid-v1\n"
        "  title: uuid_generate_v1() leaks the MAC address\n"
        "  severity: medium\n"
        "  category: security\n"
        "  target: column\n"
        "  when: column.default is not none and 'uuid_generate_v1' in column.default.sql\n"
        "  message: '{{ column.qualified_name }} defaults to uuid_generate_v1()'\n"
        "  why: Version 1 UUIDs embed the MAC address.\n"
        "  examples:\n"
        "    bad: CREATE TABLE t (id uuid DEFAULT uuid_generate_v1());\n"
        "    good: CREATE TABLE t (id uuid DEFAULT gen_random_uuid());\n",
        encoding="utf-8",
    )

    def parsed() -> int:
        run = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        return int(run.stdout.strip())

    # The team rule's condition and message (parsed, then checked against the model), and
    # none of the built-in rules' hundreds.
    assert 0 < parsed() < 10
    assert parsed() == 0
    entries = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert len(entries) == 1  # the team's file: the built-in rules come from prebuilt.json
    for entry in entries:
        payload = entry.read_bytes()[40:]  # magic and checksum, then marshalled data

        def walk(value: object) -> None:
            assert not isinstance(value, CodeType)
            if isinstance(value, dict):
                for item in (*value.keys(), *value.values()):
                    walk(item)
            elif isinstance(value, list | tuple):
                for item in value:
                    walk(item)

        walk(marshal.loads(payload))
