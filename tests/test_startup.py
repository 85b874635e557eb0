"""What a cold run on one file (a pre-commit hook on a fresh machine) spends outside the
linting itself. Costs are measured in bench/ (`--only startup --instructions`); these tests
pin what makes them, so that a change that brings a cost back fails here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Registered before the command line's own exit handler, so run after it (atexit runs the
# last registered first): what the interpreter's final collection will have left to walk.
_SCRIPT = """\
import atexit, gc, json, sys
loaded = lambda: sorted(set(sys.argv[1:]) & set(sys.modules))
atexit.register(lambda: print(json.dumps([loaded(), len(gc.get_objects())]), file=sys.stderr))
from schema_review.cli import main
main(['lint', '--no-cache', '--select', 'all', '--format', 'json', '--fail-on', 'none',
      'migrations/0001_users.sql'])
"""


def _python(code: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`code` run by a fresh interpreter on this checkout (with `cwd`: there, its cache in
    a folder of its own), which must succeed."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if cwd is not None:
        env["SCHEMA_REVIEW_CACHE_DIR"] = str(cwd / "c")
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def _cold_run(folder: Path, *modules: str) -> tuple[list[str], int]:
    """The `modules` a cold run on one file imported, and how many objects alive at its exit
    were not frozen (the interpreter's last collection walks them)."""
    done = _python(_SCRIPT, *modules, cwd=folder)
    names, walked = json.loads(done.stderr.strip().splitlines()[-1])
    return names, walked


def _project(tmp_path: Path) -> Path:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_users.sql").write_text(
        "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n"
    )
    return tmp_path


def test_a_cold_run_freezes_what_it_leaves_at_exit(tmp_path: Path) -> None:
    """The interpreter's last act is a collection over every object still alive (modules,
    rules, the model): a twentieth of a one-file run, for memory the process gives back
    whole. Frozen objects are left out of it (those the imports made are frozen as soon as
    the commands are built; the run's, at exit)."""
    assert _cold_run(_project(tmp_path))[1] < 100


def test_tomllib_is_imported_only_for_a_cargo_toml_to_read(tmp_path: Path) -> None:
    """sqlx's driver is read from the crate's Cargo.toml: a folder without one (most) does
    not import tomllib (1% of a one-file run)."""
    project = _project(tmp_path)
    assert _cold_run(project, "tomllib")[0] == []
    (project / "Cargo.toml").write_text('[dependencies]\nsqlx = { features = ["postgres"] }\n')
    assert _cold_run(project, "tomllib")[0] == ["tomllib"]


def test_a_json_run_of_the_built_in_rules_imports_no_jinja(tmp_path: Path) -> None:
    """The built-in rules' conditions and templates are compiled to Python when the package is
    built and run on runtime.RuleSandbox: importing Jinja cost a one-file run a seventh of
    its instructions. Here a finding renders a fix with a filtered loop
    (add-column-not-null-without-default's); Jinja stays out until something needs it."""
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0000_base.sql").write_text(
        "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n"
    )
    (tmp_path / "migrations" / "0001_users.sql").write_text(
        "ALTER TABLE users ADD COLUMN tenant_id bigint NOT NULL;\n"
    )
    assert _cold_run(tmp_path, "jinja2", "markupsafe")[0] == []


_YAML_SCRIPT = """\
import atexit, re, sys
atexit.register(lambda: print(isinstance(sys.modules["yaml"].reader.Reader.NON_PRINTABLE,
                                         re.Pattern), file=sys.stderr))
from schema_review.cli import main
main(['lint', '--no-cache', '--select', 'all', '--format', 'json', '--fail-on', 'none',
      'migrations/0001_users.sql'])
"""


def test_a_configuration_is_read_without_compiling_pyyamls_pure_python_reader(
    tmp_path: Path,
) -> None:
    """Importing PyYAML compiles its pure-Python reader's pattern of printable characters (a
    class over all of Unicode): an eighth of a one-file run, for a reader the C loader
    (libyaml) never uses. A run that reads a .schema-review.yaml leaves it uncompiled."""
    project = _project(tmp_path)
    (project / ".schema-review.yaml").write_text("fail-on: high\n")
    done = _python(_YAML_SCRIPT, cwd=project)
    assert '"configuration": ".schema-review.yaml"' in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "False"


def test_pyyamls_pure_python_reader_still_refuses_what_is_not_printable() -> None:
    """The pattern put off by resources.import_yaml is compiled when the pure-Python reader
    (PyYAML without libyaml) first checks a document: the same error as before."""
    code = """\
import re, sys
from schema_review.resources import import_yaml
yaml = import_yaml()
pattern = yaml.reader.Reader.NON_PRINTABLE
print(isinstance(pattern, re.Pattern))
try:
    yaml.load("key: \\x07\\n", Loader=yaml.SafeLoader)
except yaml.reader.ReaderError as error:
    print(error)
print(yaml.load("key: caf\\u00e9\\n", Loader=yaml.SafeLoader))
print(pattern.search("ok\\x07").start(), isinstance(pattern._compiled, re.Pattern))
"""
    done = _python(code)
    lines = done.stdout.splitlines()
    assert lines[0] == "False"
    assert "special characters are not allowed" in done.stdout
    assert "#x0007: special characters are not allowed" in done.stdout
    assert lines[-2] == "{'key': 'café'}"
    assert lines[-1] == "2 True"


def test_the_collector_is_held_off_while_the_commands_are_built() -> None:
    """Importing click and building the commands makes no garbage: the collector's passes
    over what they make (2% of a one-file run) wait until they are built (none once click is
    being imported), then what was built is frozen and the collector's thresholds are as
    they were."""
    code = """\
import gc, sys
gc.set_threshold(500, 7, 9)
passes = []
gc.callbacks.append(lambda phase, info: passes.append("click" in sys.modules))
import schema_review.cli
print(any(passes), gc.get_threshold(), gc.get_freeze_count() > 10_000)
"""
    assert _python(code).stdout.split("\n")[0] == "False (500, 7, 9) True"


def test_the_time_budget_of_rules_does_not_import_signal(tmp_path: Path) -> None:
    """rules.bounds arms its timer with the C module `signal` wraps: `import signal` builds
    enums of every signal and handler (1% of a one-file run). The budget itself is tested
    in test_security (runaway rules)."""
    assert _cold_run(_project(tmp_path), "signal", "_signal")[0] == ["_signal"]


def test_a_cold_run_does_not_load_openssl(tmp_path: Path) -> None:
    """Findings' fingerprints (SHA-256) and the built-in rules' digest (BLAKE2b) are made by
    hashlib's own builtin modules: `import hashlib` loads OpenSSL (3% of a one-file run).
    The naming conventions that need MD5 or SHA-1 import it when they name something (and
    Jinja's bytecode cache, when a rule needs Jinja)."""
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_users.sql").write_text(
        "ALTER TABLE users ADD COLUMN tenant_id bigint NOT NULL;\n"
    )
    assert _cold_run(tmp_path, "hashlib", "_hashlib", "jinja2")[0] == []


def test_a_json_run_reads_no_rule_documentation(tmp_path: Path) -> None:
    """The rules' `why`, `notes` and examples' SQL (prebuilt_docs.json, three fifths of the
    built-in entries' bytes) are read when a rule's are first needed: a JSON run needs none."""
    code = """\
import atexit, sys
from schema_review.rules import prebuilt
atexit.register(lambda: print(prebuilt._docs.cache_info().currsize, file=sys.stderr))
from schema_review.cli import main
main(['lint', '--no-cache', '--select', 'all', '--format', 'json', '--fail-on', 'none',
      'migrations/0001_users.sql'])
"""
    done = _python(code, cwd=_project(tmp_path))
    assert '"findings"' in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "0"


_EVERY_RULE_SCRIPT = """\
import json, os, sys
from schema_review.cli import main
sys.stdout = open(os.devnull, "w")
for paths in json.loads(open(sys.argv[1], encoding="utf-8").read()):
    try:
        main(['lint', '--no-cache', '--select', 'all', '--format', 'json', '--fail-on', 'none',
              '-j1', *paths])
    except SystemExit as exit:
        assert not exit.code, exit.code
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('jinja2', 'markupsafe'))),
      file=sys.stderr)
"""


def test_the_built_in_rules_never_import_jinja(tmp_path: Path) -> None:
    """Every built-in rule's conditions and templates are Python when the package is built
    (prebuilt_python.py, without a part left to Jinja: test_prebuilt_rules), and what they
    read and call is answered by runtime.RuleSandbox: linting the examples and the corpus
    with every rule, findings rendered, imports no Jinja."""
    import csv

    from tests.helpers import CORPUS

    runs = [[str(folder)] for folder in sorted((REPO / "examples").iterdir()) if folder.is_dir()]
    if (CORPUS / "files.tsv").exists():
        with (CORPUS / "files.tsv").open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        postgres = [row for row in rows if row["dialect"] == "postgres"]
        runs.append([str(CORPUS / row["project"] / row["path"]) for row in postgres])
    (tmp_path / "runs.json").write_text(json.dumps(runs), encoding="utf-8")
    done = _python(_EVERY_RULE_SCRIPT, str(tmp_path / "runs.json"))
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []


def test_pyyaml_patterns_are_compiled_on_first_use() -> None:
    """PyYAML's resolvers compile regular expressions as PyYAML is imported, which a run
    rarely uses: they are compiled when first used (resources.import_yaml), and read the
    same values as before."""
    code = """\
from schema_review.resources import import_yaml, load_yaml
yaml = import_yaml()
pattern = yaml.resolver.Resolver.yaml_implicit_resolvers["1"][0][1]
print(type(pattern).__name__)
print(load_yaml("a: [1, 2.5, true, null, 2020-01-01, 0x1f, -3, x]\\n"))
print(type(pattern._compiled).__name__)
"""
    lines = _python(code).stdout.splitlines()
    assert lines[0] == "_CompiledOnFirstUse"
    assert lines[1] == "{'a': [1, 2.5, True, None, datetime.date(2020, 1, 1), 31, -3, 'x']}"
    assert lines[2] == "Pattern"
