"""Load rule packs from YAML and refuse malformed rules with a located message.

A rule is data: what it is evaluated on, a condition, a message, an optional fix, its
rationale and its examples. Conditions and templates are Jinja expressions compiled in
a sandboxed environment, so a rule file can never run arbitrary code.
"""

from __future__ import annotations

import marshal
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Generic, Self, TypeVar, overload

from schema_review.model import FINAL_KINDS
from schema_review.profile import ORM_RUNNERS
from schema_review.records import Record
from schema_review.resources import (
    CacheKey,
    YamlError,
    cache_key,
    data_dir,
    load_cached,
    load_yaml,
    store_cached,
)
from schema_review.rules.expressions import CompiledRule, compile_rule
from schema_review.rules.options import OptionType, declaration_problem, derived_type
from schema_review.rules.prebuilt import docs as prebuilt_docs
from schema_review.rules.prebuilt import entries as prebuilt_entries
from schema_review.rules.prebuilt import rule_files

SEVERITIES = ("critical", "high", "medium", "low", "info")
# Rules whose findings come from a pipeline stage rather than from an expression; `server`:
# from `schema-review verify`, which runs the migrations on PostgreSQL.
BUILTIN_TARGETS = ("parse_error", "internal_error", "suppression", "server")
TARGETS = ("statement", "history", "migration", *FINAL_KINDS, *BUILTIN_TARGETS)

_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_REQUIRED = ("id", "title", "severity", "category", "target", "message", "why", "examples")
_OPTIONAL = (
    "kinds",
    "when",
    "fix",
    "enabled",
    "object",
    "references",
    "notes",
    "dialects",
    "options",
    "option_types",
    "applies",
    "lock_only",
    "orm_generated",
)
DIALECTS = ("postgres", "mysql", "sqlite")
# What a rule's examples may set: the profile they are linted with (both bad and good).
_EXAMPLE_PROFILE_KEYS = frozenset({"pg_version", "runner", "platform", "dialect"})
_KNOWN = frozenset(_REQUIRED + _OPTIONAL)


class RuleError(Exception):
    """A rule file or rule that cannot be used: says which file, which rule, what is wrong;
    `field`, when the problem is in one field of the rule (its line is then the location)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# Rule's fields, in order.
_RULE_FIELDS = (
    "id",
    "title",
    "severity",
    "category",
    "target",
    "kinds",
    "when",
    "message",
    "fix",
    "why",
    "examples",
    "enabled",
    "source",
    "object",
    "references",
    "notes",
    "dialects",
    "example_profile",
    "options",
    "example_options",
    "option_types",
    "compiled",
    "applies",
    "applicable",
    "lock_only",
    "orm_generated",
    "explicit",
)
# What documents a rule (and what its examples' SQL is), which a lint run does not read: a
# built-in rule's are read from prebuilt_docs.json when first used (see Rule._read_docs).
_DOCS_FIELDS = ("why", "examples", "notes")
# Where Rule keeps its fields: those of _DOCS_FIELDS under other names, and where its
# documentation is still to be read from.
_RULE_SLOTS = (
    *(name for name in _RULE_FIELDS if name not in _DOCS_FIELDS),
    *(f"_{name}" for name in _DOCS_FIELDS),
    "_docs",
)
# Not the rule's identity (== leaves them out): its options and compiled code.
_NOT_COMPARED = frozenset(
    ("options", "example_options", "option_types", "compiled", "applicable", "orm_generated")
)
# Compiled code: not shown by repr.
_NOT_SHOWN = frozenset(("compiled", "applicable"))


_Value = TypeVar("_Value")


class _ReadOnFirstUse(Generic[_Value]):
    """A documentation field of a Rule (`why`, `examples`, `notes`), kept in the slot of its
    name with a leading `_`: a built-in rule's are read on first use, before a read or a
    write (`Rule._read_docs`)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}"

    @overload
    def __get__(self, rule: None, owner: type) -> Self: ...
    @overload
    def __get__(self, rule: Rule, owner: type) -> _Value: ...
    def __get__(self, rule: Rule | None, owner: type) -> Self | _Value:
        if rule is None:
            return self
        if rule._docs is not None:
            rule._read_docs()
        value: _Value = getattr(rule, self.slot)
        return value

    def __set__(self, rule: Rule, value: _Value) -> None:
        if rule._docs is not None:
            rule._read_docs()
        setattr(rule, self.slot, value)


class Rule(Record):
    """A rule: read from a rule file (or the prebuilt catalogue), as the engine runs it.

    A Record (records.py), not a frozen dataclass: generating its methods at import cost a
    one-file run more than reading the catalogue. Never changed once made: `replace` returns
    a copy with other values, as dataclasses.replace did; == and repr are the dataclass's."""

    _fields = _RULE_FIELDS
    __slots__ = _RULE_SLOTS
    _stored = _RULE_SLOTS
    _compared = tuple(name for name in _RULE_FIELDS if name not in _NOT_COMPARED)
    _shown = tuple(name for name in _RULE_FIELDS if name not in _NOT_SHOWN)

    id: str
    title: str
    severity: str
    category: str
    target: str
    kinds: tuple[str, ...]
    when: str | None
    message: str
    fix: str | None
    # `why`, `examples` (bad, good and base SQL) and `notes` are read on first use (below).
    _why: str
    _examples: dict[str, str]
    _notes: str | None
    # (rule file's name, index of its entry) of a built-in rule whose documentation is
    # still to be read (prebuilt_docs.json), else None.
    _docs: tuple[str, int] | None
    enabled: bool
    source: str
    object: str | None
    references: tuple[str, ...]
    dialects: tuple[str, ...]
    # The profile the examples are linted with (`pg_version`, `runner`), when not the default.
    example_profile: tuple[tuple[str, Any], ...]
    # Settings a team may change (name lists, patterns): defaults here, values from the
    # configuration's `options`. Rule expressions read them as `options`.
    options: dict[str, Any]
    # The options the examples are linted with, when not the defaults.
    example_options: dict[str, Any]
    # The types of the options whose values mean more than their default's type (a regular
    # expression, one of some words): rules/options.py.
    option_types: dict[str, OptionType]
    compiled: CompiledRule | None
    # `applies`: whether the rule can fire at all under a profile and options (an exposed
    # schema, a PostgreSQL version); a rule that cannot is skipped, and no strength.
    applies: str | None
    applicable: CompiledRule | None
    # `lock_only`: the harm is a lock that blocks the running application, and nothing else
    # (no failure, no long rewrite): with `deploy: offline` its findings are info.
    lock_only: bool
    # `orm_generated`: ORM (prisma, drizzle, diesel) -> why the rule is about what that ORM
    # writes and the team cannot change from its schema file: off by default under its runner.
    orm_generated: dict[str, str]
    # Named by id (or `all`), or given options: the team asked for it, ORM or not.
    explicit: bool

    def __init__(
        self,
        *,
        id: str,
        title: str,
        severity: str,
        category: str,
        target: str,
        kinds: tuple[str, ...],
        when: str | None,
        message: str,
        fix: str | None,
        why: str,
        examples: dict[str, str],
        enabled: bool,
        source: str,
        object: str | None = None,
        references: tuple[str, ...] = (),
        notes: str | None = None,
        dialects: tuple[str, ...] = ("postgres",),
        example_profile: tuple[tuple[str, Any], ...] = (),
        options: dict[str, Any] | None = None,
        example_options: dict[str, Any] | None = None,
        option_types: dict[str, OptionType] | None = None,
        compiled: CompiledRule | None = None,
        applies: str | None = None,
        applicable: CompiledRule | None = None,
        lock_only: bool = False,
        orm_generated: dict[str, str] | None = None,
        explicit: bool = False,
        docs: tuple[str, int] | None = None,
    ) -> None:
        self._docs = None
        self.id = id
        self.title = title
        self.severity = severity
        self.category = category
        self.target = target
        self.kinds = kinds
        self.when = when
        self.message = message
        self.fix = fix
        self.why = why
        self.examples = examples
        self.enabled = enabled
        self.source = source
        self.object = object
        self.references = references
        self.notes = notes
        self.dialects = dialects
        self.example_profile = example_profile
        self.options = {} if options is None else options
        self.example_options = {} if example_options is None else example_options
        self.option_types = {} if option_types is None else option_types
        self.compiled = compiled
        self.applies = applies
        self.applicable = applicable
        self.lock_only = lock_only
        self.orm_generated = {} if orm_generated is None else orm_generated
        self.explicit = explicit
        self._docs = docs

    why = _ReadOnFirstUse[str]()
    examples = _ReadOnFirstUse[dict[str, str]]()
    notes = _ReadOnFirstUse[str | None]()

    def _read_docs(self) -> None:
        """A built-in rule's documentation, read when first used: from prebuilt_docs.json,
        or (were it missing or stale) from the rule file itself."""
        assert self._docs is not None
        name, index = self._docs
        self._docs = None
        entry = prebuilt_docs(name, index)
        if entry is None:
            data = load_yaml(Path(self.source).read_text(encoding="utf-8"))
            entry = (data["rules"] if isinstance(data, dict) else data)[index]
        self._why, self._examples, self._notes = _docs_fields(entry)

    # A copy with other values, as dataclasses.replace made (public: callers copy rules).
    replace = Record._replace

    __hash__ = None  # type: ignore[assignment]  # its examples (a dict) made it unhashable

    def off_under(self, orm: str) -> bool:
        """Whether the rule is off by default under this ORM's runner, and not asked for."""
        return bool(orm) and orm in self.orm_generated and not self.explicit

    @property
    def evaluated(self) -> bool:
        """Whether the engine evaluates an expression for this rule."""
        return self.target not in BUILTIN_TARGETS


def rule_location(rule: Rule) -> str:
    """`FILE:LINE` of a rule's entry (its `id:` line), for errors about it; `FILE` when the
    line cannot be found."""
    return id_location(rule.source, rule.id)


def id_location(source: str, rule_id: str, field: str | None = None) -> str:
    """`FILE:LINE` of the `id:` line of a rule in a rule file, or of its `field:` line when
    given and found; `FILE` when the rule is not found."""
    try:
        text = Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError):
        return source
    pattern = re.compile(
        rf"^[ \t-]*id:[ \t]*[\"']?{re.escape(rule_id)}[\"']?[ \t]*(?:#.*)?$", re.MULTILINE
    )
    match = pattern.search(text)
    if match is None:
        return source
    start = match.start()
    if field is not None:
        # The rule's entry ends where the next one starts: a `- ` as far in as its own.
        line = text[text.rfind("\n", 0, start) + 1 : match.end()]
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        next_entry = re.compile(rf"^{re.escape(indent)}- ", re.MULTILINE)
        following = next_entry.search(text, match.end())
        end = following.start() if following else len(text)
        found = re.compile(rf"^[ \t]*{re.escape(field)}:", re.MULTILINE).search(text, start, end)
        if found is not None:
            start = found.start()
    return f"{source}:{text.count(chr(10), 0, start) + 1}"


def is_builtin(rule: Rule) -> bool:
    """Whether the rule ships with schema-review (a failure of it is a bug of ours)."""
    try:
        return Path(rule.source).resolve().parent == builtin_rules_dir().resolve()
    except (OSError, ValueError):
        return False


def builtin_rules_dir() -> Path:
    """The built-in rule packs: shipped in the package, or the repository's `rules/`."""
    return data_dir("rules")


def load_rules(extra_files: Iterable[str | Path] = ()) -> list[Rule]:
    """The built-in rules followed by those of `extra_files`; ids must be unique."""
    builtin = rule_files(builtin_rules_dir())
    files = [*builtin, *(Path(f) for f in extra_files)]
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for index, path in enumerate(files):
        # The built-in files as read and checked when the package was built (prebuilt.py),
        # when they are the files it was built from.
        data = prebuilt_entries(path.name) if index < len(builtin) else None
        if data is not None:
            loaded = _build_all(path, data, checked=True, prebuilt=True)
        else:
            loaded = load_rule_file(path)
        for rule in loaded:
            if rule.id in seen:
                raise RuleError(f"{path}: rule {rule.id}: id already defined in {seen[rule.id]}")
            seen[rule.id] = str(path)
            rules.append(rule)
    return rules


def load_rule_file(path: Path) -> list[Rule]:
    data, checked, key = _read_yaml(path)
    try:
        rules = _build_all(path, data, checked)
    except RuleError:
        if not checked:
            raise
        # The cache said this text makes good rules, and it does not: never trust it over the
        # file (the entry is damaged or not ours), read the file itself.
        data, checked, key = _read_yaml(path, use_cache=False)
        rules = _build_all(path, data, checked)
    if not checked:
        # Every expression of the file parsed: the next run loads it without parsing them.
        store_cached(key, (data, True))  # data marshal cannot hold (YAML dates) is not kept
    return rules


def _build_all(path: Path, data: Any, checked: bool, prebuilt: bool = False) -> list[Rule]:
    """The rules of a file's data. `checked`: its expressions are known to parse; `prebuilt`:
    the built-in rules from prebuilt.json, checked whole when the package was built."""
    entries = data["rules"] if isinstance(data, dict) and "rules" in data else data
    if not isinstance(entries, list):
        raise RuleError(f"{path}: expected a list of rules (or a mapping with `rules:`)")
    rules = []
    for index, entry in enumerate(entries):
        try:
            rules.append(_build(path, index, entry, checked, prebuilt))
        except RuleError as error:
            # Located at the rule's `id:` line (the YAML data has no lines of its own).
            rule_id = entry.get("id") if isinstance(entry, dict) else None
            message = str(error)
            if isinstance(rule_id, str) and message.startswith(f"{path}: "):
                where = id_location(str(path), rule_id, error.field)
                message = where + message.removeprefix(str(path))
            raise RuleError(message) from None
    return rules


def _in_builtin_folder(path: Path) -> bool:
    try:
        return path.resolve().parent == builtin_rules_dir().resolve()
    except (OSError, ValueError):
        return False


# Bump when what a rule cache entry means changes (2: data and "its expressions parse").
_RULE_CACHE_FORMAT = 2


def _read_yaml(path: Path, use_cache: bool = True) -> tuple[Any, bool, CacheKey | None]:
    """A rule file's data, whether its expressions are known to parse, and its cache key.

    Reading YAML is a fifth of a one-file run's start-up (importing PyYAML, then parsing),
    and parsing the expressions as much again: an earlier run's result for the same text is
    reused (data only, checksummed: see resources.py).
    """
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise RuleError(f"{path}: cannot read rule file: {error.strerror}") from None
    import jinja2  # (its version is in the key; the rules of a file of the team's run on it)

    key = cache_key("rules", f"{_RULE_CACHE_FORMAT}|{marshal.version}|{jinja2.__version__}", raw)
    cached = load_cached(key) if use_cache else None
    if (
        isinstance(cached, tuple)
        and len(cached) == 2
        and isinstance(cached[0], list | dict)
        and cached[1] is True
    ):
        return cached[0], True, key
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RuleError(f"{path}: not valid UTF-8 (byte {error.start})") from None
    try:
        data = load_yaml(text)
    except YamlError as error:
        raise RuleError(f"{path}{error.where}: {error.problem}") from None
    return data, False, key


def _check(path: Path, index: int, entry: Any) -> None:
    """Raise a RuleError (located by the rule's id) for an entry that is not a good rule."""
    label = f"{path}: rule #{index + 1}"
    if not isinstance(entry, dict):
        raise RuleError(f"{label}: expected a mapping of rule fields")
    if isinstance(entry.get("id"), str):
        label = f"{path}: rule {entry['id']}"
    if True in entry:  # YAML 1.1 reads a bare `on:` key as the boolean true
        raise RuleError(f"{label}: unknown field 'on' (use 'target')")
    unknown = sorted(str(k) for k in entry if k not in _KNOWN)
    if unknown:
        raise RuleError(f"{label}: unknown field(s) {', '.join(unknown)}")
    missing = [k for k in _REQUIRED if k not in entry]
    if missing:
        raise RuleError(f"{label}: missing field(s) {', '.join(missing)}")
    for key in ("id", "title", "severity", "category", "target", "message", "why"):
        if not isinstance(entry[key], str) or not entry[key].strip():
            raise RuleError(f"{label}: '{key}' must be a non-empty string")
    rule_id = entry["id"]
    if not _ID.match(rule_id):
        raise RuleError(f"{label}: id must be kebab-case (lowercase words joined by '-')")
    if entry["severity"] not in SEVERITIES:
        raise RuleError(f"{label}: severity must be one of {', '.join(SEVERITIES)}")
    target = entry["target"]
    if target not in TARGETS:
        raise RuleError(f"{label}: target must be one of {', '.join(TARGETS)}")
    kinds = entry.get("kinds", [])
    if isinstance(kinds, str):
        kinds = [kinds]
    if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
        raise RuleError(f"{label}: 'kinds' must be a list of names")
    if target in ("statement", "history") and not kinds:
        raise RuleError(f"{label}: target {target} needs 'kinds'")
    if target == "history":
        bad = [k for k in kinds if k not in FINAL_KINDS]
        if bad:
            raise RuleError(f"{label}: unknown history kind(s) {', '.join(bad)}")
    from schema_review.rules.reference import kind_problems

    unknown_kinds = kind_problems(target, kinds)
    if unknown_kinds:
        raise RuleError(f"{label}: {'; '.join(unknown_kinds)}", "kinds")
    when = entry.get("when")
    if target not in BUILTIN_TARGETS and not isinstance(when, str | bool):
        raise RuleError(f"{label}: 'when' (a condition) is required")
    examples = entry["examples"]
    if (
        not isinstance(examples, dict)
        or not isinstance(examples.get("bad"), str)
        or not isinstance(examples.get("good"), str)
        or set(examples) - {"bad", "good", "profile", "base", "options"}
        or not isinstance(examples.get("base", ""), str)
    ):
        raise RuleError(
            f"{label}: 'examples' must have 'bad' and 'good' SQL strings (and an optional"
            " 'profile')"
        )
    profile = examples.get("profile", {})
    if not isinstance(profile, dict) or set(profile) - _EXAMPLE_PROFILE_KEYS:
        raise RuleError(
            f"{label}: examples 'profile' may set only {', '.join(sorted(_EXAMPLE_PROFILE_KEYS))}"
        )
    options = entry.get("options", {})
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise RuleError(f"{label}: 'options' must map option names to default values")
    option_types = entry.get("option_types", {})
    if not isinstance(option_types, dict) or set(option_types) - set(options):
        raise RuleError(f"{label}: 'option_types' may only give types of the rule's options")
    for name, spec in option_types.items():
        problem = declaration_problem(spec)
        if problem:
            raise RuleError(f"{label}: option_types: {name}: {problem}")
    untyped = [n for n, v in options.items() if n not in option_types and derived_type(v) is None]
    if untyped:
        raise RuleError(
            f"{label}: option(s) {', '.join(untyped)} default to null: give their type in "
            "'option_types'"
        )
    example_options = examples.get("options", {})
    if not isinstance(example_options, dict) or set(example_options) - set(options):
        raise RuleError(f"{label}: examples 'options' may set only the rule's own options")
    # A rule that does not say is PostgreSQL's (the catalogue was written for it first).
    dialects = entry.get("dialects", ["postgres"])
    if not isinstance(dialects, list) or not all(d in DIALECTS for d in dialects):
        raise RuleError(f"{label}: 'dialects' must be a list of {', '.join(DIALECTS)}")
    for key in ("fix", "object", "notes"):
        if key in entry and not isinstance(entry[key], str):
            raise RuleError(f"{label}: '{key}' must be a string")
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleError(f"{label}: 'enabled' must be true or false")
    references = entry.get("references", [])
    if not isinstance(references, list):
        raise RuleError(f"{label}: 'references' must be a list")
    applies = entry.get("applies")
    if applies is not None and not isinstance(applies, str):
        raise RuleError(f"{label}: 'applies' must be an expression")
    lock_only = entry.get("lock_only", False)
    if not isinstance(lock_only, bool):
        raise RuleError(f"{label}: 'lock_only' must be true or false")
    orm_generated = entry.get("orm_generated", {})
    if not (
        isinstance(orm_generated, dict)
        and all(
            k in ORM_RUNNERS and isinstance(v, str) and v.strip() for k, v in orm_generated.items()
        )
    ):
        raise RuleError(
            f"{label}: 'orm_generated' must map ORMs ({', '.join(sorted(ORM_RUNNERS))})"
            " to why the rule is off under them"
        )


def _build(
    path: Path, index: int, entry: Any, checked: bool = False, prebuilt: bool = False
) -> Rule:
    if not prebuilt:  # the built-in rules' entries were checked when the package was built
        _check(path, index, entry)
    label = f"{path}: rule {entry['id']}"
    why: str = ""
    examples_sql: dict[str, str] = {}
    notes: str | None = None
    if not prebuilt:  # a built-in rule's is in prebuilt_docs.json, read when first used
        why, examples_sql, notes = _docs_fields(entry)
    rule_id = entry["id"]
    target = entry["target"]
    kinds = entry.get("kinds", [])
    if isinstance(kinds, str):
        kinds = [kinds]
    when = entry.get("when")
    examples = entry["examples"]
    profile = examples.get("profile", {})
    options = entry.get("options", {})
    option_types = entry.get("option_types", {})
    example_options = examples.get("options", {})
    dialects = entry.get("dialects", ["postgres"])
    enabled = entry.get("enabled", True)
    references = entry.get("references", [])
    condition = str(when).lower() if isinstance(when, bool) else when
    applies = entry.get("applies")
    lock_only = entry.get("lock_only", False)
    orm_generated = entry.get("orm_generated", {})
    try:
        compiled = compile_rule(
            target, condition, entry["message"], entry.get("fix"), entry.get("object"), checked
        )
        applicable = compile_rule(target, applies, "", None, None, checked) if applies else None
    except ValueError as error:
        raise RuleError(f"{label}: {error}") from None
    if not checked and not _in_builtin_folder(path):
        # A team's rule reads only what the model has: a misspelt attribute fails here, not
        # on the first object a run meets (the built-in rules' examples test theirs).
        sources = {"when": condition, "message": entry["message"], "fix": entry.get("fix")}
        sources.update(object=entry.get("object"), applies=applies)
        from schema_review.rules.reference import rule_problems

        wrong = rule_problems(target, kinds, options, sources)
        if wrong:
            text = "; ".join(f"'{field}': {problem}" for field, problem in wrong)
            raise RuleError(f"{label}: {text}", wrong[0][0])
    return Rule(
        id=rule_id,
        title=entry["title"].strip(),
        severity=entry["severity"],
        category=entry["category"],
        target=target,
        kinds=tuple(kinds),
        when=condition,
        message=entry["message"].strip(),
        fix=entry.get("fix"),
        why=why,
        examples=examples_sql,
        enabled=enabled,
        source=str(path),
        object=entry.get("object"),
        references=tuple(str(r) for r in references),
        notes=notes,
        dialects=tuple(dialects),
        example_profile=tuple(sorted(profile.items())),
        options=dict(options),
        example_options=dict(example_options),
        option_types=dict(option_types),
        compiled=compiled,
        applies=applies,
        applicable=applicable,
        lock_only=lock_only,
        orm_generated={str(k): str(v).strip() for k, v in orm_generated.items()},
        docs=(path.name, index) if prebuilt else None,
    )


def _docs_fields(entry: dict[str, Any]) -> tuple[str, dict[str, str], str | None]:
    """A rule entry's `why`, its examples' SQL (bad, good, base) and its `notes`."""
    examples = entry["examples"]
    sql = {key: examples[key] for key in ("bad", "good", "base") if key in examples}
    return entry["why"].strip(), sql, entry.get("notes")
