"""Read a database's schema from pg_catalog into the structure of docs/schema-json.md.

The same document `schema --format json` prints for the replayed model, read back from
what PostgreSQL really built, so that `compare` can put the two side by side. Expressions
are the server's own text (`pg_get_expr`, `pg_get_indexdef`); types are `format_type()`'s
spelling with the default search_path, so a type of `public` is unqualified.

What the migrations did not create is left out: system schemas, the objects of extensions
(pg_depend deptype 'e'), identity sequences (part of their column), internal triggers
(behind foreign keys), and, given a `baseline` dump taken before the first migration,
everything already there then (a platform's stand-ins). A baseline table the migrations
added to (a trigger on `auth.users`) stays, with `external: true` and only the additions.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import psycopg

FORMAT = "schema-review.schema"
VERSION = 1

# What every new database has before any migration: never the migrations' doing.
_INITIAL_SCHEMAS = frozenset({"public"})
_INITIAL_EXTENSIONS = frozenset({"plpgsql"})

_USER_NAMESPACE = """
    n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
    AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
"""

_ACTIONS = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
_COMMANDS = {"*": "all", "r": "select", "a": "insert", "w": "update", "d": "delete"}
_VOLATILITY = {"i": "immutable", "s": "stable", "v": "volatile"}
_TYPE_KINDS = {"e": "enum", "d": "domain", "r": "range", "c": "composite"}

# pg_trigger.tgtype bits (src/include/catalog/pg_trigger.h)
_ROW, _BEFORE, _INSERT, _DELETE, _UPDATE, _TRUNCATE, _INSTEAD = 1, 2, 4, 8, 16, 32, 64

# Keys of a table entry whose items the baseline can already hold.
_TABLE_LISTS = (
    "columns",
    "unique",
    "foreign_keys",
    "checks",
    "exclusions",
    "indexes",
    "triggers",
    "policies",
)


def dump_catalog(
    connection: psycopg.Connection[Any],
    baseline: dict[str, Any] | None = None,
    history: str = "",
    private: bool = False,
) -> dict[str, Any]:
    """The schema of the connected database as docs/schema-json.md describes it.

    Runs in its own transaction with the default search_path, whatever the session set.
    `private`: keep the bookkeeping fields a later dump's `baseline` needs (take the
    baseline with it).
    """
    with connection.transaction():
        connection.execute('SET LOCAL search_path = "$user", public')
        document = _Dump(connection).document(history)
    if baseline is not None:
        document = without_baseline(document, baseline)
    return document if private else strip_private(document)


def strip_private(document: dict[str, Any]) -> dict[str, Any]:
    """The document without the bookkeeping fields (`_version`) that only the baseline
    comparison reads."""
    result = dict(document)
    result["functions"] = [
        {k: v for k, v in f.items() if not k.startswith("_")} for f in document["functions"]
    ]
    return result


class _Dump:
    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection
        # Members of extensions, and functions a CREATE TYPE ... AS RANGE makes (the range's
        # and its multirange's constructors: internal parts of the type, not objects of
        # their own).
        members = connection.execute(
            "SELECT classid::regclass::text, objid FROM pg_depend WHERE deptype = 'e'"
            " OR (deptype = 'i' AND classid = 'pg_proc'::regclass"
            " AND refclassid = 'pg_type'::regclass)"
        ).fetchall()
        self.extension_members: set[tuple[str, int]] = {(c, o) for c, o in members}
        # oid -> "schema.name" of every relation: references are always qualified.
        self.relations: dict[int, str] = {
            oid: f"{schema}.{name}"
            for oid, schema, name in connection.execute(
                "SELECT c.oid, n.nspname, c.relname FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
            )
        }

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        return self.connection.execute(query).fetchall()

    def member(self, catalog: str, oid: int) -> bool:
        return (catalog, oid) in self.extension_members

    def document(self, history: str) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "history": history,
            "schemas": self.schemas(),
            "extensions": self.extensions(),
            "types": self.types(),
            "sequences": self.sequences(),
            "tables": self.tables(),
            "views": self.views(),
            "functions": self.functions(),
        }

    def schemas(self) -> list[dict[str, Any]]:
        rows = self.rows(f"SELECT n.oid, n.nspname FROM pg_namespace n WHERE {_USER_NAMESPACE}")
        return sorted(
            (
                {"name": name}
                for oid, name in rows
                if name not in _INITIAL_SCHEMAS and not self.member("pg_namespace", oid)
            ),
            key=lambda s: s["name"],
        )

    def extensions(self) -> list[dict[str, Any]]:
        rows = self.rows(
            "SELECT e.extname, n.nspname FROM pg_extension e"
            " JOIN pg_namespace n ON n.oid = e.extnamespace"
        )
        return sorted(
            (
                {"name": name, "schema": schema}
                for name, schema in rows
                if name not in _INITIAL_EXTENSIONS
            ),
            key=lambda e: e["name"],
        )

    def types(self) -> list[dict[str, Any]]:
        rows = self.rows(
            f"""
            SELECT t.oid, n.nspname, t.typname, t.typtype,
                   ARRAY(SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = t.oid
                         ORDER BY e.enumsortorder)
            FROM pg_type t
            JOIN pg_namespace n ON n.oid = t.typnamespace
            LEFT JOIN pg_class r ON r.oid = t.typrelid
            WHERE t.typtype IN ('e', 'd', 'r', 'c') AND (t.typtype <> 'c' OR r.relkind = 'c')
              AND {_USER_NAMESPACE}
            """
        )
        types = [
            {"schema": schema, "name": name, "kind": _TYPE_KINDS[kind], "values": list(values)}
            for oid, schema, name, kind, values in rows
            if not self.member("pg_type", oid)
        ]
        return sorted(types, key=lambda t: (t["schema"], t["name"]))

    def sequences(self) -> list[dict[str, Any]]:
        # deptype 'a': a serial's sequence (OWNED BY); 'i': an identity column's, which is
        # part of its column and not an object of its own.
        rows = self.rows(
            f"""
            SELECT c.oid, n.nspname, c.relname, d.deptype, d.refobjid, a.attname
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
                 AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
                 AND d.deptype IN ('a', 'i')
            LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
            WHERE c.relkind = 'S' AND {_USER_NAMESPACE}
            """
        )
        sequences = [
            {
                "schema": schema,
                "name": name,
                "owned_by": f"{self.relations[table]}.{column}" if column else None,
            }
            for oid, schema, name, deptype, table, column in rows
            if deptype != "i" and not self.member("pg_class", oid)
        ]
        return sorted(sequences, key=lambda s: (s["schema"], s["name"]))

    def views(self) -> list[dict[str, Any]]:
        rows = self.rows(
            f"""
            SELECT c.oid, n.nspname, c.relname, c.relkind, c.reloptions
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('v', 'm') AND {_USER_NAMESPACE}
            """
        )
        views = [
            {
                "schema": schema,
                "name": name,
                "materialized": kind == "m",
                "security_invoker": _reloption_true(options, "security_invoker"),
            }
            for oid, schema, name, kind, options in rows
            if not self.member("pg_class", oid)
        ]
        return sorted(views, key=lambda v: (v["schema"], v["name"]))

    def functions(self) -> list[dict[str, Any]]:
        rows = self.rows(
            f"""
            SELECT p.oid, n.nspname, p.proname, p.prokind,
                   ARRAY(SELECT format_type(u.t, NULL)
                         FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, i) ORDER BY u.i),
                   format_type(p.prorettype, NULL), p.proretset, l.lanname, p.prosecdef,
                   p.provolatile, p.proconfig, md5(p.prosrc || coalesce(p.probin, ''))
            FROM pg_proc p
            JOIN pg_namespace n ON n.oid = p.pronamespace
            JOIN pg_language l ON l.oid = p.prolang
            WHERE p.prokind IN ('f', 'p') AND {_USER_NAMESPACE}
            """
        )
        functions = []
        for row in rows:
            oid, schema, name, kind, arguments, returns, returns_set = row[:7]
            language, definer, volatility, config, version = row[7:]
            if self.member("pg_proc", oid):
                continue
            functions.append(
                {
                    "schema": schema,
                    "name": name,
                    "kind": "procedure" if kind == "p" else "function",
                    "arguments": list(arguments),
                    "returns": None if kind == "p" else returns,
                    "returns_set": bool(returns_set),
                    "language": language,
                    "security_definer": bool(definer),
                    "volatility": _VOLATILITY[volatility],
                    "search_path": _setting(config, "search_path"),
                    # The body: CREATE OR REPLACE of a baseline function can change only it
                    # (GRANT or OWNER TO, which change the row too, are not redefinitions).
                    "_version": version,
                }
            )
        return sorted(functions, key=lambda f: (f["schema"], f["name"], f["arguments"]))

    # -- tables -------------------------------------------------------------------------

    def tables(self) -> list[dict[str, Any]]:
        rows = self.rows(
            f"""
            SELECT c.oid, n.nspname, c.relname, c.relkind, c.relpersistence, c.relispartition,
                   c.relrowsecurity, c.relforcerowsecurity,
                   ARRAY(SELECT i.inhparent FROM pg_inherits i WHERE i.inhrelid = c.oid
                         ORDER BY i.inhseqno)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND {_USER_NAMESPACE}
            """
        )
        columns = self.columns()
        constraints = self.constraints(columns)
        indexes = self.indexes(columns)
        triggers = self.triggers()
        policies = self.policies()
        tables = []
        for oid, schema, name, kind, persistence, partition, rls, forced, parents in rows:
            if self.member("pg_class", oid):
                continue
            parents = [self.relations[p] for p in parents]
            table_constraints = constraints.get(oid, {})
            tables.append(
                {
                    "schema": schema,
                    "name": name,
                    "external": False,
                    "partitioned": kind == "p",
                    "partition_of": parents[0] if partition and parents else None,
                    "inherits": [] if partition else parents,
                    "unlogged": persistence == "u",
                    "columns_known": True,
                    "columns": [c for _, c in columns.get(oid, [])],
                    "primary_key": next(iter(table_constraints.get("p", [])), None),
                    "unique": _by_name(table_constraints.get("u", [])),
                    "foreign_keys": _by_name(table_constraints.get("f", [])),
                    "checks": _by_name(table_constraints.get("c", [])),
                    "exclusions": _by_name(table_constraints.get("x", [])),
                    "indexes": _by_name(indexes.get(oid, [])),
                    "triggers": _by_name(triggers.get(oid, [])),
                    "row_level_security": {"enabled": bool(rls), "forced": bool(forced)},
                    "policies": _by_name(policies.get(oid, [])),
                }
            )
        return sorted(tables, key=lambda t: (t["schema"], t["name"]))

    def columns(self) -> dict[int, list[tuple[int, dict[str, Any]]]]:
        """Per table oid: (attnum, column entry) in table order."""
        rows = self.rows(
            f"""
            SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
                   a.attnotnull, a.attidentity, a.attgenerated, pg_get_expr(d.adbin, d.adrelid)
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
              AND {_USER_NAMESPACE}
            ORDER BY a.attrelid, a.attnum
            """
        )
        columns: dict[int, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        for relation, number, name, type_name, not_null, identity, generated, default in rows:
            columns[relation].append(
                (
                    number,
                    {
                        "name": name,
                        "type": type_name,
                        "not_null": bool(not_null),
                        "default": None if generated else default,
                        "identity": {"a": "always", "d": "by default"}.get(identity),
                        # 's' stored, 'v' virtual (PostgreSQL 18): both are generated columns.
                        "generated": default if generated else None,
                    },
                )
            )
        return columns

    def constraints(
        self, columns: dict[int, list[tuple[int, dict[str, Any]]]]
    ) -> dict[int, dict[str, list[dict[str, Any]]]]:
        """Per table oid and constraint type (p, u, f, c, x): their entries."""
        names = _column_names(columns)
        rows = self.rows(
            """
            SELECT con.conrelid, con.conname, con.contype, con.condeferrable, con.convalidated,
                   con.conkey, con.confrelid, con.confkey, con.confdeltype, con.confupdtype,
                   pg_get_expr(con.conbin, con.conrelid), con.conindid,
                   ARRAY(SELECT o.oprname FROM unnest(con.conexclop) WITH ORDINALITY u(op, i)
                         JOIN pg_operator o ON o.oid = u.op ORDER BY u.i),
                   ARRAY(SELECT pg_get_indexdef(con.conindid, k, true)
                         FROM generate_series(1, coalesce(cardinality(con.conexclop), 0)) k),
                   (SELECT pg_get_expr(x.indpred, x.indrelid, true) FROM pg_index x
                    WHERE x.indexrelid = con.conindid),
                   ARRAY(SELECT x.indkey[k - 1] FROM pg_index x,
                         generate_series(1, coalesce(cardinality(con.conexclop), 0)) k
                         WHERE x.indexrelid = con.conindid ORDER BY k),
                   con.conparentid <> 0 AND parent.conrelid = con.conrelid
            FROM pg_constraint con
            LEFT JOIN pg_constraint parent ON parent.oid = con.conparentid
            WHERE con.conrelid <> 0 AND con.contype IN ('p', 'u', 'f', 'c', 'x')
            """
        )
        result: dict[int, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
        for row in rows:
            relation, name, kind, deferrable, valid, keys, referenced, referenced_keys = row[:8]
            on_delete, on_update, expression, _index, operators, elements = row[8:14]
            predicate, element_columns, derived = row[14:]
            if derived:
                # A foreign key into a partitioned table gets one clone per partition of the
                # referenced side, on the same referencing table: the one written is enough.
                continue
            columns_of = names.get(relation, {})
            key_names = [columns_of.get(k, str(k)) for k in keys or []]
            entry: dict[str, Any]
            if kind in ("p", "u"):
                entry = {"name": name, "columns": key_names, "deferrable": bool(deferrable)}
            elif kind == "f":
                referenced_names = names.get(referenced, {})
                entry = {
                    "name": name,
                    "columns": key_names,
                    "references": {
                        "table": self.relations.get(referenced, str(referenced)),
                        "columns": [referenced_names.get(k, str(k)) for k in referenced_keys],
                    },
                    "on_delete": _ACTIONS[on_delete],
                    "on_update": _ACTIONS[on_update],
                    "valid": bool(valid),
                    "deferrable": bool(deferrable),
                }
            elif kind == "c":
                entry = {"name": name, "expression": expression, "valid": bool(valid)}
            else:
                entry = {
                    "name": name,
                    "method": self._index_method(_index),
                    "elements": [
                        f"{_element(text, column)} WITH {operator}"
                        for text, column, operator in zip(
                            elements, element_columns, operators, strict=True
                        )
                    ],
                    "predicate": predicate,
                }
            result[relation][kind].append(entry)
        return result

    def _index_method(self, index: int) -> str:
        row = self.connection.execute(
            "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE c.oid = %s",
            (index,),
        ).fetchone()
        return str(row[0]) if row else ""

    def indexes(
        self, columns: dict[int, list[tuple[int, dict[str, Any]]]]
    ) -> dict[int, list[dict[str, Any]]]:
        names = _column_names(columns)
        rows = self.rows(
            f"""
            SELECT i.indrelid, ic.relname, i.indnkeyatts, i.indkey::int2[], i.indisunique,
                   am.amname, pg_get_expr(i.indpred, i.indrelid, true),
                   ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true)
                         FROM generate_series(1, i.indnkeyatts) k),
                   (SELECT con.conname FROM pg_constraint con
                    WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid
                      AND con.contype IN ('p', 'u', 'x'))
            FROM pg_index i
            JOIN pg_class ic ON ic.oid = i.indexrelid
            JOIN pg_am am ON am.oid = ic.relam
            JOIN pg_class c ON c.oid = i.indrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND {_USER_NAMESPACE}
            """
        )
        indexes: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for relation, name, key_count, attnums, unique, method, predicate, defs, constraint in rows:
            columns_of = names.get(relation, {})
            keys: list[dict[str, str]] = [
                {"column": columns_of.get(attnum, str(attnum))}
                if attnum
                else {"expression": definition}
                for attnum, definition in zip(attnums[:key_count], defs, strict=True)
            ]
            indexes[relation].append(
                {
                    "name": name,
                    "keys": keys,
                    "include": [columns_of.get(a, str(a)) for a in attnums[key_count:]],
                    "predicate": predicate,
                    "method": method,
                    "unique": bool(unique),
                    "constraint": constraint,
                }
            )
        return indexes

    def triggers(self) -> dict[int, list[dict[str, Any]]]:
        rows = self.rows(
            """
            SELECT t.tgrelid, t.tgname, t.tgtype, pn.nspname, p.proname
            FROM pg_trigger t
            JOIN pg_proc p ON p.oid = t.tgfoid
            JOIN pg_namespace pn ON pn.oid = p.pronamespace
            WHERE NOT t.tgisinternal
            """
        )
        triggers: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for relation, name, bits, function_schema, function in rows:
            timing = "before" if bits & _BEFORE else "after"
            if bits & _INSTEAD:
                timing = "instead of"
            events = [
                event
                for bit, event in (
                    (_INSERT, "insert"),
                    (_DELETE, "delete"),
                    (_UPDATE, "update"),
                    (_TRUNCATE, "truncate"),
                )
                if bits & bit
            ]
            triggers[relation].append(
                {
                    "name": name,
                    "timing": timing,
                    "events": events,
                    "level": "row" if bits & _ROW else "statement",
                    "function": f"{function_schema}.{function}",
                }
            )
        return triggers

    def policies(self) -> dict[int, list[dict[str, Any]]]:
        rows = self.rows(
            """
            SELECT pol.polrelid, pol.polname, pol.polcmd, pol.polpermissive,
                   ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r) END
                         FROM unnest(pol.polroles) r),
                   pg_get_expr(pol.polqual, pol.polrelid),
                   pg_get_expr(pol.polwithcheck, pol.polrelid)
            FROM pg_policy pol
            """
        )
        policies: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for relation, name, command, permissive, roles, using, with_check in rows:
            policies[relation].append(
                {
                    "name": name,
                    "command": _COMMANDS[command],
                    "roles": sorted(roles),
                    "permissive": bool(permissive),
                    "using": using,
                    "with_check": with_check,
                }
            )
        return policies


def _column_names(
    columns: dict[int, list[tuple[int, dict[str, Any]]]],
) -> dict[int, dict[int, str]]:
    return {
        relation: {number: column["name"] for number, column in entries}
        for relation, entries in columns.items()
    }


def _by_name(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: str(item["name"]))


def _element(text: str, column: int) -> str:
    """An exclusion element's column or expression: an expression in parentheses, as
    CREATE TABLE ... EXCLUDE writes it."""
    if column or text.startswith("("):
        return text
    return f"({text})"


def _reloption_true(options: list[str] | None, name: str) -> bool:
    for option in options or []:
        key, _, value = option.partition("=")
        if key == name:
            return value.lower() in ("true", "on", "yes", "1", "t", "y")
    return False


def _setting(config: list[str] | None, name: str) -> str | None:
    """A `SET name = value` clause of a function, as proconfig stores it (`name=value`)."""
    for entry in config or []:
        key, _, value = entry.partition("=")
        if key == name:
            return value
    return None


# -- the baseline ---------------------------------------------------------------------------


def _key(kind: str, item: dict[str, Any]) -> tuple[Any, ...]:
    if kind in ("schemas", "extensions"):
        return (item["name"],)
    if kind == "functions":
        return (item["schema"], item["name"], tuple(item["arguments"]))
    return (item["schema"], item["name"])


def without_baseline(document: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """`document` without what `baseline` already held: an object unchanged since is left
    out; a table the migrations changed stays as `external: true` with only what they
    added or changed (columns, constraints, indexes, triggers, policies)."""
    result = dict(document)
    for kind in ("schemas", "extensions", "types", "sequences", "views", "functions", "tables"):
        before = {_key(kind, item): item for item in baseline.get(kind, [])}
        kept = []
        for item in document.get(kind, []):
            old = before.get(_key(kind, item))
            if old is None:
                kept.append(item)
            elif kind == "tables":
                external = _external_table(item, old)
                if external is not None:
                    kept.append(external)
            elif item != old:
                kept.append(item)  # redefined by the migrations (CREATE OR REPLACE ...)
        result[kind] = kept
    return result


def _external_table(table: dict[str, Any], old: dict[str, Any]) -> dict[str, Any] | None:
    entry = dict(table, external=True)
    changed = table["row_level_security"] != old["row_level_security"]
    for key in _TABLE_LISTS:
        entry[key] = [item for item in table[key] if item not in old[key]]
        changed = changed or bool(entry[key])
    if table["primary_key"] == old["primary_key"]:
        entry["primary_key"] = None
    else:
        changed = True
    return entry if changed else None
