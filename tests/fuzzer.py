"""A seeded fuzzer over the corpus's PostgreSQL migrations, through the whole pipeline.

Each case takes one to three consecutive files of a corpus project, mutates some of them
(bit flips, token deletion and duplication, statements spliced in from other files,
identifier collisions, truncation, NUL bytes, quotes left open, psql meta-commands and COPY
data, deep expressions, odd encodings), lints them with every rule and renders every output
format. Any exception, any `internal-error` or `rule-stopped` finding, a parse that failed
inside schema-review, malformed JSON or XML output, or a case over its time budget is a failure;
each failure is written out as a folder that reproduces it.

A case is a pure function of (seed, index): `bench/fuzz.py --seed S --case I` replays one.
Cases are linted in batches (one history per case): one run of the renderers serves them all,
and a failing batch is narrowed down to its cases.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import time
import traceback
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from schema_review.config import Settings
from schema_review.output import (
    render_github,
    render_gitlab,
    render_json,
    render_junit,
    render_report,
    render_sarif,
    render_text,
)
from schema_review.pipeline import LintRun, lint
from schema_review.report import build_report

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


@dataclass(frozen=True, slots=True)
class Case:
    """One fuzz case: files (path inside the case's folder, bytes) and what was done to them."""

    seed: int
    index: int
    files: tuple[tuple[str, bytes], ...]
    mutations: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"case-{self.seed}-{self.index}"

    def write(self, folder: Path) -> Path:
        """The case's files under `folder/<name>`, a migration folder of their own."""
        root = folder / self.name
        for path, data in self.files:
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(data)
        return root


@dataclass(slots=True)
class Failure:
    case: Case
    what: str  # the traceback or the offending findings
    reproducer: Path | None = None


@dataclass(slots=True)
class Result:
    cases: int = 0
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)


def corpus_projects(corpus: Path = CORPUS) -> list[list[tuple[str, bytes]]]:
    """The corpus's PostgreSQL files, by project, in path order (apply order, near enough)."""
    projects: dict[str, list[tuple[str, bytes]]] = {}
    for row in (corpus / "files.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        fields = row.split("\t")
        if len(fields) < 3 or fields[2] != "postgres":
            continue
        project, path = fields[0], fields[1]
        projects.setdefault(project, []).append((path, (corpus / project / path).read_bytes()))
    return [sorted(files) for _, files in sorted(projects.items())]


# -- mutations ------------------------------------------------------------------------------

_TOKEN = re.compile(rb"[A-Za-z_][A-Za-z0-9_$]*|\d+|'[^'\n]*'|\"[^\"\n]*\"|--[^\n]*|\s+|.", re.S)
_WORD = re.compile(rb"\b[a-z_][a-z0-9_]{2,}\b")
_OPENERS = (b"'", b'"', b"/*", b"$$", b"$body$", b"E'", b"(", b"BEGIN ATOMIC ")
_PSQL = (
    b"\\set ON_ERROR_STOP on\n",
    b"\\connect app\n",
    b"\\c app\n",
    b"\\i other.sql\n",
    b"\\echo don't panic\n",
    b"SELECT 1 AS one \\gset\n",
    b"SELECT 1 \\; SELECT 2;\n",
    b"\\if :flag\n\\endif\n",
    b"COPY accounts (id, name) FROM stdin;\n1\tdrop table users\n2\t'open\n\\.\n",
    b'COPY accounts FROM stdin WITH (FORMAT csv);\n1,"multi\nline"\n\\.\n',
    b"\\copy accounts from stdin\n3\tx\n\\.\n",
    b"COPY accounts FROM stdin;\n4\tno end marker\n",
    b"\\",
)


def _tokens(data: bytes) -> list[bytes]:
    return _TOKEN.findall(data)


def _statements(data: bytes) -> list[bytes]:
    return [part + b";" for part in data.split(b";") if part.strip()]


def flip_bits(rng: random.Random, data: bytes, donors: Sequence[bytes]) -> bytes:
    if not data:
        return data
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        buffer[rng.randrange(len(buffer))] ^= 1 << rng.randrange(8)
    return bytes(buffer)


def delete_tokens(rng: random.Random, data: bytes, donors: Sequence[bytes]) -> bytes:
    tokens = _tokens(data)
    for _ in range(min(len(tokens), rng.randint(1, 5))):
        del tokens[rng.randrange(len(tokens))]
    return b"".join(tokens)


def duplicate_tokens(rng: random.Random, data: bytes, donors: Sequence[bytes]) -> bytes:
    tokens = _tokens(data)
    for _ in range(rng.randint(1, 3) if tokens else 0):
        at = rng.randrange(len(tokens))
        tokens.insert(at, tokens[at] * rng.choice((1, 1, 2, 50)))
    return b"".join(tokens)


def splice_statements(rng: random.Random, data: bytes, donors: Sequence[bytes]) -> bytes:
    """Statements of another corpus file, inserted between this file's statements; or this
    file's statements reordered, duplicated or dropped."""
    statements = _statements(data)
    choice = rng.random()
    if choice < 0.5 and donors:
        donor = _statements(rng.choice(donors))
        for _ in range(rng.randint(1, 4) if donor else 0):
            statements.insert(rng.randint(0, len(statements)), rng.choice(donor))
    elif statements and choice < 0.7:
        statements.insert(rng.randint(0, len(statements)), rng.choice(statements))
    elif statements and choice < 0.85:
        del statements[rng.randrange(len(statements))]
    else:
        rng.shuffle(statements)
    return b"\n".join(statements)


def collide_identifiers(rng: random.Random, data: bytes, donors: Sequence[bytes]) -> bytes:
    """One name of the file replaced by another one of its names: two tables, columns or
    indexes become one, references point at the wrong object."""
    words: list[bytes] = sorted(set(_WORD.findall(data)))
    if len(words) < 2:
        return data
    old, new = rng.sample(words, 2)
    pattern = re.compile(rb"\b" + re.escape(old) + rb"\b")
    if rng.random() < 0.5:
        return pattern.sub(new, data)
    found = list(pattern.finditer(data))
    hit = rng.choice(found)
    return data[: hit.start()] + new + data[hit.end() :]


def truncate(rng: random.Random, data: bytes, donors: Sequence[bytes]) -> bytes:
    return data[: rng.randint(0, len(data))]


def insert_nul(rng: random.Random, data: bytes, donors: Sequence[bytes]) -> bytes:
    for _ in range(rng.randint(1, 3)):
        at = rng.randint(0, len(data))
        data = data[:at] + b"\x00" * rng.choice((1, 1, 4)) + data[at:]
    return data


def open_quote(rng: random.Random, data: bytes, donors: Sequence[bytes]) -> bytes:
    at = rng.randint(0, len(data))
    return data[:at] + rng.choice(_OPENERS) + data[at:]


def psql_script(rng: random.Random, data: bytes, donors: Sequence[bytes]) -> bytes:
    lines = data.splitlines(keepends=True)
    for _ in range(rng.randint(1, 3)):
        lines.insert(rng.randint(0, len(lines)), rng.choice(_PSQL))
    return b"".join(lines)


def deep_expression(rng: random.Random, data: bytes, donors: Sequence[bytes]) -> bytes:
    terms = rng.choice((300, 600, 1_200, 3_000))
    operator = rng.choice((b" || ", b" + ", b" AND ", b" - "))
    nested = b"(" * (terms // 3) + b"1" + b")" * (terms // 3)
    chain = operator.join([b"x"] * terms) if rng.random() < 0.7 else nested
    statement = rng.choice(
        (
            b"SELECT " + chain + b";\n",
            b"CREATE TABLE deep (x int DEFAULT (" + chain + b"));\n",
            b"ALTER TABLE deep ADD CONSTRAINT c CHECK (" + chain + b" IS NOT NULL);\n",
        )
    )
    lines = data.splitlines(keepends=True)
    lines.insert(rng.randint(0, len(lines)), statement)
    return b"".join(lines)


def odd_encoding(rng: random.Random, data: bytes, donors: Sequence[bytes]) -> bytes:
    choice = rng.random()
    if choice < 0.25:
        return b"\xef\xbb\xbf" + data  # a BOM
    if choice < 0.5:
        return data.replace(b"\n", b"\r\n")
    if choice < 0.75:
        return data.decode("utf-8", "replace").encode("utf-16")
    at = rng.randint(0, len(data))
    return data[:at] + rng.choice(("é", "🎉", "\u202e", "\x1b[31m", "\r")).encode() + data[at:]


MUTATIONS: dict[str, Callable[[random.Random, bytes, Sequence[bytes]], bytes]] = {
    "flip_bits": flip_bits,
    "delete_tokens": delete_tokens,
    "duplicate_tokens": duplicate_tokens,
    "splice_statements": splice_statements,
    "collide_identifiers": collide_identifiers,
    "truncate": truncate,
    "insert_nul": insert_nul,
    "open_quote": open_quote,
    "psql_script": psql_script,
    "deep_expression": deep_expression,
    "odd_encoding": odd_encoding,
}
# Deep expressions cost the most to lint: rarer.
_WEIGHTS = [1.0 if name != "deep_expression" else 0.15 for name in MUTATIONS]


class Fuzzer:
    def __init__(self, seed: int, projects: list[list[tuple[str, bytes]]]) -> None:
        self.seed = seed
        self.projects = [p for p in projects if p]
        self.donors = [data for project in self.projects for _, data in project]

    def case(self, index: int) -> Case:
        rng = random.Random(f"schema-review-fuzz:{self.seed}:{index}")
        project = rng.choice(self.projects)
        size = rng.randint(1, min(3, len(project)))
        start = rng.randint(0, len(project) - size)
        files = project[start : start + size]
        done: list[str] = []
        for _ in range(rng.choice((1, 1, 2, 3))):
            target = rng.randrange(len(files))
            name = rng.choices(list(MUTATIONS), _WEIGHTS)[0]
            path, data = files[target]
            files[target] = (path, MUTATIONS[name](rng, data, self.donors))
            done.append(f"{name}({path})")
        return Case(self.seed, index, tuple(files), tuple(done))


# -- running cases --------------------------------------------------------------------------


class Timeout(Exception):
    """A batch took longer than its budget: a hang or a blow-up."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise Timeout in the code below after `seconds` (where a timer signal exists)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise Timeout(f"over {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def render_all(run: LintRun) -> list[str]:
    """Every output of a run; the machine formats must parse."""
    fail_on = "high"
    outputs = [
        render_text(run, fail_on, color=False),
        render_text(run, fail_on, color=True),
        render_github(run, fail_on),
    ]
    for render in (render_json, render_sarif):
        outputs.append(render(run, fail_on))
        json.loads(outputs[-1])
    outputs.append(render_gitlab(run))
    json.loads(outputs[-1])
    outputs.append(render_junit(run, fail_on))
    ElementTree.fromstring(outputs[-1])
    report = build_report(run, fail_on, "fuzz", "2026-01-01", ())
    for template in ("review", "pr-comment", "summary"):
        outputs.append(render_report(report, template))
    return outputs


# Findings that say schema-review itself failed: a statement handler or a rule raised, or a
# built-in rule went over the sandbox's limits (time, size, recursion) on this input.
_FAILURES = frozenset(("internal-error", "rule-stopped"))


def internal_errors(run: LintRun) -> list[str]:
    """Findings that say schema-review itself failed, also inside the parser."""
    return [
        f"{f.file}:{f.line}:{f.column}: [{f.rule}] {f.message}"
        for f in run.result.findings
        if f.rule in _FAILURES or f.message.startswith("internal error")
    ]


def check(folders: Sequence[Path], budget: float) -> str:
    """Lint and render `folders` (one history each): '' when all is well, else what failed."""
    try:
        with deadline(budget):
            # A mutated file name may leave a folder without migrations: still a pipeline run.
            run = lint(list(folders), Settings(select=("all",), allow_empty=True))
            render_all(run)
    except Exception:
        return traceback.format_exc()
    return "\n".join(internal_errors(run))


def run_cases(
    fuzzer: Fuzzer,
    indexes: Sequence[int],
    scratch: Path,
    out: Path,
    batch: int = 8,
    budget: float = 120.0,
    progress: Callable[[int], None] | None = None,
) -> Result:
    """Run the cases in batches; narrow a failing batch down to its cases and write each
    failing case to `out/<case name>/` (its files and FAILURE.txt)."""
    result = Result()
    started = time.perf_counter()
    for first in range(0, len(indexes), batch):
        cases = [fuzzer.case(i) for i in indexes[first : first + batch]]
        folders = [case.write(scratch) for case in cases]
        try:
            if check(folders, budget * len(cases)):
                for case, folder in zip(cases, folders, strict=True):
                    what = check([folder], budget)
                    if what:
                        result.failures.append(Failure(case, what, save(case, what, out)))
        finally:
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)
        result.cases += len(cases)
        if progress is not None:
            progress(result.cases)
    result.seconds = time.perf_counter() - started
    return result


def save(case: Case, what: str, out: Path) -> Path:
    """The reproducer: the case's files and FAILURE.txt saying what failed and how to rerun."""
    shutil.rmtree(out / case.name, ignore_errors=True)
    folder = case.write(out)
    (folder / "FAILURE.txt").write_text(
        f"{what}\n\nmutations: {', '.join(case.mutations)}\n"
        f"replay: .venv/bin/python bench/fuzz.py --seed {case.seed} --case {case.index}\n"
        f"lint:   .venv/bin/schema-review lint {folder} --select all --no-cache\n",
        encoding="utf-8",
    )
    return folder
