"""Benchmark `schema-review lint` against squawk-cli (and safemigrate-lint) in the same run.

    python bench/run.py                 # everything, peers installed into bench/.venv on first use
    python bench/run.py --skip-peers    # our own times only
    python bench/run.py --only corpus --json

Workloads:
- corpus: every PostgreSQL migration of ../shared/corpus (files.tsv dialect `postgres`, without the
  postgres-regress torture tests), in one invocation, as a CI gate would lint a repository:
  unchanged (the result cache answers), changed (parse and rule caches warm, the work redone),
  cold (`--no-cache`), and cold on two processes (`-j2`);
- 10k / 100k: generated single files of 10,000 and 100,000 DDL statements (bench/generated/,
  git-ignored), with no cache: growth must be linear;
- startup: one small migration file, as a pre-commit hook lints it, against `python -c pass`.

Each command runs `--repeat` times after one warm-up run; the median wall time is reported. Figures
are ratios against a peer timed in the same run, so machine speed cancels out. Only the standard
library is used: the benchmark must not change what it measures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import venv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CORPUS = REPO.parent / "shared" / "corpus"
GENERATED = BENCH / "generated"
PEER_VENV = BENCH / ".venv"
PEERS = ("squawk-cli", "safemigrate-lint")
WORKLOADS = ("corpus", "10k", "100k", "startup")
# Runs that must not answer from the result cache (the files "changed"): `env` sets it.
NO_RESULT_CACHE = ["env", "SCHEMA_REVIEW_NO_RESULT_CACHE=1"]


@dataclass
class Timing:
    name: str
    command: list[str]
    seconds: list[float] = field(default_factory=list)
    # CPU time (user + system) of each run: on a shared machine wall time measures the
    # neighbours as much as the command; CPU time much less.
    cpu: list[float] = field(default_factory=list)
    returncode: int = 0
    error: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu) if self.cpu else float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per command (median)")
    parser.add_argument("--only", choices=WORKLOADS, action="append", help="workload(s) to run")
    parser.add_argument("--skip-peers", action="store_true", help="time schema-review only")
    parser.add_argument(
        "--peer", choices=("squawk", "safemigrate-lint"), action="append", help="peer(s) to time"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds before a run is given up (per run)"
    )
    args = parser.parse_args(argv)
    workloads = args.only or list(WORKLOADS)

    ours = _our_command()
    peers = {} if args.skip_peers else _peer_commands()
    if args.peer:
        peers = {name: command for name, command in peers.items() if name in args.peer}
    env = _timing_env()
    results: dict[str, dict[str, Timing]] = {}

    if "corpus" in workloads:
        files = _corpus_files()
        if not files:
            print("corpus: ../shared/corpus/files.tsv not found, skipped", file=sys.stderr)
        else:
            commands = _commands(ours, peers, files)
            paths = [str(f) for f in files]
            # Three of ours: the plain run answers from the result cache (nothing changed since
            # the warm-up run, as a re-run in CI or a hook on an unchanged tree); "changed"
            # redoes the work with the parse and rule caches warm (files changed); --no-cache
            # is a first run on a new machine.
            commands["schema-review changed"] = [*NO_RESULT_CACHE, *ours, *paths]
            commands["schema-review --no-cache"] = [*ours, "--no-cache", *paths]
            commands["schema-review --no-cache -j2"] = [*ours, "--no-cache", "-j", "2", *paths]
            results["corpus"] = _time_all(commands, args.repeat, env, args.timeout)
    for workload, count in (("10k", 10_000), ("100k", 100_000)):
        if workload in workloads:
            path = _generated_file(count)
            # The 100,000-statement file is slow for every tool: fewer runs say enough.
            repeat = max(1, args.repeat // 2) if count > 10_000 else args.repeat
            # Growth measures the work itself: no cache of any kind.
            commands = _commands([*ours, "--no-cache"], peers, [path])
            results[workload] = _time_all(commands, repeat, env, args.timeout)

    if "startup" in workloads:
        small = REPO / "examples" / "saas-app" / "migrations" / "0005_users_tenant.up.sql"
        commands = _commands(ours, peers, [small])
        # A hook runs because a file changed: no result to reuse; the parse and rule caches
        # still hold the rest. Both figures are reported.
        commands["schema-review changed"] = [*NO_RESULT_CACHE, *ours, str(small)]
        commands["schema-review --no-cache"] = [*ours, "--no-cache", str(small)]
        commands["python -c pass"] = [sys.executable, "-c", "pass"]
        results["startup"] = _time_all(commands, args.repeat * 2, env, args.timeout)

    report = _report(results)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        _print_report(results, report)
    return 0


def _our_command() -> list[str]:
    script = Path(sys.executable).parent / "schema-review"
    if not script.exists():
        script = REPO / ".venv" / "bin" / "schema-review"
    if not script.exists():
        sys.exit("schema-review is not installed: run `pip install -e .` first (see README)")
    return [str(script), "lint", "--format", "json", "--fail-on", "none", "--select", "all"]


def _peer_commands() -> dict[str, list[str]]:
    """The peers' command lines; installs them into bench/.venv from the package index once."""
    bin_dir = PEER_VENV / "bin"
    if not (bin_dir / "squawk").exists() or not (bin_dir / "safemigrate-lint").exists():
        print("installing peers into bench/.venv ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(PEER_VENV)
        subprocess.run(
            [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", *PEERS], check=True
        )
    peers = {"squawk": [str(bin_dir / "squawk"), "--reporter", "json"]}
    if (bin_dir / "safemigrate-lint").exists():
        peers["safemigrate-lint"] = [str(bin_dir / "safemigrate-lint")]
    return peers


def _commands(
    ours: list[str], peers: dict[str, list[str]], files: Sequence[Path]
) -> dict[str, list[str]]:
    paths = [str(f) for f in files]
    commands = {"schema-review": [*ours, *paths]}
    for name, command in peers.items():
        commands[name] = [*command, *paths]
    return commands


def _timing_env() -> dict[str, str]:
    env = dict(os.environ)
    # Users' Python writes bytecode caches; an environment that forbids it would time compiles.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["NO_COLOR"] = "1"
    return env


def _time_all(
    commands: dict[str, list[str]], repeat: int, env: dict[str, str], timeout: float
) -> dict[str, Timing]:
    timings: dict[str, Timing] = {}
    for name, command in commands.items():
        timing = Timing(name, command)
        for run in range(repeat + 1):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            try:
                completed = subprocess.run(
                    command,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    check=False,
                    timeout=timeout,
                )
            except subprocess.TimeoutExpired:
                # A peer that is quadratic in the statements would hold the benchmark for hours.
                timing.error = f"gave up after {timeout:.0f} s"
                timing.seconds = [timeout]
                break
            elapsed = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            timing.returncode = completed.returncode
            if completed.returncode not in (0, 1):
                # Linters exit 1 when they find something; anything else is a failure to report.
                timing.error = completed.stderr.decode("utf-8", "replace").strip()[-300:]
            if run:  # the first run warms the file system and bytecode caches
                timing.seconds.append(elapsed)
                timing.cpu.append(cpu)
        timings[name] = timing
        print(
            f"  {name}: {timing.median:.3f} s (CPU {timing.cpu_median:.3f} s) {timing.error}",
            file=sys.stderr,
        )
    return timings


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


# One block of typical migration DDL; a generated file repeats it with fresh names.
_BLOCK = """\
CREATE TABLE t{n} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id bigint NOT NULL REFERENCES t{prev} (id),
    status text NOT NULL DEFAULT 'new',
    created_at timestamp NOT NULL DEFAULT now()
);
CREATE INDEX t{n}_status_idx ON t{n} (status);
ALTER TABLE t{n} ADD COLUMN note text;
ALTER TABLE t{n} ADD CONSTRAINT t{n}_status_check CHECK (status IN ('new', 'done'));
COMMENT ON TABLE t{n} IS 'generated table {n}';
"""
_BLOCK_STATEMENTS = 5


def _generated_file(statements: int) -> Path:
    GENERATED.mkdir(exist_ok=True)
    path = GENERATED / f"{statements}_statements.sql"
    if path.exists():
        return path
    blocks = statements // _BLOCK_STATEMENTS
    head = "CREATE TABLE t0 (id bigint PRIMARY KEY);\n"
    body = "".join(_BLOCK.format(n=n, prev=n - 1) for n in range(1, blocks))
    tail = "".join("SELECT 1;\n" for _ in range(statements - 1 - (blocks - 1) * _BLOCK_STATEMENTS))
    path.write_text(head + body + tail, encoding="utf-8")
    return path


def _report(results: dict[str, dict[str, Timing]]) -> dict[str, object]:
    report: dict[str, object] = {}
    for workload, timings in results.items():
        report[workload] = {
            name: {
                "median_seconds": round(t.median, 4),
                "median_cpu_seconds": round(t.cpu_median, 4),
                "runs": [round(s, 4) for s in t.seconds],
                "exit": t.returncode,
                **({"error": t.error} if t.error else {}),
            }
            for name, t in timings.items()
        }
    ratios: dict[str, float] = {}
    for workload, timings in results.items():
        mine = [name for name in timings if name.startswith("schema-review")]
        for our_name in mine:
            ours = timings[our_name].median
            for name, t in timings.items():
                if name not in mine and not t.error:
                    ratios[f"{workload}: {our_name} / {name}"] = round(ours / t.median, 2)
                    cpu = timings[our_name].cpu_median / t.cpu_median if t.cpu_median else 0
                    ratios[f"{workload} (CPU): {our_name} / {name}"] = round(cpu, 2)
    if "10k" in results and "100k" in results:
        for name in results["10k"]:
            if name in results["100k"] and not results["100k"][name].error:
                growth = results["100k"][name].median / results["10k"][name].median
                ratios[f"growth 100k / 10k: {name}"] = round(growth, 2)
    report["ratios"] = ratios
    return report


def _print_report(results: dict[str, dict[str, Timing]], report: dict[str, object]) -> None:
    for workload, timings in results.items():
        print(f"\n{workload}")
        for name, t in timings.items():
            note = f"  not measured: {t.error}" if t.error else ""
            print(
                f"  {name:<18} {t.median:8.3f} s  CPU {t.cpu_median:8.3f} s"
                f"  (medians of {len(t.seconds)}){note}"
            )
    ratios = report["ratios"]
    assert isinstance(ratios, dict)
    print("\nratios (lower is faster for schema-review)")
    for label, value in ratios.items():
        print(f"  {label:<52} {value:6.2f}x")


if __name__ == "__main__":
    sys.exit(main())
