"""The pipeline flows one way: no stage imports a later one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "schema_review"
STAGES = [
    "discover",
    "parse",
    "model",
    "rules",
    "findings",
    "pipeline",
    "export",  # the final schema as data: the review draws its diagram from it
    "report",
    "output",
    "verify",  # applies histories to a real PostgreSQL; the CLI's verify command calls it
    "cli",
]
LEAVES = {"config", "packing", "profile", "records", "resources", "workers", "__init__", "__main__"}


def stage_of(module: str) -> str:
    return module.split(".")[0]


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("schema_review.")
        ):
            found.add(stage_of(node.module.removeprefix("schema_review.")))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("schema_review."):
                    found.add(stage_of(alias.name.removeprefix("schema_review.")))
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_no_stage_imports_a_later_one(path: Path) -> None:
    relative = path.relative_to(PACKAGE)
    stage = relative.parts[0].removesuffix(".py")
    if stage in LEAVES:
        assert imports_of(path) <= {"cli", "__init__"} | LEAVES
        return
    position = STAGES.index(stage)
    for imported in imports_of(path) - LEAVES:
        assert STAGES.index(imported) <= position, f"{relative} imports {imported}"


def test_only_the_cli_imports_click() -> None:
    for path in MODULES:
        if path.name != "cli.py":
            assert "import click" not in path.read_text(encoding="utf-8"), path
