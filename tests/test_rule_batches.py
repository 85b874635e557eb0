"""A built-in rule's condition runs on its subjects as a batch, a loop of its own compiled
code (closures.batch_source; issue 17): it gives what the engine's loop, one subject at a
time, gives: the same hits in the same order, the same internal errors where a condition
fails, the same subject named where a rule went over a limit."""

from __future__ import annotations

from typing import Any

import pytest

from schema_review import pipeline
from schema_review.config import Settings
from schema_review.model import objects
from schema_review.rules import Hit, Rule, load_rules
from schema_review.rules.closures import batch_subject
from schema_review.rules.expressions import (
    CompiledRule,
    _condition_expression,
    subject_name,
    variables,
)
from schema_review.rules.prebuild import python_module
from schema_review.rules.runtime import Parts
from tests.helpers import example_evaluations


@pytest.fixture(scope="module")
def work() -> list[pipeline.Evaluation]:
    return example_evaluations(Settings(select=("all",)))


@pytest.fixture(scope="module")
def rules() -> list[Rule]:
    selected = pipeline.select_rules(load_rules(()), Settings(select=("all",)))
    return [r for r in selected if r.target != "server"]


def _described(hits: list[Hit]) -> list[tuple[object, ...]]:
    return [
        (h.rule.id, id(h.source), h.start, h.end, h.object, h.message, h.fix, id(h.statement))
        for h in hits
    ]


def _both_ways(
    work: list[pipeline.Evaluation], rules: list[Rule], monkeypatch: pytest.MonkeyPatch
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The hits with batches, then one subject at a time."""
    batched = _described([hit for w in work for hit in w.hits(rules)])
    with monkeypatch.context() as patch:
        patch.setattr(CompiledRule, "batch", lambda self, subject: None)
        alone = _described([hit for w in work for hit in w.hits(rules)])
    return batched, alone


def test_every_built_in_condition_on_subjects_has_a_batch(rules: list[Rule]) -> None:
    for rule in rules:
        if rule.when is None or rule.target in ("migration", "internal_error"):
            continue
        assert rule.compiled is not None
        assert rule.compiled.batch(subject_name(rule.target)) is not None, rule.id


def test_batches_give_the_hits_of_the_loop(
    work: list[pipeline.Evaluation], rules: list[Rule], monkeypatch: pytest.MonkeyPatch
) -> None:
    batched, alone = _both_ways(work, rules, monkeypatch)
    assert len(batched) > 100
    assert batched == alone


def test_a_condition_failing_on_a_subject_is_reported_there_as_by_the_loop(
    work: list[pipeline.Evaluation], rules: list[Rule], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = objects.Column.nullable

    def failing(self: objects.Column) -> Any:
        if self.name == "email":
            raise ValueError("injected failure")
        return real.fget(self)  # type: ignore[attr-defined]

    monkeypatch.setattr(objects.Column, "nullable", property(failing))
    batched, alone = _both_ways(work, rules, monkeypatch)
    failures = [h for h in batched if h[0] == "internal-error" and "injected" in str(h[5])]
    assert failures
    assert batched == alone


def test_a_rule_over_a_limit_names_the_subject_it_was_on_as_the_loop_does(
    work: list[pipeline.Evaluation], rules: list[Rule], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = objects.Index.duplicate_of
    seen: list[str] = []

    def runaway(self: objects.Index) -> Any:
        seen.append(self.name)
        if len(seen) == 3:  # the third index of a history, whichever way it runs
            raise RecursionError("injected")
        return real.fget(self)  # type: ignore[attr-defined]

    def reset(*args: Any) -> None:
        seen.clear()

    monkeypatch.setattr(objects.Index, "duplicate_of", property(runaway))
    hits = pipeline.Evaluation.hits

    def counted(self: pipeline.Evaluation, rules: list[Rule]) -> list[Hit]:
        reset()
        return hits(self, rules)

    monkeypatch.setattr(pipeline.Evaluation, "hits", counted)
    batched, alone = _both_ways(work, rules, monkeypatch)
    stopped = [h for h in batched if h[0] == "rule-stopped"]
    assert stopped
    assert all(h[4] == "duplicate-index" for h in stopped)
    assert batched == alone


@pytest.mark.parametrize(
    ("source", "subject"),
    [
        ("column.type.name == 'json' and options.words", "column"),
        ("obj.dropped and model.enum_type(obj) is none", ""),
        ("obj.previous is not none and stmt.table_existed", "stmt"),
        ("options.style in ('check', 'lookup') and profile.pg_version > 11", ""),
        # Two names besides the context's: no subject has both (one is undefined).
        ("stmt.table_existed and column.nullable", None),
    ],
)
def test_batch_subject(source: str, subject: str | None) -> None:
    assert batch_subject(_condition_expression(source)) == subject


def _batch_and_function(source: str) -> tuple[Any, Any]:
    """A condition's batch and function as prebuilt_python.py ships them."""
    text = python_module({source: _condition_expression(source)}, {}, "")
    space: dict[str, Any] = {}
    exec(compile(text, "<shipped>", "exec"), space)
    parts = Parts()
    _, batch = space["BATCHES"][source]
    return batch(parts), space["CONDITIONS"][source](parts)


class _Subject:
    """An object whose attribute `flag` some instances lack."""

    def __init__(self, **attributes: Any) -> None:
        self.__dict__.update(attributes)


def _outcomes(source: str, subjects: list[Any], **names: Any) -> tuple[list[Any], list[Any]]:
    """What the batch gives for `subjects` (the subject, whether it failed), and what the
    function gives for each alone (its truth, or the error it raises)."""
    batch, function = _batch_and_function(source)
    given = variables(options={"words": ["a"]}, **names)
    batched = list(batch(dict(given), subjects, "column"))
    alone: list[Any] = []
    for subject in subjects:
        try:
            alone.append(bool(function({**given, "column": subject, "obj": subject})))
        except Exception as error:
            alone.append(type(error).__name__)
    return batched, alone


def test_a_batch_gives_a_subject_its_fast_read_missed_to_be_evaluated_alone() -> None:
    """An attribute some instances of a type lack: after one that has it, the batch reads
    it as Python does, and the one without it is given as failed (the engine evaluates it
    alone, as without the batch: here the sandbox's undefined value, an error)."""
    subjects = [_Subject(flag=True), _Subject(flag=False), _Subject(), _Subject(flag=True)]
    batched, alone = _outcomes("column.flag and options.words", subjects)
    assert alone == [True, False, "UndefinedError", True]
    assert batched == [(subjects[0], False), (subjects[2], True), (subjects[3], False)]
    # A dict's item is no attribute: read as the sandbox reads it, no failure.
    batched, alone = _outcomes("column.flag", [{"flag": True}, {"flag": False}])
    assert alone == [True, False]
    assert batched == [({"flag": True}, False)]


def test_a_shared_value_that_fails_leaves_each_subject_to_be_evaluated_alone() -> None:
    """`options.missing` is read once before the loop: it fails, and every subject is
    given as failed; alone, a subject whose first conjunct is false does not read it."""
    subjects = [_Subject(flag=False), _Subject(flag=True)]
    batched, alone = _outcomes("column.flag and options.missing", subjects)
    assert alone == [False, "UndefinedError"]
    assert batched == [(subjects[0], True), (subjects[1], True)]


class _Lowers:
    def lower(self) -> str:
        return "slug"


def test_a_batch_calls_a_plain_strings_method_as_the_sandbox_does() -> None:
    """`column.name.lower()`: called at once on a plain string; on a string of a subclass
    or an object of another kind with a method of that name, as the sandbox calls it."""

    class Text(str):
        pass

    subjects = [
        _Subject(name="Slug"),
        _Subject(name=Text("SLUG")),
        _Subject(name=_Lowers()),
        _Subject(name="x"),
    ]
    batched, alone = _outcomes("column.name.lower() == 'slug'", subjects)
    assert alone == [True, True, True, False]
    assert batched == [(subject, False) for subject in subjects[:3]]
    batched, alone = _outcomes("column.name.split('l') | length > 1", subjects[:2])
    assert alone == [True, False]
    assert batched == [(subjects[0], False)]
