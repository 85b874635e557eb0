"""No statement silently lost: NUL bytes, quotes left open, unbalanced parentheses, deep
expressions, psql scripts (meta-commands, COPY data) and files that are not regular files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from schema_review.config import Settings
from schema_review.findings import Finding
from schema_review.output import (
    render_github,
    render_gitlab,
    render_json,
    render_junit,
    render_report,
    render_sarif,
    render_text,
)
from schema_review.parse import SourceFile, parse_many, parse_postgres
from schema_review.parse.postgres import _parse_piecewise, pg_parser
from schema_review.pipeline import LintRun, lint
from schema_review.report import build_report
from tests.helpers import CORPUS, REPO, LintSql, findings_of

CREATE = "CREATE TABLE IF NOT EXISTS accounts (id bigint PRIMARY KEY);\n"
DROP = "DROP TABLE legacy;\n"  # a table made before these files: `drop-table` fires
RULES = ("parse-error", "psql-meta-command", "drop-table")


def kinds(run: LintRun) -> list[str]:
    return [s.kind for model in run.models for s in model.statements]


def where(findings: list[Finding]) -> list[tuple[int, int]]:
    return [(f.line, f.column) for f in findings]


def assert_no_internal_error(run: LintRun) -> None:
    assert not findings_of(run, "internal-error"), findings_of(run, "internal-error")


# -- NUL bytes ----------------------------------------------------------------------------


def test_nul_byte_is_a_located_finding_and_the_rest_of_the_file_is_read(
    lint_sql: LintSql,
) -> None:
    run = lint_sql(CREATE + "SELECT 1;\x00\n" + DROP, select=RULES)
    (nul,) = findings_of(run, "parse-error")
    assert where([nul]) == [(2, 10)]
    assert "NUL byte" in nul.message
    assert kinds(run) == ["CreateStmt", "SelectStmt", "DropStmt"]
    (drop,) = findings_of(run, "drop-table")
    assert drop.line == 3


def test_nul_bytes_inside_a_statement_and_on_many_lines(lint_sql: LintSql) -> None:
    text = "CREATE TABLE\x00\x00 accounts (id bigint PRIMARY KEY);\n" + "\x00\n" * 30 + DROP
    run = lint_sql(text, select=RULES)
    errors = findings_of(run, "parse-error")
    # One finding a line, at most 20: a binary file would otherwise drown the report.
    assert len(errors) == 20
    assert errors[0].line == 1 and "2 NUL bytes on this line" in errors[0].message
    assert "to the end of the file" in errors[-1].message
    assert kinds(run) == ["CreateStmt", "DropStmt"]


# -- quotes, comments and dollar quotes left open ---------------------------------------


@pytest.mark.parametrize(
    ("opened", "column", "expected"),
    [
        ("INSERT INTO accounts VALUES ('abc);", 30, "no closing '"),
        ('SELECT "abc FROM accounts;', 8, 'no closing "'),
        ("/* a comment that never ends", 1, "no closing */"),
        ("DO $$ BEGIN PERFORM 1; END;", 4, "no closing $$"),
        ("CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1;", 36, "no closing $body$"),
        ("SELECT E'it\\'s;", 8, "no closing '"),
    ],
)
def test_unterminated_token_keeps_the_statements_before_it(
    lint_sql: LintSql, opened: str, column: int, expected: str
) -> None:
    run = lint_sql(CREATE + DROP + opened + "\nSELECT 3;\n", select=RULES)
    (error,) = findings_of(run, "parse-error")
    assert where([error]) == [(3, column)]
    assert error.message.startswith("unterminated ")
    assert error.message.endswith(f"{expected} before the end of the file")
    assert kinds(run) == ["CreateStmt", "DropStmt"]
    assert findings_of(run, "drop-table")


def test_unterminated_token_message_quotes_one_line_not_the_rest_of_the_file(
    lint_sql: LintSql,
) -> None:
    run = lint_sql(CREATE + "SELECT 'x" + "y" * 200 + "\n" + DROP * 50, select=RULES)
    (error,) = findings_of(run, "parse-error")
    assert len(error.message) < 150
    assert "DROP" not in error.message


def test_syntax_error_and_unbalanced_parenthesis_do_not_swallow_later_statements(
    lint_sql: LintSql,
) -> None:
    # libpg_query's scanner split gives up at an unbalanced parenthesis: every statement
    # after it was lost, without a word.
    run = lint_sql(
        CREATE + "SELECT (1;\nCREATE TABLE b (x int;\n" + DROP + "SELECT 'open", select=RULES
    )
    errors = findings_of(run, "parse-error")
    assert where(errors) == [(2, 10), (3, 22), (5, 8)]
    assert kinds(run) == ["CreateStmt", "DropStmt"]
    assert findings_of(run, "drop-table")


def test_sql_standard_function_body_is_one_statement_after_an_error(lint_sql: LintSql) -> None:
    body = (
        "CREATE FUNCTION add_one(i int) RETURNS int LANGUAGE sql\n"
        "BEGIN ATOMIC\n  SELECT CASE WHEN i > 0 THEN i + 1 END;\n  SELECT i + 1;\nEND;\n"
    )
    run = lint_sql("CREATE TABEL oops (x int);\n" + body + DROP, select=RULES)
    assert where(findings_of(run, "parse-error")) == [(1, 8)]
    assert kinds(run) == ["CreateFunctionStmt", "DropStmt"]


def corpus_postgres_files() -> list[Path]:
    rows = (CORPUS / "files.tsv").read_text(encoding="utf-8").splitlines()[1:]
    fields = [row.split("\t") for row in rows]
    return [CORPUS / f[0] / f[1] for f in fields if len(f) > 2 and f[2] == "postgres"]


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus is not here")
def test_statement_splitter_agrees_with_the_parser_on_the_corpus() -> None:
    """The slow path (statement by statement) finds the statements the fast path finds, on
    every corpus file that parses whole."""
    trailing_trivia = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)*", re.DOTALL)
    checked = 0
    for path in corpus_postgres_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        source = SourceFile(path.name, text)
        try:
            pg_parser.parse_sql_json(text)
        except pg_parser.ParseError:
            continue
        whole, _ = parse_postgres(source)
        pieces, problems = _parse_piecewise(source, text, None)
        assert not problems, path
        assert [(s.kind, s.start) for s in pieces] == [(s.kind, s.start) for s in whole], path
        for one, other in zip(whole, pieces, strict=True):
            # The parser runs a statement without ';' on to the end of the file, comments
            # after it included; the splitter stops at its last token.
            assert one.end == other.end or (
                trailing_trivia.fullmatch(text, other.end, one.end) is not None
            ), path
        checked += 1
    assert checked > 1000


# -- deep expressions ---------------------------------------------------------------------


@pytest.mark.parametrize("terms", [490, 2_000, 10_000])
def test_deep_expression_parses(lint_sql: LintSql, terms: int) -> None:
    chain = " || ".join(f"'p{i}'" for i in range(terms))
    text = (
        CREATE + f"INSERT INTO accounts (id) SELECT length({chain});\n"
        f"UPDATE accounts SET id = length({chain}) WHERE id = 1;\n" + DROP
    )
    run = lint_sql(text, select=RULES)
    assert not findings_of(run, "parse-error")
    assert_no_internal_error(run)
    assert kinds(run) == ["CreateStmt", "InsertStmt", "UpdateStmt", "DropStmt"]
    assert findings_of(run, "drop-table")


@pytest.mark.parametrize("cache", [True, False])
def test_expression_too_deep_for_postgres_is_an_error_of_that_statement_alone(
    lint_sql: LintSql, cache: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The file is long enough to stream (parse.postgres.StatementStream), with the cache on
    # or off: the splitter takes the statement, the parser refuses its chunk.
    if not cache:
        monkeypatch.setenv("SCHEMA_REVIEW_NO_CACHE", "1")
    chain = " || ".join("'p'" for _ in range(60_000))
    run = lint_sql(CREATE + f"SELECT {chain};\n" + DROP, select=RULES)
    (error,) = findings_of(run, "parse-error")
    assert where([error]) == [(2, 1)]
    assert "nested too deeply" in error.message
    assert kinds(run) == ["CreateStmt", "DropStmt"]


def test_deep_parse_is_cached_or_not_but_never_fails(lint_sql: LintSql) -> None:
    chain = " || ".join(f"'p{i}'" for i in range(3_000))
    text = CREATE + f"SELECT {chain};\n" + DROP
    first = lint_sql(text, select=RULES)
    again = lint_sql(text, select=RULES)  # the cache (tests have their own) cannot hold this parse
    assert kinds(first) == kinds(again) == ["CreateStmt", "SelectStmt", "DropStmt"]


def test_deep_parse_in_worker_processes() -> None:
    chain = " || ".join(f"'p{i}'" for i in range(3_000))
    texts = [f"SELECT {i};" for i in range(70)] + [f"SELECT {chain};"]
    sources = [SourceFile(f"{i}.sql", text) for i, text in enumerate(texts)]
    os.environ["SCHEMA_REVIEW_NO_CACHE"] = "1"
    try:
        parsed = parse_many(sources, jobs=2)
    finally:
        del os.environ["SCHEMA_REVIEW_NO_CACHE"]
    assert [len(statements) for statements, _ in parsed] == [1] * 71
    assert not [problem for _, problems in parsed for problem in problems]


# -- psql scripts -------------------------------------------------------------------------


def test_copy_from_stdin_data_is_not_linted(lint_sql: LintSql) -> None:
    text = CREATE + "COPY accounts (id) FROM stdin;\ndrop table\nit's got a quote\n\\.\n" + DROP
    run = lint_sql(text, select=RULES)
    assert not findings_of(run, "parse-error")
    assert not findings_of(run, "psql-meta-command")
    assert kinds(run) == ["CreateStmt", "CopyStmt", "DropStmt"]
    (drop,) = findings_of(run, "drop-table")
    assert drop.line == 6


def test_copy_that_fails_leaves_the_lines_after_it_sql(lint_sql: LintSql) -> None:
    # psql reads data only when the server accepts the COPY; scripts that test errors
    # follow a failing COPY with SQL (PostgreSQL's own generated.sql, rowsecurity.sql). With
    # no `\.` of its own, what follows a COPY is linted, never dropped.
    text = (
        "COPY accounts (id, generated) FROM stdin;\n"
        + DROP
        + "COPY accounts FROM stdin;\n"
        + "1\tdrop table legacy\n"
        + "\\.\n"
        + "COPY accounts FROM stdin;\n"
        + DROP
    )
    run = lint_sql(text, select=RULES)
    assert kinds(run) == ["CopyStmt", "DropStmt", "CopyStmt", "CopyStmt", "DropStmt"]
    assert [f.line for f in findings_of(run, "drop-table")] == [2, 7]


def test_copy_csv_data_and_psql_copy(lint_sql: LintSql) -> None:
    text = (
        "COPY accounts (id) FROM stdin WITH (FORMAT csv);\n"
        '1,"multi\nline; DROP TABLE accounts"\n'
        "\\.\n"
        "\\copy accounts from stdin\n"
        "2\n"
        "\\.\n"
        "COPY accounts TO stdout;\n" + DROP
    )
    run = lint_sql(text, select=RULES)
    assert kinds(run) == ["CopyStmt", "CopyStmt", "DropStmt"]
    assert where(findings_of(run, "psql-meta-command")) == [(5, 1)]
    (drop,) = findings_of(run, "drop-table")
    assert drop.line == 9


def test_psql_meta_commands_are_findings_and_the_statements_around_them_stay(
    lint_sql: LintSql,
) -> None:
    text = (
        "\\set ON_ERROR_STOP on\n"
        "\\connect app\n"
        "\\c app\n" + CREATE + "\\i other.sql\n"
        "\\echo don't stop\n"
        "SELECT count(*) AS n FROM accounts \\gset\n"
        "SELECT 1 \\; SELECT 2;\n" + DROP
    )
    run = lint_sql(text, select=RULES)
    found = findings_of(run, "psql-meta-command")
    assert where(found) == [(1, 1), (2, 1), (3, 1), (5, 1), (6, 1), (7, 36), (8, 10)]
    assert [f.message.split()[0] for f in found] == [
        "\\set",
        "\\connect",
        "\\c",
        "\\i",
        "\\echo",
        "\\gset",
        "\\;",
    ]
    assert {f.severity for f in found} == {"low"}
    assert not findings_of(run, "parse-error")
    assert kinds(run) == [
        "CreateStmt",
        "SelectStmt",
        "SelectStmt",
        "SelectStmt",
        "DropStmt",
    ]
    assert findings_of(run, "drop-table")


def test_meta_command_can_be_ignored_and_suppressed(lint_sql: LintSql) -> None:
    text = "\\set ON_ERROR_STOP on\n" + DROP
    assert not findings_of(
        lint_sql(text, select=RULES, ignore=("psql-meta-command",)), "psql-meta-command"
    )
    suppressed = "-- schema-review: ignore psql-meta-command -- run by psql only\n" + text
    assert not findings_of(lint_sql(suppressed, select=RULES), "psql-meta-command")


def test_new_findings_appear_in_every_output_format(lint_sql: LintSql) -> None:
    run = lint_sql(CREATE + "\\set x 1\nSELECT 1;\x00\n" + DROP + "SELECT 'open\n", select=RULES)
    rules = {f.rule for f in run.result.findings}
    assert {"psql-meta-command", "parse-error"} <= rules
    messages = [f.message for f in run.result.findings if f.rule != "drop-table"]
    assert len(messages) == 3
    fail_on = "high"
    document = json.loads(render_json(run, fail_on))
    assert sorted(f["message"] for f in document["findings"] if f["rule"] != "drop-table") == (
        sorted(messages)
    )
    sarif = json.loads(render_sarif(run, fail_on))
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} >= rules
    junit = ElementTree.fromstring(render_junit(run, fail_on))
    cases = junit.findall(".//failure") + junit.findall(".//skipped")  # below the gate: skipped
    assert len(cases) == len(run.result.findings)
    text = render_text(run, fail_on, color=False)
    github = render_github(run, fail_on)
    gitlab = json.loads(render_gitlab(run))
    review = render_report(build_report(run, fail_on, "t", "d", ()), "review")
    for message in messages:
        assert message in text
        assert message in review
        assert message.split(":")[0] in github
    assert len(gitlab) == len(run.result.findings)


# -- files that are not regular files -----------------------------------------------------


def lint_in_subprocess(*paths: Path) -> dict[str, object]:
    """A separate process with a deadline: a hang or a memory blow-up fails the test instead
    of the suite."""
    command = ["lint", "--format", "json", "--no-cache", "--select", "parse-error,drop-table"]
    result = subprocess.run(
        [sys.executable, "-m", "schema_review", *command, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode in (0, 1), result.stderr
    document: dict[str, object] = json.loads(result.stdout)
    return document


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_fifo_and_device_are_findings_never_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "0002_pipe.sql"
    os.mkfifo(fifo)
    zero = tmp_path / "0003_zero.sql"
    zero.symlink_to("/dev/zero")
    plain = tmp_path / "0001_plain.sql"
    plain.write_text(DROP, encoding="utf-8")
    document = lint_in_subprocess(plain, fifo, zero)
    findings = document["findings"]
    assert isinstance(findings, list)
    by_file = {Path(f["file"]).name: (f["rule"], f["line"], f["message"]) for f in findings}
    assert by_file == {
        "0001_plain.sql": ("drop-table", 1, by_file["0001_plain.sql"][2]),
        "0002_pipe.sql": (
            "parse-error",
            1,
            "file not read: it is a named pipe (FIFO), not a regular file",
        ),
        "0003_zero.sql": (
            "parse-error",
            1,
            "file not read: it is a character device, not a regular file",
        ),
    }


def test_file_over_the_size_limit_is_a_finding_and_not_read(tmp_path: Path) -> None:
    big = tmp_path / "0001_big.sql"
    with big.open("wb") as handle:  # sparse: nothing is written but the last byte
        handle.truncate(64 * 1024 * 1024 + 1)
    findings = lint_in_subprocess(big)["findings"]
    assert findings == [
        {
            **findings[0],  # type: ignore[index]
            "rule": "parse-error",
            "line": 1,
            "message": "file not read: 64.0 MiB, over the limit of 64 MiB for one migration file",
        }
    ]


def test_a_file_that_grew_since_its_stat_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read asks for the size the stat gave and one byte more; a file longer than that
    (it grew meanwhile) is read on, up to the limit."""
    from schema_review.pipeline import _read_bytes

    path = tmp_path / "0001_grown.sql"
    path.write_bytes(b"x" * 5000)
    real_fstat = os.fstat

    def stale(fd: int) -> os.stat_result:
        info = real_fstat(fd)
        fields = (info.st_mode, info.st_ino, info.st_dev, info.st_nlink, info.st_uid)
        times = (info.st_atime, info.st_mtime, info.st_ctime)
        return os.stat_result((*fields, info.st_gid, 10, *times))

    monkeypatch.setattr(os, "fstat", stale)
    assert _read_bytes(path) == (b"x" * 5000, None)


def test_unreadable_file_is_a_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "0001_secret.sql"
    secret.write_text(DROP, encoding="utf-8")
    real_open = os.open

    def refuse(path: object, flags: int, *args: object) -> int:
        if str(path) == str(secret):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refuse)
    run = lint([secret], Settings(select=("parse-error",)))
    (finding,) = run.result.findings
    assert (finding.line, finding.message) == (1, "cannot read file: Permission denied")
