"""The upload journal: one sqlite database per service URL, in the user state folder.

It records each uploaded file's content sha256 and source path with the remote id the service gave it,
so a re-run sends nothing already sent. A row without an id is an upload whose outcome is unknown (the
run died or the connection dropped after sending): the next attempt asks the service first.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    sha256 TEXT NOT NULL,
    source_path TEXT NOT NULL,
    resource_id TEXT,
    sent_name TEXT NOT NULL,
    sent_size INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (sha256, source_path)
);
CREATE TABLE IF NOT EXISTS hashes (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class UploadEntry:
    sha256: str
    source_path: str
    resource_id: str | None
    sent_name: str
    sent_size: int

    @property
    def done(self) -> bool:
        return self.resource_id is not None


def journal_path(state_root: Path, url: str) -> Path:
    digest = hashlib.sha256(url.rstrip("/").encode("utf-8")).hexdigest()[:16]
    return state_root / "uploads" / f"{digest}.sqlite3"


def default_state_root() -> Path:
    from platformdirs import user_state_dir

    return Path(user_state_dir("neurofetch", appauthor=False))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class UploadJournal:
    """Safe against kill -9 (every write commits at once); shared by concurrent shards through sqlite."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def get(self, sha256: str, source_path: str) -> UploadEntry | None:
        row = self._db.execute(
            "SELECT sha256, source_path, resource_id, sent_name, sent_size FROM uploads "
            "WHERE sha256 = ? AND source_path = ?", (sha256, source_path)).fetchone()
        return UploadEntry(*row) if row else None

    def begin(self, sha256: str, source_path: str, sent_name: str, sent_size: int) -> None:
        """Written before the bytes go out: if we die now, the next run knows to ask first."""
        self._db.execute("INSERT OR REPLACE INTO uploads VALUES (?, ?, NULL, ?, ?, ?)",
                         (sha256, source_path, sent_name, sent_size, _now()))

    def complete(self, sha256: str, source_path: str, resource_id: str) -> None:
        self._db.execute("UPDATE uploads SET resource_id = ?, updated_at = ? WHERE sha256 = ? AND source_path = ?",
                         (resource_id, _now(), sha256, source_path))

    def abandon(self, sha256: str, source_path: str) -> None:
        """The service certainly refused it: nothing to look for next time."""
        self._db.execute("DELETE FROM uploads WHERE sha256 = ? AND source_path = ? AND resource_id IS NULL",
                         (sha256, source_path))

    def cached_hash(self, path: Path, size: int, mtime_ns: int) -> str | None:
        row = self._db.execute("SELECT size, mtime_ns, sha256 FROM hashes WHERE path = ?", (str(path),)).fetchone()
        return row[2] if row and row[0] == size and row[1] == mtime_ns else None

    def remember_hash(self, path: Path, size: int, mtime_ns: int, sha256: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?)", (str(path), size, mtime_ns, sha256))

    def get_record(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM records WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put_record(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO records VALUES (?, ?, ?)", (key, value, _now()))

    def anonymization_seed(self) -> str:
        """One secret seed per service: the same original UID maps to the same new UID in every run."""
        seed = self.get_record("anonymization_seed")
        if seed is None:
            with contextlib.suppress(sqlite3.IntegrityError):
                self._db.execute("INSERT INTO records VALUES (?, ?, ?)",
                                 ("anonymization_seed", secrets.token_hex(32), _now()))
            seed = self.get_record("anonymization_seed")
        assert seed is not None
        return seed
