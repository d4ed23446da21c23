"""The one safe-path function: every name that comes from a server passes through here."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from neurofetch.transfer.seen import SeenStore
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


FILE, RECORD, FOLDER = 0, 1, 2  # what a path of the mirror is, for OwnNames


class OwnNames:
    """The paths a mirror writes, by whose name they carry: the server's files, or neurofetch's own
    records (``Document``s, and the records a ``FileItem`` says a later listing writes beside it).

    A server's file never takes a record's path or a ``.part`` name, and a record never takes the path
    of a server's file; the one that comes second is refused as a failure naming it. A listing's records
    are claimed before its files, so within one listing the record is kept and the file refused. The
    records of a refused file are not written either, whichever listing brings them: that file's failure
    already names it.
    """

    def __init__(self, store: SeenStore | None = None) -> None:
        self.store = store or SeenStore()  # each path's kind (FILE, RECORD, FOLDER): flat memory for any tree
        self._refused_records: set[str] = set()  # these two hold refused names only: each one a failure
        self._orphans: set[str] = set()  # the records of refused files

    def admit(self, children: Sequence[Work], fail: Callable[[str, str], None]) -> list[Work]:
        """The children of a listing that may be written; each refused one is reported to ``fail``."""
        wanted = {path for work in children for path in _record_paths(work)}
        wanted.update(path for work in children if isinstance(work, FileItem) and (path := _relpath(work.parts)))
        kinds = self.store.kinds(wanted | {folder for path in wanted for folder in _ancestors(path)})
        new: dict[str, int] = {}
        dropped: set[int] = set()
        for index, work in enumerate(children):
            if isinstance(work, Document) and _relpath(work.parts) in self._orphans:
                dropped.add(index)
                continue
            for path in _record_paths(work):
                if path not in self._refused_records and (problem := _claim(kinds, new, path, RECORD)):
                    self._refused_records.add(path)
                    fail(path, f"neurofetch's record is not written: {problem}")
                if path in self._refused_records and isinstance(work, Document):
                    dropped.add(index)
        for index, work in enumerate(children):
            if isinstance(work, FileItem) and (path := _relpath(work.parts)):
                if path.endswith(PART_SUFFIX):
                    problem = f"the name ends with {PART_SUFFIX}, which neurofetch gives its downloads in progress"
                else:
                    problem = _claim(kinds, new, path, FILE)
                if problem:
                    fail(work.label or path, f"refused the server's file {path}: {problem}")
                    dropped.add(index)
                    self._orphans.update(_record_paths(work))
        dropped.update(
            index
            for index, work in enumerate(children)
            if isinstance(work, Document) and _relpath(work.parts) in self._orphans
        )
        self.store.add_kinds(new.items())
        return [work for index, work in enumerate(children) if index not in dropped]


def _claim(kinds: dict[str, int], new: dict[str, int], path: str, kind: int) -> str | None:
    """Give ``path`` its ``kind`` in ``kinds`` (and ``new``, what the store learns), or say why it cannot have it."""
    folders = _ancestors(path)
    had = kinds.get(path)
    if had == FOLDER:
        return "a folder of the mirror has that name"
    if had is not None and had != kind:
        return "the server has a file of that name" if kind == RECORD else "neurofetch writes its own record there"
    if any(kinds.get(folder) in (FILE, RECORD) for folder in folders):
        return "a file of the mirror has the name of one of its folders"
    for name, given in ((path, kind), *((folder, FOLDER) for folder in folders)):
        if name not in kinds:
            kinds[name] = new[name] = given
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
