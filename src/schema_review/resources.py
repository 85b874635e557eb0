"""Where the built-in rule packs and templates are: inside the installed package, or at
the top of the repository when running from a checkout (an editable install)."""

from __future__ import annotations

import os
from pathlib import Path


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
