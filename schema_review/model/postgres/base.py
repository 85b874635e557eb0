"""What every part of the PostgreSQL front end uses: statement dispatch, libpg_query's names
(RangeVar, TypeName) resolved against the model, and small readers of its JSON."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from schema_review.model.changes import (
    builtin_type,
    enum_values_alterable,
)
from schema_review.model.guards import GuardEvaluator
from schema_review.model.objects import (
    TYPE_DISPLAY,
    Function,
    Table,
    TypeName,
)
from schema_review.model.operations import (
    TEMPORARY_SCHEMA,
    SchemaOperations,
)
from schema_review.parse import (
    Statement,
    node_name,
    walk_dicts,
)
from schema_review.profile import Profile

Json = dict[str, Any]


class PostgresBase(SchemaOperations):
    """The front end's shared part; the statement groups build on it."""

    def __init__(self, profile: Profile) -> None:
        super().__init__(profile)
        self.guards = GuardEvaluator(self.model)
        # What DDL each function (its defining statement, by id) runs: a migration that
        # calls one function many times parses its body once (see BlockStatements.called).
        self.function_ddl: dict[int, tuple[Statement, str]] = {}
        self.time_zones: dict[int, str] = {}  # id(file) -> the time zone it SETs
        # One TypeName for each type written (never changed once made): a long history's
        # columns share a few types.
        self.type_names: dict[tuple[str, str | None, tuple[str, ...], bool], TypeName] = {}
        # The same, by the names as written, for types without modifiers or array bounds (most
        # columns: integer, text, uuid): `type_name` reads nothing else of those.
        self.plain_type_names: dict[str | tuple[str, str], TypeName] = {}
        # The extensions installed (as `model.extensions` lists them) and the hints of the
        # others' objects: see may_miss_extension.
        self.hints_for: tuple[tuple[str, ...] | None, tuple[str, ...]] = (None, ())
        # And by the names and integer modifiers for the others (varchar(255), text[]).
        self.sized_type_names: dict[
            tuple[str | tuple[str, str], tuple[int, ...], bool], TypeName
        ] = {}
        self.handlers: dict[str, Callable[[Statement], None]] = {
            name[4:]: getattr(self, name) for name in dir(self) if name.startswith("_on_")
        }

    def session_time_zone(self, statement: Statement) -> str:
        """The TimeZone of the session running the statement when known ('UTC' for every UTC
        spelling): the one its file SET, else the runner's (diesel sets UTC on connecting);
        '' when the server's configuration decides (RESET TIME ZONE goes back to it)."""
        zone = self.time_zones.get(id(statement.source))
        if zone is None:
            return "UTC" if self.profile.runner in UTC_RUNNERS else ""
        return zone

    # The groups call each other through these; each is defined in the module named.
    def define_view(  # definitions.py
        self,
        statement: Statement,
        schema: str,
        name: str,
        replace: bool,
        materialized: bool,
        security_invoker: bool,
        if_not_exists: bool = False,
    ) -> None:
        raise NotImplementedError

    def alter_view(self, statement: Statement) -> None:  # definitions.py
        raise NotImplementedError

    def create_table_as(  # tables.py
        self, statement: Statement, into: Json, query: Json | None, if_not_exists: bool = False
    ) -> None:
        raise NotImplementedError

    def called(self, outer: Statement, offset: int, name: str) -> None:  # blocks.py
        raise NotImplementedError

    # -- driving -------------------------------------------------------------------
    def apply(self, statement: Statement, inner: bool = False) -> None:
        """Replay one statement (`inner`: one a DO block runs, not a statement of the file)."""
        if statement.source is not self.current_file:
            self.start_file(statement.source)
        if self.new_enum_values and statement.kind != "AlterEnumStmt":
            self.check_new_enum_values(statement)
        if not inner:
            self.model.statements.append(statement)
            self.file_statements.append(statement)
        handler = self.handlers.get(statement.kind)
        if handler is None:
            self.model.opaque.append(statement)
            return
        first = len(self.model.changes)
        try:
            handler(statement)
            if (
                statement.kind in USES_EXTENSIONS
                and len(self.model.changes) > first
                and self.may_miss_extension(statement)
            ):
                missing = self.missing_extension(statement)
                if missing:
                    self.model.changes[first].missing_extension = missing
        except Exception as error:  # keep replaying: record, never crash
            self.model.internal_errors.append((statement, f"{type(error).__name__}: {error}"))

    def may_miss_extension(self, statement: Statement) -> bool:
        """Whether the statement's text names an object of an extension that is neither
        installed nor preinstalled: the quick test before `missing_extension` walks its
        tree. Only the hints of such extensions are looked for (once pgcrypto is installed,
        `crypt` or `digest` in a text can name nothing missing): each hint is a search of
        the text, and most statements of a long history come after its CREATE EXTENSIONs.
        Most indexes and ALTER TABLEs hold no such name at all: their texts go unsearched."""
        if not can_name_objects(statement.kind, statement.node):
            return False
        installed = tuple(self.model.extensions)
        if installed != self.hints_for[0]:
            self.hints_for = (installed, self.hints_of_missing(installed))
        hints = self.hints_for[1]
        return bool(hints) and mentions_extension_object(statement.text, hints)

    def hints_of_missing(self, installed: tuple[str, ...]) -> tuple[str, ...]:
        """The hints (`_EXTENSION_HINTS`) that are part of a name of an extension that is not
        installed (`installed`) nor preinstalled."""
        preinstalled = self.profile.preinstalled_extensions
        missing = [
            name
            for name, extension in EXTENSION_OBJECTS.items()
            if extension not in installed and extension not in preinstalled
        ]
        return tuple(hint for hint in _EXTENSION_HINTS if any(hint in name for name in missing))

    def missing_extension(self, statement: Statement) -> str:
        """`extension (what needs it)` for a type, function or operator class of an extension
        that no CREATE EXTENSION before this statement installed, or ''."""
        installed = self.model.extensions
        preinstalled = self.profile.preinstalled_extensions
        for name, qualified in extension_names(statement.node):
            extension = EXTENSION_OBJECTS.get(name)
            if extension is None or qualified:
                continue  # schema-qualified: installed in that schema, outside the files
            if name == "gen_random_uuid" and self.profile.pg_version >= 13:
                continue  # core since PostgreSQL 13
            if extension not in installed and extension not in preinstalled:
                return f"{extension} ({name})"
        return ""

    def range_var(self, rel: Json) -> tuple[str, str]:
        return self.schema_of(rel.get("schemaname")), rel.get("relname", "")

    def find_table(self, rel: Json) -> Table | None:
        schema = rel.get("schemaname")
        name = rel.get("relname", "")
        if self.is_temporary(schema, name):
            return None
        if schema:
            return self.model.tables.get((schema, name))
        return self.model.tables.get((self.search_path, name)) or self.model.tables.get(
            ("public", name)
        )

    def table_for_alter(self, rel: Json, statement: Statement) -> Table:
        """The table an ALTER names; one never seen created is recorded as external (a
        temporary table is a throwaway one, outside the model)."""
        table = self.find_table(rel)
        if table is None and self.is_temporary(rel.get("schemaname"), rel.get("relname", "")):
            return Table(rel.get("relname", ""), schema=TEMPORARY_SCHEMA, external=True)
        if table is None:
            schema, name = self.range_var(rel)
            table = Table(name, schema=schema, external=True)
            table.record("referenced", statement, "created outside the replayed files")
            self.model.tables[(schema, name)] = table
        return table

    # -- types and expressions -----------------------------------------------------
    def type_name(self, node: Json | None) -> TypeName:
        if not node:
            return TypeName("unknown")
        written = node.get("names")
        plain: str | tuple[str, str] | None = None
        sized: tuple[str | tuple[str, str], tuple[int, ...], bool] | None = None
        if written and len(written) <= 2:
            try:
                if len(written) == 2:
                    plain = (written[0]["String"]["sval"], written[1]["String"]["sval"])
                else:
                    plain = written[0]["String"]["sval"]
            except KeyError:  # `*`, or a name without its string: the general way
                plain = None
            else:
                if "typmods" in node or "arrayBounds" in node:
                    # varchar(255), numeric(10, 2), text[]: by the numbers too, when the
                    # modifiers are integers (as good as always).
                    sized = _sized_key(plain, node)
                    plain = None
                    known = self.sized_type_names.get(sized) if sized is not None else None
                else:
                    known = self.plain_type_names.get(plain)
                if known is not None:
                    return known
        found = self._type_name(node)
        if plain is not None:
            self.plain_type_names[plain] = found
        elif sized is not None:
            self.sized_type_names[sized] = found
        return found

    def _type_name(self, node: Json) -> TypeName:
        names = node_name(node.get("names"))
        schema: str | None = None
        if len(names) >= 2:
            schema, name = names[-2], names[-1]
            if schema == "pg_catalog":
                schema = None
        else:
            name = names[-1] if names else "unknown"
        name = TYPE_DISPLAY.get(name, name)
        typmods = node.get("typmods")
        modifiers: tuple[str, ...] = ()
        if typmods:
            texts = (const_text(m) for m in typmods)
            modifiers = tuple(t for t in texts if t is not None)
        if name == "interval":
            modifiers = ()  # interval's typmods encode fields, not a length
        key = (name, schema, modifiers, bool(node.get("arrayBounds")))
        found = self.type_names.get(key)
        if found is None:
            found = self.type_names[key] = TypeName(*key)
        return found

    def cast_key(self, name: TypeName) -> str | None:
        """The type as `assignment_castable` knows it: a built-in's name, `enum:...` for an
        enum the files created; None for other types (domains, extensions' types)."""
        builtin = builtin_type(name)
        if builtin is not None:
            return builtin
        schema = name.schema or self.search_path
        found = self.model.types.get((schema, name.name)) or self.model.types.get(
            ("public", name.name)
        )
        if found is None or found.variety != "enum":
            return None
        return f"enum:{found.qualified_name}" + ("[]" if name.array else "")

    def enum_alterable(self, old: TypeName | None, new: TypeName) -> bool:
        """Whether ALTER TYPE ... ADD VALUE and RENAME VALUE could make the new enum of a swap
        out of the old one (the values of both known)."""
        found = []
        for name in (old, new):
            key = self.cast_key(name) if name is not None else None
            enum = next(
                (t for t in self.model.types.values() if key == f"enum:{t.qualified_name}"), None
            )
            if enum is None or enum.variety != "enum":
                return False
            found.append(enum.values)
        return enum_values_alterable(found[0], found[1])

    def default_type(self, node: Json, old_type: TypeName, enum_swap: bool) -> str | None:
        """The type of a column's stored default, once PostgreSQL strips the implicit cast to
        the column's type: what a literal was read as when the default was set (an untyped
        string: the column's type; an integer: integer), a cast's type, a known function's
        result. None when it cannot be told."""
        old_key = self.cast_key(old_type)
        if old_key is not None and enum_swap:
            old_key += " (before the swap)"  # the renamed enum: another type than the new
        if "TypeCast" in node:
            cast = node["TypeCast"]
            key = self.cast_key(self.type_name(cast.get("typeName")))
            if key is not None and enum_swap and old_key and old_key.startswith(key):
                return old_key  # written before the swap: the old enum
            return key
        if "A_Const" in node:
            constant = node["A_Const"]
            if "sval" in constant:
                return old_key
            if "ival" in constant:
                return "int4"
            if "fval" in constant:
                text = str(constant["fval"].get("fval", ""))
                return "int8" if text.isdigit() and int(text) < 2**63 else "numeric"
            if "boolval" in constant:
                return "bool"
            return None  # NULL: no default is stored
        if "FuncCall" in node:
            names = node_name(node["FuncCall"].get("funcname"))
            return FUNCTION_TYPES.get(names[-1]) if names else None
        if "SQLValueFunction" in node:
            op = str(node["SQLValueFunction"].get("op", ""))
            return next((t for prefix, t in SQL_VALUE_TYPES if op.startswith(prefix)), None)
        return None

    def functions_named(self, with_args: Json) -> list[Function]:
        """The functions an ObjectWithArgs names: the one of that signature when argument
        types are given (`f(int, text)`, `f()`), every overload of the name otherwise."""
        schema, name = self.split_name(node_name(with_args.get("objname")))
        found = [
            f
            for (s, n, _), f in self.model.functions.items()
            if n == name
            and (s == schema or (len(with_args.get("objname", ())) < 2 and s == "public"))
        ]
        if with_args.get("args_unspecified"):
            return found
        arguments = ", ".join(
            str(self.type_name(t.get("TypeName"))) for t in with_args.get("objargs", ())
        )
        return [f for f in found if f.arguments == arguments]


def _sized_key(
    plain: str | tuple[str, str], node: Json
) -> tuple[str | tuple[str, str], tuple[int, ...], bool] | None:
    """What a TypeName with modifiers or array bounds depends on: its names, its modifiers
    when each is an integer constant (None otherwise: the general way), whether it is an
    array."""
    numbers: list[int] = []
    for modifier in node.get("typmods", ()):
        constant = modifier.get("A_Const")
        value = constant.get("ival") if constant is not None else None
        number = value.get("ival", 0) if type(value) is dict else None
        if type(number) is not int:
            return None
        numbers.append(number)
    return plain, tuple(numbers), bool(node.get("arrayBounds"))


TABLE_CONSTRAINTS = {
    "CONSTR_PRIMARY": "primary_key",
    "CONSTR_UNIQUE": "unique",
    "CONSTR_CHECK": "check",
    "CONSTR_FOREIGN": "foreign_key",
    "CONSTR_EXCLUSION": "exclude",
}


def const_text(node: Json | None) -> str | None:
    """The text of an A_Const (or a bare String/Integer) node."""
    if not node:
        return None
    const = node.get("A_Const", node)
    for key, inner in (
        ("ival", "ival"),
        ("sval", "sval"),
        ("fval", "fval"),
        ("boolval", "boolval"),
    ):
        if key in const:
            value = const[key]
            if isinstance(value, dict):
                return str(value.get(inner, 0 if key == "ival" else ""))
            return str(value)
    if "String" in node:
        return str(node["String"].get("sval", ""))
    if "Integer" in node:
        return str(node["Integer"].get("ival", 0))
    if "TypeCast" in node:
        return const_text(node["TypeCast"].get("arg"))
    if const.get("isnull"):
        return "NULL"
    return None


def schema_list(values: list[str]) -> list[str]:
    """The schemas of a search_path setting: `'app, public'`, `"$user"`, `'"My Schema"'`."""
    schemas: list[str] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if part.startswith('"') and part.endswith('"') and len(part) >= 2:
                schemas.append(part[1:-1].replace('""', '"'))
            elif part:
                schemas.append(part.lower())
    return schemas


def object_names(item: Json) -> list[str]:
    if "List" in item:
        return node_name(item["List"].get("items"))
    if "String" in item:
        return [item["String"].get("sval", "")]
    if "TypeName" in item:
        return node_name(item["TypeName"].get("names"))
    if "ObjectWithArgs" in item:
        return node_name(item["ObjectWithArgs"].get("objname"))
    return []


def option_on(arg: Json | None) -> bool:
    """A boolean option's value (`WITH (security_invoker)` alone means true)."""
    value = const_text(arg) if arg else "true"
    return str(value).lower() in ("true", "on", "1", "yes")


def role_name(node: Json) -> str:
    role = node.get("RoleSpec", {})
    if role.get("rolename"):
        return str(role["rolename"])
    return str(role.get("roletype", "")).removeprefix("ROLESPEC_").lower()


def same_type(a: TypeName, b: TypeName) -> bool:
    return (a.name, a.schema, a.modifiers, a.array) == (b.name, b.schema, b.modifiers, b.array)


# The result types of functions defaults call (their last name).
FUNCTION_TYPES = {
    "now": "timestamptz",
    "transaction_timestamp": "timestamptz",
    "statement_timestamp": "timestamptz",
    "clock_timestamp": "timestamptz",
    "gen_random_uuid": "uuid",
    "uuidv4": "uuid",
    "uuidv7": "uuid",
    "uuid_generate_v1": "uuid",
    "uuid_generate_v1mc": "uuid",
    "uuid_generate_v4": "uuid",
    "nextval": "int8",
    "currval": "int8",
    "random": "float8",
    "timeofday": "text",
    "md5": "text",
    "lower": "text",
    "upper": "text",
    "concat": "text",
    "to_jsonb": "jsonb",
    "jsonb_build_object": "jsonb",
    "jsonb_build_array": "jsonb",
    "json_build_object": "json",
    "json_build_array": "json",
    "gen_random_bytes": "bytea",
}


# SQLValueFunction operations (CURRENT_TIMESTAMP ...) by prefix -> their types.
SQL_VALUE_TYPES = (
    ("SVFOP_CURRENT_DATE", "date"),
    ("SVFOP_CURRENT_TIMESTAMP", "timestamptz"),
    ("SVFOP_CURRENT_TIME", "timetz"),
    ("SVFOP_LOCALTIMESTAMP", "timestamp"),
    ("SVFOP_LOCALTIME", "time"),
    ("SVFOP_CURRENT_ROLE", "name"),
    ("SVFOP_CURRENT_USER", "name"),
    ("SVFOP_SESSION_USER", "name"),
    ("SVFOP_USER", "name"),
    ("SVFOP_CURRENT_CATALOG", "name"),
    ("SVFOP_CURRENT_SCHEMA", "name"),
)


# Time zone names whose offset is always zero.
# Runners whose connection sets the session's TimeZone to UTC before running migrations
# (diesel's PgConnection::establish: SET TIME ZONE 'UTC').
UTC_RUNNERS = frozenset({"diesel"})
UTC_ZONES = frozenset({"UTC", "ETC/UTC", "UCT", "ETC/UCT", "GMT", "ETC/GMT", "Z", "ZULU", "0"})


def cast_type_names(node: Any) -> set[str]:
    """The type names an expression casts to (`'new'::status` -> {'status'})."""
    found: set[str] = set()
    for item in walk_dicts(node):
        cast = item.get("TypeCast")
        if cast is not None:
            names = node_name(cast.get("typeName", {}).get("names"))
            if names:
                found.add(TYPE_DISPLAY.get(names[-1], names[-1]))
    return found


USES_EXTENSIONS = frozenset({"CreateStmt", "AlterTableStmt", "IndexStmt", "ViewStmt"})


# Types, functions and operator classes of common extensions -> the extension.
EXTENSION_OBJECTS = {
    "citext": "citext",
    "hstore": "hstore",
    "ltree": "ltree",
    "lquery": "ltree",
    "geometry": "postgis",
    "geography": "postgis",
    "vector": "vector",
    "halfvec": "vector",
    "cube": "cube",
    "uuid_generate_v1": "uuid-ossp",
    "uuid_generate_v1mc": "uuid-ossp",
    "uuid_generate_v3": "uuid-ossp",
    "uuid_generate_v4": "uuid-ossp",
    "uuid_generate_v5": "uuid-ossp",
    "uuid_nil": "uuid-ossp",
    "gen_random_uuid": "pgcrypto",
    "gen_random_bytes": "pgcrypto",
    "crypt": "pgcrypto",
    "gen_salt": "pgcrypto",
    "digest": "pgcrypto",
    "hmac": "pgcrypto",
    "pgp_sym_encrypt": "pgcrypto",
    "pgp_sym_decrypt": "pgcrypto",
    "gin_trgm_ops": "pg_trgm",
    "gist_trgm_ops": "pg_trgm",
    "similarity": "pg_trgm",
    "word_similarity": "pg_trgm",
    "unaccent": "unaccent",
    "earth_distance": "earthdistance",
    "ll_to_earth": "earthdistance",
}


WORD = re.compile(r"[a-z_][a-z0-9_]*")

# A part of each name of EXTENSION_OBJECTS: a text that holds none of them names none. As
# long as can be: a statement holding one has its words looked up, and a short part (`uuid`,
# the type every other table uses) sent most statements there.
_EXTENSION_HINTS = (
    "uuid_generate_v",
    "uuid_nil",
    "gen_random_",
    "gen_salt",
    "crypt",
    "digest",
    "hmac",
    "pgp_sym_",
    "_trgm_ops",
    "similarity",
    "unaccent",
    "earth",
    "citext",
    "hstore",
    "ltree",
    "lquery",
    "geometry",
    "geography",
    "vector",
    "halfvec",
    "cube",
)


def mentions_extension_object(text: str, hints: tuple[str, ...] = _EXTENSION_HINTS) -> bool:
    """A quick test before walking a statement's tree: a few substring searches (C passes
    over the text) rule most statements out; the words of the others are looked up."""
    lowered = text.lower()
    for hint in hints:
        if hint in lowered:
            return not EXTENSION_OBJECTS.keys().isdisjoint(WORD.findall(lowered))
    return False


# Constraints of column names only (and a referenced table): no type, function or operator
# class. Their WITH options are left out: a DefElem's value may be a type name.
_NAMELESS_CONSTRAINTS = frozenset({"CONSTR_PRIMARY", "CONSTR_UNIQUE", "CONSTR_FOREIGN"})


def can_name_objects(kind: str, node: Json) -> bool:
    """Whether a statement's tree can hold a name `extension_names` yields (a type, a function
    call, an operator class). Not an index of plain columns without WHERE or options, nor an
    ALTER TABLE whose commands each drop something, take a key or a foreign key, or change a
    flag (DROP COLUMN, SET NOT NULL): over half of the corpus's indexes and ALTER TABLEs."""
    if kind == "IndexStmt":
        if "whereClause" in node or "options" in node:
            return True
        for param in (*node.get("indexParams", ()), *node.get("indexIncludingParams", ())):
            element = param.get("IndexElem", param)
            if "expr" in element or "opclass" in element:
                return True
        return False
    if kind == "AlterTableStmt":
        for item in node.get("cmds", ()):
            definition = item.get("AlterTableCmd", {}).get("def")
            if definition is None:
                continue  # DROP COLUMN, SET NOT NULL, ENABLE ROW LEVEL SECURITY ...
            constraint = definition.get("Constraint")
            if (
                constraint is None
                or constraint.get("contype") not in _NAMELESS_CONSTRAINTS
                or "options" in constraint
            ):
                return True
        return False
    return True


def extension_names(node: Any) -> Iterator[tuple[str, bool]]:
    """(name, schema-qualified) of the types, functions and operator classes a node uses."""
    for item in walk_dicts(node):
        for key in ("FuncCall", "TypeName"):
            inner = item.get(key)
            if inner is not None:
                names = node_name(inner.get("funcname" if key == "FuncCall" else "names"))
                if names:
                    yield names[-1], len(names) > 1 and names[0] != "pg_catalog"
        opclass = item.get("opclass")
        if isinstance(opclass, list):
            names = node_name(opclass)
            if names:
                yield names[-1], len(names) > 1
