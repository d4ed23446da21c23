"""Where a download's bytes go: into ``<name>.part`` and sha256, on a disk thread, off the event loop.

Creating files and writing them block whenever the disk is busy, and hashing a large file costs seconds of
CPU. All three release the GIL, so on a thread they run beside the event loop, which keeps reading sockets
on the other core. Bytes are handed over in blocks of about ``BLOCK``, one block per file at a time: a file
in flight holds at most two blocks of memory, and a small file costs one hand-over. A slow download hands
over at least every ``HAND_OVER_SECONDS``, so a killed run loses little of what had arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from neurofetch.net.retry import RetryableError

BLOCK = 1 << 20
HAND_OVER_SECONDS = 0.5
SPLIT_FROM = 1 << 18
HASH_BLOCK = 1 << 20
DISK_THREADS = 4
# glibc's malloc: pieces up to this size come from the heap, and up to KEEP_FREED of free memory at its top
# is kept for the next pieces (see keep_freed_memory).
HEAP_PIECES_UP_TO = 4 << 20
KEEP_FREED = 16 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers in <malloc.h>

T = TypeVar("T")
_executor: ThreadPoolExecutor | None = None


def on_disk_thread(function: Callable[..., T], *args: object) -> asyncio.Future[T]:
    """Start blocking file work on the disk threads (shared by every run in the process); await the result."""
    global _executor
    if _executor is None:
        keep_freed_memory()
        _executor = ThreadPoolExecutor(max_workers=DISK_THREADS, thread_name_prefix="neurofetch-disk")
    return asyncio.get_running_loop().run_in_executor(_executor, function, *args)


def keep_freed_memory() -> None:
    """Have glibc keep the memory of received pieces for the next ones instead of returning it to the kernel.

    A large body arrives as pieces of a few hundred KiB that are freed together once written, about 1 MiB at a
    time. By default glibc gives that memory back whenever more than about twice a piece's size is free at the
    top of its heap, and the next pieces fault it in again page by page: about 100,000 page faults per GiB on
    the event loop's thread, a quarter of its CPU. Fixed thresholds keep it (RSS stays within KEEP_FREED of
    the peak). Elsewhere than glibc, nothing changes.
    """
    try:
        libc_version = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):  # not a glibc system
        return
    if not libc_version.startswith("glibc"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)  # the C library the interpreter runs on
        libc.mallopt(_M_MMAP_THRESHOLD, HEAP_PIECES_UP_TO)
        libc.mallopt(_M_TRIM_THRESHOLD, KEEP_FREED)


class PartSink:
    """Appends to ``part`` from byte ``start`` (the part's first ``start`` bytes are kept and hashed)."""

    def __init__(self, part: Path, start: int) -> None:
        self.part = part
        self.size = start
        self._start = start
        self._hasher = hashlib.sha256()
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._opened = False
        self._handed_at = time.monotonic()
        self._writing: asyncio.Future[Any] | None = None

    async def write(self, chunk: bytes) -> None:
        self._pending.append(chunk)
        self._pending_size += len(chunk)
        self.size += len(chunk)
        if self._pending_size >= BLOCK or time.monotonic() - self._handed_at >= HAND_OVER_SECONDS:
            await self._hand_over()

    async def finish(self) -> str:
        """Write what is left; return the sha256 of the whole file. OSError when the disk refuses."""
        await self._hand_over()
        await self._wait()
        return self._hasher.hexdigest()

    async def keep_received(self) -> None:
        """Write what arrived before the connection failed, if the disk takes it."""
        with contextlib.suppress(OSError, RetryableError):
            await self.finish()

    def abandon(self) -> None:
        """Stop caring about a block still being written (an error or Ctrl-C ended the download)."""
        if self._writing is not None and not self._writing.done():
            self._writing.add_done_callback(lambda future: future.cancelled() or future.exception())
        self._writing = None

    async def _hand_over(self) -> None:
        await self._wait()
        self._handed_at = time.monotonic()
        blocks, size = self._pending, self._pending_size
        self._pending, self._pending_size = [], 0
        if blocks or not self._opened:
            first, self._opened = not self._opened, True
            if size < SPLIT_FROM or (first and self._start):  # a resumed prefix is hashed first
                self._writing = on_disk_thread(self._write_blocks, blocks, first, True)
            else:  # hashing beside the write, on another thread, keeps a large file at the disk's pace
                self._writing = asyncio.gather(
                    on_disk_thread(self._write_blocks, blocks, first, False), on_disk_thread(self._hash_blocks, blocks)
                )

    async def _wait(self) -> None:
        if self._writing is not None:
            writing, self._writing = self._writing, None
            await writing

    def _hash_blocks(self, blocks: list[bytes]) -> None:
        for block in blocks:
            self._hasher.update(block)

    def _write_blocks(self, blocks: list[bytes], first: bool, and_hash: bool) -> None:
        if first and self._start:
            self._hash_prefix()
        mode = ("r+b" if self._start else "wb") if first else "ab"
        with open(self.part, mode) as out:
            if first and self._start:
                out.seek(self._start)
                out.truncate()
            for block in blocks:
                out.write(block)
                if and_hash:
                    self._hasher.update(block)

    def _hash_prefix(self) -> None:
        with open(self.part, "rb") as existing:
            remaining = self._start
            while remaining:
                block = existing.read(min(HASH_BLOCK, remaining))
                if not block:
                    raise RetryableError("partial file shrank while resuming", immediate=True)
                self._hasher.update(block)
                remaining -= len(block)


def sha256_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(HASH_BLOCK):
            hasher.update(block)
    return hasher.hexdigest()
