"""One destination path, one source: what a listing names twice is done once, and two sources for one path fail.

Two downloads into the same ``.part`` at once corrupt the file, so every file and record is claimed by its
destination path before it runs:

- the same path from the same source (URL and query parameters, or the same record) again: dropped;
- the same path from a different source: a failure naming both sources and the path; the one not yet started
  is not written either (one that already ran stays, and the failure says so).

Listings are claimed by their label, which names what is listed ("visit 300001/V1"): a candidate or visit
listed twice is read once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

from neurofetch.errors import RemoteDataError
from neurofetch.net import json_limits
from neurofetch.transfer.paths import UnsafeName, safe_relpath
from neurofetch.transfer.work import Document, FileItem, Listing, Work

RECORD = "record:"


@dataclass(slots=True)
class _Claim:
    source: str
    started: bool = False
    conflicted: bool = False


@dataclass
class PathClaims:
    """The destination paths (and listing labels) of one run, and who claimed each."""

    paths: dict[str, _Claim] = field(default_factory=dict)
    listings: set[str] = field(default_factory=set)

    def admit(self, work: Sequence[Work]) -> tuple[list[Work], list[tuple[str, str]]]:
        """The work to run, each path and listing once; and ``(path, error)`` for paths two sources claim."""
        admitted: list[Work] = []
        conflicts: list[tuple[str, str]] = []
        for item in work:
            if isinstance(item, Listing):
                if item.label not in self.listings:
                    self.listings.add(item.label)
                    admitted.append(item)
                continue
            relpath, source = _identify(item)
            if relpath is None or source is None:
                admitted.append(item)  # an unsafe name or an unwritable record: the engine fails it, once
                continue
            claim = self.paths.get(relpath)
            if claim is None:
                self.paths[relpath] = _Claim(source)
                admitted.append(item)
            elif claim.source != source and not claim.conflicted:
                claim.conflicted = True
                conflicts.append((relpath, _conflict(claim, source)))
        return admitted, conflicts

    def start(self, item: FileItem | Document) -> bool:
        """Whether ``item`` may run now: False once another source claimed its path too."""
        relpath, _source = _identify(item, with_source=False)
        claim = self.paths.get(relpath) if relpath is not None else None
        if claim is None:
            return True
        claim.started = True
        return not claim.conflicted


def _identify(item: FileItem | Document, *, with_source: bool = True) -> tuple[str | None, str | None]:
    try:
        relpath = safe_relpath(item.parts)
    except UnsafeName:
        return None, None
    if not with_source:
        return relpath, None
    if isinstance(item, FileItem):
        query = urlencode(sorted((str(k), str(v)) for k, v in item.params.items()))
        return relpath, item.url + ("?" if query and "?" not in item.url else "&" if query else "") + query
    try:
        return relpath, RECORD + hashlib.sha256(record_bytes(item, relpath)).hexdigest()
    except RemoteDataError:
        return relpath, None


def record_bytes(doc: Document, relpath: str) -> bytes:
    """``doc`` as written to disk, encoded once for its claim and its write."""
    if doc.encoded is None:
        doc.encoded = json_limits.dumps_record(doc.data, relpath)
    return doc.encoded


def _conflict(first: _Claim, second: str) -> str:
    shown = [_shown(first.source), _shown(second)]
    kinds = "two different records" if all(s == "a record" for s in shown) else f"{shown[0]} and {shown[1]}"
    outcome = (
        "only the first, already done before the second was listed, was written"
        if first.started
        else "neither is written"
    )
    return f"the server lists {kinds} for this one path; {outcome}"


def _shown(source: str) -> str:
    """A source as the failure names it: a URL without its query (which may carry tokens), or "a record"."""
    if source.startswith(RECORD):
        return "a record"
    parts = urlsplit(source)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
