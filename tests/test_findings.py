"""Fingerprints, suppressions and ordering."""

from __future__ import annotations

import hashlib

import pytest

from schema_review.findings import Finding
from tests.helpers import LintSql, findings_of, rule_ids


def test_fingerprint_survives_lines_added_above(lint_sql: LintSql) -> None:
    sql = "CREATE INDEX orders_x_idx ON orders (x);\n"
    before = findings_of(lint_sql(sql), "create-index-not-concurrently")
    after = findings_of(lint_sql("-- a comment\n\n\n" + sql), "create-index-not-concurrently")
    assert before[0].line == 1 and after[0].line == 4
    assert before[0].fingerprint == after[0].fingerprint


def test_fingerprint_changes_with_substance(lint_sql: LintSql) -> None:
    one = findings_of(lint_sql("CREATE INDEX i ON orders (x);"), "create-index-not-concurrently")
    two = findings_of(lint_sql("CREATE INDEX i ON orders (y);"), "create-index-not-concurrently")
    assert one[0].fingerprint != two[0].fingerprint


def test_identical_statements_get_distinct_fingerprints(lint_sql: LintSql) -> None:
    sql = "CREATE INDEX i ON orders (x);\nDROP INDEX i;\nCREATE INDEX i ON orders (x);\n"
    found = findings_of(lint_sql(sql), "create-index-not-concurrently")
    assert len(found) == 2 and found[0].fingerprint != found[1].fingerprint


def test_suppression_covers_the_next_statement_only(lint_sql: LintSql) -> None:
    run = lint_sql(
        "-- schema-review: ignore create-index-not-concurrently, missing-if-not-exists -- ok\n"
        "CREATE INDEX a_idx ON orders (a);\n"
        "CREATE INDEX b_idx ON orders (b);\n",
        select=("locking", "idempotency", "suppression"),
        ignore=("missing-lock-timeout",),
    )
    located = [(f.rule, f.line) for f in run.result.findings]
    assert ("create-index-not-concurrently", 3) in located
    assert all(line != 2 for _, line in located)
    assert [s.reason for s in run.result.suppressed] == ["ok", "ok"]


def test_ignore_file_and_unused_and_reasonless(lint_sql: LintSql) -> None:
    run = lint_sql(
        "CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY, at timestamp);\n"
        "-- schema-review: ignore-file timestamp-without-time-zone -- legacy\n"
        "-- schema-review: ignore fk-missing-index\n"
        "CREATE TABLE IF NOT EXISTS u (id int PRIMARY KEY);\n"
    )
    ids = rule_ids(run)
    assert "timestamp-without-time-zone" not in ids
    assert ids.count("suppression-without-reason") == 1
    unused = findings_of(run, "unused-suppression")
    assert [(f.line, f.message) for f in unused] == [
        (3, "suppression of fk-missing-index matched no finding"),
    ]


def test_parse_error_is_located_and_other_statements_still_linted(lint_sql: LintSql) -> None:
    run = lint_sql(
        "CREATE INDEX a_idx ON orders (a);\n"
        "CREATE TABEL oops (id int);\n"
        "CREATE INDEX b_idx ON orders (b);\n"
    )
    errors = findings_of(run, "parse-error")
    assert [(e.line, e.column) for e in errors] == [(2, 8)]
    assert 'syntax error at or near "TABEL"' in errors[0].message
    lines = [f.line for f in findings_of(run, "create-index-not-concurrently")]
    assert lines == [1, 3]


def test_non_ascii_text_keeps_columns_in_characters(lint_sql: LintSql) -> None:
    run = lint_sql("COMMENT ON TABLE orders IS 'überall';  CREATE TABEL x (id int);\n")
    errors = findings_of(run, "parse-error")
    assert [(e.line, e.column) for e in errors] == [(1, 47)]


def test_findings_sort_in_apply_order(lint_sql: LintSql) -> None:
    run = lint_sql(
        [
            ("10_b.sql", "CREATE INDEX b_idx ON orders (b);"),
            ("2_a.sql", "CREATE INDEX a_idx ON orders (a);"),
        ]
    )
    files = [f.file.rsplit("/", 1)[-1] for f in findings_of(run, "create-index-not-concurrently")]
    assert files == ["2_a.sql", "10_b.sql"]


def test_fixes_quote_identifiers_that_need_it(lint_sql: LintSql) -> None:
    run = lint_sql(
        'CREATE TABLE IF NOT EXISTS "Account" (id int PRIMARY KEY, "userId" int REFERENCES users);'
    )
    fix = findings_of(run, "fk-missing-index")[0].fix
    assert fix == (
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "Account_userId_idx" '
        'ON public."Account" ("userId");'
    )


def test_a_fingerprint_is_the_digest_of_rule_object_statement_and_count(
    lint_sql: LintSql,
) -> None:
    """The formula baselines hold (a finding hashes its key once, then its count on top):
    sha256 of rule, object, the statement's text in lower case with its spaces collapsed,
    and how many findings before it had that key."""
    sql = "CREATE INDEX i ON orders (x);\nDROP INDEX i;\nCREATE  INDEX i\n ON orders (x);\n"
    found = findings_of(lint_sql(sql), "create-index-not-concurrently")
    assert len(found) == 2
    for count, finding in enumerate(found, 1):
        key = "\x1f".join((finding.rule, finding.object or "", "create index i on orders (x)"))
        digest = hashlib.sha256(f"{key}\x1f{count}".encode()).hexdigest()[:16]
        assert finding.fingerprint == digest


def test_a_finding_is_equal_whatever_its_place_in_apply_order() -> None:
    """== and hash compare what a finding says, not where its file stands (`order`, as the
    dataclass's compare=False had it); repr shows every field."""
    finding = Finding("r", "high", "locking", "m", "f.sql", 1, 2, 1, 9, None, None, "ab", "t")
    moved = finding._replace(order=(1, 4))
    assert finding == moved and hash(finding) == hash(moved)
    assert finding != finding._replace(line=3)
    assert repr(moved) == (
        "Finding(rule='r', severity='high', category='locking', message='m', file='f.sql', "
        "line=1, column=2, end_line=1, end_column=9, object=None, fix=None, "
        "fingerprint='ab', title='t', order=(1, 4))"
    )


@pytest.mark.parametrize("bitmap", ["usual", "every hash on one bit"])
def test_counts_of_a_statements_own_keys_and_of_texts_several_statements_share(
    bitmap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement whose text is no other's counts its keys itself (the run keeps no count
    of every key); texts two statements share, and a statement-less finding keyed by the
    same text, are counted across the run: every fingerprint is that of the formula, each
    key counted in order over the whole run. A text alone taken for one of several (its
    hash's bit set by another's) is counted across the run: the same fingerprints."""
    from collections import Counter

    from schema_review import findings

    if bitmap != "usual":
        monkeypatch.setattr(findings, "_LEAST_BITS", 1)
        monkeypatch.setattr(findings, "_BITS_PER_HIT", 0)

    from schema_review.findings import build_findings
    from schema_review.parse import SourceFile
    from schema_review.parse.postgres import Statement
    from schema_review.rules import Hit, load_rules

    rule = next(r for r in load_rules(()) if r.id == "create-index-not-concurrently")
    texts = [
        "CREATE INDEX i ON t (x);",  # the same text as the third, once spaced differently
        "CREATE INDEX j ON t (y);",  # its own text: its keys counted while its hits are taken
        "create  index i\n on t (x);",
        "SELECT 1;",
    ]
    source = SourceFile("a.sql", "\n".join(texts))
    statements, start = [], 0
    for index, text in enumerate(texts):
        statements.append(Statement(source, index, "IndexStmt", None, start, start + len(text), 0))
        start += len(text) + 1
    hits = []
    for statement in statements[:3]:  # each twice on its own object, once on another
        for name in ("a", "a", "b"):
            hits.append(
                Hit(rule, source, statement.start, statement.end, name, "m", None, statement)
            )
    # A statement-less finding keyed by its message: the fourth statement's text.
    hits.append(Hit(rule, source, statements[3].start, statements[3].start, "a", "select 1;"))
    hits.append(
        Hit(rule, source, statements[3].start, statements[3].end, "a", "m", None, statements[3])
    )
    expected, seen = [], Counter[str]()
    for hit in hits:  # already in order
        text = " ".join(hit.statement.text.split()).lower() if hit.statement else hit.message
        key = "\x1f".join((rule.id, hit.object or "", text))
        seen[key] += 1
        expected.append(hashlib.sha256(f"{key}\x1f{seen[key]}".encode()).hexdigest()[:16])
    result = build_findings(list(hits), (), {rule.id: rule}, {})
    # (Findings of a place are ordered by fingerprint.)
    assert sorted(f.fingerprint for f in result.findings) == sorted(expected)
    assert max(seen.values()) == 4 and len(set(expected)) == len(expected)


def test_a_findings_place_is_the_sources_position() -> None:
    """build_findings places hits by walking each file once (`_Shared.locate`) instead of
    `SourceFile.position`'s line index: the same line and column for the start and for the
    last character (max(start, end - 1)), offsets in any order, past either end, and on
    texts with empty lines, no final newline, a file switched and switched back."""
    import random

    from schema_review.findings import _Shared
    from schema_review.parse.source import SourceFile

    randomly = random.Random(17)
    texts = ["", "x", "\n", "\n\n\nab\n", "SELECT 1;\n\nSELECT 2;", "a\nbc\n\ndef\ng"]
    texts += ["".join(randomly.choice("ab\n") for _ in range(200)) for _ in range(20)]
    sources = [SourceFile(f"f{i}.sql", text) for i, text in enumerate(texts)]
    shared = _Shared()
    for _ in range(3000):
        source = randomly.choice(sources)
        size = len(source.text)
        start = randomly.randint(-3, size + 3)
        end = start + randomly.randint(-2, 12)
        line, column = source.position(start)
        end_line, end_column = source.position(max(start, end - 1))
        assert shared.locate(source, start, end) == (line, column, end_line, end_column)


def test_a_long_runs_findings_share_their_equal_values(
    lint_sql: LintSql, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From _SHARED_FROM hits, a statement's findings hold one object for each equal value
    (a long history's memory); a shorter run's hold their hits' own: the same findings."""
    from schema_review import findings

    sql = "CREATE TABLE t (id int, a text, b text, c text);\n" * 3
    short = lint_sql(sql).result.findings
    monkeypatch.setattr(findings, "_SHARED_FROM", 0)
    long = lint_sql(sql).result.findings

    def fields(found: list[Finding]) -> list[tuple[object, ...]]:
        return [tuple(v for k, v in f.to_dict().items() if k != "file") for f in found]

    assert fields(long) == fields(short)
    objects = [f.object for f in long if f.object == "public.t" and f.line == 1]
    assert len(objects) > 1 and all(o is objects[0] for o in objects)  # (one statement's)
