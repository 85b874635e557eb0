"""The built-in rules, read and parsed when the package is built (issue 17: cold start).

A run on a fresh machine used to read the built-in rule packs with PyYAML and parse every
condition and template with Jinja's parser before linting anything: a third of a second,
most of a one-file run. `prebuilt.json`, next to this module and shipped in the wheel, holds
what that work produces, as data: each rule file's entries and the syntax tree of each of
their expressions (node class, line, fields; each tree a JSON text of its own, decoded only
when needed). The expressions are also compiled to Python when the package is built
(prebuilt_python.py, from these trees), which is what runs use; a tree is rebuilt only for
an expression that module lacks, then made into closures as before: the sandbox and the
closures are the same, only the parsing and compiling moved to build time.

The trees are in a file of their own, prebuilt_trees.json, read only when a run needs one (an
expression prebuilt_python.py lacks, run on Jinja): a run of the built-in rules reads only
the entries (a third of the bytes), and imports no Jinja.

The files are data, never code, and trusted only for the rule files they were built from:
they carry a digest of them (the trees also the Jinja version whose nodes they name), and
when the rule files differ (a rule edited in a checkout) the loader reads the YAML as before.
A test fails when a file is stale; to rebuild them:

    .venv/bin/python -m schema_review.rules.prebuild
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schema_review.resources import blake2b, data_dir

if TYPE_CHECKING:
    import jinja2
    from jinja2 import nodes

PREBUILT = Path(__file__).resolve().parent / "prebuilt.json"
# The syntax trees of their expressions, for the Jinja version named in it.
PREBUILT_TREES = PREBUILT.with_name("prebuilt_trees.json")
# What documents each rule (`why`, `notes`, the examples' SQL), which a lint run does not
# read: three fifths of the entries' bytes, read when a rule's are first needed.
PREBUILT_DOCS = PREBUILT.with_name("prebuilt_docs.json")
# Their conditions and templates compiled to Python (a module of the package, next to it).
PREBUILT_PYTHON = PREBUILT.with_name("prebuilt_python.py")
# Bump when the layout of prebuilt.json changes (4: the documentation in prebuilt_docs.json).
_FORMAT = 4
# The fields of a rule entry that are expressions (conditions) and templates.
CONDITION_FIELDS = ("when", "applies")
TEMPLATE_FIELDS = ("message", "fix", "object")


def rule_files(folder: Path | None = None) -> list[Path]:
    """The built-in rule packs, in load order (by name: as sorted(folder.glob("*.yaml")),
    without compiling a pattern for it)."""
    folder = folder or data_dir("rules")
    return [folder / name for name in sorted(os.listdir(folder)) if name.endswith(".yaml")]


def digest(files: Iterable[Path]) -> str:
    """What prebuilt.json depends on: the rule files' names and bytes and its layout (the
    trees also depend on the Jinja version, which prebuilt_trees.json names)."""
    hashed = blake2b(digest_size=16, person=b"sr-prebuilt")
    hashed.update(f"{_FORMAT}".encode())
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


def docs(name: str, index: int) -> dict[str, Any] | None:
    """The documentation (`why`, `notes`, `examples`' SQL) of the entry at `index` of the
    built-in rule file `name`, or None."""
    found = _docs()
    listed = found["files"].get(name) if found is not None else None
    if not isinstance(listed, list) or not 0 <= index < len(listed):
        return None
    entry = listed[index]
    return entry if isinstance(entry, dict) else None


@lru_cache(maxsize=1)
def _docs() -> dict[str, Any] | None:
    """prebuilt_docs.json's content when it was built with prebuilt.json, else None."""
    data = prebuilt()
    if data is None:
        return None
    try:
        found = json.loads(PREBUILT_DOCS.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict) or found.get("digest") != data["digest"]:
        return None
    return found


@lru_cache(maxsize=1)
def trees() -> dict[str, Any] | None:
    """prebuilt_trees.json's content when it was built from the rule files as they are and
    names the Jinja version installed, else None (the expressions are then parsed)."""
    import jinja2

    data = prebuilt()
    if data is None:
        return None
    try:
        found = json.loads(PREBUILT_TREES.read_bytes())
    except (OSError, ValueError):
        return None
    if (
        not isinstance(found, dict)
        or found.get("digest") != data["digest"]
        or found.get("jinja") != jinja2.__version__
    ):
        return None
    return found


def condition_tree(source: str) -> nodes.Expr | None:
    """The parsed condition (`when`, `applies`) of a built-in rule, or None."""
    from jinja2 import nodes

    data = trees()
    found = data["conditions"].get(source) if data is not None else None
    if found is None:
        return None
    tree = _node(json.loads(found))
    assert isinstance(tree, nodes.Expr)
    return tree


def template_tree(source: str, environment: jinja2.Environment) -> nodes.Template | None:
    """The parsed template (`message`, `fix`, `object`) of a built-in rule, or None."""
    from jinja2 import nodes

    data = trees()
    found = data["templates"].get(source) if data is not None else None
    if found is None:
        return None
    tree = _node(json.loads(found))
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
    from jinja2 import nodes

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
