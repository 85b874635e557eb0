"""prebuilt.json and prebuilt_trees.json: the built-in rules read and parsed when the package
is built (issue 17)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jinja2 import nodes

from schema_review.resources import load_yaml
from schema_review.rules import Rule, expressions, load_rules, prebuilt
from schema_review.rules.expressions import _condition_expression, environment
from schema_review.rules.prebuild import build, build_python, fallbacks


@pytest.fixture
def without_prebuilt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Runs as if prebuilt.json were stale: the loader reads the YAML (and no rule cache)."""
    stale = tmp_path / "prebuilt.json"
    data = json.loads(prebuilt.PREBUILT.read_text(encoding="utf-8"))
    stale.write_text(json.dumps({**data, "digest": "0" * 32}), encoding="utf-8")
    monkeypatch.setattr(prebuilt, "PREBUILT", stale)
    monkeypatch.setenv("SCHEMA_REVIEW_NO_CACHE", "1")
    prebuilt.prebuilt.cache_clear()
    prebuilt.trees.cache_clear()
    yield
    prebuilt.prebuilt.cache_clear()
    prebuilt.trees.cache_clear()


def test_prebuilt_json_is_up_to_date() -> None:
    text, trees, docs = build()
    assert prebuilt.PREBUILT_DOCS.read_text(encoding="utf-8") == docs, (
        "schema_review/rules/prebuilt_docs.json is stale: "
        ".venv/bin/python -m schema_review.rules.prebuild"
    )
    assert prebuilt.PREBUILT.read_text(encoding="utf-8") == text, (
        "schema_review/rules/prebuilt.json is stale: "
        ".venv/bin/python -m schema_review.rules.prebuild"
    )
    assert prebuilt.PREBUILT_TREES.read_text(encoding="utf-8") == trees, (
        "schema_review/rules/prebuilt_trees.json is stale: "
        ".venv/bin/python -m schema_review.rules.prebuild"
    )


def test_prebuilt_python_is_up_to_date() -> None:
    """The built-in rules' conditions and templates compiled to Python: the module the
    generator writes now, from prebuilt_trees.json's trees (stale when a rule or the generator
    of closures.py changed)."""
    expected = build_python(prebuilt.PREBUILT_TREES.read_text(encoding="utf-8"))
    assert prebuilt.PREBUILT_PYTHON.read_text(encoding="utf-8") == expected, (
        "schema_review/rules/prebuilt_python.py is stale: "
        ".venv/bin/python -m schema_review.rules.prebuild"
    )


def test_every_built_in_expression_is_python_whole() -> None:
    """The generator writes every condition and template of the built-in rules as Python,
    without a part left to the closures or a template to Jinja: a run of the built-in rules
    imports no Jinja (tests/test_startup.py)."""
    assert fallbacks(prebuilt.PREBUILT_TREES.read_text(encoding="utf-8")) == []
    from schema_review.rules import prebuilt_python

    assert prebuilt_python.JINJA_TEMPLATES == {}
    trees = json.loads(prebuilt.PREBUILT_TREES.read_text(encoding="utf-8"))
    assert set(prebuilt_python.CONDITIONS) == set(trees["conditions"])
    assert set(prebuilt_python.TEMPLATES) == set(trees["templates"])


def test_runs_use_it() -> None:
    prebuilt.prebuilt.cache_clear()
    expressions._shipped.cache_clear()
    assert prebuilt.prebuilt() is not None
    assert prebuilt.entries("locking.yaml")
    data = prebuilt.trees()
    assert data is not None
    # every condition and template compiled: to Python but for a few templates (loops over
    # `loop`, unpacking, selectattr), which Jinja compiled
    conditions = [s for s in data["conditions"] if expressions.shipped_condition(s)]
    templates = [s for s in data["templates"] if expressions.shipped_renderer(s)]
    jinja = [s for s in data["templates"] if expressions.shipped_template(s)]
    assert len(conditions) == len(data["conditions"])
    assert len(templates) >= len(data["templates"]) - 3
    assert sorted(templates + jinja) == sorted(data["templates"])


def test_stale_prebuilt_python_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    from schema_review.rules import prebuilt_python

    expressions._shipped.cache_clear()
    assert expressions.shipped_condition("true") is not None
    expressions._shipped.cache_clear()
    monkeypatch.setattr(prebuilt_python, "DIGEST", "0" * 32)
    try:
        assert expressions.shipped_condition("true") is None
    finally:
        expressions._shipped.cache_clear()


def _everything(rule: Rule) -> tuple[Any, ...]:
    skipped = {"compiled", "applicable"}
    return tuple(getattr(rule, name) for name in rule._fields if name not in skipped)


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
    prebuilt.trees.cache_clear()
    data = prebuilt.trees()
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


def test_trees_of_another_jinja_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trees, and the code Jinja compiled for the templates outside the closures'
    subset, are of the Jinja version they name: with another, the expressions are parsed."""
    import jinja2

    from schema_review.rules import prebuilt_python

    # (No built-in template is left to Jinja: one of a rule as if it were.)
    from schema_review.rules.prebuild import python_module

    source = "{% for t in thing.tags %}{{ loop.cycle('a', 'b') }}{% endfor %}"
    space: dict[str, Any] = {}
    text = python_module({}, {source: environment().parse(source)}, "")
    exec(compile(text, "<prebuilt_python>", "exec"), space)
    monkeypatch.setitem(prebuilt_python.JINJA_TEMPLATES, source, space["JINJA_TEMPLATES"][source])
    prebuilt.trees.cache_clear()
    expressions._shipped.cache_clear()
    assert prebuilt.trees() is not None
    assert expressions.shipped_template(source) is not None
    monkeypatch.setattr(jinja2, "__version__", "0.0.0")
    prebuilt.trees.cache_clear()
    try:
        assert prebuilt.trees() is None
        assert prebuilt.condition_tree("true") is None
        assert expressions.shipped_template(source) is None
        assert prebuilt.prebuilt() is not None  # the entries are Jinja's no more
    finally:
        prebuilt.trees.cache_clear()
        expressions._shipped.cache_clear()


def test_it_holds_data_only() -> None:
    """Plain JSON: nodes are named by class and rebuilt from Jinja's own node classes."""
    entries = json.loads(prebuilt.PREBUILT.read_text(encoding="utf-8"))
    assert set(entries) == {"comment", "digest", "files"}
    data = json.loads(prebuilt.PREBUILT_TREES.read_text(encoding="utf-8"))
    assert set(data) == {"comment", "digest", "jinja", "conditions", "templates"}
    assert data["digest"] == entries["digest"]
    names = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            names.add(value["n"])
            walk(value["f"])
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for tree in [*data["conditions"].values(), *data["templates"].values()]:
        walk(json.loads(tree))  # each tree a JSON text, decoded when first needed
    assert all(issubclass(getattr(nodes, name), nodes.Node) for name in names)


def test_a_rules_documentation_is_read_when_first_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`why`, `notes` and the examples' SQL, three fifths of the entries, are in
    prebuilt_docs.json: loading the rules reads none of it (nor does copying a rule), a rule
    reads its own when first asked, and from its rule file when the file is missing."""
    prebuilt.prebuilt.cache_clear()
    prebuilt._docs.cache_clear()
    rules = load_rules()
    copies = [rule.replace(explicit=True) for rule in rules]
    assert prebuilt._docs.cache_info().currsize == 0
    entry = load_yaml(Path(rules[0].source).read_text(encoding="utf-8"))[0]
    sql = {k: v for k, v in entry["examples"].items() if k in ("bad", "good", "base")}
    assert (copies[0].why, copies[0].examples) == (entry["why"].strip(), sql)
    assert copies[0].explicit and prebuilt._docs() is not None
    monkeypatch.setattr(prebuilt, "PREBUILT_DOCS", tmp_path / "missing.json")
    prebuilt._docs.cache_clear()
    rule = load_rules()[0]
    assert (rule.why, rule.examples, rule.notes) == (entry["why"].strip(), sql, entry.get("notes"))
    assert prebuilt._docs() is None
    prebuilt._docs.cache_clear()


def test_a_shipped_templates_direct_reads_fall_back_to_the_sandboxs() -> None:
    """A shipped template reads attributes directly first; a subject it cannot read so (a
    missing attribute, a plain dict, a missing name) renders as the closures render it, or
    fails with the same error."""
    import types

    from schema_review.rules.closures import compile_renderer

    expressions._shipped.cache_clear()
    data = prebuilt.trees()
    assert data is not None
    source = next(s for s in data["templates"] if s.startswith("{{ stmt.label }} takes"))
    shipped = expressions.shipped_renderer(source)
    assert shipped is not None
    env = expressions.environment()
    reference = compile_renderer(env.parse(source), env)
    assert reference is not None
    table = types.SimpleNamespace(qualified_name="public.users")
    subjects: list[Any] = [
        types.SimpleNamespace(label="ALTER TABLE", lock="ACCESS EXCLUSIVE", table=table),
        {"label": "ALTER TABLE", "lock": "SHARE", "table": {"qualified_name": "t"}},
        types.SimpleNamespace(label="ALTER TABLE", table=table),  # no lock
    ]
    for names in [{"stmt": subject} for subject in subjects] + [{}]:
        outcomes: list[object] = []
        for render in (shipped, reference):
            try:
                outcomes.append(render(dict(names)))
            except Exception as error:  # the same error, with the same message
                outcomes.append((type(error), str(error)))
        assert outcomes[0] == outcomes[1]
    assert shipped({"stmt": subjects[0]}).startswith("ALTER TABLE takes ACCESS EXCLUSIVE")
