"""The upload journal: one sqlite database per service, in the user state folder.

It records each uploaded file's content sha256 and source path with the remote id the service gave it,
so a re-run sends nothing already sent. A row without an id is an upload whose outcome is unknown (the
run died or the connection dropped after sending): the next attempt asks the service first. So is a
file the journal has no record of at all (a lost or damaged journal): the service says what it holds.

The service is named by its normalised origin, so ``http://LOCALHOST:80/api/`` and ``http://127.0.0.1/api``
share one journal and one lock. A damaged journal is set aside and a new one started.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from neurofetch.errors import DestinationError, UsageError

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
CREATE INDEX IF NOT EXISTS uploads_by_source_path ON uploads (source_path);
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


DEFAULT_PORTS = {"http": 80, "https": 443}
SQLITE_COMPANIONS = ("", "-wal", "-shm")


class UploadJournalError(DestinationError):
    """The upload journal cannot record what was sent (disk full, damaged meanwhile): the run stops.
    What was sent but not recorded is found on the service by the next run, not sent twice."""


def journal_path(state_root: Path, url: str) -> Path:
    return _path_for(state_root, normalised_origin(url))


def normalised_origin(url: str) -> str:
    """One spelling per service: scheme and host in lower case, the default port and a trailing slash
    dropped, every loopback address (``localhost``, ``127.0.0.1``, ``::1``) written ``localhost``."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    try:
        port = parts.port
    except ValueError:
        port = None
    if host == "localhost" or _is_loopback(host):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _path_for(state_root: Path, key: str) -> Path:
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return state_root / "uploads" / f"{digest}.sqlite3"


def adopt_earlier_journal(state_root: Path, url: str) -> None:
    """Journals were once named after the URL as typed: take such a journal over when there is no
    journal for the normalised origin yet, so an upgrade costs no questions to the service."""
    new, old = journal_path(state_root, url), _path_for(state_root, url.rstrip("/"))
    if old == new or new.exists() or not old.exists():
        return
    for suffix in SQLITE_COMPANIONS:
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{old}{suffix}", f"{new}{suffix}")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class UploadJournal:
    """Safe against kill -9 (every write commits at once); shared by concurrent shards through sqlite.

    ``set_aside`` names where a damaged journal found at opening was moved (None when it was sound).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.set_aside: Path | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                self._db = self._open(path)
            except sqlite3.OperationalError:  # locked, read-only, disk full: the journal itself is sound
                raise
            except sqlite3.DatabaseError:  # not a database, or a damaged one
                self.set_aside = _set_aside(path)
                self._db = self._open(path)
        except (OSError, sqlite3.OperationalError) as exc:  # a place it cannot write (full, read-only, no access)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise UploadJournalError(f"cannot write the upload journal {path}: {reason}") from None
        except sqlite3.Error as exc:
            raise UsageError(f"cannot open the upload journal {path}: {exc}") from None

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            problems = db.execute("PRAGMA quick_check").fetchall()
            if problems != [("ok",)]:
                raise sqlite3.DatabaseError(f"damaged: {problems[0][0]}")
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        self._db.close()

    def get(self, sha256: str, source_path: str) -> UploadEntry | None:
        row = self._db.execute(
            "SELECT sha256, source_path, resource_id, sent_name, sent_size FROM uploads "
            "WHERE sha256 = ? AND source_path = ?",
            (sha256, source_path),
        ).fetchone()
        return UploadEntry(*row) if row else None

    def knows(self, source_path: str) -> bool:
        """Whether any upload of this source path (whatever its content then) was ever recorded."""
        return (
            self._db.execute("SELECT 1 FROM uploads WHERE source_path = ? LIMIT 1", (source_path,)).fetchone()
            is not None
        )

    def begin(self, sha256: str, source_path: str, sent_name: str, sent_size: int) -> None:
        """Written before the bytes go out: if we die now, the next run knows to ask first."""
        self._db.execute(
            "INSERT OR REPLACE INTO uploads VALUES (?, ?, NULL, ?, ?, ?)",
            (sha256, source_path, sent_name, sent_size, _now()),
        )

    def record(self, sha256: str, source_path: str, sent_name: str, sent_size: int, resource_id: str) -> None:
        """The service already holds this file (found there, not sent by this run)."""
        self._db.execute(
            "INSERT OR REPLACE INTO uploads VALUES (?, ?, ?, ?, ?, ?)",
            (sha256, source_path, resource_id, sent_name, sent_size, _now()),
        )

    def complete(self, sha256: str, source_path: str, resource_id: str) -> None:
        self._db.execute(
            "UPDATE uploads SET resource_id = ?, updated_at = ? WHERE sha256 = ? AND source_path = ?",
            (resource_id, _now(), sha256, source_path),
        )

    def abandon(self, sha256: str, source_path: str) -> None:
        """The service certainly refused it: nothing to look for next time."""
        self._db.execute(
            "DELETE FROM uploads WHERE sha256 = ? AND source_path = ? AND resource_id IS NULL", (sha256, source_path)
        )

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
                self._db.execute(
                    "INSERT INTO records VALUES (?, ?, ?)", ("anonymization_seed", secrets.token_hex(32), _now())
                )
            seed = self.get_record("anonymization_seed")
        assert seed is not None
        return seed


def _set_aside(path: Path) -> Path:
    """Move a damaged journal (and its sqlite companions) out of the way, keeping it for inspection."""
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
    for suffix in SQLITE_COMPANIONS:
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{path}{suffix}", f"{aside}{suffix}")
    return aside
