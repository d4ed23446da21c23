"""The engine: a bounded pool of workers running listings, downloads and document writes.

Listings produce more work, so crawling and transferring overlap: the first file arrives after
the first listing, not after all of them. Files go ahead of listings in the queue, and deeper
listings ahead of shallower ones (a visit's QC records before the next visit), which keeps the number
of known-but-unfetched items, and the memory they hold, small however large the tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from neurofetch.errors import (
    AuthError,
    DestinationError,
    EndlessListingError,
    ForbiddenError,
    HttpStatusError,
    ItemError,
    NeurofetchError,
    RemoteDataError,
    UnreachableError,
)
from neurofetch.net.http import TransportError, not_the_api
from neurofetch.net.retry import RetryableError, describe
from neurofetch.transfer.claims import record_bytes
from neurofetch.transfer.context import Context
from neurofetch.transfer.download import already_complete, disk_error, download_file
from neurofetch.transfer.paths import UnsafeName, local_path, safe_relpath
from neurofetch.transfer.sink import on_disk_thread
from neurofetch.transfer.work import Document, FileItem, Listing, Work


async def run(roots: Sequence[Work], ctx: Context, jobs: int) -> None:
    """Run ``roots`` and everything they lead to with ``jobs`` workers; Ctrl-C/SIGTERM stop it cleanly."""
    queue: asyncio.PriorityQueue[tuple[int, int, int, int, Work]] = asyncio.PriorityQueue()
    order = itertools.count()
    pending = 0
    listings = 0  # queued or running; at 0 no listing can appear any more: the file count is final
    all_done = asyncio.Event()

    def put(work: Work, depth: int = 0) -> None:
        nonlocal pending, listings
        pending += 1
        listings += isinstance(work, Listing)
        kind, deeper_first = (1, -depth) if isinstance(work, Listing) else (0, 0)
        queue.put_nowait((kind, deeper_first, next(order), depth, work))

    async def worker() -> None:
        nonlocal pending, listings
        while True:
            _, _, _, depth, work = await queue.get()
            try:
                for child in await _execute(work, ctx):
                    put(child, depth + 1)
            finally:
                pending -= 1
                if isinstance(work, Listing):
                    listings -= 1
                    if listings == 0 and not ctx.control.stopping:
                        ctx.reporter.listed()
                if pending == 0:
                    all_done.set()

    roots = _admit(roots, ctx)
    for work in roots:
        put(work)
    if not roots:
        return
    control = ctx.control
    with control.signals():  # files in flight when a signal comes are abandoned, their .part kept
        workers = [asyncio.create_task(worker()) for _ in range(max(1, jobs))]
        waiters = [asyncio.create_task(all_done.wait()), asyncio.create_task(control.stop.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in workers + waiters:
                task.cancel()
            await asyncio.gather(*workers, *waiters, return_exceptions=True)
    control.raise_fatal()


async def _execute(work: Work, ctx: Context) -> Sequence[Work]:
    control = ctx.control
    if control.stopping:
        return ()
    if ctx.shard is not None and work.unit is not None and not ctx.shard.owns(work.unit):
        return ()
    if not isinstance(work, Listing) and not ctx.claims.start(work):
        return ()  # another source claims the same path: failed once, when that was found
    label = _label(work)
    try:
        if isinstance(work, Listing):
            children = _admit(await work.fetch(ctx), ctx)
            files = [c for c in children if isinstance(c, FileItem)]
            ctx.reporter.queued(files=len(files), nbytes=sum(f.expected_size or 0 for f in files))
            control.succeeded(progressed=not work.root)
            return children
        if isinstance(work, FileItem):
            await _fetch_file(work, ctx)
        else:
            await _write_document(work, ctx)
        control.succeeded()
    except asyncio.CancelledError:
        raise
    except ForbiddenError as exc:  # one candidate of another site, say: the others go on
        if isinstance(work, Listing) and work.root:
            control.halt(exc)
            return ()
        control.refused(label, str(exc))
    except (AuthError, DestinationError, EndlessListingError) as exc:
        control.halt(exc)
    except (UnreachableError, RemoteDataError, RetryableError, TransportError) as exc:
        if isinstance(work, Listing) and work.root:
            control.halt(exc if isinstance(exc, NeurofetchError) else UnreachableError(f"{label}: {describe(exc)}"))
            return ()
        control.unreachable(label, describe(exc))
    except (ItemError, UnsafeName) as exc:
        if isinstance(work, Listing) and work.root:
            control.halt(not_the_api(exc) if isinstance(exc, HttpStatusError) else exc)
            return ()
        control.fail(label, str(exc))
    except Exception as exc:  # a bug: stop the run visibly instead of losing a worker and hanging
        control.halt(exc)
    return ()


def _admit(work: Sequence[Work], ctx: Context) -> list[Work]:
    """``work`` without neurofetch's own names and what this run already has (same path, same source);
    a server name that is neurofetch's own, or two sources for one path, fail."""
    if ctx.manifest is not None:
        work = [w for w in work if ctx.manifest.admits(w)]
    admitted, conflicts = ctx.claims.admit(ctx.own_names.admit(work, ctx.control.fail))
    for relpath, error in conflicts:
        ctx.control.fail(relpath, error)
    return admitted


def _label(work: Work) -> str:
    if isinstance(work, Listing):
        return work.label
    if work.__dict__.get("label"):
        return str(work.label)  # type: ignore[union-attr]
    return "/".join(str(p) for p in work.parts)


async def _fetch_file(item: FileItem, ctx: Context) -> None:
    relpath = safe_relpath(item.parts)
    if ctx.catalog is not None:
        ctx.catalog.file(item, relpath)
        return
    final = local_path(ctx.dest, relpath)
    if await already_complete(relpath, final, ctx):
        ctx.result.add("skipped")
        ctx.reporter.finished(relpath, "skipped")
        return
    if ctx.dry_run:
        ctx.result.planned.append({"action": "download", "path": relpath, "url": item.url})
        ctx.result.add("to_download")
        ctx.reporter.finished(relpath, "planned")
        return
    size = await download_file(item, relpath, final, ctx)
    ctx.result.add("downloaded")
    ctx.result.bytes += size
    ctx.reporter.finished(relpath, "downloaded", size)


async def _write_document(doc: Document, ctx: Context) -> None:
    if ctx.catalog is not None:
        return
    relpath = safe_relpath(doc.parts)
    final = local_path(ctx.dest, relpath)
    data = record_bytes(doc, relpath)
    if ctx.dry_run:
        if await on_disk_thread(_differs, final, data):
            ctx.result.planned.append({"action": "write", "path": relpath})
        return
    try:
        written = await on_disk_thread(_store_document, final, data)
    except OSError as exc:
        raise disk_error(exc, final) from None
    if written:
        ctx.result.add("metadata_written")


def _differs(final: Path, data: bytes) -> bool:
    try:
        return final.read_bytes() != data
    except OSError:
        return True


def _store_document(final: Path, data: bytes) -> bool:
    """Write ``data`` to ``final`` atomically unless it is already there; True when written."""
    if not _differs(final, data):
        return False
    # A name near the 255-byte limit is safe, but not with the temporary prefix and suffix added.
    stem = final.name if len(final.name.encode("utf-8")) <= 200 else hashlib.sha256(final.name.encode()).hexdigest()
    temp = final.with_name(f".{stem}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        temp.write_bytes(data)
        os.replace(temp, final)
    except OSError:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    return True


def elapsed_since(start: float) -> float:
    return time.monotonic() - start
