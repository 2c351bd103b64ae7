"""Keep the SQL an expression compiled to across processes, in files keyed by the expression.

A nightly `clientela kpi` is a fresh process: its warm call after one new day builds about
seventy queries and compiles each (Ibis's rewrites, then sqlglot) although last night's
process compiled the same ones. Ibis hashes an expression by identity of objects that do
not outlive the process (its backend), so the key here is a digest of the expression's
operation tree itself: every operation's class and arguments, literal values with their
types, schemas, a store table by its name and schema. A table written during a call (Ibis's
`cache()`, which the engine's shared tables use) has a fresh random name each time, so it
enters the key by its position of first appearance and its schema, and the kept SQL holds
a placeholder where its name was; the placeholder is swapped for the current call's name
when the SQL is used. The names are unique random strings, so the swap is exact (checked
both ways before an entry is written). What else changes the SQL text is in the key too:
the backend and its dialect, the versions of Ibis, sqlglot and this module's format, the
digest of clientela's own SQL translations (`kpi/sql.py`), Ibis's options its compilers
read, `limit` and `pretty`; an
operation defined outside Ibis (a plugin's) enters with the digest of its module's source.

Where: one small file per query in a folder of the user's cache (`CLIENTELA_SQL_KEEP`
names another; `off` turns the keep off). Not in the store: compiled SQL is not the
store's data, the same SQL serves every store with the same columns, and a plain `compute`
writes nothing to the store. Each file is written under a temporary name and renamed, so a
reader sees a whole entry or none; two processes writing the same entry write the same
SQL. The folder keeps the SIZE most recently used entries. An entry that cannot be read,
or whose checksum or placeholders do not match, is compiled again: the keep can cost a
compile, never a wrong query.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import decimal
import enum
import functools
import hashlib
import logging
import os
import re
import sys
import tempfile
import uuid
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.operations as ops
from ibis.common.grounds import Concrete

log = logging.getLogger(__name__)

ENV = "CLIENTELA_SQL_KEEP"
"""A folder for the kept SQL, or `off` (or empty) for none; by default the user's cache."""
SIZE = 2048
"""Entries kept: a 46-metric catalogue's cold and warm calls compile a few hundred."""
FORMAT = "clientela-sql-keep 1"
"""The first line of every entry; a change of format is a change of key too."""

_TEMPORARY = re.compile(r"ibis_[a-z0-9_]+_[a-z2-7]{26}")
"""Ibis's generated names (`ibis.util.gen_name`: a prefix and 26 base32 characters): the
tables `cache()` writes, which no two calls share."""
_PLACEHOLDER = "__clientela_kept_table_{}__"
_ANY_PLACEHOLDER = re.compile(r"__clientela_kept_table_(\d+)__")
_SCALARS: tuple[type, ...] = (str, int, float, bool, bytes, type(None), decimal.Decimal,
                              _dt.datetime, _dt.date, _dt.time, _dt.timedelta, uuid.UUID)
"""Values whose type and repr say exactly what they are."""


class _Unkeyable(Exception):
    """An argument the digest does not know how to spell exactly: compile, do not keep."""


class Key:
    """One expression's key, and the per-call table names its SQL holds, in key order."""

    __slots__ = ("digest", "names")

    def __init__(self, digest: str, names: list[str]) -> None:
        self.digest = digest
        self.names = names


def folder() -> Path | None:
    """Where the SQL is kept now (the variable is read on every use, so a test or a caller
    can point it elsewhere); None when the keep is off."""
    named = os.environ.get(ENV)
    if named is not None:
        return None if named.strip().lower() in ("", "off", "0", "no") else Path(named)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "clientela" / "sql"


def backend_identity(backend: Any) -> str:
    """What of the backend shapes its SQL: its name, dialect and compiler, and the versions
    of the code that writes the SQL."""
    compiler = type(getattr(backend, "compiler", None))
    return "|".join((FORMAT, str(getattr(backend, "name", type(backend).__qualname__)),
                     repr(getattr(backend, "dialect", None)),
                     f"{compiler.__module__}.{compiler.__qualname__}", _writers()))


@functools.cache
def _writers() -> str:
    """Ibis's and sqlglot's versions, and the digest of clientela's own translations."""
    from clientela.kpi import sql

    translations = Path(sql.__file__).read_bytes()
    return "|".join((ibis.__version__, metadata.version("sqlglot"),
                     hashlib.blake2b(translations, digest_size=16).hexdigest()))


def key_of(op: ops.Node, identity: str, limit: Any, pretty: bool) -> Key | None:
    """The key of compiling `op` on a backend of `identity`; None when some argument cannot
    be spelt exactly (or the tree holds rows in memory), so the SQL is not kept."""
    walker = _Walker()
    try:
        root = walker.node(op)
        tail = walker.value(limit) + walker.value(pretty) + walker.value(_options())
    except _Unkeyable:
        return None
    digest = hashlib.blake2b(identity.encode() + root + tail, digest_size=20).hexdigest()
    return Key(digest, walker.names)


def _options() -> tuple[Any, ...]:
    """Ibis's global options that its SQL compilers read (a caller may change them)."""
    sql = ibis.options.sql
    pyspark = getattr(ibis.options, "pyspark", None)
    return (sql.default_limit, sql.fuse_selects, getattr(pyspark, "treat_nan_as_null", None))


class _Walker:
    """Spells an operation tree as bytes, each node once (a node is a DAG's shared subtree
    more often than not), the per-call tables by their position of first appearance."""

    def __init__(self) -> None:
        self.memo: dict[int, bytes] = {}
        self.names: list[str] = []
        self._alive: list[Any] = []  # keeps each memoised node alive, so its id stays its own

    def node(self, node: Concrete) -> bytes:
        found = self.memo.get(id(node))
        if found is not None:
            return found
        if isinstance(node, ops.InMemoryTable):
            raise _Unkeyable("rows in memory")
        parts = [_class_of(type(node))]
        temporary = isinstance(node, ops.DatabaseTable) and _TEMPORARY.fullmatch(node.name)
        for name, arg in zip(node.__argnames__, node.__args__, strict=True):
            if isinstance(node, ops.DatabaseTable) and name == "source":
                continue  # the backend object: its identity is in the key apart
            if temporary and name == "name":
                if arg not in self.names:
                    self.names.append(arg)
                parts.append(f"name=<table {self.names.index(arg)}>".encode())
                continue
            parts.append(name.encode() + b"=" + self.value(arg))
        spelt = b"(" + hashlib.blake2b(_framed(parts), digest_size=16).digest() + b")"
        self.memo[id(node)] = spelt
        self._alive.append(node)
        return spelt

    def value(self, arg: Any) -> bytes:
        if isinstance(arg, Concrete):  # an operation, a data type, a schema, a namespace
            return self.node(arg)
        if isinstance(arg, enum.Enum):
            return f"{type(arg).__qualname__}.{arg.name}".encode()
        if isinstance(arg, _SCALARS):
            return f"{type(arg).__qualname__}:{arg!r}".encode()
        if isinstance(arg, Mapping):
            return b"{" + _framed([self.value(k) + b":" + self.value(v)
                                   for k, v in arg.items()])
        if isinstance(arg, tuple | list):
            return b"[" + _framed([self.value(item) for item in arg])
        if isinstance(arg, frozenset):
            return b"<" + _framed(sorted(self.value(item) for item in arg))
        raise _Unkeyable(type(arg).__qualname__)


def _framed(parts: list[bytes]) -> bytes:
    """The parts, each after its length: no two lists of parts spell the same bytes."""
    return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


_CLASSES: dict[type, bytes] = {}


def _class_of(kind: type) -> bytes:
    """A class by its name; one defined outside Ibis (an operation a plugin adds, with its
    own translation) also by its module's source, so changing that code changes the key."""
    found = _CLASSES.get(kind)
    if found is None:
        found = f"{kind.__module__}.{kind.__qualname__}".encode()
        if kind.__module__.split(".")[0] != "ibis":
            module = sys.modules.get(kind.__module__)
            try:
                source = Path(module.__file__).read_bytes() if module and module.__file__ else b""
            except OSError:
                source = b"?"
            found += b"@" + hashlib.blake2b(source, digest_size=16).digest()
        _CLASSES[kind] = found
    return found


def to_placeholders(sql: str, names: list[str]) -> str | None:
    """`sql` with each per-call table name replaced by its placeholder; None when the swap
    would not be exact both ways (then the SQL is not kept)."""
    if _ANY_PLACEHOLDER.search(sql):
        return None
    kept = sql
    for index, name in enumerate(names):
        kept = kept.replace(name, _PLACEHOLDER.format(index))
    if any(name in kept for name in names) or from_placeholders(kept, names) != sql:
        return None
    return kept


def from_placeholders(kept: str, names: list[str]) -> str | None:
    """The kept SQL with this call's table names put back; None when its placeholders are
    not exactly those of `names`."""
    if {int(index) for index in _ANY_PLACEHOLDER.findall(kept)} - set(range(len(names))):
        return None
    sql = kept
    for index, name in enumerate(names):
        sql = sql.replace(_PLACEHOLDER.format(index), name)
    return sql


class SqlKeep:
    """The kept SQL in one folder: one file per key, written whole or not at all."""

    def __init__(self, path: Path, size: int = SIZE) -> None:
        self.path = path
        self.size = size
        self._pruned = False

    def _file(self, digest: str) -> Path:
        return self.path / f"{digest}.sql"

    def get(self, key: Key) -> str | None:
        """The SQL kept for `key` with this call's table names, or None (none kept, or an
        entry that does not check out)."""
        file = self._file(key.digest)
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeError):
            return None
        head, _, body = text.partition("\n")
        if head != f"{FORMAT} {_checksum(key.digest, body)}":
            log.debug("kept SQL %s does not check out: compiled again", file.name)
            return None
        with contextlib.suppress(OSError):
            os.utime(file)  # recently used: the last to be dropped
        return from_placeholders(body, key.names)

    def put(self, key: Key, sql: str) -> None:
        """Keep `sql` for `key` (quietly nothing when the folder cannot be written)."""
        kept = to_placeholders(sql, key.names)
        if kept is None:
            return
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            handle, partial = tempfile.mkstemp(dir=self.path, prefix=".partial-")
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    out.write(f"{FORMAT} {_checksum(key.digest, kept)}\n{kept}")
                os.replace(partial, self._file(key.digest))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(partial)
                raise
        except OSError as error:
            log.debug("compiled SQL not kept in %s: %s", self.path, error)
            return
        if not self._pruned:  # once per process: the folder grows by a call's queries at most
            self._pruned = True
            self.prune()

    def prune(self) -> None:
        """Drop the least recently used entries beyond `size` (and partial files a killed
        process left). Another process pruning at the same time only costs a compile."""
        entries: list[tuple[float, Path]] = []
        partials: list[tuple[float, Path]] = []
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.path):
                with contextlib.suppress(OSError):
                    found = (entry.stat().st_mtime, Path(entry.path))
                    (partials if entry.name.startswith(".partial-") else entries).append(found)
        entries.sort(reverse=True)
        stale = _dt.datetime.now().timestamp() - 3600  # older than any compile writing it
        for _, file in entries[self.size:] + [p for p in partials if p[0] < stale]:
            with contextlib.suppress(OSError):
                file.unlink()


def _checksum(digest: str, body: str) -> str:
    """Ties an entry's text to its key: a truncated, mixed-up or edited file fails it."""
    return hashlib.blake2b(digest.encode() + b"\n" + body.encode(), digest_size=16).hexdigest()
