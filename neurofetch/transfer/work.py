"""The units of work a service hands to the engine: listings, files to fetch, documents to write."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

ContentCheck = Callable[[bytes, str], str | None]
"""Given the first bytes of a body and its Content-Type, an error message or None if acceptable."""


def html_instead_of_file(first: bytes, content_type: str) -> str | None:
    """The default content check: an HTML page where a file was expected is an error page."""
    if content_type.split(";")[0].strip().lower() == "text/html":
        return "the server sent an HTML page instead of the file"
    return None


@dataclass
class Listing:
    """Fetch something (usually JSON) and return more work. ``root`` listings failing means the
    service is unusable, so the run stops; other listings failing are failed items. ``label`` names
    what is listed: a run reads each label once (a visit listed twice is one listing)."""

    label: str
    fetch: Fetch
    root: bool = False
    unit: str | None = None


@dataclass
class FileItem:
    """A file to download into DEST/<parts...>. Names in ``parts`` come from the server and are
    checked by the engine's safe-path function before anything touches the disk."""

    parts: Sequence[Any]
    url: str
    expected_size: int | None = None
    check: ContentCheck | None = None
    unit: str | None = None
    label: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    records: Sequence[str] = ()  # names of its records, written beside it by this listing or a later one
    meta: dict[str, Any] = field(default_factory=dict)  # the service's columns of this file's `ls` row


@dataclass
class Document:
    """A JSON document (a listing's record) to write at DEST/<parts...>, replaced only when it changed."""

    parts: Sequence[Any]
    data: Any
    unit: str | None = None
    encoded: bytes | None = field(default=None, repr=False, compare=False)  # ``data`` as written, once made


Work = Listing | FileItem | Document
Fetch = Callable[[Any], Awaitable[Sequence[Work]]]
"""What a listing runs: fetch a page and return the work it finds. Its argument is the run's
transfer/context.py ``Context``, named loosely here: the context is built from these work items' modules."""
