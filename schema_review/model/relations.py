"""Facts that relate objects across the final schema: a foreign key and the table it
references, the tables a delete cascades into, the key types the tables agree on.

Rules reach them through `SchemaModel` methods; each takes the model's tables as they
are after the replay.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from schema_review.model.objects import (
    TYPE_DISPLAY,
    Column,
    Constraint,
    Function,
    Policy,
    Table,
    Trigger,
    TypeName,
    View,
)
from schema_review.parse import Expression, walk_dicts

Json = dict[str, Any]

Tables = Mapping[tuple[str, str], Table]


def find_table(tables: Tables, qualified: str | None) -> Table | None:
    if not qualified:
        return None
    schema, _, name = qualified.rpartition(".")
    return tables.get((schema or "public", name))


# One name per type: a serial column is an integer column with a sequence behind it, and
# some types reach the model under the name they were written with.
_CANONICAL_TYPE = {
    "serial": "int4",
    "serial4": "int4",
    "bigserial": "int8",
    "serial8": "int8",
    "smallserial": "int2",
    "serial2": "int2",
    # names the replay may keep as written
    "integer": "int4",
    "int": "int4",
    "bigint": "int8",
    "smallint": "int2",
    "character varying": "varchar",
    "boolean": "bool",
}


def _comparable(type_name: TypeName) -> tuple[str, tuple[str, ...], bool]:
    base = _CANONICAL_TYPE.get(type_name.name, type_name.name)
    modifiers = type_name.modifiers
    if base in ("varchar", "text") and not modifiers:
        base = "text"  # an unbounded varchar and text hold the same values
    return base, modifiers, type_name.array


def fk_type_mismatches(tables: Tables, fk: Constraint) -> list[str]:
    """`user_id integer, users.id bigint` for each column pair whose types differ."""
    parent = find_table(tables, fk.ref_table)
    if parent is None or len(fk.columns) != len(fk.ref_columns):
        return []
    found = []
    for name, ref_name in zip(fk.columns, fk.ref_columns, strict=True):
        column = fk.table.columns.get(name)
        referenced = parent.columns.get(ref_name)
        if column is None or referenced is None:
            continue
        if _comparable(column.type) != _comparable(referenced.type):
            found.append(f"{name} {column.type}, {parent.name}.{ref_name} {referenced.type}")
    return found


def referencing(tables: Tables) -> dict[str, list[Constraint]]:
    """Live foreign keys by the qualified name of the table they reference."""
    found: dict[str, list[Constraint]] = {}
    for table in tables.values():
        if table.external:
            continue
        for fk in table.foreign_keys:
            ref = find_table(tables, fk.ref_table)
            key = ref.qualified_name if ref is not None else str(fk.ref_table)
            found.setdefault(key, []).append(fk)
    return found


def cascade_blockers(
    tables: Tables, fk: Constraint, by_parent: Mapping[str, list[Constraint]]
) -> list[Constraint]:
    """Foreign keys that make a delete of `fk`'s parent fail although `fk` cascades.

    Deleting a parent row deletes its child rows (ON DELETE CASCADE); a row of a third table
    that references one of those children through a NO ACTION or RESTRICT foreign key stops
    the whole delete, unless the same delete removes that row too. This reasons about rows,
    not tables: a third table that the parent's delete also cascades into still blocks, since
    only its rows of the same parent go (another user's usage of this user's tool stays and
    blocks). Its rows are known to go only when the key that references the child carries the
    parent's key and the third table cascades from the parent on it (a composite key
    `(tenant_id, action_id)` next to a cascade on `tenant_id`). Self-references are left
    out: a tree of rows usually lives under one parent. `by_parent` is
    `referencing(tables)`, computed once for all foreign keys.
    """
    if fk.on_delete != "CASCADE":
        return []
    parent = find_table(tables, fk.ref_table)
    if parent is None:
        return []
    return [
        other
        for other in by_parent.get(fk.table.qualified_name, ())
        if other.on_delete in ("NO ACTION", "RESTRICT")
        and other.table is not fk.table
        and not _deleted_along(tables, other, fk, parent, by_parent)
    ]


def _deleted_along(
    tables: Tables,
    blocker: Constraint,
    fk: Constraint,
    parent: Table,
    by_parent: Mapping[str, list[Constraint]],
) -> bool:
    """Whether every row of `blocker`'s table that references a child row `fk`'s cascade
    deletes is deleted by the same delete of the parent: the table cascades from the parent
    on the columns through which `blocker` carries the child's reference to the parent."""
    child_to_parent = dict(zip(fk.columns, referenced_columns(tables, fk), strict=False))
    # blocker column -> the child column it matches
    to_child = dict(zip(blocker.columns, referenced_columns(tables, blocker), strict=False))
    # blocker column -> the parent column the child's key carries it to
    carried = {
        column: child_to_parent[child]
        for column, child in to_child.items()
        if child in child_to_parent
    }
    if len(carried) != len(child_to_parent):
        return False  # the reference to the child does not carry the parent's whole key
    for own in by_parent.get(parent.qualified_name, ()):
        if own.table is not blocker.table or own.on_delete != "CASCADE":
            continue
        pairs = dict(zip(own.columns, referenced_columns(tables, own), strict=False))
        if pairs == carried:
            return True
    return False


def referenced_columns(tables: Tables, fk: Constraint) -> list[str]:
    """The referenced columns of a foreign key (REFERENCES t alone: t's primary key)."""
    if fk.ref_columns:
        return list(fk.ref_columns)
    parent = find_table(tables, fk.ref_table)
    key = parent.primary_key if parent is not None else None
    return list(key.columns) if key is not None else []


def referencing_columns(
    tables: Tables, column: Column, by_parent: Mapping[str, list[Constraint]]
) -> list[Column]:
    """Columns of live foreign keys that reference `column` (their types must follow it)."""
    found: list[Column] = []
    for fk in by_parent.get(column.table.qualified_name, ()):
        for name, referenced in zip(fk.columns, referenced_columns(tables, fk), strict=False):
            own = fk.table.columns.get(name) if isinstance(name, str) else None
            if referenced == column.name and own is not None and own not in found:
                found.append(own)
    return found


def primary_key_type(table: Table) -> str | None:
    """The type of a single-column primary key, in the family it belongs to."""
    key = table.primary_key
    if key is None or len(key.columns) != 1:
        return None
    column = table.columns.get(key.columns[0])
    if column is None:
        return None
    base = _CANONICAL_TYPE.get(column.type.name, column.type.name)
    return TYPE_DISPLAY.get(base, str(column.type))


def primary_key_majority(tables: Tables, types: Sequence[str]) -> tuple[str, int, int]:
    """(the most common single-column primary key type among `types`, tables using it, tables
    keyed by one of `types`)."""
    counted = Counter(
        t
        for t in (
            primary_key_type(table)
            for table in tables.values()
            if not table.external and not table.partition_of
        )
        if t is not None and t in types
    )
    if not counted:
        return "", 0, 0
    (common, count), *_ = sorted(counted.items(), key=lambda item: (-item[1], item[0]))
    return common, count, sum(counted.values())


# The integer key types by width: a key wider than the usual one is never the odd one out.
_INTEGER_WIDTH = {"smallint": 2, "integer": 4, "bigint": 8}


def primary_key_census(tables: Tables) -> tuple[str, int, int]:
    """(the most common type of single-column primary keys, tables keyed by it, tables keyed
    by one column of any type: text and varchar keys count too)."""
    counted = Counter(
        t
        for t in (
            primary_key_type(table)
            for table in tables.values()
            if not table.external and not table.partition_of
        )
        if t is not None
    )
    if not counted:
        return "", 0, 0
    (common, count), *_ = sorted(counted.items(), key=lambda item: (-item[1], item[0]))
    return common, count, sum(counted.values())


def odd_primary_key(table: Table, types: Sequence[str], census: tuple[str, int, int]) -> bool:
    """Whether the table's single-column key is of another of `types` than the one that keys
    at least three quarters of at least four tables, and not a wider integer than it."""
    usual, count, total = census
    mine = primary_key_type(table)
    if mine is None or mine == usual or mine not in types or usual not in types:
        return False
    if total < 4 or count * 4 < total * 3:
        return False
    if mine in _INTEGER_WIDTH and usual in _INTEGER_WIDTH:
        return _INTEGER_WIDTH[mine] < _INTEGER_WIDTH[usual]
    return True


def correlated_subqueries(tables: Tables, policy: Policy) -> list[str]:
    """Subqueries of a policy that read the row being checked (a column of the policy's
    table): they run again for every row. Uncorrelated ones (`org_id IN (SELECT ...)`) run
    once and are the recommended shape."""
    table = policy.table
    found: list[str] = []
    for expression in policy.expressions:
        for item in walk_dicts(expression.node):
            link = item.get("SubLink")
            if link is None:
                continue
            select = link.get("subselect", {}).get("SelectStmt", {})
            inner = _from_columns(tables, select.get("fromClause", ()))
            if inner is None:
                continue  # an unknown table inside: cannot tell, say nothing
            names, columns = inner
            for ref in walk_dicts(select.get("whereClause")):
                fields = [
                    f.get("String", {}).get("sval")
                    for f in ref.get("ColumnRef", {}).get("fields", ())
                ]
                if not fields or None in fields:
                    continue
                if len(fields) >= 2 and fields[-2] == table.name and table.name not in names:
                    correlated = True
                else:
                    correlated = (
                        len(fields) == 1 and fields[0] in table.columns and fields[0] not in columns
                    )
                if correlated:
                    subquery = Expression(expression.statement_text, expression.offset, item)
                    found.append(subquery.sql)
                    break
            if found:
                break
    return found


def _from_columns(tables: Tables, from_clause: Sequence[Json]) -> tuple[set[str], set[str]] | None:
    """(names and aliases, columns) of the tables a FROM clause reads; None if one is unknown."""
    names: set[str] = set()
    columns: set[str] = set()
    for item in walk_dicts(list(from_clause)):
        rel = item.get("RangeVar")
        if rel is None:
            continue
        table = _range_var_table(tables, rel, "public")
        if table is None:
            return None
        # An alias hides the table's own name: `team_members.x` then means the outer row.
        alias = rel.get("alias", {}).get("aliasname")
        names.add(alias or rel.get("relname", ""))
        columns.update(table.columns)
    return (names, columns) if names else None


def _range_var_table(tables: Tables, rel: Json, default_schema: str) -> Table | None:
    """The table a RangeVar of an expression names (unqualified: in `default_schema`)."""
    return tables.get((rel.get("schemaname") or default_schema, rel.get("relname", "")))


def view_rls_tables(tables: Tables, view: View) -> list[str]:
    """Tables with row level security that a view reads."""
    return [
        t.qualified_name
        for t in (find_table(tables, name) for name in view.reads)
        if t is not None and t.rls_enabled
    ]


Functions = Mapping[tuple[str, str, str], Function]


def trigger_function(functions: Functions, trigger: Trigger) -> Function | None:
    """The function a trigger runs, if the files created it."""
    schema, _, name = trigger.function.rpartition(".")
    candidates = [f for key, f in functions.items() if key[1] == name and key[2] == ""]
    if schema:
        candidates = [f for f in candidates if f.schema == schema]
    return candidates[0] if candidates else None


def parent_row_updates(functions: Functions, trigger: Trigger) -> list[str]:
    """`posts via new.post_id`: a row trigger on insert that updates a row picked by a
    column of the new row that many rows share (a parent's id, a user id): every insert of
    those rows writes the same row (a counter, a last_activity_at)."""
    if not trigger.for_each_row or "insert" not in trigger.events:
        return []
    function = trigger_function(functions, trigger)
    if function is None:
        return []
    table = trigger.table
    # Columns that identify the new row itself: an update keyed on them touches a row per
    # inserted row (a 1:1 companion table), not a shared one.
    own_keys = [
        {c.lower() for c in constraint.columns}
        for constraint in table.constraints.values()
        if constraint.type in ("primary_key", "unique")
    ]
    found = []
    for update in function.body_facts.updates:
        if update.table.rpartition(".")[2] == table.name.lower():
            continue
        columns = {ref.partition(".")[2] for ref in update.where_refs_new if ref.startswith("new.")}
        if columns and not any(key <= columns for key in own_keys):
            found.append(f"{update.table} via {', '.join(sorted('new.' + c for c in columns))}")
    return found


def maintained_columns(tables: Tables, functions: Functions) -> set[tuple[str, str]]:
    """(table, column) pairs a BEFORE UPDATE row trigger sets (NEW.updated_at := now())."""
    found: set[tuple[str, str]] = set()
    for table in tables.values():
        for trigger in table.triggers.values():
            if trigger.timing != "before" or "update" not in trigger.events:
                continue
            if trigger.function.rpartition(".")[2] == "moddatetime":
                found.update((table.qualified_name, c.lower()) for c in table.columns)
                continue
            function = trigger_function(functions, trigger)
            if function is not None:
                found.update(
                    (table.qualified_name, c) for c in function.body_facts.sets_new_columns
                )
    return found


def policy_recursion(tables: Tables, policy: Policy) -> list[str]:
    """The tables through which a policy's own table is read again, as a cycle
    (`public.a -> public.b -> public.a`), or [] when there is none.

    A SELECT (or FOR ALL) policy that reads a table with row level security has that
    table's policies applied too; a path of such reads back to the first table makes
    PostgreSQL stop with "infinite recursion detected in policy".
    """
    start = policy.table
    if not start.rls_enabled or policy.command not in ("select", "all"):
        return []

    def read_by(item: Policy) -> list[Table]:
        found = []
        for expression in item.expressions:
            for node in walk_dicts(expression.node):
                rel = node.get("RangeVar")
                if rel is None:
                    continue
                table = _range_var_table(tables, rel, item.table.schema)
                if table is not None and table.rls_enabled and table not in found:
                    found.append(table)
        return found

    def policies_of(table: Table) -> list[Policy]:
        return [p for p in table.policies.values() if p.command in ("select", "all")]

    paths = [[start, table] for table in read_by(policy)]
    seen: set[tuple[str, str]] = set()
    while paths:
        path = paths.pop(0)
        last = path[-1]
        if last is start:
            return [t.qualified_name for t in path]
        key = (last.schema, last.name)
        if key in seen:
            continue
        seen.add(key)
        for item in policies_of(last):
            paths.extend([*path, table] for table in read_by(item))
    return []
