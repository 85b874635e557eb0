"""A long history's hits are kept packed (compressed) while its model is alive (issue 17,
memory): unpacked, they are the hits `evaluate` gives, in order, naming the same rules,
sources and statements."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from click.testing import CliRunner

from schema_review import pipeline
from schema_review.cli import main
from schema_review.config import Settings
from schema_review.rules import Hit, Rule, load_rules
from schema_review.rules.engine import PackedHits, evaluate_packed
from tests.helpers import REPO, example_evaluations, write_migrations


def _described(hits: list[Hit]) -> list[tuple[object, ...]]:
    return [
        (id(h.rule), id(h.source), h.start, h.end, h.object, h.message, h.fix, id(h.statement))
        for h in hits
    ]


@pytest.fixture(scope="module")
def work() -> list[pipeline.Evaluation]:
    return example_evaluations(Settings(select=("all",)))


@pytest.fixture(scope="module")
def rules() -> list[Rule]:
    settings = Settings(select=("all",))
    selected = pipeline.select_rules(load_rules(()), settings)
    return [r for r in selected if r.target != "server"]


def test_unpacked_hits_are_the_hits_evaluate_gives(
    work: list[pipeline.Evaluation], rules: list[Rule], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(PackedHits, "CHUNK", 3)  # many chunks, and a part-filled last one
    monkeypatch.setattr(pipeline, "_LONG_HISTORY", 0)  # the examples: compressed too
    hits = [hit for w in work for hit in w.hits(rules)]
    assert len(hits) > 100
    packs = [w.packed(rules) for w in work]
    assert sum(len(p) for p in packs) == len(hits)
    assert any(p._chunks for p in packs)
    assert _described(pipeline._unpacked(list(packs))) == _described(hits)
    assert all(len(p) == 0 for p in packs)  # emptied


def test_a_short_history_packs_its_hits_uncompressed(
    work: list[pipeline.Evaluation], rules: list[Rule], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below _LONG_HISTORY statements a history's hits are a few: compressing them would
    cost the run more than it saves (the corpus, cold: ~2.5% more instructions). Without
    workers they are a plain list (see the long-run test); a worker sends them packed,
    uncompressed."""
    monkeypatch.setattr(PackedHits, "CHUNK", 3)
    assert not any(w.long for w in work)
    packs = [
        evaluate_packed(rules, w.model, w.problems, w.profile, w.facts, compress=False)
        for w in work
    ]
    assert not any(p._chunks for p in packs) and sum(map(len, packs)) > 100
    hits = [hit for w in work for hit in w.hits(rules)]
    assert _described(pipeline._unpacked(list(packs))) == _described(hits)
    packed = PackedHits(compress=False)
    for hit in hits[:10]:
        packed.append(hit)
    packed.truncate(7)
    assert _described(packed.unpack()) == _described(hits[:7])


@pytest.mark.parametrize("uncompressed_chunks", [1, 2, 8])
@pytest.mark.parametrize("kept", [0, 1, 5, 6, 7, 11, 12, 13, 18])
def test_a_truncated_pack_keeps_its_first_hits(
    work: list[pipeline.Evaluation],
    rules: list[Rule],
    monkeypatch: pytest.MonkeyPatch,
    kept: int,
    uncompressed_chunks: int,
) -> None:
    """What a stopped rule found is let go (PackedHits.truncate), within a chunk or at its
    edge, compressed or not yet (UNCOMPRESSED_CHUNKS); hits packed afterwards follow the
    kept ones."""
    monkeypatch.setattr(PackedHits, "CHUNK", 6)
    monkeypatch.setattr(PackedHits, "UNCOMPRESSED_CHUNKS", uncompressed_chunks)
    hits = [hit for w in work for hit in w.hits(rules)][:20]
    packed = PackedHits()
    for hit in hits:
        packed.append(hit)
    packed.truncate(kept)
    assert len(packed) == kept
    for hit in hits[-3:]:
        packed.append(hit)
    assert _described(packed.unpack()) == _described(hits[:kept] + hits[-3:])


def test_a_pack_compresses_from_its_uncompressed_chunks_on(
    work: list[pipeline.Evaluation], rules: list[Rule], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pack of fewer than UNCOMPRESSED_CHUNKS chunks of hits keeps them as they are (the
    corpus's 7,000 hits: compressing them cost more than it saved); from there, each whole
    chunk is compressed."""
    monkeypatch.setattr(PackedHits, "CHUNK", 4)
    monkeypatch.setattr(PackedHits, "UNCOMPRESSED_CHUNKS", 3)
    hits = [hit for w in work for hit in w.hits(rules)][:30]
    packed = PackedHits()
    for hit in hits[:11]:
        packed.append(hit)
    assert not packed._chunks and len(packed._buffer) == 11
    packed.append(hits[11])
    assert len(packed._chunks) == 3 and not packed._buffer
    for hit in hits[12:]:
        packed.append(hit)
    assert len(packed._chunks) == 7 and len(packed._buffer) == 2
    assert _described(packed.unpack()) == _described(hits)


def test_a_pack_sent_as_data_names_the_same_objects_here(
    work: list[pipeline.Evaluation], rules: list[Rule], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's pack goes through a pipe as data (its places as numbers, its rules as ids
    and severities): read back, it names this process's statements, sources and rules."""
    monkeypatch.setattr(PackedHits, "CHUNK", 4)
    monkeypatch.setattr(pipeline, "_LONG_HISTORY", 0)  # the examples: compressed too
    sent = 0
    for w in work:
        try:
            data = w.packed(rules).data(pipeline._HitEncoder(w))
        except KeyError:  # a statement the model does not list: the parent evaluates it
            continue
        received = pipeline._HitDecoder(rules, w).packed(pickle.loads(pickle.dumps(data)))
        assert _described(received.unpack()) == _described(w.hits(rules))
        sent += 1
    assert sent > len(work) // 2


def test_a_long_run_packs_its_hits_and_reports_what_an_unpacked_one_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def lint_examples() -> str:
        runner = CliRunner()
        args = ["lint", "-j", "1", "--select", "all", "--format", "json", "--fail-on", "none"]
        result = runner.invoke(main, [*args, "--no-cache", str(REPO / "examples")])
        assert result.exit_code == 0, result.output
        return result.output

    packed: list[int] = []

    def counted(*args: object, **keywords: object) -> PackedHits:
        packed.append(1)
        return evaluate_packed(*args, **keywords)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "evaluate_packed", counted)
    monkeypatch.setattr(pipeline, "_LONG_HISTORY", 10**9)
    unpacked = lint_examples()
    assert not packed
    monkeypatch.setattr(pipeline, "_LONG_HISTORY", 0)  # the examples: compressed too
    monkeypatch.setattr(PackedHits, "CHUNK", 5)
    # ... unless the run's text is short (KEPT_TEXT): its hits then stay as they are.
    assert lint_examples() == unpacked
    assert not packed
    monkeypatch.setattr(pipeline, "KEPT_TEXT", 0)
    assert lint_examples() == unpacked
    assert packed


def test_a_value_marshal_does_not_take_is_packed_all_the_same(
    work: list[pipeline.Evaluation], rules: list[Rule], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message of a subclass of str (Jinja's Markup) comes back as it went in."""
    from markupsafe import Markup

    monkeypatch.setattr(PackedHits, "CHUNK", 2)
    monkeypatch.setattr(PackedHits, "UNCOMPRESSED_CHUNKS", 1)
    monkeypatch.setattr(pipeline, "_LONG_HISTORY", 0)  # the examples: compressed too
    first, second, *_ = [hit for w in work for hit in w.hits(rules)]
    marked = Hit(first.rule, first.source, 0, 1, Markup("<b>"), Markup("a & b"), None)
    packed = PackedHits()
    for hit in (first, marked, second):
        packed.append(hit)
    assert packed._chunks
    unpacked = packed.unpack()
    assert _described(unpacked) == _described([first, marked, second])
    assert type(unpacked[1].message) is Markup


def test_a_hit_on_a_statement_of_a_do_block_is_sent_as_data(tmp_path: Path) -> None:
    """A statement the replay found inside a DO block is not one of the history's own, but
    its changes name it: a worker numbers it after them, and its hits come back as data
    (not evaluated again by the parent)."""
    folder = write_migrations(
        tmp_path / "migrations",
        [
            (
                "0001_init.sql",
                "DO $$ BEGIN\n  CREATE TABLE t (id int);\nEND $$;\nCREATE TABLE u (id int);\n",
            )
        ],
    )
    settings = Settings(select=("all",))
    rules = [r for r in pipeline.select_rules(load_rules(()), settings) if r.target != "server"]
    (history,) = pipeline.replay_histories([folder], settings, keep_trees=False)
    w = pipeline.Evaluation(
        history.model,
        history.problems,
        history.profile,
        pipeline.migration_facts(history.migration_set, history.sources, 0),
    )
    hits = w.hits(rules)
    own = {id(s) for s in w.model.statements}
    assert any(h.statement is not None and id(h.statement) not in own for h in hits)
    data = w.packed(rules).data(pipeline._HitEncoder(w))
    received = pipeline._HitDecoder(rules, w).packed(pickle.loads(pickle.dumps(data)))
    assert _described(received.unpack()) == _described(hits)
