"""Every rule's bad example fires it and its good example does not (on real SQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from schema_review.config import Settings
from schema_review.pipeline import LintRun
from schema_review.rules import Rule, load_rules
from tests.helpers import LintSql, findings_of, split_example, write_migrations

RULES = load_rules()


def _settings(rule: Rule) -> dict[str, object]:
    """What a rule's examples are linted with: their profile, and options when they set any."""
    settings: dict[str, object] = dict(rule.example_profile)
    if rule.example_options:
        settings["rule_options"] = {rule.id: rule.example_options}
    return settings


def _verified(rule: Rule, sql: str, request: pytest.FixtureRequest, tmp_path: Path) -> LintRun:
    """Rules of the server (target `server`) fire only in `verify`: the example is applied to
    the test session's PostgreSQL."""
    from schema_review.verify.run import verify

    server = request.getfixturevalue("pg_server")
    folder = write_migrations(tmp_path / "verified", split_example(sql))
    if rule.id == "extension-not-available":
        with server.connect() as connection:
            available = connection.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'"
            ).fetchone()
        if available:
            pytest.skip("this PostgreSQL has postgis: the bad example creates it")
    return verify([folder], Settings(**_settings(rule)), server=server).run  # type: ignore[arg-type]


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_bad_example_fires(
    rule: Rule, lint_sql: LintSql, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if rule.target == "server":
        run = _verified(rule, rule.examples["bad"], request, tmp_path)
    else:
        run = lint_sql(rule.examples["bad"], base=rule.examples.get("base"), **_settings(rule))
    assert findings_of(run, rule.id), f"{rule.id}: bad example raised nothing"
    if rule.id != "parse-error":
        assert not findings_of(run, "parse-error"), f"{rule.id}: bad example does not parse"


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_good_example_is_clean(
    rule: Rule, lint_sql: LintSql, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if rule.target == "server":
        run = _verified(rule, rule.examples["good"], request, tmp_path)
        assert not run.result.findings, f"{rule.id}: the server says {run.result.findings}"
    else:
        run = lint_sql(rule.examples["good"], base=rule.examples.get("base"), **_settings(rule))
    assert not findings_of(run, rule.id), f"{rule.id}: good example raised it"
    assert not findings_of(run, "parse-error"), f"{rule.id}: good example does not parse"


@pytest.mark.parametrize(
    "rule", [r for r in RULES if r.id == "alter-type-with-incompatible-default"], ids=lambda r: r.id
)
def test_the_documented_failure_fails_on_postgres(
    rule: Rule, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The rule claims PostgreSQL refuses its bad example: the server does, and runs its good
    example."""
    bad = _verified(rule, rule.examples["bad"], request, tmp_path / "bad")
    assert [f.rule for f in bad.result.findings] == ["fails-on-postgres"]
    assert "cannot be cast automatically" in bad.result.findings[0].message
    good = _verified(rule, rule.examples["good"], request, tmp_path / "good")
    assert good.result.findings == []


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_rule_is_documented(rule: Rule) -> None:
    assert rule.title[0].isupper() or rule.title[0].islower()
    assert len(rule.why.split()) >= 20, f"{rule.id}: 'why' should explain the danger"
    assert rule.examples["bad"].strip() != rule.examples["good"].strip()


def test_rule_ids_are_unique_and_first_rules_present() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    expected = {
        "fk-missing-index",
        "table-missing-primary-key",
        "duplicate-index",
        "create-index-not-concurrently",
        "fk-without-not-valid",
        "add-column-not-null-without-default",
        "timestamp-without-time-zone",
        "missing-if-not-exists",
        "constraint-recreated",
        "security-definer-search-path",
        "parse-error",
        "suppression-without-reason",
        "unused-suppression",
    }
    assert expected <= set(ids)
    severities = {r.id: r.severity for r in RULES}
    assert severities["fk-missing-index"] == "high"
    assert severities["duplicate-index"] == "medium"
    assert severities["parse-error"] == "critical"
    assert severities["timestamp-without-time-zone"] == "low"
