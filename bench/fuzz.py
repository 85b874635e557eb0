"""Fuzz the whole pipeline at length: `bench/fuzz.py --cases 100000 --jobs 2`.

The same seeded cases as the test suite's fuzz test (tests/fuzzer.py), many more of them, in
worker processes. Failing cases are written to `--out` (default `fuzz-failures/`), one folder
each with a FAILURE.txt; `--case I` replays one case in this process and prints what failed.
Exit status 1 when any case failed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fuzzer import Fuzzer, Result, check, corpus_projects, run_cases  # noqa: E402

_FUZZER: Fuzzer | None = None
_SCRATCH: Path | None = None
_OUT = Path("fuzz-failures")
# Cases between two wipes of a worker's private cache (each case adds parse entries).
_WIPE_EVERY = 2_000


def _start_worker(seed: int, out: Path, scratch: Path) -> None:
    global _FUZZER, _SCRATCH, _OUT
    _FUZZER = Fuzzer(seed, corpus_projects())
    _SCRATCH = scratch / str(os.getpid())
    _OUT = out
    os.environ["SCHEMA_REVIEW_CACHE_DIR"] = str(_SCRATCH / "cache")


def _run_chunk(indexes: list[int]) -> Result:
    assert _FUZZER is not None and _SCRATCH is not None
    if indexes[0] % _WIPE_EVERY < len(indexes):
        shutil.rmtree(_SCRATCH / "cache", ignore_errors=True)
    return run_cases(_FUZZER, indexes, _SCRATCH / "cases", _OUT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--first", type=int, default=0, help="index of the first case")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=Path("fuzz-failures"))
    parser.add_argument("--case", type=int, help="replay this one case and say what failed")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="schema-review-fuzz-"))
    if args.case is not None:
        _start_worker(args.seed, args.out, scratch)
        assert _FUZZER is not None and _SCRATCH is not None
        case = _FUZZER.case(args.case)
        folder = case.write(_SCRATCH)
        print(f"{case.name}: {', '.join(case.mutations)}\nfiles in {folder}")
        what = check([folder], budget=600)
        print(what or "passed")
        return 1 if what else 0

    chunk = 200
    indexes = list(range(args.first, args.first + args.cases))
    chunks = [indexes[i : i + chunk] for i in range(0, len(indexes), chunk)]
    started = time.perf_counter()
    done = 0
    failures = []
    context = multiprocessing.get_context("fork")
    try:
        with context.Pool(
            args.jobs, _start_worker, (args.seed, args.out.resolve(), scratch)
        ) as pool:
            for result in pool.imap_unordered(_run_chunk, chunks):
                done += result.cases
                failures.extend(result.failures)
                elapsed = time.perf_counter() - started
                print(
                    f"\r{done:,}/{len(indexes):,} cases, {len(failures)} failed, "
                    f"{elapsed:,.0f} s ({done / elapsed:,.1f} cases/s)",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    elapsed = time.perf_counter() - started
    print(file=sys.stderr)
    print(
        f"{done:,} cases (seed {args.seed}, {args.jobs} processes) in {elapsed:,.0f} s: "
        f"{len(failures)} failed"
    )
    for failure in sorted(failures, key=lambda f: f.case.index):
        print(f"  {failure.case.name}: {', '.join(failure.case.mutations)} -> {failure.reproducer}")
        print("    " + failure.what.strip().splitlines()[-1])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
