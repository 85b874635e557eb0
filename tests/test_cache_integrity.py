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
AREAS = ("parse", "rules", "results", "yaml", "files")


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
    # The files were written a moment ago: remembered by their stat all the same, so that
    # the list of file digests is in the cache for the damage below (see _SETTLED_NS).
    monkeypatch.setattr(resources, "_SETTLED_NS", 0)
    return tmp_path


def _python(script: str) -> subprocess.CompletedProcess[str]:
    """`script` run by a new interpreter that imports this checkout (a fresh process: which
    modules a run imports is the point), in the current folder; it must succeed."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )


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
    for area in ("parse", "rules", "yaml", "files"):
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

    def run() -> str:
        return _python(script).stdout.strip()

    assert run() == "['team-rules.yaml'] True"
    assert run() == "['team-rules.yaml'] False"
    (project / ".schema-review.yaml").write_text("rule-files: [other.yaml]\n")
    assert run() == "['other.yaml'] True"
    assert run() == "['other.yaml'] False"


@pytest.mark.parametrize("named", [False, True], ids=["folder", "files-named"])
def test_a_cached_result_follows_what_says_the_dialect(project: Path, named: bool) -> None:
    """The dialect read from a file beside the migrations (sqlx's driver in the crate's
    Cargo.toml) is part of a cached result's key: changing it lints again, also when the
    files are named one by one (a pre-commit hook; the key does not ask discovery then)."""
    manifest = project / "Cargo.toml"
    manifest.write_text('[dependencies]\nsqlx = { version = "0.8", features = ["postgres"] }\n')
    files = sorted(str(p.relative_to(project)) for p in (project / "migrations").glob("*.sql"))

    def dialect() -> str:
        result = (
            CliRunner().invoke(main, ["lint", *files, "--format", "json", "--select", "all"])
            if named
            else _lint()
        )
        settings = json.loads(result.output)["summary"]["settings"]
        return str(settings["histories"][0]["dialect"]["value"])

    assert dialect() == "postgres"
    assert dialect() == "postgres"  # from the result cache
    manifest.write_text('[dependencies]\nsqlx = { version = "0.8", features = ["sqlite"] }\n')
    assert dialect() == "sqlite"


@pytest.fixture
def pipeline_runs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The paths of each lint the result cache did not answer."""
    from schema_review import pipeline

    runs: list[tuple[str, ...]] = []
    real = pipeline.lint

    def counted(paths: tuple[str, ...], *args: object, **kwargs: object) -> object:
        runs.append(tuple(paths))
        return real(paths, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "lint", counted)
    return runs


def test_a_file_rewritten_with_its_size_and_time_kept_is_read_again(
    project: Path, pipeline_runs: list[tuple[str, ...]]
) -> None:
    """The stat a file is remembered by includes its change time, which no tool sets back:
    new content of the same size under the old modification time is new content."""
    _lint()
    assert len(pipeline_runs) == 1
    assert _lint().output == _lint("--no-cache").output
    assert len(pipeline_runs) == 2  # --no-cache only: the others came from the cache
    target = project / "migrations" / "0002_drop.sql"
    before = target.stat()
    target.write_text("SELECT 123456789;\n", encoding="utf-8")  # as long as DROP TABLE users;
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = target.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )
    again = _lint()
    assert len(pipeline_runs) == 3
    assert '"rule": "drop-table"' not in again.output
    assert again.output == _lint("--no-cache").output


def test_a_file_touched_but_not_changed_is_answered_from_the_cache(
    project: Path, pipeline_runs: list[tuple[str, ...]]
) -> None:
    """A checkout or `touch` moves the times: the file is read and hashed again, and the
    result of the same content is the answer."""
    first = _lint()
    target = project / "migrations" / "0001_users.sql"
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 5 * 10**9))
    again = _lint()
    assert (again.exit_code, again.output) == (first.exit_code, first.output)
    assert len(pipeline_runs) == 1


def test_files_named_one_by_one_are_keyed_by_their_order_and_spelling(
    project: Path, pipeline_runs: list[tuple[str, ...]]
) -> None:
    """Files named on the command line are one history in the order given, shown as
    spelt: another order or spelling is another run (the key is made without asking
    discovery)."""
    names = sorted(MIGRATIONS)
    options = ["--format", "json", "--select", "all"]
    runs: list[list[str]] = [
        [f"migrations/{n}" for n in names],
        [f"migrations/{n}" for n in reversed(names)],
        [f"./migrations/{n}" for n in names],
    ]
    for paths in runs:
        for _ in range(2):
            result = CliRunner().invoke(main, ["lint", *options, *paths])
            reference = CliRunner().invoke(main, ["lint", *options, "--no-cache", *paths])
            assert (result.exit_code, result.output) == (reference.exit_code, reference.output)
    cached = [run for run in pipeline_runs if run]
    # Each order and spelling linted once with the cache (then answered), once without.
    assert [list(run) for run in cached[::4]] == runs


def test_a_diesel_metadata_file_is_part_of_the_key(
    tmp_path: Path, project: Path, pipeline_runs: list[tuple[str, ...]]
) -> None:
    """diesel's metadata.toml decides whether a migration runs in a transaction: adding
    or changing it changes the result."""
    folder = tmp_path / "diesel"
    for version, up in (
        ("2024-01-01-000000_t", "CREATE TABLE t (id int PRIMARY KEY);\n"),
        ("2024-01-02-000000_idx", "CREATE INDEX CONCURRENTLY t_idx ON t (id);\n"),
    ):
        (folder / version).mkdir(parents=True)
        (folder / version / "up.sql").write_text(up, encoding="utf-8")
        (folder / version / "down.sql").write_text("SELECT 1;\n", encoding="utf-8")
    arguments = ["lint", "diesel", "--format", "json", "--select", "all"]
    metadata = folder / "2024-01-02-000000_idx" / "metadata.toml"
    for content in (None, "run_in_transaction = false\n", "run_in_transaction = true\n"):
        if content is not None:
            metadata.write_text(content, encoding="utf-8")
        result = CliRunner().invoke(main, arguments)
        reference = CliRunner().invoke(main, [*arguments, "--no-cache"])
        assert (result.exit_code, result.output) == (reference.exit_code, reference.output)
        in_transaction = content != "run_in_transaction = false\n"
        assert ('"rule": "concurrently-in-transaction"' in result.output) == in_transaction


def test_output_to_a_file_from_the_cache_is_the_same_bytes(project: Path) -> None:
    reference = project / "reference.json"
    CliRunner().invoke(main, ["lint", "migrations", "--no-cache", "-o", str(reference)])
    for name in ("first.json", "second.json"):
        result = CliRunner().invoke(main, ["lint", "migrations", "-o", str(project / name)])
        assert result.exit_code == 1 and result.output == ""
        assert (project / name).read_bytes() == reference.read_bytes()


def test_files_changed_moments_before_a_run_are_not_remembered(project: Path) -> None:
    """A file changed within the file system clock's tick before it was hashed could change
    again without its stat moving: only files settled for a while are remembered (as git
    treats "racy" files). A remembered stat is trusted: that is what it is for."""
    target = project / "migrations" / "0001_users.sql"
    key = resources.cache_key("files", resources._DIGESTS_FORMAT, "scope")

    def remembered() -> dict[bytes, bytes]:
        known = load_cached(key)
        return known if isinstance(known, dict) else {}

    resources._SETTLED_NS = 3_000_000_000  # the project fixture's monkeypatch restores it
    digests = resources.FileDigests("scope")
    first = digests.digest(target)
    digests.save()
    assert first is not None and remembered() == {}
    resources._SETTLED_NS = 0
    digests = resources.FileDigests("scope")
    assert digests.digest(target) == first
    digests.save()
    assert list(remembered().values()) == [first]
    # The remembered digest answers for the same stat, without reading the file: planted
    # under the file's stat, another digest is believed.
    (stat_key,) = remembered()
    store_cached(key, {stat_key: b"planted"})
    assert resources.FileDigests("scope").digest(target) == b"planted"
    target.write_text("CREATE TABLE users (id bigint PRIMARY KEY);\n", encoding="utf-8")
    assert resources.FileDigests("scope").digest(target) not in (first, b"planted")


def test_a_run_the_result_cache_answers_imports_little(project: Path) -> None:
    """What a repeated run on files named one by one (a pre-commit hook) loads: not the
    parser, discovery, PyYAML, tomllib or OpenSSL (through hashlib)."""
    (project / "pyproject.toml").write_text('[project]\nname = "uses-schema-review"\n')
    script = (
        "import sys\n"
        "from schema_review.cli import main\n"
        "try:\n"
        "    main(['lint', 'migrations/0001_users.sql', 'migrations/0002_drop.sql'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "names = ('schema_review.discover', 'schema_review.pipeline', 'yaml', 'tomllib',"
        " 'hashlib')\n"
        "print([name for name in names if name in sys.modules], file=sys.stderr)\n"
    )

    def loaded() -> str:
        return _python(script).stderr.strip().splitlines()[-1]

    assert "schema_review.pipeline" in loaded()
    assert loaded() == "[]"


def test_a_pyproject_read_before_does_not_import_tomllib(project: Path) -> None:
    """The `[tool.schema-review]` table of a pyproject.toml comes from the cache once read,
    and its edits are read."""
    (project / ".schema-review.yaml").unlink()
    pyproject = project / "pyproject.toml"
    script = (
        "import sys\n"
        "from schema_review.config import load_settings\n"
        "settings = load_settings(paths=['migrations'])\n"
        "print(settings.fail_on, 'tomllib' in sys.modules)\n"
    )

    def run() -> str:
        return _python(script).stdout.strip()

    pyproject.write_text('[tool.schema-review]\nfail-on = "low"\n')
    assert run() == "low True"
    assert run() == "low False"
    pyproject.write_text('[tool.schema-review]\nfail-on = "critical"\n')
    assert run() == "critical True"
    assert run() == "critical False"
    # A project that only names the tool has no table: the default, the file not parsed.
    pyproject.write_text('[project]\nname = "uses-schema-review"\n')
    assert run() == "high False"
    assert run() == "high False"


def test_a_library_upgrade_is_a_new_run(
    project: Path, pipeline_runs: list[tuple[str, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached result of one pglast or sqlglot must not answer for another: the keyed
    libraries' installed top modules are in the key (here a stand-in package on sys.path,
    rewritten as an upgrade rewrites it)."""
    from schema_review import cli

    site = project / "site"
    (site / "fakelib").mkdir(parents=True)
    module = site / "fakelib" / "__init__.py"
    module.write_text("VERSION = '1.0'\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(cli, "_KEYED_LIBRARIES", (*cli._KEYED_LIBRARIES, "fakelib"))
    _lint()
    _lint()
    assert len(pipeline_runs) == 1  # the second from the cache
    module.write_text("VERSION = '1.10'\n", encoding="utf-8")
    _lint()
    assert len(pipeline_runs) == 2


def test_the_parse_cache_keeps_trees_as_json_text(project: Path) -> None:
    """A parse is cached with each statement's tree as its JSON text (a warm run loads every
    file's parse before the replay: texts are a fraction of the dicts' memory), and one
    orjson cannot write (nested deeper than its limit) as its dict; both read back to the
    same run."""
    chain = " || ".join(f"'p{i}'" for i in range(200))
    Path("migrations/0004_deep.sql").write_text(f"SELECT {chain};\n", encoding="utf-8")
    reference = _lint("--no-cache")
    assert _lint().output == reference.output  # parsed, and the parse cached
    users = load_cached(_parse_key("0001_users.sql"))
    assert isinstance(users[0][0][2], str)  # (statements, problems): the first's tree
    assert json.loads(users[0][0][2])["relation"]["relname"] == "users"
    deep = load_cached(_parse_key("0004_deep.sql"))
    assert isinstance(deep[0][0][2], dict)
    os.environ["SCHEMA_REVIEW_NO_RESULT_CACHE"] = "1"
    try:
        assert _lint().output == reference.output  # replayed from the cached parses
    finally:
        del os.environ["SCHEMA_REVIEW_NO_RESULT_CACHE"]
