"""Benchmark schema-review against squawk-cli (and safemigrate-lint) in the same run.

    python bench/run.py                      # everything (about 15-25 minutes), one table
    python bench/run.py --only corpus --only startup
    python bench/run.py --only 100k --shape files --command lint --json
    python bench/run.py --skip-peers         # our own figures only

Workloads:
- corpus: every PostgreSQL migration of ../shared/corpus (files.tsv dialect `postgres`, without the
  postgres-regress torture tests), in one invocation, as a CI gate would lint a repository:
  cold (`--no-cache`), unchanged (the result cache answers), changed (parse and rule caches warm,
  the work redone), and cold on two processes (`-j2`);
- startup: one small migration file, as a pre-commit hook lints it, against `python -c pass`;
- 1k, 10k, 100k, 200k: generated histories of that many DDL statements (bench/generated/,
  git-ignored), as one file and as a folder of numbered files of 50 statements each, run through
  `lint` and `report` with no cache: growth must be linear, and memory is measured.

Each command runs `--repeat` times after one warm-up run (100k at most 3 times and with no
warm-up, 200k once), in rounds of one run of every command of a workload; the median is reported.
10k and 100k, whose medians give the growth, are timed in the same rounds (100k's runs spread
among 10k's), so a machine that speeds up or slows down over the minutes falls on both.
Every figure is taken from the operating system's accounting of the child process (`os.wait4`): CPU
time (user + system, including the processes it started and waited for), wall time, and peak
resident memory (on Linux at least that of the benchmark's own process, about 17 MB, which the child
starts as). On a shared machine the wall time measures the neighbours as much as the command; CPU
time much less, so the ratios against peers (timed in the same run) are computed on CPU time.
`--before CHECKOUT` times another checkout (say `git worktree add /tmp/base main`) beside this one
on the corpus and startup workloads. Only the standard library is used: the benchmark must not
change what it measures."""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import venv
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CORPUS = REPO.parent / "shared" / "corpus"
GENERATED = BENCH / "generated"
PEER_VENV = BENCH / ".venv"
PEERS = ("squawk-cli", "safemigrate-lint")
SIZES = {"1k": 1_000, "10k": 10_000, "100k": 100_000, "200k": 200_000}
WORKLOADS = ("corpus", "startup", *SIZES)
SHAPES = ("file", "files")  # one file; a folder of files of FILE_STATEMENTS statements
FILE_STATEMENTS = 50
COMMANDS = ("lint", "report")
# From this many statements a history runs without a warm-up run (minutes each), and above
# it once: 100k is timed as often as 10k, since the growth 10k -> 100k is read from the two.
LONG_HISTORY = 100_000
# A command's key in a set of commands timed together: its name, or (statements, name).
_Key = TypeVar("_Key", bound=Hashable)
# The sizes the growth is read from (timed in the same rounds).
GROWTH = ("10k", "100k")


def _runs(count: int, repeat: int) -> tuple[int, bool]:
    """Timed runs of a history of `count` statements, and whether a warm-up run comes first:
    the short runs are cheap, so they get the full count (a 10k run varies by a third between
    runs on a shared machine)."""
    if count > LONG_HISTORY:
        return 1, False
    if count == LONG_HISTORY:
        return min(repeat, 3), False
    return repeat, True


def _command_name(key: Hashable) -> str:
    return key[1] if isinstance(key, tuple) else str(key)


def _print_timing(workload: str, timing: Timing) -> None:
    note = f"  not measured: {timing.error}" if timing.error else ""
    print(
        f"  {workload}, {timing.name}: CPU {timing.cpu_median:.3f} s, wall "
        f"{timing.wall_median:.3f} s, {timing.peak_mb_max:.0f} MB{note}",
        file=sys.stderr,
    )


@dataclass
class Command:
    """One command line to time, with what its environment adds; `fresh_cache` gives each run
    an empty cache folder (a first run, for commands that have no --no-cache)."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    fresh_cache: bool = False


@dataclass
class Timing:
    name: str
    command: Command
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)
    returncode: int = 0
    error: str = ""
    instructions: int = 0  # --instructions: of one run, counted by valgrind

    @property
    def measured(self) -> bool:
        return bool(self.cpu) and not self.error

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall) if self.measured else float("nan")

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu) if self.measured else float("nan")

    @property
    def peak_mb_max(self) -> float:
        return max(self.peak_mb) if self.measured else float("nan")

    def as_json(self) -> dict[str, object]:
        return {
            "cpu_seconds": _round(self.cpu_median),
            "wall_seconds": _round(self.wall_median),
            "peak_mb": _round(self.peak_mb_max, 1),
            "cpu_runs": [_round(c) for c in self.cpu],
            "wall_runs": [_round(w) for w in self.wall],
            "exit": self.returncode,
            **({"instructions": self.instructions} if self.instructions else {}),
            **({"error": self.error} if self.error else {}),
        }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per command (median)")
    parser.add_argument("--only", choices=WORKLOADS, action="append", help="workload(s) to run")
    parser.add_argument(
        "--shape", choices=SHAPES, action="append", help="histories: one file, files of 50"
    )
    parser.add_argument(
        "--command", choices=COMMANDS, action="append", help="histories: lint, report"
    )
    parser.add_argument("--skip-peers", action="store_true", help="time schema-review only")
    parser.add_argument(
        "--peer",
        choices=("squawk", "safemigrate-lint"),
        action="append",
        help="peer(s) to time (default squawk; safemigrate-lint is quadratic on long histories)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--save", type=Path, metavar="FILE", help="also write the JSON here")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="startup and the corpus's cold runs: also count the instructions of one run of "
        "each command (valgrind): "
        "a figure the neighbours' load does not move",
    )
    parser.add_argument(
        "--before",
        type=Path,
        metavar="CHECKOUT",
        help="also time this checkout of schema-review (corpus and startup), as `(before)`",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds before a run is given up (per run)"
    )
    args = parser.parse_args(argv)
    workloads = args.only or list(WORKLOADS)
    shapes = args.shape or list(SHAPES)
    commands = args.command or list(COMMANDS)

    peers = {} if args.skip_peers else _peer_commands(args.peer or ["squawk"])
    load_before = os.getloadavg()
    started = time.time()
    results: dict[str, dict[str, Timing]] = {}
    with tempfile.TemporaryDirectory(prefix="schema-review-bench-") as scratch:
        bench = _Bench(Path(scratch), args.timeout, args.before)
        ours = _our_command()
        if "corpus" in workloads:
            results.update(bench.corpus(ours, peers, args.repeat))
        if "startup" in workloads:
            results.update(bench.startup(ours, peers, args.repeat * 2))
        # The growth 10k -> 100k divides two medians: the two sizes are timed in the same
        # rounds, so a machine that speeds up or slows down over the minutes falls on both.
        sizes = [size for size in SIZES if size in workloads]
        together = [size for size in sizes if size in GROWTH]
        groups = [[size] for size in sizes if size not in together]
        if together:
            groups.append(together)
        for group in sorted(groups, key=lambda g: SIZES[g[0]]):
            counts = [SIZES[size] for size in group]
            results.update(bench.history(ours, counts, shapes, commands, peers, args.repeat))
        # Counted once everything is timed: no count runs beside a timed command.
        if args.instructions and "corpus" in results:
            bench.count_instructions(results["corpus"], _CORPUS_COUNTED)
        if args.instructions and "startup" in results:
            bench.count_instructions(results["startup"])
    context = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "minutes": round((time.time() - started) / 60, 1),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "peers": {name: _version(command.argv) for name, command in peers.items()},
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    summary = _summary(results)
    out = {
        "context": context,
        "summary": summary,
        "timings": {
            workload: {name: t.as_json() for name, t in timings.items()}
            for workload, timings in results.items()
        },
    }
    if args.save:
        args.save.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(out, indent=2, sort_keys=True))
    else:
        print(_markdown(context, summary, results))
    return 0


class _Bench:
    def __init__(self, scratch: Path, timeout: float, before: Path | None) -> None:
        self.scratch = scratch
        self.timeout = timeout
        self.env = _timing_env(scratch / "cache")
        self.before = before

    def with_before(self, commands: dict[str, Command]) -> dict[str, Command]:
        """Our commands, and the same run by the `--before` checkout (its own cache)."""
        if self.before is None:
            return commands
        env = {
            "PYTHONPATH": str(self.before.resolve()),
            "SCHEMA_REVIEW_CACHE_DIR": str(self.scratch / "cache-before"),
        }
        before = {
            f"{name} (before)": Command(c.argv, {**c.env, **env}, c.fresh_cache)
            for name, c in commands.items()
        }
        return {**commands, **before}

    def corpus(
        self, ours: list[str], peers: dict[str, Command], repeat: int
    ) -> dict[str, dict[str, Timing]]:
        files = _corpus_files()
        if not files:
            print("corpus: ../shared/corpus/files.tsv not found, skipped", file=sys.stderr)
            return {}
        paths = [str(f) for f in files]
        lint = [*ours, "lint", *_LINT_OPTIONS]
        ours_only = {
            "cold": Command([*lint, "--no-cache", *paths]),
            # Nothing changed since the run before: the result cache answers (a re-run in CI).
            "unchanged": Command([*lint, *paths]),
            # Files changed: the work is redone with the parse and rule caches warm.
            "changed": Command([*lint, *paths], {"SCHEMA_REVIEW_NO_RESULT_CACHE": "1"}),
        }
        commands = {
            **self.with_before(ours_only),
            # `--jobs` given: one process, and two (the corpus stays below the sizes from which
            # a second process pays: see parse/postgres.py and pipeline.py).
            "cold -j1": Command([*lint, "--no-cache", "-j", "1", *paths]),
            "cold -j2": Command([*lint, "--no-cache", "-j", "2", *paths]),
            # The rules a CI gate runs when the configuration selects none: the acceptance
            # figure stays the heavier `--select all` above.
            "cold, default rules": Command([*ours, "lint", *_DEFAULT_RULES, "--no-cache", *paths]),
            **{name: Command([*c.argv, *paths]) for name, c in peers.items()},
        }
        return {"corpus": self.time_all("corpus", commands, repeat, warm_up=True)}

    def startup(
        self, ours: list[str], peers: dict[str, Command], repeat: int
    ) -> dict[str, dict[str, Timing]]:
        small = str(REPO / "examples" / "saas-app" / "migrations" / "0005_users_tenant.up.sql")
        lint = [*ours, "lint", *_LINT_OPTIONS]
        ours_only = {
            "cold": Command([*lint, "--no-cache", small]),
            # A hook runs because a file changed: no result to reuse, the other caches warm.
            "changed": Command([*lint, small], {"SCHEMA_REVIEW_NO_RESULT_CACHE": "1"}),
            "unchanged": Command([*lint, small]),
        }
        commands = {
            **self.with_before(ours_only),
            "python -c pass": Command([sys.executable, "-c", "pass"]),
            **{name: Command([*c.argv, small]) for name, c in peers.items()},
        }
        return {"startup": self.time_all("startup", commands, repeat, warm_up=True)}

    def history(
        self,
        ours: list[str],
        counts: Sequence[int],
        shapes: Sequence[str],
        commands: Sequence[str],
        peers: dict[str, Command],
        repeat: int,
    ) -> dict[str, dict[str, Timing]]:
        """The generated histories of `counts` statements, each shape's sizes timed in the same
        rounds (see `time_spread`); keyed "10k file" and so on."""
        results: dict[str, dict[str, Timing]] = {}
        size_names = {count: size for size, count in SIZES.items()}
        for shape in shapes:
            timed: dict[tuple[int, str], Command] = {}
            for count in counts:
                target = _generated(count, shape)
                files = sorted(str(p) for p in target.glob("*.sql")) if target.is_dir() else []
                if "lint" in commands:
                    lint = [*ours, "lint", *_LINT_OPTIONS, "--no-cache", str(target)]
                    timed[count, "lint"] = Command(lint)
                if "report" in commands:
                    # `report` has no --no-cache: an empty cache folder for each run is a first
                    # run.
                    report = [*ours, "report", "--select", "all", "--fail-on", "none", str(target)]
                    timed[count, "report"] = Command(report, fresh_cache=True)
                for name, c in peers.items():
                    timed[count, name] = Command([*c.argv, *(files or [str(target)])])
            runs = {key: _runs(key[0], repeat) for key in timed}
            for (count, name), timing in self.time_spread(timed, runs).items():
                results.setdefault(f"{size_names[count]} {shape}", {})[name] = timing
                _print_timing(f"{count:,} statements, {shape}", timing)
        return results

    def time_all(
        self, workload: str, commands: dict[str, Command], repeat: int, warm_up: bool
    ) -> dict[str, Timing]:
        """Each command `repeat` times (after a warm-up round), in rounds of one run of every
        command: a neighbour's load that comes and goes falls on all of them alike."""
        runs = {name: (repeat, warm_up) for name in commands}
        timings = self.time_spread(commands, runs)
        for timing in timings.values():
            _print_timing(workload, timing)
        return timings

    def time_spread(
        self, commands: dict[_Key, Command], runs: dict[_Key, tuple[int, bool]]
    ) -> dict[_Key, Timing]:
        """Each command timed as often as `runs` says (timed runs, and whether a warm-up run
        comes first), in rounds: a command with fewer runs than there are rounds runs in
        rounds spread evenly among them (100k in every other round of 10k's), so the
        machine's drift over the minutes falls on all commands alike."""
        timings = {key: Timing(_command_name(key), command) for key, command in commands.items()}
        total = {key: timed + warm for key, (timed, warm) in runs.items()}
        rounds = max(total.values(), default=0)
        done = dict.fromkeys(commands, 0)
        for run in range(rounds):
            for key, timing in timings.items():
                n = total[key]
                if (run + 1) * n // rounds > run * n // rounds and not timing.error:
                    warm_up = runs[key][1]
                    self.run(timing, record=done[key] > 0 or not warm_up)
                    done[key] += 1
        return timings

    def count_instructions(
        self, timings: dict[str, Timing], names: Sequence[str] | None = None
    ) -> None:
        """Instructions executed by one run of each command (or of those `names`), counted
        by valgrind's callgrind: the work done in user space, whatever the load; not the
        kernel's work of starting a process or faulting its pages in."""
        valgrind = shutil.which("valgrind")
        if valgrind is None:
            print("--instructions: valgrind not found, skipped", file=sys.stderr)
            return
        for name, timing in timings.items():
            if names is not None and name not in names:
                continue
            command = timing.command
            with tempfile.TemporaryDirectory(dir=self.scratch) as out:
                argv = [valgrind, "--tool=callgrind", f"--callgrind-out-file={out}/cg", "-q"]
                completed = subprocess.run(
                    [*argv, *command.argv],
                    env={**self.env, **command.env},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=self.timeout,
                    check=False,
                )
                # Line by line: a corpus run's profile is megabytes, and what this process
                # holds is the floor of every later child's peak memory (README: peak memory).
                with open(Path(out, "cg")) as profile:
                    for line in profile:
                        if line.startswith("summary:") and completed.returncode in (0, 1):
                            timing.instructions = int(line.split()[1])
            print(f"  instructions, {timing.name}: {timing.instructions:,}", file=sys.stderr)

    def run(self, timing: Timing, record: bool) -> None:
        command = timing.command
        env = {**self.env, **command.env}
        fresh = None
        if command.fresh_cache:
            fresh = Path(tempfile.mkdtemp(dir=self.scratch, prefix="cache-"))
            env["SCHEMA_REVIEW_CACHE_DIR"] = str(fresh)
        outcome = _run_once(command.argv, env, self.timeout)
        if fresh is not None:
            shutil.rmtree(fresh, ignore_errors=True)
        timing.returncode = outcome.returncode
        if outcome.error:
            timing.error = outcome.error
        elif record:  # a warm-up run fills the file system, bytecode and tool caches
            timing.wall.append(outcome.wall)
            timing.cpu.append(outcome.cpu)
            timing.peak_mb.append(outcome.peak_mb)


# Findings as JSON, the exit code not a failure, the rules on by default (a CI gate's run).
_DEFAULT_RULES = ["--format", "json", "--fail-on", "none"]
# The same with every rule on: the most work lint does.
_LINT_OPTIONS = [*_DEFAULT_RULES, "--select", "all"]
# The corpus runs whose instructions --instructions counts (a minute each under valgrind).
_CORPUS_COUNTED = ("cold", "cold (before)", "cold, default rules", "squawk")


@dataclass
class _Outcome:
    wall: float
    cpu: float
    peak_mb: float
    returncode: int
    error: str


def _run_once(argv: list[str], env: dict[str, str], timeout: float) -> _Outcome:
    """One run: the child's own CPU time and peak memory, from wait4 (not the benchmark's)."""
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        # A session of its own: a timeout stops the command and the processes it started.
        process = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
        )
        expired = threading.Event()

        def stop() -> None:
            expired.set()
            os.killpg(process.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, stop)
        timer.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        timer.cancel()
        returncode = process.returncode = os.waitstatus_to_exitcode(status)
        error = ""
        if expired.is_set():
            error = f"gave up after {timeout:.0f} s"
        elif returncode not in (0, 1):
            # Linters exit 1 when they find something; anything else is a failure to report.
            stderr.seek(0)
            text = stderr.read().decode("utf-8", "replace").strip()
            error = f"exit {returncode}: {text[-300:]}"
    return _Outcome(
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        peak_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
        returncode=returncode,
        error=error,
    )


def _our_command() -> list[str]:
    script = Path(sys.executable).parent / "schema-review"
    if not script.exists():
        script = REPO / ".venv" / "bin" / "schema-review"
    if not script.exists():
        sys.exit("schema-review is not installed: run `pip install -e .` first (see README)")
    return [str(script)]


def _peer_commands(names: Sequence[str]) -> dict[str, Command]:
    """The peers' command lines; installs them into bench/.venv from the package index once."""
    bin_dir = PEER_VENV / "bin"
    if not (bin_dir / "squawk").exists() or not (bin_dir / "safemigrate-lint").exists():
        print("installing peers into bench/.venv ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(PEER_VENV)
        subprocess.run(
            [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", *PEERS], check=True
        )
    peers = {"squawk": Command([str(bin_dir / "squawk"), "--reporter", "json"])}
    if (bin_dir / "safemigrate-lint").exists():
        peers["safemigrate-lint"] = Command([str(bin_dir / "safemigrate-lint")])
    return {name: command for name, command in peers.items() if name in names}


def _version(argv: list[str]) -> str:
    program = Path(argv[0])
    try:
        completed = subprocess.run(
            [str(program), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return "?"
    return completed.stdout.strip() or completed.stderr.strip()


def _timing_env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    # Users' Python writes bytecode caches; an environment that forbids it would time compiles.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("SCHEMA_REVIEW_NO_CACHE", None)
    env["NO_COLOR"] = "1"
    # The checkout is what is measured, also when the installed script is another copy's.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    # The benchmark's own cache, so a user's cache neither helps nor suffers.
    env["SCHEMA_REVIEW_CACHE_DIR"] = str(cache)
    return env


def _corpus_files() -> list[Path]:
    listing = CORPUS / "files.tsv"
    if not listing.exists():
        return []
    with listing.open(encoding="utf-8") as handle:
        return [
            CORPUS / row["project"] / row["path"]
            for row in csv.DictReader(handle, delimiter="\t")
            if row["dialect"] == "postgres" and row["project"] != "postgres-regress"
        ]


# One block of typical migration DDL; a history repeats it with fresh names.
_BLOCK = (
    """\
CREATE TABLE t{n} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id bigint NOT NULL REFERENCES t{prev} (id),
    status text NOT NULL DEFAULT 'new',
    created_at timestamp NOT NULL DEFAULT now()
);
""",
    "CREATE INDEX t{n}_status_idx ON t{n} (status);\n",
    "ALTER TABLE t{n} ADD COLUMN note text;\n",
    "ALTER TABLE t{n} ADD CONSTRAINT t{n}_status_check CHECK (status IN ('new', 'done'));\n",
    "COMMENT ON TABLE t{n} IS 'generated table {n}';\n",
)


def _statements(count: int) -> list[str]:
    statements = ["CREATE TABLE t0 (id bigint PRIMARY KEY);\n"]
    for n in range(1, (count - 1) // len(_BLOCK) + 1):
        statements.extend(s.format(n=n, prev=n - 1) for s in _BLOCK)
    statements.extend("SELECT 1;\n" for _ in range(count - len(statements)))
    return statements


def _generated(count: int, shape: str) -> Path:
    """The history of `count` statements: one file, or a folder of numbered files of 50."""
    GENERATED.mkdir(exist_ok=True)
    if shape == "file":
        path = GENERATED / f"{count}_statements.sql"
        if not path.exists():
            path.write_text("".join(_statements(count)), encoding="utf-8")
        return path
    folder = GENERATED / f"{count}_statements_in_files_of_{FILE_STATEMENTS}"
    if not folder.exists():
        building = folder.with_name(folder.name + ".partial")
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir()
        statements = _statements(count)
        for number, start in enumerate(range(0, count, FILE_STATEMENTS), start=1):
            chunk = statements[start : start + FILE_STATEMENTS]
            (building / f"{number:05d}_generated.sql").write_text("".join(chunk), encoding="utf-8")
        building.rename(folder)
    return folder


# --- the summary and the table ------------------------------------------------------------------


def _round(value: float, digits: int = 3) -> float | None:
    return None if value != value else round(value, digits)  # NaN: not measured


def _ratio(ours: Timing | None, theirs: Timing | None) -> dict[str, float | None] | None:
    """Ours over theirs, in CPU time and wall time (medians)."""
    if ours is None or theirs is None or not ours.measured or not theirs.measured:
        return None
    return {
        "cpu": _round(ours.cpu_median / theirs.cpu_median, 2),
        "wall": _round(ours.wall_median / theirs.wall_median, 2),
    }


# (label, workload, ours, peer, goal)
_RATIOS = (
    ("corpus, cold (`--no-cache`) / squawk", "corpus", "cold", "squawk", "at most 2x"),
    ("corpus, unchanged (result cache) / squawk", "corpus", "unchanged", "squawk", "at most 0.5x"),
    ("corpus, changed (parse and rule caches) / squawk", "corpus", "changed", "squawk", ""),
    ("corpus, cold, one process (`-j1`) / squawk", "corpus", "cold -j1", "squawk", ""),
    ("corpus, cold, `-j2` / squawk", "corpus", "cold -j2", "squawk", ""),
    ("corpus, cold, default rules / squawk", "corpus", "cold, default rules", "squawk", ""),
    ("corpus, cold / safemigrate-lint", "corpus", "cold", "safemigrate-lint", ""),
    ("one file, cold / `python -c pass`", "startup", "cold", "python -c pass", "at most 10x"),
    ("one file, changed / `python -c pass`", "startup", "changed", "python -c pass", ""),
    ("one file, unchanged / `python -c pass`", "startup", "unchanged", "python -c pass", ""),
)
_GROWTH_GOAL = 11.0


def _summary(results: dict[str, dict[str, Timing]]) -> dict[str, object]:
    ratios = {}
    for label, workload, ours, peer, goal in _RATIOS:
        timings = results.get(workload, {})
        for suffix in ("", " (before)"):
            ratio = _ratio(timings.get(ours + suffix), timings.get(peer))
            if ratio is not None:
                mine, theirs = timings[ours + suffix], timings[peer]
                if mine.instructions and theirs.instructions:
                    ratio["instructions"] = round(mine.instructions / theirs.instructions, 2)
                ratios[label + suffix] = {**ratio, "goal": goal}
    growth = {}
    for shape in SHAPES:
        small, large = results.get(f"10k {shape}", {}), results.get(f"100k {shape}", {})
        for name in small:
            ratio = _ratio(large.get(name), small[name])
            if ratio is not None:
                growth[f"{name}, {shape}"] = ratio
    versus = {}
    for workload, timings in results.items():
        if workload[0].isdigit():
            size, shape = workload.split()
            where = f"{SIZES[size]:,}, {'one file' if shape == 'file' else 'files of 50'}"
            for name in COMMANDS:
                ratio = _ratio(timings.get(name), timings.get("squawk"))
                if ratio is not None:
                    versus[f"{name} / squawk, {where}"] = ratio
    return {"ratios": ratios, "growth_10k_to_100k": growth, "histories_vs_squawk": versus}


def _markdown(
    context: dict[str, object], summary: dict[str, object], results: dict[str, dict[str, Timing]]
) -> str:
    lines = [
        f"Run of {context['date']} ({context['minutes']} minutes), {context['cpus']} CPUs, "
        f"Python {context['python']}, peers {context['peers']}; load average (1, 5, 15 min) "
        f"{context['load_average_before']} before, {context['load_average_after']} after.",
    ]
    ratios = summary["ratios"]
    assert isinstance(ratios, dict)
    if ratios:
        lines += ["", "| ratio (CPU time; wall time in brackets) | value | goal |", "|---|---|---|"]
    for label, ratio in ratios.items():
        counted = ""
        if "instructions" in ratio:
            counted = f"; {ratio['instructions']:.2f}x in instructions"
        value = f"{ratio['cpu']:.2f}x ({ratio['wall']:.2f}x{counted})"
        lines.append(f"| {label} | {value} | {ratio['goal']} |")
    if "corpus" in results or "startup" in results:
        lines += ["", "| workload | command | CPU | wall | peak memory |", "|---|---|---|---|---|"]
    for workload in ("corpus", "startup"):
        for name, t in results.get(workload, {}).items():
            counted = f" ({t.instructions / 1e6:,.0f} M instructions)" if t.instructions else ""
            lines.append(f"| {workload} | {name}{counted} | {_cell(t)} |")
    sizes = [size for size in SIZES if any(w.startswith(f"{size} ") for w in results)]
    if sizes:
        lines += [
            "",
            "Histories (CPU time, wall time, peak memory; `report` and `lint` with every rule "
            f"and no cache; files of {FILE_STATEMENTS}: a folder of numbered files):",
            "",
            f"| command | {' | '.join(f'{int(SIZES[s]):,}' for s in sizes)} | 10k -> 100k (CPU) |",
            f"|---|{'---|' * len(sizes)}---|",
        ]
        growth = summary["growth_10k_to_100k"]
        assert isinstance(growth, dict)
        names = ["squawk", "safemigrate-lint", *COMMANDS]
        for shape in SHAPES:
            for name in names:
                cells = [results.get(f"{s} {shape}", {}).get(name) for s in sizes]
                if not any(cells):
                    continue
                shown = [_short(c) if c else "" for c in cells]
                ratio = growth.get(f"{name}, {shape}")
                grown = f"{ratio['cpu']:.1f}x" if ratio else ""
                label = f"{name}, {'one file' if shape == 'file' else 'files of 50'}"
                lines.append(f"| {label} | {' | '.join(shown)} | {grown} |")
        versus = summary["histories_vs_squawk"]
        assert isinstance(versus, dict)
        if versus:
            lines += ["", "| against squawk (CPU time) | ratio |", "|---|---|"]
            for label, ratio in versus.items():
                lines.append(f"| {label} | {ratio['cpu']:.2f}x |")
    return "\n".join(lines)


def _cell(t: Timing) -> str:
    if not t.measured:
        return f"not measured: {t.error} | | "
    return f"{t.cpu_median:.3f} s | {t.wall_median:.3f} s | {t.peak_mb_max:,.0f} MB"


def _short(t: Timing) -> str:
    if not t.measured:
        return f"not measured ({t.error})"
    return f"{t.cpu_median:.2f} s, {t.wall_median:.2f} s, {t.peak_mb_max:,.0f} MB"


if __name__ == "__main__":
    sys.exit(main())
