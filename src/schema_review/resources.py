"""Where the built-in rule packs and templates are: inside the installed package, or at
the top of the repository when running from a checkout (an editable install)."""

from __future__ import annotations

from pathlib import Path


def data_dir(name: str) -> Path:
    packaged = Path(__file__).resolve().parent / "_data" / name
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / name
