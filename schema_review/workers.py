"""Work shared between forked processes (`lint --jobs N`), with the results of one process.

Two ways: `ahead` computes a sequence's items in workers ahead of this process, which takes
them in order as it needs them (the parse of a history's files, while this process replays
the files before); `share` splits a batch of parts among all processes (the rules).

The work is cut in numbered parts. `share` forks N - 1 workers; each process (this one
included) takes the next chunk of parts until none is left, so a process that finishes early
takes more. A worker sends its parts' results back as plain data on a pipe of its own and
exits; this process puts every part's result in its place. The caller merges them in part
order, so what it builds does not depend on who did what.

Forking, not spawning: a worker starts with what this process has loaded (the imports, the
rules, the replayed model), shares its memory until written, and needs nothing pickled but
its results.

A part a worker does not send back (the worker died, raised, or its result cannot be sent)
is done here: a failure costs time, never results, and an error is raised here as in a
single process. Without `os.fork` (Windows), or with one job, everything is done here. No
worker outlives `share`: each is waited for, and killed first when this process leaves
early (an error, Ctrl-C).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from typing import Any, TypeVar

_R = TypeVar("_R")


class WorkerStats:
    """What one `share` or `ahead` cost, for measuring the gain (bench): this process's CPU
    seconds in `share` (`merging` of them: taking the workers' results in), and each
    worker's, as the system counted them (an `ahead` worker's run beside this process)."""

    __slots__ = ("kind", "merging", "parent", "workers")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.parent = 0.0
        self.merging = 0.0
        self.workers: list[float] = []


# The stats of each `share` of this process, oldest first (a run shares once or twice).
STATS: list[WorkerStats] = []


def can_fork() -> bool:
    return hasattr(os, "fork")


def usable_cpus() -> int:
    """The CPUs this process may run on: those it is allowed (affinity), no more than a
    container's CPU quota (cgroup v2 `cpu.max`) grants; at least one."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        count = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as limits:
            quota, period = limits.read().split()[:2]
        if quota != "max":
            count = min(count, max(1, int(quota) // int(period)))
    except (OSError, ValueError):  # no cgroup v2, or no quota
        pass
    return max(1, count)


def share(
    parts: int,
    jobs: int,
    do: Callable[[int], _R],
    encode: Callable[[int, _R], Any] | None = None,
    decode: Callable[[int, Any], _R] | None = None,
    chunks: int = 0,
) -> list[_R]:
    """`[do(0), do(1), ..., do(parts - 1)]`, the parts shared among `jobs` processes.

    A worker sends `encode(part, result)` (the result itself by default: it must pickle),
    turned back here by `decode(part, data)`. `chunks`: how many chunks the parts are taken
    in (one part a chunk by default); at most 255."""
    if jobs < 2 or parts < 2 or not can_fork():
        return [do(part) for part in range(parts)]
    return _Shared(parts, jobs, do, encode, decode, chunks or parts).results()


class _Shared:
    def __init__(
        self,
        parts: int,
        jobs: int,
        do: Callable[[int], Any],
        encode: Callable[[int, Any], Any] | None,
        decode: Callable[[int, Any], Any] | None,
        chunks: int,
    ) -> None:
        self.parts = parts
        self.jobs = jobs
        self.do = do
        self.encode = encode
        self.decode = decode
        # A chunk's token is one byte: at most 255 chunks, of consecutive parts.
        count = max(1, min(chunks, parts, 255))
        self.bounds = [parts * i // count for i in range(count + 1)]

    def results(self) -> list[Any]:
        import time

        stats = WorkerStats("share")
        started = time.process_time()
        done: dict[int, Any] = {}
        sent: dict[int, Any] = {}
        workers = self._start()
        try:
            for part in self._taken():
                done[part] = self.do(part)
            merging = time.process_time()
            for _, pipe in workers:
                # Each part read back as it comes: only one part's data at a time.
                for part, data in _received(pipe):
                    try:
                        sent[part] = self._decoded(part, data)
                    except Exception:  # data this process cannot read back: done here
                        continue
        finally:
            stats.workers = _stop(workers)
            os.close(self.tokens)
        results: list[Any] = []
        for part in range(self.parts):
            if part in done:
                results.append(done[part])
            elif part in sent:
                results.append(sent.pop(part))
            else:  # the worker failed on it, or could not send it: done here
                results.append(self.do(part))
        stats.parent = time.process_time() - started
        stats.merging = time.process_time() - merging
        STATS.append(stats)
        return results

    def _decoded(self, part: int, data: Any) -> Any:
        return data if self.decode is None else self.decode(part, data)

    def _start(self) -> list[tuple[int, int]]:
        """Fork the workers. The chunks' tokens are bytes in a pipe all processes read: a
        process takes a chunk by reading its byte (no two read the same byte). Each worker
        sends its results back on a pipe of its own. A pipe or fork that fails leaves the
        work to the processes there are (this one at least)."""
        self.tokens, tokens_in = os.pipe()
        os.write(tokens_in, bytes(range(len(self.bounds) - 1)))  # under 256 bytes: one write
        os.close(tokens_in)
        workers: list[tuple[int, int]] = []
        for _ in range(self.jobs - 1):
            try:
                result, result_in = os.pipe()
            except OSError:  # no more files
                break
            try:
                pid = os.fork()
            except OSError:  # no more processes
                os.close(result)
                os.close(result_in)
                break
            if pid == 0:  # the worker: never returns
                os.close(result)
                for _, pipe in workers:  # its elder siblings' pipes are not its own
                    os.close(pipe)
                self._work(result_in)
            os.close(result_in)
            workers.append((pid, result))
        return workers

    def _taken(self) -> Iterator[int]:
        """The parts this process takes, a chunk at a time, until none is left."""
        while True:
            token = os.read(self.tokens, 1)
            if not token:
                return
            yield from range(self.bounds[token[0]], self.bounds[token[0] + 1])

    def _work(self, out: int) -> None:
        """A worker's life: do the parts it takes, send back those it can as data, exit.
        It writes nothing else anywhere, and leaves without running exit handlers or
        flushing buffers (they are its parent's: caches, output not yet written)."""
        status = 1
        try:
            import gc

            gc.disable()  # a collection writes to every object: pages copied for nothing
            import pickle

            # Each part's result pickled once done, `(part, data)`, and kept so until the
            # parent reads them: on a long history, far smaller than the objects.
            pickled: list[bytes] = []
            for part in self._taken():
                try:
                    result = self.do(part)
                    data = result if self.encode is None else self.encode(part, result)
                    pickled.append(pickle.dumps((part, data), pickle.HIGHEST_PROTOCOL))
                except Exception:  # done again by the parent, which raises it if it must
                    continue
                del result, data
            for piece in pickled:
                view = memoryview(piece)
                while view:
                    view = view[os.write(out, view) :]
            status = 0
        finally:
            os._exit(status)


def ahead(
    count: int, jobs: int, do: Callable[[int], _R], chunk: int = 8
) -> Generator[_R, None, None]:
    """`do(0)`, `do(1)`, ... `do(count - 1)`, in order, computed by `jobs - 1` forked workers
    while the caller works on the items before (worker k does the chunks of `chunk` items
    k, k + jobs - 1, ...). An item a worker does not send (it failed, or the result does not
    pickle) is done here, and so is every later item of a worker that died or sent what
    cannot be read. A caller that stops early closes the iterator: the workers are killed."""
    if jobs < 2 or count < 2 or not can_fork():
        for item in range(count):
            yield do(item)
        return
    stats = WorkerStats("ahead")
    workers: list[tuple[int, int]] = []
    readers: list[Any] = []
    try:
        for k in range(min(jobs - 1, -(-count // chunk))):
            try:
                result, result_in = os.pipe()
            except OSError:
                break
            try:
                pid = os.fork()
            except OSError:
                os.close(result)
                os.close(result_in)
                break
            if pid == 0:  # the worker: never returns
                os.close(result)
                for _, pipe in workers:
                    os.close(pipe)
                _work_ahead(result_in, range(count), k, jobs - 1, chunk, do)
            os.close(result_in)
            workers.append((pid, result))
            readers.append(os.fdopen(result, "rb", closefd=False))
        alive = [True] * len(workers)
        for item in range(count):
            owner = (item // chunk) % (jobs - 1)
            if owner < len(workers) and alive[owner]:
                sent = _frame(readers[owner])
                if sent is not None and sent[0] == item:
                    if sent[1]:
                        yield sent[2]
                        continue
                else:  # it died, or sent something else: the rest of its items are here
                    alive[owner] = False
            yield do(item)
    finally:
        for reader in readers:
            reader.close()
        stats.workers = _stop(workers)
        STATS.append(stats)


_LENGTH = 8  # a frame's length: 8 bytes, little-endian


def _work_ahead(
    out: int, items: range, k: int, workers: int, chunk: int, do: Callable[[int], Any]
) -> None:
    """An `ahead` worker's life: its items in order, each sent in a frame as soon as done
    (`(item, True, result)`, or `(item, False, None)` when it failed or does not pickle),
    then exit without running exit handlers or flushing buffers (its parent's)."""
    status = 1
    try:
        import gc
        import pickle

        gc.disable()
        for start in range(k * chunk, len(items), workers * chunk):
            for item in items[start : start + chunk]:
                try:
                    data = pickle.dumps((item, True, do(item)), pickle.HIGHEST_PROTOCOL)
                except Exception:
                    data = pickle.dumps((item, False, None), pickle.HIGHEST_PROTOCOL)
                view = memoryview(len(data).to_bytes(_LENGTH, "little") + data)
                while view:
                    view = view[os.write(out, view) :]
        status = 0
    finally:
        os._exit(status)


def _frame(reader: Any) -> tuple[int, bool, Any] | None:
    """The next frame a worker sent, or None when there is none (it died) or it is not
    one `_work_ahead` writes."""
    import pickle

    try:
        header = reader.read(_LENGTH)
        if len(header) != _LENGTH:
            return None
        size = int.from_bytes(header, "little")
        data = reader.read(size)
        if len(data) != size:
            return None
        frame = pickle.loads(data)
    except Exception:
        return None
    if type(frame) is not tuple or len(frame) != 3 or type(frame[0]) is not int:
        return None
    return frame


def _received(pipe: int) -> Iterator[tuple[int, Any]]:
    """What a worker sent, `(part, data)` for each of its parts, as they are read; the parts
    before a failure (the worker died midway, or sent what cannot be read)."""
    import pickle

    with os.fdopen(pipe, "rb", closefd=False) as reader:
        while True:
            try:
                sent = pickle.load(reader)
            except Exception:  # the end (EOFError), or what cannot be read
                return
            if type(sent) is not tuple or len(sent) != 2 or type(sent[0]) is not int:
                return
            yield sent


def _stop(workers: list[tuple[int, int]]) -> list[float]:
    """Leave no worker behind: one still running (this process is leaving early) is
    killed; each is waited for. The workers' CPU seconds, as the system counted them."""
    import contextlib
    import signal

    seconds: list[float] = []
    for pid, pipe in workers:
        os.close(pipe)
        with contextlib.suppress(OSError):  # harmless when it has exited: not reaped yet
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            if hasattr(os, "wait4"):
                _, _, usage = os.wait4(pid, 0)
                seconds.append(usage.ru_utime + usage.ru_stime)
            else:  # pragma: no cover - a system with fork but no wait4
                os.waitpid(pid, 0)
    return seconds
