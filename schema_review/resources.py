"""Where the built-in rule packs and templates are (inside the installed package, or at the
top of the repository when running from a checkout), and the cache between runs.

The cache holds data only (parse results, rule files' data, run outputs), never code. Each
entry carries a checksum over its key and its content: an entry that was truncated, flipped,
copied from another key or written by another version is a miss, never a wrong answer. The
cache folder is used only when it belongs to the user and nobody else can write to it.
"""

from __future__ import annotations

import marshal
import os
import stat
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from schema_review.records import Record

if TYPE_CHECKING:
    from hashlib import blake2b as blake2b
    from hashlib import sha256 as sha256
else:
    # hashlib's own BLAKE2b and SHA-256, without `import hashlib`, which loads OpenSSL: a
    # twelfth of the instructions of a run the result cache answers, 3% of a one-file run.
    try:
        from _blake2 import blake2b as blake2b
    except ImportError:  # another Python than CPython
        from hashlib import blake2b as blake2b
    try:
        from _sha2 import sha256 as sha256  # Python 3.12+
    except ImportError:
        try:
            from _sha256 import sha256 as sha256  # Python 3.11
        except ImportError:  # another Python than CPython
            from hashlib import sha256 as sha256


def data_dir(name: str) -> Path:
    packaged = Path(__file__).resolve().parent / "_data" / name
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[1] / name


# Whether each cache folder seen in this process may be used (its checks cost a system call
# or two; `cache_dir` is asked many times).
_usable: dict[str, bool] = {}


def cache_dir() -> Path | None:
    """Where results that depend only on their inputs are kept between runs (None: no cache).

    `SCHEMA_REVIEW_NO_CACHE` (or `--no-cache`) turns caching off, `SCHEMA_REVIEW_CACHE_DIR`
    moves it; by default `$XDG_CACHE_HOME/schema-review` or `~/.cache/schema-review`. A folder
    owned by another user, or that group or others can write to, is not used (a notice says
    so once).
    """
    if os.environ.get("SCHEMA_REVIEW_NO_CACHE"):
        return None
    configured = os.environ.get("SCHEMA_REVIEW_CACHE_DIR")
    if configured:
        folder = Path(configured)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        folder = Path(base) / "schema-review"
    usable = _usable.get(str(folder))
    if usable is None:
        usable = _usable[str(folder)] = _check_folder(folder)
    return folder if usable else None


def _check_folder(folder: Path) -> bool:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except OSError:
        return False  # a read-only home: run without a cache, as before
    problem = ""
    if not stat.S_ISDIR(info.st_mode):
        problem = "not a folder"
    elif hasattr(os, "getuid") and info.st_uid != os.getuid():
        problem = "owned by another user"
    elif os.name == "posix" and info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problem = f"writable by group or others (chmod go-w {folder})"
    if problem:
        print(f"schema-review: notice: cache {folder} not used: {problem}", file=sys.stderr)
        return False
    return True


# The first bytes of every entry: the layout below. Another layout is another magic.
_MAGIC = b"srcache1"
_CHECKSUM_SIZE = 32


class CacheKey(Record):
    """Where an entry lives, and the digest of everything it depends on."""

    _fields = ("path", "digest")
    __slots__ = _fields

    path: Path
    digest: bytes

    def __init__(self, path: Path, digest: bytes) -> None:
        self.path = path
        self.digest = digest


def cache_key(area: str, *parts: str | bytes) -> CacheKey | None:
    """The key of an entry of `area` (`parse`, `rules`, `results`) that depends on `parts`;
    None when caching is off."""
    folder = cache_dir()
    if folder is None:
        return None
    digest = blake2b(area.encode(), digest_size=32, person=b"schema-review")
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        # Lengths keep ("ab", "c") and ("a", "bc") apart.
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    key = digest.digest()
    name = key.hex()
    return CacheKey(folder / area / name[:2] / name[2:40], key)


def _checksum(key: CacheKey, payload: bytes | memoryview) -> bytes:
    digest = blake2b(key.digest, digest_size=_CHECKSUM_SIZE, person=b"sr-entry")
    digest.update(payload)
    return digest.digest()


def load_bytes(key: CacheKey | None) -> memoryview | None:
    """The content stored under `key`, or None: no entry, or one that fails its checksum.
    A view, not a copy: a run's output can be megabytes."""
    if key is None:
        return None
    try:
        with open(key.path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    header = len(_MAGIC) + _CHECKSUM_SIZE
    if len(data) < header or not data.startswith(_MAGIC):
        return None
    payload = memoryview(data)[header:]
    if data[len(_MAGIC) : header] != _checksum(key, payload):
        return None
    return payload


def store_bytes(key: CacheKey | None, payload: bytes) -> None:
    if key is not None:
        write_atomically(key.path, _MAGIC + _checksum(key, payload) + payload)


def load_cached(key: CacheKey | None) -> Any:
    """A value stored by `store_cached`, or None when there is none (or it fails its checks).

    The value is data (the caller checks its shape); marshal builds objects, it runs nothing.
    """
    payload = load_bytes(key)
    if payload is None:
        return None
    try:
        return marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None


def store_cached(key: CacheKey | None, value: Any) -> None:
    """Keep `value` (plain data marshal can hold) under `key`; other values are not kept."""
    if key is None:
        return
    try:
        payload = marshal.dumps(value)
    except ValueError:
        return
    store_bytes(key, payload)


def write_atomically(path: Path, data: bytes) -> bool:
    """Write a cache file whole or not at all (runs in parallel may write the same one).

    A read-only or full cache is no reason to fail a run: False says it was not written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temporary.write_bytes(data)
        temporary.replace(path)
    except OSError:
        return False
    return True


# A file changed less than this long before a run started is hashed again by the next run,
# not known by its stat: a second change within the same tick of the file system's clock
# would leave its stat as it was (git's "racy" files). Longer than the coarsest file
# system clocks (FAT: 2 s).
_SETTLED_NS = 3_000_000_000
_DIGESTS_FORMAT = "1"
# How many files one working directory's list remembers; past it, the files of the last run.
_MAX_DIGESTS = 20_000
# Larger files are not hashed (the run refuses them: pipeline.MAX_FILE_BYTES).
_MAX_HASHED = 64 * 1024 * 1024

# A file as os.stat sees it: device, inode (which file), size, modification and change
# times in nanoseconds (which state of it).
_STAT_KEY = struct.Struct("<QQqqq")
_IDENTITY = 16  # the first bytes of a stat key: device and inode


class FileDigests:
    """Digests of files' content, remembered between runs by what `os.stat` says of each
    file (device, inode, size, modification and change time), as git's index does: a file
    whose stat is as remembered is not read again; any other is read and hashed. The change
    time cannot be set back by tools (`touch -d`, `cp -p` set the modification time only), a
    rewrite that keeps the size moves both times, and a file changed in the few seconds
    before the run is never remembered (see _SETTLED_NS). One list per working directory
    (`scope`), kept in the cache as data; without a cache every file is read."""

    def __init__(self, scope: str) -> None:
        self._key = cache_key("files", _DIGESTS_FORMAT, scope)
        known = load_cached(self._key)
        self._known: dict[Any, Any] = known if isinstance(known, dict) else {}
        self._used: dict[bytes, bytes] = {}
        self._learnt = False
        # Taken before any file is looked at: what changes after it gets a later time.
        self._settled = time.time_ns() - _SETTLED_NS

    def digest(self, path: str | Path) -> bytes | None:
        """The digest of a regular file's content; None for anything else (missing, not a
        regular file, unreadable, too large)."""
        try:
            info = os.stat(path)
            key = _STAT_KEY.pack(
                info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns
            )
        except (OSError, struct.error):
            return None
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_HASHED:
            return None
        known = self._known.get(key)
        if type(known) is bytes:
            self._used[key] = known
            return known
        try:
            # Non-blocking: a file swapped for a named pipe since the stat does not hang.
            flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
            with os.fdopen(os.open(path, flags), "rb") as handle:
                data = handle.read(_MAX_HASHED + 1)
                after = os.fstat(handle.fileno())
        except OSError:
            return None
        if not stat.S_ISREG(after.st_mode) or len(data) > _MAX_HASHED:
            return None
        digest = blake2b(data, digest_size=20, person=b"sr-file").digest()
        unchanged = (after.st_dev, after.st_ino, after.st_size) == (
            info.st_dev,
            info.st_ino,
            len(data),
        ) and (after.st_mtime_ns, after.st_ctime_ns) == (info.st_mtime_ns, info.st_ctime_ns)
        if unchanged and max(info.st_mtime_ns, info.st_ctime_ns) < self._settled:
            self._used[key] = digest
            self._learnt = True
        return digest

    def save(self) -> None:
        """Remember the files hashed by this run (when it learnt anything), and those of
        earlier runs in this folder that this run did not see in another state."""
        if not self._learnt:
            return
        seen = {key[:_IDENTITY] for key in self._used}
        known = {
            k: v
            for k, v in self._known.items()
            if type(k) is bytes and type(v) is bytes and k[:_IDENTITY] not in seen
        }
        known.update(self._used)
        store_cached(self._key, known if len(known) <= _MAX_DIGESTS else self._used)


# YAML a configuration or rule file needs: far less nesting and far fewer aliases than this.
# An alias is a reference (PyYAML shares the object), but whatever walks the data later
# (printing it, comparing it, hashing the settings) expands it: nine aliases of nine make a
# billion items.
YAML_MAX_DEPTH = 64
YAML_MAX_ALIASES = 100
YAML_MAX_ITEMS = 1_000_000


class YamlError(ValueError):
    """YAML that cannot be used: `where` is `:line:column` when known, `problem` says why."""

    def __init__(self, problem: str, where: str = "") -> None:
        super().__init__(f"{where}: {problem}" if where else problem)
        self.problem = problem
        self.where = where


def load_yaml(text: str, *, cache: bool = False) -> Any:
    """The data of a YAML document, read with PyYAML's safe loader (plain data only, never
    objects), and refused when it nests deeper, uses more aliases or expands to more items
    than a configuration needs (YamlError).

    With `cache`, a document read before comes from the cache (a configuration: importing
    PyYAML is a tenth of a pre-commit run on one file). Only accepted documents are kept.
    """
    if not cache:
        return _read_yaml(text)
    key = cache_key("yaml", _YAML_CACHE_FORMAT, _yaml_version(), text)
    cached = load_cached(key)
    if isinstance(cached, tuple) and len(cached) == 1:
        return cached[0]
    data = _read_yaml(text)
    store_cached(key, (data,))  # in a tuple: a document can be empty (None)
    return data


_YAML_CACHE_FORMAT = "2"  # 2: duplicate keys refused


def _yaml_version() -> str:
    """Which PyYAML reads the document, without importing it: its location and modification
    time (another version, another cache entry)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("yaml")
        origin = spec.origin if spec is not None else None
        return f"{origin}|{os.stat(origin).st_mtime_ns}" if origin else "?"
    except (ImportError, OSError, ValueError):
        return "?"


# PyYAML compiles its patterns as it is imported: the pure-Python reader's class over the
# whole of Unicode (an eighth of a pre-commit run on one file; the C reader, libyaml, which
# reads every document here when PyYAML was built with it, never uses it), the resolvers' of
# implicit types (a bool, an int, a float, a timestamp...: 2% of such a run), each needed
# only by a document with a plain scalar starting with one of its characters.


class _CompiledOnFirstUse:
    """A regular expression compiled the first time one of its attributes is read."""

    __slots__ = ("_compile", "_compiled", "_flags", "_source")

    def __init__(self, compile_now: Callable[..., Any], source: str, flags: int = 0) -> None:
        self._compile = compile_now
        self._source = source
        self._flags = flags
        self._compiled: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._compiled is None:
            self._compiled = self._compile(self._source, self._flags)
        return getattr(self._compiled, name)


def import_yaml() -> ModuleType:
    """PyYAML, imported with the patterns its own modules compile as it is imported compiled
    on first use instead (see above; PyYAML uses them through their own methods only): the
    same loaders, reading the same way."""
    loaded = sys.modules.get("yaml")
    if loaded is not None:
        return loaded
    import re

    compile_now = re.compile

    def compile_pattern(pattern: Any, flags: int = 0) -> Any:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if isinstance(pattern, str) and caller.startswith("yaml."):
            return _CompiledOnFirstUse(compile_now, pattern, flags)
        return compile_now(pattern, flags)

    re.compile = compile_pattern
    try:
        import yaml
    finally:
        re.compile = compile_now
    return yaml


def _read_yaml(text: str) -> Any:
    yaml = import_yaml()
    try:
        data = yaml.load(text, Loader=_unique_keys_loader())  # safe: plain data, never objects
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise YamlError(f"invalid YAML: {problem}", where) from None
    except RecursionError:
        raise YamlError(f"YAML nested more than {YAML_MAX_DEPTH} levels deep") from None
    except MemoryError:
        raise YamlError("YAML too large to read") from None
    _check_yaml_shape(data)
    return data


def _unique_keys_loader() -> Any:
    """PyYAML's safe loader (the C one when built), refusing a key written twice in one
    mapping: PyYAML keeps the last silently, so `dialects:` written twice in a rule (as a
    merge of two branches once did) would quietly drop the first."""
    yaml = import_yaml()
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class UniqueKeysLoader(base):  # type: ignore[misc, valid-type]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if isinstance(key, str | int | float | bool) and key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeysLoader


def _check_yaml_shape(root: Any) -> None:
    """Refuse data nested deeper than YAML_MAX_DEPTH, reusing a list or mapping (an alias)
    more than YAML_MAX_ALIASES times, expanding to more than YAML_MAX_ITEMS items, or holding
    itself. One pass over each distinct list and mapping, without recursion."""
    if not isinstance(root, list | dict):
        return
    sizes: dict[int, int] = {}  # the expanded size of each list or mapping walked
    open_ids = {id(root)}  # the lists and mappings being walked (a cycle comes back to one)
    stack: list[tuple[Any, Any, int]] = [(root, iter(_yaml_items(root)), 1)]
    running = [1]
    aliases = 0
    while stack:
        node, items, depth = stack[-1]
        for item in items:
            if not isinstance(item, list | dict):
                running[-1] += 1
                continue
            key = id(item)
            if key in open_ids:
                raise YamlError("YAML that contains itself (a recursive alias)")
            if key in sizes:
                aliases += 1
                if aliases > YAML_MAX_ALIASES:
                    raise YamlError(f"YAML with more than {YAML_MAX_ALIASES} aliases")
                running[-1] += sizes[key]
                if running[-1] > YAML_MAX_ITEMS:
                    raise YamlError(f"YAML that expands to more than {YAML_MAX_ITEMS:,} items")
                continue
            if depth >= YAML_MAX_DEPTH:
                raise YamlError(f"YAML nested more than {YAML_MAX_DEPTH} levels deep")
            open_ids.add(key)
            stack.append((item, iter(_yaml_items(item)), depth + 1))
            running.append(1)
            break
        else:
            stack.pop()
            open_ids.discard(id(node))
            size = running.pop()
            sizes[id(node)] = size
            if running:
                running[-1] += size
            if size > YAML_MAX_ITEMS or (running and running[-1] > YAML_MAX_ITEMS):
                raise YamlError(f"YAML that expands to more than {YAML_MAX_ITEMS:,} items")


def _yaml_items(node: list[Any] | dict[Any, Any]) -> list[Any]:
    if isinstance(node, dict):
        return [*node.keys(), *node.values()]
    return node
