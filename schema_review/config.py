"""Settings from `[tool.schema-review]` in pyproject.toml or from `.schema-review.yaml`.

The nearest configuration file, searching from the linted files' folder upwards to the
repository root (as ruff finds its own), is used; from the working directory when the paths
have none (standard input); `--config FILE` names one explicitly. Unknown keys are errors, so
a misspelt option never silently does nothing. Settings remember where each value came from
(`origins`), so a run can say what it used and why.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from schema_review.profile import (
    DEPLOYS,
    DIALECT_NAMES,
    PLATFORMS,
    RUNNERS,
    SUPPORTED_PG_VERSIONS,
    placeholder_key,
)
from schema_review.records import Record

SEVERITIES = ("critical", "high", "medium", "low", "info")
FAIL_ON = (*SEVERITIES, "none")
_KEYS = (
    "select",
    "ignore",
    "severity",
    "rule-files",
    "exclude",
    "fail-on",
    "dialect",
    "pg-version",
    "runner",
    "platform",
    "deploy",
    "options",
    "standards",
    "templates",
    "histories",
    "placeholders",
    "per-file-ignores",
)


class ConfigError(Exception):
    """The configuration cannot be used: says which file and what is wrong."""


class FileIgnores(Record):
    """`per-file-ignores`: glob patterns, each with the rule ids or categories (or `all`) not
    reported in the files it matches, as ruff has. A pattern is matched (fnmatch: `*` crosses
    folders) against a file's path relative to the configuration file's folder, the path
    findings show and the file's name.

    A Record, not a dataclass (see Settings); never changed once made. Its repr is part of
    Settings' repr: it reads as the dataclass's did."""

    _fields = ("base", "patterns")
    __slots__ = _fields

    base: Path
    patterns: tuple[tuple[str, tuple[str, ...]], ...]

    def __init__(self, base: Path, patterns: tuple[tuple[str, tuple[str, ...]], ...]) -> None:
        self.base = base
        self.patterns = patterns

    def ignoring(self, display: str, rule_id: str, category: str) -> str:
        """The pattern that keeps the findings of a rule (its id and category) in the file
        findings show as `display` from being reported, or ''."""
        names = ("all", rule_id, category)
        candidates: tuple[str, ...] | None = None
        for pattern, ignored in self.patterns:
            if not any(name in ignored for name in names):
                continue
            if candidates is None:
                candidates = self._names(display)
            if any(fnmatch.fnmatchcase(name, pattern) for name in candidates):
                return pattern
        return ""

    def _names(self, display: str) -> tuple[str, ...]:
        path = Path(display).absolute()
        base = self.base.absolute()
        if path.is_relative_to(base):
            return (display, path.name, path.relative_to(base).as_posix())
        return (display, path.name)


# Settings' fields, in the order of its repr.
_SETTINGS_FIELDS = (
    "select",
    "ignore",
    "severity",
    "rule_files",
    "exclude",
    "fail_on",
    "dialect",
    "pg_version",
    "runner",
    "platform",
    "deploy",
    "rule_options",
    "diff_base",
    "jobs",
    "standards",
    "templates",
    "histories",
    "placeholders",
    "source",
    "allow_empty",
    "per_file_ignores",
    "origins",
)


class Settings(Record):
    """What a run uses: the configuration file's values and the command line's.

    A Record (records.py), not a dataclass: generating a frozen dataclass's methods (each compiled
    from source at import) was most of what a one-file run spent in our code. Never changed
    once made: `replace` returns a copy with other values. Its repr is part of the result
    cache's key, so it reads exactly as the dataclass's did (every field, in order); == compares
    every field but `origins`."""

    _fields = _SETTINGS_FIELDS
    __slots__ = _fields
    _compared = tuple(name for name in _SETTINGS_FIELDS if name != "origins")

    select: tuple[str, ...]
    ignore: tuple[str, ...]
    severity: dict[str, str]
    rule_files: tuple[Path, ...]
    exclude: tuple[str, ...]
    fail_on: str
    # The SQL dialect of every history, as given (a DIALECT_NAMES spelling: `mariadb` is
    # linted as mysql); None: detected per history (discover.detect_dialect).
    dialect: str | None
    pg_version: int | None  # None: the default version (profile.DEFAULT_PG_VERSION)
    runner: str | None  # None: detected from each migration folder
    platform: str | None  # None: detected from each migration folder (supabase/...)
    # How the team deploys: online (the application serves meanwhile) or offline; None: online.
    deploy: str | None
    # Per-rule options: rule id -> {option: value}. Setting them turns the rule on.
    rule_options: dict[str, dict[str, Any]]
    diff_base: str | None  # --diff-base REF: report what changed since REF only
    jobs: int  # --jobs N: processes a large run shares (schema_review.workers)
    # The team's standards for the review's checklist: (name, rule ids) pairs.
    standards: tuple[tuple[str, tuple[str, ...]], ...]
    templates: Path | None  # a folder of report templates that override or add
    # Folders that are one migration history (Flyway locations): absolute, each group replayed
    # as one set in version order.
    histories: tuple[tuple[Path, ...], ...]
    # Values of the placeholders the migration runner fills in, by profile.placeholder_key.
    placeholders: dict[str, str]
    source: Path | None
    # --no-error-on-unmatched-pattern: a folder without migration files is not an error.
    allow_empty: bool
    per_file_ignores: FileIgnores | None
    # Where settings came from: key (`runner`, `pg-version`...) -> the configuration file's
    # path or the flag (`--runner`); `configuration` -> how the file was found. A key that
    # is not here has its default (or is detected per folder).
    origins: dict[str, str]

    def __init__(
        self,
        *,
        select: tuple[str, ...] = (),
        ignore: tuple[str, ...] = (),
        severity: dict[str, str] | None = None,
        rule_files: tuple[Path, ...] = (),
        exclude: tuple[str, ...] = (),
        fail_on: str = "high",
        dialect: str | None = None,
        pg_version: int | None = None,
        runner: str | None = None,
        platform: str | None = None,
        deploy: str | None = None,
        rule_options: dict[str, dict[str, Any]] | None = None,
        diff_base: str | None = None,
        jobs: int = 1,
        standards: tuple[tuple[str, tuple[str, ...]], ...] = (),
        templates: Path | None = None,
        histories: tuple[tuple[Path, ...], ...] = (),
        placeholders: dict[str, str] | None = None,
        source: Path | None = None,
        allow_empty: bool = False,
        per_file_ignores: FileIgnores | None = None,
        origins: dict[str, str] | None = None,
    ) -> None:
        self.select = select
        self.ignore = ignore
        self.severity = {} if severity is None else severity
        self.rule_files = rule_files
        self.exclude = exclude
        self.fail_on = fail_on
        self.dialect = dialect
        self.pg_version = pg_version
        self.runner = runner
        self.platform = platform
        self.deploy = deploy
        self.rule_options = {} if rule_options is None else rule_options
        self.diff_base = diff_base
        self.jobs = jobs
        self.standards = standards
        self.templates = templates
        self.histories = histories
        self.placeholders = {} if placeholders is None else placeholders
        self.source = source
        self.allow_empty = allow_empty
        self.per_file_ignores = per_file_ignores
        self.origins = {} if origins is None else origins

    __hash__ = None  # type: ignore[assignment]  # its dicts make it unhashable, as before

    def replace(self, **changes: Any) -> Settings:
        """A copy with `changes` (field name -> value), as dataclasses.replace made."""
        values = {name: getattr(self, name) for name in _SETTINGS_FIELDS}
        values.update(changes)
        return Settings(**values)

    def with_overrides(self, **changes: Any) -> Settings:
        """The settings with command-line values (None: not given), each remembered as
        coming from its flag."""
        given = {k: v for k, v in changes.items() if v is not None}
        flags = {k.replace("_", "-"): "--" + k.replace("_", "-") for k in given}
        return self.replace(**given, origins={**self.origins, **flags})


def find_config(start: Path, memo: dict[str, str | None] | None = None) -> Path | None:
    """The nearest configuration file from `start` (a resolved folder) upwards, stopping at the
    repository root. `memo` (folder -> answer) is shared by the searches of one run: a corpus
    of 1,500 files in a few hundred folders would otherwise stat the same parents 30,000
    times."""
    found = _find_config(str(start), {} if memo is None else memo)
    return None if found is None else Path(found)


def _find_config(start: str, memo: dict[str, str | None]) -> str | None:
    # Strings and os.stat, not pathlib: this runs for every folder of a run, also the runs
    # the result cache answers in a tenth of a second.
    walked: list[str] = []
    answer: str | None = None
    folder = start
    while True:
        if folder in memo:
            answer = memo[folder]
            break
        walked.append(folder)
        candidate = os.path.join(folder, ".schema-review.yaml")
        if os.path.isfile(candidate):
            answer = candidate
            break
        pyproject = os.path.join(folder, "pyproject.toml")
        if os.path.isfile(pyproject) and _has_tool_section(Path(pyproject)):
            answer = pyproject
            break
        if os.path.exists(os.path.join(folder, ".git")):
            break
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    for folder in walked:
        memo[folder] = answer
    return answer


_TOOL_TABLE = r"^\s*\[\s*tool\s*\.\s*[\"']?schema-review"
# Every way TOML writes a `tool.schema-review` table without escapes (a backslash in the file
# and it is parsed): `tool` (bare or quoted) followed by `. schema-review` (a header or a
# dotted key), by `]` (a `[tool]` table, its keys below) or by `=` (an inline table).
_MAY_HOLD_TOOL_SECTION = r"""\btool["']?\s*(?:\.\s*["']?schema-review|\]|=)"""


def _has_tool_section(pyproject: Path) -> bool:
    """Whether a pyproject.toml has a `[tool.schema-review]` table (a project that only
    mentions the tool, or depends on it, has none: the search goes on above it). A file that
    does not parse but seems to have one counts, so that loading it says what is wrong."""
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if "schema-review" not in text:
        return False
    if "\\" not in text and re.search(_MAY_HOLD_TOOL_SECTION, text) is None:
        # Nothing that can spell the table (a project that names the tool, as its own
        # pyproject.toml does): not parsed, nor tomllib imported (a run from such a folder
        # with --no-cache did both, ~15 M instructions).
        return False
    section, problem = _tool_section(text)
    if problem:
        return re.search(_TOOL_TABLE, text, re.MULTILINE) is not None
    return section is not None


_TOML_CACHE_FORMAT = "1"


def _tool_section(text: str) -> tuple[Any, str]:
    """The `tool.schema-review` table of a pyproject.toml (None when there is none), or why
    the file cannot be read ('' when it can). A file read before answers from the cache: a
    project's pyproject.toml mentions the tool, and parsing it with tomllib (imported for it)
    was a sixth of a run the result cache answers. Only plain data is kept (marshal refuses
    TOML's dates: such a table is parsed every time)."""
    import sys

    from schema_review.resources import cache_key, load_cached, store_cached

    key = cache_key("toml", _TOML_CACHE_FORMAT, sys.version, text)
    cached = load_cached(key)
    if isinstance(cached, tuple) and len(cached) == 2 and isinstance(cached[1], str):
        return cached[0], cached[1]
    import tomllib

    try:
        tool = tomllib.loads(text).get("tool", {})
        answer: tuple[Any, str] = (
            tool.get("schema-review") if isinstance(tool, dict) else None,
            "",
        )
    except tomllib.TOMLDecodeError as error:
        answer = (None, f"invalid TOML: {error}")
    except RecursionError:
        answer = (None, "TOML nested too deeply")
    store_cached(key, answer)
    return answer


def config_for(paths: Sequence[str | Path]) -> tuple[Path | None, str]:
    """The configuration file of a run on `paths` and how it was found: the nearest one from
    each path's folder (a file's own folder) upwards to its repository root; the working
    directory's when no path has one (standard input). Paths under different configuration
    files are a ConfigError: one run has one configuration."""
    found: dict[str, tuple[str, bool]] = {}  # configuration -> the first path under it
    memo: dict[str, str | None] = {}
    resolved: dict[str, str] = {}
    folders: dict[str, tuple[str, bool]] = {}  # each folder once, in the order given
    for raw in paths:
        text = os.fspath(raw)
        if text == "-":
            continue
        if os.path.isdir(text):
            folders.setdefault(text, (text, True))
        else:
            # A file's folder, as Path(text).parent names it (a trailing slash ignored).
            stripped = text.rstrip(os.sep + (os.altsep or "")) or text
            folders.setdefault(os.path.dirname(stripped) or ".", (text, False))
    for folder, given in folders.items():
        config = _find_config(_resolve_folder(folder, resolved), memo)
        if config is not None:
            found.setdefault(config, given)
    named = {Path(config): _folder_shown(*given) for config, given in found.items()}
    if len(named) > 1:
        listed = "; ".join(f"{config} for {folder}" for config, folder in named.items())
        raise ConfigError(
            f"the paths have different configuration files ({listed}): lint them in separate "
            "runs, or name the one to use with --config"
        )
    for config_path, shown in named.items():
        return config_path, f"found from {shown}"
    cwd = Path.cwd()
    return find_config(cwd.resolve()), "found from the working directory"


def _folder_shown(text: str, is_dir: bool) -> Path:
    """The folder of a path as messages name it (pathlib's spelling)."""
    return Path(text) if is_dir else Path(text).parent


def _resolve_folder(folder: str, known: dict[str, str]) -> str:
    """`Path(folder).resolve()` as a string, each folder above it resolved once per run (in
    `known`) and each one an lstat: a corpus's few hundred folders share their parents."""
    absolute = os.path.abspath(folder)
    if os.pardir in folder.replace(os.altsep or os.sep, os.sep).split(os.sep):
        # `link/..` is the link target's parent: leave it to realpath, which walks in order.
        return os.path.realpath(absolute)
    return _resolve_absolute(absolute, known)


def _resolve_absolute(folder: str, known: dict[str, str]) -> str:
    answer = known.get(folder)
    if answer is not None:
        return answer
    parent, name = os.path.split(folder)
    if not name or parent == folder:
        answer = os.path.realpath(folder)  # the root
    else:
        answer = os.path.join(_resolve_absolute(parent, known), name)
        if os.path.islink(answer):
            answer = os.path.realpath(answer)
    known[folder] = answer
    return answer


def load_settings(
    config_file: Path | None = None,
    start: Path | None = None,
    paths: Sequence[str | Path] = (),
) -> Settings:
    """The settings of `config_file`, or of the configuration found for `paths` (from
    `start`, or the working directory, when there are none)."""
    if config_file is not None:
        path: Path | None = config_file
        how = "--config"
    elif paths:
        path, how = config_for(paths)
    else:
        path = find_config((start or Path.cwd()).resolve())
        how = "found from the working directory"
    if path is None:
        return Settings()
    settings = _read_settings(path)
    return settings.replace(origins={**settings.origins, "configuration": how})


def _read_settings(path: Path) -> Settings:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read configuration: {error.strerror}") from None
    if path.suffix == ".toml":
        section, problem = _tool_section(text)
        if problem:
            raise ConfigError(f"{path}: {problem}")
        data = {} if section is None else section
    else:
        from schema_review.resources import YamlError, load_yaml

        try:
            # Safe loading, and no more aliases or nesting than a configuration needs.
            data = load_yaml(text, cache=True) or {}
        except YamlError as error:
            raise ConfigError(f"{path}{error.where}: {error.problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings")
    return parse_settings(data, path)


def parse_settings(data: dict[str, Any], path: Path) -> Settings:
    values = {str(k).replace("_", "-"): v for k, v in data.items()}
    unknown = sorted(k for k in values if k not in _KEYS)
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(_KEYS)})"
        )

    def names(key: str) -> tuple[str, ...]:
        value = values.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: '{key}' must be a list of strings")
        return tuple(value)

    severity = values.get("severity", {})
    if not isinstance(severity, dict):
        raise ConfigError(f"{path}: 'severity' must map rule ids to severities")
    for rule_id, level in severity.items():
        if level not in SEVERITIES:
            raise ConfigError(
                f"{path}: severity of {rule_id} must be one of {', '.join(SEVERITIES)}"
            )
    fail_on = values.get("fail-on", "high")
    if fail_on not in FAIL_ON:
        raise ConfigError(f"{path}: 'fail-on' must be one of {', '.join(FAIL_ON)}")
    pg_version = values.get("pg-version")
    if pg_version is not None:
        pg_version = check_pg_version(pg_version, str(path))
    dialect = values.get("dialect")
    if dialect is not None:
        dialect = check_dialect(dialect, str(path))
    runner = values.get("runner")
    if runner is not None:
        runner = check_runner(runner, str(path))
    platform = values.get("platform")
    if platform is not None and platform not in PLATFORMS:
        raise ConfigError(f"{path}: 'platform' must be one of {', '.join(PLATFORMS)}")
    deploy = values.get("deploy")
    if deploy is not None and deploy not in DEPLOYS:
        raise ConfigError(f"{path}: 'deploy' must be one of {', '.join(DEPLOYS)}, not {deploy!r}")
    rule_options = values.get("options", {})
    if not isinstance(rule_options, dict) or not all(
        isinstance(k, str) and isinstance(v, dict) for k, v in rule_options.items()
    ):
        raise ConfigError(f"{path}: 'options' must map rule ids to mappings of option values")
    standards = values.get("standards", [])
    if not isinstance(standards, list) or not all(
        isinstance(item, dict)
        and isinstance(item.get("name"), str)
        and isinstance(item.get("rules"), list)
        and all(isinstance(r, str) for r in item["rules"])
        for item in standards
    ):
        raise ConfigError(f"{path}: 'standards' must be a list of {{name: ..., rules: [...]}}")
    templates = values.get("templates")
    if templates is not None and not isinstance(templates, str):
        raise ConfigError(f"{path}: 'templates' must be a folder")
    base = path.parent
    histories = _histories(values.get("histories", []), path)
    placeholders = _placeholders(values.get("placeholders", {}), path)
    per_file_ignores = _per_file_ignores(values.get("per-file-ignores", {}), path)
    return Settings(
        select=names("select"),
        ignore=names("ignore"),
        severity={str(k): str(v) for k, v in severity.items()},
        rule_files=tuple(base / f for f in names("rule-files")),
        exclude=names("exclude"),
        fail_on=fail_on,
        dialect=dialect,
        pg_version=pg_version,
        runner=runner,
        platform=platform,
        deploy=deploy,
        rule_options={k: dict(v) for k, v in rule_options.items()},
        standards=tuple((item["name"], tuple(item["rules"])) for item in standards),
        templates=base / templates if templates else None,
        histories=tuple(tuple(base / folder for folder in group) for group in histories),
        placeholders=placeholders,
        source=path,
        per_file_ignores=per_file_ignores,
        origins=dict.fromkeys(values, str(path)),
    )


def _per_file_ignores(value: object, path: Path) -> FileIgnores | None:
    """`per-file-ignores`: a mapping of glob patterns to rule ids or categories (one, or a
    list); whether they name rules is checked against the catalogue when a run starts."""
    shape = (
        f"{path}: 'per-file-ignores' must map file patterns to rule ids or categories, "
        'like {"db/seeds/*.sql": ["locking"]}'
    )
    if not isinstance(value, dict):
        raise ConfigError(shape)
    patterns: list[tuple[str, tuple[str, ...]]] = []
    for pattern, names in value.items():
        if isinstance(names, str):
            names = [names]
        if (
            not isinstance(pattern, str)
            or not pattern
            or not isinstance(names, list)
            or not names
            or not all(isinstance(n, str) and n for n in names)
        ):
            raise ConfigError(shape)
        patterns.append((pattern, tuple(names)))
    return FileIgnores(path.parent, tuple(patterns)) if patterns else None


def _histories(value: object, path: Path) -> list[list[str]]:
    """`histories`: groups of folders (relative to the configuration file) that are one
    migration history, like the locations of one Flyway configuration; a group of one folder
    keeps that folder a history of its own (no automatic merging of Flyway siblings)."""
    if not isinstance(value, list) or not all(
        isinstance(group, list) and group and all(isinstance(f, str) for f in group)
        for group in value
    ):
        raise ConfigError(
            f"{path}: 'histories' must be a list of lists of folders, "
            'like [["db/migration", "db/migration_data"]]'
        )
    return [list(group) for group in value]


def _placeholders(value: object, path: Path) -> dict[str, str]:
    """`placeholders`: the values the migration runner gives its placeholders (Go template
    actions `{{ ... }}`, Flyway `${name}`), keyed as profile.placeholder_key matches them."""
    if not isinstance(value, dict):
        raise ConfigError(
            f"{path}: 'placeholders' must map placeholders to values, "
            'like {"${schema}" = "public"}'
        )
    found: dict[str, str] = {}
    for raw, filled in value.items():
        key = placeholder_key(str(raw))
        if key is None:
            raise ConfigError(
                f"{path}: placeholders: {raw!r} is not a placeholder: write it as it appears "
                'in the SQL, a Go template action like {{ index .Options "Namespace" }} or a '
                "Flyway placeholder like ${schema}"
            )
        if isinstance(filled, bool) or not isinstance(filled, str | int):
            raise ConfigError(f"{path}: placeholders: the value of {raw} must be a string")
        text = str(filled)
        if "\n" in text or "\r" in text:
            # Line numbers of findings stay true only when a value is one line.
            raise ConfigError(f"{path}: placeholders: the value of {raw} must be one line")
        if key in found:
            raise ConfigError(f"{path}: placeholders: {raw} is given twice (as {key})")
        found[key] = text
    return found


def check_pg_version(value: object, where: str) -> int:
    """A PostgreSQL major version (`16`, `"16"`, `"16.4"`), or a ConfigError."""
    text = str(value).strip()
    major = text.split(".")[0]
    if not major.isdigit() or int(major) not in SUPPORTED_PG_VERSIONS:
        raise ConfigError(
            f"{where}: 'pg-version' must be a PostgreSQL major version from "
            f"{SUPPORTED_PG_VERSIONS.start} to {SUPPORTED_PG_VERSIONS.stop - 1}, not {text!r}"
        )
    return int(major)


def check_dialect(value: object, where: str) -> str:
    """A dialect as the configuration or `--dialect` names it (DIALECT_NAMES), or a
    ConfigError."""
    if not isinstance(value, str) or value.lower() not in DIALECT_NAMES:
        raise ConfigError(
            f"{where}: 'dialect' must be one of {', '.join(DIALECT_NAMES)}, not {value!r}"
        )
    return value.lower()


def check_runner(value: object, where: str) -> str:
    if value not in RUNNERS:
        raise ConfigError(f"{where}: 'runner' must be one of {', '.join(RUNNERS)}, not {value!r}")
    return str(value)


def locate_option(source: Path | None, rule_id: str, option: str) -> str:
    """`FILE:LINE: ` of the line giving a rule's option in the configuration (`FILE: `
    when the line cannot be told, "" without a file): errors point at the value to fix."""
    if source is None:
        return ""
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return f"{source}: "
    rule = re.compile(rf"""(^|[\s."'\[]){re.escape(rule_id)}(["'\]]|\s*[:=\]]|$)""")
    key = re.compile(rf"""(^\s*(-\s*)?|[{{,]\s*)["']?{re.escape(option)}["']?\s*[:=]""")
    start = next((n for n, line in enumerate(lines) if rule.search(line)), None)
    if start is None:
        return f"{source}: "
    for number in range(start, len(lines)):
        if key.search(lines[number]):
            return f"{source}:{number + 1}: "
    return f"{source}:{start + 1}: "
