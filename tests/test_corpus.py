"""Every PostgreSQL migration of the shared corpus lints without an internal error."""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from pathlib import Path

import pytest

from schema_review.config import Settings
from schema_review.pipeline import lint
from tests.helpers import CORPUS


def corpus_projects() -> dict[str, list[Path]]:
    projects: dict[str, list[Path]] = defaultdict(list)
    with (CORPUS / "files.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row["dialect"] == "postgres" and row["project"] != "postgres-regress":
                projects[row["project"]].append(CORPUS / row["project"] / row["path"])
    return dict(projects)


@pytest.mark.skipif(not (CORPUS / "files.tsv").exists(), reason="../shared/corpus not present")
def test_corpus_lints_without_internal_errors() -> None:
    projects = corpus_projects()
    total = sum(len(files) for files in projects.values())
    assert total > 1500
    internal: list[str] = []
    linted = 0
    for files in projects.values():
        run = lint(files, Settings(select=("all",), fail_on="none"))
        linted += len(run.sources)
        internal += [
            f"{f.file}:{f.line}: {f.message}"
            for f in run.result.findings
            if f.rule == "internal-error"
        ]
    assert linted == total
    assert internal == []


# PostgreSQL migration folders of the corpus, replayed in the order their tools apply them.
CORPUS_FOLDERS = [
    "langfuse",
    "umami",
    "chirpstack/postgres",
    "hatchet/migrations",
    "supabase-auth",
    "supabase-postgres/migrations",
    "authelia/postgres",
    "temporal/postgresql/v12/temporal",
]


@pytest.mark.skipif(not (CORPUS / "files.tsv").exists(), reason="../shared/corpus not present")
def test_corpus_folders_replay_in_apply_order_without_internal_errors() -> None:
    run = lint([CORPUS / f for f in CORPUS_FOLDERS], Settings(select=("all",), fail_on="none"))
    assert len(run.sets) == len(CORPUS_FOLDERS)
    assert all(s.files for s in run.sets)
    assert [f.rule for f in run.result.findings if f.rule == "internal-error"] == []
    # Replay in apply order builds the real schemas: langfuse ends with dozens of tables.
    langfuse = run.models[0]
    assert len([t for t in langfuse.tables.values() if not t.external]) > 30


@pytest.mark.skipif(not (CORPUS / "files.tsv").exists(), reason="../shared/corpus not present")
def test_parallel_parse_gives_the_same_findings() -> None:
    folder = [CORPUS / "langfuse"]
    os.environ["SCHEMA_REVIEW_NO_CACHE"] = "1"  # both runs really parse
    try:
        one = lint(folder, Settings(select=("all",), fail_on="none", jobs=1))
        two = lint(folder, Settings(select=("all",), fail_on="none", jobs=2))
    finally:
        del os.environ["SCHEMA_REVIEW_NO_CACHE"]
    assert len(one.sources) > 300
    assert [f.to_dict() for f in two.result.findings] == [f.to_dict() for f in one.result.findings]
