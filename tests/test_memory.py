"""Memory bounded by the schema, not the history (issue 17, item 3). Parse trees live only
as long as the replay needs them: a statement's node is kept as JSON text until first read,
and a lint run drops it once the statement is replayed, keeping the compact facts the rules
and reports read. JSON output not kept for a later run is written as it is made."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from schema_review.cli import main
from schema_review.config import Settings
from schema_review.model import replay
from schema_review.output import render_json
from schema_review.parse import (
    SourceFile,
    has_tree,
    parse_postgres,
    release_tree,
    strip_locations,
)
from schema_review.parse.postgres import Statement, TreeReleased, _statements_json, pg_parser
from schema_review.pipeline import lint

# Statements whose JSON holds what the split must not take for a statement's start or end:
# `{"stmt":{"` inside strings, a first statement at 0 (no stmt_location), a last one without
# a ';' (no stmt_len), comments, non-ASCII text.
TRICKY = [
    "CREATE TABLE a (id int)",
    'SELECT 1; SELECT \'{"stmt":{"CreateStmt":{}}},{"stmt":{"x":1}}\'',
    '-- lead\nCREATE TABLE "}" ("{""stmt"":{" text DEFAULT \'\\\'); /* x */ SELECT 2',
    'DO $$ BEGIN RAISE NOTICE \'},{"stmt":{"A":{}},"stmt_len":3}\'; END $$;\nSELECT 3;',
    "CREATE TABLE café (prénom text DEFAULT 'été'); COMMENT ON TABLE café IS 'ü'",
    "SELECT 1;;; SELECT 2 ;",
]


@pytest.mark.parametrize("sql", TRICKY)
def test_statements_split_from_the_json_as_a_whole_decode_gives_them(sql: str) -> None:
    doc = pg_parser.parse_sql_json(sql)
    whole = json.loads(doc)["stmts"]
    split = _statements_json(doc)["stmts"]
    assert len(split) == len(whole)
    for lazy, decoded in zip(split, whole, strict=True):
        ((kind, text),) = lazy["stmt"].items()
        assert isinstance(text, str)  # kept as text, not decoded
        assert {kind: json.loads(text)} == decoded["stmt"]
        for key in ("stmt_location", "stmt_len"):
            assert lazy.get(key) == decoded.get(key)


def test_a_node_is_decoded_when_first_read_and_gone_once_released() -> None:
    # A file parsed whole is decoded with it (the replay reads nearly every node); a node
    # kept as text (a long file's chunk, an older cache) is decoded when first read.
    (statement,), _ = parse_postgres(SourceFile("a.sql", "CREATE TABLE app.users (id int);"))
    assert isinstance(statement._tree, dict)
    text = json.dumps(statement._tree)
    statement._tree = text
    assert statement.node["relation"]["relname"] == "users"
    assert isinstance(statement._tree, dict)
    release_tree(statement)
    assert not has_tree(statement)
    assert statement.written_name == ("app", "users")  # kept: the rules read it
    with pytest.raises(TreeReleased):
        statement.node  # noqa: B018


RENAMES = """\
CREATE TABLE accounts (id bigint PRIMARY KEY);
CREATE TABLE public.orders (id bigint PRIMARY KEY, total int);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TYPE mood AS ENUM ('sad', 'happy');
ALTER TABLE accounts RENAME TO customers;
CREATE VIEW accounts AS SELECT * FROM customers;
ALTER TABLE orders RENAME TO purchases;
CREATE TABLE public.orders (id bigint);
CREATE INDEX orders_id ON orders (id);
"""


def _facts(keep_trees: bool) -> list[tuple[str, str, bool]]:
    statements, _ = parse_postgres(SourceFile("m.sql", RENAMES))
    model = replay(statements, keep_trees=keep_trees)
    assert all(has_tree(s) == keep_trees for s in statements)
    return [(c.kind, c.unqualified_name, c.old_name_kept) for c in model.changes]


def test_what_changes_read_of_statements_survives_the_release() -> None:
    kept, released = _facts(keep_trees=True), _facts(keep_trees=False)
    assert released == kept
    assert ("rename_table", "", True) in released  # both renamed tables keep their old name
    assert ("create_table", "accounts", False) in released


def test_a_lint_run_keeps_no_parse_tree(tmp_path: Path) -> None:
    (tmp_path / "V1__init.sql").write_text(RENAMES)
    (tmp_path / "V2__more.sql").write_text(
        "ALTER TABLE purchases ADD COLUMN note text;\nCREATE INDEX p_note ON purchases (note);\n"
    )
    run = lint([tmp_path], Settings(select=("all",)))
    statements = [s for model in run.models for s in model.statements]
    assert len(statements) == 11
    assert run.result.findings  # the rules ran on what was kept
    assert [s for s in statements if has_tree(s)] == []


@pytest.mark.parametrize("to_file", [False, True])
def test_json_written_piece_by_piece_is_the_json_made_whole(tmp_path: Path, to_file: bool) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "V1__init.sql").write_text(RENAMES + "COMMENT ON TABLE purchases IS 'été';\n")
    (folder / "V2__empty.sql").write_text("SELECT 1;\n")
    settings = Settings(select=("all",), fail_on="none")
    expected = render_json(lint([folder], settings), "none")
    assert expected.count('"rule": ') > 5
    args = ["lint", str(folder), "--select", "all", "--format", "json", "--fail-on", "none"]
    out = tmp_path / "out.json"
    result = CliRunner().invoke(main, [*args, "--no-cache", *(["-o", str(out)] if to_file else [])])
    assert result.exit_code == 0, result.output
    assert (out.read_text(encoding="utf-8") if to_file else result.output) == expected


def test_a_rule_that_reads_a_statements_node_keeps_the_trees(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        """\
rules:
  - id: team-create-table-relpersistence
    title: The persistence a CREATE TABLE writes
    severity: info
    category: convention
    target: statement
    kinds: [create_table]
    when: stmt.statement.node.relation.relpersistence == 'p'
    message: "{{ stmt.statement.node.relation.relname }} is a permanent table"
    why: A team rule reading the parse tree.
    examples:
      bad: CREATE TABLE a (id int PRIMARY KEY);
      good: CREATE TEMPORARY TABLE a (id int PRIMARY KEY);
"""
    )
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "V1__init.sql").write_text(RENAMES)
    settings = Settings(select=("team-create-table-relpersistence",), rule_files=(rules,))
    run = lint([tmp_path / "m"], settings)
    messages = sorted(f.message for f in run.result.findings)
    assert messages == [f"{name} is a permanent table" for name in ("accounts", "orders", "orders")]


def test_an_expression_keeps_its_node_as_text_and_its_statement_as_a_place() -> None:
    sql = "CREATE TABLE t (a int DEFAULT 1 + 2, b text CHECK (b <> 'x'));"
    (statement,), _ = parse_postgres(SourceFile("e.sql", sql))
    column = statement.node["tableElts"][0]["ColumnDef"]
    raw = column["constraints"][0]["Constraint"]["raw_expr"]
    expression = statement.expression(raw)
    assert expression is not None
    assert isinstance(expression._node, str)  # compact JSON, not dicts
    assert expression.node == strip_locations(raw) and expression.node is not raw
    assert expression.statement_text == sql.rstrip(";")
    assert expression.sql == "1 + 2" and expression.kind == "A_Expr"
    renamed = expression.with_column_renamed("a", "c", "t")
    assert renamed.statement_text == expression.statement_text and renamed.renames


def test_the_same_expression_written_again_is_kept_once() -> None:
    # The stored text leaves the locations out (only printing reads the node's own, kept
    # apart), so a default or CHECK repeated on table after table is one string.
    sql = (
        "CREATE TABLE t (a int DEFAULT 1 + 2, b text CHECK (b IN ('x', 'y')));\n"
        "CREATE TABLE u (id int, a int DEFAULT 1 + 2, b text CHECK (b IN ('x', 'y')));"
    )
    statements, _ = parse_postgres(SourceFile("e.sql", sql))
    found = []
    for statement in statements:
        for element in statement.node["tableElts"]:
            for item in element["ColumnDef"].get("constraints", ()):
                found.append(statement.expression(item["Constraint"]["raw_expr"]))
    first_default, first_check, second_default, second_check = found
    assert first_default is not None and second_default is not None
    assert first_check is not None and second_check is not None
    assert first_default._node is second_default._node and "location" not in first_default._node
    assert first_check._node is second_check._node
    assert first_default == second_default and first_check == second_check
    assert [e.sql for e in found if e is not None] == ["1 + 2", "b IN ('x', 'y')"] * 2
    # The node's own location is kept as its place in the statement: a small number.
    assert all(e is not None and e._location is not None and e._location < 70 for e in found)
    # An expression printed from the statement parsed again (pglast) is found by it.
    (_, statement), _ = parse_postgres(
        SourceFile(
            "c.sql",
            sql.split("\n")[0] + "\nCREATE TABLE c (n int DEFAULT CASE WHEN true THEN 1 END);",
        )
    )
    raw = statement.node["tableElts"][0]["ColumnDef"]["constraints"][0]["Constraint"]
    case = statement.expression(raw["raw_expr"])
    assert case is not None and case.sql == "CASE WHEN TRUE THEN 1 END"
    # A subquery keeps its locations: a correlated one is printed on its own.
    (statement,), _ = parse_postgres(
        SourceFile("s.sql", "CREATE TABLE s (a int CHECK (a > (SELECT 1)));")
    )
    raw = statement.node["tableElts"][0]["ColumnDef"]["constraints"][0]["Constraint"]
    subquery = statement.expression(raw["raw_expr"])
    assert subquery is not None and subquery.node == raw["raw_expr"]


def test_where_a_statements_comments_start_is_kept_as_a_small_number() -> None:
    # As its distance to the statement's start: CPython keeps one object for each small int,
    # where an offset into a long file would be an int of its own for every statement.
    text = "".join(f"-- t{n:03}\nCREATE TABLE t{n} (id int);\n" for n in range(300))
    statements, _ = parse_postgres(SourceFile("long.sql", text))
    assert [s.leading_comments.strip() for s in statements] == [f"-- t{n:03}" for n in range(300)]
    assert statements[-1].trivia_start == text.index("-- t299") - 1  # after the ';'
    assert len({id(s._lead) for s in statements[1:]}) == 1


LONG = ";\n".join(
    [
        *TRICKY,
        "CREATE TABLE b (x int[] DEFAULT ARRAY[1, 2] CHECK (x[1] IN (1, 2)))",
        "SELECT 3 ; -- trailing\n/* lead */ COMMENT ON TABLE b IS 'é'",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END",
        "CREATE FUNCTION g() RETURNS int LANGUAGE sql AS $$ SELECT 1; SELECT 2 $$",
        "CREATE TABLE c (id int)",
    ]
)


def _parsed(sql: str, chunk: int | None, monkeypatch: pytest.MonkeyPatch) -> list[list[object]]:
    from schema_review.parse import postgres

    monkeypatch.setattr(postgres, "_CHUNKED_FROM", 0 if chunk else 1 << 40)
    monkeypatch.setattr(postgres, "_CHUNK", chunk or 1)
    statements, problems = parse_postgres(SourceFile("long.sql", sql))
    return [
        [(s.index, s.kind, s.start, s.end, s.trivia_start, s.leading_comments) for s in statements],
        [_absolute(s.node, s.base) for s in statements],
        [(p.offset, p.message) for p in problems],
    ]


def _absolute(value: object, base: int) -> object:
    from schema_review.parse.expressions import LOCATION_FIELDS

    if isinstance(value, dict):
        return {
            k: v + base
            if k in LOCATION_FIELDS and isinstance(v, int) and v >= 0
            else _absolute(v, base)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_absolute(v, base) for v in value]
    return value


@pytest.mark.parametrize("chunk", [1, 40, 200])
@pytest.mark.parametrize("sql", [LONG, LONG + "\n\\set x 1\nSELECT 4;"])
def test_a_long_file_parsed_in_pieces_gives_the_statements_of_a_whole_parse(
    sql: str, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = _parsed(sql, None, monkeypatch)
    assert len(whole[0]) > 12
    assert bool(whole[2]) == ("\\set" in sql)  # a meta-command: the slow path, whole
    assert _parsed(sql, chunk, monkeypatch) == whole


def test_the_pieces_of_a_long_file_are_parsed_one_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from schema_review.parse import postgres

    texts: list[str] = []
    real = postgres.pg_parser.parse_sql_json
    monkeypatch.setattr(postgres, "_CHUNKED_FROM", 100)
    monkeypatch.setattr(postgres, "_CHUNK", 100)

    def parse_sql_json(text: str) -> str:
        texts.append(text)
        return str(real(text))

    monkeypatch.setattr(postgres.pg_parser, "parse_sql_json", parse_sql_json)
    sql = "".join(f"CREATE TABLE t{n} (id int);\n" for n in range(50))
    statements, _ = parse_postgres(SourceFile("many.sql", sql))
    assert len(statements) == 50
    assert 5 < len(texts) < 50 and max(map(len, texts)) < 200


def test_a_run_that_reads_no_model_frees_it_with_the_collector_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """lint's outputs read no model: a long run keeps its statements only, and the objects
    go before the findings are built, though the command line turns the collector off (the
    replay's front end and the objects form cycles) and the findings are the same."""
    import gc

    from schema_review import pipeline
    from schema_review.model import Change, Table

    monkeypatch.setattr(pipeline, "KEPT_TEXT", 0)  # every run is long

    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "V1__init.sql").write_text(RENAMES)
    (folder / "V2__more.sql").write_text("ALTER TABLE purchases ADD COLUMN note text;\n")
    settings = Settings(select=("all",), fail_on="none")
    kept = lint([folder], settings)
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        run = lint([folder], settings, keep_models=False)
        alive = [o for o in gc.get_objects() if isinstance(o, (Table, Change))]
        assert [o for o in alive if not _reached_from(o, kept)] == []
    finally:
        if enabled:
            gc.enable()
    assert run.statement_count == kept.statement_count == 10
    assert [m.tables for m in run.models] == [{}]
    assert run.result.findings == kept.result.findings


def test_a_short_run_keeps_its_models_for_the_process_to_end_without_freeing_them(
    tmp_path: Path,
) -> None:
    """Up to KEPT_TEXT characters of SQL, a run that reads no model keeps it whole: the
    command line's process ends without taking it down object by object (cli._finish)."""
    from schema_review import pipeline

    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "V1__init.sql").write_text(RENAMES)
    settings = Settings(select=("all",), fail_on="none")
    assert len(RENAMES) <= pipeline.KEPT_TEXT
    run = lint([folder], settings, keep_models=False)
    kept = lint([folder], settings)
    assert run.models[0].tables
    assert [sorted(m.tables) for m in run.models] == [sorted(m.tables) for m in kept.models]


def _reached_from(obj: object, run: object) -> bool:
    """Whether `obj` belongs to the models of `run` (the run kept for comparison)."""
    models = run.models  # type: ignore[attr-defined]
    return any(
        obj in m.changes or any(obj is t for t in m.archive) or obj in m.tables.values()
        for m in models
    )


def test_findings_take_the_order_of_sorting_hits_by_place_rule_and_object() -> None:
    import random

    from schema_review.findings import _sort_hits
    from schema_review.rules import Hit, load_rules

    rules = load_rules(())[:4]
    sources = [
        SourceFile(f"{n}.sql", "", order, set_index)
        for n, (order, set_index) in enumerate([(0, 0), (1, 0), (0, 1), (2, 1)])
    ]
    chance = random.Random(17)
    hits = [
        Hit(
            chance.choice(rules),
            chance.choice(sources),
            start,
            start,
            chance.choice([None, "", "a", "b", "a.b"]),
            str(n),
        )
        for n, start in enumerate(chance.choice([0, 1, 5, 2**33]) for _ in range(400))
    ]
    expected = sorted(
        hits,
        key=lambda h: (h.source.set_index, h.source.order, h.start, h.rule.id, h.object or ""),
    )
    _sort_hits(hits)
    assert [h.message for h in hits] == [h.message for h in expected]


def test_json_tree_decodes_as_json_loads_does_whatever_the_text() -> None:
    # The C scanner is called directly; what it does not take whole goes to json.loads.
    from schema_review.parse import json_tree

    for text in ('{"a":[1,"x",null,true]}', ' {"a":1}', '{"a":1}\n', '"s"', "3"):
        assert json_tree.loads(text) == json.loads(text), text
    for bad in ("", "{", '{"a":1} x', "nope"):
        with pytest.raises(json.JSONDecodeError):
            json_tree.loads(bad)
    deep = "[" * 3000 + "]" * 3000  # past the recursion limit: the loop with a stack
    value = json_tree.loads(deep)
    for _ in range(2999):
        (value,) = value
    assert value == []


@pytest.mark.parametrize(
    "text",
    [
        r'{"sval":"\ud800 lone surrogate"}',  # orjson refuses it; the stdlib decoder takes it
        r'{"sval":"caf\u00e9 \ud83d\ude00 \"q\" \\ \n"}',
        '{"fval":"1.5e10","ival":-2147483648,"f":1.5,"e":1e400,"b":false,"n":null}',
        '{"a":1,"a":2}',
    ],
    ids=["lone-surrogate", "escapes", "scalars", "repeated-key"],
)
def test_json_tree_gives_json_loads_values_and_types(text: str) -> None:
    # orjson decodes first; text it refuses falls back, so every value is json.loads's.
    from schema_review.parse import json_tree

    assert repr(json_tree.loads(text)) == repr(json.loads(text))


def test_json_tree_decodes_libpg_query_output_as_json_loads_does() -> None:
    from pglast import parser

    from schema_review.parse import json_tree

    sql = (
        "CREATE TABLE t (id bigint DEFAULT 1.5e3, s text DEFAULT E'caf\\u00e9 \\n',"
        " f float8 CHECK (f > -2147483648));"
        " SELECT 'a' || 'b' || " + " || ".join(f"'{n}'" for n in range(300)) + ";"
    )
    doc = parser.parse_sql_json(sql)
    assert repr(json_tree.loads(doc)) == repr(json.loads(doc))


def _streamed(
    sql: str, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[object, list[list[object]]]:
    """`parse_streamed` of one file with caching off, read the way the replay reads it."""
    from schema_review.parse import postgres

    monkeypatch.setenv("SCHEMA_REVIEW_NO_CACHE", "1")
    monkeypatch.setattr(postgres, "_CHUNKED_FROM", 0)
    monkeypatch.setattr(postgres, "_CHUNK", chunk)
    ((parsed, problems),) = postgres.parse_streamed([SourceFile("long.sql", sql)])
    count = len(parsed)
    statements = list(parsed)
    assert len(statements) == count
    if isinstance(parsed, postgres.StatementStream):
        assert parsed.statements == statements and list(parsed) == statements  # read once
    return parsed, [
        [(s.index, s.kind, s.start, s.end, s.trivia_start, s.leading_comments) for s in statements],
        [_located(s.node, s.base) for s in statements],
        [(p.offset, p.message) for p in problems],
    ]


def _located(value: object, base: int) -> object:
    """A node with its `location`s in the file (the other position fields, which nothing
    reads, left out: libpg_query gives them in bytes)."""
    from schema_review.parse.expressions import LOCATION_FIELDS

    if isinstance(value, dict):
        return {
            k: v + base if k == "location" and isinstance(v, int) and v >= 0 else _located(v, base)
            for k, v in value.items()
            if k == "location" or k not in LOCATION_FIELDS
        }
    if isinstance(value, list):
        return [_located(v, base) for v in value]
    return value


@pytest.mark.parametrize("chunk", [1, 40, 200])
@pytest.mark.parametrize(
    "sql",
    [
        LONG,
        LONG.replace("SELECT 3 ;", "SELECT\x003 ;"),  # a NUL: reported, read as a space
        LONG + "\n\\set x 1\nSELECT 4;",  # a syntax error: parsed whole
        LONG + ";\nCOPY c FROM stdin;\n1\n\\.\n",  # COPY may read data: parsed whole
    ],
)
def test_a_long_file_streamed_gives_the_statements_of_a_whole_parse(
    sql: str, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from schema_review.parse import postgres

    whole = _parsed(sql, None, monkeypatch)
    whole[1] = [_located(_absolute(node, 0), 0) for node in whole[1]]  # base 0: the file's
    parsed, streamed = _streamed(sql, chunk, monkeypatch)
    assert streamed == whole
    plain = "\\set" not in sql and "COPY" not in sql
    assert isinstance(parsed, postgres.StatementStream) == plain


def test_a_long_file_is_parsed_a_chunk_at_a_time_as_the_replay_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The replay drops each statement's tree once replayed: the trees alive are those of
    the chunk being read, never the whole file's. With caching on, it streams too: each
    chunk's parse is cached by the chunk's text, and the next run parses only the chunks an
    edit touched."""
    from schema_review.parse import postgres

    texts: list[str] = []
    real = postgres.pg_parser.parse_sql_json

    def parse_sql_json(text: str) -> str:
        texts.append(text)
        return str(real(text))

    monkeypatch.setattr(postgres.pg_parser, "parse_sql_json", parse_sql_json)
    monkeypatch.setenv("SCHEMA_REVIEW_NO_CACHE", "1")
    monkeypatch.setattr(postgres, "_CHUNKED_FROM", 100)
    monkeypatch.setattr(postgres, "_CHUNK", 100)
    sql = "".join(f"CREATE TABLE t{n} (id int);\n" for n in range(50))
    ((parsed, _),) = postgres.parse_streamed([SourceFile("many.sql", sql)])
    assert isinstance(parsed, postgres.StatementStream) and len(parsed) == 50 and not texts
    alive: list[int] = []

    def replayed() -> Iterator[postgres.Statement]:
        for statement in parsed:
            alive.append(sum(map(has_tree, parsed.statements)))
            yield statement

    model = replay(replayed(), keep_trees=False)
    assert len(model.tables) == 50 and len(parsed.statements) == 50
    assert 5 < len(texts) < 50 and max(map(len, texts)) < 200
    assert max(alive) <= max(map(len, texts)) // 20 and not any(map(has_tree, parsed.statements))
    monkeypatch.delenv("SCHEMA_REVIEW_NO_CACHE")
    fresh = sql.replace("(id int)", "(id bigint)")  # a text no other test cached whole
    edited = fresh.replace("t49 (", "t49 (a int, ")  # the last chunk's text only
    runs = []
    for text, parses in ((fresh, len(texts)), (fresh, 0), (edited, 1)):
        texts.clear()
        ((stream, _),) = postgres.parse_streamed([SourceFile("many.sql", text)])
        assert isinstance(stream, postgres.StatementStream) and len(stream) == 50
        runs.append([_fields(s) for s in stream])
        assert len(texts) == parses  # the first run fills the cache, chunk by chunk
    assert runs[0] == runs[1] and runs[2][:-1] == runs[0][:-1]
    assert runs[0][-1][6] == "CREATE TABLE t49 (id bigint)"
    assert runs[2][-1][6] == "CREATE TABLE t49 (a int, id bigint)"


def _fields(statement: Statement) -> tuple[object, ...]:
    return (
        statement.index,
        statement.kind,
        statement.start,
        statement.end,
        statement.trivia_start,
        statement.base,
        statement.text,
        statement.node,
    )
