"""A terminated test session stops at once and still tears its fixtures down
(tests/termination.py): the servers the session fixtures start never outlive it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

_SESSION = """
import os, signal, time
import pytest

@pytest.fixture(scope="session")
def server():
    yield
    with open(os.environ["TORN_DOWN"], "w") as marker:
        marker.write("torn down")

def test_terminated(server):
    os.kill(os.getpid(), signal.SIG{name})
    time.sleep(30)

def test_after():
    with open(os.environ["TORN_DOWN"] + ".after", "w") as marker:
        marker.write("ran")
"""


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")
@pytest.mark.parametrize("name", ["TERM", "HUP"])
def test_a_terminated_session_stops_and_tears_down(tmp_path: Path, name: str) -> None:
    test_file = tmp_path / "test_session.py"
    test_file.write_text(_SESSION.replace("{name}", name))
    marker = tmp_path / "marker"
    root = Path(__file__).resolve().parent.parent
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.termination",
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            str(tmp_path),
            str(test_file),
        ],
        cwd=root,
        env={**os.environ, "TORN_DOWN": str(marker), "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=20,
    )
    signum = getattr(signal, f"SIG{name}")
    assert process.returncode == 128 + signum, process.stdout + process.stderr
    assert f"terminated by SIG{name}" in process.stdout + process.stderr
    assert marker.read_text() == "torn down"  # the session fixture's clean-up ran
    assert not (tmp_path / "marker.after").exists()  # and no later test did
