"""The catalog side of a crawl: `ls` turns the files a mirror would fetch into rows, and `--from-manifest`
narrows a mirror to the rows of a table `ls` wrote. Both ride on the mirror's own crawl, so a row is exactly
a file the mirror fetches, at the path it puts it.

A manifest belongs to one service and one server: it must have that service's key column, and every ``url``
in it must be on the profile's server (scheme, host and port; for S3, the bucket). Rows are matched to the
crawl by ``path``; a row the crawl does not meet is a failure naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from neurofetch.errors import UsageError
from neurofetch.transfer.catalog import TableError, read_table
from neurofetch.transfer.paths import UnsafeName, safe_relpath
from neurofetch.transfer.results import RunResult
from neurofetch.transfer.work import Document, FileItem, Work
from neurofetch.urls import redact_url

Row = dict[str, Any]
DEFAULT_PORTS = {"http": 80, "https": 443}


def file_row(item: FileItem, relpath: str) -> Row:
    """The `ls` row of a file: the common columns, then the service's own (FileItem.meta)."""
    return {"path": relpath, "url": redact_url(item.url), "size": item.expected_size, **item.meta}


@dataclass
class CatalogSink:
    """Receives the rows of an `ls` crawl as they are found; counts them and their known bytes."""

    emit: Callable[[Row], None]
    result: RunResult

    def file(self, item: FileItem, relpath: str) -> None:
        self.row(file_row(item, relpath))

    def row(self, row: Row) -> None:
        self.emit(row)
        self.result.add("rows")
        size = row.get("size")
        if isinstance(size, int) and not isinstance(size, bool):
            self.result.bytes += size


def origin(url: str) -> str:
    """``scheme://host:port`` of a URL (default ports spelled out), or ``s3://bucket``."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return url
    host = (parts.hostname or "").lower()
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port else "")


@dataclass
class Manifest:
    """The rows of a table `ls` wrote, by path; what the crawl met so far."""

    source: Path
    rows: dict[str, int]  # path → row number (1 = the first row after the header)
    dirs: set[str] = field(default_factory=set)
    met: set[str] = field(default_factory=set)
    dropped: set[str] = field(default_factory=set)
    values: dict[str, set[str]] = field(default_factory=dict)  # column → the values in it (to prune a crawl)

    @classmethod
    def load(
        cls, path: Path, *, service: str, key_column: str, server: str, prune_by: tuple[str, ...] = ()
    ) -> Manifest:
        """Read ``path``; exit 2 when it is malformed (line and column named) or from another service or server.
        The values of the ``prune_by`` columns are kept: a crawl may skip what none of the rows is in."""
        rows: dict[str, int] = {}
        values: dict[str, set[str]] = {column: set() for column in prune_by}
        expected = origin(server)
        for number, row in enumerate(read_table(path), start=1):
            if number == 1:
                _check_columns(path, row, service, key_column)
            relpath = row.get("path")
            if not isinstance(relpath, str) or not relpath.strip():
                raise TableError(f"{path}, row {number}, column path: empty")
            url = row.get("url")
            if isinstance(url, str) and url and origin(url) != expected:
                raise UsageError(
                    f"{path}, row {number}: its url {url} is not on this profile's server "
                    f"({expected}); the table was written for another service or server"
                )
            rows.setdefault(relpath.strip().strip("/"), number)
            for column, seen in values.items():
                seen.add(str(row.get(column) or ""))
        return cls(path, rows, dirs=_ancestors(rows), values=values)

    def admits(self, work: Work) -> bool:
        """Files only when the manifest names them; a record only beside a named file; listings always."""
        if isinstance(work, FileItem):
            try:
                relpath = safe_relpath(work.parts)
            except UnsafeName:
                return False
            return self.take(relpath)
        if isinstance(work, Document):
            try:
                relpath = safe_relpath(work.parts)
            except UnsafeName:
                return False
            parent = relpath.rpartition("/")[0]
            return parent in self.dirs and _record_owner(relpath) not in self.dropped
        return True

    def take(self, relpath: str) -> bool:
        """Whether the file at ``relpath`` is one of the rows; remembers it as met (or as dropped)."""
        if relpath in self.rows:
            self.met.add(relpath)
            return True
        self.dropped.add(relpath)
        return False

    def missing(self) -> list[tuple[str, int]]:
        return sorted(((p, n) for p, n in self.rows.items() if p not in self.met), key=lambda pair: pair[1])

    def report_missing(self, result: RunResult) -> None:
        for relpath, number in self.missing():
            result.fail(relpath, f"row {number} of {self.source.name}: no longer on the server")


def _check_columns(path: Path, row: Mapping[str, Any], service: str, key_column: str) -> None:
    if "path" not in row:
        raise TableError(f"{path}: no 'path' column; a manifest is a table written by `neurofetch ls`")
    if key_column not in row:
        raise UsageError(
            f"{path} is not a {service} table (no {key_column!r} column): it was written by `ls` of another service"
        )


def _ancestors(paths: Iterable[str]) -> set[str]:
    dirs = {""}
    for relpath in paths:
        parts = relpath.split("/")[:-1]
        for end in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:end]))
    return dirs


def _record_owner(relpath: str) -> str:
    """The file a record beside it describes: x.nii.qc.json and x.nii.json → x.nii."""
    return relpath.removesuffix(".json").removesuffix(".qc")
