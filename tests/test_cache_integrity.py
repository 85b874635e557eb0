"""A cache that cannot lie or run code (issue 18): whatever happens to the cache folder, the
output is the `--no-cache` output."""

from __future__ import annotations

import json
import marshal
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import CodeType

import pytest
from click.testing import CliRunner, Result

from schema_review import resources
from schema_review.cli import main
from schema_review.parse import postgres
from schema_review.resources import load_cached, store_bytes, store_cached
from schema_review.rules import builtin_rules_dir, loader

MIGRATIONS = {
    "0001_users.sql": "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n",
    "0002_drop.sql": "DROP TABLE users;\n",
    "0003_noop.sql": "SELECT 1;\n",
}
USER_RULES = """\
- id: team-no-drop
  title: No DROP TABLE in this team
  severity: high
  category: compatibility
  target: statement
  kinds: [drop_table]
  when: "true"
  message: "{{ stmt.kind }} is not allowed here"
  why: The team's own rule.
  examples:
    bad: "DROP TABLE t;"
    good: "SELECT 1;"
"""
AREAS = ("parse", "rules", "results", "yaml")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A migration folder, a configuration with a rule file of the team's own, and a cache
    folder of the test's own."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "migrations"
    folder.mkdir()
    for name, text in MIGRATIONS.items():
        (folder / name).write_text(text, encoding="utf-8")
    (tmp_path / "team-rules.yaml").write_text(USER_RULES, encoding="utf-8")
    (tmp_path / ".schema-review.yaml").write_text("rule-files: [team-rules.yaml]\n")
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    monkeypatch.setenv("SCHEMA_REVIEW_CACHE_DIR", str(cache))
    monkeypatch.delenv("SCHEMA_REVIEW_NO_CACHE", raising=False)
    return tmp_path


def _lint(*options: str) -> Result:
    return CliRunner().invoke(
        main, ["lint", "migrations", "--format", "json", "--select", "all", *options]
    )


def _entries(cache: Path, area: str) -> list[Path]:
    return sorted(p for p in (cache / area).rglob("*") if p.is_file())


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _zero(path: Path) -> None:
    path.write_bytes(bytes(len(path.read_bytes())))


def _random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(str(path)).randbytes(len(path.read_bytes())))


def _bit_flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    # A bit of the content (past the header), as a disk or a copy would flip it.
    position = random.Random(str(path)).randrange(40, len(data))
    data[position] ^= 0x10
    path.write_bytes(bytes(data))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "truncate": _truncate,
    "zero": _zero,
    "random-bytes": _random_bytes,
    "bit-flip": _bit_flip,
    "empty": _empty,
}


def test_cache_holds_data_only_and_answers_as_without_it(project: Path) -> None:
    reference = _lint("--no-cache")
    assert reference.exit_code == 1, reference.output
    assert '"rule": "drop-table"' in reference.output
    assert '"rule": "team-no-drop"' in reference.output
    cache = project / "cache"
    assert not list(cache.rglob("*")), "--no-cache wrote to the cache"
    first = _lint()
    assert (first.exit_code, first.output) == (reference.exit_code, reference.output)
    second = _lint()  # from the result cache
    assert (second.exit_code, second.output) == (reference.exit_code, reference.output)
    for area in AREAS:
        assert _entries(cache, area), f"nothing cached in {area}"
    # Only these areas: no compiled templates, no compiled rule code.
    assert sorted(p.name for p in cache.iterdir()) == sorted(AREAS)
    for area in ("parse", "rules", "yaml"):
        for entry in _entries(cache, area):
            value = marshal.loads(entry.read_bytes()[40:])
            _assert_no_code(value)


def _assert_no_code(value: object) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        assert not isinstance(item, CodeType)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


@pytest.mark.parametrize("area", AREAS)
@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_damaged_entry_is_a_miss(project: Path, area: str, corruption: str) -> None:
    reference = _lint("--no-cache")
    _lint()  # fill the cache
    cache = project / "cache"
    entries = _entries(cache, area)
    assert entries
    for entry in entries:
        CORRUPTIONS[corruption](entry)
    for _ in range(2):  # the damaged entries, then what the run wrote in their place
        again = _lint()
        assert (again.exit_code, again.output) == (reference.exit_code, reference.output)


def _parse_key(name: str) -> resources.CacheKey:
    text = (Path("migrations") / name).read_text(encoding="utf-8")
    key = postgres._cache_path(text)
    assert key is not None and key.path.exists(), "the test computes the key the run uses"
    return key


def test_entries_of_the_wrong_shape_are_a_miss(project: Path) -> None:
    """Entries with a good checksum (as our own writer makes them) but not the shape their
    reader expects: wrong arity, wrong types, wrong container."""
    reference = _lint("--no-cache")
    _lint()
    shapes: list[object] = [
        {"not": "a parse"},
        ([("SelectStmt",)], []),
        ([(0, "DropStmt", None, 0, 17, 0, 0)], []),
        ([], [("0", "message")]),
        (None, None),
    ]
    for shape in shapes:
        for name in MIGRATIONS:
            store_cached(_parse_key(name), shape)
        for path in [*builtin_rules_dir().glob("*.yaml"), Path("team-rules.yaml")]:
            key = loader._read_yaml(path)[2]
            assert key is not None
            # Runs read the built-in rules from prebuilt.json, the team's file through the
            # cache (the built-in files' entries are read only when prebuilt.json is stale).
            assert key.path.exists() or path.name != "team-rules.yaml"
            store_cached(key, ([1, "two"], True) if shape is not None else ({"rules": 3}, True))
        for entry in _entries(project / "cache", "results"):
            entry.unlink()
        again = _lint()
        assert (again.exit_code, again.output) == (reference.exit_code, reference.output)


def test_planted_entries_cannot_make_a_drop_table_lint_clean(project: Path) -> None:
    reference = _lint("--no-cache")
    _lint()
    cache = project / "cache"
    # The parse of the file that does nothing, put where the DROP TABLE file's parse is.
    clean, dropping = _parse_key("0003_noop.sql"), _parse_key("0002_drop.sql")
    shutil.copyfile(clean.path, dropping.path)
    # ...and the same as an older schema-review wrote it: plain marshal, no checksum.
    planted = project / "planted"
    planted.write_bytes(marshal.dumps(([], [])))
    # The output of a clean run, put where this run's output is.
    (project / "clean").mkdir()
    (project / "clean" / "0001_noop.sql").write_text("SELECT 1;\n")
    clean_run = CliRunner().invoke(main, ["lint", "clean", "--format", "json", "--select", "all"])
    assert clean_run.exit_code == 0
    results = _entries(cache, "results")
    newest = max(results, key=lambda p: p.stat().st_mtime_ns)
    for entry in results:
        if entry != newest:
            shutil.copyfile(newest, entry)
    again = _lint()
    assert (again.exit_code, again.output) == (reference.exit_code, reference.output)
    shutil.copyfile(planted, dropping.path)
    for entry in results:
        if entry != newest:
            entry.unlink()
    again = _lint()
    assert (again.exit_code, again.output) == (reference.exit_code, reference.output)
    # The entries the run wrote back are its own: the checked reader reads them again.
    assert load_cached(dropping) is not None


def test_an_entry_copied_under_another_key_is_a_miss(project: Path) -> None:
    _lint()
    clean, dropping = _parse_key("0003_noop.sql"), _parse_key("0002_drop.sql")
    shutil.copyfile(clean.path, dropping.path)
    assert load_cached(dropping) is None
    assert load_cached(clean) is not None
    store_bytes(dropping, b"a payload that is not marshal data")
    assert load_cached(dropping) is None


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_cache_folder_others_can_write_is_not_used(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _lint("--no-cache")
    shared = project / "shared-cache"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("SCHEMA_REVIEW_CACHE_DIR", str(shared))
    monkeypatch.setattr(resources, "_usable", {})
    result = CliRunner().invoke(main, ["lint", "migrations", "--format", "json", "--select", "all"])
    assert result.exit_code == reference.exit_code
    assert result.stdout == reference.output
    notices = [line for line in result.stderr.splitlines() if "notice" in line]
    assert notices == [
        f"schema-review: notice: cache {shared} not used: writable by group or others"
        f" (chmod go-w {shared})"
    ]
    assert not list(shared.iterdir()), "a cache others can write was written to"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs chown")
def test_a_cache_folder_of_another_user_is_not_used(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _lint("--no-cache")
    theirs = project / "their-cache"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)
    monkeypatch.setenv("SCHEMA_REVIEW_CACHE_DIR", str(theirs))
    monkeypatch.setattr(resources, "_usable", {})
    result = CliRunner().invoke(main, ["lint", "migrations", "--format", "json", "--select", "all"])
    assert result.stdout == reference.output
    assert f"cache {theirs} not used: owned by another user" in result.stderr
    assert not list(theirs.iterdir())


def test_a_configuration_read_before_does_not_import_pyyaml(project: Path) -> None:
    """A pre-commit run reads the configuration from the cache: importing PyYAML is a tenth
    of a run on one file. The settings are those of the file, also once it changes."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from schema_review.config import load_settings\n"
        "settings = load_settings(Path('.schema-review.yaml'))\n"
        "print([f.name for f in settings.rule_files], 'yaml' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

    def run() -> str:
        return subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()

    assert run() == "['team-rules.yaml'] True"
    assert run() == "['team-rules.yaml'] False"
    (project / ".schema-review.yaml").write_text("rule-files: [other.yaml]\n")
    assert run() == "['other.yaml'] True"
    assert run() == "['other.yaml'] False"


def test_a_cached_result_follows_what_says_the_dialect(project: Path) -> None:
    """The dialect read from a file beside the migrations (sqlx's driver in the crate's
    Cargo.toml) is part of a cached result's key: changing it lints again."""
    manifest = project / "Cargo.toml"
    manifest.write_text('[dependencies]\nsqlx = { version = "0.8", features = ["postgres"] }\n')

    def dialect() -> str:
        result = _lint()
        settings = json.loads(result.output)["summary"]["settings"]
        return str(settings["histories"][0]["dialect"]["value"])

    assert dialect() == "postgres"
    assert dialect() == "postgres"  # from the result cache
    manifest.write_text('[dependencies]\nsqlx = { version = "0.8", features = ["sqlite"] }\n')
    assert dialect() == "sqlite"
