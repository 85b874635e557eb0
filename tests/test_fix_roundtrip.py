"""Every fix the tool emits runs on PostgreSQL and clears its finding (tests/fix_roundtrip.py).

Three sets of findings, on the session's one server:

- every rule's bad example, under the default runner, and the CONCURRENTLY fixes under every
  runner that wraps a file in a transaction (the fix must say how to leave it);
- every finding with a fix in `examples/`;
- the corpus, by sample: one finding per rule, shape of fix (the SQL keywords of its
  statements) and runner, from the smallest history that has it. The corpus has 4,700
  fixable findings, mostly the same template on another table (535 CREATE INDEX, 744 SET
  lock_timeout); every distinct template branch under every runner is still exercised. It
  takes minutes yet, so it runs only when SCHEMA_REVIEW_FIX_CORPUS is set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from schema_review.config import Settings
from schema_review.pipeline import ReplayedHistory, replay_histories
from schema_review.rules import Hit, Rule, evaluate, load_rules, rule_applies
from schema_review.verify.server import Server
from tests.fix_roundtrip import Case, Outcome, fixed_hits, run_cases, segments
from tests.helpers import REPO, split_example, write_migrations
from tests.oracle import cases as oracle_cases
from tests.oracle import expected_failures, resolve

RULES = load_rules()
DEFAULT = [r for r in RULES if r.enabled]
FIXED = [r for r in RULES if r.fix]
# Runners that wrap each file in a transaction, each with its own way out (or none).
TRANSACTION_RUNNERS = ("goose", "dbmate", "sqlx", "diesel", "pop", "drizzle", "supabase", "flyway")
CONCURRENT = [r for r in FIXED if r.fix and "CONCURRENTLY" in r.fix]


def _rules_for(rule: Rule) -> list[Rule]:
    """What the fixed history is linted with: the default selection, and the rule itself."""
    return DEFAULT + ([] if rule.enabled else [rule])


def _hits(history: ReplayedHistory, rules: list[Rule]) -> list[Hit]:
    applicable = [r for r in rules if rule_applies(r, history.profile)]
    return evaluate(applicable, history.model, (), history.profile)


def _example(rule: Rule, tmp_path: Path, **settings: object) -> ReplayedHistory:
    folder = write_migrations(tmp_path / "m", split_example(rule.examples["bad"]))
    values: dict[str, object] = dict(rule.example_profile)
    values.update(settings)
    (history,) = replay_histories([folder], Settings(**values))  # type: ignore[arg-type]
    return history


def _check(outcomes: list[Outcome], tolerated: frozenset[str] = frozenset()) -> None:
    problems = []
    for outcome in outcomes:
        failures = list(outcome.failures)
        failures += [
            f"the history before the fix fails: {f}"
            for f in outcome.history_failures
            if not any(name in f for name in tolerated)
        ]
        if failures:
            hit = outcome.case.hit
            problems.append(
                f"{outcome.case.label}: {hit.rule.id} at {hit.source.display}"
                f"\n  fix:\n    "
                + (hit.fix or "").replace("\n", "\n    ")
                + "".join(f"\n  {f}" for f in failures)
            )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("rule", FIXED, ids=[r.id for r in FIXED])
def test_bad_example_fix_round_trips(rule: Rule, pg_server: Server, tmp_path: Path) -> None:
    history = _example(rule, tmp_path)
    rules = _rules_for(rule)
    hits = [h for h in fixed_hits(_hits(history, rules)) if h.rule.id == rule.id]
    if not hits:
        pytest.skip(f"{rule.id}: its fix is advice for its bad example (no SQL)")
    _check(run_cases(pg_server, [Case(rule.id, history, h) for h in hits], rules))


@pytest.mark.parametrize("runner", TRANSACTION_RUNNERS)
def test_concurrently_fixes_leave_the_runners_transaction(
    runner: str, pg_server: Server, tmp_path: Path
) -> None:
    """Under a runner that wraps each file in a transaction, a CONCURRENTLY fix runs: it goes
    in a migration the runner runs outside one, or (drizzle, Supabase) says to run it outside
    the tool; the tool never reports it as concurrently-in-transaction."""
    outcomes = []
    for number, rule in enumerate(CONCURRENT):
        history = _example(rule, tmp_path / str(number), runner=runner)
        rules = _rules_for(rule)
        hits = [h for h in fixed_hits(_hits(history, rules)) if h.rule.id == rule.id]
        assert hits, f"{rule.id} under {runner}: no fix"
        for hit in hits:
            assert hit.fix is not None
            if runner not in ("flyway",):
                assert history.profile.outside_transaction.splitlines()[0] in hit.fix, hit.fix
        outcomes += run_cases(
            pg_server, [Case(f"{rule.id}/{runner}", history, h) for h in hits], rules
        )
    _check(outcomes)


def test_no_placeholder_in_any_fix_template() -> None:
    """`<value>`, `...`: SQL a reader has to complete is advice, not a fix."""
    for rule in FIXED:
        assert rule.fix is not None
        for line in rule.fix.splitlines():
            code = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|'[^']*'", "", line)
            if code.strip().startswith("--"):
                continue
            assert not re.search(r"<[a-z][^<>]*>|\.\.\.", code), f"{rule.id}: {line}"


def test_fix_segments_split_at_the_migration_comments() -> None:
    fix = (
        "SET lock_timeout = '5s';\nALTER TABLE t ADD CONSTRAINT c CHECK (x > 0) NOT VALID;\n"
        "-- in a later migration:\nALTER TABLE t VALIDATE CONSTRAINT c;\n"
    )
    parts = segments(fix)
    assert [p.text.strip().splitlines()[-1] for p in parts] == [
        "ALTER TABLE t ADD CONSTRAINT c CHECK (x > 0) NOT VALID;",
        "ALTER TABLE t VALIDATE CONSTRAINT c;",
    ]
    outside = segments("-- outside the migration tool: psql\nCREATE INDEX CONCURRENTLY i ON t (x);")
    assert [p.outside for p in outside] == [True]


# -- examples/ and the corpus -----------------------------------------------------------------

EXAMPLES = sorted(p.parent for p in (REPO / "examples").glob("*/review.md") if p.parent.is_dir())


def _example_histories() -> Iterator[tuple[str, ReplayedHistory]]:
    for folder in EXAMPLES:
        for history in replay_histories([folder], Settings()):
            yield folder.name, history


@pytest.mark.parametrize("folder", EXAMPLES, ids=[f.name for f in EXAMPLES])
def test_every_fix_of_the_examples_round_trips(folder: Path, pg_server: Server) -> None:
    rules = [*DEFAULT, *(r for r in RULES if not r.enabled and r.fix)]
    failing = frozenset(
        name
        for case in ("saas-app",)
        if folder.name == case
        for name in expected_failures().get(case, {})
    )
    outcomes: list[Outcome] = []
    for history in replay_histories([folder], Settings()):
        cases = [
            Case(folder.name, history, h)
            for h in fixed_hits(_hits(history, rules))
            # A file that fails on its own (saas-app's deliberate syntax error) cannot be fixed
            # by adding to it.
            if not any(h.source.display.endswith(name) for name in failing)
        ]
        assert cases or folder.name != "saas-app"
        for rule_id in sorted({c.rule.id for c in cases}):
            of_rule = [c for c in cases if c.rule.id == rule_id]
            outcomes += run_cases(pg_server, of_rule, _rules_for(of_rule[0].rule))
    _check(outcomes, failing)


def _shape(fix: str) -> str:
    """The fix's template branch: the leading keywords of each statement, repeats once."""
    shapes: list[str] = []
    for statement in re.sub(r"--[^\n]*|'[^']*'|\"[^\"]*\"", "", fix).split(";"):
        words = re.findall(r"\b[A-Z][A-Z_]+\b", statement)[:4]
        if words and (not shapes or shapes[-1] != " ".join(words)):
            shapes.append(" ".join(words))
    return " / ".join(shapes)


def _corpus_samples() -> list[tuple[str, ReplayedHistory, list[Hit], str, tuple[Path, ...]]]:
    rules = [*DEFAULT, *(r for r in RULES if not r.enabled and r.fix)]
    chosen: dict[tuple[str, str, str], tuple[int, str, Hit]] = {}
    histories: dict[str, tuple[ReplayedHistory, str, tuple[Path, ...]]] = {}
    for case in oracle_cases().values():
        if not case.corpus or not case.available or case.skip or case.missing_settings():
            continue
        (history,) = replay_histories([resolve(case.path)], case.make_settings())
        histories[case.id] = (history, case.setup_sql, tuple(resolve(f) for f in case.setup_files))
        size = len(history.sources)
        for hit in fixed_hits(_hits(history, rules)):
            key = (hit.rule.id, _shape(hit.fix or ""), history.profile.runner)
            if key not in chosen or chosen[key][0] > size:
                chosen[key] = (size, case.id, hit)
    samples = []
    for case_id, (history, setup_sql, setup_files) in histories.items():
        hits = [hit for _, cid, hit in chosen.values() if cid == case_id]
        if hits:
            samples.append((case_id, history, hits, setup_sql, setup_files))
    return samples


@pytest.mark.skipif(not (REPO.parent / "shared" / "corpus").is_dir(), reason="no corpus here")
@pytest.mark.skipif(
    not os.environ.get("SCHEMA_REVIEW_FIX_CORPUS"),
    reason="takes over five minutes today (each sampled finding copies its history's database): "
    "run with SCHEMA_REVIEW_FIX_CORPUS=1",
)
def test_corpus_fixes_round_trip(pg_server: Server) -> None:
    outcomes: list[Outcome] = []
    exercised: set[str] = set()
    for case_id, history, hits, setup_sql, setup_files in _corpus_samples():
        failing = frozenset(expected_failures().get(case_id, {}))
        by_rule: dict[str, list[Case]] = {}
        for hit in hits:
            case = Case(case_id, history, hit, setup_sql, setup_files)
            by_rule.setdefault(hit.rule.id, []).append(case)
            exercised.add(hit.rule.id)
        for _rule_id, cases in sorted(by_rule.items()):
            done = run_cases(pg_server, cases, _rules_for(cases[0].rule))
            for outcome in done:
                outcome.history_failures = [
                    f for f in outcome.history_failures if not any(n in f for n in failing)
                ]
            outcomes += done
    _check(outcomes)
    # The corpus reaches most templates; the bad examples above reach the rest.
    assert len(exercised) >= 20, sorted(exercised)
