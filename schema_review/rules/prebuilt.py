"""The built-in rules, read and parsed when the package is built (issue 17: cold start).

A run on a fresh machine used to read the built-in rule packs with PyYAML and parse every
condition and template with Jinja's parser before linting anything: a third of a second,
most of a one-file run. `prebuilt.json`, next to this module and shipped in the wheel, holds
what that work produces, as data: each rule file's entries, and for each of their expressions
the line of `prebuilt_trees.jsonl` that holds its syntax tree (node class, line, fields). A
run decodes and rebuilds a tree when a rule is first evaluated (or its message first
rendered), then makes it into closures as before: the sandbox and the closures are the same,
only the parsing moved to build time. The trees are a file of their own, one a line, because
a run on one file needs a few of them: decoding them all was 4% of it.

The file is data, never code, and trusted only for the rule files it was built from: it
carries a digest of them (and of the Jinja version whose nodes it names; the trees file's
first line is the same digest), and when the rule files differ (a rule edited in a checkout)
the loader reads the YAML as before. A test fails when the files are stale; to rebuild them:

    .venv/bin/python -m schema_review.rules.prebuild
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes

from schema_review.resources import data_dir

PREBUILT = Path(__file__).resolve().parent / "prebuilt.json"
PREBUILT_TREES = PREBUILT.with_name("prebuilt_trees.jsonl")
# Bump when the layout of prebuilt.json changes (2: the trees in a file of their own).
_FORMAT = 2
# The fields of a rule entry that are expressions (conditions) and templates.
CONDITION_FIELDS = ("when", "applies")
TEMPLATE_FIELDS = ("message", "fix", "object")


def rule_files(folder: Path | None = None) -> list[Path]:
    """The built-in rule packs, in load order."""
    return sorted((folder or data_dir("rules")).glob("*.yaml"))


def digest(files: Iterable[Path]) -> str:
    """What prebuilt.json depends on: the rule files' names and bytes, its layout and the
    Jinja version (whose node classes and fields the trees name)."""
    hashed = hashlib.blake2b(digest_size=16, person=b"sr-prebuilt")
    hashed.update(f"{_FORMAT}|{jinja2.__version__}".encode())
    for path in files:
        for part in (path.name.encode(), path.read_bytes()):
            hashed.update(len(part).to_bytes(8, "little"))
            hashed.update(part)
    return hashed.hexdigest()


@lru_cache(maxsize=1)
def prebuilt() -> dict[str, Any] | None:
    """prebuilt.json's content when it was built from the rule files as they are, else None
    (missing, unreadable, or stale: the loader then reads the YAML)."""
    try:
        data = json.loads(PREBUILT.read_bytes())
        current = digest(rule_files())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("digest") != current:
        return None
    return data


def entries(name: str) -> list[Any] | None:
    """The entries of the built-in rule file `name` (as PyYAML read them), or None."""
    data = prebuilt()
    if data is None:
        return None
    found = data["files"].get(name)
    return found if isinstance(found, list) else None


@lru_cache(maxsize=1)
def _tree_lines() -> list[str]:
    """The lines of prebuilt_trees.jsonl: its digest, then one tree a line."""
    try:
        return PREBUILT_TREES.read_text(encoding="utf-8").split("\n")
    except (OSError, ValueError):
        return []


def _tree(section: str, source: str) -> Any:
    """The tree of `source` in `section` when the trees file goes with prebuilt.json (the
    same digest), else None (the expression is then parsed from its text)."""
    data = prebuilt()
    line = data[section].get(source) if data is not None else None
    if data is None or not isinstance(line, int):
        return None
    lines = _tree_lines()
    if not 0 < line < len(lines) or lines[0] != f'"{data["digest"]}"':
        return None
    return _node(json.loads(lines[line]))


def condition_tree(source: str) -> nodes.Expr | None:
    """The parsed condition (`when`, `applies`) of a built-in rule, or None."""
    tree = _tree("conditions", source)
    if tree is None:
        return None
    assert isinstance(tree, nodes.Expr)
    return tree


def template_tree(source: str, environment: jinja2.Environment) -> nodes.Template | None:
    """The parsed template (`message`, `fix`, `object`) of a built-in rule, or None."""
    tree = _tree("templates", source)
    if tree is None:
        return None
    assert isinstance(tree, nodes.Template)
    tree.set_environment(environment)  # as Environment.parse leaves it
    return tree


def _node(data: Any) -> Any:
    """A tree from its data: a node is {"n": class, "l": line, "f": [fields]}. Built as
    Node.__init__ builds it (each field, then `lineno` and `environment`), without its
    checks of every call: the class and the number of fields are checked once a class."""
    if isinstance(data, dict):
        kind = _node_class(data["n"], len(data["f"]))
        node = object.__new__(kind)
        for name, field in zip(kind.fields, data["f"], strict=True):
            setattr(node, name, _node(field))
        node.lineno = data["l"]
        node.environment = None
        return node
    if isinstance(data, list):
        return [_node(item) for item in data]
    return data


@cache
def _node_class(name: str, fields: int) -> type[nodes.Node]:
    kind = getattr(nodes, name)
    # Only concrete nodes with Node's own constructor (InternalName has its own).
    if not (
        isinstance(kind, type)
        and issubclass(kind, nodes.Node)
        and not kind.abstract
        and kind.__init__ is nodes.Node.__init__
        and len(kind.fields) == fields
    ):
        raise ValueError(f"prebuilt.json: not a node this Jinja builds so: {name}")
    return kind
