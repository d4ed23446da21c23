"""The upload engine: a sliding window of ``jobs`` uploads in flight, each file streamed from disk
(or, when it must be rewritten first, held in memory one per worker), retried by the one retry policy,
recorded in the upload journal so a re-run or a resumed run sends nothing twice.

When a send's outcome is unknown (the connection dropped after the body went out, or the run died),
the service is asked whether the file arrived before it is sent again.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from neurofetch.errors import AuthError, ItemError, NeurofetchError, UnreachableError
from neurofetch.net.http import ConnectError, ConnectTimeout, PoolTimeout, TransportError
from neurofetch.net.retry import RetryableError, RetryPolicy, describe, retrying
from neurofetch.transfer.control import RunControl
from neurofetch.transfer.events import Reporter
from neurofetch.transfer.local_files import LocalFile
from neurofetch.transfer.results import RunResult
from neurofetch.transfer.shard import Shard
from neurofetch.transfer.sink import sha256_file
from neurofetch.transfer.upload_journal import UploadJournal, UploadJournalError

NEVER_SENT = (ConnectError, ConnectTimeout, PoolTimeout)


@dataclass
class UploadItem:
    local: LocalFile
    name: str  # the filename sent
    prepare: Callable[[], Awaitable[bytes]] | None = None  # e.g. DICOM de-identification; None: as is
    problem: str | None = None  # known before sending: the item fails
    details: dict[str, Any] = field(default_factory=dict)  # service-specific (metadata, ...)

    @property
    def label(self) -> str:
        return self.local.source_path


class UploadBody(Protocol):
    """What a target sends: an open binary file, or anything that reads like one."""

    def read(self, size: int = -1, /) -> bytes: ...


class UploadTarget(Protocol):
    async def send(self, item: UploadItem, body: UploadBody | bytes, size: int) -> str:
        """One attempt; returns the remote id. RetryableError/TransportError: may be retried."""

    async def find(self, item: UploadItem, size: int) -> str | None:
        """The remote id of this item if an earlier attempt did arrive, else None."""

    async def held(self, item: UploadItem, size: int) -> str | None:
        """The remote id of this item if the service already holds it (the journal does not know it), else None."""


@dataclass
class UploadRun:
    journal: UploadJournal
    target: UploadTarget | None  # None for a dry run: nothing is contacted
    policy: RetryPolicy
    control: RunControl  # signals, stop rules, failure accounting
    jobs: int = 4
    shard: Shard | None = None
    ids: dict[str, str] = field(default_factory=dict)  # source path -> remote id (new and earlier)
    new_ids: list[str] = field(default_factory=list)

    @property
    def dry_run(self) -> bool:
        return self.target is None

    @property
    def result(self) -> RunResult:
        return self.control.result

    @property
    def reporter(self) -> Reporter:
        return self.control.reporter


async def upload_all(items: Sequence[UploadItem], run: UploadRun) -> None:
    """Upload ``items`` with ``run.jobs`` workers; Ctrl-C/SIGTERM stop cleanly (state stays consistent)."""
    queue: asyncio.Queue[UploadItem] = asyncio.Queue()
    mine = [item for item in items if run.shard is None or run.shard.owns(item.label)]
    for item in mine:
        queue.put_nowait(item)
    run.reporter.queued(files=len(mine), nbytes=sum(i.local.size for i in mine))
    run.reporter.listed()

    control = run.control

    async def worker() -> None:
        while not control.stopping:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await _upload_one(item, run)

    with control.signals():  # uploads in flight when a signal comes are abandoned; a re-run asks first
        workers = [asyncio.create_task(worker()) for _ in range(max(1, run.jobs))]
        stopper = asyncio.create_task(control.stop.wait())
        all_done = asyncio.gather(*workers)  # also ends at a worker's first unexpected exception
        either: list[asyncio.Future[Any]] = [all_done, stopper]
        outcomes: list[Any] = []
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in [*workers, stopper]:
                task.cancel()
            outcomes = await asyncio.gather(*workers, stopper, return_exceptions=True)
            await asyncio.gather(all_done, return_exceptions=True)
    control.raise_fatal()
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome


async def _upload_one(item: UploadItem, run: UploadRun) -> None:
    label = item.label
    try:
        if item.problem:
            raise ItemError(item.problem)
        digest = await _content_hash(item, run.journal)
        entry = run.journal.get(digest, label)
        if entry is not None and entry.done:
            assert entry.resource_id is not None
            run.ids[label] = entry.resource_id
            run.result.add("already_uploaded")
            run.reporter.finished(label, "skipped")
            return
        if run.dry_run:
            _plan(item, run)
            return
        body = await item.prepare() if item.prepare else None
        size = len(body) if body is not None else item.local.size
        if entry is not None:
            resource_id = await _recover(item, run, entry.sent_size)
        elif not run.journal.knows(label):
            resource_id = await _held_already(item, run, size, digest)
        else:
            resource_id = None  # a new version of a file sent before: it goes
        if resource_id is None:
            run.journal.begin(digest, label, item.name, size)
            run.reporter.started(label, size)
            resource_id = await _send(item, body, size, run, digest)
            run.result.add("uploaded")
            run.result.bytes += size
            run.new_ids.append(resource_id)
            run.reporter.finished(label, "uploaded", size)
        run.journal.complete(digest, label, resource_id)
        run.ids[label] = resource_id
        run.control.succeeded()
    except asyncio.CancelledError:
        raise
    except AuthError as exc:
        run.control.halt(exc)
    except (UnreachableError, RetryableError, TransportError) as exc:
        run.control.unreachable(label, describe(exc), nothing_done="nothing was uploaded")
    except NeurofetchError as exc:
        run.control.fail(label, str(exc))
    except OSError as exc:
        run.control.fail(label, f"cannot read {item.local.path}: {exc.strerror or exc}")
    except sqlite3.Error as exc:  # e.g. "database or disk is full": the next run asks the service first
        run.control.halt(UploadJournalError(f"cannot record {label} in the upload journal {run.journal.path}: {exc}"))


async def _content_hash(item: UploadItem, journal: UploadJournal) -> str:
    local = item.local
    cached = journal.cached_hash(local.path, local.size, local.mtime_ns)
    if cached is not None:
        return cached
    digest = await asyncio.to_thread(sha256_file, local.path)
    journal.remember_hash(local.path, local.size, local.mtime_ns, digest)
    return digest


def _plan(item: UploadItem, run: UploadRun) -> None:
    run.result.planned.append(
        {
            "action": "upload",
            "path": item.label,
            "name": item.name,
            "bytes": item.local.size,
            "mimetype": item.local.mimetype,
            "anonymize": item.prepare is not None,
        }
    )
    run.result.add("to_upload")
    run.result.bytes += item.local.size
    run.reporter.finished(item.label, "planned")


async def _recover(item: UploadItem, run: UploadRun, size: int) -> str | None:
    """An earlier run died while sending this file: did it arrive?"""
    assert run.target is not None
    found = await run.target.find(item, size)
    if found is not None:
        run.result.add("found_already_uploaded")
        run.reporter.note(f"{item.label}: an interrupted earlier upload did arrive; not sending it again")
    return found


async def _held_already(item: UploadItem, run: UploadRun, size: int, digest: str) -> str | None:
    """The journal has no record of this file (a first upload, or a lost journal): does the service hold it?"""
    assert run.target is not None
    found = await run.target.held(item, size)
    if found is not None:
        run.journal.record(digest, item.label, item.name, size, found)
        run.result.add("already_on_server")
        run.reporter.finished(item.label, "skipped")
    return found


async def _send(item: UploadItem, body: bytes | None, size: int, run: UploadRun, digest: str) -> str:
    target = run.target
    assert target is not None
    uncertain = False

    async def attempt() -> str:
        nonlocal uncertain
        if uncertain:
            found = await target.find(item, size)
            if found is not None:
                run.reporter.note(f"{item.label}: the lost answer's upload did arrive; not sending it again")
                return found
            uncertain = False
        try:
            if body is not None:
                resource_id = await target.send(item, body, size)
                run.reporter.advanced(size)
                return resource_id
            with open(item.local.path, "rb") as handle:
                return await target.send(item, ProgressReader(handle, run.reporter), size)
        except NEVER_SENT:
            raise
        except (TransportError, RetryableError):
            uncertain = True  # the body may have arrived: ask before sending again
            raise

    try:
        return await retrying(attempt, run.policy, item.label)
    except (ItemError, AuthError):
        run.journal.abandon(digest, item.label)  # refused for sure: nothing to look for next time
        raise


class ProgressReader:
    """A binary file that reports bytes as httpx reads them (fileno() lets httpx set Content-Length)."""

    def __init__(self, handle: IO[bytes], reporter: Reporter) -> None:
        self._handle = handle
        self._reporter = reporter

    def read(self, size: int = -1) -> bytes:
        chunk = self._handle.read(size)
        if chunk:
            self._reporter.advanced(len(chunk))
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()

    def fileno(self) -> int:
        return self._handle.fileno()
