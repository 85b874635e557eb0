"""The oracle: apply migration histories to a real PostgreSQL and compare its catalog with
the replayed model, object by object.

The cases and what is known about them are data, next to this module:

- `cases.yaml`: the histories (examples and the corpus's PostgreSQL projects), with what each
  expects to exist before its first file beyond its platform's stand-ins, and its settings;
- `expected_failures.yaml`: files that fail on the server (facts about the history, not
  model bugs), with the SQLSTATE and why;
- `exclusions.yaml`: objects no static tool can know (patterns), with why;
- `xfail.yaml`: histories whose model does not match the server yet, with why.

`tests/test_oracle.py` runs them; `tests/oracle_report.py` prints what differs.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from schema_review.config import Settings
from schema_review.export import history_label, schema_document
from schema_review.pipeline import ReplayedHistory, replay_histories
from schema_review.verify.apply import Failure
from schema_review.verify.build import ServerBuild, as_the_server_kept_it, build_on_server
from schema_review.verify.compare import Comparison, compare
from schema_review.verify.server import Server

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((HERE / name).read_text(encoding="utf-8")) or {}
    assert isinstance(data, dict), name
    return data


def resolve(path: str) -> Path:
    """`corpus/...` is in ../shared/corpus; anything else is in the repository."""
    if path.startswith("corpus/"):
        return CORPUS / path.removeprefix("corpus/")
    return REPO / path


@dataclass(frozen=True)
class Case:
    id: str
    path: str
    setup_sql: str = ""
    setup_files: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    skip: str = ""  # why this folder is not a migration history at all

    @property
    def corpus(self) -> bool:
        return self.path.startswith("corpus/")

    @property
    def available(self) -> bool:
        return resolve(self.path).exists()

    def missing_settings(self) -> list[str]:
        """Settings this case needs that schema_review.config.Settings does not have yet."""
        known = set(Settings.__slots__)
        return sorted(set(self.settings) - known)

    def make_settings(self) -> Settings:
        values = dict(self.settings)
        if "histories" in values:
            values["histories"] = tuple(
                tuple(resolve(folder) for folder in group) for group in values["histories"]
            )
        return Settings(**values)


@cache
def cases() -> dict[str, Case]:
    found = {}
    for case_id, entry in _load("cases.yaml").items():
        entry = dict(entry)
        entry["setup_files"] = tuple(entry.get("setup_files", ()))
        entry.pop("why", None)
        found[case_id] = Case(case_id, **entry)
    return found


@cache
def expected_failures() -> dict[str, dict[str, dict[str, str]]]:
    return _load("expected_failures.yaml")


@cache
def exclusions() -> dict[str, dict[str, str]]:
    return _load("exclusions.yaml")


@cache
def xfails() -> dict[str, str]:
    return _load("xfail.yaml")


@dataclass
class CaseResult:
    case: Case
    history: ReplayedHistory
    build: ServerBuild
    model: dict[str, Any]
    comparison: Comparison

    def failed_files(self) -> dict[str, Failure]:
        """File (relative to the history's folder; set-up files as `setup: NAME`) -> how it
        failed."""
        root = self.history.migration_set.root
        failed: dict[str, Failure] = {}
        for outcome, setup in [(o, True) for o in self.build.setup] + [
            (o, False) for o in self.build.outcomes
        ]:
            if outcome.failure is None:
                continue
            name = outcome.file
            if setup:
                name = f"setup: {Path(name).name}"
            elif root is not None:
                name = _relative(Path(name), root)
            failed[name] = outcome.failure
        return failed

    def unused_exclusions(self) -> list[str]:
        patterns = exclusions().get(self.case.id, {})
        return [
            pattern
            for pattern in patterns
            if not any(
                fnmatch.fnmatchcase(obj, pattern) for obj in self.comparison.excluded_objects
            )
        ]


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def replay_case(case: Case) -> list[ReplayedHistory]:
    return replay_histories([resolve(case.path)], case.make_settings())


def run_case(server: Server, case: Case) -> CaseResult:
    """Apply the case's history to a fresh database and compare with the model."""
    histories = replay_case(case)
    if len(histories) != 1:
        roots = ", ".join(str(h.migration_set.root) for h in histories)
        raise AssertionError(f"{case.id}: expected one history, discovery found {roots}")
    (history,) = histories
    build = build_on_server(
        server,
        history,
        setup_files=[resolve(f) for f in case.setup_files],
        setup_sql=case.setup_sql,
    )
    kept = as_the_server_kept_it(history, build)
    model = schema_document(kept, history_label(history.migration_set))
    comparison = compare(build.catalog, model, exclude=list(exclusions().get(case.id, {})))
    return CaseResult(case, history, build, model, comparison)
