"""Discovery finds migration files and orders them as the migration tool applies them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schema_review import discover as discover_module
from schema_review.discover import DiscoveryError, MigrationSet, discover, forward_sql
from tests.helpers import CORPUS


def touch(folder: Path, *names: str) -> Path:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("SELECT 1;\n", encoding="utf-8")
    return folder


def names(migration_set: MigrationSet) -> list[str]:
    root = migration_set.root
    assert root is not None
    return [f.path.relative_to(root).as_posix() for f in migration_set.files]


def only_set(sets: list[MigrationSet]) -> MigrationSet:
    assert len(sets) == 1
    return sets[0]


def test_numeric_versions_compare_as_numbers(tmp_path: Path) -> None:
    touch(tmp_path, "10_ten.sql", "2_two.sql", "1_one.sql", "README.md")
    assert names(only_set(discover([tmp_path]))) == ["1_one.sql", "2_two.sql", "10_ten.sql"]


def test_timestamps_and_dates_compare_field_by_field(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "2023-01-03-201442_b/up.sql",
        "2022-11-02-090533_a/up.sql",
        "2026-06-15-093959-0000_c/up.sql",
    )
    found = only_set(discover([tmp_path]))
    assert names(found) == [
        "2022-11-02-090533_a/up.sql",
        "2023-01-03-201442_b/up.sql",
        "2026-06-15-093959-0000_c/up.sql",
    ]
    assert found.convention == "folder-per-migration"


def test_down_files_are_paired_and_never_replayed(tmp_path: Path) -> None:
    touch(tmp_path, "0002_b.up.sql", "0002_b.down.sql", "0001_a.up.sql", "0001_a.down.sql")
    found = only_set(discover([tmp_path]))
    assert names(found) == ["0001_a.up.sql", "0002_b.up.sql"]
    assert [f.down.name if f.down else None for f in found.files] == [
        "0001_a.down.sql",
        "0002_b.down.sql",
    ]
    assert found.convention == "up-down"


def test_folder_per_migration_up_sql_and_prisma(tmp_path: Path) -> None:
    touch(tmp_path / "diesel", "00000000000000_init/up.sql", "00000000000000_init/down.sql")
    touch(tmp_path / "prisma", "20240101000000_b/migration.sql", "01_a/migration.sql")
    diesel, prisma = discover([tmp_path / "diesel", tmp_path / "prisma"])
    assert names(diesel) == ["00000000000000_init/up.sql"]
    assert diesel.files[0].down == tmp_path / "diesel" / "00000000000000_init" / "down.sql"
    assert names(prisma) == ["01_a/migration.sql", "20240101000000_b/migration.sql"]
    assert prisma.convention == "prisma"


def test_flyway_versions_undo_and_repeatable(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "R__views.sql",
        "V1.10__late.sql",
        "V1_9__middle.sql",
        "V1__init.sql",
        "U1__init.sql",
    )
    found = only_set(discover([tmp_path]))
    assert names(found) == ["V1__init.sql", "V1_9__middle.sql", "V1.10__late.sql", "R__views.sql"]
    assert found.files[0].down == tmp_path / "U1__init.sql"
    assert found.convention == "flyway"


def test_pop_dialect_infixes_make_a_history_per_dialect_with_the_generic_files(
    tmp_path: Path,
) -> None:
    touch(
        tmp_path,
        "20200101_a.postgres.up.sql",
        "20200101_a.mysql.up.sql",
        "20200101_a.sqlite3.up.sql",
        "20200101_a.cockroach.up.sql",
        "20200102_b.up.sql",
        "20200101_a.postgres.down.sql",
    )
    postgres, mysql, sqlite = discover([tmp_path])
    assert names(postgres) == ["20200101_a.postgres.up.sql", "20200102_b.up.sql"]
    assert postgres.files[0].down == tmp_path / "20200101_a.postgres.down.sql"
    # pop applies the dialect-free files on every database.
    assert names(mysql) == ["20200101_a.mysql.up.sql", "20200102_b.up.sql"]
    assert names(sqlite) == ["20200101_a.sqlite3.up.sql", "20200102_b.up.sql"]
    assert [s.dialect for s in (postgres, mysql, sqlite)] == ["postgres", "mysql", "sqlite"]
    assert {s.convention for s in (postgres, mysql, sqlite)} == {"pop"}
    # CockroachDB has no dialect here: its files are skipped, as the other dialects' are.
    assert "3 file(s) for other database dialects (by their name's infix) skipped" in (
        postgres.notes
    )
    # The configured dialect keeps its own history only.
    (only,) = discover([tmp_path], dialect="mysql")
    assert names(only) == names(mysql)
    (only,) = discover([tmp_path], dialect="postgres")
    assert names(only) == names(postgres)


def test_unversioned_files_run_after_versioned_ones(tmp_path: Path) -> None:
    touch(tmp_path, "seed.sql", "002_b.sql", "001_a.sql")
    found = only_set(discover([tmp_path]))
    assert names(found) == ["001_a.sql", "002_b.sql", "seed.sql"]
    assert any("seed.sql" in note for note in found.notes)


def test_drizzle_journal_decides_order_and_reports_unjournaled_files(tmp_path: Path) -> None:
    touch(tmp_path, "0000_first.sql", "0001_second.sql", "0002_stray.sql")
    journal = {
        "version": "7",
        "dialect": "postgresql",
        # The journal, not the file names, decides: drizzle applies 0001 before 0000 here.
        "entries": [
            {"idx": 1, "tag": "0000_first", "when": 2},
            {"idx": 0, "tag": "0001_second", "when": 1},
            {"idx": 2, "tag": "0003_lost", "when": 3},
        ],
    }
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "_journal.json").write_text(json.dumps(journal), encoding="utf-8")
    found = only_set(discover([tmp_path]))
    assert found.convention == "drizzle"
    # Files the journal omits are still linted, after the journal's own.
    assert names(found) == ["0001_second.sql", "0000_first.sql", "0002_stray.sql"]
    assert found.unjournaled == (tmp_path / "0002_stray.sql",)
    assert found.journal == tmp_path / "meta" / "_journal.json"
    assert found.journal_missing == ("0003_lost",)


def test_invalid_drizzle_journal_falls_back_to_names_with_a_note(tmp_path: Path) -> None:
    touch(tmp_path, "0001_b.sql", "0000_a.sql")
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "_journal.json").write_text("{not json", encoding="utf-8")
    found = only_set(discover([tmp_path]))
    assert names(found) == ["0000_a.sql", "0001_b.sql"]
    assert any("cannot read the drizzle journal" in note for note in found.notes)


def test_files_given_one_by_one_keep_the_given_order(tmp_path: Path) -> None:
    touch(tmp_path, "1_a.sql", "2_b.sql")
    found = only_set(discover([tmp_path / "2_b.sql", tmp_path / "1_a.sql"]))
    assert found.root is None
    assert [f.path.name for f in found.files] == ["2_b.sql", "1_a.sql"]


def test_folder_without_migrations_of_its_own_yields_its_sub_folders(tmp_path: Path) -> None:
    touch(tmp_path, "postgres/1_a.sql", "sqlite/1_a.sql", ".hidden/1_a.sql")
    sets = discover([tmp_path])
    assert [s.root for s in sets] == [tmp_path / "postgres", tmp_path / "sqlite"]


def test_exclude_patterns(tmp_path: Path) -> None:
    touch(tmp_path, "1_a.sql", "2_seed.sql", "3_c.sql")
    found = only_set(discover([tmp_path], exclude=["*_seed.sql"]))
    assert names(found) == ["1_a.sql", "3_c.sql"]


def test_missing_path_is_a_discovery_error(tmp_path: Path) -> None:
    with pytest.raises(DiscoveryError, match="no such file or directory"):
        discover([tmp_path / "nope"])


def test_discovery_is_deterministic(tmp_path: Path) -> None:
    touch(tmp_path, "1_b.sql", "1_a.sql", "x.sql", "2.sql")
    first = names(only_set(discover([tmp_path])))
    assert first == ["1_a.sql", "1_b.sql", "2.sql", "x.sql"]
    assert names(only_set(discover([tmp_path]))) == first


def test_forward_sql_blanks_goose_down_and_keeps_lines() -> None:
    text = (
        "-- +goose Up\n"
        "-- +goose StatementBegin\n"
        "CREATE TABLE a (id int)\n"
        "-- +goose StatementEnd\n"
        "-- +goose Down\n"
        "DROP TABLE a;\n"
    )
    forward = forward_sql(text)
    assert forward.count("\n") == text.count("\n")
    assert "DROP TABLE" not in forward
    # StatementEnd ends the statement even without its `;`.
    assert forward.splitlines()[3].strip() == ";"


def test_forward_sql_blanks_dbmate_down() -> None:
    text = "-- migrate:up\r\nCREATE TABLE a (id int);\r\n-- migrate:down\r\nDROP TABLE a;\r\n"
    forward = forward_sql(text)
    assert "DROP" not in forward
    assert forward.count("\r\n") == 4
    assert forward_sql("CREATE TABLE b (id int);") == "CREATE TABLE b (id int);"


def test_forward_sql_reads_annotations_only_at_the_start_of_a_line() -> None:
    text = (
        "  --\t+goose up\r"  # whitespace before it, a lone \r ends the line
        "SELECT 1; -- +goose Down\n"  # not an annotation: SQL before it
        "---- +goose Down\n"  # nor this: `--` then `--`
        "\t-- +GOOSE DOWN\r\n"
        "DROP TABLE a;\x0bDROP TABLE b;\r\n"  # \x0b ends a line too (str.splitlines)
        "-- +goose StatementEnd\n"
        "-- migrate:up\n"
        "CREATE TABLE c (id int)\n"
        "-- +goose StatementEnd"
    )
    assert forward_sql(text) == (
        "  --\t+goose up\r"
        "SELECT 1; -- +goose Down\n"
        "---- +goose Down\n"
        "\r\n"
        "\r\n"
        "\n"
        "-- migrate:up\n"
        "CREATE TABLE c (id int)\n"
        ";                     "
    )


needs_corpus = pytest.mark.skipif(not CORPUS.exists(), reason="../shared/corpus not present")


@needs_corpus
def test_corpus_prisma_folders_in_name_order() -> None:
    found = only_set(discover([CORPUS / "umami"]))
    assert found.convention == "prisma"
    first_two = [f.path.parent.name for f in found.files][:2]
    assert first_two == ["01_init", "02_report_schema_session_data"]
    versions = [f.version for f in found.files]
    assert versions == sorted(versions, key=int)
    langfuse = only_set(discover([CORPUS / "langfuse"]))
    assert len(langfuse.files) > 300
    # prisma compares the folder names as strings (see test_discover_tools).
    folders = [f.path.parent.name for f in langfuse.files]
    assert folders == sorted(folders)


@needs_corpus
def test_corpus_diesel_up_sql_with_down_files() -> None:
    found = only_set(discover([CORPUS / "chirpstack" / "postgres"]))
    assert found.files[0].version.startswith("00000000000000")
    assert all(f.path.name == "up.sql" and f.down is not None for f in found.files)


@needs_corpus
def test_corpus_project_root_splits_into_dialect_folders() -> None:
    sets = discover([CORPUS / "authelia"])
    roots = [s.root.name for s in sets if s.root is not None]
    assert roots == ["mysql", "postgres", "sqlite"]
    postgres = sets[1]
    assert postgres.convention == "up-down"
    assert [f.version for f in postgres.files][:3] == ["0001", "0002", "0003"]
    assert all(f.down is not None for f in postgres.files)


_HINT_PIECES = ["`", "ENGINE", "auto_increment", "AutoIncrement", "auto-increment", "Charset"]
_HINT_PIECES += ["charACTER", "unsigned", "current_timestamp", "DELIMITER", "pragma", "rowid"]
_HINT_PIECES += ["row id", "Kelvin \u212a", "\u017f", "'", '"', "$$", "--", "/*", "*/", "\n", "\r"]


def test_the_fast_dialect_hint_and_mask_say_what_the_regular_expressions_said() -> None:
    """guess_dialect's faster paths (issue 17): the hint as substrings of the lowered text
    (ASCII only), and masking by splitting lines, agree with the expressions they replace."""
    import random
    import re

    from schema_review import discover

    def masked_by_regex(text: str) -> str:
        regions, _ = discover._sql_regions(text, identifiers=True)
        pieces, position = [], 0
        for start, end, _ in regions:
            pieces += [text[position:start], re.sub(r"[^\n]", " ", text[start:end])]
            position = end
        return "".join([*pieces, text[position:]]) if regions else text

    chance = random.Random(17)
    texts = [
        "".join(
            chance.choice(_HINT_PIECES) if chance.random() < 0.3 else chance.choice("ab_ e;\n")
            for _ in range(chance.randint(0, 30))
        )
        for _ in range(3000)
    ]
    texts = [t.upper() if chance.random() < 0.3 else t for t in texts]
    for text in texts:
        hinted = re.search(discover._FOREIGN_HINT, text, re.IGNORECASE)
        assert discover._foreign_hint(text) == bool(hinted), text
        assert discover._code_only(text) == masked_by_regex(text), text


def test_version_folders_are_one_history_in_version_order(tmp_path: Path) -> None:
    """temporal-sql-tool's `versioned/v<major>.<minor>/`: one history, 1.2 before 1.10, each
    version's files in its manifest.json's order (by name without one)."""
    versioned = touch(
        tmp_path / "versioned",
        "v1.0/schema.sql",
        "v1.10/task_queue.sql",
        "v1.2/queue.sql",
        "v1.2/blob_size.sql",
        "v1.5/executions.sql",
        "v1.5/event.sql",
        "v1.5/cluster_membership.sql",
    )
    manifest = {"CurrVersion": "1.5", "SchemaUpdateCqlFiles": ["executions.sql", "event.sql"]}
    (versioned / "v1.5" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    found = only_set(discover([versioned]))
    assert names(found) == [
        "v1.0/schema.sql",
        "v1.2/blob_size.sql",
        "v1.2/queue.sql",
        "v1.5/executions.sql",
        "v1.5/event.sql",
        "v1.5/cluster_membership.sql",
        "v1.10/task_queue.sql",
    ]
    assert any("v1.5: not in its manifest.json" in note for note in found.notes)
    # the corpus' own (its manifests are not kept: each version's files by name)
    corpus = CORPUS / "temporal" / "mysql" / "v8" / "temporal" / "versioned"
    if corpus.is_dir():
        files = names(only_set(discover([corpus])))
        assert len(files) == 26
        assert files[:3] == ["v1.0/schema.sql", "v1.1/cluster_metadata.sql", "v1.2/blob_size.sql"]
        assert files[-1] == "v1.19/current_chasm_executions.sql"
    # a version-named folder of folders (temporal's `mysql/v8/temporal/`) is searched as usual
    nested = touch(tmp_path / "mysql", "v8/temporal/schema.sql", "v8/visibility/schema.sql")
    assert [s.root.name for s in discover([nested]) if s.root] == ["temporal", "visibility"]
    # version folders of another layout are theirs: each up/down folder its own history
    other = touch(tmp_path / "other", "v1/1_a.up.sql", "v2/1_b.up.sql")
    assert len(discover([other])) == 2


def test_ory_steps_of_one_timestamp_are_one_change(tmp_path: Path) -> None:
    """Ory's pop versions are `<YYYYMMDDHHMMSS><step>`: the steps of one timestamp were written
    and are deployed together (SourceFile.change)."""
    touch(
        tmp_path,
        "20210410175418000000_network.sqlite3.up.sql",
        "20210410175418000001_network.sqlite3.up.sql",
        "20210410175419000000_next.sqlite3.up.sql",
        "20210410175419_short.sqlite3.up.sql",
    )
    steps = {f.path.name.split("_")[0]: f.step_of for f in only_set(discover([tmp_path])).files}
    assert steps["20210410175418000000"] == steps["20210410175418000001"] != ""
    assert steps["20210410175419000000"] not in ("", steps["20210410175418000000"])
    assert steps["20210410175419"] == ""
    numbered = touch(
        tmp_path / "numbered", "20210410175418000000_a.sql", "20210410175418000001_b.sql"
    )
    assert [f.step_of for f in only_set(discover([numbered])).files] == ["", ""]


def test_sqlx_driver_feature_of_the_crate_says_the_dialect(tmp_path: Path) -> None:
    """atuin's layout: portable SQL in `migrations/` beside a crate whose sqlx dependency
    enables the sqlite driver (over a workspace that enables postgres for its server)."""
    from schema_review.discover import detect_dialect

    portable = "CREATE TABLE IF NOT EXISTS history (id text PRIMARY KEY, command text);\n"
    (tmp_path / ".git").mkdir()
    (tmp_path / "Cargo.toml").write_text(
        '[workspace]\nmembers = ["crates/*"]\n\n[workspace.dependencies.sqlx]\n'
        'version = "0.8"\nfeatures = ["runtime-tokio-rustls", "time", "postgres"]\n',
        encoding="utf-8",
    )

    def crate(name: str, sqlx: str) -> tuple[str, str]:
        folder = tmp_path / "crates" / name
        folder.mkdir(parents=True)
        (folder / "Cargo.toml").write_text(
            f'[package]\nname = "{name}"\n\n[dependencies]\n{sqlx}\n', encoding="utf-8"
        )
        touch(folder / "migrations", "20210422143411_create_history.sql")
        found = only_set(discover([folder / "migrations"]))
        return detect_dialect(found, [portable])

    dialect, why = crate("client", 'sqlx = { workspace = true, features = ["sqlite", "regexp"] }')
    assert dialect == "sqlite"
    assert "Cargo.toml" in why and '"sqlite" feature' in why
    # a crate that enables no driver takes the workspace's
    assert crate("server", "sqlx = { workspace = true }")[0] == "postgres"
    assert "Cargo.toml" in crate("server2", "sqlx = { workspace = true }")[1]
    # two drivers, or none: the files decide (portable SQL: PostgreSQL, with no reason)
    assert crate("both", 'sqlx = { version = "0.8", features = ["postgres", "sqlite"] }') == (
        "postgres",
        "",
    )
    assert crate("plain", 'sqlx = "0.8"') == ("postgres", "")


# The dialect guess as it was before it was made fast (issue 17): a character-by-character
# scanner and case-blind patterns over the whole masked text. The fast one must answer the
# same, evidence and offsets included.
_REFERENCE_TAG = r"[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f][^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*"
_REFERENCE_SCAN = rf"--|/\*|[eE]?'|\"|\$(?:{_REFERENCE_TAG})?\$"
# The patterns are the module's own (what is compared is the scan, not the word list).
_REFERENCE_FOREIGN = discover_module._FOREIGN_SYNTAX
_REFERENCE_POSTGRES_ONLY = discover_module._POSTGRES_ONLY


def _reference_string_end(text: str, position: int, backslashes: bool, quote: str) -> int:
    while position < len(text):
        if backslashes and text[position] == "\\":
            position += 2
            continue
        if text[position] == quote:
            if text.startswith(quote, position + 1):
                position += 2
                continue
            return position + 1
        position += 1
    return len(text)


def _reference_comment_end(text: str, position: int) -> int:
    depth = 0
    while position < len(text):
        if text.startswith("/*", position):
            depth, position = depth + 1, position + 2
        elif text.startswith("*/", position):
            depth, position = depth - 1, position + 2
            if depth == 0:
                return position
        else:
            position += 1
    return len(text)


def _reference_masked(text: str) -> str:
    import re

    scan = re.compile(_REFERENCE_SCAN)
    out, position, done = list(text), 0, 0
    while (match := scan.search(text, position)) is not None:
        start, token = match.start(), match.group()
        if token == "--":
            newline = text.find("\n", start)
            end = len(text) if newline == -1 else newline
        elif token == "/*":
            end = _reference_comment_end(text, start)
        elif token.endswith("'"):
            end = _reference_string_end(text, match.end(), len(token) == 2, "'")
        elif token == '"':
            end = _reference_string_end(text, match.end(), False, '"')
        else:
            close = text.find(token, match.end())
            end = len(text) if close == -1 else close + len(token)
        for index in range(start, end):
            if out[index] != "\n":
                out[index] = " "
        done = max(done, end)
        position = max(end, match.end())
    return "".join(out)


def _reference_guess(text: str) -> tuple[str, tuple[tuple[str, int], ...]]:
    import re

    masked = _reference_masked(text)
    if re.search(_REFERENCE_POSTGRES_ONLY, masked, re.IGNORECASE):
        return "postgres", ()
    found = [
        (name, dialect, match.start())
        for name, dialect, pattern in _REFERENCE_FOREIGN
        if (match := re.search(pattern, masked, re.IGNORECASE | re.MULTILINE)) is not None
    ]
    if not found:
        return "postgres", ()
    dialect = "sqlite" if any(d == "sqlite" for _, d, _ in found) else "mysql"
    return dialect, tuple((name, offset) for name, _, offset in sorted(found, key=lambda f: f[2]))


def _reference_postgres_only(text: str) -> bool:
    import re

    return re.search(_REFERENCE_POSTGRES_ONLY, _reference_masked(text), re.IGNORECASE) is not None


def _assert_guesses_as_before(text: str) -> None:
    from schema_review import discover as module

    guess = module.guess_dialect(text)
    assert (guess.dialect, guess.evidence) == _reference_guess(text), text
    assert module._holds_postgres_only(text) == _reference_postgres_only(text), text
    assert module._code_only(text) == _reference_masked(text), text


_GUESS_PIECES = [
    *_HINT_PIECES,
    *("ENGINE=InnoDB", "engine /* c */ =", "DEFAULT CHARSET=utf8", "default\tcharset =x"),
    *("CHARACTER SET =", "character\nset=", "int(11) unsigned", "BIGINT UNSIGNED", "tinyint"),
    *("integer (3)  UNSIGNED", "ON UPDATE CURRENT_TIMESTAMP", "on -- x\n update current_timestamp"),
    *("updated_at = CURRENT_TIMESTAMP", "\nDELIMITER $$", " \t delimiter //", "\nPRAGMA foo"),
    *("pragma_x", "WITHOUT ROWID", "AUTOINCREMENT", "AUTO_INCREMENT", "::", "CREATE EXTENSION"),
    *("concurrently", "LANGUAGE plpgsql", "timestamptz", "JSONB", "RETURNS TRIGGER", "owner to"),
    *("E'", "e'a\\'b'", "\\", "''", '""', "$a$", "$A$", "$tag$", "$_1$", "x$", "/*/", "-", "/"),
    *(" ", "\t", "\n", "_", "x", "9", "(", ")", "=", "`t`", "é", "\u212a"),
    # Gaps that are whitespace only once masked (see discover._MASKED_NEEDS).
    *("on update $$ $$ current_timestamp", "ON UPDATE e'x' current_timestamp", "engine'x'="),
    *("update /*x*/current_timestamp", 'on update"x"current_timestamp', "without--\nrowid"),
    *("ON UPDATE CASCADE", "DEFAULT current_timestamp", "without", "update", "engine"),
]


def test_the_dialect_guess_answers_as_the_case_blind_patterns_did() -> None:
    """guess_dialect's fast path (issue 17: anchor words, literal-first searches in the
    lowered text, whole regions matched at once) gives the guess, evidence and offsets of
    the patterns it replaced, and masks the same text."""
    import random

    chance = random.Random(1717)
    for _ in range(4000):
        pieces = [chance.choice(_GUESS_PIECES) for _ in range(chance.randint(0, 40))]
        text = "".join(p.upper() if chance.random() < 0.2 else p for p in pieces)
        if chance.random() < 0.7:
            text = text.encode("ascii", "ignore").decode()
        _assert_guesses_as_before(text)


@needs_corpus
def test_the_dialect_guess_answers_as_before_on_the_corpus() -> None:
    import csv

    with (CORPUS / "files.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    for row in rows:
        path = CORPUS / row["project"] / row["path"]
        text = path.read_bytes().decode("utf-8", "replace")
        if len(text) < 300_000:  # the reference masks a character at a time
            _assert_guesses_as_before(text)


def test_a_run_guesses_each_files_dialect_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The history's dialect and each file's own finding both ask; the second ask takes the
    # first's guess back (a guess reads the whole text: 3% of a cold run of the corpus).
    from schema_review.config import Settings
    from schema_review.pipeline import lint

    scans: list[int] = []

    class Anchors(tuple[str, ...]):
        def __iter__(self):  # type: ignore[no-untyped-def]
            scans.append(1)
            return super().__iter__()

    monkeypatch.setattr(discover_module, "_ANCHORS", Anchors(discover_module._ANCHORS))
    folder = tmp_path / "m"
    folder.mkdir()
    for number in range(3):  # `::`, PostgreSQL's own: the history is PostgreSQL's
        (folder / f"V{number}__t.sql").write_text(
            f"CREATE TABLE t{number} (id int DEFAULT 1::int);\n"
        )
    (folder / "V3__mysql.sql").write_text("CREATE TABLE `m` (id int) ENGINE=InnoDB;\n")
    lint([folder], Settings())
    assert len(scans) == 4  # once for each file, not twice
    assert discover_module._ASKED == {}  # each taken back
