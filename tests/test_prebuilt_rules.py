"""prebuilt.json: the built-in rules read and parsed when the package is built (issue 17)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from jinja2 import nodes

from schema_review.rules import Rule, load_rules, prebuilt
from schema_review.rules.expressions import _condition_expression, environment
from schema_review.rules.prebuild import build


@pytest.fixture
def without_prebuilt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Runs as if prebuilt.json were stale: the loader reads the YAML (and no rule cache)."""
    stale = tmp_path / "prebuilt.json"
    data = json.loads(prebuilt.PREBUILT.read_text(encoding="utf-8"))
    stale.write_text(json.dumps({**data, "digest": "0" * 32}), encoding="utf-8")
    monkeypatch.setattr(prebuilt, "PREBUILT", stale)
    monkeypatch.setenv("SCHEMA_REVIEW_NO_CACHE", "1")
    prebuilt.prebuilt.cache_clear()
    yield
    prebuilt.prebuilt.cache_clear()


def test_prebuilt_json_is_up_to_date() -> None:
    built = build()
    assert set(built) == {prebuilt.PREBUILT, prebuilt.PREBUILT_TREES}
    for path, text in built.items():
        assert path.read_text(encoding="utf-8") == text, (
            f"schema_review/rules/{path.name} is stale: "
            ".venv/bin/python -m schema_review.rules.prebuild"
        )


def test_trees_of_another_build_are_not_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The trees file goes with the prebuilt.json of its build (its first line is the same
    digest): with another one, expressions are parsed from their text."""
    source = next(iter(json.loads(prebuilt.PREBUILT.read_text(encoding="utf-8"))["conditions"]))
    lines = prebuilt.PREBUILT_TREES.read_text(encoding="utf-8").split("\n")
    other = tmp_path / "prebuilt_trees.jsonl"
    monkeypatch.setattr(prebuilt, "PREBUILT_TREES", other)
    for first, found in ((lines[0], True), (json.dumps("0" * 32), False)):
        other.write_text("\n".join([first, *lines[1:]]), encoding="utf-8")
        prebuilt._tree_lines.cache_clear()
        assert (prebuilt.condition_tree(source) is not None) is found
    prebuilt._tree_lines.cache_clear()


def test_runs_use_it() -> None:
    prebuilt.prebuilt.cache_clear()
    assert prebuilt.prebuilt() is not None
    assert prebuilt.entries("locking.yaml")


def _everything(rule: Rule) -> tuple[Any, ...]:
    skipped = {"compiled", "applicable"}
    return tuple(getattr(rule, f.name) for f in fields(rule) if f.name not in skipped)


def test_rules_are_the_ones_the_yaml_makes(request: pytest.FixtureRequest) -> None:
    prebuilt.prebuilt.cache_clear()
    assert prebuilt.prebuilt() is not None
    from_prebuilt = [_everything(rule) for rule in load_rules()]
    request.getfixturevalue("without_prebuilt")
    assert prebuilt.prebuilt() is None
    assert [_everything(rule) for rule in load_rules()] == from_prebuilt


def _same_tree(ours: nodes.Node, parsed: nodes.Node) -> None:
    """Equal fields (Node.__eq__), and the same lines and environment everywhere."""
    assert ours == parsed
    for mine, theirs in zip(
        [ours, *ours.find_all(nodes.Node)], [parsed, *parsed.find_all(nodes.Node)], strict=True
    ):
        assert (mine.lineno, mine.environment) == (theirs.lineno, theirs.environment)


def test_trees_are_the_ones_the_parser_makes() -> None:
    prebuilt.prebuilt.cache_clear()
    data = prebuilt.prebuilt()
    assert data is not None
    env = environment()
    assert data["conditions"] and data["templates"]
    for source in data["conditions"]:
        tree = prebuilt.condition_tree(source)
        assert tree is not None
        _same_tree(tree, _condition_expression(source))
    for source in data["templates"]:
        template = prebuilt.template_tree(source, env)
        assert template is not None
        _same_tree(template, env.parse(source))


def test_a_changed_rule_file_is_read_from_the_yaml(tmp_path: Path) -> None:
    """The digest covers every byte of every rule file: a rule edited in a checkout without
    rebuilding prebuilt.json is read from its YAML."""
    files = prebuilt.rule_files()
    copies = []
    for path in files:
        copy = tmp_path / path.name
        copy.write_bytes(path.read_bytes())
        copies.append(copy)
    assert prebuilt.digest(copies) == prebuilt.digest(files)
    copies[0].write_bytes(files[0].read_bytes() + b"\n")
    assert prebuilt.digest(copies) != prebuilt.digest(files)


def test_stale_prebuilt_json_is_not_used(without_prebuilt: None) -> None:
    assert prebuilt.prebuilt() is None
    assert prebuilt.entries("locking.yaml") is None
    assert prebuilt.condition_tree("true") is None
    rules = load_rules()
    assert any(rule.id == "create-index-not-concurrently" for rule in rules)


def test_it_holds_data_only() -> None:
    """Plain JSON: nodes are named by class and rebuilt from Jinja's own node classes."""
    data = json.loads(prebuilt.PREBUILT.read_text(encoding="utf-8"))
    assert set(data) == {"comment", "digest", "files", "conditions", "templates"}
    names = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            names.add(value["n"])
            walk(value["f"])
        elif isinstance(value, list):
            for item in value:
                walk(item)

    lines = prebuilt.PREBUILT_TREES.read_text(encoding="utf-8").split("\n")
    assert json.loads(lines[0]) == data["digest"]
    for line in [*data["conditions"].values(), *data["templates"].values()]:
        walk(json.loads(lines[line]))  # the line of its tree
    assert all(issubclass(getattr(nodes, name), nodes.Node) for name in names)
