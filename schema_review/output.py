"""Render a lint run: text for people, JSON for programs. Text goes through a Jinja
template (`templates/lint.txt.jinja`) so its shape can change without code.

File names, identifiers and messages come from the repository being linted, so they are
escaped for where they go: control characters never reach a terminal or a CI log as they
are (`printable`), JUnit XML stays well-formed, and in Markdown an identifier cannot start a
heading, an image, a link or HTML (`markdown_text`, `markdown_code`, `markdown_block`).
"""

from __future__ import annotations

import functools
import json
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from schema_review.findings import Finding, at_gate
from schema_review.parse import SourceFile
from schema_review.pipeline import LintRun, display_path, profile_parts
from schema_review.profile import DEFAULT_DEPLOY
from schema_review.resources import data_dir
from schema_review.rules import SEVERITIES, Rule

if TYPE_CHECKING:
    # Only a review renders one: a lint run does not load the report's module.
    from schema_review.report import Report

_COLORS = {
    "critical": "\033[1;31m",
    "high": "\033[31m",
    "medium": "\033[33m",
    "low": "\033[36m",
    "info": "\033[2m",
    "bold": "\033[1m",
}
_RESET = "\033[0m"


def summary(run: LintRun, fail_on: str) -> dict[str, Any]:
    result = run.result
    return {
        "files": len(run.sources),
        "statements": run.statement_count,
        # How the team deploys, and the ORMs whose conventions are off (their runners').
        "deploy": run.profiles[0].deploy if run.profiles else DEFAULT_DEPLOY,
        "orm_profiles": sorted({p.orm for p in run.profiles if p.orm}),
        "findings": len(result.findings),
        "by_severity": result.counts(),
        "suppressed": len(result.suppressed),
        "baselined": len(result.baselined),
        "baseline_stale": result.baseline_stale,
        "hidden_as": result.hidden_as,
        "rules": len(run.rules_run),
        "fail_on": fail_on,
        "failed": result.fails(fail_on),
        "settings": settings_used(run),
    }


# How the settings line names the parts of a profile (pipeline.profile_parts) when not by key.
_PROFILE_LABELS = {"pg-version": "PostgreSQL"}


def settings_used(run: LintRun) -> dict[str, Any] | None:
    """What a run used and why: its configuration file (and how it was found), and for each
    history the dialect, runner, PostgreSQL version, platform and deploy mode, each with
    where it came from (a flag, the configuration file, detection, the default)."""
    settings = run.settings
    if settings is None:
        return None
    from schema_review.discover import history_label

    histories = []
    whys = run.why or [{} for _ in run.sets]
    for migration_set, profile, why in zip(run.sets, run.profiles, whys, strict=True):
        parts = {
            part: {"value": value, "why": why.get(part, "default")}
            for part, value in profile_parts(profile).items()
        }
        histories.append({"history": history_label(migration_set), **parts})
    return {
        "configuration": display_path(settings.source) if settings.source else None,
        "found": settings.origins.get("configuration"),
        "histories": histories,
    }


def settings_line(used: dict[str, Any]) -> str:
    """The summary's line about what a run used: one value a part when every history has
    the same, else each history's."""
    config = used["configuration"]
    parts = [f"configuration {config} ({used['found']})" if config else "no configuration file"]
    histories = used["histories"]
    # Every part some history has, in order: a PostgreSQL history has its server version and
    # platform, a MySQL or SQLite one in the same run has not.
    names = dict.fromkeys(key for h in histories for key in h if key != "history")
    for part in names:
        seen = [(h[part]["value"], h[part]["why"], h["history"]) for h in histories if part in h]
        if len({(value, why) for value, why, _ in seen}) == 1:
            shown = f"{seen[0][0]} ({seen[0][1]})"
        else:
            shown = ", ".join(f"{value} ({why}) for {label}" for value, why, label in seen)
        parts.append(f"{_PROFILE_LABELS.get(part, part)} {shown}")
    return printable("Settings: " + "; ".join(parts) + ".")


def statistics(run: LintRun) -> list[dict[str, Any]]:
    """Findings per rule (`lint --statistics`): count, severity, rule and title, the most
    frequent first."""
    counted: dict[str, list[Finding]] = {}
    for finding in run.result.findings:
        counted.setdefault(finding.rule, []).append(finding)
    ordered = sorted(
        counted.items(), key=lambda i: (-len(i[1]), SEVERITIES.index(i[1][0].severity), i[0])
    )
    return [
        {"count": len(found), "severity": found[0].severity, "rule": rule, "title": found[0].title}
        for rule, found in ordered
    ]


def render_json(run: LintRun, fail_on: str, extra: dict[str, Any] | None = None) -> str:
    """One finding a line: readable in a diff, and written by json's C encoder (an
    indented dump takes the pure-Python path, several times slower). `extra`: more keys
    after the summary (`verify`: the server, the trace)."""
    return "".join(json_pieces(run, fail_on, extra))


def json_pieces(run: LintRun, fail_on: str, extra: dict[str, Any] | None = None) -> Iterator[str]:
    """`render_json`'s text in pieces, one a finding: a writer that sends each on needs
    never hold the whole text (on a long history it is larger than the schema model)."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
    yield '{\n  "version": 1,\n  "findings": '
    findings = run.result.findings
    if findings:
        yield from _findings_json(findings, encode, {}, True)
        yield "\n  ]"
    else:
        yield "[]"
    more = "".join(f",\n  {encode(key)}: {encode(value)}" for key, value in (extra or {}).items())
    yield _json_text(f',\n  "summary": {encode(summary(run, fail_on))}{more}\n}}\n')


def _findings_json(
    findings: Iterable[Finding], encode: Callable[[Any], str], known: dict[Any, str], lines: bool
) -> Iterator[str]:
    """Each finding's `encode(finding.to_dict())`, written out field by field with json's own
    string encoder: `encode` makes a C encoder for each call, which cost more than the
    finding's text. A field of another type than a finding's takes `encode`. `known`: the
    run's few values written again and again, filled as they come: each (rule, severity,
    category)'s start of a finding, and each file as JSON. With `lines`, each as
    `render_json` writes it: after the list's start or a comma, as JSON text (`_json_text`).
    One loop for the findings: no call of a function for each."""
    text = _basestring
    # The message and the fix, the long strings, by orjson's encoder: the same JSON (it
    # escapes what json's does, as json does, and raises on a lone surrogate, which takes
    # `encode` below), several times faster on a fix of a few lines.
    long = orjson.dumps
    separator = "[\n    " if lines else ""
    for f in findings:
        piece = ""
        if type(f.line) is type(f.column) is type(f.end_line) is type(f.end_column) is int:
            try:
                # (A tuple is never a file's key: the two kinds of key cannot meet.)
                kind = (f.rule, f.severity, f.category)
                start = known.get(kind)
                if start is None:
                    start = known[kind] = (
                        f'{{"rule": {text(f.rule)}, "severity": {text(f.severity)}, '
                        f'"category": {text(f.category)}, "message": '
                    )
                file = known.get(f.file) or known.setdefault(f.file, text(f.file))
                piece = (
                    f"{separator}{start}{long(f.message).decode()}, "
                    f'"file": {file}, "line": {f.line}, "column": {f.column}, '
                    f'"end_line": {f.end_line}, "end_column": {f.end_column}, '
                    f'"object": {"null" if f.object is None else text(f.object)}, '
                    f'"fix": {"null" if f.fix is None else long(f.fix).decode()}, '
                    f'"fingerprint": {text(f.fingerprint)}}}'
                )
            except TypeError:  # not a string
                pass
        if not piece:
            piece = separator + encode(f.to_dict())
        if lines:
            yield piece if piece.isascii() else _json_text(piece)
            separator = ",\n    "
        else:
            yield piece


# json's encoder of a string when it does not escape what is not ASCII (ensure_ascii=False).
_basestring: Callable[[str], str] = json.encoder.encode_basestring


def _json_text(text: str) -> str:
    """JSON that can be written as UTF-8: a file name that is not UTF-8 holds lone surrogates,
    which are written as JSON escapes (`\\udcff`) instead of failing the run."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


# What must not reach a terminal, a CI log or a document as it is: C0 controls but tab, DEL,
# C1 controls (CSI, OSC...), bidirectional marks, overrides and isolates (they reorder what is
# shown), line and paragraph separators, lone surrogates (file names that are not UTF-8) and
# the two non-characters XML refuses.
# (Patterns as text, compiled by `_compiled` when first used.)
_UNSAFE = (
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
    "\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)
_UNSAFE_BUT_NEWLINE = _UNSAFE.replace("\x0a-\x1f", "\x0b-\x1f")


@functools.cache
def _compiled(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """A regular expression of this module, compiled when first used: a one-file run that
    needs none of them compiles none (compiling them all at import was 3% of its work)."""
    return re.compile(pattern, flags)


_NAMED = {"\n": "\\n", "\r": "\\r"}


def _escape_character(match: re.Match[str]) -> str:
    character = match.group()
    code = ord(character)
    return _NAMED.get(character) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: object, newlines: bool = False) -> str:
    """`text` with control characters written as escapes (`\\x1b`, `\\n`, `\\u202e`), so a
    file name or an identifier cannot colour, move, hide or split a line of output.
    `newlines`: keep line breaks (multi-line SQL fixes)."""
    pattern = _compiled(_UNSAFE_BUT_NEWLINE if newlines else _UNSAFE)
    return pattern.sub(_escape_character, str(text))


# Markdown, outside code spans: what could open a link or an image (`](`), raw HTML or an
# autolink (`<` before a letter, `/`, `!` or `?`); and at the start of the text what could
# open a block (a heading, a quote, a list, a table row, a fence, a thematic break). Code
# spans are kept as they are (nothing renders inside them, and messages use them on purpose:
# `-- <why>`); a backslash is always literal, so it cannot cancel an escape or hide a
# backtick.
_MARKDOWN_INLINE = r"\](?=\()|<(?=[A-Za-z/!?])"
_MARKDOWN_BLOCK_START = r"^(?:[#>+\-*=|~_]|\d+(?=[.)]))"
_BACKTICKS = "`+"
_SPECIAL = r"[\\`]"
_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def _markdown_inline(text: str) -> str:
    out: list[str] = []
    plain_from = 0
    position = 0

    def plain(end: int) -> None:
        out.append(
            _compiled(_MARKDOWN_INLINE).sub(lambda m: "\\" + m.group(), text[plain_from:end])
        )

    # Only a backslash or a backtick needs a look: the text between them is taken whole
    # (a Python step per character was most of a long review's rendering).
    while (special := _compiled(_SPECIAL).search(text, position)) is not None:
        position = special.start()
        character = text[position]
        if character == "\\":
            plain(position)
            escaped = position + 1 < len(text) and text[position + 1] in _PUNCTUATION
            out.append("\\\\" if escaped else "\\")
            position += 1
            plain_from = position
        elif character == "`":
            opening = _compiled(_BACKTICKS).match(text, position)
            assert opening is not None
            run = opening.group()
            closing = next(
                (
                    m
                    for m in _compiled(_BACKTICKS).finditer(text, opening.end())
                    if m.group() == run
                ),
                None,
            )
            plain(position)
            if closing is None:  # no code span: literal backticks, kept from pairing with ours
                out.append("\\`" * len(run))
                position = opening.end()
            else:
                out.append(text[position : closing.end()])
                position = closing.end()
            plain_from = position
    plain(len(text))
    return "".join(out)


def markdown_text(text: object, cell: bool = False) -> str:
    """`text` (an identifier, a message) as inline Markdown that reads as the same text and
    cannot become a heading, an image, a link or HTML; `cell`: inside a table row."""
    value = _markdown_inline(printable(text))
    start = _compiled(_MARKDOWN_BLOCK_START).match(value)
    if start:  # `\#`, or `1\.` for a list number (a backslash escapes punctuation only)
        cut = start.end() if start.group()[0].isdigit() else 0
        value = value[:cut] + "\\" + value[cut:]
    if cell:
        value = value.replace("|", "\\|")
    return value


def markdown_code(text: object, cell: bool = False) -> str:
    """`text` as an inline code span, whatever backticks it holds; `cell`: inside a table row
    (where GitHub reads `\\|` as a pipe even in code)."""
    value = printable(text)
    longest = max((len(run) for run in re.findall("`+", value)), default=0)
    fence = "`" * (longest + 1)
    if value.startswith("`") or value.endswith("`") or longest:
        value = f" {value} "
    if cell:
        value = value.replace("|", "\\|")
    return f"{fence}{value}{fence}"


def markdown_block(text: object, language: str = "") -> str:
    """`text` as a fenced code block that no line of it can close early."""
    value = printable(text, newlines=True)
    longest = max((len(run) for run in re.findall("`+", value)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{value}\n{fence}"


MARKDOWN_FILTERS: dict[str, Callable[..., str]] = {
    "md": markdown_text,
    "md_cell": lambda text: markdown_text(text, cell=True),
    "code": markdown_code,
    "code_cell": lambda text: markdown_code(text, cell=True),
    "codeblock": markdown_block,
}


def _environment() -> Any:
    """The Jinja environment of the built-in templates (compiled each run: the cache holds no
    code)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(data_dir("templates")),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["printable"] = printable
    return env


def render_text(
    run: LintRun,
    fail_on: str,
    color: bool,
    statistics_only: bool = False,
    show_source: bool = False,
    show_fixes: bool = False,
) -> str:
    """One line a finding (or, with `statistics_only`, a line a rule), then the settings
    the run used and the summary. `show_source`: under each finding, its line with the span
    marked; `show_fixes`: its fix."""
    env = _environment()

    def paint(text: object, style: str) -> str:
        if not color or style not in _COLORS:
            return str(text)
        return f"{_COLORS[style]}{text}{_RESET}"

    env.filters["paint"] = paint
    template = env.get_template("lint.txt.jinja")
    findings: list[Finding] = [] if statistics_only else run.result.findings
    extras: list[str] = []
    if show_source or show_fixes:
        sources = {source.display: source for source in run.sources}
        for finding in findings:
            source = sources.get(finding.file) if show_source else None
            excerpt = _excerpt(source, finding, paint) if source is not None else ""
            fix = ""
            if show_fixes and finding.fix:
                lines = printable(finding.fix.strip("\n"), newlines=True).splitlines()
                fix = "  fix:\n" + "".join(f"    {line}\n" for line in lines)
            extras.append(excerpt + fix + "\n")
    numbers = summary(run, fail_on)
    return str(
        template.render(
            findings=findings,
            extras=extras,
            statistics=statistics(run) if statistics_only else None,
            summary=numbers,
            settings=settings_line(numbers["settings"]) if numbers["settings"] else "",
            quiet=run.quiet,
        )
    )


# Tabs in a source line are shown as this many spaces, so that the marks line up under it.
_TAB = 4


def _excerpt(source: SourceFile, finding: Finding, paint: Callable[[object, str], str]) -> str:
    """A finding's first line of source, numbered, with its span marked (`^`) under it: to
    the finding's end on that line, or to the end of the line."""
    text = source.line_text(finding.line).rstrip("\r")
    start = finding.column - 1
    end = finding.end_column if finding.end_line == finding.line else len(text.rstrip())
    shown = printable(text).expandtabs(_TAB)
    before = len(printable(text[:start]).expandtabs(_TAB))
    width = max(1, len(printable(text[:end]).expandtabs(_TAB)) - before)
    number = str(finding.line)
    gutter = " " * len(number)
    marks = paint("^" * width, finding.severity)
    return f"  {number} | {shown}\n  {gutter} | {' ' * before}{marks}\n"


def rule_rows(rules: Sequence[Rule]) -> list[dict[str, Any]]:
    """The catalogue as data: `schema-review rules --format json`."""
    return [
        {
            "id": r.id,
            "title": r.title,
            "severity": r.severity,
            "category": r.category,
            "default": r.enabled,
            "dialects": list(r.dialects),
            "target": r.target,
            "fix": r.fix is not None,
            "options": r.options,
        }
        for r in rules
    ]


def render_rules_markdown(rules: Sequence[Rule]) -> str:
    """The rule catalogue as Markdown (docs/rules.md), grouped by category."""
    ordered = sorted(rules, key=lambda r: (r.category, r.id))
    categories: dict[str, list[Rule]] = {}
    for rule in ordered:
        categories.setdefault(rule.category, []).append(rule)
    env = _environment()
    env.filters.update(MARKDOWN_FILTERS)  # option types and defaults go in table cells
    template = env.get_template("rules.md.jinja")
    options = {rule.id: option_rows(rule) for rule in ordered}
    return str(template.render(rules=ordered, categories=categories, options=options))


def option_rows(rule: Rule) -> list[tuple[str, str, str]]:
    """(name, type, default as JSON) of each option of a rule, for the catalogue."""
    import json

    from schema_review.rules.options import describe_type, option_type

    return [
        (name, describe_type(option_type(rule.option_types, rule.options, name)), json.dumps(value))
        for name, value in rule.options.items()
    ]


def render_explain(rule: Rule) -> str:
    """One rule in full, for `schema-review explain RULE`."""
    template = _environment().get_template("explain.txt.jinja")
    return str(
        template.render(rule=rule, profile=dict(rule.example_profile), options=option_rows(rule))
    )


# GitHub refuses comments over 65,536 characters; leave room for what a bot adds.
PR_COMMENT_LIMIT = 60_000
BUILTIN_REPORTS = ("review", "pr-comment", "summary")


class TemplateNotFound(Exception):
    """A report template that cannot be used: not found, outside the folders templates may
    come from, failing, or over a limit. Says which template and, when known, where."""


# A template file larger than this is not a template.
TEMPLATE_FILE_LIMIT = 1 << 20


def _repository_roots() -> list[Path]:
    """Where a configured templates folder may be: the working directory, and the git
    repository around it."""
    cwd = Path.cwd().resolve()
    roots = [cwd]
    for folder in (cwd, *cwd.parents):
        if (folder / ".git").exists():
            roots.append(folder)
            break
    return roots


def _template_loader(folders: list[Path]) -> Any:
    """A Jinja loader that reads templates from `folders` only: a name that leads out of its
    folder (`..`, an absolute path, a symbolic link to elsewhere) is refused, and so is
    anything but a regular file of at most TEMPLATE_FILE_LIMIT bytes."""
    from jinja2 import BaseLoader
    from jinja2 import TemplateNotFound as Missing
    from jinja2.loaders import split_template_path

    roots = [folder.resolve() for folder in folders]

    class FolderLoader(BaseLoader):
        def get_source(self, environment: Any, template: str) -> tuple[str, str, Any]:
            pieces = split_template_path(template)  # refuses `..`
            for root in roots:
                candidate = root.joinpath(*pieces)
                try:
                    real = candidate.resolve(strict=True)
                except (OSError, RuntimeError):
                    continue  # not there (or a loop of links): try the next folder
                if not real.is_relative_to(root):
                    raise TemplateNotFound(
                        f"template {template}: {candidate} leads outside {root}"
                        " (a symbolic link): templates are read from their folder only"
                    )
                info = real.stat()
                if not stat.S_ISREG(info.st_mode):
                    raise TemplateNotFound(f"template {template}: {candidate} is not a file")
                if info.st_size > TEMPLATE_FILE_LIMIT:
                    raise TemplateNotFound(
                        f"template {template}: {candidate} is larger than "
                        f"{TEMPLATE_FILE_LIMIT:,} bytes"
                    )
                try:
                    text = real.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as error:
                    raise TemplateNotFound(f"template {template}: {error}") from None
                return text, str(candidate), lambda: True
            raise Missing(template)

    return FolderLoader()


def _report_environment(folders: list[Path], limit: int) -> Any:
    """The sandbox user templates run in: the rules' bounded sandbox, with the templates'
    limits, and the Markdown escaping filters."""
    from jinja2 import StrictUndefined

    from schema_review.rules.sandbox import BoundedSandbox

    env = BoundedSandbox(
        limit,
        loader=_template_loader(folders),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    for name, function in MARKDOWN_FILTERS.items():
        env.filters[name] = env.bounded_filter(name, function)
    env.filters["printable"] = env.bounded_filter("printable", printable)
    # `tojson` writes the report's lazy sequences of rows (LazyRows) as the lists they read as.
    env.policies["json.dumps_kwargs"] = {
        **env.policies.get("json.dumps_kwargs", {}),
        "default": _json_default,
    }
    return env


def _json_default(value: Any) -> Any:
    from schema_review.report import LazyRows

    if isinstance(value, LazyRows):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _template_error(name: str, error: BaseException) -> TemplateNotFound:
    """A located message for an error a template raised."""
    import traceback

    from jinja2 import TemplateNotFound as Missing
    from jinja2 import TemplateSyntaxError

    from schema_review.rules.sandbox import LimitExceeded

    if isinstance(error, TemplateNotFound):
        return error
    if isinstance(error, Missing):
        return TemplateNotFound(f"template {name}: {error.message} not found")
    if isinstance(error, TemplateSyntaxError):
        where = f"{error.filename or name}:{error.lineno}"
        return TemplateNotFound(f"template {where}: {error.message}")
    # Jinja rewrites a failing template's frames to point at its lines: the last one is where.
    where = name
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename.endswith(".jinja"):
            where = f"{frame.filename}:{frame.lineno}"
    if isinstance(error, RecursionError):
        reason = "recursion too deep"
    elif isinstance(error, MemoryError):
        reason = "out of memory"
    elif isinstance(error, LimitExceeded) or type(error).__module__.startswith("jinja2"):
        reason = str(error)
    else:
        reason = f"{type(error).__name__}: {error}"
    return TemplateNotFound(f"template {where}: {reason}")


def render_report(report: Report, template: str = "review", folder: Path | None = None) -> str:
    """The text `write_report` writes."""
    pieces: list[str] = []
    write_report(report, pieces.append, template, folder)
    return "".join(pieces)


class ReportWriteError(Exception):
    """Writing a rendered piece of a report failed (`error`, an OSError): not the
    template's fault."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def write_report(
    report: Report,
    write: Callable[[str], object],
    template: str = "review",
    folder: Path | None = None,
) -> None:
    """A report rendered by a built-in template (`review`, `pr-comment`, `summary`), by a
    template of the configured `folder` (which may override those), or by a template file.

    Templates run in the bounded sandbox (see rules/sandbox.py) and see only the report; they
    are read from the template file's folder, the configured folder (which must lie in the
    repository) and the built-in templates, never through a link out of them; a render has a
    time budget and an output limit. Every failure is a TemplateNotFound naming the template;
    an OSError of `write` is a ReportWriteError.
    The text goes to `write` in pieces as it is rendered (a pull request comment, which may
    be rendered again shorter, once it fits): a long history's review is tens of megabytes,
    which held until the end were the peak of its memory. A failure can come after some
    pieces were written: the caller keeps them from the reader (see cli._emit_report).
    """
    from schema_review.rules.sandbox import (
        RENDER_SECONDS,
        TEMPLATE_OUTPUT_LIMIT,
        LimitExceeded,
        limited,
    )

    folders = [data_dir("templates")]
    name = f"{template}.md.jinja"
    if folder is not None:
        resolved = folder.resolve()
        roots = _repository_roots()
        if not any(resolved.is_relative_to(root) for root in roots):
            raise TemplateNotFound(
                f"templates folder {folder}: outside the repository ({roots[-1]}): templates"
                " are read from the repository only"
            )
        folders.insert(0, folder)
    if template not in BUILTIN_REPORTS and folder is not None and (folder / name).is_file():
        pass  # a template the configured folder adds
    elif template not in BUILTIN_REPORTS:
        path = Path(template)
        if not path.is_file():
            raise TemplateNotFound(
                f"template {template}: not a file, nor one of {', '.join(BUILTIN_REPORTS)}"
            )
        folders.insert(0, path.absolute().parent)
        name = path.name
    from schema_review.report import FindingRows

    data = report.as_dict()
    # The output limit stops a runaway template, not a long history's review (200,000
    # statements make one of about 50 MB): it grows with the findings.
    limit = max(TEMPLATE_OUTPUT_LIMIT, OUTPUT_PER_FINDING * len(data["findings"]))
    env = _report_environment(folders, limit)
    gate_rank = SEVERITIES.index(report.fail_on) if report.fail_on in SEVERITIES else -1
    gate: Sequence[dict[str, Any]]
    rest: Sequence[dict[str, Any]]
    findings = data["findings"]
    if isinstance(findings, FindingRows):  # rows made when read, not all at once here
        gate = findings.where(lambda f: SEVERITIES.index(f.severity) <= gate_rank)
        rest = findings.where(lambda f: SEVERITIES.index(f.severity) > gate_rank)
    else:
        # One pass: `f not in gate` compared every finding with every other (quadratic).
        gate, rest = [], []
        for finding in findings:
            below_gate = SEVERITIES.index(finding["severity"]) > gate_rank
            (rest if below_gate else gate).append(finding)
    # The groups of findings not among the top issues, severest first: what a comment
    # collapses by rule, and shortens from the end when it is too long.
    top = {g["rule"] for g in data["top_issues"]}
    others = [g for s in data["sections"] for g in s["groups"] if g["rule"] not in top]
    pinned = len(data["findings"]) - sum(g["count"] for g in others)
    shown = len(gate) + len(rest)

    def written(piece: str) -> None:
        try:
            write(piece)
        except OSError as error:
            raise ReportWriteError(error) from None

    try:
        with limited(RENDER_SECONDS):
            compiled = env.get_template(name)
            while True:
                data["gate_findings"] = gate[:shown]
                data["other_findings"] = rest[: max(0, shown - len(gate))]
                data["collapsed"] = _collapsed(others, shown - pinned)
                data["omitted"] = len(gate) + len(rest) - shown
                if template != "pr-comment":
                    _render_bounded(compiled, data, limit, written)
                    return
                pieces: list[str] = []
                _render_bounded(compiled, data, limit, pieces.append)
                length = sum(map(len, pieces))
                if length <= PR_COMMENT_LIMIT or shown <= pinned:
                    for piece in pieces:
                        written(piece)
                    return
                # Too long: show fewer findings (the lower-severity ones go first), say how
                # many.
                shown = max(pinned, min(shown - 1, int(shown * PR_COMMENT_LIMIT / length * 0.95)))
    except ReportWriteError:
        raise
    except (Exception, LimitExceeded) as error:  # the template's, not ours: say where
        raise _template_error(name, error) from None


def _collapsed(groups: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """The groups with the first `budget` of their findings, in order (a group cut short
    keeps its count: the comment says how many it holds)."""
    kept = []
    for group in groups:
        if budget <= 0:
            break
        shown = group["findings"][:budget]
        budget -= len(shown)
        kept.append({**group, "shown_findings": shown})
    return kept


# Characters a report template may write per finding beyond TEMPLATE_OUTPUT_LIMIT (the
# review writes about 300 per finding it lists; its sections of rules repeat less).
OUTPUT_PER_FINDING = 4_000


def _render_bounded(
    template: Any, data: dict[str, Any], limit: int, write: Callable[[str], object]
) -> None:
    """Render, the text's pieces to `write` in order, stopping as soon as the output is over
    `limit` characters (`output_too_long`, the LimitExceeded `check_output` raises)."""
    from schema_review.rules.sandbox import output_too_long

    # Jinja yields pieces of a few characters: joined a thousand at a time, few calls. A
    # long one (a long history's fix block is megabytes) goes on its own, a megabyte at a
    # time: not copied into a join, nor encoded whole by the file it goes to.
    chunks: list[str] = []
    size = 0
    for chunk in template.generate(report=data):
        size += len(chunk)
        if size > limit:
            raise output_too_long(size, limit)
        if len(chunk) < _LONG_PIECE:
            chunks.append(chunk)
            if len(chunks) >= 1024:
                write("".join(chunks))
                chunks.clear()
            continue
        if chunks:
            write("".join(chunks))
            chunks.clear()
        for start in range(0, len(chunk), _LONG_PIECE):
            write(chunk[start : start + _LONG_PIECE])
    write("".join(chunks))


_LONG_PIECE = 1 << 20


# Severities as code scanning, GitHub annotations and GitLab Code Quality name them.
_SARIF_LEVELS = {
    "critical": "error",
    "high": "error",
    "medium": "warning",
    "low": "note",
    "info": "note",
}
_GITHUB_LEVELS = {
    "critical": "error",
    "high": "error",
    "medium": "warning",
    "low": "notice",
    "info": "notice",
}
_GITLAB_SEVERITIES = {
    "critical": "critical",
    "high": "major",
    "medium": "minor",
    "low": "info",
    "info": "info",
}


def repository_url() -> str | None:
    """The project's repository (`Repository` of `[project.urls]` in pyproject.toml, from the
    installed package's metadata), or None when the package is not installed."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        urls = metadata("schema-review").get_all("Project-URL") or []
    except PackageNotFoundError:
        return None
    for entry in urls:
        label, _, url = str(entry).partition(",")
        if label.strip().lower() == "repository":
            return url.strip().rstrip("/")
    return None


def render_sarif(run: LintRun, fail_on: str) -> str:
    """SARIF 2.1.0 for code scanning: the run's rules with their help, results with locations
    and the fingerprints that keep a result identified across commits."""
    from urllib.parse import quote

    from schema_review import __version__

    rules = sorted(run.rules, key=lambda r: r.id)
    index = {r.id: i for i, r in enumerate(rules)}
    home = repository_url()
    env = _environment()
    env.filters.update(MARKDOWN_FILTERS)
    # The rule's section of docs/rules.md, without its heading (the same template).
    section = env.get_template("rule.md.jinja").module.section
    builtin = data_dir("rules").resolve()
    descriptors = []
    for r in rules:
        descriptor: dict[str, Any] = {
            "id": r.id,
            "name": r.title,
            "shortDescription": {"text": r.title},
            "fullDescription": {"text": " ".join(r.why.split())},
            "help": {
                "text": " ".join(r.why.split())
                + (f" Does not apply: {' '.join(r.notes.split())}" if r.notes else ""),
                "markdown": str(section(r, option_rows(r))).strip() + "\n",
            },
            "defaultConfiguration": {"level": _SARIF_LEVELS[r.severity]},
            "properties": {"category": r.category, "severity": r.severity},
        }
        # Built-in rules have a section in docs/rules.md (a team's rules have none there).
        if home and Path(r.source).resolve().parent == builtin:
            descriptor["helpUri"] = f"{home}/blob/main/docs/rules.md#{r.id}"
        descriptors.append(descriptor)
    results = []
    for f in run.result.findings:
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "level": _SARIF_LEVELS[f.severity],
            "message": {"text": f.message + (f"\n\nFix:\n{f.fix}" if f.fix else "")},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {
                            # The file name's own bytes, also when they are not UTF-8.
                            "uri": quote(
                                Path(f.file).as_posix(), safe="/", errors="surrogateescape"
                            )
                        },
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.column,
                            "endLine": f.end_line,
                            "endColumn": f.end_column + 1,
                        },
                    }
                }
            ],
            "partialFingerprints": {"schemaReview/v1": f.fingerprint},
            "properties": {"severity": f.severity, "category": f.category},
        }
        if f.rule in index:
            result["ruleIndex"] = index[f.rule]
        if f.object:
            result["properties"]["object"] = f.object
        results.append(result)
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "schema-review",
                        "version": __version__,
                        **({"informationUri": home} if home else {}),
                        "rules": descriptors,
                    }
                },
                "results": results,
                # Columns count characters, not UTF-16 units (GitHub's default otherwise).
                "columnKind": "unicodeCodePoints",
                "properties": {"summary": summary(run, fail_on)},
            }
        ],
    }
    return _json_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def render_gitlab(run: LintRun) -> str:
    """GitLab Code Quality: a list of issues with fingerprints."""
    issues = [
        {
            "description": f"[{f.rule}] {f.message}",
            "check_name": f.rule,
            "fingerprint": f.fingerprint,
            "severity": _GITLAB_SEVERITIES[f.severity],
            "categories": [f.category],
            "location": {"path": Path(f.file).as_posix(), "lines": {"begin": f.line}},
        }
        for f in run.result.findings
    ]
    return _json_text(json.dumps(issues, indent=2, ensure_ascii=False) + "\n")


def _github_data(text: object) -> str:
    # Line breaks are encoded (a workflow command is one line); other controls escaped.
    encoded = printable(text, newlines=True).replace("%", "%25")
    return encoded.replace("\r", "%0D").replace("\n", "%0A")


def _github_property(text: object) -> str:
    return _github_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(run: LintRun, fail_on: str) -> str:
    """GitHub Actions workflow commands: an annotation per finding, then the summary."""
    env = _environment()
    env.filters["gh_data"] = _github_data
    env.filters["gh_property"] = _github_property
    template = env.get_template("lint.github.jinja")
    return str(
        template.render(
            findings=run.result.findings, levels=_GITHUB_LEVELS, summary=summary(run, fail_on)
        )
    )


def render_junit(run: LintRun, fail_on: str) -> str:
    """JUnit XML: a test case per finding, failed when the finding is at or above the gate and
    skipped below it (it is reported, and does not fail the run); a passing case per file
    without findings."""
    from xml.sax.saxutils import escape, quoteattr

    env = _environment()
    # Characters XML 1.0 cannot hold at all (most controls, lone surrogates) are escaped
    # first, so the document is always well-formed.
    env.filters["xml"] = lambda text: escape(printable(text, newlines=True))
    env.filters["xml_attr"] = lambda text: quoteattr(printable(text, newlines=True))
    by_file: dict[str, list[Finding]] = {}
    for source in run.sources:
        by_file.setdefault(source.display, [])
    for finding in run.result.findings:
        by_file.setdefault(finding.file, []).append(finding)
    template = env.get_template("lint.junit.xml.jinja")
    gating = sum(at_gate(f.severity, fail_on) for f in run.result.findings)
    return str(
        template.render(
            files=by_file,
            summary=summary(run, fail_on),
            at_gate=lambda f: at_gate(f.severity, fail_on),
            failures=gating,
            skipped=len(run.result.findings) - gating,
        )
    )


def render_attribute_reference(sample: Report | None = None) -> str:
    """docs/attributes.md: what rule expressions and report templates can read, generated from
    the model's classes (fields, properties and methods with their types and docstrings, or a
    field's comment) and from the report model; `sample`, a report of a small folder, gives
    the keys of the report's dicts."""
    import inspect

    from schema_review.model import FINAL_KINDS
    from schema_review.model.changes import STATEMENT_KINDS
    from schema_review.report import Report as ReportModel
    from schema_review.rules import loader
    from schema_review.rules.expressions import environment, subject_name
    from schema_review.rules.reference import (
        documented_classes,
        field_comments,
        members,
        subject_classes,
    )

    def cell(text: str) -> str:
        return " ".join(text.split()).replace("|", "\\|")

    def first_paragraph(text: str) -> str:
        return cell(text.split("\n\n")[0])

    def type_text(written: str) -> str:
        return f"`{written}`" if written else ""

    lines = [
        "# What rules and templates can read",
        "",
        "Generated from the model's classes by `schema-review attributes -o docs/attributes.md`"
        " (a test fails when it is stale): their fields, properties and methods, with the types"
        " and docstrings of the source. A rule of your own that reads an attribute missing here"
        " is refused when it loads, at its line; `schema-review test-rules FILE` runs its"
        " examples.",
        "",
        "## Names a rule sees",
        "",
        "Every expression (`when`, `message`, `fix`, `object`) sees the subject under the name"
        " below and as `obj`, `model` (the schema: `SchemaModel`), `profile` (`Profile`),"
        " `options` (the rule's options, by name) and the functions `any`, `all`, `sorted`;"
        " `applies` sees `profile` and `options`. History rules see every incarnation of"
        " objects of their `kinds`, dropped ones included (`obj.previous` is the one before).",
        "",
        "| target | name | class |",
        "|---|---|---|",
    ]
    for target in loader.TARGETS:
        if target in loader.BUILTIN_TARGETS:
            continue
        classes = subject_classes(target, list(FINAL_KINDS) if target == "history" else ())
        names = ", ".join(f"`{c.__name__}`" for c in classes)
        if target == "history":
            names = "the class of each kind below"
        lines.append(f"| `{target}` | `{subject_name(target)}` | {names} |")
    custom = sorted(set(environment().filters) - set(_jinja_default_filters()))
    lines += [
        "",
        f"Filters beyond Jinja's: {', '.join(f'`{f}`' for f in custom)}.",
        "",
        "## Statement kinds",
        "",
        "What a statement rule names in `kinds` (`any`: every statement), and `stmt.kind`.",
        "",
        "| kind | statement |",
        "|---|---|",
    ]
    lines += [f"| `{kind}` | {cell(text)} |" for kind, text in sorted(STATEMENT_KINDS.items())]
    lines += ["", "## Classes", ""]
    for cls in sorted(documented_classes(), key=lambda c: c.__name__):
        lines += [f"### {cls.__name__}", ""]
        # The class's own docstring (not a base's, as inspect.getdoc would give a Record's).
        doc = inspect.cleandoc(cls.__doc__) if cls.__doc__ else None
        if doc and not doc.startswith(f"{cls.__name__}("):  # not the dataclass signature
            lines += [first_paragraph(doc), ""]
        comments = field_comments(cls)
        for base in cls.__mro__[1:]:
            comments = {**field_comments(base), **comments}
        lines += ["| attribute | type | description |", "|---|---|---|"]
        for name, member in members(cls).items():
            label = f"`{name}{member.signature}`"
            text = member.doc if member.kind != "field" else comments.get(name, "")
            lines.append(f"| {label} | {type_text(member.written)} | {first_paragraph(text)} |")
        lines.append("")
    lines += [
        "## What a report template sees",
        "",
        "`report` (`--template FILE`, the `templates` folder), plain data:"
        " `Report.as_dict()`. The keys of its dicts are those of a report of a small folder.",
        "",
        "| attribute | type | keys |",
        "|---|---|---|",
    ]
    data = sample.as_dict() if sample is not None else {}
    hints = ReportModel.__annotations__
    for name in hints:
        keys = ", ".join(f"`{k}`" for k in _keys_of(data.get(name)))
        lines.append(f"| `{name}` | `{hints[name]}` | {keys} |")
    return "\n".join(lines) + "\n"


def _jinja_default_filters() -> list[str]:
    from jinja2.filters import FILTERS

    return list(FILTERS)


def _keys_of(value: Any) -> list[str]:
    """The keys of a dict, or of the dicts of a list (their union, in first-seen order)."""
    from schema_review.report import LazyRows

    items = value if isinstance(value, list | LazyRows) else [value]
    found: dict[str, None] = {}
    for item in items:
        if isinstance(item, dict):
            found.update(dict.fromkeys(str(k) for k in item))
    return list(found)
