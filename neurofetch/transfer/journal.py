"""The state journal: which files are complete, with size, sha256, source and time (sqlite3)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurofetch.errors import DestinationError, UsageError
from neurofetch.transfer.paths import STATE_DIR

# SQLite's primary result codes for a place it cannot write (full, I/O error, read-only, cannot open, no
# permission), and their messages (sqlite3_errstr): Python 3.10's sqlite3 errors carry only the message.
_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN = 3, 8, 10, 13, 14
_UNWRITABLE = (_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN)
_DISK_MESSAGES = (
    "disk I/O error",
    "database or disk is full",
    "attempt to write a readonly database",
    "unable to open database file",
    "access permission denied",
)

COMMIT_EVERY = 0.25  # seconds: a commit per file costs more than many files' downloads
LOOKUPS_KEPT = 4096  # recent ``get`` answers: a listing's check and the download that follows ask the same

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    source TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL,
    completed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS file_meta (
    path TEXT PRIMARY KEY,
    meta TEXT NOT NULL
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
    completed_at: str = ""  # when the file was fetched (local time, ISO 8601)
    meta: str | None = None  # the service's listing columns of the file, as JSON


SERVICE_RECORD = "service"  # which kind of service the tree mirrors (loris, neurovault, ...)


def state_dir(dest: Path) -> Path:
    return dest / STATE_DIR


def _disk_trouble(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _UNWRITABLE
    return isinstance(exc, sqlite3.Error) and str(exc).startswith(_DISK_MESSAGES)


class Journal:
    """One sqlite database per destination (per shard with --shard), safe against kill -9.

    ``source`` is the URL without its query string's secrets: callers pass what they fetched.
    Changes are committed together at most ``COMMIT_EVERY`` seconds apart and on ``close``; after a
    kill -9, the files of the last uncommitted moment are simply fetched again. Completed files and
    records wait in memory until that commit and are written in one batch with it: a record put and
    forgotten between two commits (a download's size while it runs) never reaches the disk.
    """

    def __init__(self, path: Path, db: sqlite3.Connection | None = None) -> None:
        self.path = path
        self._waiting_files: dict[str, tuple[tuple[Any, ...], str | None]] = {}  # path → files row, meta
        self._waiting_records: dict[str, tuple[str | None, str]] = {}  # key → value (None: forget), when
        self._looked_up: OrderedDict[str, Entry | None] = OrderedDict()
        try:
            if db is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
            self._db = db
            self._db.executescript(SCHEMA)
            self._stored_keys = {str(row[0]) for row in self._db.execute("SELECT key FROM records")}
            self._committed_at = time.monotonic()
        except (OSError, sqlite3.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if isinstance(exc, OSError) or _disk_trouble(exc):
                raise DestinationError(f"cannot write the state journal {path}: {reason}") from None
            raise UsageError(f"cannot open the state journal {path}: {reason}") from None

    @classmethod
    def snapshot(cls, path: Path) -> Journal:
        """An in-memory copy of the journal at ``path`` (empty if there is none), for a run that must
        write nothing: what it changes is forgotten at the end."""
        memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        if path.is_file():
            # Reading a WAL database creates its -wal and -shm files unless it is opened immutable, which
            # is right only when no -wal is left (by a killed run) holding the latest changes.
            pending = path.with_name(path.name + "-wal").exists()
            uri = path.absolute().as_uri() + ("?mode=ro" if pending else "?immutable=1")
            try:
                with contextlib.closing(sqlite3.connect(uri, uri=True)) as source:
                    source.backup(memory)
            except sqlite3.Error as exc:
                raise UsageError(f"cannot read the state journal {path}: {exc}") from None
        return cls(path, memory)

    @classmethod
    def for_dest(cls, dest: Path, name: str = "state.sqlite3") -> Journal:
        return cls(state_dir(dest) / name)

    def close(self, *, quietly: bool = False) -> None:
        """Commit and close; ``quietly`` when another error already ends the run (that one is reported)."""
        try:
            self.commit()
        except DestinationError:
            if not quietly:
                raise
        finally:
            self._db.close()

    def commit(self) -> None:
        with self._guard():
            self._flush()
            if self._db.in_transaction:
                self._db.execute("COMMIT")
        self._committed_at = time.monotonic()

    def _flush(self) -> None:
        """Write the completed files and records waiting in memory, in the open transaction."""
        files, records = self._waiting_files, self._waiting_records
        if not (files or records):
            return
        self._waiting_files, self._waiting_records = {}, {}
        if not self._db.in_transaction:
            self._db.execute("BEGIN")
        if files:
            self._db.executemany(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)", [row for row, _meta in files.values()]
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO file_meta VALUES (?, ?)",
                [(path, meta) for path, (_row, meta) in files.items() if meta is not None],
            )
            self._db.executemany(
                "DELETE FROM file_meta WHERE path = ?",
                [(path,) for path, (_row, meta) in files.items() if meta is None],
            )
        if records:
            self._db.executemany(
                "INSERT OR REPLACE INTO records VALUES (?, ?, ?)",
                [(key, value, when) for key, (value, when) in records.items() if value is not None],
            )
            self._db.executemany(
                "DELETE FROM records WHERE key = ?",
                [(key,) for key, (value, _updated) in records.items() if value is None],
            )
            for key, (value, _updated) in records.items():
                (self._stored_keys.add if value is not None else self._stored_keys.discard)(key)

    def _maybe_commit(self) -> None:
        if time.monotonic() - self._committed_at >= COMMIT_EVERY:
            self.commit()

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Every sqlite error ("database or disk is full", an I/O error) is a destination error: one line."""
        try:
            yield
        except sqlite3.Error as exc:
            raise DestinationError(f"cannot write the state journal {self.path}: {exc}") from None

    def _change(self, sql: str, values: tuple[object, ...]) -> None:
        with self._guard():
            if not self._db.in_transaction:
                self._db.execute("BEGIN")
            self._db.execute(sql, values)
        self._maybe_commit()

    def _rows(self, sql: str, values: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._guard():
            return self._db.execute(sql, values).fetchall()

    def get(self, path: str) -> Entry | None:
        if path in self._waiting_files:
            return Entry(*self._waiting_files[path][0][:5])
        if path in self._looked_up:
            self._looked_up.move_to_end(path)
            return self._looked_up[path]
        rows = self._rows("SELECT path, size, sha256, source, mtime_ns FROM files WHERE path = ?", (path,))
        entry = Entry(*rows[0]) if rows else None  # type: ignore[arg-type]
        self._remember(path, entry)
        return entry

    def _remember(self, path: str, entry: Entry | None) -> None:
        self._looked_up[path] = entry
        self._looked_up.move_to_end(path)
        if len(self._looked_up) > LOOKUPS_KEPT:
            self._looked_up.popitem(last=False)

    def record(
        self, path: str, size: int, sha256: str, source: str, mtime_ns: int, meta: Mapping[str, Any] | None = None
    ) -> None:
        row = (path, size, sha256, source, mtime_ns, time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        # A table of its own, so that journals stay readable and writable by earlier versions.
        shown = json.dumps(dict(meta), ensure_ascii=False, default=str) if meta else None
        self._looked_up.pop(path, None)
        self._waiting_files[path] = (row, shown)
        self._maybe_commit()

    def forget(self, path: str) -> None:
        self._waiting_files.pop(path, None)
        self._remember(path, None)
        self._change("DELETE FROM files WHERE path = ?", (path,))
        self._change("DELETE FROM file_meta WHERE path = ?", (path,))

    def touch(self, path: str, mtime_ns: int) -> None:
        """The file's content was found unchanged under a new modification time."""
        waiting = self._waiting_files.get(path)
        if waiting is not None:
            row, meta = waiting
            self._waiting_files[path] = ((*row[:4], mtime_ns, row[5]), meta)
            return
        self._looked_up.pop(path, None)
        self._change("UPDATE files SET mtime_ns = ? WHERE path = ?", (mtime_ns, path))

    def entries(self) -> Iterator[Entry]:
        with self._guard():
            self._flush()
        yield from (
            Entry(*row)  # type: ignore[arg-type]
            for row in self._rows(
                "SELECT files.path, size, sha256, source, mtime_ns, completed_at, meta FROM files "
                "LEFT JOIN file_meta ON file_meta.path = files.path ORDER BY files.path"
            )
        )

    def count(self) -> int:
        with self._guard():
            self._flush()
        return int(self._rows("SELECT COUNT(*) FROM files")[0][0])  # type: ignore[call-overload]

    def get_record(self, key: str) -> str | None:
        if key in self._waiting_records:
            return self._waiting_records[key][0]
        if key not in self._stored_keys:
            return None
        rows = self._rows("SELECT value FROM records WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def put_record(self, key: str, value: str) -> None:
        self._waiting_records[key] = (value, time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        self._maybe_commit()

    def forget_record(self, key: str) -> None:
        if key in self._stored_keys:
            self._waiting_records[key] = (None, "")
        else:  # put and forgotten since the last commit (or never put): nothing on disk to delete
            self._waiting_records.pop(key, None)
        self._maybe_commit()

    def is_complete(self, path: str, local: Path) -> bool:
        """True when the journal has the file and the local copy still has its size and mtime."""
        entry = self.get(path)
        return entry is not None and unchanged(entry, local) is True


def unchanged(entry: Entry, local: Path) -> bool | None:
    """Whether ``local`` is still the recorded file by its size and mtime; None when only the mtime
    differs (the content may be the same: only its sha256 can tell)."""
    try:
        stat = local.stat()
    except OSError:
        return False
    if stat.st_size != entry.size:
        return False
    return True if stat.st_mtime_ns == entry.mtime_ns else None
