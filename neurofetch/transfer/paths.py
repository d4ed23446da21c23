"""The one safe-path function: every name that comes from a server passes through here."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from neurofetch.transfer.work import Document, FileItem, Work

STATE_DIR = ".neurofetch"  # DEST/.neurofetch: journal and lock
PART_SUFFIX = ".part"  # <name>.part: a download in progress
MAX_NAME_BYTES = 255
WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"COM{i}" for i in range(1, 10)] + [f"LPT{i}" for i in range(1, 10)]
)
CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc
WINDOWS_FORBIDDEN = re.compile('[<>:"|?*]')


class UnsafeName(ValueError):
    """A server-provided name that cannot be used as a local path component."""


def check_component(name: object) -> str:
    """Return ``name`` if it is safe as one path component on every OS, else raise UnsafeName."""
    if not isinstance(name, str):
        raise UnsafeName(f"name {name!r} is not a string")
    problem = _problem(name)
    if problem:
        shown = repr(name) if len(name) <= 80 else repr(name[:77] + "...")
        raise UnsafeName(f"name {shown} {problem}")
    return name


@functools.lru_cache(maxsize=8192)  # each name is checked by the listing, the claims and the download
def _problem(name: str) -> str | None:
    if name in ("", ".", ".."):
        return "is empty or a relative reference"
    if name == STATE_DIR:
        return "is the name of neurofetch's state folder"
    if "/" in name or "\\" in name:
        return "contains a path separator"
    if CONTROL_CHARACTER.search(name):
        return "contains a control character"
    if WINDOWS_FORBIDDEN.search(name):
        return "contains a character Windows forbids"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"is longer than {MAX_NAME_BYTES} bytes"
    if name.split(".")[0].upper().rstrip(" ") in WINDOWS_RESERVED:
        return "is reserved on Windows"
    if name.endswith((" ", ".")):
        return "ends with a space or a dot"
    return None


def safe_relpath(parts: Iterable[object]) -> str:
    """Join checked components into a POSIX relative path (the journal's key)."""
    checked = [check_component(p) for p in parts]
    if not checked:
        raise UnsafeName("empty path")
    return "/".join(checked)


def local_path(root: Path, relpath: str) -> Path:
    """The local path of a journal key, refusing anything that would leave ``root``.

    The check is lexical: every key is built from components that passed ``check_component``, and
    servers cannot create symlinks; a symlink a user placed inside the destination is followed on
    purpose. Resolving each path on disk instead costs a realpath per file on every run.
    """
    parts = relpath.split("/")
    if relpath.startswith("/") or any(part in ("", ".", "..") or "\\" in part for part in parts):
        raise UnsafeName(f"path {relpath!r} leads outside the destination")
    return root.joinpath(*parts)


class OwnNames:
    """The paths a mirror writes, by whose name they carry: the server's files, or neurofetch's own
    records (``Document``s, and the records a ``FileItem`` says a later listing writes beside it).

    A server's file never takes a record's path or a ``.part`` name, and a record never takes the path
    of a server's file; the one that comes second is refused as a failure naming it. A listing's records
    are claimed before its files, so within one listing the record is kept and the file refused. The
    records of a refused file are not written either, whichever listing brings them: that file's failure
    already names it.
    """

    def __init__(self) -> None:
        self._records: set[str] = set()
        self._files: set[str] = set()
        self._folders: set[str] = set()
        self._refused_records: set[str] = set()
        self._orphans: set[str] = set()  # the records of refused files

    def admit(self, children: Sequence[Work], fail: Callable[[str, str], None]) -> list[Work]:
        """The children of a listing that may be written; each refused one is reported to ``fail``."""
        dropped: set[int] = set()
        for index, work in enumerate(children):
            if isinstance(work, Document) and _relpath(work.parts) in self._orphans:
                dropped.add(index)
                continue
            for path in _record_paths(work):
                if path not in self._refused_records and (problem := self._claim(path, record=True)):
                    self._refused_records.add(path)
                    fail(path, f"neurofetch's record is not written: {problem}")
                if path in self._refused_records and isinstance(work, Document):
                    dropped.add(index)
        for index, work in enumerate(children):
            if isinstance(work, FileItem) and (path := _relpath(work.parts)):
                if path.endswith(PART_SUFFIX):
                    problem = f"the name ends with {PART_SUFFIX}, which neurofetch gives its downloads in progress"
                else:
                    problem = self._claim(path, record=False)
                if problem:
                    fail(work.label or path, f"refused the server's file {path}: {problem}")
                    dropped.add(index)
                    self._orphans.update(_record_paths(work))
        dropped.update(
            index
            for index, work in enumerate(children)
            if isinstance(work, Document) and _relpath(work.parts) in self._orphans
        )
        return [work for index, work in enumerate(children) if index not in dropped]

    def _claim(self, path: str, *, record: bool) -> str | None:
        folders = _ancestors(path)
        if path in (self._files if record else self._records):
            return "the server has a file of that name" if record else "neurofetch writes its own record there"
        if path in self._folders:
            return "a folder of the mirror has that name"
        if any(folder in self._records or folder in self._files for folder in folders):
            return "a file of the mirror has the name of one of its folders"
        (self._records if record else self._files).add(path)
        self._folders.update(folders)
        return None


def _record_paths(work: Work) -> list[str]:
    if isinstance(work, Document):
        return [path] if (path := _relpath(work.parts)) else []
    if isinstance(work, FileItem) and work.records and (folder := _relpath(work.parts[:-1])):
        return [f"{folder}/{name}" for name in work.records]
    return []


def _relpath(parts: Sequence[object]) -> str:
    """The journal key of ``parts``, or "" for names the engine refuses anyway (one failure, there)."""
    try:
        return safe_relpath(parts) if parts else ""
    except UnsafeName:
        return ""


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:end]) for end in range(1, len(parts))]
