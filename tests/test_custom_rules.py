"""A team's rule file fails early (issue 14, item 7): unknown statement kinds and attributes
its objects do not have are refused when it loads, located at the rule's line, and
`schema-review test-rules` runs its examples."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import schema_review.pipeline  # noqa: F401  (the migration facts it adds are part of the model)
from schema_review.cli import main
from schema_review.config import Settings
from schema_review.model.changes import STATEMENT_KINDS
from schema_review.pipeline import replay_histories
from schema_review.rules import load_rules
from schema_review.rules.reference import rule_problems
from tests.helpers import REPO, split_example, write_migrations

RULE = """\
# The team's rules.
- id: team-no-uuid-v1
  title: uuid_generate_v1() leaks the MAC address
  severity: medium
  category: security
  target: {target}
  kinds: {kinds}
  when: {when}
  message: "{message}"
  why: Version 1 UUIDs embed the generating host's MAC address and a timestamp.
  options: {{words: [uuid_generate_v1]}}
  examples:
    bad: |
      CREATE TABLE t (id uuid PRIMARY KEY DEFAULT uuid_generate_v1());
    good: |
      CREATE TABLE t (id uuid PRIMARY KEY DEFAULT gen_random_uuid());
"""
GOOD_WHEN = (
    '"column.default is not none and column.default.function_names | intersects(options.words)"'
)


def rule_file(tmp_path: Path, **fields: str) -> Path:
    values = {
        "target": "column",
        "kinds": "[]",
        "when": GOOD_WHEN,
        "message": "{{ column.qualified_name }} defaults to uuid_generate_v1()",
    }
    values.update(fields)
    path = tmp_path / "team-rules.yaml"
    path.write_text(RULE.format(**values), encoding="utf-8")
    return path


def lint_with(path: Path, tmp_path: Path) -> tuple[int, str]:
    folder = write_migrations(tmp_path / "db", [("0001_t.sql", "CREATE TABLE t (id int);\n")])
    config = tmp_path / ".schema-review.yaml"
    config.write_text(f"rule-files: [{path.name}]\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["lint", str(folder), "--config", str(config)])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        (
            {"when": '"column.defualt is not none"'},
            "'when': `column.defualt`: Column has no attribute defualt (did you mean default?)",
        ),
        (
            {"message": "{{ column.table.primry_key.name }}"},
            "'message': `column.table.primry_key`: Table has no attribute primry_key"
            " (did you mean primary_key?)",
        ),
        (
            {"when": '"column.default.function_name"'},
            "`column.default.function_name`: Expression has no attribute function_name"
            " (did you mean function_names?)",
        ),
        (
            {"when": '"column.default is none and options.wrods"'},
            "`options.wrods`: the rule's options has no attribute wrods (did you mean words?)",
        ),
        (
            {"target": "statement", "kinds": "[create_tabel]", "when": "stmt.table"},
            "unknown statement kind create_tabel (did you mean create_table?)",
        ),
        (
            {"target": "statement", "kinds": "[add_column]", "when": '"stmt.column.typ"'},
            "`stmt.column.typ`: Column has no attribute typ (did you mean type?)",
        ),
    ],
    ids=["attribute", "deep", "expression", "option", "kind", "statement"],
)
def test_a_wrong_rule_stops_the_run_where_it_is_written(
    tmp_path: Path, fields: dict[str, str], error: str
) -> None:
    path = rule_file(tmp_path, **fields)
    code, output = lint_with(path, tmp_path)
    assert code == 2, output
    # At the line of the field that is wrong.
    field = "kinds" if "statement kind" in error else "message" if "'message'" in error else "when"
    line = 1 + RULE.splitlines().index(next(x for x in RULE.splitlines() if f"  {field}:" in x))
    assert output.startswith(f"schema-review: error: {path}:{line}: rule team-no-uuid-v1: "), output
    assert error in output
    assert len(output.splitlines()) == 1
    tested = CliRunner().invoke(main, ["test-rules", str(path)])
    assert tested.exit_code == 2 and error in tested.output


def test_a_key_written_twice_is_refused_at_its_line(tmp_path: Path) -> None:
    """PyYAML keeps the last of two equal keys silently: a rule whose `when` (or `dialects`)
    is written twice would run with the second one only."""
    path = rule_file(tmp_path)
    lines = path.read_text(encoding="utf-8").splitlines()
    when = next(i for i, line in enumerate(lines) if line.startswith("  when:"))
    lines.insert(when + 1, "  when: true")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, output = lint_with(path, tmp_path)
    assert code == 2, output
    assert f"{path}:{when + 2}:3: invalid YAML: duplicate key 'when'" in output, output


def test_what_the_model_has_is_accepted(tmp_path: Path) -> None:
    """Methods, loop variables, `set` names, dicts read as attributes, strings' methods, the
    object before (`obj.previous`), an attribute of the subclass a value typed as the base
    class is (`stmt.object`) and the facts of a history: nothing the run could read is
    refused."""
    path = tmp_path / "team-rules.yaml"
    path.write_text(
        """\
- id: team-history
  title: t
  severity: low
  category: history
  target: history
  kinds: [constraint, index]
  when: obj.previous is not none and obj.previous.definition != obj.definition
  message: >-
    {% set t = obj.table %}{{ t.qualified_name.upper() }} {{ obj.previous.created.file }}
    {% for c in t.columns.values() %}{{ c.whatever_a_loop_reads }}{% endfor %}
    {{ model.tables.anything }} {{ t.unique_on_lower('email') }} {{ profile.pg_version }}
  why: w
  examples: {bad: "SELECT 1;", good: "SELECT 1;"}
- id: team-definer
  title: t
  severity: low
  category: security
  target: statement
  kinds: [create_function]
  when: stmt.object is not none and stmt.object.security_definer
  message: "{{ stmt.object.qualified_name }}"
  why: w
  examples: {bad: "SELECT 1;", good: "SELECT 1;"}
- id: team-migration
  title: t
  severity: low
  category: history
  target: migration
  when: migration.version.startswith('0') and migration.source.display
  message: "{{ migration.label }}"
  why: w
  examples: {bad: "SELECT 1;", good: "SELECT 1;"}
""",
        encoding="utf-8",
    )
    loaded = [r.id for r in load_rules([path])][-3:]
    assert loaded == ["team-history", "team-definer", "team-migration"]


def test_every_built_in_rule_reads_only_what_the_model_has() -> None:
    """The check the loader runs on a team's rules holds for the built-in ones (it skips them
    when they load: their examples are run by the tests)."""
    wrong = {}
    for rule in load_rules():
        if not rule.evaluated:
            continue
        sources = {"when": rule.when, "message": rule.message, "fix": rule.fix}
        sources.update(object=rule.object, applies=rule.applies)
        problems = rule_problems(rule.target, rule.kinds, rule.options, sources)
        if problems:
            wrong[rule.id] = problems
    assert wrong == {}


def test_every_statement_kind_the_replay_records_is_documented(tmp_path: Path) -> None:
    """`kinds` is checked against STATEMENT_KINDS: a kind the replay records and the list
    lacks would refuse a correct rule. Each kind the model's source passes to a change, and
    each one the examples and the built-in rules' examples record, is in the list."""
    source = "\n".join(
        p.read_text(encoding="utf-8") for p in (REPO / "schema_review" / "model").rglob("*.py")
    )
    written = set(re.findall(r"(?:change|emit)\(\s*\"([a-z_]+)\"", source))
    written |= {f"drop_{k}" for k in ("trigger", "policy")}  # emit(f"drop_{kind}", ...)
    assert written - set(STATEMENT_KINDS) == set()
    recorded: set[str] = set()
    folders = [REPO / "examples"]
    for index, rule in enumerate(load_rules()):
        for which in ("bad", "good"):
            folder = tmp_path / f"{index}-{which}"
            folders.append(write_migrations(folder, split_example(rule.examples[which])))
    for folder in folders:
        for history in replay_histories([folder], Settings(allow_empty=True)):
            recorded |= {change.kind for change in history.model.changes}
    assert recorded - set(STATEMENT_KINDS) == set()
    assert len(recorded) >= 40


def test_test_rules_runs_the_examples(tmp_path: Path) -> None:
    passing = rule_file(tmp_path)
    result = CliRunner().invoke(main, ["test-rules", str(passing)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{passing}:2: team-no-uuid-v1: pass",
        "1 rules: 1 passed, 0 failed, 0 skipped",
    ]
    # The examples swapped: the bad one raises nothing, the good one raises the rule.
    swapped = tmp_path / "swapped.yaml"
    text = passing.read_text(encoding="utf-8")
    swapped.write_text(
        text.replace("uuid_generate_v1());", "@@")
        .replace("gen_random_uuid());", "uuid_generate_v1());")
        .replace("@@", "gen_random_uuid());"),
        encoding="utf-8",
    )
    failing = CliRunner().invoke(main, ["test-rules", str(swapped)])
    assert failing.exit_code == 1, failing.output
    assert failing.output.splitlines() == [
        f"{swapped}:2: team-no-uuid-v1: FAIL: the bad example raises nothing; the good example"
        " raises it: public.t.id defaults to uuid_generate_v1()",
        "1 rules: 0 passed, 1 failed, 0 skipped",
    ]
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        text.replace("DEFAULT gen_random_uuid());", "DEFAULT gen_random_uuid();"),
        encoding="utf-8",
    )
    unparsed = CliRunner().invoke(main, ["test-rules", str(broken)])
    assert unparsed.exit_code == 1
    assert "FAIL: good example does not parse: syntax error" in unparsed.output
    missing = CliRunner().invoke(main, ["test-rules", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "nope.yaml: no such rule file" in missing.output


def test_test_rules_on_the_built_in_rules_and_their_profiles() -> None:
    """Examples with a base (--diff-base), a profile and options run as the test suite runs
    them: every built-in rule of the history and conventions packs passes."""
    files = [str(REPO / "rules" / name) for name in ("history.yaml", "conventions.yaml")]
    result = CliRunner().invoke(main, ["test-rules", *files])
    assert result.exit_code == 0, result.output
    assert "modified-applied-migration: pass" in result.output
    assert " failed" in result.output and ", 0 failed," in result.output


ATTRIBUTES = "schema-review attributes -o docs/attributes.md"


def test_docs_attributes_md_is_fresh() -> None:
    """The reference of what rules and templates read is generated from the model: a field,
    property or method added, renamed or documented changes it."""
    result = CliRunner().invoke(main, ["attributes"])
    assert result.exit_code == 0, result.output
    written = (REPO / "docs" / "attributes.md").read_text(encoding="utf-8")
    assert written == result.output, (
        f"docs/attributes.md is stale: regenerate it with `{ATTRIBUTES}`"
    )


def test_the_reference_documents_what_rules_read() -> None:
    text = (REPO / "docs" / "attributes.md").read_text(encoding="utf-8")
    assert "| `foreign_key` | `fk` | `Constraint` |" in text
    assert "| `default` | `Expression | None` |" in text  # a field, with its type
    # a property with its docstring, a field with its comment, a method with its parameters
    assert "| `has_default` | `bool` | A value for existing rows: DEFAULT, identity," in text
    assert "| `identity` | `str | None` | 'always' or 'by default' |" in text
    assert "| `unique_on_lower(column)` |" in text
    assert "| `add_column` | ALTER TABLE ... ADD COLUMN |" in text
    for name in ("### Change", "### Table", "### MigrationFacts", "### Profile", "### Event"):
        assert f"\n{name}\n" in text
    assert "| `top_issues` | `list[dict[str, Any]]` | `rule`, `title`," in text


def test_the_readme_example_rule_passes_its_own_examples(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("### Writing rules", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    path = tmp_path / "team-rules.yaml"
    path.write_text(block, encoding="utf-8")
    result = CliRunner().invoke(main, ["test-rules", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.endswith("1 rules: 1 passed, 0 failed, 0 skipped\n")
