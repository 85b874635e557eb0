"""Facts about PL/pgSQL bodies, read from the PL/pgSQL parse tree."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pglast.parser import parse_sql_json, split

from schema_review.model.plpgsql import (
    NO_FACTS,
    BodyFacts,
    IfChain,
    PendingFacts,
    TableWrite,
    analyze_plpgsql,
    unqualified_names,
)
from tests.helpers import CORPUS


def function(body: str, returns: str = "trigger", arguments: str = "") -> str:
    """A CREATE FUNCTION statement; the body's line 1 is the line `$$` opens, left empty."""
    return (
        f"CREATE OR REPLACE FUNCTION f({arguments}) RETURNS {returns} LANGUAGE plpgsql AS $$\n"
        f"{body}\n$$;"
    )


def facts(body: str, returns: str = "trigger", arguments: str = "") -> BodyFacts:
    result = analyze_plpgsql(function(body, returns, arguments))
    assert result.parsed, body
    assert_pending_agrees(function(body, returns, arguments), result)
    return result


_FACTS = (
    "if_chains_without_else",
    "write_then_reraise",
    "updates",
    "inserts",
    "unsafe_executes",
    "sets_new_columns",
    "returns_new",
    "parsed",  # (last: asked first, it parses the body)
)


def assert_pending_agrees(sql: str, result: BodyFacts) -> None:
    """PendingFacts gives the facts analyze_plpgsql gives, each asked first (it then parses
    the body only when its text may hold the fact) or after the others."""
    for name in _FACTS:
        assert getattr(PendingFacts(sql), name) == getattr(result, name), (name, sql)
    pending = PendingFacts(sql)
    assert [getattr(pending, name) for name in _FACTS] == [getattr(result, n) for n in _FACTS]


# -- IF/ELSIF chains without ELSE ---------------------------------------------------------------


def test_if_elsif_chain_without_else_is_reported() -> None:
    result = facts(
        """BEGIN
  IF NEW.kind = 'post' THEN
    NEW.score := 1;
  ELSIF NEW.kind = 'comment' THEN
    NEW.score := 2;
  ELSIF NEW.Kind IN ('like', 'share') THEN
    NEW.score := 3;
  END IF;
  RETURN NEW;
END;"""
    )
    assert result.if_chains_without_else == (
        IfChain(line=3, subject="new.kind", values=("'post'", "'comment'", "'like'", "'share'")),
    )


def test_if_chain_over_tg_op_with_constants_on_either_side() -> None:
    result = facts(
        """BEGIN
  IF TG_OP = 'INSERT' OR TG_OP = 'UPDATE' THEN
    RETURN NEW;
  ELSIF ('DELETE'::text = tg_op) THEN
    RETURN OLD;
  END IF;
  RETURN NULL;
END;"""
    )
    assert result.if_chains_without_else == (
        IfChain(line=3, subject="tg_op", values=("'INSERT'", "'UPDATE'", "'DELETE'::text")),
    )


def test_if_chain_with_else_raise_is_not_reported() -> None:
    result = facts(
        """BEGIN
  IF TG_OP = 'INSERT' THEN
    RETURN NEW;
  ELSIF TG_OP = 'DELETE' THEN
    RETURN OLD;
  ELSE
    RAISE EXCEPTION 'unexpected %', TG_OP;
  END IF;
END;"""
    )
    assert result.if_chains_without_else == ()


def test_if_chain_with_any_else_or_a_raise_after_it_is_not_reported() -> None:
    with_else = facts(
        """BEGIN
  IF NEW.kind = 'a' THEN NEW.score := 1;
  ELSIF NEW.kind = 'b' THEN NEW.score := 2;
  ELSE NEW.score := 0;
  END IF;
  RETURN NEW;
END;"""
    )
    raise_after = facts(
        """BEGIN
  IF NEW.kind = 'a' THEN RETURN NEW;
  ELSIF NEW.kind = 'b' THEN RETURN NULL;
  END IF;
  RAISE EXCEPTION 'unknown kind %', NEW.kind;
END;"""
    )
    assert with_else.if_chains_without_else == raise_after.if_chains_without_else == ()


@pytest.mark.parametrize(
    "chain",
    [
        "IF NEW.kind = 'a' THEN NEW.score := 1;\n  ELSIF NEW.kind = 'b' THEN NEW.score := 2;\n"
        "  ELSE\n    NULL;\n  END IF;",
        "IF NEW.kind = 'a' THEN NEW.score := 1; ELSIF NEW.kind = 'b' THEN NEW.score := 2; "
        "ELSE NULL; END IF; NEW.done := true;",
        "IF NEW.kind = 'a' THEN NEW.score := 1;\n  ELSIF NEW.kind = 'b' THEN NEW.score := 2;\n"
        "  ELSE -- nothing to do\n  END IF;",
    ],
)
def test_if_chain_with_an_else_of_only_null_is_not_reported(chain: str) -> None:
    """PL/pgSQL drops NULL statements from the tree: the ELSE is read from the tokens."""
    assert facts(f"BEGIN\n  {chain}\n  RETURN NEW;\nEND;").if_chains_without_else == ()


def test_lines_that_do_not_lex_alone_are_read_from_the_whole_body() -> None:
    result = facts(
        """DECLARE
  s text;
BEGIN
  IF NEW.kind = 'a' THEN s := 'x'; ELSIF NEW.kind = 'b' THEN s := 'y'; ELSE NULL; END IF;
  s := 'a string /* over
two lines';
  IF s IS NULL THEN RETURN NEW; END IF;
  NEW.note := 'another -- string
over two lines';
  RETURN OLD;
END;"""
    )
    assert result.if_chains_without_else == ()
    assert result.returns_new


def test_an_else_nested_in_a_branch_is_not_the_chains() -> None:
    result = facts(
        """BEGIN
  IF NEW.kind = 'a' THEN
    IF NEW.x > 1 THEN NEW.score := 1; ELSE NULL; END IF;
    NEW.label := CASE WHEN NEW.x > 2 THEN 'big' ELSE 'small' END;
    CREATE TABLE IF NOT EXISTS scratch (id int);
    BEGIN
      PERFORM 1;
    EXCEPTION WHEN others THEN NULL;
    END;
  ELSIF NEW.kind = 'b' THEN
    CASE NEW.x WHEN 1 THEN NEW.score := 2; ELSE NULL; END CASE;
  END IF;
  RETURN NEW;
END;"""
    )
    assert result.if_chains_without_else == (IfChain(3, "new.kind", ("'a'", "'b'")),)


@pytest.mark.parametrize(
    "conditions",
    [
        ("NEW.kind = 'a'",),  # a plain IF: no ELSIF
        ("NEW.kind = 'a'", "NEW.status = 'b'"),  # two different subjects
        ("NEW.kind = 'a'", "NEW.kind = OLD.kind"),  # not a constant
        ("NEW.kind = 'a'", "NEW.kind > 'b'"),  # not an equality
        ("NEW.kind = 'a' AND NEW.x = 1", "NEW.kind = 'b'"),
        ("NEW.kind IN (SELECT k FROM kinds)", "NEW.kind = 'b'"),
    ],
)
def test_if_without_a_dispatch_is_not_reported(conditions: tuple[str, ...]) -> None:
    branches = "\n  ELS".join(f"IF {cond} THEN NEW.x := 1;" for cond in conditions)
    assert (
        facts(f"BEGIN\n  {branches}\n  END IF;\n  RETURN NEW;\nEND;").if_chains_without_else == ()
    )


def test_if_chains_are_found_in_nested_loops_cases_and_handlers() -> None:
    result = facts(
        """DECLARE
  r record;
BEGIN
  FOR r IN SELECT kind FROM items LOOP
    CASE r.kind
      WHEN 'x' THEN
        IF r.kind = 'a' THEN PERFORM 1; ELSIF r.kind = 'b' THEN PERFORM 2; END IF;
      ELSE
        NULL;
    END CASE;
  END LOOP;
  BEGIN
    PERFORM 1;
  EXCEPTION WHEN others THEN
    WHILE true LOOP
      IF $1 = 1 THEN EXIT;
      ELSIF $1 = 2 THEN EXIT;
      END IF;
    END LOOP;
  END;
END;""",
        returns="void",
        arguments="n int",
    )
    assert result.if_chains_without_else == (
        IfChain(line=8, subject="r.kind", values=("'a'", "'b'")),
        IfChain(line=17, subject="$1", values=("1", "2")),
    )


# -- exception handlers that write, then re-raise ----------------------------------------------


def test_handler_that_logs_then_reraises_is_reported() -> None:
    result = facts(
        """BEGIN
  INSERT INTO orders (id) VALUES (1);
EXCEPTION
  WHEN unique_violation THEN
    INSERT INTO error_log (message) VALUES (SQLERRM);
    RAISE;
  WHEN others THEN
    UPDATE jobs SET failed = true WHERE id = 1;
    IF SQLSTATE = '23503' THEN
      RAISE EXCEPTION 'failed: %', SQLERRM;
    END IF;
END;""",
        returns="void",
    )
    assert result.write_then_reraise == (6, 9)


@pytest.mark.parametrize(
    "handler",
    [
        "RAISE;",  # only re-raises
        "RAISE EXCEPTION 'failed: %', SQLERRM;",
        "INSERT INTO error_log (message) VALUES (SQLERRM);\n    RAISE NOTICE 'logged';",
        "RAISE;\n    INSERT INTO error_log (message) VALUES (SQLERRM);",  # never reached
        "INSERT INTO error_log (message) VALUES (SQLERRM);",  # logged, not raised: kept
        "PERFORM 1;\n    RAISE;",
    ],
)
def test_handler_without_a_write_before_an_error_is_not_reported(handler: str) -> None:
    body = f"BEGIN\n  PERFORM 1;\nEXCEPTION\n  WHEN others THEN\n    {handler}\nEND;"
    assert facts(body, returns="void").write_then_reraise == ()


# -- UPDATE and INSERT --------------------------------------------------------------------------


def test_trigger_update_with_new_in_where() -> None:
    result = facts(
        """BEGIN
  UPDATE posts SET comment_count = comment_count + 1 WHERE id = NEW.post_id;
  RETURN NEW;
END;"""
    )
    assert result.updates == (TableWrite(table="posts", where_refs_new=("new.post_id",), line=3),)


def test_updates_anywhere_in_the_body() -> None:
    result = facts(
        """DECLARE
  n bigint;
BEGIN
  IF TG_OP = 'DELETE' THEN
    UPDATE Public."Posts" p SET n = n - 1 WHERE p.id = OLD.post_id AND p.owner = OLD.user_id;
  END IF;
  WITH moved AS (UPDATE stats SET n = n + 1 RETURNING id) SELECT count(*) INTO n FROM moved;
  RETURN NULL;
EXCEPTION WHEN others THEN
  UPDATE jobs SET failed = true;
  RETURN NULL;
END;"""
    )
    assert result.updates == (
        TableWrite("public.posts", ("old.post_id", "old.user_id"), 6),
        TableWrite("stats", (), 8),
        TableWrite("jobs", (), 11),
    )


def test_selects_and_upserts_are_not_updates() -> None:
    result = facts(
        """BEGIN
  PERFORM 1 FROM posts WHERE id = NEW.post_id;
  INSERT INTO counts (id, n) VALUES (NEW.id, 1) ON CONFLICT (id) DO UPDATE SET n = counts.n + 1;
  -- UPDATE posts SET n = 1;
  RAISE NOTICE 'UPDATE posts SET n = 1';
  RETURN NEW;
END;"""
    )
    assert result.updates == ()
    assert result.inserts == ("counts",)


def test_inserts_qualified_as_written() -> None:
    result = facts(
        """BEGIN
  INSERT INTO public.audit (at) VALUES (now());
  INSERT INTO audit (at) VALUES (now());
  INSERT INTO public.audit (at) VALUES (now());
  RETURN NEW;
END;"""
    )
    assert result.inserts == ("public.audit", "audit")


def test_no_inserts() -> None:
    assert facts("BEGIN\n  EXECUTE 'INSERT INTO t VALUES (1)';\n  RETURN NEW;\nEND;").inserts == ()


# -- EXECUTE ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "unsafe"),
    [
        ("EXECUTE 'SELECT count(*) FROM ' || tbl INTO n;", True),
        ("EXECUTE 'SELECT count(*) FROM ' || tbl INTO n USING 1;", True),
        ("EXECUTE 'DELETE FROM t WHERE name = ''' || name || '''';", True),
        ("EXECUTE concat('SELECT count(*) FROM ', tbl) INTO n;", True),
        ("EXECUTE format('SELECT count(*) FROM %s', tbl) INTO n;", True),
        ("EXECUTE format('SELECT %2$s FROM %1$I', tbl, name) INTO n;", True),
        ("EXECUTE format('SELECT count(*) FROM %I', tbl) || ' WHERE a = ' || name INTO n;", True),
        ("EXECUTE 'SELECT count(*) FROM t' INTO n;", False),
        ("EXECUTE 'SELECT a || b FROM t' INTO n;", False),
        ("EXECUTE 'SELECT count(*) FROM t WHERE name = $1' INTO n USING name;", False),
        ("EXECUTE format('SELECT count(*) FROM %I', tbl) INTO n;", False),
        ("EXECUTE format('SELECT count(*) FROM %I.%I WHERE a = %L', 'public', tbl, name);", False),
        ("EXECUTE format('SELECT %s FROM %I', quote_ident(name), tbl) INTO n;", False),
        ("EXECUTE format('SELECT count(*) FROM %s', 'constant') INTO n;", False),
        ("EXECUTE 'SELECT count(*) FROM ' || quote_ident(tbl) INTO n;", False),
        ("EXECUTE 'DELETE FROM t WHERE name = ' || quote_literal(name);", False),
        ("EXECUTE 'SELECT count(*) FROM ' || tbl::regclass INTO n;", False),
        ("EXECUTE query_text INTO n;", False),
    ],
)
def test_unsafe_execute(statement: str, unsafe: bool) -> None:
    result = facts(
        f"DECLARE\n  n bigint;\n  query_text text;\nBEGIN\n  {statement}\n  RETURN n;\nEND;",
        returns="bigint",
        arguments="tbl text, name text",
    )
    assert result.unsafe_executes == ((6,) if unsafe else ())


def test_unsafe_dynamic_loops_and_cursors() -> None:
    result = facts(
        """DECLARE
  r record;
  c refcursor;
BEGIN
  FOR r IN EXECUTE 'SELECT * FROM ' || tbl LOOP
    RETURN NEXT r.id;
  END LOOP;
  FOR r IN EXECUTE format('SELECT * FROM %I', tbl) LOOP
    RETURN NEXT r.id;
  END LOOP;
  OPEN c FOR EXECUTE 'SELECT * FROM ' || tbl;
  RETURN QUERY EXECUTE 'SELECT id FROM ' || tbl;
END;""",
        returns="SETOF bigint",
        arguments="tbl text",
    )
    assert result.unsafe_executes == (6, 12, 13)


# -- NEW ----------------------------------------------------------------------------------------


def test_columns_set_on_new() -> None:
    result = facts(
        """DECLARE
  r record;
BEGIN
  NEW.updated_at := now();
  NEW.Version = OLD.version + 1;
  OLD.ignored := 1;
  r.other := 2;
  NEW.updated_at := clock_timestamp();
  -- NEW.commented := 1;
  RETURN NEW;
END;"""
    )
    assert result.sets_new_columns == ("updated_at", "version")


def test_no_columns_set_on_new() -> None:
    result = facts("BEGIN\n  PERFORM NEW.updated_at = now();\n  RETURN NEW;\nEND;")
    assert result.sets_new_columns == ()


def test_returns_new() -> None:
    assert facts("BEGIN\n  RETURN NEW;\nEND;").returns_new
    assert facts(
        "BEGIN\n  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN\n    new;\nEND;"
    ).returns_new


@pytest.mark.parametrize(
    "body",
    [
        "BEGIN\n  RETURN OLD; -- RETURN NEW;\nEND;",
        "BEGIN\n  RETURN NULL;\n  /* RETURN NEW; */\nEND;",
        "BEGIN\n  RAISE NOTICE 'RETURN NEW;';\n  RETURN OLD;\nEND;",
    ],
)
def test_does_not_return_new(body: str) -> None:
    assert not facts(body).returns_new


# -- robustness ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        function("BEGIN\n  UPDATE posts SETT n = 1;\nEND;"),
        function("BEGIN\n  IF x = = 1 THEN NULL; END IF;\nEND;"),
        function("BEGIN\n  RETURN NEW;\n"),
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;",
        "CREATE TABLE t (id int);",
        "not sql at all",
        "",
    ],
)
def test_unparseable_gives_no_facts(sql: str) -> None:
    assert analyze_plpgsql(sql) == NO_FACTS
    assert_pending_agrees(sql, NO_FACTS)
    assert not NO_FACTS.parsed and NO_FACTS.updates == () and not NO_FACTS.returns_new


def test_a_body_quoted_as_a_string_literal() -> None:
    sql = (
        "CREATE FUNCTION touch() RETURNS trigger AS 'BEGIN\n"
        "  NEW.note := ''it''''s'';\n  RETURN NEW;\nEND' LANGUAGE plpgsql;"
    )
    result = analyze_plpgsql(sql)
    assert result.sets_new_columns == ("note",) and result.returns_new


def test_a_200_line_body_is_analysed_whole() -> None:
    lines = ["DECLARE", "  n bigint;", "BEGIN"]
    for i in range(20):
        lines += [
            f"  -- step {i}",
            "  SELECT count(*) INTO n FROM posts WHERE owner = NEW.owner_id;",
            f"  IF n > {i} THEN",
            "    UPDATE posts SET n = n + 1 WHERE id = NEW.post_id;",
            f"  ELSIF NEW.kind = 'k{i}' THEN",
            f"    NEW.score := {i};",
            "  END IF;",
            "  INSERT INTO audit (kind, n) VALUES (NEW.kind, n);",
            "  EXECUTE format('SELECT count(*) FROM %I', TG_TABLE_NAME) INTO n;",
            "",
        ]
    lines += [
        "  IF TG_OP = 'INSERT' THEN n := 1; ELSIF TG_OP = 'UPDATE' THEN n := 2; END IF;",
        "  RETURN NEW;",
        "END;",
    ]
    sql = function("\n".join(lines))
    assert sql.count("\n") > 200
    # (How fast is the benchmark's business, not a timed unit test's: it failed under load.)
    result = analyze_plpgsql(sql)
    assert len(result.if_chains_without_else) == 1 and len(result.updates) == 20


# -- the shared corpus --------------------------------------------------------------------------


def plpgsql_functions(path: Path) -> Iterator[str]:
    """The CREATE FUNCTION ... LANGUAGE plpgsql statements of one SQL file: the file parsed
    whole, else statement by statement as the scanner splits it."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if "plpgsql" not in text.lower():
        return
    try:
        pieces = [(text, json.loads(parse_sql_json(text))["stmts"])]
    except Exception:
        pieces = []
        try:
            statements = split(text, with_parser=False)
        except Exception:
            return
        for statement in statements:
            try:
                pieces.append((statement, json.loads(parse_sql_json(statement))["stmts"]))
            except Exception:
                continue
    for source, stmts in pieces:
        data = source.encode()
        for stmt in stmts:
            create = stmt["stmt"].get("CreateFunctionStmt")
            if create is None:
                continue
            languages = [
                option["DefElem"]["arg"]["String"]["sval"].lower()
                for option in create.get("options", [])
                if option["DefElem"]["defname"] == "language"
            ]
            if languages == ["plpgsql"]:
                start = stmt.get("stmt_location", 0)
                length = stmt.get("stmt_len", 0) or len(data) - start
                yield data[start : start + length].decode(errors="replace")


def test_every_corpus_plpgsql_function_is_analysed() -> None:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus not present")
    results = [
        analyze_plpgsql(sql)
        for path in sorted(CORPUS.rglob("*.sql"))
        if path.is_file()
        for sql in plpgsql_functions(path)
    ]
    assert len(results) > 100
    assert all(isinstance(result, BodyFacts) for result in results)
    functions = [
        sql
        for path in sorted(CORPUS.rglob("*.sql"))
        if path.is_file()
        for sql in plpgsql_functions(path)
    ]
    for sql, result in zip(functions, results, strict=True):
        assert_pending_agrees(sql, result)
    parsed = sum(result.parsed for result in results)
    assert parsed >= 0.95 * len(results), f"{parsed} of {len(results)} parsed"


def test_unqualified_names_include_the_targets_of_writes_and_the_types_of_casts() -> None:
    """INSERT, UPDATE and DELETE targets and a cast's type are fields libpg_query's JSON writes
    without their node type: a search_path fix that missed them broke the function."""
    sql = (
        "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN"
        " INSERT INTO audit_log (note) VALUES ('x'); UPDATE t SET a = 1::mood;"
        " DELETE FROM d USING e; END $$"
    )
    assert unqualified_names(sql, "plpgsql") == (
        ("relation", "audit_log"),
        ("relation", "t"),
        ("type", "mood"),
        ("relation", "d"),
        ("relation", "e"),
    )
    body = "CREATE FUNCTION g() RETURNS void LANGUAGE sql AS $$ UPDATE public.t SET a = 1 $$"
    assert unqualified_names(body, "sql") == ()


def test_pending_facts_parse_only_for_a_fact_the_text_may_hold() -> None:
    # No ELSIF, EXECUTE or exception handler: the rules' facts need no parse.
    pending = PendingFacts(function("BEGIN\n  NEW.at := now();\n  RETURN NEW;\nEND;"))
    asked = (pending.if_chains_without_else, pending.unsafe_executes, pending.write_then_reraise)
    assert asked == ((), (), ()) and pending.updates == () and pending.inserts == ()
    assert pending._facts is None
    assert pending.sets_new_columns == ("at",) and pending._facts is not None
    # A backslash may spell a keyword (E'ELS\\x49F'): the body is parsed.
    escaped = PendingFacts(
        "CREATE FUNCTION f() RETURNS int AS E'BEGIN RETURN 1; END' LANGUAGE plpgsql;"
    )
    assert escaped.if_chains_without_else == () and escaped._facts is None
    escaped = PendingFacts(
        "CREATE FUNCTION f() RETURNS int AS E'BEGIN\\nRETURN 1; END' LANGUAGE plpgsql;"
    )
    assert escaped.if_chains_without_else == () and escaped._facts is not None
