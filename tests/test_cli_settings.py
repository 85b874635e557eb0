"""The configuration a user means (issue 14, item 4): the configuration file is found from the
linted files' folder upward to the repository root; the summary and `--show-settings` say
what a run used and why; `--statistics`, `--exclude`, `--color` and `FORCE_COLOR`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from schema_review.cli import main
from tests.helpers import write_migrations

# A history with a finding at high (the index on a table an earlier file created) and lows.
HISTORY = [
    ("0001_users.sql", "CREATE TABLE IF NOT EXISTS users (id bigint PRIMARY KEY, at timestamp);\n"),
    ("0002_users_at.sql", "CREATE INDEX users_at_idx ON users (at);\n"),
]


def _invoke(*arguments: str, env: dict[str, str] | None = None) -> Result:
    more = ["--no-cache"] if arguments[0] == "lint" else []
    result = CliRunner().invoke(main, [*arguments, *more], env=env)
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with its configuration at the root and migrations in db/, and a working
    directory elsewhere."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / ".schema-review.yaml").write_text("fail-on: none\npg-version: 12\n", encoding="utf-8")
    write_migrations(root / "db", HISTORY)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return root


# -- discovery ------------------------------------------------------------------------------


def test_configuration_is_found_from_the_linted_folder(repo: Path) -> None:
    result = _invoke("lint", str(repo / "db"), "--format", "json")
    assert result.exit_code == 0, result.output  # fail-on: none, from the repository
    assert json.loads(result.output)["summary"]["fail_on"] == "none"


def test_configuration_is_found_from_a_linted_file(repo: Path) -> None:
    result = _invoke("lint", str(repo / "db" / "0002_users_at.sql"), "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["summary"]["fail_on"] == "none"


def test_search_stops_at_the_repository_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".schema-review.yaml").write_text("fail-on: none\n", encoding="utf-8")
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    write_migrations(project / "db", HISTORY)
    monkeypatch.chdir(project)
    assert _invoke("lint", "db").exit_code == 1  # the file above the repository is not read


def test_pyproject_without_the_tool_table_is_passed_over(repo: Path) -> None:
    (repo / "db" / "pyproject.toml").write_text(
        '[project]\nname = "schema-review-migrations"\n', encoding="utf-8"
    )
    result = _invoke("lint", str(repo / "db"), "--format", "json")
    assert json.loads(result.output)["summary"]["fail_on"] == "none"


@pytest.mark.parametrize(
    "text",
    [
        '[tool.schema-review]\nfail-on = "none"\n',
        '[ "tool" . \'schema-review\' ]\nfail-on = "none"\n',
        '[tool.schema-review.severity]\ndrop-table = "low"\n',
        '[tool]\nschema-review = { fail-on = "none" }\n',
        '["tool"]\n"schema-review".fail-on = "none"\n',
        'tool.schema-review.fail-on = "none"\n',
        'tool = { schema-review = { fail-on = "none" } }\n',
        '[tool."schema\\u002dreview"]\nfail-on = "none"\n# schema-review\n',
    ],
)
def test_every_spelling_of_the_tool_table_is_found(tmp_path: Path, text: str) -> None:
    """The text checked before tomllib parses the file passes every way TOML writes the
    table (an escape in the file: parsed)."""
    from schema_review.config import _has_tool_section

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(text + '\n[project]\nname = "app"\n', encoding="utf-8")
    assert _has_tool_section(pyproject)


def test_a_pyproject_naming_the_tool_is_passed_over_unparsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project whose pyproject.toml names the tool (its own, a dependency) and has no
    table of it is not parsed (nor tomllib imported, with the cache off)."""
    from schema_review import config

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "schema-review"\ndependencies = ["schema-review>=1"]\n\n'
        '[project.scripts]\nschema-review = "schema_review.cli:main"\n\n'
        "[tool.ruff]\nline-length = 100\n",
        encoding="utf-8",
    )

    def parsed(text: str) -> None:
        raise AssertionError("parsed")

    monkeypatch.setattr(config, "_tool_section", parsed)
    assert not config._has_tool_section(pyproject)


def test_paths_of_two_configurations_are_an_error(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    (other / ".git").mkdir(parents=True)
    (other / ".schema-review.yaml").write_text("fail-on: low\n", encoding="utf-8")
    write_migrations(other / "db", [("0001_t.sql", "CREATE TABLE t (id bigint PRIMARY KEY);\n")])
    result = _invoke("lint", str(repo / "db"), str(other / "db"))
    assert result.exit_code == 2, result.output
    assert "different configuration files" in result.output and "--config" in result.output


def test_config_flag_still_wins(repo: Path, tmp_path: Path) -> None:
    chosen = tmp_path / "strict.yaml"
    chosen.write_text("fail-on: low\n", encoding="utf-8")
    assert _invoke("lint", str(repo / "db"), "--config", str(chosen)).exit_code == 1


def test_other_commands_find_it_too(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "baseline.json"
    assert _invoke("baseline", str(repo / "db"), "-o", str(out)).exit_code == 0
    schema = _invoke("schema", str(repo / "db"))
    assert schema.exit_code == 0 and "CREATE TABLE" in schema.output


# -- what a run used, and why ----------------------------------------------------------------


def test_summary_says_what_the_run_used_and_why(repo: Path) -> None:
    result = _invoke("lint", str(repo / "db"), "--runner", "goose", env={"NO_COLOR": "1"})
    line = next(x for x in result.output.splitlines() if x.startswith("Settings:"))
    shown = str(Path(repo / ".schema-review.yaml"))
    assert f"configuration {shown}" in line
    assert "dialect postgres (default: nothing detected)" in line
    assert "runner goose (--runner)" in line
    assert f"PostgreSQL 12 (configured in {shown})" in line
    assert "platform postgres (default)" in line
    assert "deploy online (default)" in line
    assert result.output.splitlines()[-1].startswith("Found ")


def test_summary_says_what_was_detected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = write_migrations(
        tmp_path / "supabase" / "migrations",
        [("20240101000000_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY);\n")],
    )
    result = _invoke("lint", str(folder.relative_to(tmp_path)))
    line = next(x for x in result.output.splitlines() if x.startswith("Settings:"))
    assert "no configuration file" in line
    assert "runner supabase (detected: a supabase/migrations folder)" in line
    assert "platform supabase (detected: a supabase/migrations folder)" in line
    assert "PostgreSQL 16 (default)" in line


def test_summary_names_each_history_when_they_differ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_migrations(tmp_path / "a", [("0001_a.sql", "-- +goose Up\nCREATE TABLE a (id int);\n")])
    write_migrations(tmp_path / "b", [("0001_b.sql", "CREATE TABLE b (id int);\n")])
    result = _invoke("lint", "a", "b")
    line = next(x for x in result.output.splitlines() if x.startswith("Settings:"))
    assert "runner goose (detected: +goose annotations) for a" in line
    assert "none (default: nothing detected) for b" in line


def test_json_summary_carries_the_settings(repo: Path) -> None:
    result = _invoke("lint", str(repo / "db"), "--format", "json")
    used = json.loads(result.output)["summary"]["settings"]
    assert used["configuration"] == str(repo / ".schema-review.yaml")
    [history] = used["histories"]
    assert history["pg-version"] == {"value": 12, "why": f"configured in {used['configuration']}"}
    assert history["runner"]["value"] == "none"


def test_quiet_has_no_settings_line(repo: Path) -> None:
    result = _invoke("lint", str(repo / "db"), "--quiet")
    assert "Settings:" not in result.output


def test_show_settings(repo: Path) -> None:
    result = _invoke("lint", str(repo / "db"), "--show-settings", "--platform", "supabase")
    assert result.exit_code == 0, result.output
    text = result.output
    assert f"configuration: {repo / '.schema-review.yaml'} (found from {repo / 'db'})" in text
    assert re.search(r"pg-version: +12 \(configured in ", text)
    assert re.search(r"platform: +supabase \(--platform\)", text)
    assert re.search(r"runner: +none \(default: nothing detected\)", text)
    assert re.search(r"deploy: +online \(default\)", text)
    assert re.search(r"dialect: +postgres \(default: nothing detected\)", text)
    assert re.search(r"fail-on: +none \(configured in ", text)
    assert "[" not in text.splitlines()[0]  # no findings: settings only
    assert "Found " not in text


# -- --statistics ----------------------------------------------------------------------------


def test_statistics_counts_findings_per_rule(tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "db",
        [
            (
                "0001_a.sql",
                "CREATE INDEX a_idx ON t (a);\nCREATE INDEX b_idx ON t (b);\n"
                "CREATE TABLE IF NOT EXISTS u (id bigint PRIMARY KEY, at timestamp);\n",
            )
        ],
    )
    result = _invoke("lint", str(folder), "--statistics", "--select", "locking,types")
    rows = [line.split(None, 3) for line in result.output.splitlines()[1:] if line[:1] == " "]
    by_rule = {rule: (int(count), severity, title) for count, severity, rule, title in rows}
    assert by_rule["create-index-not-concurrently"][:2] == (2, "high")
    assert by_rule["create-index-not-concurrently"][2].startswith("CREATE INDEX without")
    assert by_rule["timestamp-without-time-zone"][:2] == (1, "low")
    # Most frequent first; no finding lines; the summary still closes the output.
    assert rows[0][2] == "create-index-not-concurrently"
    assert ":1:1:" not in result.output
    assert result.output.splitlines()[-1].startswith("Found ")
    assert result.exit_code == 1


def test_statistics_needs_the_text_format(tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "db", HISTORY)
    result = _invoke("lint", str(folder), "--statistics", "--format", "sarif")
    assert result.exit_code == 2 and "--statistics" in result.output


# -- --exclude -------------------------------------------------------------------------------


def test_exclude_on_the_command_line(tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "db",
        [*HISTORY, ("0003_seed_data.sql", "CREATE INDEX s ON users (id);\n")],
    )
    result = _invoke("lint", str(folder), "--exclude", "*_seed*.sql", "--format", "json")
    files = {Path(f["file"]).name for f in json.loads(result.output)["findings"]}
    assert files == {"0001_users.sql", "0002_users_at.sql"}
    everything = _invoke("lint", str(folder), "--exclude", "*.sql")
    assert everything.exit_code == 2 and "excluded" in everything.output


def test_exclude_adds_to_the_configured_patterns(tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "db",
        [
            *HISTORY,
            ("0003_seed.sql", "CREATE INDEX s ON users (id);\n"),
            ("0004_tmp.sql", "CREATE INDEX t ON users (id);\n"),
        ],
    )
    config = tmp_path / "c.yaml"
    config.write_text("exclude: ['*_seed*.sql']\n", encoding="utf-8")
    result = _invoke(
        "lint", str(folder), "--config", str(config), "--exclude", "*_tmp.sql", "--format", "json"
    )
    names = {Path(f["file"]).name for f in json.loads(result.output)["findings"]}
    assert names == {"0001_users.sql", "0002_users_at.sql"}


def test_report_and_baseline_take_exclude(tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "db",
        [*HISTORY, ("0003_seed.sql", "CREATE INDEX s ON users (id);\n")],
    )
    out = tmp_path / "b.json"
    written = _invoke("baseline", str(folder), "-o", str(out), "--exclude", "*_seed*.sql")
    assert written.exit_code == 0
    assert "0003_seed" not in out.read_text(encoding="utf-8")
    report = _invoke("report", str(folder), "--exclude", "*_seed*.sql")
    assert report.exit_code == 0 and "0003_seed" not in report.output


# -- colour ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "env", "coloured"),
    [
        ([], {}, False),  # not a terminal
        ([], {"FORCE_COLOR": "1"}, True),
        ([], {"FORCE_COLOR": "0"}, False),
        (["--color", "always"], {}, True),
        (["--color", "always"], {"NO_COLOR": "1"}, True),  # the flag is the user's last word
        (["--color", "never"], {"FORCE_COLOR": "1"}, False),
        (["--color", "auto"], {"FORCE_COLOR": "1"}, True),
        ([], {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),  # NO_COLOR: the user's own choice
    ],
)
def test_colour(tmp_path: Path, arguments: list[str], env: dict[str, str], coloured: bool) -> None:
    folder = write_migrations(tmp_path / "db", HISTORY)
    environment = {"NO_COLOR": "", "FORCE_COLOR": "", **env}
    result = _invoke("lint", str(folder), *arguments, env=environment)
    assert ("\033[" in result.output) is coloured, result.output


def test_colour_never_reaches_an_output_file_unless_asked(tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "db", HISTORY)
    out = tmp_path / "out.txt"
    _invoke("lint", str(folder), "-o", str(out), env={"FORCE_COLOR": "1"})
    assert "\033[" not in out.read_text(encoding="utf-8")
    _invoke("lint", str(folder), "-o", str(out), "--color", "always")
    assert "\033[" in out.read_text(encoding="utf-8")


def test_search_answers_each_folder_from_its_own_parents(tmp_path: Path) -> None:
    """The search remembers folders it walked (a corpus has thousands of files in a few
    hundred folders); a folder's answer must stay its own: a sibling under a nearer
    configuration file is not given the shared parent's."""
    from schema_review.config import ConfigError, config_for

    (tmp_path / ".git").mkdir()
    (tmp_path / ".schema-review.yaml").write_text("fail-on: none\n", encoding="utf-8")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / ".schema-review.yaml").write_text("fail-on: low\n", encoding="utf-8")
    files = [tmp_path / p / "0001_t.sql" for p in ("a/db", "a/db2", "b/db", "b/db2")]
    for file in files:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text("CREATE TABLE t (id bigint PRIMARY KEY);\n", encoding="utf-8")
    assert config_for(files[:2])[0] == (tmp_path / "a" / ".schema-review.yaml").resolve()
    assert config_for(files[2:])[0] == (tmp_path / ".schema-review.yaml").resolve()
    with pytest.raises(ConfigError, match="different configuration files"):
        config_for(files)
