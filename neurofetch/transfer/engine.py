"""The engine: a bounded pool of workers running listings, downloads and document writes.

Listings produce more work, so crawling and transferring overlap: the first file arrives after
the first listing, not after all of them. Files go ahead of listings in the queue, which keeps
the number of known-but-unfetched items small.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from neurofetch.errors import (
    AuthError,
    EndlessListingError,
    ForbiddenError,
    ItemError,
    NeurofetchError,
    RemoteDataError,
    UnreachableError,
)
from neurofetch.net import json_limits
from neurofetch.net.retry import RetryableError, RetryPolicy, describe
from neurofetch.transfer.claims import PathClaims
from neurofetch.transfer.download import DestinationError, disk_error, download_file
from neurofetch.transfer.events import NullReporter, Reporter
from neurofetch.transfer.journal import Journal
from neurofetch.transfer.paths import UnsafeName, local_path, safe_relpath
from neurofetch.transfer.results import RunResult
from neurofetch.transfer.shard import Shard
from neurofetch.transfer.sink import on_disk_thread
from neurofetch.transfer.work import Document, FileItem, Listing, Work

GIVE_UP_AFTER = 5   # consecutive unreachable failures, with nothing done yet, that end the run


@dataclass
class Context:
    """What every piece of work may use. One per run."""

    client: httpx.AsyncClient
    dest: Path
    journal: Journal
    policy: RetryPolicy
    result: RunResult
    reporter: Reporter = field(default_factory=NullReporter)
    dry_run: bool = False
    resume_parts: bool = True
    shard: Shard | None = None
    successes: int = 0
    unreachable_streak: int = 0
    refusals: int = 0          # items refused with HTTP 403
    progressed: bool = False   # something below the root listings succeeded
    fatal: BaseException | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    claims: PathClaims = field(default_factory=PathClaims)

    def is_complete(self, parts: Sequence[object]) -> bool:
        """True when the file at ``parts`` is recorded complete and unchanged on disk."""
        try:
            relpath = safe_relpath(parts)
            return self.journal.is_complete(relpath, local_path(self.dest, relpath))
        except UnsafeName:
            return False

    def exists(self, parts: Sequence[object]) -> bool:
        try:
            return local_path(self.dest, safe_relpath(parts)).exists()
        except UnsafeName:
            return False


async def run(roots: Sequence[Work], ctx: Context, jobs: int) -> None:
    """Run ``roots`` and everything they lead to with ``jobs`` workers; Ctrl-C/SIGTERM stop it cleanly."""
    queue: asyncio.PriorityQueue[tuple[int, int, Work]] = asyncio.PriorityQueue()
    order = itertools.count()
    pending = 0
    listings = 0   # queued or running; at 0 no listing can appear any more: the file count is final
    all_done = asyncio.Event()

    def put(work: Work) -> None:
        nonlocal pending, listings
        pending += 1
        listings += isinstance(work, Listing)
        queue.put_nowait((1 if isinstance(work, Listing) else 0, next(order), work))

    async def worker() -> None:
        nonlocal pending, listings
        while True:
            _, _, work = await queue.get()
            try:
                for child in await _execute(work, ctx):
                    put(child)
            finally:
                pending -= 1
                if isinstance(work, Listing):
                    listings -= 1
                    if listings == 0 and not ctx.stop.is_set():
                        ctx.reporter.listed()
                if pending == 0:
                    all_done.set()

    roots = _admit(roots, ctx)
    for work in roots:
        put(work)
    if not roots:
        return
    loop = asyncio.get_running_loop()
    installed = _install_signal_handlers(loop, ctx)
    workers = [asyncio.create_task(worker()) for _ in range(max(1, jobs))]
    waiters = [asyncio.create_task(all_done.wait()), asyncio.create_task(ctx.stop.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in workers + waiters:
            task.cancel()
        await asyncio.gather(*workers, *waiters, return_exceptions=True)
        for sig, previous in installed.items():
            loop.remove_signal_handler(sig)
            with contextlib.suppress(TypeError, ValueError):
                signal.signal(sig, previous)   # asyncio would leave the default, not what was there before
    if ctx.fatal is not None:
        raise ctx.fatal


def _install_signal_handlers(loop: asyncio.AbstractEventLoop, ctx: Context) -> dict[int, object]:
    """Ctrl-C and SIGTERM stop starting new work; files in flight are abandoned, their .part kept."""
    installed: dict[int, object] = {}

    def interrupted() -> None:
        ctx.result.interrupted = True
        ctx.stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            previous = signal.getsignal(sig)
            loop.add_signal_handler(sig, interrupted)
            installed[sig] = previous
    return installed


async def _execute(work: Work, ctx: Context) -> Sequence[Work]:
    if ctx.stop.is_set():
        return ()
    if ctx.shard is not None and work.unit is not None and not ctx.shard.owns(work.unit):
        return ()
    if not isinstance(work, Listing) and not ctx.claims.start(work):
        return ()   # another source claims the same path: failed once, when that was found
    label = _label(work)
    try:
        if isinstance(work, Listing):
            children = _admit(await work.fetch(ctx), ctx)
            files = [c for c in children if isinstance(c, FileItem)]
            ctx.reporter.queued(files=len(files), nbytes=sum(f.expected_size or 0 for f in files))
            _succeeded(ctx, work)
            return children
        if isinstance(work, FileItem):
            await _fetch_file(work, ctx)
        else:
            await _write_document(work, ctx)
        _succeeded(ctx, work)
    except asyncio.CancelledError:
        raise
    except ForbiddenError as exc:   # one candidate of another site, say: the others go on
        if isinstance(work, Listing) and work.root:
            _stop(ctx, exc)
            return ()
        _failed(ctx, label, str(exc))
        ctx.refusals += 1
        if not ctx.progressed and ctx.refusals >= GIVE_UP_AFTER:
            _stop(ctx, AuthError(f"the server refuses everything this account asks for ({exc})"))
    except (AuthError, DestinationError, EndlessListingError) as exc:
        _stop(ctx, exc)
    except (UnreachableError, RemoteDataError, RetryableError, httpx.TransportError) as exc:
        if isinstance(work, Listing) and work.root:
            _stop(ctx, exc if isinstance(exc, NeurofetchError) else UnreachableError(f"{label}: {describe(exc)}"))
            return ()
        _failed(ctx, label, describe(exc))
        ctx.unreachable_streak += 1
        if ctx.successes == 0 and ctx.unreachable_streak >= GIVE_UP_AFTER:
            ctx.result.unreachable = True
            _stop(ctx, UnreachableError(f"the service keeps failing ({describe(exc)}); nothing was transferred"))
    except (ItemError, UnsafeName) as exc:
        if isinstance(work, Listing) and work.root:
            _stop(ctx, exc)
            return ()
        _failed(ctx, label, str(exc))
    except Exception as exc:  # a bug: stop the run visibly instead of losing a worker and hanging
        _stop(ctx, exc)
    return ()


def _admit(work: Sequence[Work], ctx: Context) -> list[Work]:
    """``work`` without what this run already has (same path, same source); two sources for one path fail."""
    admitted, conflicts = ctx.claims.admit(work)
    for relpath, error in conflicts:
        _failed(ctx, relpath, error)
    return admitted


def _label(work: Work) -> str:
    if isinstance(work, Listing):
        return work.label
    if work.__dict__.get("label"):
        return str(work.label)  # type: ignore[union-attr]
    return "/".join(str(p) for p in work.parts)


def _succeeded(ctx: Context, work: Work) -> None:
    ctx.successes += 1
    ctx.unreachable_streak = 0
    ctx.progressed = ctx.progressed or not (isinstance(work, Listing) and work.root)


def _failed(ctx: Context, label: str, error: str) -> None:
    ctx.result.fail(label, error)
    ctx.reporter.failed(label, error)


def _stop(ctx: Context, exc: BaseException) -> None:
    if ctx.fatal is None:
        ctx.fatal = exc
    ctx.stop.set()


async def _fetch_file(item: FileItem, ctx: Context) -> None:
    relpath = safe_relpath(item.parts)
    final = local_path(ctx.dest, relpath)
    if ctx.journal.is_complete(relpath, final):
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
    relpath = safe_relpath(doc.parts)
    final = local_path(ctx.dest, relpath)
    data = json_limits.dumps_record(doc.data, relpath)
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
