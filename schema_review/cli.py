"""The command line: thin, it parses options and calls the pipeline."""

# ruff: noqa: E402 (the collector is held off before the imports below)
from __future__ import annotations

import gc

# Importing click and building the commands makes thousands of objects that live as long as
# the process, and no garbage: the collector's passes over them were 2% of a one-file run.
# It is held off until the commands are built, and what was built is then frozen (left out
# of later passes; see the end of this module).
_COLLECTOR_THRESHOLDS = gc.get_threshold()
gc.set_threshold(0)

import atexit
import codecs
import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

import click

from schema_review import __version__
from schema_review.config import FAIL_ON, ConfigError, Settings, check_pg_version, load_settings
from schema_review.profile import DEPLOYS, DIALECT_NAMES, PLATFORMS, RUNNERS

if TYPE_CHECKING:
    from schema_review.rules import Rule

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2

# The interpreter's last act is a collection over every object still alive (modules, rules,
# the schema model): a twentieth of a one-file run, to free memory the process is about to
# give back whole. Frozen objects are left out of it (atexit runs before it).
atexit.register(gc.freeze)


def _names(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(n.strip() for v in values for n in v.split(",") if n.strip())


def _fail(message: str) -> None:
    click.echo(f"schema-review: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def _internal_error(error: BaseException) -> None:
    """A bug of ours: one line saying so, no traceback (unless asked for)."""
    if os.environ.get("SCHEMA_REVIEW_DEBUG"):
        raise error
    _fail(
        f"internal error: {type(error).__name__}: {error} "
        "(set SCHEMA_REVIEW_DEBUG=1 for the traceback, and please report it)"
    )


class _Guarded(click.Group):
    """The command group: whatever a command raises that it did not foresee is one line on
    standard error and exit 2, never a traceback (and never exit 1, which means findings)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        global _OWN_PROCESS
        # Called with no arguments, the group reads this process's command line: the console
        # script or `python -m schema_review` started the process for it (a caller that
        # passes arguments, such as click's test runner, lives on after the command).
        _OWN_PROCESS = not args and kwargs.get("args") is None
        return super().main(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            # The reader went away (`| head`): stop writing, quietly, as a C tool would.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(141)
        except Exception as error:
            _internal_error(error)


# Whether this process was started for the command (see _Guarded.main).
_OWN_PROCESS = False


def _finish(code: int) -> NoReturn:
    """End a command with `code`. A process started for it ends without taking down what
    the run built object by object (the interpreter frees each at exit: 0.6% of a cold run
    of the corpus, 1.3% with the models a short run keeps, pipeline.KEPT_TEXT), memory the
    system takes back whole. Everything the command writes is written and closed by then;
    standard output and error are flushed here, and the only exit handler is the
    collector's freeze (above)."""
    if _OWN_PROCESS:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _jobs(given: int | None) -> int:
    """The processes a run may share its work among: `--jobs`, 0 for one per CPU, and by
    default one per CPU up to 4 (past that, a run's parts get too small to pay) on Linux,
    where it was measured; elsewhere one unless asked: macOS's system libraries are not safe
    to use in a forked child, which is why its multiprocessing spawns instead."""
    from schema_review.workers import usable_cpus

    if given is None:
        return min(usable_cpus(), 4) if sys.platform.startswith("linux") else 1
    return given or usable_cpus()


def _check_output(output: str | None) -> None:
    """Refuse an output file that cannot be written before the run, not after it (a verify
    run starts a server first): its folder must exist and be writable."""
    if not output or output == "-":
        return
    path = Path(output)
    folder = path.parent
    if path.is_dir():
        _fail(f"{output}: is a folder; -o names the file to write")
    if not folder.is_dir():
        missing = "is not a folder" if folder.exists() else "does not exist"
        _fail(f"{output}: cannot write: the folder {folder} {missing}")
    target = path if path.exists() else folder
    if not os.access(target, os.W_OK):
        _fail(f"{output}: cannot write: permission denied")


def _write(text: str, output: str) -> None:
    """Write an output file; a failure is a one-line error naming it."""
    try:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        _fail(f"{output}: cannot write: {error.strerror or error}")


@contextlib.contextmanager
def _progress_bar() -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on standard error for runs of many files, only on a terminal."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        yield None
        return
    bar: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if total < 200:
            return
        if bar is None:
            bar = click.progressbar(length=total, label="Linting", file=sys.stderr)
            bar.__enter__()
        bar.update(1)

    try:
        yield update
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


class _MigrationPath(click.Path):
    """A path to lint: a file, a folder or `-`. Discovery says what is missing and reading what
    cannot be read (a file that cannot be read is a located problem, its neighbours still
    linted); click's own checks would stat every path once more (a corpus run names 1,500)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return value if isinstance(value, str) else super().convert(value, param, ctx)


_MIGRATION_PATH = _MigrationPath(path_type=str)
# The types of the file options, made once: click names each type in the user's language
# when it is made (gettext, which looks for catalogues on disk every time), and a type holds
# no state of a parameter's.
_FILE = click.Path(dir_okay=False, path_type=str)
_EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=str)


_ALLOW_EMPTY = click.option(
    "--no-error-on-unmatched-pattern",
    "allow_empty",
    is_flag=True,
    help="A folder without migration files is not an error (exit 2 otherwise).",
)


_DEPLOY = click.option(
    "--deploy",
    type=click.Choice(list(DEPLOYS)),
    help="online (the application serves while migrations run; the default) or offline "
    "(it is stopped: findings whose only harm is a lock are info).",
)
_DIALECT = click.option(
    "--dialect",
    type=click.Choice(list(DIALECT_NAMES), case_sensitive=False),
    help="SQL dialect of the migrations (default: detected per history; mariadb is linted as "
    "mysql).",
)


def _settings(config: str | None, paths: tuple[str, ...] = ()) -> Settings:
    """The settings of `--config FILE`, or of the configuration found from the folders of
    `paths` upward to the repository root (from the working directory without paths)."""
    try:
        return load_settings(Path(config) if config else None, paths=paths)
    except ConfigError as error:
        _fail(str(error))
        raise  # unreachable: _fail exits


def _color(choice: str = "auto", output: str | None = None) -> bool:
    """Whether text output is coloured: `--color always|never` decides; with `auto`, never
    when NO_COLOR is set (no-color.org), always on standard output when FORCE_COLOR is set
    (other than 0), else when standard output is a terminal. An output file is coloured only
    with `always`."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR") or (output and output != "-"):
        return False
    if os.environ.get("FORCE_COLOR", "") not in ("", "0"):
        return True
    return sys.stdout.isatty()


def _exclude(settings: Settings, patterns: tuple[str, ...]) -> tuple[str, ...] | None:
    """The configured `exclude` patterns and those of `--exclude` (None: none given)."""
    return (*settings.exclude, *_names(patterns)) if patterns else None


_EXCLUDE = click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    help="Skip the files matching these patterns (comma-separated), besides the configured "
    "`exclude`.",
)


@click.group(cls=_Guarded, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="schema-review")
def main() -> None:
    """Lint SQL migration folders: replay them into a schema and review it."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=_MIGRATION_PATH)
@click.option("--select", multiple=True, help="Only these rules or categories (comma-separated).")
@click.option("--ignore", multiple=True, help="Skip these rules or categories (comma-separated).")
@click.option("--fail-on", type=click.Choice(FAIL_ON), help="Lowest severity that fails the run.")
@click.option(
    "--pg-version",
    help="PostgreSQL major version the migrations run on (default 16).",
)
@click.option(
    "--runner",
    type=click.Choice(list(RUNNERS)),
    help="Migration tool applying the files (default: detected per folder).",
)
@click.option(
    "--platform",
    type=click.Choice(list(PLATFORMS)),
    help="Where the database runs: supabase knows its schemas, roles and exposed tables "
    "(default: detected per folder).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "sarif", "github", "gitlab", "junit"]),
    default="text",
    show_default=True,
    help="text for people; json; sarif (code scanning); github (workflow annotations); "
    "gitlab (Code Quality); junit (CI test reports).",
)
@click.option(
    "-o",
    "--output",
    type=_FILE,
    help="Write the output to this file instead of standard output.",
)
@click.option(
    "--config",
    type=_EXISTING_FILE,
    help="Configuration file (default: nearest .schema-review.yaml or pyproject.toml).",
)
@click.option(
    "--baseline",
    type=_FILE,
    help="Hide the findings recorded in this file (`schema-review baseline`); report new ones.",
)
@click.option(
    "--diff-base",
    metavar="REF",
    help="Report only what changed since this git revision (the pull request's base).",
)
@click.option(
    "--stdin-filename",
    default="<stdin>",
    help="The name findings give SQL read from standard input (PATH `-`).",
)
@click.option("-q", "--quiet", is_flag=True, help="Findings only: no summary line.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the parse and rule caches.")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=0),
    default=None,
    help="Processes a large run shares: the next files parsed while the ones before are "
    "replayed (64 files of 2 KB on average or more), the rules (8,000 statements or more); "
    "the output is the same. 0: one per CPU; 1: one process. Default: one per CPU, at most 4, "
    "on Linux; one elsewhere.",
)
@click.option(
    "--output-format-file",
    "extra_outputs",
    multiple=True,
    metavar="FORMAT=PATH",
    help="Also write FORMAT (a --format, or the report templates review, pr-comment, summary) "
    "to PATH, from the same run; repeatable.",
)
@_EXCLUDE
@click.option(
    "--statistics",
    is_flag=True,
    help="Findings per rule (count, severity, rule, title) instead of one line a finding.",
)
@click.option(
    "--show-source",
    is_flag=True,
    help="Under each finding, its line of SQL with the span marked (text format).",
)
@click.option(
    "--show-fixes",
    is_flag=True,
    help="Under each finding that has one, its fix (text format).",
)
@click.option(
    "--show-settings",
    is_flag=True,
    help="Print the settings the run would use and why (configuration file, dialect, runner, "
    "PostgreSQL version, platform, deploy mode, gate) and exit.",
)
@click.option(
    "--color",
    "color_choice",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Colour the text output: auto (a terminal, or FORCE_COLOR; never with NO_COLOR).",
)
@_ALLOW_EMPTY
@_DEPLOY
@_DIALECT
def lint(
    paths: tuple[str, ...],
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    fail_on: str | None,
    pg_version: str | None,
    runner: str | None,
    platform: str | None,
    output_format: str,
    output: str | None,
    config: str | None,
    baseline: str | None,
    diff_base: str | None,
    stdin_filename: str,
    quiet: bool,
    no_cache: bool,
    jobs: int | None,
    extra_outputs: tuple[str, ...],
    exclude: tuple[str, ...],
    statistics: bool,
    show_source: bool,
    show_fixes: bool,
    show_settings: bool,
    color_choice: str,
    allow_empty: bool,
    deploy: str | None,
    dialect: str | None,
) -> None:
    """Lint migration files and folders (a folder is replayed in apply order).

    Exit status: 0 when no finding reaches the fail-on level, 1 when one does,
    2 for a usage or configuration error.
    """
    _check_output(output)
    also_write = _extra_outputs(extra_outputs)
    # A run builds many long-lived objects and little cyclic garbage: the collector's
    # passes over them are pure overhead (a fifth of the parse time on the corpus).
    gc.disable()
    for flag, given in (
        ("--statistics", statistics),
        ("--show-source", show_source),
        ("--show-fixes", show_fixes),
    ):
        if given and output_format != "text":
            _fail(f"{flag} is for the text format (--format text); {output_format} has no room")
        if given and statistics and flag != "--statistics":
            _fail(f"{flag} shows findings, --statistics counts them: use one or the other")
    if no_cache:
        _without_cache()
    settings = _settings(config, tuple(stdin_filename if p == "-" else p for p in paths))
    settings = settings.with_overrides(
        select=_names(select) or None,
        ignore=(*settings.ignore, *_names(ignore)) if ignore else None,
        fail_on=fail_on,
        dialect=dialect.lower() if dialect else None,
        runner=runner,
        platform=platform,
        deploy=deploy,
        diff_base=diff_base,
        jobs=_jobs(jobs),
        allow_empty=allow_empty or None,
        exclude=_exclude(settings, exclude),
    )
    if pg_version is not None:
        try:
            settings = settings.with_overrides(
                pg_version=check_pg_version(pg_version, "--pg-version")
            )
        except ConfigError as error:
            _fail(str(error))
    if show_settings:
        _show_settings(paths, settings, stdin_filename)
        return
    color = _color(color_choice, output)
    # The same inputs give the same output: a repeated run (pre-commit, CI with a cache)
    # answers from the result cache before importing the parser, the model or the rules.
    key = None
    if "-" not in paths and not diff_base and not also_write:
        shown = (statistics, show_source, show_fixes)
        key = _run_key(paths, settings, (output_format, quiet, color, baseline, *shown))
        cached = _cached_result(key)
        if cached is not None:
            _emit_cached(cached[0], output)
            _finish(cached[1])

    from schema_review.discover import DiscoveryError
    from schema_review.findings import Baseline, BaselineError
    from schema_review.output import (
        json_pieces,
        render_github,
        render_gitlab,
        render_json,
        render_junit,
        render_sarif,
        render_text,
    )
    from schema_review.pipeline import lint as run_lint
    from schema_review.rules import RuleError

    try:
        stdin = sys.stdin.read() if "-" in paths else None
        with _progress_bar() as progress:
            # The outputs lint writes read no schema model (a report written by
            # --output-format-file does).
            run = run_lint(
                paths, settings, stdin, stdin_filename, progress, keep_models=bool(also_write)
            )
        if quiet:
            run.quiet = True
        if baseline:
            run.result = run.result.without(Baseline.load(baseline))
    except (ConfigError, RuleError, DiscoveryError, BaselineError) as error:
        _fail(str(error))
        return
    except Exception as error:  # a bug of ours: say so plainly, no traceback
        _internal_error(error)
        return
    code = EXIT_FINDINGS if run.result.fails(settings.fail_on) else EXIT_CLEAN
    if output_format == "json" and key is None:
        # Nothing to keep for a later run: the text is written as it is made, never held
        # whole (on a long history it is larger than the schema model).
        _write_extra_outputs(run, settings, also_write, baseline)
        _emit_pieces(json_pieces(run, settings.fail_on), output)
        _finish(code)
    if output_format == "json":
        text = render_json(run, settings.fail_on)
    elif output_format == "sarif":
        text = render_sarif(run, settings.fail_on)
    elif output_format == "github":
        text = render_github(run, settings.fail_on)
    elif output_format == "gitlab":
        text = render_gitlab(run)
    elif output_format == "junit":
        text = render_junit(run, settings.fail_on)
    else:
        text = render_text(run, settings.fail_on, color, statistics, show_source, show_fixes)
    _store_result(key, text, code)
    _write_extra_outputs(run, settings, also_write, baseline)
    _emit(text, output)
    _finish(code)


def _show_settings(paths: tuple[str, ...], settings: Settings, stdin_filename: str) -> None:
    """`lint --show-settings`: the configuration file and how it was found, the settings
    that decide the gate, and each history's profile, each value with where it came from."""
    from schema_review.discover import DiscoveryError
    from schema_review.export import history_label
    from schema_review.output import printable
    from schema_review.pipeline import describe_histories, display_path, origin_of, profile_parts

    try:
        histories = describe_histories(paths, settings, stdin_filename)
    except DiscoveryError as error:
        _fail(str(error))
        return
    source = settings.source
    found = settings.origins.get("configuration", "")
    lines = [
        f"configuration: {display_path(source)} ({found})"
        if source
        else "configuration: none (no .schema-review.yaml or [tool.schema-review] from the "
        "linted folders up to the repository root, nor in the working directory)",
    ]

    def row(key: str, value: object, indent: str = "") -> None:
        lines.append(f"{indent}{key + ':':<18}{value}")

    row("fail-on", f"{settings.fail_on} ({origin_of(settings, 'fail-on')})")
    row("select", ", ".join(settings.select) or "the rules on by default")
    row("ignore", ", ".join(settings.ignore) or "nothing")
    row("exclude", ", ".join(settings.exclude) or "nothing")
    ignores = settings.per_file_ignores
    row(
        "per-file-ignores",
        "; ".join(f"{glob}: {', '.join(names)}" for glob, names in ignores.patterns)
        if ignores
        else "nothing",
    )
    row("severity", ", ".join(f"{k}={v}" for k, v in sorted(settings.severity.items())) or "-")
    row("rule-files", ", ".join(display_path(p) for p in settings.rule_files) or "-")
    for migration_set, profile, why in histories:
        count = len(migration_set.files)
        label = history_label(migration_set)
        lines.append(
            f"history {label} ({count} file{'' if count == 1 else 's'}, "
            f"layout {migration_set.convention}):"
        )
        for key, value in profile_parts(profile).items():
            row(key, f"{value} ({why.get(key, 'default')})", "  ")
    click.echo(printable("\n".join(lines), newlines=True))


_LINT_FORMATS = ("text", "json", "sarif", "github", "gitlab", "junit")
_REPORT_FORMATS = ("review", "pr-comment", "summary")


def _extra_outputs(values: tuple[str, ...]) -> list[tuple[str, str]]:
    """`--output-format-file FORMAT=PATH` values, checked before the run."""
    outputs: list[tuple[str, str]] = []
    for value in values:
        name, equals, path = value.partition("=")
        if not equals or not path:
            _fail(f"--output-format-file {value}: expected FORMAT=PATH")
        if name not in (*_LINT_FORMATS, *_REPORT_FORMATS):
            known = ", ".join((*_LINT_FORMATS, *_REPORT_FORMATS))
            _fail(f"--output-format-file {value}: unknown format {name} (one of {known})")
        _check_output(path)
        outputs.append((name, path))
    return outputs


def _write_extra_outputs(
    run: Any, settings: Settings, outputs: list[tuple[str, str]], baseline: str | None
) -> None:
    """Each extra output of one lint run (CI writes SARIF, a comment and a summary from the
    run whose exit status is the gate, instead of linting four times)."""
    if not outputs:
        return
    from schema_review.output import (
        TemplateNotFound,
        render_github,
        render_gitlab,
        render_json,
        render_junit,
        render_report,
        render_sarif,
        render_text,
    )
    from schema_review.report import BaseSide, baseline_side, build_report

    renderers: dict[str, Callable[[], str]] = {
        "text": lambda: render_text(run, settings.fail_on, False),
        "json": lambda: render_json(run, settings.fail_on),
        "sarif": lambda: render_sarif(run, settings.fail_on),
        "github": lambda: render_github(run, settings.fail_on),
        "gitlab": lambda: render_gitlab(run),
        "junit": lambda: render_junit(run, settings.fail_on),
    }
    report = None
    for name, path in outputs:
        if name in renderers:
            _write(renderers[name](), path)
            continue
        try:
            if report is None:
                base: BaseSide | None = baseline_side(baseline, run.rules) if baseline else None
                with _collecting_new_garbage():
                    report = build_report(
                        run, settings.fail_on, None, None, settings.standards, base
                    )
            with _collecting_new_garbage():
                text = render_report(report, name, settings.templates)
            _write(text, path)
        except TemplateNotFound as error:
            _fail(str(error))


# A threshold never reached: the oldest generation is not collected meanwhile.
_NEVER = 1 << 30


@contextlib.contextmanager
def _collecting_new_garbage() -> Iterator[None]:
    """The garbage collector on for what a review builds, the run's long-lived objects left
    out (frozen: never walked). A review prints expressions with pglast, which makes a class
    for each (a reference cycle): with the collector off, a long history's review kept them
    all to the end (about a hundred megabytes at 100,000 statements)."""
    enabled, thresholds = gc.isenabled(), gc.get_threshold()
    gc.freeze()
    # The young generations only: what survives them is the review itself, which lives
    # to the end, and passes over the oldest would walk all of it again and again.
    gc.set_threshold(thresholds[0], thresholds[1], _NEVER)
    gc.enable()
    try:
        yield
    finally:
        if not enabled:
            gc.disable()
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _without_cache() -> None:
    """Turn the caches off for this command only (an in-process caller gets them back)."""
    before = os.environ.get("SCHEMA_REVIEW_NO_CACHE")
    os.environ["SCHEMA_REVIEW_NO_CACHE"] = "1"

    def restore() -> None:
        if before is None:
            os.environ.pop("SCHEMA_REVIEW_NO_CACHE", None)
        else:
            os.environ["SCHEMA_REVIEW_NO_CACHE"] = before

    click.get_current_context().call_on_close(restore)


def _emit(text: str, output: str | None) -> None:
    if output and output != "-":
        _write(text, output)
    else:
        # Colour codes are in the text only when _color decided so: click must not strip them
        # (it does when standard output is not a terminal: FORCE_COLOR, --color always).
        click.echo(text, nl=False, color=True)


def _emit_pieces(pieces: Iterable[str], output: str | None) -> None:
    """`_emit` for a text made piece by piece."""
    if output and output != "-":
        try:
            with open(output, "w", encoding="utf-8") as handle:
                handle.writelines(pieces)
        except OSError as error:
            _fail(f"{output}: cannot write: {error.strerror or error}")
        return
    batch: list[str] = []
    size = 0
    for piece in pieces:
        batch.append(piece)
        size += len(piece)
        if size >= 1 << 20:  # a megabyte at a time: few calls, little held
            click.echo("".join(batch), nl=False, color=True)
            batch, size = [], 0
    click.echo("".join(batch), nl=False, color=True)


def _emit_report(render: Callable[[Callable[[str], object]], None], output: str | None) -> None:
    """`_emit` for a text that `render` hands to its argument piece by piece as it is made.

    Nothing reaches the reader unless all of it was made: the pieces go to a file next to
    the output, which replaces the output at the end (the output keeps its mode), or, for
    standard output, to a temporary file copied out at the end. On a failure (a template's,
    raised on) the file is removed."""
    import tempfile

    from schema_review.output import ReportWriteError

    target = os.path.realpath(output) if output and output != "-" else None
    spool: IO[str]
    try:
        if target is not None:
            spool = tempfile.NamedTemporaryFile(  # noqa: SIM115 (renamed or removed below)
                "w",
                encoding="utf-8",
                dir=os.path.dirname(target),
                prefix=f".{os.path.basename(target)}.",
                suffix=".tmp",
                delete=False,
            )
        else:
            spool = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as error:
        _fail(f"{output}: cannot write: {error.strerror or error}")
        return
    with spool:
        try:
            render(spool.write)
            spool.flush()
            if target is None:
                spool.seek(0)
                while chunk := spool.read(1 << 20):  # a megabyte at a time
                    click.echo(chunk, nl=False, color=True)
                return
            _give_mode(spool.name, target)
            os.replace(spool.name, target)
        except BaseException as error:
            if target is not None:
                with contextlib.suppress(OSError):
                    os.unlink(spool.name)
            if isinstance(error, ReportWriteError):
                error = error.error
            if isinstance(error, OSError):
                _fail(f"{output}: cannot write: {error.strerror or error}")
            raise


def _give_mode(path: str, target: str) -> None:
    """The mode `open(target, "w")` would leave: the existing file's, or a new file's."""
    try:
        mode = os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(path, mode)


class _Unkeyed(Exception):
    """The inputs of a run cannot be told: it is not cached."""


def _run_key(paths: tuple[str, ...], settings: Settings, options: tuple[Any, ...]) -> str | None:
    """A digest of everything a lint run's output depends on, or None when it cannot tell.

    The tool's own code and data (code by modification time and size: an edited checkout
    counts; data by content), the settings and options, the working directory (paths are
    shown relative to it), the migrations as discovery found them, and the content of every
    file the run reads. Contents come from `FileDigests`: a file whose stat is as the last
    run saw it is not read again.
    """
    from schema_review.resources import FileDigests, blake2b, cache_dir, data_dir

    if cache_dir() is None or os.environ.get("SCHEMA_REVIEW_NO_RESULT_CACHE"):
        return None  # the second: the benchmark's "a file changed" runs
    digest = blake2b(digest_size=32, person=b"sr-run")
    cwd = os.getcwd()
    files = FileDigests(cwd)

    def add(*parts: object) -> None:
        for part in parts:
            digest.update(str(part).encode("utf-8", "surrogatepass") + b"\0")

    def add_content(path: str | Path) -> None:
        content = files.digest(path)
        if content is None:
            raise _Unkeyed  # not a regular file, or unreadable: the run says what it is
        digest.update(content)

    try:
        add(__version__, sys.version, cwd, repr(settings), *options)
        _add_tool_code(add, os.path.dirname(os.path.realpath(__file__)))
        _add_libraries(add)
        for folder in (data_dir("rules"), data_dir("templates")):
            for name in sorted(os.listdir(folder)):
                add(name)
                add_content(os.path.join(folder, name))
        for extra in (*settings.rule_files, *(options[3:4] if options[3] else ())):
            add_content(extra)
        contents = [files.digest(path) for path in paths]
        if all(content is not None for content in contents):
            # Files named one by one (a pre-commit hook, a CI job's list): discovery makes
            # them one history in the order given, from nothing but the paths, the working
            # directory and the settings, all in the key; no need to ask it.
            for path, content in zip(paths, contents, strict=True):
                add("file", path)
                digest.update(content or b"")
            if settings.runner == "diesel":
                _add_diesel_metadata(add, add_content, [Path(path) for path in paths])
            _add_neighbours(add, add_content, paths)
        else:
            _add_discovered(add, add_content, paths, settings)
    except (OSError, _Unkeyed):
        return None  # the run itself reports what is wrong
    files.save()
    return digest.hexdigest()


def _add_discovered(
    add: Callable[..., None],
    add_content: Callable[[str | Path], None],
    paths: tuple[str, ...],
    settings: Settings,
) -> None:
    """The histories discovery finds in `paths` and every file of them the run reads."""
    from schema_review.discover import DiscoveryError, detection_files, discover
    from schema_review.profile import DIALECT_NAMES

    dialect = DIALECT_NAMES[settings.dialect] if settings.dialect else None
    try:
        found = discover(
            paths, exclude=settings.exclude, histories=settings.histories, dialect=dialect
        )
    except DiscoveryError:
        raise _Unkeyed from None
    for migration_set in found:
        add(migration_set.root, migration_set.convention, migration_set.dialect)
        if migration_set.journal is not None:
            add_content(migration_set.journal)
        # Prisma's provider and sqlx's driver decide the dialect (discover.detect_dialect).
        for detection in detection_files(migration_set):
            add("detection", detection)
            add_content(detection)
        for migration in migration_set.files:
            add(migration.display)
            add_content(migration.path)
        if settings.runner == "diesel" or (
            not settings.runner and migration_set.convention == "folder-per-migration"
        ):
            _add_diesel_metadata(add, add_content, [m.path for m in migration_set.files])


# Files beside or above named migrations that discovery may read to decide a history's
# dialect or order (discover.detection_files, a drizzle journal), looked for without
# importing discovery: a few more stats, and a changed one only costs a cache miss.
_NEIGHBOURS = ("migration_lock.toml", "Cargo.toml", os.path.join("meta", "_journal.json"))
_NEIGHBOUR_LEVELS = 6  # discover._FOLDER_LEVELS (4) above a history's root, and the root


def _add_neighbours(
    add: Callable[..., None], add_content: Callable[[str | Path], None], paths: tuple[str, ...]
) -> None:
    """The neighbour files (_NEIGHBOURS) of the folders of files named one by one, up to
    the repository root."""
    seen: set[str] = set()
    for path in paths:
        folder = os.path.dirname(os.path.abspath(path))
        for _ in range(_NEIGHBOUR_LEVELS):
            if folder in seen:
                break
            seen.add(folder)
            for name in _NEIGHBOURS:
                candidate = os.path.join(folder, name)
                if os.path.isfile(candidate):
                    add("neighbour", candidate)
                    add_content(candidate)
            parent = os.path.dirname(folder)
            if parent == folder or os.path.exists(os.path.join(folder, ".git")):
                break
            folder = parent


def _add_diesel_metadata(
    add: Callable[..., None], add_content: Callable[[str | Path], None], files: list[Path]
) -> None:
    """diesel's `metadata.toml` beside each migration, which says whether it runs in a
    transaction (profile.file_in_transaction)."""
    for folder in dict.fromkeys(path.parent for path in files):
        metadata = folder / "metadata.toml"
        if os.path.lexists(metadata):
            add("metadata", metadata)
            add_content(metadata)


# The libraries whose upgrade can change a run's output (parsing, rendering, rule files): a
# cached result of the old version must not answer for the new one.
_KEYED_LIBRARIES = ("pglast", "sqlglot", "jinja2", "yaml", "click")


def _add_libraries(add: Callable[..., None]) -> None:
    """Each keyed library's installed location and its top module's size and modification
    time (an upgrade rewrites it), found without importing the library."""
    from importlib.util import find_spec

    for name in _KEYED_LIBRARIES:
        spec = find_spec(name)
        origin = spec.origin if spec is not None else None
        if origin is None or not os.path.isfile(origin):
            add(name, None)
            continue
        info = os.stat(origin)
        add(name, origin, info.st_mtime_ns, info.st_size)


def _add_tool_code(add: Callable[..., None], package: str) -> None:
    """Every file of the installed package (modules, prebuilt rules), by name, size and
    modification time, in a fixed order."""
    folders = [package]
    while folders:
        folder = folders.pop()
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
        for entry in entries:
            if entry.name == "__pycache__":
                continue
            if entry.is_dir():
                folders.append(entry.path)
                continue
            info = entry.stat()
            add(os.path.relpath(entry.path, package), info.st_mtime_ns, info.st_size)


def _cached_result(key: str | None) -> tuple[memoryview, int] | None:
    """The output (UTF-8) and exit status a run with this key gave, if the cache has them."""
    from schema_review.resources import cache_key, load_bytes

    if key is None:
        return None
    # The exit status, a newline, then the output as it was written (checksummed with the
    # key: an entry of another run, or a damaged one, is a miss).
    data = load_bytes(cache_key("results", key))
    status = bytes(data[:2]) if data is not None else b""
    if data is None or status not in (b"0\n", b"1\n"):
        return None
    text = data[2:]
    try:
        str(text, "utf-8")  # an entry that is not UTF-8 text is a miss
    except UnicodeDecodeError:
        return None
    return text, int(status[:1])


def _emit_cached(output: memoryview, path: str | None) -> None:
    """`_emit` for the output of an earlier run: its UTF-8 bytes written as they are where
    that is what writing the text would give (an output file or a UTF-8 standard output,
    without newline translation), decoded and written as text elsewhere."""
    if os.linesep == "\n" and (not path or path == "-"):
        stream = sys.stdout
        encoding = getattr(stream, "encoding", None) or ""
        binary = getattr(stream, "buffer", None)
        if binary is not None and _is_utf8(encoding):
            stream.flush()
            binary.write(output)
            binary.flush()
            return
    elif os.linesep == "\n" and path:
        try:
            with open(path, "wb") as handle:
                handle.write(output)
        except OSError as error:
            _fail(f"{path}: cannot write: {error.strerror or error}")
        return
    _emit(str(output, "utf-8"), path)


def _is_utf8(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False


# How many run results the cache keeps (the newest ones): one per recent state of the files.
_KEPT_RESULTS = 16


def _store_result(key: str | None, text: str, code: int) -> None:
    from schema_review.resources import cache_key, store_bytes

    entry = cache_key("results", key) if key is not None else None
    if entry is None:
        return
    try:
        store_bytes(entry, f"{code}\n".encode() + text.encode("utf-8"))
    except UnicodeEncodeError:
        return
    results = entry.path.parent.parent
    try:
        kept = sorted(results.glob("*/*"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[_KEPT_RESULTS:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only cache is no reason to fail


@main.command("rules")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    help="text: one line a rule; json: a list of objects; markdown: the docs/rules.md catalogue.",
)
@click.option("-o", "--output", type=_FILE, help="Write here.")
@click.option("--config", type=_EXISTING_FILE)
def list_rules(output_format: str, output: str | None, config: str | None) -> None:
    """List the rules: built-in ones and those of the configured rule files."""
    import json

    _check_output(output)

    from schema_review.output import render_rules_markdown, rule_rows

    rules = _load_rules(config)
    if output_format == "json":
        text = json.dumps(rule_rows(rules), indent=2) + "\n"
    elif output_format == "markdown":
        text = render_rules_markdown(rules)
    else:
        # id, severity, category, on/off by default, dialects, title: aligned columns.
        width = max((len(r.id) for r in rules), default=0)
        text = "".join(
            f"{r.id:<{width}}  {r.severity:<8}  {r.category:<13}  "
            f"{'on' if r.enabled else 'off':<3}  {','.join(r.dialects):<8}  {r.title}\n"
            for r in rules
        )
    _emit(text, output)


@main.command("baseline")
@click.argument("paths", nargs=-1, required=True, type=_MIGRATION_PATH)
@click.option(
    "-o",
    "--output",
    required=True,
    type=_FILE,
    help="The baseline file to write (JSON), for `lint --baseline FILE`.",
)
@click.option("--select", multiple=True, help="Rule ids or categories (comma-separated).")
@click.option("--ignore", multiple=True, help="Rule ids or categories to leave out.")
@click.option("--config", type=_EXISTING_FILE)
@_EXCLUDE
@_ALLOW_EMPTY
def write_baseline(
    paths: tuple[str, ...],
    output: str,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    config: str | None,
    exclude: tuple[str, ...],
    allow_empty: bool,
) -> None:
    """Record today's findings, so that `lint --baseline FILE` reports only new ones."""
    import json

    _check_output(output)

    from schema_review.discover import DiscoveryError
    from schema_review.findings import Baseline
    from schema_review.pipeline import lint as run_lint
    from schema_review.rules import RuleError

    gc.disable()
    settings = _settings(config, paths)
    settings = settings.with_overrides(
        select=_names(select) or None,
        ignore=(*settings.ignore, *_names(ignore)) if ignore else None,
        allow_empty=allow_empty or None,
        exclude=_exclude(settings, exclude),
    )
    try:
        run = run_lint(paths, settings)
    except (ConfigError, RuleError, DiscoveryError) as error:
        _fail(str(error))
        return
    document = Baseline.document(run.result.findings)
    _write(json.dumps(document, indent=1) + "\n", output)
    click.echo(f"Recorded {len(document['findings'])} findings in {output}.", err=True)


@main.command("hook")
@click.argument("files", nargs=-1, type=_MIGRATION_PATH)
@click.option("--select", multiple=True, help="Rule ids or categories (comma-separated).")
@click.option("--ignore", multiple=True, help="Rule ids or categories to leave out.")
@click.option("--fail-on", type=click.Choice(FAIL_ON), help="Lowest severity that fails the run.")
@click.option("--config", type=_EXISTING_FILE)
def hook(
    files: tuple[str, ...],
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    fail_on: str | None,
    config: str | None,
) -> None:
    """For pre-commit: lint the folders of FILES, report findings in FILES only.

    The whole folder is replayed so that a staged migration is judged against the schema the
    earlier migrations built; findings in files that were not staged are not shown. The
    committed files are the base (`--diff-base HEAD`): an edited migration that was already
    committed is `modified-applied-migration`, a new one that applies before them
    `migration-out-of-order`.
    """
    from schema_review.discover import DiscoveryError
    from schema_review.output import render_text
    from schema_review.pipeline import lint as run_lint
    from schema_review.rules import RuleError

    gc.disable()
    wanted = {Path(f).resolve() for f in files}
    folders: list[str] = []
    for name in files:
        folder = _migration_folder(Path(name))
        if str(folder) not in folders:
            folders.append(str(folder))
    if not folders:
        return
    settings = _settings(config, tuple(folders)).with_overrides(
        select=_names(select) or None,
        ignore=_names(ignore) or None,
        fail_on=fail_on,
        diff_base=_committed_head(folders[0]),
    )
    try:
        run = run_lint(folders, settings)
    except (ConfigError, RuleError, DiscoveryError) as error:
        _fail(str(error))
        return
    result = run.result
    # The base only adds the history rules: findings already committed stay reported.
    findings = sorted([*result.findings, *result.baselined], key=lambda f: f.sort_key)
    result.baselined = []
    result.findings = [f for f in findings if Path(f.file).resolve() in wanted]
    result.suppressed = [s for s in result.suppressed if Path(s.finding.file).resolve() in wanted]
    if result.findings:
        click.echo(render_text(run, settings.fail_on, _color()), nl=False, color=True)
    _finish(EXIT_FINDINGS if result.fails(settings.fail_on) else EXIT_CLEAN)


def _committed_head(folder: str) -> str | None:
    """`HEAD` when the folder lies in a git repository with a commit (none in a new one)."""
    import subprocess

    try:
        found = subprocess.run(
            ["git", "rev-parse", "-q", "--verify", "HEAD^{commit}"],
            cwd=folder,
            capture_output=True,
            check=False,
        )
    except OSError:  # no git
        return None
    return "HEAD" if found.returncode == 0 else None


def _migration_folder(path: Path) -> Path:
    """The migration folder a file belongs to: `<version>_<name>/up.sql` lives two levels up."""
    parent = path.parent
    if path.name in ("up.sql", "down.sql", "migration.sql") and parent.name[:1].isdigit():
        return parent.parent
    return parent


@main.command("report")
@click.argument("paths", nargs=-1, required=True, type=_MIGRATION_PATH)
@click.option(
    "--template",
    default="review",
    show_default=True,
    help="review, pr-comment, summary, or a template file of your own.",
)
@click.option("-o", "--output", type=_FILE, help="Write here.")
@click.option("--title", help="The document's title.")
@click.option("--date", "date", help="A date to print in the header (none by default).")
@click.option("--select", multiple=True, help="Rule ids or categories (comma-separated).")
@click.option("--ignore", multiple=True, help="Rule ids or categories to leave out.")
@click.option("--fail-on", type=click.Choice(FAIL_ON), help="The gate behind the verdict.")
@click.option("--pg-version", help="PostgreSQL major version (default 16).")
@click.option("--runner", type=click.Choice(list(RUNNERS)), help="Migration tool.")
@click.option("--platform", type=click.Choice(list(PLATFORMS)), help="supabase or postgres.")
@click.option(
    "--diff-base",
    metavar="REF",
    help="Review what changed since this git revision: resolved, new and still open findings.",
)
@click.option(
    "--baseline",
    type=_FILE,
    help="Compare with the findings recorded in this file (`schema-review baseline`).",
)
@click.option(
    "--trace",
    is_flag=True,
    help="Run the migrations on PostgreSQL (as `verify --trace`): the timeline shows the locks "
    "and rewrites measured next to the predicted ones.",
)
@click.option("--database-url", metavar="URL", help="With --trace: the PostgreSQL to run on.")
@click.option("--config", type=_EXISTING_FILE)
@_EXCLUDE
@_ALLOW_EMPTY
@_DEPLOY
@_DIALECT
def report(
    paths: tuple[str, ...],
    template: str,
    output: str | None,
    title: str | None,
    date: str | None,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    fail_on: str | None,
    pg_version: str | None,
    runner: str | None,
    platform: str | None,
    diff_base: str | None,
    baseline: str | None,
    trace: bool,
    database_url: str | None,
    config: str | None,
    exclude: tuple[str, ...],
    allow_empty: bool,
    deploy: str | None,
    dialect: str | None,
) -> None:
    """Write a review document (Markdown) about migration folders."""
    _check_output(output)
    from schema_review.discover import DiscoveryError
    from schema_review.findings import Baseline, BaselineError
    from schema_review.model.schema import statements_only
    from schema_review.output import TemplateNotFound, write_report
    from schema_review.pipeline import lint as run_lint
    from schema_review.report import BaseSide, baseline_side, build_report, review_digest
    from schema_review.rules import RuleError

    gc.disable()
    settings = _settings(config, paths)
    settings = settings.with_overrides(
        select=_names(select) or None,
        ignore=(*settings.ignore, *_names(ignore)) if ignore else None,
        fail_on=fail_on,
        dialect=dialect.lower() if dialect else None,
        runner=runner,
        platform=platform,
        deploy=deploy,
        diff_base=diff_base,
        allow_empty=allow_empty or None,
        exclude=_exclude(settings, exclude),
    )
    try:
        if pg_version is not None:
            settings = settings.with_overrides(
                pg_version=check_pg_version(pg_version, "--pg-version")
            )
        # The review reads a digest of each schema model, taken once the rules ran: the
        # models, most of a long history's memory, go before the findings are built.
        run = run_lint(paths, settings, keep_models=False, digest=review_digest(settings.standards))
        base: BaseSide | None = None
        if baseline:
            run.result = run.result.without(Baseline.load(baseline))
            base = baseline_side(baseline, run.rules)
        with _collecting_new_garbage():
            model = build_report(run, settings.fail_on, title, date, settings.standards, base)
            if trace:
                _measure_timeline(model, run, paths, settings, database_url)
            # The review is plain data: the run goes before its text is made, its schema
            # models emptied first (the collector, which sees only new objects, never
            # frees their cycles), most of a long history's memory.
            # Popped, not looped over: a loop's variable kept the last model alive (for a
            # single history, all of it) through the render.
            while run.models:
                statements_only(run.models.pop())
            del run
            # Written as it is rendered: a long history's review is tens of megabytes.
            _emit_report(
                lambda write: write_report(model, write, template, settings.templates), output
            )
    except (ConfigError, RuleError, DiscoveryError, TemplateNotFound, BaselineError) as error:
        _fail(str(error))
    _finish(EXIT_CLEAN)


def _measure_timeline(
    model: Any, run: Any, paths: tuple[str, ...], settings: Settings, database_url: str | None
) -> None:
    """`report --trace`: each timeline entry (one per file, in run.sources' order) gets what
    PostgreSQL measured for the file: its heaviest lock on an existing table, what it
    rewrote."""
    try:
        from schema_review.verify.run import VerifyError, measured_timeline
        from schema_review.verify.run import verify as run_verify
    except ImportError as error:
        _fail(f"--trace needs the verify extra: pip install 'schema-review[verify]' ({error})")
        return
    try:
        measured = measured_timeline(
            run_verify(paths, settings, database_url=database_url, trace=True)
        )
    except VerifyError as error:
        _fail(str(error))
        return
    for entry, source in zip(model.timeline, run.sources, strict=True):
        entry["measured"] = measured.get(source.display)


@main.command("explain")
@click.argument("rule_id")
@click.option("--config", type=_EXISTING_FILE)
def explain(rule_id: str, config: str | None) -> None:
    """Show a rule: why it matters, when it does not apply, bad and good SQL, the fix."""
    import difflib

    from schema_review.output import render_explain

    rules = {r.id: r for r in _load_rules(config)}
    rule = rules.get(rule_id)
    if rule is None:
        close = difflib.get_close_matches(rule_id, list(rules), n=3, cutoff=0.75)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        _fail(f"unknown rule {rule_id}{hint}; `schema-review rules` lists them")
        return
    click.echo(render_explain(rule), nl=False)


@main.group("config")
def config_group() -> None:
    """Check a configuration file, or print the JSON Schema editors complete it with."""


@config_group.command("check")
@click.argument("file", required=False, type=_FILE)
def config_check(file: str | None) -> None:
    """Validate FILE (default: the configuration lint would use) and print the settings a
    run uses: unknown keys, option types, patterns, rule ids and presets are errors (exit 2)."""
    import yaml

    from schema_review.pipeline import select_rules
    from schema_review.rules import RuleError, load_rules
    from schema_review.rules.options import OptionError, effective_settings

    if file is not None and not Path(file).is_file():
        _fail(f"{file}: no such configuration file")
    settings = _settings(file)
    if settings.source is None:
        _fail("no .schema-review.yaml, nor [tool.schema-review] in pyproject.toml, found")
    try:
        rules = load_rules(settings.rule_files)
        shown = effective_settings(settings, rules, select_rules(rules, settings))
    except (ConfigError, RuleError) as error:
        _fail(str(error))
        return
    except OptionError as error:
        _fail(f"{settings.source}: {error}")
        return
    click.echo(f"# {shown['configuration']}: valid")
    text = yaml.safe_dump(shown, sort_keys=False, allow_unicode=True, default_flow_style=None)
    click.echo(text, nl=False)


@config_group.command("schema")
@click.option("-o", "--output", type=_FILE, help="Write here.")
def config_schema_command(output: str | None) -> None:
    """Print the JSON Schema of the configuration (the package ships it as
    schema_review/schema-review.schema.json)."""
    import json

    from schema_review.rules import load_rules
    from schema_review.rules.options import config_schema

    _check_output(output)
    _emit(json.dumps(config_schema(load_rules()), indent=2) + "\n", output)


@main.command("schema")
@click.argument("paths", nargs=-1, required=True, type=_MIGRATION_PATH)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["sql", "json", "mermaid"]),
    default="sql",
    show_default=True,
    help="sql: DDL PostgreSQL accepts; json: the structure of docs/schema-json.md; "
    "mermaid: an ER diagram.",
)
@click.option(
    "-o",
    "--output",
    type=_FILE,
    help="Write to this file instead of standard output.",
)
@click.option("--pg-version", help="PostgreSQL major version the migrations run on.")
@click.option("--runner", type=click.Choice(list(RUNNERS)), help="Migration tool (detected).")
@click.option("--platform", type=click.Choice(list(PLATFORMS)), help="Platform (detected).")
@click.option("--config", type=_EXISTING_FILE)
@_ALLOW_EMPTY
@_DIALECT
def schema(
    paths: tuple[str, ...],
    output_format: str,
    output: str | None,
    pg_version: str | None,
    runner: str | None,
    platform: str | None,
    config: str | None,
    allow_empty: bool,
    dialect: str | None,
) -> None:
    """Print the schema the migrations build (one per migration history), without a database.

    Nothing is linted: the files are discovered, parsed and replayed, and the final schema
    is printed as SQL, JSON or a Mermaid ER diagram.
    """
    _check_output(output)
    from schema_review.discover import DiscoveryError
    from schema_review.export import history_label, mermaid, schema_document, schema_sql
    from schema_review.pipeline import replay_histories

    settings = _settings(config, paths).with_overrides(
        runner=runner,
        platform=platform,
        allow_empty=allow_empty or None,
        dialect=dialect.lower() if dialect else None,
    )
    try:
        if pg_version is not None:
            settings = settings.with_overrides(
                pg_version=check_pg_version(pg_version, "--pg-version")
            )
        histories = replay_histories(paths, settings)
    except (ConfigError, DiscoveryError) as error:
        _fail(str(error))
        return
    documents = [
        (schema_document(h.model, history_label(h.migration_set)), h.model) for h in histories
    ]
    if output_format == "json":
        import json

        text = json.dumps([d for d, _ in documents], indent=2) + "\n"
    elif output_format == "mermaid":
        diagrams = [(d["history"], mermaid(d)) for d, _ in documents]
        if len(diagrams) == 1:
            text = diagrams[0][1]
        else:  # several diagrams: a Markdown page, one fenced block per history
            text = "".join(f"## {label}\n\n```mermaid\n{body}```\n\n" for label, body in diagrams)
    else:
        text = "\n".join(schema_sql(d, model) for d, model in documents)
    _emit(text, output)


@main.command("verify")
@click.argument("paths", nargs=-1, required=True, type=_MIGRATION_PATH)
@click.option(
    "--database-url",
    metavar="URL",
    help="A PostgreSQL to verify on (postgresql://...): each run creates a database in it and "
    "drops it. Default: a throwaway embedded server.",
)
@click.option(
    "--pg-version",
    help="PostgreSQL major version the migrations run on: an installed server of that version "
    "is used when there is one (default: the embedded PostgreSQL).",
)
@click.option(
    "--trace",
    is_flag=True,
    help="Measure what each statement on an existing table does: locks, rewrites, scans.",
)
@click.option("--runner", type=click.Choice(list(RUNNERS)), help="Migration tool (detected).")
@click.option("--platform", type=click.Choice(list(PLATFORMS)), help="Platform (detected).")
@click.option("--fail-on", type=click.Choice(FAIL_ON), help="Lowest severity that fails the run.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "sarif", "github", "gitlab", "junit"]),
    default="text",
    show_default=True,
    help="As for lint; json adds the server, and with --trace the trace.",
)
@click.option(
    "-o",
    "--output",
    type=_FILE,
    help="Write the output to this file instead of standard output.",
)
@click.option("-q", "--quiet", is_flag=True, help="Findings only: no summary, no timing.")
@click.option("--config", type=_EXISTING_FILE)
@_ALLOW_EMPTY
@_DEPLOY
def verify(
    paths: tuple[str, ...],
    database_url: str | None,
    pg_version: str | None,
    trace: bool,
    runner: str | None,
    platform: str | None,
    fail_on: str | None,
    output_format: str,
    output: str | None,
    quiet: bool,
    config: str | None,
    allow_empty: bool,
    deploy: str | None,
) -> None:
    """Run the migrations on a real PostgreSQL and report what it says.

    The files are applied to a fresh database as their runner applies them: each failure is
    a fails-on-postgres finding with PostgreSQL's message, and the catalog is compared with
    the schema lint replays. Nothing is left behind: the server (or, with --database-url,
    the database) is removed afterwards.

    Exit status: 0 when no finding reaches the fail-on level, 1 when one does, 2 for a usage
    or configuration error, or when no server could be used.
    """
    _check_output(output)
    import time

    try:
        from schema_review.verify.run import VerifyError
        from schema_review.verify.run import verify as run_verify
    except ImportError as error:  # the optional extra is missing
        _fail(f"verify needs the verify extra: pip install 'schema-review[verify]' ({error})")
        return
    from schema_review.discover import DiscoveryError
    from schema_review.rules import RuleError

    if "-" in paths:
        _fail("verify applies migration files: standard input (-) is for lint")
    gc.disable()
    settings = _settings(config, paths).with_overrides(
        fail_on=fail_on,
        runner=runner,
        platform=platform,
        deploy=deploy,
        allow_empty=allow_empty or None,
    )
    try:
        if pg_version is not None:
            settings = settings.with_overrides(
                pg_version=check_pg_version(pg_version, "--pg-version")
            )
        started = time.perf_counter()
        result = run_verify(paths, settings, database_url=database_url, trace=trace)
    except (ConfigError, RuleError, DiscoveryError, VerifyError) as error:
        _fail(str(error))
        return
    except Exception as error:  # a server error we did not foresee, or a bug: no traceback
        if os.environ.get("SCHEMA_REVIEW_DEBUG"):
            raise
        _fail(f"verify failed: {type(error).__name__}: {error}")
        return
    text = _render_verification(result, settings.fail_on, output_format, output, quiet, trace)
    _emit(text, output)
    if not quiet:
        files = max(result.files, 1)
        click.echo(
            f"schema-review verify: server start {result.start_seconds:.1f} s, "
            f"{result.files} files in {result.apply_seconds:.1f} s "
            f"({1000 * result.apply_seconds / files:.0f} ms a file), "
            f"{time.perf_counter() - started:.1f} s in all",
            err=True,
        )
    sys.exit(EXIT_FINDINGS if result.run.result.fails(settings.fail_on) else EXIT_CLEAN)


def _render_verification(
    result: Any, fail_on: str, output_format: str, output: str | None, quiet: bool, trace: bool
) -> str:
    from schema_review.output import (
        printable,
        render_github,
        render_gitlab,
        render_json,
        render_junit,
        render_sarif,
        render_text,
    )
    from schema_review.verify.run import render_server_line, render_trace_text

    run = result.run
    run.quiet = quiet
    if output_format == "json":
        extra = result.summary()
        if trace:
            extra["trace"] = [t.to_dict() for t in result.traces]
        return render_json(run, fail_on, {"verify": extra})
    if output_format == "sarif":
        return render_sarif(run, fail_on)
    if output_format == "github":
        return render_github(run, fail_on)
    if output_format == "gitlab":
        return render_gitlab(run)
    if output_format == "junit":
        return render_junit(run, fail_on)
    color = _color(output=output)
    head = render_trace_text(result, printable) if trace else ""
    if not quiet:
        head += render_server_line(result)
    return head + render_text(run, fail_on, color)


@main.command("test-rules")
@click.argument("files", nargs=-1, required=True, type=_FILE)
def test_rules(files: tuple[str, ...]) -> None:
    """Run the examples of the rules in FILES, as semgrep --test does: each rule's bad example
    must raise it and its good example must not (both must parse).

    One line a rule, pass or FAIL with why. Exit status: 0 when every rule passes, 1 when one
    fails, 2 when a file cannot be loaded (a malformed rule, an unknown statement kind, an
    attribute the model does not have: located at its line).
    """
    from schema_review.rules import RuleError, builtin_rules_dir, load_rule_file, load_rules
    from schema_review.rules.loader import rule_location

    gc.disable()
    rules: list[Rule] = []
    builtin = builtin_rules_dir().resolve()
    paths: list[Path] = []  # files of the team's: the built-in ones are always loaded
    try:
        for name in files:
            path = Path(name).resolve()
            if not path.is_file():
                _fail(f"{name}: no such rule file")
            rules += load_rule_file(Path(name))
            if path.parent != builtin:
                paths.append(path)
        load_rules(paths)  # ids must not collide with the built-in rules or each other
    except RuleError as error:
        _fail(str(error))
    failed = skipped = 0
    for rule in rules:
        problems = _example_problems(rule, tuple(paths))
        if problems is None:
            skipped += 1
            status = "skip (its findings come from `verify` or the pipeline, not examples)"
        elif problems:
            failed += 1
            status = "FAIL: " + "; ".join(problems)
        else:
            status = "pass"
        click.echo(f"{rule_location(rule)}: {rule.id}: {status}")
    passed = len(rules) - failed - skipped
    click.echo(f"{len(rules)} rules: {passed} passed, {failed} failed, {skipped} skipped")
    sys.exit(EXIT_FINDINGS if failed else EXIT_CLEAN)


# The folder whose report gives docs/attributes.md the keys of the report's dicts: a table
# without a key, a foreign key without an index, a policy, a function and a heavy lock.
_SAMPLE_MIGRATIONS = (
    (
        "0001_accounts.sql",
        "-- schema-review: ignore-file prefer-jsonb-over-json -- a sample\n"
        "CREATE TABLE accounts (id bigint PRIMARY KEY, email text, created_at timestamp);\n"
        "CREATE TABLE events (account_id bigint REFERENCES accounts (id), payload json);\n"
        "ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;\n"
        "CREATE POLICY own ON accounts USING (id = current_setting('app.id')::bigint);\n"
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS\n"
        "$$ BEGIN NEW.created_at := now(); RETURN NEW; END $$;\n"
        "CREATE TRIGGER touch BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION touch();\n",
    ),
    ("0002_index.sql", "CREATE INDEX accounts_email_idx ON accounts (email);\n"),
)


@main.command("attributes")
@click.option("-o", "--output", type=_FILE, help="Write here.")
def attributes(output: str | None) -> None:
    """The reference of what rule expressions and report templates can read (Markdown),
    generated from the model: docs/attributes.md."""
    import tempfile

    from schema_review.config import Settings
    from schema_review.output import render_attribute_reference
    from schema_review.pipeline import lint as run_lint
    from schema_review.report import build_report

    _check_output(output)
    with tempfile.TemporaryDirectory(prefix="schema-review-attributes-") as scratch:
        for name, text in _SAMPLE_MIGRATIONS:
            (Path(scratch) / name).write_text(text, encoding="utf-8")
        run = run_lint([scratch], Settings(select=("all",)))
        sample = build_report(run, "high", "Sample", None)
    _emit(render_attribute_reference(sample), output)


def _example_problems(rule: Rule, rule_files: tuple[Path, ...]) -> list[str] | None:
    """What is wrong with a rule's examples, linted as its tests are (its example profile and
    options; `base` files committed first and compared with --diff-base); None when a rule's
    findings do not come from its expression."""
    import re
    import subprocess
    import tempfile

    from schema_review.config import Settings
    from schema_review.discover import DiscoveryError
    from schema_review.pipeline import lint as run_lint
    from schema_review.rules import RuleError

    if not rule.evaluated:
        return None

    def split(sql: str) -> list[tuple[str, str]]:
        # `-- file: NAME` starts another file of the example (README, Writing rules).
        parts = re.split(r"^-- file: (\S+)[ \t]*\n", sql, flags=re.MULTILINE)
        if len(parts) == 1:
            return [("0001_example.sql", sql)]
        files = list(zip(parts[1::2], parts[2::2], strict=True))
        return ([("0000_example.sql", parts[0])] if parts[0].strip() else []) + files

    def write(folder: Path, files: list[tuple[str, str]]) -> None:
        for name, text in files:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text, encoding="utf-8")

    problems: list[str] = []
    profile = dict(rule.example_profile)
    with tempfile.TemporaryDirectory(prefix="schema-review-test-rules-") as scratch:
        for which in ("bad", "good"):
            folder = Path(scratch) / which
            folder.mkdir()
            diff_base = None
            if "base" in rule.examples:
                write(folder, split(rule.examples["base"]))
                identity = ["-c", "user.name=schema-review", "-c", "user.email=test@invalid"]
                for command in (["init", "-q"], ["add", "."], [*identity, "commit", "-qm", "b"]):
                    subprocess.run(["git", *command], cwd=folder, check=True, capture_output=True)
                for old in folder.glob("**/*.sql"):
                    old.unlink()
                diff_base = "HEAD"
            write(folder, split(rule.examples[which]))
            settings = Settings(
                select=(rule.id, "parse-error"),
                rule_files=rule_files,
                rule_options={rule.id: rule.example_options} if rule.example_options else {},
                pg_version=profile.get("pg_version"),
                runner=profile.get("runner"),
                platform=profile.get("platform"),
                diff_base=diff_base,
                allow_empty=True,
            )
            try:
                run = run_lint([folder], settings)
            except (ConfigError, RuleError, DiscoveryError) as error:
                problems.append(f"{which} example: {error}")
                continue
            fired = [f for f in run.result.findings if f.rule == rule.id]
            broken = [f for f in run.result.findings if f.rule == "parse-error"]
            if broken and rule.id != "parse-error":
                problems.append(f"{which} example does not parse: {broken[0].message}")
            if which == "bad" and not fired:
                problems.append("the bad example raises nothing")
            if which == "good" and fired:
                problems.append(f"the good example raises it: {fired[0].message}")
    return problems


def _load_rules(config: str | None) -> list[Rule]:
    from schema_review.rules import RuleError, load_rules

    settings = _settings(config)
    try:
        return load_rules(settings.rule_files)
    except RuleError as error:
        _fail(str(error))
        raise  # unreachable: _fail exits


# The commands are built (see the top of this module): the objects alive now live to the end
# of the process, frozen, and the collector runs again as it did.
gc.freeze()
gc.set_threshold(*_COLLECTOR_THRESHOLDS)
