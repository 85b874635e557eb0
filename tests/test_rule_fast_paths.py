"""The shortcuts of rule evaluation (issue 17, cold runs): each gives what the slow way gives."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import unsafe

from schema_review.parse import postgres
from schema_review.rules import expressions
from schema_review.rules.closures import compile_closure, compile_python
from schema_review.rules.expressions import (
    _condition_expression,
    _run,
    condition_template,
    environment,
    variables,
)
from schema_review.rules.sandbox import LimitExceeded
from tests.helpers import LintSql, findings_of

OPTIONS = {"style": "enum", "names": ["email"], "items": "an item named like a dict method"}


@pytest.mark.parametrize(
    "source",
    [
        "options.style == 'enum'",
        "options.style in ('check', 'lookup') or 'email' in options.names",
        # A dict method wins over an item of the same name, as in the sandbox.
        "options.items() | list | length",
        "options.get('style')",
    ],
)
@pytest.mark.parametrize("compiler", [compile_closure, compile_python])
def test_reading_a_plain_dict_agrees_with_jinja(source: str, compiler: Any) -> None:
    closure = compiler(_condition_expression(source), environment())
    assert closure is not None
    names = variables(options=dict(OPTIONS))
    for _ in range(2):  # the second read takes the shortcut the first one learnt
        assert closure(names) == _run(condition_template(source), names)


@pytest.mark.parametrize("compiler", [compile_closure, compile_python])
def test_a_missing_dict_key_is_still_undefined(compiler: Any) -> None:
    closure = compiler(_condition_expression("options.nothing or options.style"), environment())
    assert closure is not None
    assert closure(variables(options={"nothing": "", "style": "enum"})) == "enum"
    for _ in range(2):  # after a read that found the key, as before it
        with pytest.raises(UndefinedError):
            closure(variables(options=dict(OPTIONS)))


LONG = "a" * 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"CREATE TABLE t ({LONG} int)", LONG),
        (f'CREATE TABLE "{LONG}x" (id int)', LONG + "x"),
        # 63 bytes is the limit, not over it.
        (f"CREATE TABLE t ({'b' * 63} int, c int, d int, e int, f int, g int)", ""),
        # A long run that starts after a separator other than a space.
        (f"CREATE INDEX i ON t({LONG}, x)", LONG),
        # Not ASCII: a run of 16 characters or more is scanned (and this one, short, passes).
        ("CREATE TABLE t (" + "é" * 20 + " int, b int, c int, d int, e int, f int, g int)", ""),
        # Long, but no word in it is: nothing to scan.
        ("CREATE TABLE t (" + ", ".join(f"c{i} int" for i in range(40)) + ")", ""),
        # A long string constant is no identifier.
        (f"COMMENT ON TABLE t IS '{LONG}'", ""),
        # A word of 64 characters between spaces, but separators cut it into short names.
        ("CREATE INDEX i ON t(" + "ab," * 30 + "c)" + " " * 10, ""),
        # One after a tab and a newline; and a text of spaces only.
        (f"CREATE TABLE t (\n\t{LONG}\tint, b int)", LONG),
        (" " * 70, ""),
    ],
)
def test_long_identifier(text: str, expected: str) -> None:
    postgres.long_identifier.cache_clear()
    assert postgres.long_identifier(text) == expected
    assert postgres.long_identifier(text) == expected  # from the cache


def test_a_condition_runs_once_on_a_subject_it_matches(
    lint_sql: LintSql, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's loop evaluates a condition; a finding's message does not evaluate it again
    (it did, for every hit, until issue 17)."""
    calls: list[str] = []
    matches = expressions.CompiledRule.matches

    def counted(self: expressions.CompiledRule, names: dict[str, object]) -> bool:
        calls.append(sys._getframe(1).f_code.co_name)
        return matches(self, names)

    monkeypatch.setattr(expressions.CompiledRule, "matches", counted)
    run = lint_sql("CREATE TABLE users (id int PRIMARY KEY, created timestamp);")
    assert findings_of(run, "timestamp-without-time-zone")
    assert "_check_migration" in calls  # target: migration rules: one evaluation a file
    assert "_check" not in calls


class _Owner:
    def safe(self, value: int) -> int:
        return value + 1

    @unsafe
    def refused(self) -> str:
        return "ran"


@pytest.mark.parametrize("compiler", [compile_closure, compile_python])
def test_method_calls_ask_the_sandbox_once_a_function_and_keep_its_verdict(
    compiler: Any,
) -> None:
    env = environment()
    names = variables(owner=_Owner(), other=_Owner())
    safe = compiler(_condition_expression("owner.safe(1) + other.safe(2)"), env)
    refused = compiler(_condition_expression("owner.refused()"), env)
    assert safe is not None and refused is not None
    for _ in range(2):  # the second call of each takes the remembered verdict
        assert safe(names) == 5
        with pytest.raises(SecurityError):
            refused(names)
    # A string's methods still go through check_call every time (a width over the limit).
    wide = compiler(_condition_expression("'x'.ljust(1000000000000)"), env)
    assert wide is not None
    for _ in range(2):
        with pytest.raises(LimitExceeded):
            wide(names)


@pytest.mark.parametrize("compiler", [compile_closure, compile_python])
@pytest.mark.parametrize(
    "source",
    [
        "owner.name.lower() == 'users' and owner.name.upper().endswith('RS')",
        "owner.name.split('s') | list",
        "owner.name.rpartition('e')",
        "owner.name.startswith(('u', 'x')) and not owner.name.isdigit()",
    ],
)
def test_plain_string_methods_agree_with_jinja(compiler: Any, source: str) -> None:
    closure = compiler(_condition_expression(source), environment())
    assert closure is not None
    names = variables(owner=_Named("Users"))
    for _ in range(2):
        assert closure(names) == _run(condition_template(source), names)


def test_a_plain_string_method_still_has_its_result_bounded() -> None:
    # `lower` takes the caller's shortcut; its result is still held to the value limit.
    env = environment()
    closure = compile_python(_condition_expression("owner.name.lower()"), env)
    assert closure is not None
    with pytest.raises(LimitExceeded):
        closure(variables(owner=_Named("A" * (env.value_limit + 1))))


class _Named:
    def __init__(self, name: str) -> None:
        self.name = name


@pytest.mark.parametrize(
    ("source", "guard"),
    [
        ("column.type.name == 'json'", ("column", ("type", "name"), frozenset({"json"}))),
        (
            "column.type.name in ('text', 'varchar') and not column.type.array and x",
            ("column", ("type", "name"), frozenset({"text", "varchar"})),
        ),
        ("fk.on_delete == 'CASCADE' and y", ("fk", ("on_delete",), frozenset({"CASCADE"}))),
        # Either side false unless the attribute is one of its strings: so is the whole.
        (
            "(column.type.name == 'json' and x) or column.type.name in ('xml', 'text')",
            ("column", ("type", "name"), frozenset({"json", "xml", "text"})),
        ),
        (
            "(column.type.name == 'a' or column.type.name == 'b' and x) and y",
            ("column", ("type", "name"), frozenset({"a", "b"})),
        ),
        # Not false whenever the compared attribute is not one of the strings:
        ("column.type.name == 'json' or x", None),
        ("x or column.type.name == 'json'", None),
        ("column.type.name == 'json' or column.type.array == 'json'", None),
        ("column.type.name == 'json' or table.name == 'json'", None),
        ("x and column.type.name == 'json'", None),
        ("not column.type.name == 'json'", None),
        ("column.type.name != 'json'", None),
        ("column.type.name in ('json', 1)", None),
        ("column.type.name == options.type", None),
        ("column == 'json'", None),
    ],
)
def test_condition_guard(source: str, guard: Any) -> None:
    from schema_review.rules.prebuild import condition_guard

    assert condition_guard(_condition_expression(source)) == guard


class _Typed:
    def __init__(self, type_: Any) -> None:
        if type_ is not _NO_TYPE:
            self.type = type_


_NO_TYPE = object()


class _TypeName:
    def __init__(self, name: Any) -> None:
        self.name = name

    def method(self) -> None:
        pass


def test_guarded_subjects_are_all_those_the_condition_can_hold_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from schema_review.rules.engine import INTERNAL_ERROR, _Subjects
    from schema_review.rules.prebuilt_python import GUARDS

    json_column = _Typed(_TypeName("json"))
    odd = [
        _Typed(_TypeName(None)),  # not a string: evaluated
        _Typed(_TypeName(["json"])),  # nor is a list (unhashable)
        _Typed(_NO_TYPE),  # no attribute: evaluated (and fails there, as before)
        _Typed(_TypeName("json").method),  # a method: evaluated
    ]
    last_json = _Typed(_TypeName("json"))
    objects = [
        _Typed(_TypeName("text")),
        json_column,
        *odd,
        _Typed(_TypeName("jsonb")),
        last_json,
    ]

    class Model:
        def objects_of_kind(self, kind: str) -> list[Any]:
            assert kind == "column"
            return objects

    subjects = _Subjects(Model())  # type: ignore[arg-type]
    rule = INTERNAL_ERROR.replace(target="column", when="column.type.name == 'json'")
    # In the model's order (the objects of a string, and the others, are not kept apart).
    assert subjects.guarded(rule) == [json_column, *odd, last_json]
    # Two strings: the objects of each, and the others, in the model's order.
    two = "column.type.name in ('jsonb', 'json') and true"
    monkeypatch.setitem(GUARDS, two, ("column", ("type", "name"), frozenset({"json", "jsonb"})))
    assert subjects.guarded(rule.replace(when=two)) == objects[1:]
    # A condition without a guard sees every column.
    unguarded = rule.replace(when="column.type.name == 'json' or true")
    assert subjects.guarded(unguarded) == objects
