"""Facts about a PL/pgSQL function body, read from its parse tree.

The body is parsed by PostgreSQL's own PL/pgSQL grammar (`pglast.parser.parse_plpgsql_json`)
and every SQL statement or expression it embeds by the SQL grammar (`parse_sql_json`). A
regular expression over the body text cannot tell a comment or a string literal from code, an
`ELSE` of an `IF` from one of a `CASE`, or which handler a `RAISE` belongs to; the tree can.
Where the PL/pgSQL tree is silent (it does not record which variable `RETURN NEW` returns, and
it drops `NULL;` statements, so `ELSE NULL;` looks like no ELSE), the lines the tree points at
are read with PostgreSQL's lexer (`pglast.parser.scan`), still never with a pattern over text.

`analyze_plpgsql` never raises: anything the parser rejects or does not know gives
`BodyFacts(parsed=False)` with every fact empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pglast.parser import parse_plpgsql_json, parse_sql_json, scan

from schema_review.parse import json_tree, strip_locations
from schema_review.records import Record

__all__ = ["NO_FACTS", "BodyFacts", "IfChain", "PendingFacts", "TableWrite", "analyze_plpgsql"]


class IfChain(Record):
    """An IF/ELSIF dispatch over one value (every branch `X = constant`, `X IN (constants)`,
    or an OR of those) with no ELSE and no RAISE right after it: other values silently do
    nothing."""

    # A Record, not a dataclass (see records.py): no methods compiled at import.
    _fields = ("line", "subject", "values")
    __slots__ = _fields

    line: int
    subject: str  # the expression every branch compares with `=` / `IN`, lower-case
    values: tuple[str, ...]  # the constants compared against, as written

    def __init__(self, line: int, subject: str, values: tuple[str, ...]) -> None:
        self.line = line
        self.subject = subject
        self.values = values


class TableWrite(Record):
    """A static UPDATE statement of the body."""

    _fields = ("table", "where_refs_new", "line")
    __slots__ = _fields

    table: str  # as written, lower-case
    where_refs_new: tuple[str, ...]  # NEW / OLD columns in its WHERE clause, e.g. 'new.post_id'
    line: int

    def __init__(self, table: str, where_refs_new: tuple[str, ...], line: int) -> None:
        self.table = table
        self.where_refs_new = where_refs_new
        self.line = line


class BodyFacts(Record):
    """What the body does. Line numbers are PL/pgSQL's: line 1 is the line the body opens on."""

    _fields = (
        "parsed",
        "if_chains_without_else",
        "write_then_reraise",
        "updates",
        "inserts",
        "unsafe_executes",
        "sets_new_columns",
        "returns_new",
    )
    __slots__ = _fields

    parsed: bool  # False when the body could not be parsed; then every fact is empty
    if_chains_without_else: tuple[IfChain, ...]
    # Exception handlers that INSERT/UPDATE/DELETE and then raise an error (a bare `RAISE;` or
    # `RAISE EXCEPTION ...`), so the write is rolled back with the error. The tree does not
    # record the line of `WHEN ... THEN`: a handler's line is that of its first statement.
    write_then_reraise: tuple[int, ...]
    updates: tuple[TableWrite, ...]
    inserts: tuple[str, ...]  # tables INSERTed into, as written, lower-case
    # EXECUTE (also FOR ... IN EXECUTE, RETURN QUERY EXECUTE, OPEN ... FOR EXECUTE) of a query
    # concatenated (`||`, concat()) from an operand that is not a constant or quoted by
    # quote_ident/quote_literal/quote_nullable, format() with %I/%L, or a cast to regclass (or
    # another reg* type); or of format() with a `%s` taking such an operand. USING parameters
    # do not make a concatenated query safe.
    unsafe_executes: tuple[int, ...]
    sets_new_columns: tuple[str, ...]  # columns assigned as NEW.col := ..., lower-case
    returns_new: bool  # the body has RETURN NEW

    def __init__(
        self,
        parsed: bool,
        if_chains_without_else: tuple[IfChain, ...],
        write_then_reraise: tuple[int, ...],
        updates: tuple[TableWrite, ...],
        inserts: tuple[str, ...],
        unsafe_executes: tuple[int, ...],
        sets_new_columns: tuple[str, ...],
        returns_new: bool,
    ) -> None:
        self.parsed = parsed
        self.if_chains_without_else = if_chains_without_else
        self.write_then_reraise = write_then_reraise
        self.updates = updates
        self.inserts = inserts
        self.unsafe_executes = unsafe_executes
        self.sets_new_columns = sets_new_columns
        self.returns_new = returns_new


NO_FACTS = BodyFacts(
    parsed=False,
    if_chains_without_else=(),
    write_then_reraise=(),
    updates=(),
    inserts=(),
    unsafe_executes=(),
    sets_new_columns=(),
    returns_new=False,
)


def analyze_plpgsql(create_function_sql: str) -> BodyFacts:
    """The facts of the first PL/pgSQL function that `create_function_sql` creates."""
    try:
        return _Analysis(create_function_sql).run()
    except Exception:  # parse errors, and tree shapes this module does not know
        return NO_FACTS


class PendingFacts:
    """The facts of BodyFacts, the body parsed on the first question its text cannot answer
    alone: a fact whose keyword the text lacks (ELSIF or ELSEIF for an IF chain, EXECUTE for
    a dynamic query, INSERT or UPDATE for a write, NEW for NEW's columns) is empty."""

    # Whether the body parses or not, such a fact is empty: nothing is parsed for it. (A
    # text with a backslash may spell a keyword with escapes, E'...' or U&'...': it is
    # parsed.) Most functions of a schema have no IF chain, dynamic SQL or exception
    # handler, and parsing them was most of what the rules on functions cost.
    __slots__ = ("_facts", "_lowered", "_sql")

    def __init__(self, create_function_sql: str) -> None:
        self._sql = create_function_sql
        self._lowered: str | None = None
        self._facts: BodyFacts | None = None

    def _analysed(self) -> BodyFacts:
        """All the facts (the body parsed, once)."""
        if self._facts is None:
            self._facts = analyze_plpgsql(self._sql)
        return self._facts

    def _lacks(self, *words: str) -> bool:
        """Whether the text has none of the (lower-case) words, nor any backslash."""
        lowered = self._lowered
        if lowered is None:
            lowered = self._lowered = self._sql.lower()
        return "\\" not in lowered and not any(word in lowered for word in words)

    @property
    def parsed(self) -> bool:
        return self._analysed().parsed

    @property
    def if_chains_without_else(self) -> tuple[IfChain, ...]:
        if self._lacks("elsif", "elseif"):
            return ()
        return self._analysed().if_chains_without_else

    @property
    def write_then_reraise(self) -> tuple[int, ...]:
        if self._lacks("exception") or self._lacks("raise"):  # (a handler, and a RAISE in it)
            return ()
        return self._analysed().write_then_reraise

    @property
    def updates(self) -> tuple[TableWrite, ...]:
        if self._lacks("update"):
            return ()
        return self._analysed().updates

    @property
    def inserts(self) -> tuple[str, ...]:
        if self._lacks("insert"):
            return ()
        return self._analysed().inserts

    @property
    def unsafe_executes(self) -> tuple[int, ...]:
        if self._lacks("execute"):
            return ()
        return self._analysed().unsafe_executes

    @property
    def sets_new_columns(self) -> tuple[str, ...]:
        if self._lacks("new"):
            return ()
        return self._analysed().sets_new_columns

    @property
    def returns_new(self) -> bool:
        if self._lacks("new"):
            return False
        return self._analysed().returns_new


_Node = dict[str, Any]

_ERROR_LEVEL = 21  # elog.h ERROR: RAISE EXCEPTION, and a bare RAISE (re-raise)
_WRITES = ("InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt")
# Statement kind -> the field holding its static SQL, and the field holding its dynamic query.
_STATIC_SQL = {
    "PLpgSQL_stmt_execsql": "sqlstmt",
    "PLpgSQL_stmt_fors": "query",
    "PLpgSQL_stmt_return_query": "query",
}
_DYNAMIC_SQL = {
    "PLpgSQL_stmt_dynexecute": "query",
    "PLpgSQL_stmt_dynfors": "query",
    "PLpgSQL_stmt_return_query": "dynquery",
    "PLpgSQL_stmt_open": "dynquery",
}
_QUOTING_FUNCTIONS = frozenset({"quote_ident", "quote_literal", "quote_nullable"})
_CONCAT_FUNCTIONS = frozenset({"concat", "concat_ws"})
# Types whose text form is a properly quoted name.
_QUOTED_NAME_TYPES = frozenset(
    {
        "regclass",
        "regcollation",
        "regconfig",
        "regdictionary",
        "regnamespace",
        "regoper",
        "regoperator",
        "regproc",
        "regprocedure",
        "regrole",
        "regtype",
    }
)
# A format() specifier: %[position$][-][width|*|*position$]type (this reads a format string, a
# constant of the tree, not the body).
_FORMAT_SPEC = re.compile(r"%(?:(\d+)\$)?-?(?:\d+|\*(?:(\d+)\$)?)?([sIL%])")


class _Analysis:
    def __init__(self, create_function_sql: str) -> None:
        self.sql = create_function_sql
        tree = json_tree.loads(parse_plpgsql_json(create_function_sql))
        function = tree[0]["PLpgSQL_function"]
        self.datums: list[_Node] = function.get("datums", [])
        # Arguments and variables of a reg* type: their text is a quoted name already. A name
        # also declared with another type (in a nested block) is left out.
        types: dict[str, set[str]] = {}
        for datum in self.datums:
            for var in datum.values():
                if isinstance(var, dict) and "refname" in var:
                    types.setdefault(str(var["refname"]).lower(), set()).add(_datum_type(var))
        self.quoted_names = frozenset(
            name for name, found in types.items() if found <= _QUOTED_NAME_TYPES
        )
        self.action: _Node = function["action"]
        self.static: dict[int, list[tuple[str, _Node]]] = {}
        self.body_lines: list[str] | None = None

    def run(self) -> BodyFacts:
        chains: list[IfChain] = []
        reraise: list[int] = []
        updates: list[TableWrite] = []
        inserts: list[str] = []
        unsafe: list[int] = []
        new_columns: list[str] = []
        bare_returns: list[int] = []
        returns_new = False
        for kind, node, siblings, index in _walk([self.action]):
            line = int(node.get("lineno", 0))
            if kind == "PLpgSQL_stmt_if":
                chain = self._if_chain(node, siblings, index)
                if chain is not None:
                    chains.append(chain)
            elif kind == "PLpgSQL_stmt_block":
                reraise += self._write_then_reraise(node)
            elif kind == "PLpgSQL_stmt_assign":
                column = self._new_field(int(node.get("varno", 0)))
                if column is not None and column not in new_columns:
                    new_columns.append(column)
            elif kind == "PLpgSQL_stmt_return":
                if "expr" in node:
                    returns_new = returns_new or _is_new(_expression(_query(node["expr"])))
                elif line:  # RETURN <variable>; the implicit final RETURN has no line
                    bare_returns.append(line)
            for write, stmt in self._writes(kind, node):
                if write == "UpdateStmt":
                    updates.append(_table_write(stmt, line))
                elif write == "InsertStmt":
                    table = _table(stmt.get("relation", {}))
                    if table not in inserts:
                        inserts.append(table)
            dynamic = node.get(_DYNAMIC_SQL.get(kind, ""))
            if (
                dynamic is not None
                and line not in unsafe
                and _unsafe_query(_query(dynamic), self.quoted_names)
            ):
                unsafe.append(line)
        if bare_returns and not returns_new:
            returns_new = self._returns_new(bare_returns)
        return BodyFacts(
            parsed=True,
            if_chains_without_else=tuple(chains),
            write_then_reraise=tuple(sorted(set(reraise))),
            updates=tuple(updates),
            inserts=tuple(inserts),
            unsafe_executes=tuple(unsafe),
            sets_new_columns=tuple(new_columns),
            returns_new=returns_new,
        )

    def _writes(self, kind: str, stmt: _Node) -> list[tuple[str, _Node]]:
        """The INSERT/UPDATE/DELETE/MERGE statements in a statement's static SQL, CTEs too."""
        field = _STATIC_SQL.get(kind)
        expr = stmt.get(field) if field else None
        if expr is None:
            return []
        key = id(expr)
        if key not in self.static:
            query = _query(expr)
            lowered = query.lower()
            # Only a statement with one of these words can write: the others are not parsed.
            if any(word in lowered for word in ("insert", "update", "delete", "merge")):
                parsed = json_tree.loads(parse_sql_json(query))
                self.static[key] = [
                    write for s in parsed.get("stmts", []) for write in _statement_writes(s["stmt"])
                ]
            else:
                self.static[key] = []
        return self.static[key]

    def _if_chain(self, node: _Node, siblings: list[Any], index: int) -> IfChain | None:
        elsifs = [e["PLpgSQL_if_elsif"] for e in node.get("elsif_list", [])]
        if not elsifs or node.get("else_body"):
            return None
        following: _Node = siblings[index + 1] if index + 1 < len(siblings) else {}
        if "PLpgSQL_stmt_raise" in following:
            return None  # the RAISE after the chain is its fallback
        conditions = [_query(node["cond"]), *(_query(e["cond"]) for e in elsifs)]
        if not all("=" in c or "in" in c.lower() for c in conditions):
            return None  # no `=` or IN: no need to parse
        text, expressions = _expressions(conditions)
        found = [_comparisons(expression) for expression in expressions]
        parts = [part for branch in found if branch is not None for part in branch]
        if None in found or len({_key(subject) for subject, _, _ in parts}) != 1:
            return None
        line = int(node.get("lineno", 0))
        following_line = next((int(f.get("lineno", 0)) for f in following.values()), 0)
        if self._has_else(line, following_line, conditions[0]):
            return None  # an ELSE whose only statements are NULL; (the tree drops those)
        # A chain: its source text now, from the tokens of the conditions.
        source, tokens = _tokens(text)
        subject = _subject(_extent(source, tokens, _start(parts[0][0]), parts[0][1]))
        values = [
            _extent(source, tokens, _start(value), stop)
            for _, _, value_nodes in parts
            for value, stop in value_nodes
        ]
        return IfChain(line, subject, tuple(values))

    def _write_then_reraise(self, block: _Node) -> list[int]:
        exceptions = block.get("exceptions", {}).get("PLpgSQL_exception_block", {})
        found: list[int] = []
        for handler in exceptions.get("exc_list", []):
            action = handler["PLpgSQL_exception"].get("action", [])
            wrote = False
            for kind, node, _, _ in _walk(action):
                if kind == "PLpgSQL_stmt_raise" and wrote and _raises_error(node):
                    first = next(iter(action[0].values()))
                    found.append(int(first.get("lineno", 0)))
                    break
                wrote = wrote or bool(self._writes(kind, node))
        return found

    def _new_field(self, varno: int) -> str | None:
        """The column when datum `varno` is a field of NEW."""
        if not 0 <= varno < len(self.datums):
            return None
        field = self.datums[varno].get("PLpgSQL_recfield")
        if field is None:
            return None
        parent = int(field.get("recparentno", 0))
        if not 0 <= parent < len(self.datums):
            return None
        record = self.datums[parent].get("PLpgSQL_rec", {})
        if str(record.get("refname", "")).lower() != "new":
            return None
        return str(field["fieldname"]).lower()

    def _lines(self) -> list[str]:
        """The body's lines, numbered as PL/pgSQL numbers them (by newlines, from 1)."""
        if self.body_lines is None:
            self.body_lines = _function_body(self.sql).split("\n")
        return self.body_lines

    def _returns_new(self, lines: list[int]) -> bool:
        """Whether one of the `RETURN <variable>` statements on `lines` is `RETURN NEW`: the
        PL/pgSQL tree does not say which variable, so the lexer reads the line (and the next,
        for a RETURN broken over two lines)."""
        body_lines = self._lines()
        for line in lines:
            before = len(body_lines[line - 1].encode())  # RETURN starts on the first line
            _, tokens = _lex(body_lines, line, line + 1)
            for i in range(len(tokens) - 2):
                if tokens[i][0] < before and [t[2] for t in tokens[i : i + 3]] == _RETURN_NEW:
                    return True
        return False

    def _has_else(self, line: int, following_line: int, condition: str) -> bool:
        """Whether the IF statement with `condition` on `line` has an ELSE, read by the lexer
        from its line to the line of the statement after it."""
        body_lines = self._lines()
        end = following_line if following_line >= line else len(body_lines)
        if "else" not in "\n".join(body_lines[line - 1 : end]).lower():
            return False  # no need to lex
        source, tokens = _lex(body_lines, line, end)
        words = [word for _, _, word in tokens]
        wanted = condition.encode()
        for i in range(len(tokens) - 1):
            if (
                words[i] == b"IF"
                and _starts_statement(words, i)
                and source.startswith(wanted, tokens[i + 1][0])
            ):
                return _else_follows(words, i)
        return False


def _raises_error(raise_stmt: _Node) -> bool:
    """RAISE EXCEPTION, or a bare RAISE (which re-raises); not RAISE NOTICE and the like."""
    return int(raise_stmt.get("elog_level", _ERROR_LEVEL)) >= _ERROR_LEVEL


# -- the PL/pgSQL tree ----------------------------------------------------------------------


def _walk(stmts: list[Any]) -> Iterator[tuple[str, _Node, list[Any], int]]:
    """Every statement in `stmts` and, depth first, in the statements nested in it, with the
    list it is in and its index there."""
    for index, item in enumerate(stmts):
        ((kind, node),) = item.items()
        yield kind, node, stmts, index
        for child in _statement_lists(node):
            yield from _walk(child)


def _statement_lists(stmt: _Node) -> Iterator[list[Any]]:
    """The statement lists directly inside a statement (libpg_query's PL/pgSQL JSON fields):
    a block's body and its handlers' actions, IF and CASE branches, loop bodies."""
    for field in ("body", "then_body", "else_body", "else_stmts"):
        if field in stmt:
            yield stmt[field]
    for elsif in stmt.get("elsif_list", ()):
        yield elsif["PLpgSQL_if_elsif"].get("stmts", [])
    for when in stmt.get("case_when_list", ()):
        yield when["PLpgSQL_case_when"].get("stmts", [])
    if "exceptions" in stmt:
        for handler in stmt["exceptions"]["PLpgSQL_exception_block"].get("exc_list", []):
            yield handler["PLpgSQL_exception"].get("action", [])


def _query(expr: _Node) -> str:
    return str(expr["PLpgSQL_expr"]["query"])


def _function_body(sql: str) -> str:
    """The body of the first function `sql` creates, as PL/pgSQL reads it."""
    for stmt in json_tree.loads(parse_sql_json(sql))["stmts"]:
        for option in stmt["stmt"].get("CreateFunctionStmt", {}).get("options", []):
            element = option["DefElem"]
            if element["defname"] == "as":
                return str(element["arg"]["List"]["items"][0]["String"]["sval"])
    raise ValueError("no function body")


# -- the lexer, where the tree is silent ------------------------------------------------------


_Token = tuple[int, int, bytes]  # start and end byte offsets, and the text in upper case
_RETURN_NEW = [b"RETURN", b"NEW", b";"]
# The tokens after which a statement starts (and so an IF is an IF statement, not IF EXISTS).
_STATEMENT_STARTS = frozenset({b";", b"THEN", b"ELSE", b"LOOP", b"BEGIN", b">>"})


def _tokens(text: str) -> tuple[bytes, list[_Token]]:
    source = text.encode()
    return source, [(t.start, t.end + 1, source[t.start : t.end + 1].upper()) for t in scan(text)]


def _lex(body_lines: list[str], first: int, last: int) -> tuple[bytes, list[_Token]]:
    """The text and tokens of body lines `first` to `last`. When those lines alone do not lex
    (they start or stop inside a string or a comment), the whole body is lexed and the text and
    tokens from line `first` on are returned."""
    try:
        return _tokens("\n".join(body_lines[first - 1 : last]))
    except Exception:
        whole, tokens = _tokens("\n".join(body_lines))
    offset = sum(len(line.encode()) + 1 for line in body_lines[: first - 1])
    return whole[offset:], [(a - offset, b - offset, w) for a, b, w in tokens if a >= offset]


def _starts_statement(words: list[bytes], index: int) -> bool:
    return index == 0 or words[index - 1] in _STATEMENT_STARTS


def _else_follows(words: list[bytes], index: int) -> bool:
    """Whether the IF statement at `index` has an ELSE: an ELSE before its END IF that is not
    inside an IF, CASE or block nested in it."""
    depth = 0
    i = index + 1
    while i < len(words):
        word = words[i]
        following = words[i + 1] if i + 1 < len(words) else b""
        if word == b"END":
            if following == b"LOOP":
                i += 2
                continue
            if depth == 0:
                return False  # its END IF
            depth -= 1
            i += 2 if following in (b"IF", b"CASE") else 1
            continue
        if (word == b"IF" and _starts_statement(words, i)) or word in (b"CASE", b"BEGIN"):
            depth += 1
        elif word == b"ELSE" and depth == 0:
            return True
        i += 1
    return False


# -- embedded SQL ---------------------------------------------------------------------------


def _statement_writes(stmt: _Node) -> Iterator[tuple[str, _Node]]:
    """The writes of an SQL statement: itself, and the data-modifying statements of its WITH
    (PostgreSQL allows them only in the top-level WITH)."""
    ((kind, node),) = stmt.items()
    if kind in _WRITES:
        yield kind, node
    for cte in node.get("withClause", {}).get("ctes", []):
        yield from _statement_writes(cte["CommonTableExpr"]["ctequery"])


def _expression(query: str) -> _Node:
    """The parse tree of a PL/pgSQL expression."""
    return _expressions([query])[1][0]


def _expressions(queries: list[str]) -> tuple[str, list[_Node]]:
    """The parse trees of PL/pgSQL expressions, parsed together as `SELECT <expression>;`
    statements, and the text that was parsed."""
    text = "\n;\n".join("SELECT " + query for query in queries)
    stmts = json_tree.loads(parse_sql_json(text))["stmts"]
    if len(stmts) != len(queries):
        raise ValueError("an expression is not one expression")
    return text, [dict(s["stmt"]["SelectStmt"]["targetList"][0]["ResTarget"]["val"]) for s in stmts]


def _table(relation: _Node) -> str:
    names = (relation.get("catalogname"), relation.get("schemaname"), relation.get("relname"))
    return ".".join(str(name).lower() for name in names if name)


def _table_write(update: _Node, line: int) -> TableWrite:
    refs: list[str] = []
    for node in _column_refs(update.get("whereClause", {})):
        fields = [f["String"]["sval"].lower() for f in node["fields"] if "String" in f]
        if len(fields) >= 2 and len(fields) == len(node["fields"]) and fields[0] in {"new", "old"}:
            ref = ".".join(fields)
            if ref not in refs:
                refs.append(ref)
    return TableWrite(_table(update.get("relation", {})), tuple(refs), line)


def _column_refs(value: Any) -> Iterator[_Node]:
    """The ColumnRef nodes of an SQL parse tree, in order."""
    if isinstance(value, dict):
        for key, sub in value.items():
            if key == "ColumnRef":
                yield sub
            elif isinstance(sub, dict | list):
                yield from _column_refs(sub)
    elif isinstance(value, list):
        for item in value:
            yield from _column_refs(item)


def _is_new(expr: _Node) -> bool:
    fields = expr.get("ColumnRef", {}).get("fields", [])
    return len(fields) == 1 and fields[0].get("String", {}).get("sval", "").lower() == "new"


def _operator(expr: _Node) -> str:
    names = expr.get("name", [])
    return str(names[-1]["String"]["sval"]) if names else ""


def _function_name(call: _Node) -> str:
    return str(call["funcname"][-1]["String"]["sval"]).lower()


def _type_name(cast: _Node) -> str:
    return str(cast["typeName"]["names"][-1]["String"]["sval"]).lower()


def _datum_type(var: _Node) -> str:
    """A PL/pgSQL variable's type name as written, without schema or quotes, lower-case
    (`pg_catalog.regclass` -> `regclass`)."""
    written = str(var.get("datatype", {}).get("PLpgSQL_type", {}).get("typname", ""))
    return written.rpartition(".")[2].strip('"').lower()


def _is_constant(expr: _Node) -> bool:
    if "A_Const" in expr:
        return True
    cast = expr.get("TypeCast")
    return cast is not None and _is_constant(cast["arg"])


# -- IF chains ------------------------------------------------------------------------------


# (subject, where its source ends at the latest, [(value, where its source ends at the latest)])
_Comparison = tuple[_Node, int, list[tuple[_Node, int]]]


def _comparisons(expr: _Node) -> list[_Comparison] | None:
    """The parts of `X = const`, `X IN (consts)`, or an OR of those; None for any other
    condition. A source end is the operator for a left side, else the end of the text: the
    source is cut earlier at a `,`, an unopened `)`, or an AND/OR."""
    boolean = expr.get("BoolExpr")
    if boolean is not None:
        if boolean.get("boolop") != "OR_EXPR":
            return None
        found: list[_Comparison] = []
        for arg in boolean["args"]:
            branch = _comparisons(arg)
            if branch is None:
                return None
            found += branch
        return found
    compare = expr.get("A_Expr")
    if compare is None or _operator(compare) != "=":
        return None
    where = int(compare.get("location", -1))
    left, right = compare.get("lexpr", {}), compare.get("rexpr", {})
    end = 1 << 30
    if compare.get("kind") == "AEXPR_IN":
        items = right.get("List", {}).get("items", [])
        if not items or _is_constant(left) or not all(_is_constant(i) for i in items):
            return None
        return [(left, where, [(item, end) for item in items])]
    if compare.get("kind") != "AEXPR_OP":
        return None
    if _is_constant(right) and not _is_constant(left):
        return [(left, where, [(right, end)])]
    if _is_constant(left) and not _is_constant(right):
        return [(right, end, [(left, where)])]
    return None


def _key(expr: _Node) -> str:
    """The expression without source locations: equal for the same expression written twice."""
    return repr(strip_locations(expr))


def _start(expr: Any) -> int:
    """Where an expression starts: the smallest location in it (a cast's is at its `::`)."""
    start = 1 << 30
    if isinstance(expr, dict):
        for key, value in expr.items():
            if key == "location":
                if 0 <= value < start:
                    start = value
            elif isinstance(value, dict | list):
                start = min(start, _start(value))
    elif isinstance(expr, list):
        for item in expr:
            start = min(start, _start(item))
    return start


def _extent(text: bytes, tokens: list[_Token], start: int, stop: int) -> str:
    """The source of the expression starting at `start`: its tokens up to a `,` or an unopened
    `)` or `]`, an AND/OR, or `stop` (the operator when the expression is its left side)."""
    depth = 0
    end = start
    for first, last, token in tokens:
        if first < start:
            continue
        if first >= stop:
            break
        if depth == 0 and token in {b",", b")", b"]", b";", b"AND", b"OR"}:
            break
        if token in {b"(", b"["}:
            depth += 1
        elif token in {b")", b"]"}:
            depth -= 1
        end = last
    return text[start:end].decode().strip()


def _subject(text: str) -> str:
    return " ".join(text.split()).lower()


# -- dynamic SQL ----------------------------------------------------------------------------


def _unsafe_query(query: str, quoted: frozenset[str] = frozenset()) -> bool:
    """Whether the query an EXECUTE runs is built from an operand nothing quotes. `quoted`:
    the variables whose values are quoted names (declared regclass, regproc ...)."""
    lowered = query.lower()
    # Only an expression with one of these builds text: the others are not parsed.
    if not any(word in lowered for word in ("||", "concat", "format")):
        return False
    return _unsafe_text(_expression(query), quoted)


def _unsafe_text(expr: _Node, quoted: frozenset[str]) -> bool:
    if "TypeCast" in expr:
        return _unsafe_text(expr["TypeCast"]["arg"], quoted)
    if "CoalesceExpr" in expr:
        return any(_unsafe_text(arg, quoted) for arg in expr["CoalesceExpr"]["args"])
    if "CaseExpr" in expr:
        return any(_unsafe_text(result, quoted) for result in _case_results(expr["CaseExpr"]))
    if _builds_text(expr):
        return not _safe_operand(expr, quoted)
    return False  # a constant, or a variable built elsewhere


def _builds_text(expr: _Node) -> bool:
    if "A_Expr" in expr:
        return expr["A_Expr"].get("kind") == "AEXPR_OP" and _operator(expr["A_Expr"]) == "||"
    if "FuncCall" in expr:
        return _function_name(expr["FuncCall"]) in _CONCAT_FUNCTIONS | {"format"}
    return False


def _safe_operand(expr: _Node, quoted: frozenset[str]) -> bool:
    """Whether a piece of a query is a constant or quoted."""
    if "A_Const" in expr:
        return True
    if "ColumnRef" in expr:
        # A variable of a reg* type: its text form is the quoted name ('"My Table"').
        fields = expr["ColumnRef"].get("fields", [])
        name = fields[0].get("String", {}).get("sval", "") if len(fields) == 1 else ""
        return str(name).lower() in quoted
    if "TypeCast" in expr:
        cast = expr["TypeCast"]
        return _type_name(cast) in _QUOTED_NAME_TYPES or _safe_operand(cast["arg"], quoted)
    if "A_Expr" in expr:
        compare = expr["A_Expr"]
        return _builds_text(expr) and all(
            _safe_operand(compare[side], quoted) for side in ("lexpr", "rexpr") if side in compare
        )
    if "CoalesceExpr" in expr:
        return all(_safe_operand(arg, quoted) for arg in expr["CoalesceExpr"]["args"])
    if "CaseExpr" in expr:
        return all(_safe_operand(result, quoted) for result in _case_results(expr["CaseExpr"]))
    if "FuncCall" in expr:
        call = expr["FuncCall"]
        name = _function_name(call)
        if name in _QUOTING_FUNCTIONS:
            return True
        if call.get("func_variadic"):
            return False
        args = call.get("args", [])
        if name in _CONCAT_FUNCTIONS:
            return all(_safe_operand(arg, quoted) for arg in args)
        if name == "format":
            return _safe_format(args, quoted)
    return False


def _case_results(case: _Node) -> list[_Node]:
    results = [when["CaseWhen"]["result"] for when in case.get("args", [])]
    return [*results, case["defresult"]] if "defresult" in case else results


def _safe_format(args: list[_Node], quoted: frozenset[str]) -> bool:
    """format() is safe when every `%s` takes a constant or quoted argument (`%I` and `%L`
    quote theirs)."""
    if not args:
        return False
    template = args[0]
    while "TypeCast" in template:
        template = template["TypeCast"]["arg"]
    sval = template.get("A_Const", {}).get("sval")
    if sval is None:
        return False  # a template that is not a constant string cannot be checked
    values = args[1:]
    following = 0  # the argument an unnumbered specifier takes, 0-based among `values`
    for match in _FORMAT_SPEC.finditer(str(sval.get("sval", ""))):
        position, width_position, conversion = match.groups()
        if conversion == "%":
            continue
        if "*" in match.group(0):  # the width is an argument too
            following = int(width_position) if width_position else following + 1
        index = int(position) - 1 if position else following
        following = index + 1
        if conversion == "s" and (index >= len(values) or not _safe_operand(values[index], quoted)):
            return False
    return True


# -- the names a body leaves to the search_path ---------------------------------------------


def unqualified_names(
    create_function_sql: str, language: str
) -> tuple[tuple[str, str], ...] | None:
    """The relations, functions and types a function body names without a schema, as
    (`relation` | `function` | `type`, lower-case name), in order of first use: what its
    search_path must find. SQL bodies are parsed whole; PL/pgSQL bodies by the PL/pgSQL
    grammar, and each query or expression they embed by the SQL grammar. None when the body
    cannot be read (a dynamic query it EXECUTEs is never read: its names are unknown)."""
    try:
        body = _function_body(create_function_sql)
        if language.lower() == "sql":
            trees: list[Any] = [json_tree.loads(parse_sql_json(body))]
        elif language.lower() == "plpgsql":
            tree = json_tree.loads(parse_plpgsql_json(create_function_sql))
            queries = [q for q in _queries(tree)]
            trees = [json_tree.loads(parse_sql_json(_as_statement(q))) for q in queries]
        else:
            return None
    except Exception:  # what the parsers reject: nothing is known
        return None
    found: dict[tuple[str, str], None] = {}
    ctes: set[str] = set()
    for tree in trees:
        for kind, node in _named_nodes(tree):
            if kind == "CommonTableExpr":
                ctes.add(str(node.get("ctename", "")).lower())
                continue
            name = _unqualified(kind, node)
            if name is not None:
                found.setdefault(name, None)
    return tuple(n for n in found if not (n[0] == "relation" and n[1] in ctes))


def _queries(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "PLpgSQL_expr" and isinstance(item, dict) and "query" in item:
                yield str(item["query"])
            else:
                yield from _queries(item)
    elif isinstance(value, list):
        for item in value:
            yield from _queries(item)


_STATEMENT_WORDS = ("select", "insert", "update", "delete", "with", "merge", "values", "table")


def _as_statement(query: str) -> str:
    """A PL/pgSQL query as SQL: statements as they are, expressions as SELECT <expression>."""
    first = query.lstrip().split(None, 1)[0].lower() if query.strip() else ""
    return query if first in _STATEMENT_WORDS else "SELECT " + query


# Fields whose node libpg_query's JSON writes without its type around it (a field typed as
# that node, not as any node): INSERT, UPDATE, DELETE and MERGE targets, casts' types.
_BARE_NODES = {"relation": "RangeVar", "typeName": "TypeName"}


def _named_nodes(value: Any) -> Iterator[tuple[str, _Node]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("RangeVar", "FuncCall", "TypeName", "CommonTableExpr") and isinstance(
                item, dict
            ):
                yield key, item
            elif key in _BARE_NODES and isinstance(item, dict) and "RangeVar" not in item:
                yield _BARE_NODES[key], item
            yield from _named_nodes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _named_nodes(item)


def _unqualified(kind: str, node: _Node) -> tuple[str, str] | None:
    if kind == "RangeVar":
        if node.get("schemaname"):
            return None
        return "relation", str(node.get("relname", "")).lower()
    names = [
        n.get("String", {}).get("sval")
        for n in node.get("funcname" if kind == "FuncCall" else "names", [])
    ]
    if len(names) != 1 or not names[0]:
        return None
    return ("function" if kind == "FuncCall" else "type"), str(names[0]).lower()
