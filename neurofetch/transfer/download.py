"""One file: stream raw bytes into ``<name>.part``, check, rename into place, record in the journal."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from neurofetch.errors import ExitCode, ItemError, NeurofetchError
from neurofetch.net.http import raise_for_status
from neurofetch.net.retry import RetryableError, retrying
from neurofetch.transfer.sink import PartSink, on_disk_thread
from neurofetch.transfer.work import FileItem

if TYPE_CHECKING:
    from neurofetch.transfer.engine import Context

CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


class DestinationError(NeurofetchError):
    """The destination cannot take more data (disk full, read-only, no permission): stop the run.

    Files already complete stay complete and recorded; a ``.part`` being written is removed, the
    others stay for the next run to resume.
    """

    exit_code = ExitCode.PARTIAL


def part_path(final: Path) -> Path:
    """``<name>.part`` beside the file; a name too long for that gets a shortened temporary name."""
    name = final.name + ".part"
    if len(name.encode("utf-8")) > 255:
        name = hashlib.sha256(final.name.encode()).hexdigest()[:32] + ".part"
    return final.with_name(name)


def html_instead_of_file(first: bytes, content_type: str) -> str | None:
    """The default content check: an HTML page where a file was expected is an error page."""
    if content_type.split(";")[0].strip().lower() == "text/html":
        return "the server sent an HTML page instead of the file"
    return None


async def download_file(item: FileItem, relpath: str, final: Path, ctx: Context) -> int:
    """Fetch ``item`` to ``final``; return the number of bytes in the complete file."""
    part = part_path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise disk_error(exc, final.parent) from None
    ctx.reporter.started(relpath, item.expected_size)

    async def attempt() -> tuple[int, str]:
        return await _attempt(item, relpath, part, ctx)

    size, digest = await retrying(attempt, ctx.policy)
    try:
        mtime_ns = await on_disk_thread(_place, part, final)
    except OSError as exc:
        raise disk_error(exc, final) from None
    try:
        ctx.journal.record(relpath, size, digest, _public_url(item.url, ctx), mtime_ns)
    except sqlite3.Error as exc:   # e.g. "database or disk is full": the file is fetched again next time
        raise DestinationError(f"cannot record {relpath} in {ctx.journal.path}: {exc}") from None
    return size


async def _attempt(item: FileItem, relpath: str, part: Path, ctx: Context) -> tuple[int, str]:
    offset = _existing_size(part) if ctx.resume_parts else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    async with ctx.client.stream("GET", item.url, headers=headers, params=item.params or None) as response:
        if response.status_code == 416 and offset:
            _remove(part)   # the .part is not a prefix of what the server has now
            raise RetryableError(f"{relpath}: server refused to resume; starting over", immediate=True)
        raise_for_status(response, relpath)
        start = _resume_offset(response, offset)
        expected = _expected_total(response, start)
        if expected is not None and item.expected_size is None:
            ctx.reporter.sized(relpath, expected)
        if item.expected_size is not None and expected is not None and expected != item.expected_size:
            raise ItemError(f"{relpath}: server announces {expected} bytes, the listing said {item.expected_size}")
        chunks = response.aiter_raw()
        # Look at the first bytes before touching the .part: an error page must not replace a resumable prefix.
        first = await anext(chunks, None)
        _check_content(item, first or b"", response.headers.get("content-type", ""), relpath)
        sink = PartSink(part, start)
        try:
            chunk = first
            while chunk is not None:
                await sink.write(chunk)
                ctx.reporter.advanced(len(chunk), relpath)
                chunk = await anext(chunks, None)
            digest = await sink.finish()
        except OSError as exc:
            sink.abandon()
            _remove(part)
            raise disk_error(exc, part) from None
        except httpx.TransportError:
            await sink.keep_received()   # what arrived stays in the .part for the next attempt to resume from
            raise
        except BaseException:
            sink.abandon()
            raise
    received = sink.size
    if expected is not None and received != expected:
        raise RetryableError(f"{relpath}: body had {received} bytes, expected {expected}")
    if item.expected_size is not None and received != item.expected_size:
        raise RetryableError(f"{relpath}: got {received} bytes, the listing said {item.expected_size}")
    return received, digest


def _resume_offset(response: httpx.Response, offset: int) -> int:
    """Where the body starts: ``offset`` only for a 206 whose Content-Range matches, else 0."""
    if response.status_code != 206 or not offset:
        if response.status_code == 206:
            raise RetryableError("server sent a partial answer that was not asked for", immediate=True)
        return 0
    match = CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
    if not match or int(match.group(1)) != offset:
        raise RetryableError("server answered a resume with a mismatched Content-Range", immediate=True)
    return offset


def _expected_total(response: httpx.Response, start: int) -> int | None:
    # Raw bytes are stored as sent, so Content-Length applies even with a Content-Encoding.
    length = response.headers.get("content-length")
    try:
        return start + int(length) if length is not None else None
    except ValueError:
        return None


def _check_content(item: FileItem, first: bytes, content_type: str, relpath: str) -> None:
    for check in (html_instead_of_file, item.check):
        problem = check(first, content_type) if check else None
        if problem:
            raise RetryableError(f"{relpath}: {problem}")


def _place(part: Path, final: Path) -> int:
    """Rename the complete ``.part`` into place; return the file's mtime in ns for the journal."""
    os.replace(part, final)
    return final.stat().st_mtime_ns


def _existing_size(part: Path) -> int:
    try:
        return part.stat().st_size
    except OSError:
        return 0


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def disk_error(exc: OSError, where: Path) -> Exception:
    if exc.errno in DISK_ERRNOS:
        reason = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
                  errno.EROFS: "the file system is read-only"}.get(exc.errno or 0, "permission denied")
        return DestinationError(f"cannot write {where}: {reason}")
    return ItemError(f"cannot write {where}: {exc.strerror or exc}")


def _public_url(url: str, ctx: Context) -> str:
    """The source recorded in the journal: the URL without its query (which may carry tokens)."""
    if url.startswith(("http://", "https://")):
        return url.split("?", 1)[0]
    full = ctx.client.base_url.join(url) if ctx.client.base_url else httpx.URL(url)
    return str(full.copy_with(query=None))
