"""The wheel ships the rule packs and templates inside the package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.helpers import REPO


def test_wheel_contains_rules_and_templates(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("schema_review-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for rule_file in (REPO / "rules").glob("*.yaml"):
        assert f"schema_review/_data/rules/{rule_file.name}" in names
    for template in (REPO / "templates").iterdir():
        assert f"schema_review/_data/templates/{template.name}" in names
    assert "schema_review/cli.py" in names
    # The built-in rules read and parsed at build time (issue 17): runs start without YAML.
    assert "schema_review/rules/prebuilt.json" in names
    assert "schema_review/rules/prebuilt_docs.json" in names  # the rules' documentation
    assert "schema_review/rules/prebuilt_python.py" in names  # and their expressions compiled
    assert not any(name.startswith("tests/") for name in names)


def test_package_sits_at_the_top_of_the_repository() -> None:
    # One layout (issue 14): the package beside the data it ships, no src/ folder, and a
    # checkout imports the package it holds, not another installed copy.
    import schema_review

    assert (REPO / "schema_review" / "__init__.py").is_file()
    for folder in ("rules", "templates", "examples", "tests"):
        assert (REPO / folder).is_dir(), folder
    assert not (REPO / "src").exists()
    assert Path(schema_review.__file__).resolve().parent == REPO / "schema_review"
