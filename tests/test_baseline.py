"""Baseline adoption: record today's findings, report only new ones, say which entries are stale."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from schema_review.cli import main
from tests.helpers import REPO

EXAMPLE = REPO / "examples" / "saas-app" / "migrations"


def lint_json(folder: Path, baseline: Path) -> dict[str, object]:
    result = CliRunner().invoke(
        main, ["lint", str(folder), "--format", "json", "--baseline", str(baseline)]
    )
    assert result.exit_code in (0, 1), result.output
    document: dict[str, object] = json.loads(result.output)
    return document


def test_baseline_end_to_end(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(EXAMPLE, folder)
    baseline = tmp_path / "baseline.json"
    recorded = CliRunner().invoke(main, ["baseline", str(folder), "-o", str(baseline)])
    assert recorded.exit_code == 0, recorded.output
    entries = json.loads(baseline.read_text())["findings"]
    assert len(entries) > 20 and all(len(e["fingerprint"]) == 16 for e in entries)

    # Nothing new: everything hidden, the gate passes although the example fails it.
    clean = lint_json(folder, baseline)
    assert clean["findings"] == []
    summary = clean["summary"]
    assert isinstance(summary, dict)
    assert summary["baselined"] == len(entries) and summary["failed"] is False

    # Unrelated edits: lines added above findings and a file renamed keep the fingerprints.
    orders = folder / "0004_orders_account_fk.up.sql"
    orders.write_text("-- reviewed in PR 42\n\n" + orders.read_text())
    (folder / "0007_admin_function.up.sql").rename(folder / "0007_admin_functions.up.sql")
    assert lint_json(folder, baseline)["findings"] == []

    # A new finding is reported; a fixed one makes its entry stale.
    (folder / "0012_nick.up.sql").write_text(
        "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;\n"
    )
    projects = folder / "0002_create_projects.up.sql"
    projects.write_text(
        projects.read_text().replace(
            "CREATE TABLE IF NOT EXISTS audit_events (",
            "CREATE TABLE IF NOT EXISTS audit_events (\n"
            "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,",
        )
    )
    changed = lint_json(folder, baseline)
    findings = changed["findings"]
    assert isinstance(findings, list)
    assert {f["rule"] for f in findings} >= {"drop-not-null"}
    assert all(f["file"].endswith("0012_nick.up.sql") for f in findings)
    summary = changed["summary"]
    assert isinstance(summary, dict)
    assert summary["baseline_stale"] >= 1


def test_unreadable_baseline_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "baseline.json"
    bad.write_text("[1, 2]")
    result = CliRunner().invoke(main, ["lint", str(EXAMPLE), "--baseline", str(bad)])
    assert result.exit_code == 2
    assert "not a schema-review baseline" in result.output
    missing = CliRunner().invoke(main, ["lint", str(EXAMPLE), "--baseline", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "cannot read baseline" in missing.output
