"""Naming conventions: the names a team's template expects, and the names migration tools
generate (the presets of the `naming-convention` rule).

A convention for one kind of name is a regular expression (starting with `^`), a template
of placeholders (`{table}_{columns}_fkey`), or, in a preset, a tool's own naming function
(Rails, Django and TypeORM hash the names they generate). Each preset was checked against
the tool's source: PostgreSQL's makeObjectName (model/naming.py), drizzle-kit's serializer,
prisma-engines' ConstraintNames, ActiveRecord's generate_index_name and foreign_key_name,
Django's BaseDatabaseSchemaEditor._create_index_name and TypeORM's DefaultNamingStrategy.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from schema_review.model.naming import NAMEDATALEN, _clip, make_object_name
from schema_review.records import Record
from schema_review.resources import sha256

KINDS = (
    "table",
    "column",
    "primary_key",
    "foreign_key",
    "unique",
    "check",
    "exclude",
    "index",
    "unique_index",
)
PLACEHOLDERS = ("table", "columns", "column", "ref_table", "ref_columns")
MODIFIERS = ("lower", "upper", "snake", "camel", "pascal")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# PostgreSQL's own shape: cut the way makeObjectName cuts, not by plain truncation.
_GENERATED_NAME = re.compile(r"^\{table\}(?:_\{(?P<part>columns|column)\})?_(?P<label>\w+)$")
_MAX = NAMEDATALEN - 1


class NamedObject(Record):
    """What a generated name is made of: the table, the object's columns, and for a foreign
    key the referenced table (without its schema) and columns."""

    # A Record, not a dataclass (see records.py): no methods compiled at import.
    _fields = ("table", "columns", "ref_table", "ref_columns", "partial")
    __slots__ = _fields

    table: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    partial: bool  # an index with WHERE (TypeORM hashes the predicate too)

    def __init__(
        self,
        table: str,
        columns: tuple[str, ...] = (),
        ref_table: str = "",
        ref_columns: tuple[str, ...] = (),
        partial: bool = False,
    ) -> None:
        self.table = table
        self.columns = columns
        self.ref_table = ref_table
        self.ref_columns = ref_columns
        self.partial = partial


Namer = Callable[[NamedObject], str]


class Generated(Record):
    """A tool's naming function, with how to show it in messages and `config check`."""

    _fields = ("shape", "name", "unknown")
    __slots__ = _fields

    shape: str
    name: Namer
    # When the name depends on what the model does not keep (a predicate's text as the tool
    # wrote it), the namer gives "" and any name matching this pattern is accepted.
    unknown: str

    def __init__(self, shape: str, name: Namer, unknown: str = "") -> None:
        self.shape = shape
        self.name = name
        self.unknown = unknown


Convention = str | Generated | tuple["str | Generated", ...]


def _words(name: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def _modify(text: str, modifier: str | None) -> str:
    if modifier is None:
        return text
    if modifier == "lower":
        return text.lower()
    if modifier == "upper":
        return text.upper()
    words = [w.lower() for w in _words(text)]
    if modifier == "snake":
        return "_".join(words)
    if modifier == "pascal":
        return "".join(w.capitalize() for w in words)
    return words[0] + "".join(w.capitalize() for w in words[1:]) if words else ""  # camel


def template_problem(text: str, kind: str) -> str | None:
    """Why `text` is not a usable convention for `kind` (None: it is)."""
    if text.startswith("^"):
        try:
            re.compile(text)
        except re.error as error:
            return f"{text!r} is not a valid regular expression: {error}"
        return None
    valid = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
    for match in _PLACEHOLDER.finditer(text):
        name, _, modifier = match.group(1).partition(":")
        if name not in PLACEHOLDERS:
            return (
                f"unknown placeholder {match.group(0)} in {text!r} (valid: {valid}, each "
                f"with an optional case modifier :{', :'.join(MODIFIERS)})"
            )
        if modifier and modifier not in MODIFIERS:
            return (
                f"unknown case modifier :{modifier} in {text!r} (valid: :{', :'.join(MODIFIERS)})"
            )
        if name.startswith("ref_") and kind != "foreign_key":
            return f"{match.group(0)} in {text!r}: only a foreign key references a table"
    rest = _PLACEHOLDER.sub("", text)
    if "{" in rest or "}" in rest:
        return f"unmatched brace in {text!r} (placeholders are written {{table}})"
    return None


def expand(template: str, obj: NamedObject) -> str:
    """The name a template gives `obj`, cut to 63 bytes as PostgreSQL cuts identifiers
    (PostgreSQL's own shapes are cut as makeObjectName cuts them)."""
    shape = _generated_shape(template)
    if shape is not None:
        return _generated(shape, obj.table, obj.columns)
    values = {
        "table": obj.table,
        "columns": "_".join(obj.columns),
        "column": obj.columns[0] if obj.columns else "",
        "ref_table": obj.ref_table,
        "ref_columns": "_".join(obj.ref_columns),
    }

    def fill(match: re.Match[str]) -> str:
        name, _, modifier = match.group(1).partition(":")
        return _modify(values[name], modifier or None)

    return _clip(_PLACEHOLDER.sub(fill, template), _MAX)


@functools.cache
def _generated_shape(template: str) -> tuple[str | None, str] | None:
    """(the columns part: `columns`, `column` or None; the label) of a template of
    PostgreSQL's own shape (`{table}_{columns}_fkey`), else None. Read once a template: a
    schema's every constraint and index is checked against a few."""
    shaped = _GENERATED_NAME.match(template)
    return None if shaped is None else (shaped["part"], shaped["label"])


def _generated(shape: tuple[str | None, str], table: str, columns: tuple[str, ...]) -> str:
    """The name a template of PostgreSQL's own shape gives (`_generated_shape`)."""
    part, label = shape
    joined = "_".join(columns) if part == "columns" else (columns or ("",))[0]
    return make_object_name(table, joined if part else None, label)


def describe(convention: Convention) -> str:
    """How a convention reads in a message: `users_email_key`-like templates, patterns."""
    if isinstance(convention, tuple):
        return " or ".join(describe(c) for c in convention)
    if isinstance(convention, Generated):
        return convention.shape
    return convention


# A convention's regular expression, compiled once: a schema's every name is checked.
_pattern = functools.cache(re.compile)


def mismatch(convention: Convention, name: str, obj: NamedObject) -> str | None:
    """`expected users_email_key` when `name` does not follow the convention, else None."""
    alternatives = convention if isinstance(convention, tuple) else (convention,)
    expected: list[str] = []
    for alternative in alternatives:
        if isinstance(alternative, Generated):
            wanted = alternative.name(obj)
            if not wanted and _pattern(alternative.unknown).search(name) is not None:
                return None
        elif alternative.startswith("^"):
            if _pattern(alternative).search(name) is not None:
                return None
            expected.append(f"to match {alternative}")
            continue
        else:
            wanted = expand(alternative, obj)
        if name == wanted:
            return None
        expected.append(wanted)
    return "expected " + " or ".join(dict.fromkeys(expected))


def name_pattern(convention: Convention) -> re.Pattern[str] | None:
    """The compiled regular expression when the convention is one (`^[a-z][a-z0-9_]*$`):
    a name follows it when it matches (as `mismatch_of` reads it), whatever the object."""
    if type(convention) is str and convention.startswith("^"):
        return _pattern(convention)
    return None


def mismatch_of(convention: Convention, name: str, parts: tuple[object, ...]) -> str | None:
    """`mismatch` of the NamedObject made of `parts` (its fields in order), made only when
    the convention needs it: a regular expression reads the name alone, and a schema's
    every column is checked against one."""
    pattern = name_pattern(convention)
    if pattern is not None:
        return None if pattern.search(name) is not None else f"expected to match {convention}"
    if type(convention) is str:
        # A template of PostgreSQL's own shape (every kind of the default preset) needs the
        # table and columns only: no NamedObject for each constraint and index.
        shape = _generated_shape(convention)
        if shape is not None:
            wanted = _generated(shape, parts[0], parts[1] if len(parts) > 1 else ())  # type: ignore[arg-type]
            return None if name == wanted else f"expected {wanted}"
    return mismatch(convention, name, NamedObject(*parts))  # type: ignore[arg-type]


# -- the tools' naming functions -------------------------------------------------------------


def _prisma(suffix: str, with_columns: bool = True) -> Generated:
    """prisma-engines ConstraintNames: `{table}_{columns}` cut to leave room for the suffix
    (63 bytes in all), then the suffix."""

    def name(obj: NamedObject) -> str:
        body = f"{obj.table}_{'_'.join(obj.columns)}" if with_columns else obj.table
        return _clip(body, _MAX - len(suffix)) + suffix

    shape = f"{{table}}_{{columns}}{suffix}" if with_columns else f"{{table}}{suffix}"
    return Generated(shape, name)


def _rails_index(obj: NamedObject) -> str:
    """ActiveRecord generate_index_name (7.1+): `index_T_on_A_and_B`, or past 62 bytes
    `idx_on_A_B_<sha256 of the long name, 10>`."""
    name = f"index_{obj.table}_on_{'_and_'.join(obj.columns)}"
    if len(name.encode()) <= 62:
        return name
    hashed = "_" + sha256(name.encode()).hexdigest()[:10]
    return _clip(f"idx_on_{'_'.join(obj.columns)}", 62 - len(hashed)) + hashed


def _rails_foreign_key(obj: NamedObject) -> str:
    """ActiveRecord foreign_key_name: fk_rails_ and 10 hex digits of a SHA-256."""
    identifier = f"{obj.table}_{'_and_'.join(obj.columns)}_fk"
    return "fk_rails_" + sha256(identifier.encode()).hexdigest()[:10]


def _rails_unique(obj: NamedObject) -> str:
    """ActiveRecord unique_constraint_name (7.1+): uniq_rails_ and 10 hex digits of a
    SHA-256."""
    identifier = f"{obj.table}_{'_and_'.join(obj.columns)}_unique"
    return "uniq_rails_" + sha256(identifier.encode()).hexdigest()[:10]


def _django(suffix: Callable[[NamedObject], str]) -> Namer:
    """Django's _create_index_name: `T_C_<md5 of table and columns, 8><suffix>`, the table
    and columns shortened when the whole passes 63 characters."""

    def name(obj: NamedObject) -> str:
        import hashlib  # here: loading OpenSSL is 3% of a one-file run that names nothing

        digest = hashlib.md5(usedforsecurity=False)
        for part in (obj.table, *obj.columns):
            digest.update(part.encode())
        hash_suffix = digest.hexdigest()[:8] + suffix(obj)
        columns = "_".join(obj.columns)
        full = f"{obj.table}_{columns}_{hash_suffix}"
        if len(full) <= _MAX:
            return full
        if len(hash_suffix) > _MAX / 3:
            hash_suffix = hash_suffix[: _MAX // 3]
        other = (_MAX - len(hash_suffix)) // 2 - 1
        short = f"{obj.table[:other]}_{columns[:other]}_{hash_suffix}"
        return f"D{short[:-1]}" if short[0] == "_" or short[0].isdigit() else short

    return name


def _typeorm(prefix: str, length: int) -> Generated:
    """TypeORM DefaultNamingStrategy: a prefix and the first hex digits of the SHA-1 of
    `table_sortedcolumns` (and of the WHERE clause for a partial index, as TypeORM wrote
    it, which the model does not keep)."""

    def name(obj: NamedObject) -> str:
        if obj.partial:
            return ""
        import hashlib

        key = f"{obj.table.replace('.', '_')}_{'_'.join(sorted(obj.columns))}"
        return prefix + hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:length]

    shape = f"{prefix}<sha1 of table and columns, {length} hex digits>"
    return Generated(shape, name, f"^{prefix}[0-9a-f]{{{length}}}$")


_SNAKE = "^[a-z][a-z0-9_]*$"
_ANY_CASE = "^[A-Za-z][A-Za-z0-9_]*$"
_DJANGO_FK = Generated(
    "{table}_{columns}_<md5, 8 hex digits>_fk_{ref_table}_{ref_column}",
    _django(lambda o: f"_fk_{o.ref_table}_{(o.ref_columns or ('',))[0]}"),
)
_TYPEORM_INDEX = _typeorm("IDX_", 26)

# Per preset and kind, the names the tool generates. "" checks nothing: CHECK and EXCLUDE
# constraints are named by hand with most tools, and so are the kinds a tool never creates
# unnamed.
PRESETS: dict[str, dict[str, Convention]] = {
    "postgres": {
        "table": _SNAKE,
        "column": _SNAKE,
        "primary_key": "{table}_pkey",
        "foreign_key": "{table}_{columns}_fkey",
        "unique": "{table}_{columns}_key",
        "check": "",
        "exclude": "",
        "index": "{table}_{columns}_idx",
        "unique_index": "{table}_{columns}_key",
    },
    # drizzle-kit: an inline primary key keeps PostgreSQL's name, a composite one is named.
    "drizzle": {
        "table": _SNAKE,
        "column": _SNAKE,
        "primary_key": ("{table}_pkey", "{table}_{columns}_pk"),
        "foreign_key": "{table}_{columns}_{ref_table}_{ref_columns}_fk",
        "unique": "{table}_{columns}_unique",
        "check": "",
        "exclude": "",
        "index": "{table}_{columns}_index",
        "unique_index": "{table}_{columns}_index",
    },
    # Prisma names tables and columns after the models and fields unless @@map / @map says
    # otherwise, so their case is the schema's; its unique constraints are unique indexes.
    "prisma": {
        "table": _ANY_CASE,
        "column": _ANY_CASE,
        "primary_key": _prisma("_pkey", with_columns=False),
        "foreign_key": _prisma("_fkey"),
        "unique": _prisma("_key"),
        "check": "",
        "exclude": "",
        "index": _prisma("_idx"),
        "unique_index": _prisma("_key"),
    },
    "rails": {
        "table": _SNAKE,
        "column": _SNAKE,
        "primary_key": "{table}_pkey",
        "foreign_key": Generated("fk_rails_<sha256, 10 hex digits>", _rails_foreign_key),
        "unique": Generated("uniq_rails_<sha256, 10 hex digits>", _rails_unique),
        "check": "",
        "exclude": "",
        "index": Generated("index_{table}_on_{columns joined by _and_}", _rails_index),
        "unique_index": Generated("index_{table}_on_{columns joined by _and_}", _rails_index),
    },
    # Django's unique indexes and constraints with a condition always carry the model's name.
    "django": {
        "table": _SNAKE,
        "column": _SNAKE,
        "primary_key": "{table}_pkey",
        "foreign_key": _DJANGO_FK,
        "unique": Generated(
            "{table}_{columns}_<md5, 8 hex digits>_uniq", _django(lambda o: "_uniq")
        ),
        "check": "",
        "exclude": "",
        "index": (
            Generated("{table}_{columns}_<md5, 8 hex digits>", _django(lambda o: "")),
            Generated("{table}_{columns}_<md5, 8 hex digits>_like", _django(lambda o: "_like")),
        ),
        "unique_index": "",
    },
    # TypeORM names tables in snake_case and columns after the entity's properties.
    "typeorm": {
        "table": _SNAKE,
        "column": "^[a-z][A-Za-z0-9_]*$",
        "primary_key": _typeorm("PK_", 27),
        "foreign_key": _typeorm("FK_", 27),
        "unique": (_typeorm("UQ_", 27), "^REL_[0-9a-f]{26}$"),
        "check": "",
        "exclude": "",
        "index": _TYPEORM_INDEX,
        "unique_index": _TYPEORM_INDEX,
    },
}


def convention_for(options: dict[str, object], kind: str) -> Convention:
    """The convention a kind follows: the team's own (`options[kind]`), else the preset's."""
    own = options.get(kind)
    if isinstance(own, str):
        return own
    preset = options.get("preset") or "postgres"
    return PRESETS.get(str(preset), PRESETS["postgres"])[kind]
