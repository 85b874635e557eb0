"""Rule options: their types, the check of a team's values, and the JSON Schema of the whole
configuration (shipped as schema_review/schema-review.schema.json for editors).

A rule declares each option's default under `options`; the type is the default's (boolean,
integer, string, list of strings, mapping of names to lists), or what `option_types` says
for the options whose values mean more than their type:

    regex          a regular expression ("" checks nothing)
    name-pattern   a naming convention: a regular expression starting with ^ or a template
                   of {table}, {columns}, {column}, {ref_table}, {ref_columns}; null: the
                   preset's; "" checks nothing
    column-groups  named groups of required columns: {columns: [...], tables: regex}
    {one-of: [a, b]}   one of these words
    {list-of: [a, b]}  a list of these words
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from schema_review.model.conventions import template_problem

OptionType = str | dict[str, list[str]]
NAMED_TYPES = (
    "boolean",
    "integer",
    "string",
    "strings",
    "pairs",
    "mapping",
    "regex",
    "name-pattern",
    "column-groups",
)
CHOICE_TYPES = ("one-of", "list-of")


class OptionError(ValueError):
    """A value a rule's option cannot take: says which option and why."""

    def __init__(self, option: str, problem: str) -> None:
        super().__init__(f"{option}: {problem}")
        self.option = option
        self.problem = problem


def derived_type(default: Any) -> OptionType | None:
    """The type an option's default implies (None: a default of null says nothing)."""
    if isinstance(default, bool):
        return "boolean"
    if isinstance(default, int):
        return "integer"
    if isinstance(default, str):
        return "string"
    if isinstance(default, list):
        return "strings"
    if isinstance(default, dict):
        return "pairs" if all(isinstance(v, list) for v in default.values()) else "mapping"
    return None


def declaration_problem(spec: Any) -> str | None:
    """Why an `option_types` entry is not a type (None: it is)."""
    if isinstance(spec, str):
        return None if spec in NAMED_TYPES else f"unknown option type {spec!r}"
    if (
        isinstance(spec, dict)
        and len(spec) == 1
        and next(iter(spec)) in CHOICE_TYPES
        and isinstance(next(iter(spec.values())), list)
        and all(isinstance(v, str) for v in next(iter(spec.values())))
    ):
        return None
    return (
        f"an option type is one of {', '.join(NAMED_TYPES)}, "
        "{one-of: [words]} or {list-of: [words]}"
    )


def _is_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _regex_problem(value: str) -> str | None:
    try:
        re.compile(value)
    except re.error as error:
        return f"{value!r} is not a valid regular expression: {error}"
    return None


def value_problem(spec: OptionType, option: str, value: Any) -> str | None:
    """Why `value` cannot be given to an option of type `spec` (None: it can)."""
    if isinstance(spec, dict):
        kind, words = next(iter(spec.items()))
        choices = ", ".join(words)
        if kind == "one-of":
            return None if value in words else f"must be one of {choices}, not {value!r}"
        if not _is_strings(value) or set(value) - set(words):
            return f"must be a list of {choices}, not {value!r}"
        return None
    if spec == "boolean":
        return None if isinstance(value, bool) else f"must be true or false, not {value!r}"
    if spec == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"must be an integer, not {value!r}"
    if spec == "string":
        return None if isinstance(value, str) else f"must be a string, not {value!r}"
    if spec == "strings":
        return None if _is_strings(value) else f"must be a list of strings, not {value!r}"
    if spec == "pairs":
        ok = isinstance(value, dict) and all(_is_strings(v) for v in value.values())
        return None if ok else "must map names to lists of names"
    if spec == "mapping":
        return None if isinstance(value, dict) else "must be a mapping"
    if spec == "regex":
        if not isinstance(value, str):
            return f"must be a regular expression (a string), not {value!r}"
        return _regex_problem(value) if value else None
    if spec == "name-pattern":
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            return f"must be a regular expression or a name template (a string), not {value!r}"
        return template_problem(value, option)
    if spec == "column-groups":
        return _groups_problem(value)
    return f"unknown option type {spec!r}"  # the loader refuses these: never reached


def _groups_problem(value: Any) -> str | None:
    shape = "must map group names to {columns: [names], tables: regex}"
    if not isinstance(value, dict):
        return shape
    for group, spec in value.items():
        if not isinstance(spec, dict) or set(spec) - {"columns", "tables"}:
            return f"{shape} ({group!r} is not)"
        if not _is_strings(spec.get("columns")) or not spec["columns"]:
            return f"group {group!r} needs a non-empty list of columns"
        tables = spec.get("tables", "")
        if not isinstance(tables, str):
            return f"group {group!r}: tables must be a regular expression"
        problem = _regex_problem(tables) if tables else None
        if problem:
            return f"group {group!r}: {problem}"
    return None


def option_type(declared: dict[str, OptionType], defaults: dict[str, Any], name: str) -> OptionType:
    return declared.get(name) or derived_type(defaults[name]) or "string"


def check_values(
    declared: dict[str, OptionType], defaults: dict[str, Any], given: dict[str, Any]
) -> None:
    """Raise OptionError for the first value of `given` its option cannot take."""
    for name, value in given.items():
        problem = value_problem(option_type(declared, defaults, name), name, value)
        if problem is not None:
            raise OptionError(name, problem)


def describe_type(spec: OptionType) -> str:
    """The type as docs/rules.md shows it."""
    if isinstance(spec, dict):
        kind, words = next(iter(spec.items()))
        prefix = "one of" if kind == "one-of" else "list of"
        return f"{prefix} {', '.join(words)}"
    return {
        "boolean": "boolean",
        "integer": "integer",
        "string": "string",
        "strings": "list of strings",
        "pairs": "mapping of names to lists of names",
        "mapping": "mapping",
        "regex": "regular expression",
        "name-pattern": "regular expression (^...) or name template; null: the preset's",
        "column-groups": "mapping of group names to {columns, tables}",
    }[spec]


def json_schema_of(spec: OptionType, default: Any) -> dict[str, Any]:
    """A JSON Schema for values of an option (with its default, for editors)."""
    schema: dict[str, Any]
    strings = {"type": "array", "items": {"type": "string"}}
    if isinstance(spec, dict):
        kind, words = next(iter(spec.items()))
        if kind == "one-of":
            schema = {"enum": list(words)}
        else:
            schema = {"type": "array", "items": {"enum": list(words)}, "uniqueItems": True}
    elif spec in ("boolean", "integer", "string"):
        schema = {"type": spec}
    elif spec == "strings":
        schema = dict(strings)
    elif spec == "pairs":
        schema = {"type": "object", "additionalProperties": strings}
    elif spec == "mapping":
        schema = {"type": "object"}
    elif spec == "regex":
        schema = {"type": "string", "format": "regex"}
    elif spec == "name-pattern":
        schema = {"type": ["string", "null"]}
    else:  # column-groups
        group = {
            "type": "object",
            "properties": {
                "columns": {**strings, "minItems": 1},
                "tables": {"type": "string", "format": "regex"},
            },
            "required": ["columns"],
            "additionalProperties": False,
        }
        schema = {"type": "object", "additionalProperties": group}
    schema["description"] = describe_type(spec)
    schema["default"] = default
    return schema


# -- the JSON Schema of a configuration --------------------------------------------------------

_STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
_NAMES = {"anyOf": [{"type": "string"}, _STRINGS]}


def _settings_schema() -> dict[str, dict[str, Any]]:
    """Each setting config.py accepts (its _KEYS), as JSON Schema."""
    from schema_review.config import FAIL_ON, SEVERITIES
    from schema_review.profile import (
        DEPLOYS,
        DIALECT_NAMES,
        PLATFORMS,
        RUNNERS,
        SUPPORTED_PG_VERSIONS,
    )

    versions = list(SUPPORTED_PG_VERSIONS)
    return {
        "select": {
            **_NAMES,
            "description": "Rule ids, categories (their rules on by default) or all.",
        },
        "ignore": {**_NAMES, "description": "Rule ids or categories to leave out."},
        "severity": {
            "type": "object",
            "additionalProperties": {"enum": list(SEVERITIES)},
            "description": "A severity per rule id.",
        },
        "rule-files": {**_STRINGS, "description": "More rule files, relative to this file."},
        "exclude": {**_STRINGS, "description": "Files to skip (glob)."},
        "fail-on": {"enum": list(FAIL_ON), "description": "Lowest severity that fails the run."},
        "dialect": {
            "enum": list(DIALECT_NAMES),
            "description": "SQL dialect of the migrations (default: detected per history; "
            "mariadb is linted as mysql).",
        },
        "pg-version": {
            "anyOf": [{"enum": versions}, {"type": "string", "pattern": r"^\d+(\.\d+)?$"}],
            "description": "PostgreSQL major version (default 16).",
        },
        "runner": {"enum": list(RUNNERS), "description": "Migration tool (default: detected)."},
        "platform": {"enum": list(PLATFORMS), "description": "postgres or supabase."},
        "deploy": {
            "enum": list(DEPLOYS),
            "description": "online (default) or offline: lock-only findings are info.",
        },
        "options": {"type": "object", "description": "The team's standards: rule options."},
        "standards": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "rules": _STRINGS},
                "required": ["name", "rules"],
            },
            "description": "The review's checklist: named groups of rules.",
        },
        "templates": {"type": "string", "description": "A folder of report templates."},
        "histories": {
            "type": "array",
            "items": {**_STRINGS, "minItems": 1},
            "description": "Folders that are one migration history.",
        },
        "placeholders": {
            "type": "object",
            "additionalProperties": {"type": ["string", "integer"]},
            "description": "Values of the placeholders the migration runner fills in.",
        },
        "per-file-ignores": {
            "type": "object",
            "additionalProperties": _NAMES,
            "description": "Glob patterns, each with the rule ids or categories not reported "
            "in the files it matches.",
        },
    }


def config_schema(rules: list[Any]) -> dict[str, Any]:
    """The JSON Schema of `.schema-review.yaml` and of pyproject.toml's
    `[tool.schema-review]`: every setting, and every option of `rules` with its type and
    default. Keys may be written with `_` as well as `-`, as config.py reads them."""
    settings = _settings_schema()
    options: dict[str, Any] = {}
    for rule in sorted(rules, key=lambda r: r.id):
        if not rule.options:
            continue
        properties = {
            name: json_schema_of(option_type(rule.option_types, rule.options, name), default)
            for name, default in rule.options.items()
        }
        options[rule.id] = {
            "type": "object",
            "description": rule.title,
            "properties": properties,
            "additionalProperties": False,
        }
    # Rules of the configured rule files may have options too: any rule id is accepted here
    # (`schema-review config check` knows them all).
    settings["options"] = {
        **settings["options"],
        "properties": options,
        "additionalProperties": {"type": "object"},
    }
    properties = dict(settings)
    for key in settings:
        if "-" in key:
            properties[key.replace("-", "_")] = {"$ref": f"#/properties/{key}"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "schema-review configuration",
        "description": (
            "Settings of schema-review: .schema-review.yaml, or [tool.schema-review] in "
            "pyproject.toml. Generated by `schema-review config schema`."
        ),
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }


def effective_settings(settings: Any, rules: list[Any], chosen: list[Any]) -> dict[str, Any]:
    """What a run with `settings` uses, for `schema-review config check`: every setting with
    its value or default, the rules it turns on, and the options of the configured rules as
    they apply (a naming kind left to its preset shows the preset's convention)."""
    from schema_review.model.conventions import convention_for, describe
    from schema_review.profile import DEFAULT_DEPLOY, DEFAULT_PG_VERSION

    def shown(path: Any) -> str:
        try:
            return str(path.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(path)

    known = {r.id for r in rules}
    unknown = sorted(
        {rule_id for _, ids in settings.standards for rule_id in ids if rule_id not in known}
    )
    if unknown:
        raise OptionError("standards", f"unknown rule {', '.join(unknown)}")
    by_id = {r.id: r for r in chosen}
    configured: dict[str, Any] = {}
    for rule_id in sorted(settings.rule_options):
        rule = by_id.get(rule_id)
        if rule is None:  # configured, then left out by `ignore`
            configured[rule_id] = "ignored"
            continue
        values: dict[str, Any] = {}
        for name, value in rule.options.items():
            spec = option_type(rule.option_types, rule.options, name)
            values[name] = (
                describe(convention_for(rule.options, name))
                if (spec == "name-pattern" and value is None)
                else value
            )
        configured[rule_id] = values
    enabled_by_options = sorted(
        r.id for r in chosen if r.id in settings.rule_options and not _default_on(rules, r.id)
    )
    return {
        "configuration": shown(settings.source) if settings.source else None,
        "fail-on": settings.fail_on,
        "dialect": settings.dialect or "detected per history",
        "pg-version": settings.pg_version or DEFAULT_PG_VERSION,
        "runner": settings.runner or "detected per folder",
        "platform": settings.platform or "detected per folder",
        "deploy": settings.deploy or DEFAULT_DEPLOY,
        "select": list(settings.select) or "rules on by default",
        "ignore": list(settings.ignore),
        "severity": dict(sorted(settings.severity.items())),
        "rule-files": [shown(p) for p in settings.rule_files],
        "exclude": list(settings.exclude),
        "per-file-ignores": {
            glob: list(names)
            for glob, names in (
                settings.per_file_ignores.patterns if settings.per_file_ignores else ()
            )
        },
        "histories": [[shown(p) for p in group] for group in settings.histories],
        "placeholders": dict(sorted(settings.placeholders.items())),
        "templates": shown(settings.templates) if settings.templates else None,
        "standards": {name: list(ids) for name, ids in settings.standards} or "the defaults",
        "rules": f"{len(chosen)} of {len(rules)} on",
        "turned on by options": enabled_by_options,
        "options": configured,
    }


def _default_on(rules: list[Any], rule_id: str) -> bool:
    return any(r.id == rule_id and r.enabled for r in rules)
