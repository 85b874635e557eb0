"""The README's Usage block lists every command and every flag that `--help` shows, and nothing
that no longer exists: the two cannot drift apart."""

from __future__ import annotations

import re

import click
import pytest

from schema_review.cli import main
from tests.helpers import REPO


def usage_block() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Usage\n\n```\n(.*?)^```", readme, re.MULTILINE | re.DOTALL)
    assert match, "README.md has no Usage block"
    return match.group(1)


def commands(
    group: click.Group = main, prefix: tuple[str, ...] = ()
) -> dict[tuple[str, ...], click.Command]:
    """Every command a user can run, by its words (`("config", "check")`)."""
    found: dict[tuple[str, ...], click.Command] = {}
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if command is None or command.hidden:
            continue
        if isinstance(command, click.Group):
            found.update(commands(command, (*prefix, name)))
        else:
            found[(*prefix, name)] = command
    return found


def documented() -> dict[tuple[str, ...], str]:
    """The Usage block's text of each command: its line and the indented lines after it."""
    entries: dict[tuple[str, ...], str] = {}
    words: tuple[str, ...] | None = None
    known = commands()
    for line in usage_block().splitlines():
        if line.startswith("schema-review "):
            parts = line.split()[1:]
            words = next(
                (k for k in sorted(known, key=len, reverse=True) if tuple(parts[: len(k)]) == k),
                tuple(parts[:1]),
            )
            entries[words] = entries.get(words, "") + line + "\n"
        elif words is not None:
            entries[words] += line + "\n"
    return entries


def flags(command: click.Command) -> list[tuple[str, ...]]:
    """The flags `--help` shows for a command, each with all its names (`-o`, `--output`)."""
    names = []
    for param in command.get_params(click.Context(command)):
        if isinstance(param, click.Option) and not param.hidden and "--help" not in param.opts:
            names.append((*param.opts, *param.secondary_opts))
    return names


def test_every_command_is_in_the_usage_block() -> None:
    missing = [" ".join(words) for words in commands() if words not in documented()]
    assert missing == [], f"commands missing from the README's Usage: {', '.join(missing)}"
    unknown = [" ".join(words) for words in documented() if words not in commands()]
    assert unknown == [], f"the README's Usage names commands that do not exist: {unknown}"


@pytest.mark.parametrize("words", list(commands()), ids=lambda words: " ".join(words))
def test_every_flag_is_in_the_usage_block(words: tuple[str, ...]) -> None:
    text = documented().get(words, "")
    command = commands()[words]
    written = set(re.findall(r"(?<![\w-])--?[a-zA-Z][\w-]*", text))
    # Written under any of its names; named by its longest.
    missing = [max(names, key=len) for names in flags(command) if not set(names) & written]
    assert missing == [], (
        f"schema-review {' '.join(words)}: flags missing from the README's Usage: "
        + ", ".join(missing)
    )
    params = command.get_params(click.Context(command))
    real = {name for p in params if isinstance(p, click.Option) for name in p.opts}
    real |= {name for p in params if isinstance(p, click.Option) for name in p.secondary_opts}
    stale = sorted(written - real - {"--help", "-h"})
    assert stale == [], f"schema-review {' '.join(words)}: the Usage names unknown flags {stale}"
