"""Discovery does what the migration tools do: prisma's name order, pop's dialect files, Flyway's
merged locations, placeholders the runner fills in, and folders reached through links."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from schema_review.config import ConfigError, Settings, load_settings
from schema_review.discover import DiscoveryError, MigrationSet, discover, fill_placeholders
from schema_review.pipeline import lint
from schema_review.profile import placeholder_key
from tests.helpers import CORPUS, REPO, commit_files, findings_of

needs_corpus = pytest.mark.skipif(not CORPUS.exists(), reason="../shared/corpus not present")


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def names(migration_set: MigrationSet) -> list[str]:
    """Each file as `<its folder>/<name>`: merged histories span several folders."""
    return [f"{f.path.parent.name}/{f.path.name}" for f in migration_set.files]


# --- prisma: folders in string order of their names -------------------------------------------


def test_prisma_applies_folders_in_string_order_of_their_names(tmp_path: Path) -> None:
    sql = "SELECT 1;\n"
    write(
        tmp_path,
        {
            "2_b/migration.sql": sql,
            "10_c/migration.sql": sql,
            "1_a/migration.sql": sql,
            "20230101000000_d/migration.sql": sql,
            "20230101_e/migration.sql": sql,
            "migration_lock.toml": 'provider = "postgresql"\n',
        },
    )
    (found,) = discover([tmp_path])
    assert found.convention == "prisma"
    # "10_c" < "1_a": '0' sorts before '_'; a short date after the long stamps of its day.
    assert [f.path.parent.name for f in found.files] == [
        "10_c",
        "1_a",
        "20230101000000_d",
        "20230101_e",
        "2_b",
    ]


def test_folder_per_migration_other_than_prisma_still_orders_by_version(tmp_path: Path) -> None:
    write(tmp_path, {"2_b/up.sql": "SELECT 1;", "10_c/up.sql": "SELECT 1;"})
    (found,) = discover([tmp_path])
    assert found.convention == "folder-per-migration"
    assert [f.path.parent.name for f in found.files] == ["2_b", "10_c"]


@needs_corpus
def test_corpus_langfuse_in_prisma_order() -> None:
    (found,) = discover([CORPUS / "langfuse"])
    folders = [f.path.parent.name for f in found.files]
    assert folders == sorted(folders)
    # The one folder named by a date only applies where prisma applies it: among its month.
    position = folders.index("20250625_add_pivot_table_charttype")
    assert folders[position - 1] == "20250604085536_add_histogram_chart_type"
    assert folders[0] == "20230518191501_init"


# --- pop / popx: the dialect's file wins, CockroachDB skipped, empty placeholders silent -------


def test_pop_dialect_file_replaces_the_generic_file_of_its_version(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "1_a.up.sql": "CREATE TABLE a (id int);\n",
            "2_b.up.sql": "CREATE INDEX b_idx ON a (id);\n",
            "2_b.down.sql": "DROP INDEX b_idx;\n",
            "2_b.postgres.up.sql": "CREATE INDEX CONCURRENTLY b_idx ON a (id);\n",
            "2_b.postgres.down.sql": "DROP INDEX CONCURRENTLY b_idx;\n",
            "2_b.cockroach.up.sql": "CREATE INDEX b_idx ON a (id) USING HASH;\n",
            "3_c.autocommit.up.sql": "CREATE INDEX c_idx ON a (id);\n",
            "3_c.postgres.autocommit.up.sql": "CREATE INDEX CONCURRENTLY c_idx ON a (id);\n",
            "3_c.cockroach.autocommit.up.sql": "CREATE INDEX c_idx ON a (id) USING HASH;\n",
            "4_d.crdb.up.sql": "SELECT 1;\n",
        },
    )
    (found,) = discover([tmp_path])
    assert [f.path.name for f in found.files] == [
        "1_a.up.sql",
        "2_b.postgres.up.sql",
        "3_c.postgres.autocommit.up.sql",
    ]
    assert found.files[1].down == tmp_path / "2_b.postgres.down.sql"
    assert any("2_b.up.sql" in note and "3_c.autocommit.up.sql" in note for note in found.notes)
    assert any("3 file(s) for other database dialects" in note for note in found.notes)


def test_empty_pop_placeholders_are_not_replayed_nor_reported(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "1_a.up.sql": "CREATE TABLE a (id int PRIMARY KEY);\n",
            "1_a.down.sql": "DROP TABLE a;\n",
            # Work only other databases need: pop keeps an empty file per dialect.
            "2_b.postgres.up.sql": "",
            "2_b.mysql.up.sql": "ALTER TABLE a MODIFY id bigint;\n",
            "3_c.postgres.up.sql": " \n\n",
            # The generic file does something, the empty PostgreSQL one says: not here.
            "4_d.up.sql": "DROP TABLE a;\n",
            "4_d.postgres.up.sql": "\n",
        },
    )
    found, mysql = discover([tmp_path])
    assert [f.path.name for f in found.files] == ["1_a.up.sql"]
    assert any("3 empty file(s) not replayed" in note for note in found.notes)
    assert [f.path.name for f in mysql.files] == ["1_a.up.sql", "2_b.mysql.up.sql", "4_d.up.sql"]
    run = lint([tmp_path], Settings(select=("all",), dialect="postgres"))
    # Neither a missing down file nor a duplicate version for files that do nothing.
    assert not findings_of(run, "missing-down-migration")
    assert not findings_of(run, "duplicate-migration-version")
    assert not findings_of(run, "drop-table")
    assert len(run.sources) == 1


def test_pop_folders_run_each_file_in_a_transaction_but_autocommit_ones(tmp_path: Path) -> None:
    write(
        tmp_path / "pop",
        {
            "1_a.up.sql": "CREATE TABLE a (id int PRIMARY KEY, n int);\n",
            "1_a.mysql.up.sql": "CREATE TABLE a (id int PRIMARY KEY, n int);\n",
            "2_b.postgres.up.sql": "CREATE INDEX CONCURRENTLY a_n_idx ON a (n);\n",
            "3_c.postgres.autocommit.up.sql": "CREATE INDEX CONCURRENTLY c_idx ON a (id, n);\n",
        },
    )
    write(tmp_path / "plain", {"1_a.up.sql": "SELECT 1;\n", "1_a.down.sql": "SELECT 1;\n"})
    pop, pop_mysql, plain = discover([tmp_path / "pop", tmp_path / "plain"])
    assert (pop.convention, pop_mysql.convention, plain.convention) == ("pop", "pop", "up-down")
    run = lint([tmp_path / "pop"], Settings(select=("all",)))
    assert run.profiles[0].runner == "pop"
    # pop runs a migration in a transaction, where CONCURRENTLY fails; popx's .autocommit. not.
    assert [Path(f.file).name for f in findings_of(run, "concurrently-in-transaction")] == [
        "2_b.postgres.up.sql"
    ]


@needs_corpus
def test_corpus_kratos_as_popx_applies_it_on_postgres() -> None:
    found, mysql, sqlite = discover([CORPUS / "kratos"])
    assert (found.dialect, mysql.dialect, sqlite.dialect) == ("postgres", "mysql", "sqlite")
    files = [f.path.name for f in found.files]
    assert not [n for n in files if ".cockroach." in n]
    versions = [f.version for f in found.files]
    assert len(versions) == len(set(versions)), "one file per version"
    assert "20240318143139000000_drop_identity_search_index.postgres.up.sql" in files
    assert "20240318143139000000_drop_identity_search_index.up.sql" not in files
    autocommit = "20260616000000000000_courier_messages_restore_list_index"
    assert f"{autocommit}.postgres.autocommit.up.sql" in files
    assert f"{autocommit}.autocommit.up.sql" not in files
    assert all(f.path.stat().st_size > 2 for f in found.files)
    assert found.convention == "pop"
    run = lint(
        [CORPUS / "kratos"],
        Settings(select=("duplicate-migration-version", "concurrently-in-transaction")),
    )
    assert run.profiles[0].runner == "pop"
    assert not findings_of(run, "duplicate-migration-version")
    # Its CREATE INDEX CONCURRENTLY files are .autocommit.: outside a transaction.
    assert not findings_of(run, "concurrently-in-transaction")


# --- Flyway: the locations of one application are one history -------------------------------


def test_sibling_flyway_folders_whose_versions_interleave_are_one_history(tmp_path: Path) -> None:
    app = tmp_path / "app"
    write(
        app,
        {
            "migration/V1__init.sql": "CREATE TABLE t (id int PRIMARY KEY, at timestamptz);\n",
            "migration/V2__more.sql": "ALTER TABLE t ADD COLUMN n int;\n",
            "migration/V3__last.sql": "ALTER TABLE t ADD COLUMN m int;\n",
            "migration_data/V2.1__backfill.sql": "UPDATE t SET n = 0;\n",
            "migration_notify/V1.5__notify.sql": "CREATE INDEX t_at_idx ON t (at);\n",
            "migration_notify/R__views.sql": "CREATE OR REPLACE VIEW v AS SELECT id FROM t;\n",
        },
    )
    (found,) = discover([tmp_path])
    assert found.convention == "flyway"
    assert names(found) == [
        "migration/V1__init.sql",
        "migration_notify/V1.5__notify.sql",
        "migration/V2__more.sql",
        "migration_data/V2.1__backfill.sql",
        "migration/V3__last.sql",
        "migration_notify/R__views.sql",
    ]
    assert found.root == app / "migration"
    assert found.roots == (app / "migration", app / "migration_data", app / "migration_notify")
    assert any("one Flyway history" in note for note in found.notes)
    run = lint([tmp_path], Settings())
    (model,) = run.models
    table = model.table("public.t")
    assert table is not None and table.indexes
    # Fingerprints name a file within its own folder, merged or not.
    assert sorted(s.identity for s in run.sources)[0] == "R__views.sql"


def test_separate_flyway_histories_side_by_side_stay_apart(tmp_path: Path) -> None:
    sql = "SELECT 1;\n"
    write(
        tmp_path,
        {
            # One history per dialect: both start at V1.
            "db/postgres/V1__a.sql": sql,
            "db/postgres/V2__b.sql": sql,
            "db/mysql/V1__a.sql": sql,
            "db/mysql/V2__b.sql": sql,
            # Ranges that do not interleave: nothing says they are one application.
            "svc/one/V1__a.sql": sql,
            "svc/one/V2__b.sql": sql,
            "svc/two/V3__c.sql": sql,
            # Not siblings: a folder of another parent.
            "other/V1.5__x.sql": sql,
        },
    )
    roots = [s.root for s in discover([tmp_path])]
    assert roots == [
        tmp_path / "db" / "mysql",
        tmp_path / "db" / "postgres",
        tmp_path / "other",
        tmp_path / "svc" / "one",
        tmp_path / "svc" / "two",
    ]


FLYWAY_APP = {
    "app/migration/V1__init.sql": "CREATE TABLE t (id int PRIMARY KEY, n int);\n",
    "app/migration/V2__more.sql": "ALTER TABLE t ADD COLUMN m int;\n",
    "app/migration/V3__last.sql": "ALTER TABLE t ADD COLUMN k int;\n",
    "app/migration_data/V1.5__backfill.sql": "UPDATE t SET n = 0 WHERE n IS NULL;\n",
}


def test_a_flyway_location_named_alone_brings_its_sibling_locations(tmp_path: Path) -> None:
    write(tmp_path, FLYWAY_APP)
    app = tmp_path / "app"
    for paths in ([app / "migration_data"], [app / "migration"], [app / "migration", app]):
        (found,) = discover(paths)
        assert found.roots == (app / "migration", app / "migration_data"), paths
        assert [f.version for f in found.files] == ["1", "1.5", "2", "3"]
    # A history of one folder in the configuration keeps it to itself.
    apart = discover([app], histories=[[app / "migration"]])
    assert [s.root for s in apart] == [app / "migration", app / "migration_data"]
    assert not any(s.roots for s in apart)


def test_diff_base_replays_the_merged_history_at_the_base_too(tmp_path: Path) -> None:
    commit_files(tmp_path, list(FLYWAY_APP.items()))
    write(tmp_path, {"app/migration_data/V2.1__index.sql": "CREATE INDEX t_n_idx ON t (n);\n"})
    cwd = Path.cwd()
    os.chdir(tmp_path)  # git paths and displays are relative to the repository
    try:
        run = lint(["app/migration_data"], Settings(select=("all",), diff_base="HEAD"))
    finally:
        os.chdir(cwd)
    # Only the new file's findings: the older files' are found at the base as well.
    assert {f.file for f in run.result.findings} == {"app/migration_data/V2.1__index.sql"}
    assert findings_of(run, "create-index-not-concurrently")


@needs_corpus
def test_corpus_conductor_postgres_locations_are_one_history() -> None:
    sets = discover([CORPUS / "conductor" / "postgres-persistence"])
    (found,) = sets
    assert [f.version for f in found.files] == [
        *("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "10.1", "11", "12"),
        *("13.1", "13.2", "14", "15", "16", "17", "18", "18.1"),
    ]
    assert [r.name for r in found.roots] == [
        "migration_postgres",
        "migration_postgres_data",
        "migration_postgres_notify",
    ]
    # The other applications' folders of the project are not merged with it.
    everything = discover([CORPUS / "conductor"])
    assert [len(s.roots) for s in everything].count(3) == 1
    assert sum(1 for s in everything if s.roots) == 1


def test_configured_history_merges_its_folders_and_brings_in_the_others(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "db/schema/V1__users.sql": "CREATE TABLE users (id int PRIMARY KEY, email text);\n",
            "db/schema/V3__orders.sql": "CREATE TABLE orders (id int PRIMARY KEY);\n",
            # Disjoint ranges: only the configuration says these are one history.
            "db/later/V4__index.sql": "CREATE INDEX users_email_idx ON users (email);\n",
        },
    )
    history = [[tmp_path / "db" / "schema", tmp_path / "db" / "later"]]
    assert len(discover([tmp_path / "db"])) == 2
    for paths in ([tmp_path / "db" / "schema"], [tmp_path / "db"], [tmp_path / "db" / "later"]):
        (found,) = discover(paths, histories=history)
        assert names(found) == [
            "schema/V1__users.sql",
            "schema/V3__orders.sql",
            "later/V4__index.sql",
        ]
        assert found.root == tmp_path / "db" / "schema"
        assert any("configured folders" in note for note in found.notes)
    config = write(
        tmp_path,
        {".schema-review.yaml": "histories:\n  - [db/schema, db/later]\n"},
    )
    settings = load_settings(config / ".schema-review.yaml")
    assert settings.histories == ((tmp_path / "db/schema", tmp_path / "db/later"),)
    run = lint([tmp_path / "db" / "later"], settings)
    (model,) = run.models
    users = model.table("public.users")
    assert users is not None and users.indexes


def test_configured_histories_are_checked(tmp_path: Path) -> None:
    write(tmp_path, {"a/V1__a.sql": "SELECT 1;", "b/V2__b.sql": "SELECT 1;"})
    write(tmp_path, {"d/0000_x.sql": "SELECT 1;", "d/meta/_journal.json": '{"entries": []}'})
    with pytest.raises(DiscoveryError, match="no such folder"):
        discover([tmp_path / "a"], histories=[[tmp_path / "a", tmp_path / "nope"]])
    with pytest.raises(DiscoveryError, match="drizzle folder"):
        discover([tmp_path / "a"], histories=[[tmp_path / "a", tmp_path / "d"]])
    with pytest.raises(DiscoveryError, match="named twice"):
        discover([tmp_path / "a"], histories=[[tmp_path / "a", tmp_path / "b"], [tmp_path / "a"]])
    with pytest.raises(ConfigError, match="'histories' must be a list of lists"):
        write(tmp_path, {"bad.yaml": "histories: [a, b]\n"})
        load_settings(tmp_path / "bad.yaml")


def test_cli_reports_a_bad_history_in_one_line_with_exit_2(tmp_path: Path) -> None:
    write(tmp_path, {"a/V1__a.sql": "SELECT 1;\n", ".schema-review.yaml": "histories: [[a, b]]\n"})
    done = subprocess.run(
        [sys.executable, "-m", "schema_review", "lint", "a", "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == "schema-review: error: histories: b: no such folder\n"


# --- placeholders the runner fills in ---------------------------------------------------------


def test_placeholder_keys_normalise_the_whitespace_of_go_template_actions() -> None:
    assert placeholder_key('{{index .Options "Namespace" }}') == '{{ index .Options "Namespace" }}'
    assert placeholder_key('{{- index  .Options "Namespace" -}}') == (
        '{{ index .Options "Namespace" }}'
    )
    assert placeholder_key("${schema}") == "${schema}"
    assert placeholder_key("${flyway:defaultSchema}") == "${flyway:defaultSchema}"
    assert placeholder_key("schema") is None
    assert placeholder_key("${a b}") is None


def test_fill_placeholders_keeps_lines_and_reports_those_left() -> None:
    text = (
        "-- tables of {{ .Namespace }}\n"
        'CREATE TABLE {{index .Options "Namespace"}}.users (id int);\n'
        "CREATE TABLE ${schema}.audit (note text DEFAULT '${note}',\n"
        "  body text DEFAULT $$ ${b} $$);\n"
    )
    values = {'{{ index .Options "Namespace" }}': "auth"}
    filled, left = fill_placeholders(text, values)
    assert filled.splitlines()[1] == "CREATE TABLE auth.users (id int);"
    assert filled.count("\n") == text.count("\n")
    # The comment's placeholder is not reported; those in literals are, marked so.
    assert [(p.text, p.in_code) for p in left] == [
        ("${schema}", True),
        ("${note}", False),
        ("${b}", False),
    ]
    first = left[0]
    assert filled[first.offset : first.offset + 9] == "${schema}"
    start, end = first.statement
    assert filled[start:end].strip().startswith("CREATE TABLE ${schema}.audit")
    assert filled[end - 1] == ";"
    assert fill_placeholders("SELECT 1;", values) == ("SELECT 1;", [])


def test_one_finding_instead_of_parse_errors_for_unfilled_placeholders(tmp_path: Path) -> None:
    write(
        tmp_path / "migrations",
        {
            "0001_init.up.sql": (
                "CREATE TABLE {{ .Schema }}.users (id bigint PRIMARY KEY);\n"
                'CREATE INDEX users_id_idx ON "{{ .Schema }}".users (id);\n'
                "CREATE TABLE broken (id int,);\n"
                "CREATE TABLE fine (id bigint PRIMARY KEY);\n"
            ),
        },
    )
    run = lint([tmp_path / "migrations"], Settings(select=("all",)))
    (finding,) = findings_of(run, "unfilled-placeholder")
    assert (finding.line, finding.column) == (1, 14)
    assert "{{ .Schema }}" in finding.message and "1 statement(s)" in finding.message
    assert "placeholders" in finding.message
    # The statement with a real syntax error is still reported, and only it.
    (error,) = findings_of(run, "parse-error")
    assert error.line == 3
    filled = lint(
        [tmp_path / "migrations"],
        Settings(select=("all",), placeholders={"{{ .Schema }}": "app"}),
    )
    assert not findings_of(filled, "unfilled-placeholder")
    assert [f.line for f in findings_of(filled, "parse-error")] == [3]
    assert filled.models[0].table("app.users") is not None


def test_placeholders_in_string_literals_count_only_for_flyway(tmp_path: Path) -> None:
    sql = "CREATE TABLE t (id int PRIMARY KEY, greeting text DEFAULT 'Hello ${name}');\n"
    write(tmp_path / "flyway", {"V1__t.sql": sql})
    write(tmp_path / "plain", {"0001_t.sql": sql})
    run = lint([tmp_path / "flyway", tmp_path / "plain"], Settings(select=("all",)))
    (finding,) = findings_of(run, "unfilled-placeholder")
    assert finding.file.endswith("V1__t.sql")
    assert "this file is linted with other text than it runs" in finding.message


def test_placeholders_configuration(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        {
            "pyproject.toml": (
                "[tool.schema-review]\n"
                'placeholders = { "{{index .Options \\"Namespace\\"}}" = "auth", '
                '"${schema}" = "public", "${n}" = 3 }\n'
            )
        },
    )
    settings = load_settings(config / "pyproject.toml")
    assert settings.placeholders == {
        '{{ index .Options "Namespace" }}': "auth",
        "${schema}": "public",
        "${n}": "3",
    }
    for body, message in (
        ("placeholders:\n  schema: public\n", "is not a placeholder"),
        ('placeholders:\n  "${schema}": "a\\nb"\n', "must be one line"),
        ('placeholders:\n  "${schema}": [a]\n', "must be a string"),
        ("placeholders: [a]\n", "'placeholders' must map"),
    ):
        (tmp_path / ".schema-review.yaml").write_text(body, encoding="utf-8")
        with pytest.raises(ConfigError, match=message):
            load_settings(tmp_path / ".schema-review.yaml")


@needs_corpus
def test_corpus_supabase_auth_go_templates() -> None:
    folder = CORPUS / "supabase-auth"
    run = lint([folder], Settings(select=("all",)))
    unfilled = findings_of(run, "unfilled-placeholder")
    templated = {
        p.name
        for p in folder.glob("*.up.sql")
        if "{{" in p.read_text(encoding="utf-8").split("$$")[0]
    }
    assert {Path(f.file).name for f in unfilled} >= templated
    assert len(unfilled) == len({f.file for f in unfilled}), "one finding per file"
    assert len(findings_of(run, "parse-error")) < len(unfilled)
    namespace = {'{{ index .Options "Namespace" }}': "auth"}
    filled = lint([folder], Settings(select=("all",), placeholders=namespace))
    assert not findings_of(filled, "unfilled-placeholder")
    assert not findings_of(filled, "parse-error")
    assert filled.models[0].table("auth.users") is not None


@needs_corpus
def test_corpus_conductor_flyway_placeholders() -> None:
    folder = CORPUS / "conductor" / "postgres-external-storage"
    run = lint([folder], Settings(select=("all",)))
    (finding,) = findings_of(run, "unfilled-placeholder")
    assert "${tableName}" in finding.message and "${maxDataRows}" in finding.message
    assert not findings_of(run, "parse-error")
    values = {
        "${tableName}": "external_payload",
        "${maxDataRows}": "1000000",
        "${maxDataDays}": "0",
        "${maxDataMonths}": "0",
        "${maxDataYears}": "1",
    }
    filled = lint([folder], Settings(select=("all",), placeholders=values))
    assert not findings_of(filled, "unfilled-placeholder")
    assert not findings_of(filled, "parse-error")
    assert filled.models[0].table("public.external_payload") is not None


# --- links, loops and special files (issue 18) ------------------------------------------------


def test_a_folder_reached_twice_through_links_is_discovered_once(tmp_path: Path) -> None:
    write(tmp_path / "project", {"db/migrations/1_a.sql": "CREATE TABLE a (id int);\n"})
    # A loop: the project holds a link to itself.
    (tmp_path / "project" / "loop").symlink_to(tmp_path / "project", target_is_directory=True)
    (tmp_path / "alias").symlink_to(tmp_path / "project" / "db", target_is_directory=True)
    sets = discover([tmp_path / "project"])
    assert [s.root for s in sets] == [tmp_path / "project" / "db" / "migrations"]
    assert len(discover([tmp_path / "project" / "db", tmp_path / "alias"])) == 1
    run = lint([tmp_path / "project"], Settings())
    assert len(run.sources) == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_fifos_devices_and_dangling_links_are_never_listed(tmp_path: Path) -> None:
    write(tmp_path, {"1_a.sql": "CREATE TABLE a (id int);\n"})
    os.mkfifo(tmp_path / "2_fifo.sql")
    (tmp_path / "3_zero.sql").symlink_to("/dev/zero")
    (tmp_path / "4_gone.sql").symlink_to(tmp_path / "nowhere.sql")
    (found,) = discover([tmp_path])
    assert [f.path.name for f in found.files] == ["1_a.sql"]
    assert any(
        "not regular files" in note and "2_fifo.sql" in note and "3_zero.sql" in note
        for note in found.notes
    )
    # The whole run ends: nothing waits for a writer on the FIFO.
    done = subprocess.run(
        [sys.executable, "-m", "schema_review", "lint", str(tmp_path), "--no-cache"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    assert "1 file" in done.stdout


def test_readme_configuration_example_loads(tmp_path: Path) -> None:
    """The README's pyproject example, with `histories` and `placeholders`, is valid."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = next(
        part.split("```", 1)[0]
        for part in readme.split("```toml\n")[1:]
        if part.startswith("[tool.schema-review]")
    )
    (tmp_path / "pyproject.toml").write_text(block, encoding="utf-8")
    settings = load_settings(tmp_path / "pyproject.toml")
    assert settings.histories == ((tmp_path / "db/migration", tmp_path / "db/migration_data"),)
    assert settings.placeholders == {
        '{{ index .Options "Namespace" }}': "auth",
        "${schema}": "public",
    }
