"""A test session that is terminated ends as an interrupted one does (a pytest plugin).

SIGTERM (a CI job's timeout, `kill`) and SIGHUP (a closed terminal) would otherwise kill
pytest outright, or, where `exit_on_termination` turned them into SystemExit, fail the one
test they land in while the session goes on: either way the servers the session fixtures
started run on until the job's SIGKILL orphans them. Here the signal ends the session with
pytest's own `Exit`: no further test runs, and the session's fixtures are torn down, so
their servers stop and their directories go.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

import pytest

_replaced: dict[int, Any] = {}


def _terminate(signum: int, frame: FrameType | None) -> None:
    # A second signal while the fixtures are torn down is ignored: the clean-up is what the
    # caller is waiting for (a SIGKILL still ends everything).
    for number in _replaced:
        signal.signal(number, signal.SIG_IGN)
    pytest.exit(f"terminated by {signal.Signals(signum).name}", returncode=128 + signum)


def pytest_configure(config: pytest.Config) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        # Only where nobody chose a handler (a runner may have its own).
        if signum is not None and signal.getsignal(signum) is signal.SIG_DFL:
            _replaced[signum] = signal.signal(signum, _terminate)


def pytest_unconfigure(config: pytest.Config) -> None:
    for signum, handler in _replaced.items():
        signal.signal(signum, handler)
    _replaced.clear()
