"""The local side of `s3-sync`: walking a tree (with filter pruning) and writing downloads safely
(a temporary file in the target folder, mtime set, then os.replace: a file is either complete or absent)."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from neurofetch.transfer.journal import STATE_DIR
from neurofetch.transfer.shard import Shard
from neurofetch.transfer.sync.plan import LocalFile, OrderedFilters, in_shard

TEMP_SUFFIX = ".nf-partial"  # our in-progress downloads; never listed or uploaded
_TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{8}" + re.escape(TEMP_SUFFIX), re.DOTALL)


@dataclass
class LocalScan:
    files: dict[str, LocalFile] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (name, error): block --delete
    notes: list[str] = field(default_factory=list)  # skipped oddities, for the summary
    partials: list[str] = field(default_factory=list)  # paths of downloads a killed run left


def is_temp_name(name: str) -> bool:
    return _TEMP_NAME.fullmatch(name) is not None


def scan_local(root: Path, filters: OrderedFilters, shard: Shard | None) -> LocalScan:
    """Readable regular files below ``root`` (symlinks followed, loops cut), keyed by "/"-separated relative
    name. neurofetch's own state folder at the top is not part of the tree; a file or folder that cannot
    be read is a failure, never silently left out."""
    scan = LocalScan()
    if not root.exists():
        return scan
    visited: set[tuple[int, int]] = set()
    stack: list[tuple[str, str]] = [("", str(root))]
    while stack:
        rel_dir, dir_path = stack.pop()
        try:
            st = os.stat(dir_path)
            if (st.st_dev, st.st_ino) in visited:
                scan.notes.append(f"skipped {rel_dir or '.'}: directory already visited (symlink loop)")
                continue
            visited.add((st.st_dev, st.st_ino))
            entries = list(os.scandir(dir_path))
        except OSError as exc:
            scan.failures.append((rel_dir or ".", f"cannot read folder: {exc.strerror or exc}"))
            continue
        for entry in entries:
            rel = rel_dir + entry.name
            if rel == STATE_DIR:
                continue
            try:
                if entry.is_dir():
                    if not filters.prunes(rel):
                        stack.append((rel + "/", entry.path))
                    continue
                if entry.is_file():
                    if is_temp_name(entry.name):
                        scan.partials.append(entry.path)
                        continue
                    if not filters.included(rel) or not in_shard(rel, shard):
                        continue
                    info = entry.stat()
                    if not os.access(entry.path, os.R_OK):
                        scan.failures.append((rel, "cannot read: permission denied"))
                        continue
                    scan.files[rel] = LocalFile(entry.path, info.st_size, info.st_mtime_ns)
                elif filters.included(rel):
                    kind = "broken symbolic link" if entry.is_symlink() else "not a regular file"
                    scan.notes.append(f"skipped {rel}: {kind}")
            except OSError as exc:
                scan.failures.append((rel, f"cannot read: {exc.strerror or exc}"))
    return scan


def remove_files(paths: list[str]) -> int:
    """Remove what can be removed; how many were."""
    removed = 0
    for path in paths:
        with contextlib.suppress(OSError):
            os.unlink(path)
            removed += 1
    return removed


def _temp_name(final: Path) -> Path:
    stem = final.name
    while len(f".{stem}.12345678{TEMP_SUFFIX}".encode("utf-8", "surrogateescape")) > 255:
        stem = stem[: len(stem) // 2]
    return final.with_name(f".{stem}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def write_atomically(final: Path, size: int, mtime: int, fill: Callable[[BinaryIO], None]) -> None:
    """Create ``final`` with the bytes ``fill`` writes, exactly ``size`` of them, and mtime ``mtime``.
    On any failure the temporary file is removed and an existing ``final`` is left untouched."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_name(final)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            fill(out)
            out.flush()
            written = os.fstat(out.fileno()).st_size  # s3transfer writes ranges out of order: not tell()
        if written != size:
            raise OSError(f"got {written} bytes, expected {size} (object changed during the sync?)")
        os.utime(temp, ns=(mtime * 1_000_000_000, mtime * 1_000_000_000))
        os.replace(temp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def set_mtime(path: str, mtime: int) -> None:
    os.utime(path, ns=(mtime * 1_000_000_000, mtime * 1_000_000_000))
