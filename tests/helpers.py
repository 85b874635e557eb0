"""Helpers for the tests: example files, migration folders, the corpus."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from schema_review.config import Settings
from schema_review.findings import Finding
from schema_review.pipeline import (
    Evaluation,
    LintRun,
    migration_facts,
    placeholder_facts,
    replay_histories,
)

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"

_FILE_MARK = re.compile(r"^-- file: (\S+)[ \t]*\n", re.MULTILINE)


def split_example(sql: str) -> list[tuple[str, str]]:
    """An example's files: `-- file: NAME` lines start a new file (one file when absent)."""
    parts = _FILE_MARK.split(sql)
    if len(parts) == 1:
        return [("0001_example.sql", sql)]
    files = list(zip(parts[1::2], parts[2::2], strict=True))
    if parts[0].strip():  # SQL before the first mark is the first file
        files.insert(0, ("0000_example.sql", parts[0]))
    return files


def write_migrations(folder: Path, files: list[tuple[str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def write_files(folder: Path, files: dict[str, str]) -> list[Path]:
    """`files` (name -> text) written into `folder`, their paths in the order given."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in files.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def commit_files(folder: Path, files: list[tuple[str, str]]) -> Path:
    """A new git repository at `folder` with `files` committed."""
    import subprocess

    write_migrations(folder, files)
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
    for command in (["init", "-q"], ["add", "."], [*identity, "commit", "-q", "-m", "base"]):
        subprocess.run(["git", *command], cwd=folder, check=True, capture_output=True)
    return folder


LintSql = Callable[..., LintRun]


def rule_ids(run: LintRun) -> list[str]:
    return [f.rule for f in run.result.findings]


def findings_of(run: LintRun, rule: str) -> list[Finding]:
    return [f for f in run.result.findings if f.rule == rule]


def example_evaluations(settings: Settings) -> list[Evaluation]:
    """What the rules are evaluated on for each history of examples/ (its model, problems,
    profile, and the facts of its migrations and placeholders), the parse trees dropped."""
    histories = replay_histories([REPO / "examples"], settings, keep_trees=False)
    return [
        Evaluation(
            h.model,
            h.problems,
            h.profile,
            migration_facts(h.migration_set, h.sources, i) + placeholder_facts(h),
        )
        for i, h in enumerate(histories)
    ]
