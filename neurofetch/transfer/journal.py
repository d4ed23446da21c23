"""The state journal: which files are complete, with size, sha256, source and time (sqlite3)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

STATE_DIR = ".neurofetch"
COMMIT_EVERY = 0.25   # seconds: a commit per file costs more than many files' downloads

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    source TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL,
    completed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Entry:
    path: str
    size: int
    sha256: str
    source: str
    mtime_ns: int


def state_dir(dest: Path) -> Path:
    return dest / STATE_DIR


class Journal:
    """One sqlite database per destination (per shard with --shard), safe against kill -9.

    ``source`` is the URL without its query string's secrets: callers pass what they fetched.
    Changes are committed together at most ``COMMIT_EVERY`` seconds apart and on ``close``; after a
    kill -9, the files of the last uncommitted moment are simply fetched again.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            self._committed_at = time.monotonic()
        except (OSError, sqlite3.Error) as exc:
            from neurofetch.errors import UsageError

            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise UsageError(f"cannot open the state journal {path}: {reason}") from None

    @classmethod
    def for_dest(cls, dest: Path, name: str = "state.sqlite3") -> Journal:
        return cls(state_dir(dest) / name)

    def close(self) -> None:
        try:
            self.commit()
        finally:
            self._db.close()

    def commit(self) -> None:
        if self._db.in_transaction:
            self._db.execute("COMMIT")
        self._committed_at = time.monotonic()

    def _change(self, sql: str, values: tuple[object, ...]) -> None:
        if not self._db.in_transaction:
            self._db.execute("BEGIN")
        self._db.execute(sql, values)
        if time.monotonic() - self._committed_at >= COMMIT_EVERY:
            self.commit()

    def get(self, path: str) -> Entry | None:
        row = self._db.execute(
            "SELECT path, size, sha256, source, mtime_ns FROM files WHERE path = ?", (path,)).fetchone()
        return Entry(*row) if row else None

    def record(self, path: str, size: int, sha256: str, source: str, mtime_ns: int) -> None:
        self._change("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)",
                     (path, size, sha256, source, mtime_ns, time.strftime("%Y-%m-%dT%H:%M:%S%z")))

    def forget(self, path: str) -> None:
        self._change("DELETE FROM files WHERE path = ?", (path,))

    def entries(self) -> Iterator[Entry]:
        yield from (Entry(*row) for row in self._db.execute(
            "SELECT path, size, sha256, source, mtime_ns FROM files ORDER BY path").fetchall())

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM files").fetchone()[0])

    def get_record(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM records WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put_record(self, key: str, value: str) -> None:
        self._change("INSERT OR REPLACE INTO records VALUES (?, ?, ?)",
                     (key, value, time.strftime("%Y-%m-%dT%H:%M:%S%z")))

    def forget_record(self, key: str) -> None:
        self._change("DELETE FROM records WHERE key = ?", (key,))

    def is_complete(self, path: str, local: Path) -> bool:
        """True when the journal has the file and the local copy still has its size and mtime."""
        entry = self.get(path)
        if entry is None:
            return False
        try:
            stat = local.stat()
        except OSError:
            return False
        return stat.st_size == entry.size and stat.st_mtime_ns == entry.mtime_ns
