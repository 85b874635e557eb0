"""Print what the oracle sees: per history, the files that fail on PostgreSQL, the objects
compared and matched, and every difference between the replayed model and the catalog,
grouped by kind; then a summary table.

    .venv/bin/python tests/oracle_report.py               # every case
    .venv/bin/python tests/oracle_report.py hatchet kratos
    .venv/bin/python tests/oracle_report.py --summary     # the table only

Starts its own throwaway PostgreSQL (the embedded one; `--server system` for an installed
one) and removes it afterwards.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository root is the import root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schema_review.verify.server import temporary_server
from tests.oracle import CaseResult, cases, expected_failures, run_case, xfails


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "cases", nargs="*", help="case ids (tests/oracle/cases.yaml); all by default"
    )
    parser.add_argument("--summary", action="store_true", help="print the summary table only")
    parser.add_argument("--server", default="embedded", choices=("embedded", "system", "auto"))
    options = parser.parse_args(argv)

    known = cases()
    unknown = [c for c in options.cases if c not in known]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(known)}")
    chosen = [known[c] for c in options.cases] if options.cases else list(known.values())

    rows: list[tuple[str, ...]] = []
    started = time.perf_counter()
    with temporary_server(options.server) as server:
        print(f"PostgreSQL {server.version} ({server.kind})\n")
        for case in chosen:
            if case.skip:
                rows.append((case.id, "-", "-", "-", "-", "-", "not a history"))
                continue
            if not case.available:
                rows.append((case.id, "-", "-", "-", "-", "-", "not here"))
                continue
            missing = case.missing_settings()
            if missing:
                rows.append((case.id, "-", "-", "-", "-", "-", f"needs {', '.join(missing)}"))
                continue
            result = run_case(server, case)
            if not options.summary:
                _print_case(result)
            comparison = result.comparison
            status = "match" if comparison.ok else "differs"
            if case.id in xfails():
                status += " (xfail)"
            rows.append(
                (
                    case.id,
                    str(len(result.build.outcomes)),
                    str(len(result.build.failures)),
                    str(comparison.compared),
                    str(comparison.matched),
                    str(comparison.excluded),
                    status,
                )
            )
    _print_table(rows)
    compared = sum(int(r[3]) for r in rows if r[3].isdigit())
    matched = sum(int(r[4]) for r in rows if r[4].isdigit())
    share = 100.0 * matched / compared if compared else 100.0
    print(f"\nall: {matched}/{compared} objects match ({share:.1f}%)")
    print(f"time: {time.perf_counter() - started:.1f} s")
    return 0


def _print_case(result: CaseResult) -> None:
    case, comparison = result.case, result.comparison
    print(f"== {case.id} ({result.build.history}): {comparison.summary()}")
    print(f"   {len(result.build.outcomes)} files applied in {result.build.seconds:.2f} s")
    expected = expected_failures().get(case.id, {})
    for name, failure in result.failed_files().items():
        known = "expected" if name in expected else "NEW"
        print(f"   fails ({known}): {failure}")
    for kind, differences in comparison.by_kind().items():
        print(f"   {kind} ({len(differences)}):")
        for difference in differences:
            print(f"     {difference}")
    print()


def _print_table(rows: list[tuple[str, ...]]) -> None:
    header = ("history", "files", "failed", "compared", "matched", "excluded", "status")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    sys.exit(main())
