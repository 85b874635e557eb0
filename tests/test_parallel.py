"""`lint --jobs N`: the files parsed ahead by other processes and the rules shared among
processes give the same output, byte for byte, as one process; a worker's failure costs
time, never findings; no process or file descriptor is left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from schema_review import pipeline, workers
from schema_review.cli import main as cli
from schema_review.config import Settings
from schema_review.model import objects
from schema_review.parse import SourceFile, parse_many, postgres
from schema_review.pipeline import (
    lint,
    select_rules,
)
from schema_review.rules import Hit, load_rules
from schema_review.rules.engine import PackedHits, evaluate_packed
from tests.helpers import CORPUS, REPO, example_evaluations, write_migrations
from tests.test_corpus import corpus_projects

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="workers are forked")

# The sizes from which a worker parses ahead, before the fixture below lowers them.
PARSE_AHEAD_FROM = (postgres._PARALLEL_FROM, postgres._PARALLEL_FILE_SIZE)


@pytest.fixture(autouse=True)
def _always_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    """Share the work whatever the size of the run (the examples are small)."""
    monkeypatch.setattr(pipeline, "SHARED_RULES_FROM", 0)
    monkeypatch.setattr(postgres, "_PARALLEL_FROM", 2)
    monkeypatch.setattr(postgres, "_PARALLEL_FILE_SIZE", 0)
    monkeypatch.setenv("SCHEMA_REVIEW_NO_CACHE", "1")  # parsed, not taken from the cache


def _children() -> list[int]:
    """This process's child processes (Linux's /proc; elsewhere none are seen), zombies
    (exited, never waited for) included."""
    mine = str(os.getpid())
    children: list[int] = []
    if not Path("/proc").is_dir():
        return children
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[1] == mine:
                children.append(int(entry.name))
    return sorted(children)


def _descriptors() -> int:
    return len(os.listdir("/proc/self/fd")) if Path("/proc/self/fd").is_dir() else 0


def _lint_examples(*options: str) -> str:
    before = Path.cwd()
    os.chdir(REPO)
    try:
        result = CliRunner().invoke(
            cli,
            ["lint", "examples", "--select", "all", "--format", "json", "--no-cache", *options],
        )
    finally:
        os.chdir(before)
    assert result.exit_code in (0, 1), result.output
    return result.output


def test_examples_on_several_processes_as_on_one() -> None:
    """Six histories (PostgreSQL, MySQL, SQLite): parsed ahead and their rules shared by
    two and three processes, the same JSON; every worker waited for, no pipe left open."""
    before, descriptors = _children(), _descriptors()  # the suite's own (a database server)
    workers.STATS.clear()
    alone = _lint_examples("-j", "1")
    assert '"rule"' in alone
    assert not workers.STATS  # one process: nothing forked
    assert _lint_examples("-j", "2") == alone
    kinds = {s.kind for s in workers.STATS if s.workers}
    assert kinds == {"ahead", "share"}  # both ways did run in workers
    assert _lint_examples("-j", "3") == alone
    assert _children() == before
    assert _descriptors() == descriptors


@pytest.mark.skipif(not (CORPUS / "files.tsv").is_file(), reason="../shared/corpus not here")
def test_corpus_on_two_processes_as_on_one() -> None:
    """One long history (the corpus's 1,551 PostgreSQL files named one by one), as the
    command line runs it, at its own size thresholds: the same JSON."""
    files = [str(f) for project in corpus_projects().values() for f in project]
    assert len(files) > 1000
    outputs = []
    for jobs in ("1", "2"):
        command = [sys.executable, "-m", "schema_review", "lint", "--no-cache", "-j", jobs]
        command += ["--select", "all", "--format", "json", "--fail-on", "none", *files]
        done = subprocess.run(command, capture_output=True, cwd=REPO, check=False, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert not done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[0].count(b'"fingerprint"') > 5000


def test_real_folders_on_two_processes_as_on_one(tmp_path: Path) -> None:
    """Folders of migrations (a monorepo's histories), several of them long enough to be
    parsed ahead: the same findings, in the same order, with the same fingerprints."""
    paths = []
    for app in range(3):
        files = []
        for number in range(12):
            sql = (
                f"CREATE TABLE t{number} (id int PRIMARY KEY, note text);\n"
                f"ALTER TABLE t{number} ADD COLUMN owner int REFERENCES t0 (id);\n"
                f"CREATE INDEX ON t{number} (note);\n"
                f"ALTER TABLE t{number} ALTER COLUMN note SET NOT NULL;\n"
            )
            files.append((f"{number + 1:04d}_step.sql", sql))
        paths.append(write_migrations(tmp_path / f"app{app}" / "migrations", files))
    runs = [lint(paths, Settings(select=("all",), jobs=jobs)) for jobs in (1, 2)]
    assert runs[0].result == runs[1].result
    assert [f.fingerprint for f in runs[0].result.findings] == [
        f.fingerprint for f in runs[1].result.findings
    ]
    assert runs[0].statement_count == runs[1].statement_count == 3 * 12 * 4
    assert len(runs[0].result.findings) > 50


def test_an_internal_error_in_one_history_is_reported_and_the_others_go_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A built-in rule failing on one table (a bug of ours) is an internal-error finding
    there, as on one process, and every other finding is still given."""
    real = objects.Table.naming_violations

    def failing(self: objects.Table, options: dict[str, object]) -> list[str]:
        if self.name == "users":
            raise ValueError("injected failure")
        return real(self, options)

    monkeypatch.setattr(objects.Table, "naming_violations", failing)
    alone = _lint_examples("-j", "1")
    assert "rule naming-convention failed: ValueError: injected failure" in alone
    assert _lint_examples("-j", "2") == alone


def test_workers_that_die_cost_nothing_but_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every worker exits at once, sending nothing: this process does all the work, and
    waits for each (no zombie left)."""
    alone = _lint_examples("-j", "1")

    def dies(*args: object) -> None:
        os._exit(3)

    monkeypatch.setattr(workers._Shared, "_work", dies)
    monkeypatch.setattr(workers, "_work_ahead", dies)
    before = _children()
    assert _lint_examples("-j", "2") == alone
    assert _children() == before


def test_a_parse_worker_that_dies_midway_leaves_the_rest_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker parsing ahead dies after some files: the files it sent are used, the
    others parsed here, in order."""
    parent = os.getpid()
    real = postgres._whole_file_json
    texts = [f"CREATE TABLE t{i} (id int);\nALTER TABLE t{i} ADD COLUMN c int;" for i in range(40)]
    sources = [SourceFile(f"{i}.sql", text) for i, text in enumerate(texts)]
    alone = [([s.kind for s in st], [p.message for p in pr]) for st, pr in parse_many(sources)]
    died: list[str] = []

    def dies_at_file_20(text: str) -> str | None:
        if os.getpid() != parent and "t20 " in text:
            os._exit(3)
        if "t20 " in text:
            died.append(text)  # this process parses it: the worker died there
        return real(text)

    monkeypatch.setattr(postgres, "_whole_file_json", dies_at_file_20)
    before = _children()
    workers.STATS.clear()
    shared = parse_many(sources, jobs=2)
    assert [([s.kind for s in st], [p.message for p in pr]) for st, pr in shared] == alone
    assert [s.source for st, _ in shared for s in st] == [s for s in sources for _ in range(2)]
    assert workers.STATS[-1].kind == "ahead" and len(workers.STATS[-1].workers) == 1
    assert died  # the worker did die at file 20
    assert _children() == before


def test_a_parser_failure_parsed_ahead_is_that_files_problem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The parser fails on a file (not a syntax error: a failure of its own) while a worker
    parses ahead: that file gets the internal-error problem it gets in one process, and the
    other files are parsed; the run goes on."""
    real = postgres.pg_parser.parse_sql_json

    def fails_on_file_20(text: str) -> str:
        if "t20 " in text:
            raise ValueError("injected failure")
        return str(real(text))

    monkeypatch.setattr(postgres.pg_parser, "parse_sql_json", fails_on_file_20)
    texts = [f"CREATE TABLE t{i} (id int);" for i in range(70)]
    sources = [SourceFile(f"{i}.sql", text) for i, text in enumerate(texts)]

    def described(parsed: list[Any]) -> list[Any]:
        return [([s.kind for s in st], [p.message for p in pr]) for st, pr in parsed]

    alone = described(parse_many(sources))
    assert alone[20] == ([], ["internal error while parsing: ValueError: injected failure"])
    assert described(parse_many(sources, jobs=2)) == alone


def test_small_files_are_parsed_here_and_larger_ones_ahead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the sizes a run uses: as many files as it takes, but small ones (the corpus's
    average is 1 KB), are parsed in this process; files of the average size it takes go to
    a worker. The same parse either way."""
    files, size = PARSE_AHEAD_FROM
    monkeypatch.setattr(postgres, "_PARALLEL_FROM", files)
    monkeypatch.setattr(postgres, "_PARALLEL_FILE_SIZE", size)
    for padding, forked in ((size // 4, False), (size, True)):
        texts = [f"-- {'x' * padding}\nCREATE TABLE t{i} (id int);" for i in range(files)]
        sources = [SourceFile(f"{i}.sql", text) for i, text in enumerate(texts)]
        workers.STATS.clear()
        shared = parse_many(sources, jobs=2)
        assert [s.kind for s in workers.STATS] == (["ahead"] if forked else [])
        assert [[s.kind for s in st] for st, _ in shared] == [["CreateStmt"]] * files


def test_deep_parse_in_worker_processes() -> None:
    """A parse nested too deeply to send is parsed here."""
    chain = " || ".join(f"'p{i}'" for i in range(3_000))
    texts = [f"SELECT {i};" for i in range(70)] + [f"SELECT {chain};"]
    sources = [SourceFile(f"{i}.sql", text) for i, text in enumerate(texts)]
    parsed = parse_many(sources, jobs=2)
    assert [len(statements) for statements, _ in parsed] == [1] * 71
    assert not [problem for _, problems in parsed for problem in problems]


def test_a_caller_that_stops_early_leaves_no_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay stops (an error) after the first file: the worker parsing ahead is killed
    and waited for, its pipe closed."""
    texts = [f"CREATE TABLE t{i} (id int);" for i in range(300)]
    sources = [SourceFile(f"{i}.sql", text) for i, text in enumerate(texts)]
    before, descriptors = _children(), _descriptors()
    parsing = postgres.parse_each(sources, jobs=2)
    next(parsing)
    time.sleep(0.05)  # the worker is parsing ahead, or waiting on the full pipe
    assert len(_children()) == len(before) + 1
    parsing.close()
    assert _children() == before
    assert _descriptors() == descriptors


def test_no_process_to_fork_leaves_the_work_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """fork fails (a process limit): this process does everything, no pipe left open."""
    alone = _lint_examples("-j", "1")

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    descriptors = _descriptors()
    assert _lint_examples("-j", "3") == alone
    assert _descriptors() == descriptors


def test_no_fork_at_all_is_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """A system without fork (Windows): --jobs changes nothing."""
    alone = _lint_examples("-j", "1")
    monkeypatch.delattr(os, "fork")
    workers.STATS.clear()
    assert _lint_examples("-j", "2") == alone
    assert not workers.STATS


def test_a_hit_a_worker_cannot_send_is_found_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """A part whose hits a worker cannot name as data is evaluated by the parent."""
    alone = _lint_examples("-j", "1")

    def cannot(self: object, hit: object) -> None:
        raise KeyError("not sent")

    monkeypatch.setattr(pipeline._HitEncoder, "__call__", cannot)
    assert _lint_examples("-j", "2") == alone


def test_a_part_whose_result_does_not_pickle_is_done_here() -> None:
    """A worker sends each part's result on its own: a part whose result does not pickle is
    done by this process, the worker's other parts are taken as it sent them."""
    parent = os.getpid()
    done_here: list[int] = []

    def do(part: int) -> list[Any]:
        if os.getpid() == parent:
            done_here.append(part)
            time.sleep(0.02)  # the worker takes parts too
            return [part] * 1_000
        if part % 2:
            return [b"x" * 100_000, lambda: part]  # does not pickle
        return [part] * 1_000

    before = _children()
    assert workers.share(20, 2, do) == [[part] * 1_000 for part in range(20)]
    assert _children() == before
    assert {part for part in range(20) if part % 2} <= set(done_here)
    assert len(done_here) < 20  # the worker's even parts came from it


def test_a_broken_team_rule_fails_the_run_as_on_one_process(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- id: broken-rule\n"
        "  title: Broken\n"
        "  severity: warning\n"
        "  category: naming\n"
        "  target: table\n"
        "  when: table.no_such_attribute == 1\n"
        "  message: never\n"
        "  why: a test\n"
        "  examples:\n"
        "    bad: CREATE TABLE t (id int);\n"
        "    good: CREATE TABLE u (id int);\n",
        encoding="utf-8",
    )
    folder = write_migrations(
        tmp_path / "migrations",
        [("0001_a.sql", "CREATE TABLE a (id int PRIMARY KEY);\nCREATE TABLE b (id int);\n")],
    )
    errors = []
    before = _children()
    for jobs in (1, 2):
        settings = Settings(select=("all",), rule_files=(rules,), jobs=jobs)
        with pytest.raises(Exception) as raised:
            lint([folder], settings)
        errors.append((type(raised.value), str(raised.value)))
    assert errors[0] == errors[1]
    assert "broken-rule" in errors[0][1]
    assert _children() == before


def test_more_histories_than_tokens(tmp_path: Path) -> None:
    """300 histories (more parts than one-byte tokens can name one by one): in order."""
    paths = []
    for number in range(300):
        folder = tmp_path / f"app{number:03d}" / "migrations"
        sql = f"CREATE TABLE t{number} (id int, note text);\nCREATE INDEX ON t{number} (id);\n"
        paths.append(write_migrations(folder, [("0001_init.sql", sql)]))
    runs = [lint(paths, Settings(select=("all",), jobs=jobs)) for jobs in (1, 2)]
    assert runs[0].result == runs[1].result
    assert len(runs[0].result.findings) > 300


def test_hits_come_back_in_the_order_of_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not only the findings (they are sorted): the hits themselves, one by one, in order,
    with the same rule, file, statement and text, the workers' sent back as data."""
    settings = Settings(select=("all",))
    rules = [r for r in select_rules(load_rules(()), settings) if r.target != "server"]
    work = example_evaluations(settings)
    assert len(work) > 3

    def described(hits: list[Hit]) -> list[tuple[object, ...]]:
        return [
            (h.rule, h.source, h.start, h.end, h.object, h.message, h.fix, h.statement)
            for h in hits
        ]

    alone = described([hit for w in work for hit in w.hits(rules)])
    assert len(alone) > 100
    # This process slowed down: the workers take most parts, and send their hits back.
    parent = os.getpid()
    received = workers._received
    sent: list[int] = []

    def slow(*args: Any, **keywords: Any) -> PackedHits:
        if os.getpid() == parent:
            time.sleep(0.05)
        return evaluate_packed(*args, **keywords)

    def counted(pipe: int) -> Iterator[tuple[int, Any]]:
        data = list(received(pipe))
        sent.append(len(data))
        return iter(data)

    monkeypatch.setattr(pipeline, "evaluate_packed", slow)
    monkeypatch.setattr(workers, "_received", counted)
    for jobs in (2, 3):
        assert described(pipeline.evaluate_shared(rules, work, jobs)) == alone
    assert sum(sent) > 10


def test_the_default_is_one_process_per_cpu_up_to_four(monkeypatch: pytest.MonkeyPatch) -> None:
    from schema_review import cli as cli_module

    monkeypatch.setattr(workers, "usable_cpus", lambda: 8)
    assert cli_module._jobs(None) == 4
    assert cli_module._jobs(0) == 8
    assert cli_module._jobs(1) == 1
    assert cli_module._jobs(3) == 3
    monkeypatch.setattr(workers, "usable_cpus", lambda: 1)
    assert cli_module._jobs(None) == 1  # one CPU: nothing forked
    assert 1 <= workers.usable_cpus() <= (os.cpu_count() or 1)


def test_the_default_forks_only_on_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    from schema_review import cli as cli_module

    monkeypatch.setattr(workers, "usable_cpus", lambda: 8)
    monkeypatch.setattr(sys, "platform", "darwin")
    assert cli_module._jobs(None) == 1  # macOS: one process unless asked
    assert cli_module._jobs(2) == 2
    monkeypatch.setattr(sys, "platform", "linux")
    assert cli_module._jobs(None) == 4
