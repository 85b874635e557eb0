"""The oracle: every migration history of examples/ and of the corpus's PostgreSQL projects is
applied to a real PostgreSQL as its runner would, and the catalog compared with the replayed
model object by object (docs/schema-json.md). The data is in tests/oracle/.

Two tests a history: the files that fail on the server are exactly the expected ones (facts
about the history); the model equals the catalog, but for the justified exclusions. A
history whose model does not match yet is marked xfail (strict) in tests/oracle/xfail.yaml:
when it starts to match, its test fails until the mark goes. `tests/oracle_report.py`
prints the differences.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from schema_review.verify.server import Server
from tests.oracle import Case, CaseResult, cases, exclusions, expected_failures, run_case, xfails

_results: dict[str, CaseResult] = {}


def _params() -> Iterator[object]:
    for case_id, case in cases().items():
        marks = []
        if case_id in xfails():
            marks.append(pytest.mark.xfail(strict=True, reason=xfails()[case_id]))
        yield pytest.param(case, id=case_id, marks=marks)


def _result(case: Case, server: Server) -> CaseResult:
    """The case built on the server once a session, whichever of its tests runs first."""
    if case.skip:
        pytest.skip(f"not a migration history: {case.skip}")
    if not case.available:
        pytest.skip(f"{case.path} is not here (the corpus is ../shared/corpus)")
    missing = case.missing_settings()
    if missing:
        # Another change adds these configuration keys; until then the history cannot be
        # replayed as its runner fills it in.
        pytest.xfail(f"needs the configuration key(s) {', '.join(missing)}, not in Settings yet")
    if case.id not in _results:
        _results[case.id] = run_case(server, case)
    return _results[case.id]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in cases().values()])
def test_files_fail_on_the_server_as_expected(case: Case, pg_server: Server) -> None:
    result = _result(case, pg_server)
    expected = {
        name: entry["sqlstate"] for name, entry in expected_failures().get(case.id, {}).items()
    }
    failures = result.failed_files()
    failed = {name: failure.sqlstate for name, failure in failures.items()}
    if failed != expected:
        lines = [f"{case.id}: the files that fail on PostgreSQL changed"]
        lines += [
            f"  fails now: {name}: {failures[name]}"
            for name in sorted(failed)
            if expected.get(name) != failed[name]
        ]
        lines += [
            f"  no longer fails with {state}: {name}"
            for name, state in sorted(expected.items())
            if failed.get(name) != state
        ]
        pytest.fail("\n".join(lines))


@pytest.mark.parametrize("case", list(_params()))
def test_model_matches_the_server(case: Case, pg_server: Server) -> None:
    comparison = _result(case, pg_server).comparison
    if not comparison.ok:
        lines = [f"{case.id}: {comparison.summary()}; differences:"]
        lines += [f"  {d}" for d in comparison.differences]
        pytest.fail("\n".join(lines))


@pytest.mark.parametrize("case", [cases()[c] for c in exclusions()], ids=list(exclusions()))
def test_every_exclusion_is_used(case: Case, pg_server: Server) -> None:
    """Apart from the comparison, which may be xfail: a stale exclusion must not hide."""
    unused = _result(case, pg_server).unused_exclusions()
    assert not unused, f"{case.id}: exclusions that match no object (remove them): {unused}"


def test_the_data_files_name_known_cases() -> None:
    known = set(cases())
    for name, data in (
        ("expected_failures.yaml", expected_failures()),
        ("exclusions.yaml", exclusions()),
        ("xfail.yaml", xfails()),
    ):
        assert set(data) <= known, f"{name} names unknown cases: {sorted(set(data) - known)}"
    for case_id, files in expected_failures().items():
        for name, entry in files.items():
            assert entry.get("sqlstate") and entry.get("reason"), f"{case_id}: {name}"
    for case_id, objects in exclusions().items():
        assert all(isinstance(reason, str) and reason for reason in objects.values()), case_id
