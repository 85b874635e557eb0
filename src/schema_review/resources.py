"""Where the built-in rule packs and templates are: inside the installed package, or at
the top of the repository when running from a checkout (an editable install)."""

from __future__ import annotations

import marshal
import os
from pathlib import Path
from typing import Any


def data_dir(name: str) -> Path:
    packaged = Path(__file__).resolve().parent / "_data" / name
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / name


def cache_dir() -> Path | None:
    """Where results that depend only on their inputs are kept between runs (None: no cache).

    `SCHEMA_REVIEW_NO_CACHE` (or `--no-cache`) turns caching off, `SCHEMA_REVIEW_CACHE_DIR`
    moves it; by default `$XDG_CACHE_HOME/schema-review` or `~/.cache/schema-review`.
    """
    if os.environ.get("SCHEMA_REVIEW_NO_CACHE"):
        return None
    configured = os.environ.get("SCHEMA_REVIEW_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "schema-review"


def load_cached(path: Path | None) -> Any:
    """A value stored by `store_cached`, or None when there is none (or it cannot be read)."""
    if path is None:
        return None
    try:
        return marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None


def store_cached(path: Path | None, value: Any) -> None:
    """Keep `value` (what marshal can hold) at `path`; a value it cannot hold is not kept."""
    if path is None:
        return
    try:
        data = marshal.dumps(value)
    except ValueError:
        return
    write_atomically(path, data)


def write_atomically(path: Path, data: bytes) -> bool:
    """Write a cache file whole or not at all (runs in parallel may write the same one).

    A read-only or full cache is no reason to fail a run: False says it was not written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(data)
        temporary.replace(path)
    except OSError:
        return False
    return True
