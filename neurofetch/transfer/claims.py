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
from collections.abc import Collection, Sequence
from urllib.parse import urlencode, urlsplit, urlunsplit

from neurofetch.errors import RemoteDataError
from neurofetch.net import json_limits
from neurofetch.transfer.paths import UnsafeName, safe_relpath
from neurofetch.transfer.seen import SeenStore
from neurofetch.transfer.work import Document, FileItem, Listing, Work

RECORD = "record:"


STARTED_KEPT = 1024  # paths started since the store was last told: written in one batch


class PathClaims:
    """The destination paths (and listing labels) of one run, and who claimed each: in ``store``, so that
    a tree of any size takes the same memory. Only the paths two sources claim (each a failure) stay here."""

    def __init__(self, store: SeenStore | None = None) -> None:
        self.store = store or SeenStore()
        self.conflicted: set[str] = set()
        self._started: set[str] = set()  # claimed paths started since the store was last told

    def admit(self, work: Sequence[Work]) -> tuple[list[Work], list[tuple[str, str]]]:
        """The work to run, each path and listing once; and ``(path, error)`` for paths two sources claim."""
        identified = [(item, *_identify(item)) for item in work if not isinstance(item, Listing)]
        known = self.store.claims({relpath for _item, relpath, _source in identified if relpath is not None})
        listed = self.store.listings({item.label for item in work if isinstance(item, Listing)})
        sources = {relpath: source for relpath, (source, _started) in known.items()}
        new_claims: dict[str, str] = {}
        new_listings: list[str] = []
        admitted: list[Work] = []
        conflicts: list[tuple[str, str]] = []
        files = iter(identified)
        for item in work:
            if isinstance(item, Listing):
                if item.label not in listed:
                    listed.add(item.label)
                    new_listings.append(item.label)
                    admitted.append(item)
                continue
            _item, relpath, source = next(files)
            if relpath is None or source is None:
                admitted.append(item)  # an unsafe name or an unwritable record: the engine fails it, once
                continue
            first = sources.get(relpath)
            if first is None:
                sources[relpath] = new_claims[relpath] = source
                admitted.append(item)
            elif first != source and relpath not in self.conflicted:
                self.conflicted.add(relpath)
                started = relpath in self._started or known.get(relpath, ("", False))[1]
                conflicts.append((relpath, _conflict(first, started, source)))
        self.store.add_claims(new_claims.items())
        self.store.add_listings(new_listings)
        return admitted, conflicts

    def start(self, item: FileItem | Document) -> bool:
        """Whether ``item`` may run now: False once another source claimed its path too."""
        relpath, _source = _identify(item, with_source=False)
        if relpath is None:
            return True
        if relpath in self.conflicted:
            return False
        self._started.add(relpath)
        if len(self._started) >= STARTED_KEPT:
            self.store.mark_started(self._started)
            self._started.clear()
        return True

    def claimed(self, paths: Collection[str]) -> set[str]:
        """Those of ``paths`` this run claimed."""
        return set(self.store.claims(paths))

    def claimed_in(self, prefix: str) -> list[str]:
        """The paths this run claimed directly in the folder ``prefix`` (its path and "/"; "" for the top)."""
        return [path for path in self.store.claimed_under(prefix) if "/" not in path[len(prefix) :]]


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


def _conflict(first: str, started: bool, second: str) -> str:
    shown = [_shown(first), _shown(second)]
    kinds = "two different records" if all(s == "a record" for s in shown) else f"{shown[0]} and {shown[1]}"
    outcome = (
        "only the first, already done before the second was listed, was written" if started else "neither is written"
    )
    return f"the server lists {kinds} for this one path; {outcome}"


def _shown(source: str) -> str:
    """A source as the failure names it: a URL without its query (which may carry tokens), or "a record"."""
    if source.startswith(RECORD):
        return "a record"
    parts = urlsplit(source)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
