"""The parse floor: what reading and parsing the corpus costs before any replay or rule.

    .venv/bin/python bench/floor.py
    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python bench/floor.py [--read-only]     # instructions ("I refs")

It does what schema-review's parse stage cannot do without: read each of the corpus's
PostgreSQL files (`run.py`'s corpus workload), have libpg_query turn the whole text into JSON
(`pglast.parser.parse_sql_json`) and decode it into dicts with orjson. Nothing of
schema-review is imported. A file libpg_query refuses whole is counted and skipped (the tool
then parses it statement by statement, which costs more), so the figure is a floor.
`--read-only` lists and reads the files and parses nothing: the difference between the two
counts is the parse and the decode, without the interpreter's start and this script's. Set
against squawk's whole run of the same files, it says how much of the goal "2x squawk" the
parser alone takes (bench/README.md, run 38).
"""

from __future__ import annotations

import sys
import time

import orjson
from pglast import parser
from run import _corpus_files


def main() -> None:
    parse = "--read-only" not in sys.argv[1:]
    started = time.process_time()
    statements = refused = 0
    files = _corpus_files()
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        if not parse:
            continue
        try:
            tree = orjson.loads(parser.parse_sql_json(text))
        except parser.ParseError:
            refused += 1
            continue
        statements += len(tree.get("stmts", ()))
    seconds = time.process_time() - started
    print(
        f"{len(files)} files, {statements} statements, {refused} files refused whole;"
        f" {seconds:.3f} s CPU after the interpreter's start",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
