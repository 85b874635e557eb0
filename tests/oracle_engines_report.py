"""Apply every MySQL and SQLite history of the corpus to its engine (a throwaway MariaDB,
Python's sqlite3) and print what the engine did with it: the files it rejected, with its
error, and what it built. With the MySQL/SQLite front ends (`Profile.dialect`), also the
differences between the replayed model and the engine's catalog.

    .venv/bin/python tests/oracle_engines_report.py                 # every history
    .venv/bin/python tests/oracle_engines_report.py kratos-mysql
    .venv/bin/python tests/oracle_engines_report.py --markdown      # the table of
                                                                    # docs/oracle-engines.md

Not a test: the facts it prints are kept in tests/oracle/engine_failures.yaml, which
tests/test_oracle_engines.py checks.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository root is the import root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.oracle.engine_histories import EngineHistory, engine_histories
from tests.oracle.engines import EngineBuild, build
from tests.oracle.mariadb import Server, ServerError, start


@contextlib.contextmanager
def _mariadb(needed: bool) -> Iterator[Server | None]:
    if not needed:
        yield None
        return
    try:
        server = start()
    except ServerError as error:
        print(f"MariaDB cannot start here, MySQL histories skipped: {error}", file=sys.stderr)
        yield None
        return
    try:
        yield server
    finally:
        server.stop()


def _counts(result: EngineBuild) -> str:
    tables = result.catalog.tables.values()
    return (
        f"{len(tables)} tables, {sum(len(t.columns) for t in tables)} columns, "
        f"{sum(len(t.indexes) for t in tables)} indexes, "
        f"{sum(len(t.foreign_keys) for t in tables)} foreign keys, "
        f"{sum(len(t.checks) for t in tables)} checks, "
        f"{sum(len(t.triggers) for t in tables)} triggers, {len(result.catalog.views)} views"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("histories", nargs="*", help="history ids; all by default")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    options = parser.parse_args(argv)
    known = engine_histories()
    unknown = [h for h in options.histories if h not in known]
    if unknown:
        parser.error(f"unknown history(ies) {', '.join(unknown)}; known: {', '.join(known)}")
    chosen: list[EngineHistory] = [
        known[h] for h in options.histories or known if known[h].available
    ]
    rows = []
    with _mariadb(any(h.dialect == "mysql" for h in chosen)) as server:
        for history in chosen:
            if history.dialect == "mysql" and server is None:
                continue
            files = history.files()
            began = time.perf_counter()
            result = build(history.dialect, files, server, history.functions)
            seconds = time.perf_counter() - began
            failures = result.failures
            rows.append((history, len(files), failures, result, seconds))
            if not options.markdown:
                print(
                    f"== {history.id} ({history.dialect}, {history.runner} order, "
                    f"{len(files)} files, {seconds:.1f} s): {_counts(result)}"
                )
                for failure in failures:
                    print(f"   rejected {failure.file.relative_to(history.path)}: {failure.error}")
    if options.markdown:
        print("| history | engine | files | rejected | built |")
        print("|---|---|---|---|---|")
        for history, count, failures, result, _ in rows:
            engine = f"{result.catalog.engine} {result.catalog.version.split('-')[0]}"
            print(f"| {history.id} | {engine} | {count} | {len(failures)} | {_counts(result)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
