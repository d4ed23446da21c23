"""What one run has met so far, by name: destination paths and who claimed them, listing labels, and the kind
of each path the mirror writes. A tree of a million files would hold millions of such names; they live in a
private temporary sqlite database (on disk once its page cache is full, deleted when the run ends), so the
run's memory stays the same however large the tree. Every method takes and answers a batch (one listing's
children): a query per listing, not per name."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable, Iterator

CACHE_KIB = 2048  # the database's page cache: what it may hold in memory before it spills to its file
CHUNK = 500  # names per query (sqlite limits the number of parameters of one statement)

SCHEMA = """
CREATE TABLE claims (path TEXT PRIMARY KEY, source TEXT NOT NULL, started INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE listings (label TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE names (path TEXT PRIMARY KEY, kind INTEGER NOT NULL) WITHOUT ROWID;
"""


class SeenStore:
    """One run's names, in a temporary database only this run opens (one connection, the event loop's)."""

    def __init__(self) -> None:
        # "" is sqlite's private temporary database: a file that exists only while it is open.
        self._db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "locking_mode=EXCLUSIVE", f"cache_size=-{CACHE_KIB}"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.executescript(SCHEMA)
        self._db.execute("BEGIN")  # never committed: nothing here outlives the run

    def close(self) -> None:
        self._db.close()

    def claims(self, paths: Collection[str]) -> dict[str, tuple[str, bool]]:
        """The claimed ones among ``paths``: path → (source, started)."""
        return {
            str(path): (str(source), bool(started))
            for path, source, started in self._select("SELECT path, source, started FROM claims WHERE path", paths)
        }

    def add_claims(self, claims: Iterable[tuple[str, str]]) -> None:
        self._db.executemany("INSERT OR IGNORE INTO claims (path, source) VALUES (?, ?)", claims)

    def claimed_under(self, prefix: str) -> list[str]:
        """The claimed paths that start with ``prefix``."""
        rows = self._db.execute("SELECT path FROM claims WHERE substr(path, 1, ?) = ?", (len(prefix), prefix))
        return [str(path) for (path,) in rows]

    def mark_started(self, paths: Iterable[str]) -> None:
        self._db.executemany("UPDATE claims SET started = 1 WHERE path = ?", ((path,) for path in paths))

    def listings(self, labels: Collection[str]) -> set[str]:
        """The labels among ``labels`` already listed."""
        return {str(label) for (label,) in self._select("SELECT label FROM listings WHERE label", labels)}

    def add_listings(self, labels: Iterable[str]) -> None:
        self._db.executemany("INSERT OR IGNORE INTO listings VALUES (?)", ((label,) for label in labels))

    def kinds(self, paths: Collection[str]) -> dict[str, int]:
        """The kind each of ``paths`` was given (by ``add_kinds``), for those that have one."""
        rows = self._select("SELECT path, kind FROM names WHERE path", paths)
        return {str(path): kind for path, kind in rows if isinstance(kind, int)}

    def add_kinds(self, kinds: Iterable[tuple[str, int]]) -> None:
        self._db.executemany("INSERT OR IGNORE INTO names VALUES (?, ?)", kinds)

    def _select(self, query: str, keys: Collection[str]) -> Iterator[tuple[object, ...]]:
        ordered = list(keys)
        for start in range(0, len(ordered), CHUNK):
            chunk = ordered[start : start + CHUNK]
            yield from self._db.execute(f"{query} IN ({','.join('?' * len(chunk))})", chunk)
