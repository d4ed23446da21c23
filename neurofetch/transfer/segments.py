"""--segments: one large file fetched as N byte ranges at once, each written at its offset into the one ``.part``.

Only where the server announces ``Accept-Ranges: bytes`` and then answers every range with exactly the 206
asked for: the right ``Content-Range`` of the same total, the right length. Anything else (a 200, another
range, another total, more bytes than asked) means the server does not really serve ranges: the ``.part`` is
dropped and the file streamed whole, so a lying server never leaves a spliced file. How far each segment got
is kept in the journal, so an interrupted file resumes segment by segment; the whole file's sha256 is
computed once, at the end, from the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from neurofetch.net.http import TransportError, raise_for_status
from neurofetch.net.retry import RetryableError, retrying
from neurofetch.transfer.sink import BLOCK, on_disk_thread, sha256_file
from neurofetch.transfer.work import FileItem, html_instead_of_file

if TYPE_CHECKING:
    from neurofetch.transfer.context import Context

CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
SEGMENTS_KEY = "segments:"  # journal record: the total and each segment's [start, end, next byte to fetch]
AUTOMATIC = 4  # segments when --segments is not given...
AUTOMATIC_FROM = 64 << 20  # ...for files at least this big
SMALLEST_SEGMENT = 1 << 20  # --segments N never cuts a file into pieces smaller than this
SAVE_SECONDS = 1.0  # how often a segment's progress is written to the journal


class RangesRefused(Exception):
    """The server does not answer this file's ranges correctly: fetch it whole instead."""


def segment_count(setting: int | None, total: int) -> int:
    """How many segments a file of ``total`` bytes gets under ``--segments`` (None: automatic)."""
    if setting is None:
        return AUTOMATIC if total >= AUTOMATIC_FROM else 1
    return max(1, min(setting, total // SMALLEST_SEGMENT))


@dataclass
class Segment:
    start: int
    end: int  # inclusive, as in a Range header
    next: int  # the first byte not yet on disk

    @property
    def done(self) -> bool:
        return self.next > self.end


class Segments:
    """The segments of one file and their progress in the journal."""

    def __init__(self, ctx: Context, relpath: str, total: int, segments: list[Segment]) -> None:
        self.ctx, self.relpath, self.total, self.segments = ctx, relpath, total, segments
        self._saved = time.monotonic()

    @classmethod
    def split(cls, ctx: Context, relpath: str, total: int, count: int) -> Segments:
        size = -(-total // count)
        return cls(
            ctx,
            relpath,
            total,
            [Segment(start, min(start + size, total) - 1, start) for start in range(0, total, size)],
        )

    @classmethod
    def recorded(cls, ctx: Context, relpath: str, part: Path) -> Segments | None:
        """The segments of an interrupted run, if its ``.part`` is still there at its full size."""
        text = ctx.journal.get_record(SEGMENTS_KEY + relpath)
        if text is None:
            return None
        try:
            record = json.loads(text)
            total = int(record["total"])
            segments = [Segment(int(s), int(e), int(n)) for s, e, n in record["segments"]]
            if part.stat().st_size == total and all(s.start <= s.next <= s.end + 1 for s in segments):
                return cls(ctx, relpath, total, segments)
        except (OSError, ValueError, KeyError, TypeError):
            pass
        ctx.journal.forget_record(SEGMENTS_KEY + relpath)
        return None

    @property
    def fetched(self) -> int:
        return sum(s.next - s.start for s in self.segments)

    def save(self, *, now: bool = False) -> None:
        if now or time.monotonic() - self._saved >= SAVE_SECONDS:
            self._saved = time.monotonic()
            record = {"total": self.total, "segments": [[s.start, s.end, s.next] for s in self.segments]}
            self.ctx.journal.put_record(SEGMENTS_KEY + self.relpath, json.dumps(record))

    def forget(self) -> None:
        self.ctx.journal.forget_record(SEGMENTS_KEY + self.relpath)


async def fetch_in_segments(
    item: FileItem, relpath: str, part: Path, ctx: Context, plan: Segments
) -> tuple[int, str] | None:
    """Fetch the file's missing ranges side by side; (size, sha256), or None when the server turned out not
    to serve ranges (the ``.part`` and the record are gone then: the caller streams the file whole)."""
    fresh = plan.fetched == 0
    if fresh:
        await on_disk_thread(_allocate, part, plan.total)
    plan.save(now=True)
    ctx.reporter.sized(relpath, plan.total)
    if not fresh:
        ctx.reporter.advanced(plan.fetched, relpath)
    try:
        await _all(
            _fetch_segment(item, relpath, part, ctx, plan, segment) for segment in plan.segments if not segment.done
        )
    except RangesRefused:
        plan.forget()
        with contextlib.suppress(OSError):
            part.unlink()
        return None
    finally:
        plan.save(now=True)
    digest = await on_disk_thread(sha256_file, part)
    plan.forget()
    return plan.total, digest


async def _all(steps: Iterable[Awaitable[None]]) -> None:
    """Run ``steps`` together to their ends, then raise the first error; a refusal of ranges stops them all."""
    tasks = [asyncio.ensure_future(step) for step in steps]
    try:
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            if any(not task.cancelled() and isinstance(task.exception(), RangesRefused) for task in done):
                raise RangesRefused
        for task in tasks:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _fetch_segment(
    item: FileItem, relpath: str, part: Path, ctx: Context, plan: Segments, segment: Segment
) -> None:
    label = f"{relpath} (bytes {segment.start}-{segment.end})"

    async def attempt() -> None:
        await _fetch_rest(item, relpath, part, ctx, plan, segment)

    await retrying(attempt, ctx.policy, label)


async def _fetch_rest(item: FileItem, relpath: str, part: Path, ctx: Context, plan: Segments, segment: Segment) -> None:
    first, last = segment.next, segment.end
    if first > last:
        return
    headers = {"Range": f"bytes={first}-{last}"}
    async with ctx.client.stream("GET", item.url, headers=headers, params=item.params or None) as response:
        raise_for_status(response, relpath)
        match = CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
        wanted = (str(first), str(last), str(plan.total))
        if response.status_code != 206 or match is None or match.groups() != wanted:
            raise RangesRefused
        length = response.headers.get("content-length")
        if length is not None and length.strip() != str(last - first + 1):
            raise RangesRefused
        fd = await on_disk_thread(os.open, part, os.O_WRONLY)
        try:
            pending: list[bytes] = []
            pending_size = 0
            chunks = response.aiter_raw()
            while True:
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
                except TransportError:
                    await _write(fd, segment, pending)  # what arrived counts: the next attempt goes on from there
                    raise
                if segment.next + pending_size == 0 and first == 0:
                    problem = html_instead_of_file(chunk, response.headers.get("content-type", ""))
                    problem = problem or (
                        item.check(chunk, response.headers.get("content-type", "")) if item.check else None
                    )
                    if problem:
                        raise RetryableError(f"{relpath}: {problem}")
                if segment.next + pending_size + len(chunk) > last + 1:
                    raise RangesRefused  # more than the range asked for
                pending.append(chunk)
                pending_size += len(chunk)
                ctx.reporter.advanced(len(chunk), relpath)
                if pending_size >= BLOCK:
                    await _write(fd, segment, pending)
                    pending, pending_size = [], 0
                    plan.save()
            await _write(fd, segment, pending)
        finally:
            await on_disk_thread(os.close, fd)
    if not segment.done:
        raise RetryableError(f"{relpath}: bytes {first}-{last} ended at byte {segment.next}")


async def _write(fd: int, segment: Segment, blocks: list[bytes]) -> None:
    if blocks:
        data = b"".join(blocks)
        await on_disk_thread(_pwrite_all, fd, data, segment.next)
        segment.next += len(data)


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _allocate(part: Path, total: int) -> None:
    with open(part, "wb") as out:
        out.truncate(total)
