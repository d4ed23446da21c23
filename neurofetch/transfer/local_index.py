"""A local mirror as data: the files its journals record (with size, sha256, source and when), the JSON
records beside them, re-hashing against the journals, and sha256sum manifests. Names no service: which
records mean what is each service's business."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from neurofetch.errors import RemoteDataError, UsageError
from neurofetch.net import json_limits
from neurofetch.transfer.events import NullReporter
from neurofetch.transfer.journal import SERVICE_RECORD, Entry, Journal, state_dir
from neurofetch.transfer.mirror import verify_tree
from neurofetch.transfer.paths import PART_SUFFIX, STATE_DIR, UnsafeName, local_path
from neurofetch.transfer.results import Failure, RunResult

T = TypeVar("T")
JOURNAL_GLOB = "state*.sqlite3"  # state.sqlite3, and state-shard-K-of-N.sqlite3 of sharded runs


@dataclass(frozen=True)
class MirrorState:
    entries: list[Entry]  # every recorded file, by path
    service: str | None  # as the journal recorded it; None for trees of older versions


def journal_files(dest: Path) -> list[Path]:
    if not dest.is_dir():
        raise UsageError(f"{dest} is not a folder")
    found = sorted(state_dir(dest).glob(JOURNAL_GLOB))
    if not found:
        raise UsageError(f"{dest} is not a neurofetch mirror: it has no {STATE_DIR}/state.sqlite3")
    return found


def read_mirror(dest: Path) -> MirrorState:
    """What the journals record, read from copies: a mirror running meanwhile is neither blocked nor disturbed."""
    entries: dict[str, Entry] = {}
    service = None
    for path in journal_files(dest):
        journal = Journal.snapshot(path)
        try:
            entries.update((entry.path, entry) for entry in journal.entries())
            service = service or journal.get_record(SERVICE_RECORD)
        finally:
            journal.close()
    return MirrorState(sorted(entries.values(), key=lambda e: e.path), service)


def verify_mirror(dest: Path) -> list[Failure]:
    """Re-hash every recorded file (transfer.mirror.verify_tree); the files that changed or vanished."""
    result = RunResult("index")
    for path in journal_files(dest):
        journal = Journal.snapshot(path)
        try:
            verify_tree(dest, journal, result, NullReporter(), forget=False)
        finally:
            journal.close()
    return result.integrity_problems


class SidecarReader:
    """The JSON records beside a mirror's files, read once each (a visit's record serves all its files)."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self._cache: dict[str, Any] = {}
        self._derived: dict[str, Any] = {}

    def exists(self, relpath: str) -> bool:
        try:
            return local_path(self.dest, relpath).is_file()
        except UnsafeName:
            return False

    def json(self, relpath: str, *, keep: bool = True) -> Any:
        """The parsed record at ``relpath``, or None when it is missing or not JSON; ``keep`` caches it."""
        if relpath in self._cache:
            return self._cache[relpath]
        try:
            value = json_limits.loads(local_path(self.dest, relpath).read_bytes(), relpath)
        except (OSError, ValueError, UnsafeName, RemoteDataError):
            value = None
        if keep:
            self._cache[relpath] = value
        return value

    def derived(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per key: what a service derives from a record (say, its entries by id)."""
        if key not in self._derived:
            self._derived[key] = compute()
        value: T = self._derived[key]
        return value

    def names_in(self, folder: str) -> list[str]:
        """The file names in ``folder`` (relative to DEST), listed once."""

        def listing() -> list[str]:
            try:
                base = local_path(self.dest, folder) if folder else self.dest
                return sorted(e.name for e in os.scandir(base) if e.is_file())
            except (OSError, UnsafeName):
                return []

        return self.derived(f"files in {folder}", listing)


def other_files(dest: Path, recorded: set[str]) -> Iterator[str]:
    """Files under DEST that no journal records (the JSON records, mostly), as relative paths; never
    neurofetch's own state, downloads in progress or temporary files."""
    for root, folders, files in os.walk(dest):
        rel_root = Path(root).relative_to(dest).as_posix()
        if rel_root == ".":
            folders[:] = [f for f in folders if f != STATE_DIR]
            rel_root = ""
        folders.sort()
        for name in sorted(files):
            relpath = f"{rel_root}/{name}" if rel_root else name
            if relpath in recorded or name.endswith(PART_SUFFIX) or (name.startswith(".") and name.endswith(".tmp")):
                continue
            yield relpath


def sha256sum_line(digest: str, relpath: str) -> str:
    """One line as GNU sha256sum writes it: a name with a backslash, newline or carriage return is escaped,
    and the line then starts with a backslash."""
    escaped = relpath.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    prefix = "\\" if escaped != relpath else ""
    return f"{prefix}{digest}  {escaped}\n"


def write_sha256sum(rows: Iterable[tuple[str, str]], stream: IO[str]) -> int:
    """(sha256, relative path) pairs as a file that `sha256sum -c` checks when run from DEST."""
    count = 0
    for digest, relpath in rows:
        stream.write(sha256sum_line(digest, relpath))
        count += 1
    stream.flush()
    return count


def column_name(key: str) -> str:
    """A record's key as a column name: "AcquisitionType" → "acquisition_type", "QC_status" → "qc_status"."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z][a-z])", "_", key).replace(" ", "_").lower()


def flatten(record: Any, prefix: str, *, skip: Iterable[str] = ()) -> dict[str, Any]:
    """A JSON record as flat columns: nested objects join their keys with dots, a list of plain values is a
    list cell, anything else that is not a plain value is kept as JSON text."""
    columns: dict[str, Any] = {}
    if not isinstance(record, dict):
        return columns
    skipped = set(skip)
    for key, value in record.items():
        if key in skipped:
            continue
        name = prefix + column_name(str(key))
        if isinstance(value, dict):
            columns.update(flatten(value, name + "."))
        elif isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
            columns[name] = [str(v) for v in value]
        elif isinstance(value, (list, tuple)):
            columns[name] = json.dumps(value, ensure_ascii=False, sort_keys=True) if value else None
        else:
            columns[name] = value
    return columns
