"""Seeded fuzzing of the whole pipeline (tests/fuzzer.py): a few hundred cases here, as many as
you like with `bench/fuzz.py --cases 100000`. `SCHEMA_REVIEW_FUZZ_CASES` and
`SCHEMA_REVIEW_FUZZ_SEED` change how many and which; `SCHEMA_REVIEW_FUZZ_OUT` names a folder
for the reproducers of failing cases (a CI artifact), instead of the test's temporary one."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.fuzzer import MUTATIONS, Fuzzer, check, corpus_projects, run_cases
from tests.helpers import CORPUS

CASES = int(os.environ.get("SCHEMA_REVIEW_FUZZ_CASES", "500"))
SEED = int(os.environ.get("SCHEMA_REVIEW_FUZZ_SEED", "1"))

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not here")


@pytest.fixture(scope="module")
def fuzzer() -> Fuzzer:
    return Fuzzer(SEED, corpus_projects(CORPUS))


def test_fuzzed_corpus_files_never_break_the_pipeline(fuzzer: Fuzzer, tmp_path: Path) -> None:
    out = Path(os.environ.get("SCHEMA_REVIEW_FUZZ_OUT") or tmp_path / "fuzz-failures")
    result = run_cases(fuzzer, range(CASES), tmp_path / "cases", out)
    assert result.cases == CASES
    report = "\n\n".join(
        f"{f.case.name} ({', '.join(f.case.mutations)}): reproducer in {f.reproducer}\n{f.what}"
        for f in result.failures
    )
    assert not result.failures, f"{len(result.failures)} fuzz cases failed:\n{report}"


def test_cases_are_a_function_of_seed_and_index(fuzzer: Fuzzer) -> None:
    again = Fuzzer(SEED, corpus_projects(CORPUS))
    assert [fuzzer.case(i) for i in range(20)] == [again.case(i) for i in range(20)]
    assert fuzzer.case(1) != fuzzer.case(2)


def test_every_mutation_changes_its_input() -> None:
    rng = random.Random(7)
    text = (
        b"CREATE TABLE accounts (id bigint PRIMARY KEY, owner_id bigint);\n"
        b"CREATE INDEX accounts_owner_idx ON accounts (owner_id);\n"
    )
    for name, mutate in MUTATIONS.items():
        changed = {mutate(rng, text, [b"DROP TABLE legacy;"]) for _ in range(10)}
        assert changed != {text}, name


def test_a_failing_case_is_written_out_with_how_to_replay_it(
    fuzzer: Fuzzer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import schema_review.pipeline

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr("tests.fuzzer.lint", broken)
    assert schema_review.pipeline.lint is not broken
    result = run_cases(fuzzer, [3, 4], tmp_path / "cases", tmp_path / "out", batch=2)
    assert [f.case.index for f in result.failures] == [3, 4]
    reproducer = result.failures[0].reproducer
    assert reproducer is not None
    failure = (reproducer / "FAILURE.txt").read_text(encoding="utf-8")
    assert "RuntimeError: boom" in failure
    assert f"bench/fuzz.py --seed {SEED} --case 3" in failure
    written = sorted(p.relative_to(reproducer).as_posix() for p in reproducer.rglob("*.sql"))
    assert written == sorted(path for path, _ in fuzzer.case(3).files)
    assert not (tmp_path / "cases").exists() or not any((tmp_path / "cases").iterdir())


def test_internal_error_findings_fail_a_case(
    fuzzer: Fuzzer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from schema_review.model import SchemaModel, replay

    real = replay

    def replay_with_a_bug(*args: object, **kwargs: object) -> SchemaModel:
        model = real(*args, **kwargs)  # type: ignore[arg-type]
        # What the replay records when a statement handler raises.
        model.internal_errors.append((model.statements[0], "ValueError: handler bug"))
        return model

    monkeypatch.setattr("schema_review.pipeline.replay", replay_with_a_bug)
    folder = fuzzer.case(0).write(tmp_path)
    (folder / "9999_extra.sql").write_text("CREATE SCHEMA extra;\n", encoding="utf-8")
    what = check([folder], budget=120)
    assert "[internal-error]" in what and "handler bug" in what
