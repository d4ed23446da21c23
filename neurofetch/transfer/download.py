"""One file: stream raw bytes into ``<name>.part``, check, rename into place, record in the journal."""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from neurofetch.errors import ItemError, unwritable
from neurofetch.net.http import Response, TransportError, raise_for_status
from neurofetch.net.retry import RetryableError, retrying
from neurofetch.transfer.journal import unchanged
from neurofetch.transfer.paths import PART_SUFFIX
from neurofetch.transfer.segments import CONTENT_RANGE, Segments, fetch_in_segments, segment_count
from neurofetch.transfer.sink import PartSink, on_disk_thread, sha256_file
from neurofetch.transfer.work import FileItem, html_instead_of_file

if TYPE_CHECKING:
    from neurofetch.transfer.context import Context

PART_SIZE_KEY = "part-size:"  # journal record: the size announced when a file's .part began
SNIFF_BYTES = 4096  # enough of a file's start for every content check


def part_path(final: Path) -> Path:
    """``<name>.part`` beside the file; a name too long for that gets a shortened temporary name."""
    name = final.name + PART_SUFFIX
    if len(name.encode("utf-8")) > 255:
        name = hashlib.sha256(final.name.encode()).hexdigest()[:32] + PART_SUFFIX
    return final.with_name(name)


class SegmentsInstead(Exception):
    """The server serves ranges of this large file: fetch it in ``count`` segments rather than one stream."""

    def __init__(self, total: int, count: int) -> None:
        super().__init__(f"{count} segments of {total} bytes")
        self.total, self.count = total, count


async def download_file(item: FileItem, relpath: str, final: Path, ctx: Context) -> int:
    """Fetch ``item`` to ``final``; return the number of bytes in the complete file."""
    part = part_path(final)
    # A .part to resume is one the folder held before this run wrote into it, or one an earlier attempt left.
    may_resume = part.name in _make_folder(final.parent, ctx)
    ctx.reporter.started(relpath, item.expected_size)
    segmented = True

    async def attempt() -> tuple[int, str]:
        nonlocal may_resume
        resume, may_resume = may_resume, True
        try:
            return await _attempt(item, relpath, part, ctx, segmented=segmented, may_resume=resume)
        except ItemError:
            if final.parent not in ctx.made_folders or final.parent.is_dir():
                raise
            del ctx.made_folders[final.parent]  # removed during the run (by its user): made again
            _make_folder(final.parent, ctx)
            raise RetryableError(f"{relpath}: its folder was removed during the run", immediate=True) from None

    recorded = Segments.recorded(ctx, relpath, part) if ctx.resume_parts else None
    got = await _in_segments(item, relpath, part, ctx, recorded) if recorded else None
    if got is None:
        try:
            got = await retrying(attempt, ctx.policy, relpath)
        except SegmentsInstead as wanted:
            got = await _in_segments(item, relpath, part, ctx, Segments.split(ctx, relpath, wanted.total, wanted.count))
            if got is None:  # the server did not keep its word on ranges: one stream, from the start
                segmented = False
                got = await retrying(attempt, ctx.policy, relpath)
    size, digest = got
    try:
        mtime_ns = await on_disk_thread(_place, part, final)
    except OSError as exc:
        raise disk_error(exc, final) from None
    # A DestinationError here ("database or disk is full") leaves the file to be fetched again next time.
    ctx.journal.record(relpath, size, digest, _public_url(item.url, ctx), mtime_ns, item.meta)
    ctx.journal.forget_record(PART_SIZE_KEY + relpath)
    return size


def _make_folder(folder: Path, ctx: Context) -> frozenset[str]:
    """Make ``folder`` once per run and return the names of the ``.part`` files in it then. A mkdir and a stat
    of the ``.part`` per file on the event loop each waited for the directory's lock and the GIL while the disk
    threads created files beside it (~0.7 ms a call in the LORIS benchmark under load)."""
    found = ctx.made_folders.get(folder)
    if found is not None:
        return found
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with os.scandir(folder) as entries:
            found = frozenset(entry.name for entry in entries if entry.name.endswith(PART_SUFFIX))
    except OSError as exc:
        raise disk_error(exc, folder) from None
    ctx.made_folders[folder] = found
    return found


async def already_complete(relpath: str, final: Path, ctx: Context) -> bool:
    """Whether the journal records ``relpath`` complete and the local file is still it: same size and
    mtime, or same size and sha256 under a new mtime (which the journal then takes, unless in a dry run)."""
    entry = ctx.journal.get(relpath)
    if entry is None:
        return False
    same = unchanged(entry, final)
    if same is not None:
        return same
    try:
        digest = await on_disk_thread(sha256_file, final)
        mtime_ns = final.stat().st_mtime_ns
    except OSError:
        return False
    if digest != entry.sha256:
        return False
    if not ctx.dry_run:
        ctx.journal.touch(relpath, mtime_ns)
    return True


async def _in_segments(
    item: FileItem, relpath: str, part: Path, ctx: Context, plan: Segments
) -> tuple[int, str] | None:
    try:
        return await fetch_in_segments(item, relpath, part, ctx, plan)
    except OSError as exc:
        plan.forget()
        _remove(part)
        raise disk_error(exc, part) from None


async def _attempt(
    item: FileItem, relpath: str, part: Path, ctx: Context, *, segmented: bool, may_resume: bool = True
) -> tuple[int, str]:
    offset = _existing_size(part) if ctx.resume_parts and may_resume else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    async with ctx.client.stream("GET", item.url, headers=headers, params=item.params or None) as response:
        if response.status_code == 416 and offset:
            _remove(part)  # the .part is not a prefix of what the server has now
            raise RetryableError(f"{relpath}: server refused to resume; starting over", immediate=True)
        raise_for_status(response, relpath)
        known = item.expected_size if item.expected_size is not None else _size_when_begun(ctx, relpath)
        problem = _range_problem(response, offset, known)
        if problem:  # what came is not the rest of the .part: never splice it on
            _remove(part)
            raise RetryableError(f"{relpath}: {problem}; starting over", immediate=True)
        start = offset if response.status_code == 206 else 0
        expected = _expected_total(response, start)
        if expected is not None and item.expected_size is None:
            ctx.reporter.sized(relpath, expected)
        if item.expected_size is not None and expected is not None and expected != item.expected_size:
            raise ItemError(f"{relpath}: server announces {expected} bytes, the listing said {item.expected_size}")
        if (
            segmented
            and not start
            and expected is not None
            and ctx.segments != 1
            and response.headers.get("accept-ranges", "").strip().lower() == "bytes"
            and segment_count(ctx.segments, expected) > 1
        ):
            raise SegmentsInstead(expected, segment_count(ctx.segments, expected))
        chunks = response.aiter_raw()
        # Look at the first bytes before touching the .part: an error page must not replace a resumable prefix.
        first = await anext(chunks, None)
        await _check_content(item, first or b"", response.headers.get("content-type", ""), relpath, part, start)
        if not start:
            _record_begun(ctx, relpath, expected)
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
        except TransportError:
            await sink.keep_received()  # what arrived stays in the .part for the next attempt to resume from
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


def _range_problem(response: Response, offset: int, known: int | None) -> str | None:
    """Why a response cannot continue a ``.part`` of ``offset`` bytes, or None.

    A 200 is a whole file (the ``.part`` is overwritten); a 206 must be exactly the rest of the file
    asked for: from ``offset`` to the end, of the size known from the listing or from when the
    ``.part`` began.
    """
    if response.status_code != 206:
        return None
    if not offset:
        return "server sent a partial answer that was not asked for"
    match = CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
    if not match or match.group(3) == "*":
        return "server answered a resume without a usable Content-Range"
    first, last, total = int(match.group(1)), int(match.group(2)), int(match.group(3))
    if first != offset or last != total - 1:
        return f"server answered a resume from byte {offset} with bytes {first}-{last} of {total}"
    if known is not None and total != known:
        return f"server answered a resume of a {known}-byte file with part of a {total}-byte file"
    length = response.headers.get("content-length")
    if length is not None and length.strip() != str(total - offset):
        return "server answered a resume with a Content-Length that does not match its Content-Range"
    return None


def _expected_total(response: Response, start: int) -> int | None:
    if response.status_code == 206:  # checked by _range_problem: "bytes start-(total-1)/total"
        match = CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
        return int(match.group(3)) if match else None
    # Raw bytes are stored as sent, so Content-Length applies even with a Content-Encoding.
    length = response.headers.get("content-length")
    try:
        return start + int(length) if length is not None else None
    except ValueError:
        return None


def _size_when_begun(ctx: Context, relpath: str) -> int | None:
    value = ctx.journal.get_record(PART_SIZE_KEY + relpath)
    return int(value) if value is not None and value.isdigit() else None


def _record_begun(ctx: Context, relpath: str, expected: int | None) -> None:
    """Remember the size the server announced when the ``.part`` began, to check later resumes against."""
    if expected is None:
        ctx.journal.forget_record(PART_SIZE_KEY + relpath)
    else:
        ctx.journal.put_record(PART_SIZE_KEY + relpath, str(expected))


async def _check_content(item: FileItem, first: bytes, content_type: str, relpath: str, part: Path, start: int) -> None:
    problem = html_instead_of_file(first, content_type)
    if problem:
        raise RetryableError(f"{relpath}: {problem}")
    if item.check is None:
        return
    # A resumed body begins in the middle of the file: the format is recognised by the file's own start.
    head = await on_disk_thread(_file_head, part, start, first) if start else first
    problem = item.check(head, content_type)
    if problem and start:
        _remove(part)  # the kept prefix is not such a file: fetch it whole
        raise RetryableError(f"{relpath}: {problem}; starting over", immediate=True)
    if problem:
        raise RetryableError(f"{relpath}: {problem}")


def _file_head(part: Path, start: int, first: bytes) -> bytes:
    try:
        with open(part, "rb") as existing:
            head = existing.read(min(start, SNIFF_BYTES))
    except OSError:  # the .part is gone: nothing to resume, the check fails and the file starts over
        return b""
    return head + first if len(head) == start else head


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
    return unwritable(exc, where) or ItemError(f"cannot write {where}: {exc.strerror or exc}")


def _public_url(url: str, ctx: Context) -> str:
    """The source recorded in the journal: the URL without its userinfo and query (which may carry secrets)."""
    from neurofetch.urls import redact_url

    if not url.startswith(("http://", "https://")) and ctx.client.base_url:
        url = str(ctx.client.base_url.join(url))
    return redact_url(url)
