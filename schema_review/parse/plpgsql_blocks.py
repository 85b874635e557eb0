"""The SQL a `DO` block runs, read from PostgreSQL's PL/pgSQL parse tree.

Migrations wrap DDL in DO blocks to make it re-runnable: drizzle-kit's
`BEGIN ALTER TABLE ... ADD CONSTRAINT ...; EXCEPTION WHEN duplicate_object THEN null; END`,
`IF NOT EXISTS (SELECT 1 FROM pg_type ...) THEN CREATE TYPE ... END IF`. The body is parsed
by PL/pgSQL's grammar (`parse_plpgsql_json`), every static SQL statement in it by the SQL
grammar, and each becomes a `Statement` of the file at the place it is written, so the
replay and the rules treat it like any other. What cannot be known without running the
block (EXECUTE of a string built at run time, DDL inside a loop or under a condition on
data) is returned as such, so the replay can say what it did not model.
"""

from __future__ import annotations

import re
from typing import Any

from pglast.parser import ParseError, parse_plpgsql_json, parse_sql_json

from schema_review.parse import json_tree
from schema_review.parse.expressions import node_name
from schema_review.parse.postgres import Statement, _characters_for_bytes
from schema_review.records import Record

Json = dict[str, Any]

# An IF condition that asks the catalog whether an object exists.
_CATALOG_QUERY = re.compile(r"\b(?:pg_\w+|information_schema|to_reg\w+|exists)\b", re.IGNORECASE)


class BlockStep(Record):
    """One thing a DO block does.

    kind: `sql` (a static statement, in `statement`), `if` (an IF on whether objects exist:
    `then` and `otherwise` steps), `unknown` (DDL that cannot be known statically: `detail`
    says why), `call` (a function called: `detail` is its name).
    """

    _fields = ("kind", "offset", "statement", "guarded", "then", "otherwise", "detail", "condition")
    __slots__ = _fields

    kind: str
    offset: int
    statement: Statement | None
    guarded: bool  # inside a block whose EXCEPTION handler catches its failure
    then: list[BlockStep]
    otherwise: list[BlockStep]
    detail: str
    condition: Json | None  # an IF's condition, as the SQL parser reads it

    def __init__(
        self,
        kind: str,
        offset: int,
        statement: Statement | None = None,
        guarded: bool = False,
        then: list[BlockStep] | None = None,
        otherwise: list[BlockStep] | None = None,
        detail: str = "",
        condition: Json | None = None,
    ) -> None:
        self.kind = kind
        self.offset = offset
        self.statement = statement
        self.guarded = guarded
        self.then = list() if then is None else then
        self.otherwise = list() if otherwise is None else otherwise
        self.detail = detail
        self.condition = condition

    __hash__ = None  # type: ignore[assignment]  # changeable: unhashable, as its dataclass was


def do_block_steps(statement: Statement) -> list[BlockStep] | None:
    """What the DO block `statement` runs, in order; None if it is not PL/pgSQL or does not
    parse (the block is then left unmodelled)."""
    body, language = "", "plpgsql"
    for item in statement.node.get("args", ()):
        element = item.get("DefElem", {})
        value = element.get("arg", {}).get("String", {}).get("sval", "")
        if element.get("defname") == "as":
            body = value
        elif element.get("defname") == "language":
            language = value.lower()
    if language != "plpgsql" or not body:
        return None
    wrapper = f"CREATE FUNCTION __do() RETURNS void LANGUAGE plpgsql AS $__do${body}$__do$"
    try:
        tree = json_tree.loads(parse_plpgsql_json(wrapper))
    except (ParseError, RecursionError, ValueError):
        return None
    found = statement.text.find(body)
    reader = _BodyReader(statement, body, statement.start + found if found >= 0 else None)
    action = tree[0].get("PLpgSQL_function", {}).get("action", {})
    return reader.steps([action], guarded=False)


class _BodyReader:
    def __init__(self, statement: Statement, body: str, body_start: int | None) -> None:
        self.statement = statement
        self.body = body
        self.body_start = body_start  # where the body is in the file (None: not verbatim)
        # After each line break, found by str.find: a step per line, not per character.
        self.line_starts = [0]
        newline = body.find("\n")
        while newline != -1:
            self.line_starts.append(newline + 1)
            newline = body.find("\n", newline + 1)

    def steps(self, nodes: list[Any], guarded: bool) -> list[BlockStep]:
        found: list[BlockStep] = []
        for item in nodes:
            ((kind, node),) = item.items()
            found.extend(self.step(kind, node, guarded))
        return found

    def step(self, kind: str, node: Json, guarded: bool) -> list[BlockStep]:
        line = int(node.get("lineno", 1))
        if kind == "PLpgSQL_stmt_block":
            handled = bool(node.get("exceptions"))
            return self.steps(node.get("body", []), guarded or handled)
        if kind == "PLpgSQL_stmt_execsql":
            query = node.get("sqlstmt", {}).get("PLpgSQL_expr", {}).get("query", "")
            return self.sql(query, line, guarded)
        if kind == "PLpgSQL_stmt_perform":
            query = node.get("expr", {}).get("PLpgSQL_expr", {}).get("query", "")
            return self.sql(query, line, guarded)
        if kind == "PLpgSQL_stmt_dynexecute":
            query = node.get("query", {}).get("PLpgSQL_expr", {}).get("query", "")
            return self.dynamic(query, line, guarded)
        if kind == "PLpgSQL_stmt_if":
            return [self.branches(node, line, guarded)]
        inner = [
            child
            for key in ("body", "then_body", "else_body", "case_when_list", "else_stmts")
            for child in (node.get(key) or ())
            if isinstance(child, dict)
        ]
        nested = self.steps(inner, guarded) if inner else []
        if any(s.kind in ("sql", "if") and _is_ddl(s) for s in nested):
            what = kind.removeprefix("PLpgSQL_stmt_").replace("_", " ")
            return [BlockStep("unknown", self.offset(line), detail=f"DDL inside a {what}")]
        return [s for s in nested if s.kind in ("unknown", "call")]

    def branches(self, node: Json, line: int, guarded: bool) -> BlockStep:
        """IF ... THEN ... [ELSIF ...] [ELSE ...] END IF (an ELSIF is an IF in the ELSE)."""
        otherwise = self.steps(node.get("else_body") or [], guarded)
        for elsif in reversed(node.get("elsif_list") or ()):
            branch = elsif.get("PLpgSQL_if_elsif", {})
            inner = {"cond": branch.get("cond", {}), "then_body": branch.get("stmts") or []}
            nested = self.branch(inner, int(branch.get("lineno", line)), otherwise, guarded)
            otherwise = [nested]
        return self.branch(node, line, otherwise, guarded)

    def branch(self, node: Json, line: int, otherwise: list[BlockStep], guarded: bool) -> BlockStep:
        query = node.get("cond", {}).get("PLpgSQL_expr", {}).get("query", "")
        then = self.steps(node.get("then_body") or [], guarded)
        step = BlockStep("if", self.offset(line), then=then, otherwise=otherwise)
        if _CATALOG_QUERY.search(query):
            step.condition = _expression(query)
        elif any(_is_ddl(s) for s in (*then, *otherwise)):
            # A condition on data or settings: which branch runs is not known statically.
            return self.unknown_if(line)
        else:
            step.then = [s for s in then if s.kind in ("unknown", "call")]
            step.otherwise = [s for s in otherwise if s.kind in ("unknown", "call")]
        return step

    def unknown_if(self, line: int) -> BlockStep:
        return BlockStep("unknown", self.offset(line), detail="DDL under a condition on data")

    def sql(self, query: str, line: int, guarded: bool) -> list[BlockStep]:
        start = self.locate(query, line)
        statement = self.parse(query, start)
        if statement is None:
            return []
        if statement.kind == "SelectStmt":
            calls = [
                ".".join(node_name(item["FuncCall"].get("funcname")))
                for item in _walk(statement.node)
                if "FuncCall" in item
            ]
            return [
                BlockStep("call", statement.start, detail=name, guarded=guarded) for name in calls
            ]
        return [BlockStep("sql", statement.start, statement=statement, guarded=guarded)]

    def dynamic(self, query: str, line: int, guarded: bool) -> list[BlockStep]:
        """EXECUTE: a constant string is a static statement like any other."""
        start = self.locate(query, line)
        try:
            decoded = json_tree.loads(parse_sql_json("SELECT " + query))
            value = decoded["stmts"][0]["stmt"]["SelectStmt"]["targetList"][0]["ResTarget"]
            text = value["val"]["A_Const"]["sval"]["sval"]
        except (ParseError, RecursionError, KeyError, IndexError, ValueError):
            return [BlockStep("unknown", start, detail="EXECUTE of a string built at run time")]
        inner_start = start + 1 if "''" not in query else None
        statement = self.parse(text, inner_start)
        if statement is None:
            return [BlockStep("unknown", start, detail="EXECUTE of a string that does not parse")]
        return [BlockStep("sql", statement.start, statement=statement, guarded=guarded)]

    def offset(self, line: int) -> int:
        if self.body_start is None:
            return self.statement.start
        index = min(max(line, 1), len(self.line_starts)) - 1
        return self.body_start + self.line_starts[index]

    def locate(self, query: str, line: int) -> int:
        """The file offset of `query`, searched from its line of the body."""
        if self.body_start is None:
            return self.statement.start
        index = min(max(line, 1), len(self.line_starts)) - 1
        found = self.body.find(query, self.line_starts[index])
        if found < 0:
            found = self.body.find(query)
        return self.body_start + found if found >= 0 else self.offset(line)

    def parse(self, text: str, start: int | None) -> Statement | None:
        """`text` as a statement of the file, at `start` when it is written there verbatim."""
        try:
            decoded = json_tree.loads(parse_sql_json(text))
        except (ParseError, RecursionError, ValueError):
            return None
        statements = decoded.get("stmts", ())
        if len(statements) != 1:
            return None
        outer = self.statement
        source = outer.source
        verbatim = start is not None and source.text.startswith(text, start)
        if not text.isascii():
            _characters_for_bytes(decoded, text)
        ((kind, node),) = statements[0]["stmt"].items()
        if verbatim and start is not None:
            return Statement(
                source, outer.index, kind, node, start, start + len(text), start, start
            )
        # Not in the file as written (a quoted body): the block's span, no inner positions.
        return Statement(
            source, outer.index, kind, node, outer.start, outer.end, outer.trivia_start, -(2**40)
        )


def _expression(text: str) -> Json | None:
    """An expression, parsed (None if it does not parse)."""
    try:
        decoded = json_tree.loads(parse_sql_json("SELECT " + text))
        value: Json = decoded["stmts"][0]["stmt"]["SelectStmt"]["targetList"][0]["ResTarget"]
        return dict(value["val"])
    except (ParseError, RecursionError, KeyError, IndexError, ValueError):
        return None


def _is_ddl(step: BlockStep) -> bool:
    if step.kind == "if":
        return any(_is_ddl(s) for s in (*step.then, *step.otherwise))
    return (
        step.kind == "sql"
        and step.statement is not None
        and step.statement.kind
        not in (
            "InsertStmt",
            "UpdateStmt",
            "DeleteStmt",
            "SelectStmt",
            "VariableSetStmt",
        )
    )


def _walk(node: Any) -> list[Json]:
    found: list[Json] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def function_runs_ddl(create_function_text: str) -> str:
    """What DDL a PL/pgSQL function runs (`EXECUTE of a string built at run time`,
    `CREATE TABLE`), or '' when it runs none: calling it from a migration changes the schema
    in ways the replay of the call cannot see."""
    try:
        tree = json_tree.loads(parse_plpgsql_json(create_function_text))
    except (ParseError, RecursionError, ValueError):
        return ""
    stack: list[Any] = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        if "PLpgSQL_stmt_dynexecute" in item:
            return "EXECUTE of a string built at run time"
        execsql = item.get("PLpgSQL_stmt_execsql")
        if execsql is not None:
            query = execsql.get("sqlstmt", {}).get("PLpgSQL_expr", {}).get("query", "")
            words = query.split(None, 2)
            if words and words[0].upper() in ("CREATE", "ALTER", "DROP"):
                return " ".join(words[:2]).upper()
        stack.extend(item.values())
    return ""
