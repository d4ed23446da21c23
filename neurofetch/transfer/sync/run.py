"""`s3-sync`: one local folder ⇄ one ``s3://bucket/prefix``, aws-style, without aws's traps.

``sync(options, open_bucket)`` lists both sides (the bucket through model.py's ``Bucket`` protocol), plans
with transfer/sync/plan.py, runs the transfers on a bounded pool of ``jobs`` workers, deletes (with --delete)
only after every transfer succeeded, and returns a RunResult. Interrupted runs resume by running again:
finished files compare equal, half-written downloads were never renamed into place.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurofetch.errors import DestinationError, ItemError, NeurofetchError, UnreachableError, UsageError, unwritable
from neurofetch.transfer.control import RunControl
from neurofetch.transfer.events import Reporter, complete
from neurofetch.transfer.listing import Manifest
from neurofetch.transfer.lock import DestinationLock, LockWait
from neurofetch.transfer.paths import local_path
from neurofetch.transfer.results import RunResult
from neurofetch.transfer.shard import Shard
from neurofetch.transfer.sync.etag import etag_matches
from neurofetch.transfer.sync.local import remove_files, scan_local, set_mtime, write_atomically
from neurofetch.transfer.sync.model import (
    DEFAULT_JOBS,
    STORAGE_CLASSES,
    Bucket,
    HeldLock,
    NoSuchBucketError,
    S3Location,
)
from neurofetch.transfer.sync.plan import Action, Direction, OrderedFilters, Rules, parse_shard, plan
from neurofetch.transfer.sync.source import remote_listing

log = logging.getLogger("neurofetch.s3")


class _ItemReporter:
    """Adapts a reporter with ``item_started/item_done/item_failed`` to the engine's Reporter events."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def queued(self, files: int = 0, nbytes: int = 0) -> None: ...
    def advanced(self, nbytes: int) -> None: ...
    def note(self, message: str) -> None: ...
    def retrying(self, label: str, reason: str, attempt: int, wait: float) -> None: ...
    def close(self) -> None: ...

    def started(self, label: str, total: int | None) -> None:
        self.inner.item_started(label, total or 0)

    def finished(self, label: str, outcome: str, nbytes: int = 0) -> None:
        if outcome not in ("skipped", "planned"):
            self.inner.item_done(label, nbytes)

    def failed(self, label: str, error: str) -> None:
        self.inner.item_failed(label, error)


def as_reporter(reporter: Any) -> Reporter:
    return complete(_ItemReporter(reporter) if hasattr(reporter, "item_started") else reporter)


@dataclass
class SyncOptions:
    src: str
    dst: str
    jobs: int = DEFAULT_JOBS
    size_only: bool = False
    checksum: bool = False
    delete: bool = False
    filters: list[tuple[str, str]] = field(default_factory=list)  # ("include"|"exclude", pattern), in order
    dry_run: bool = False
    create_bucket: bool = False
    storage_class: str | None = None
    shard: tuple[int, int] | Shard | None = None  # (k, n): keep names whose hash % n == k-1
    manifest: Manifest | None = None  # download only the rows of an `ls` table
    wait: float | None = None  # for another run's lock (--wait); None: no


_NOTHING_WRITTEN = frozenset({"skip", "archived", "fail"})  # the action kinds that need no destination lock


@dataclass(frozen=True)
class _Job:
    direction: Direction
    root: Path
    location: S3Location
    rules: Rules
    filters: OrderedFilters
    shard: Shard | None


def _prepare(options: SyncOptions) -> _Job:
    src_s3, dst_s3 = options.src.startswith("s3://"), options.dst.startswith("s3://")
    if src_s3 == dst_s3:
        raise UsageError("exactly one of SRC and DST must be an s3://bucket/prefix URL, the other a local folder")
    if options.size_only and options.checksum:
        raise UsageError("--size-only and --checksum cannot be combined")
    if options.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {options.jobs}")
    if options.storage_class is not None and options.storage_class not in STORAGE_CLASSES:
        raise UsageError(f"--storage-class must be one of {', '.join(STORAGE_CLASSES)}")
    direction: Direction = "upload" if dst_s3 else "download"
    location = S3Location.parse(options.dst if dst_s3 else options.src)
    root = Path(options.src if direction == "upload" else options.dst).expanduser()
    if direction == "upload" and not root.is_dir():
        raise UsageError(f"source folder not found: {root}" if not root.exists() else f"not a folder: {root}")
    if direction == "download" and root.exists() and not root.is_dir():
        raise UsageError(f"destination is not a folder: {root}")
    if direction == "download" and options.create_bucket:
        raise UsageError("--create-bucket only applies when the destination is an S3 URL")
    if options.manifest is not None and (direction == "upload" or options.delete):
        raise UsageError("--from-manifest takes downloads only, and never with --delete")
    rules = Rules(direction, options.size_only, options.checksum, options.delete)
    filters = OrderedFilters(options.filters)
    return _Job(direction, root.absolute(), location, rules, filters, parse_shard(options.shard))


def sync(options: SyncOptions, open_bucket: Callable[[str], Bucket], *, reporter: Any = None) -> RunResult:
    """Synchronise one way, SRC → DST, on the bucket ``open_bucket(name)`` returns once the options are checked
    (closed here). Raises UsageError, AuthError or UnreachableError before any transfer; per-file problems end
    up in ``RunResult.failures``. ``reporter`` gets the engine's Reporter events (transfer/events.py), or
    item_started/item_done/item_failed calls."""
    started = time.monotonic()
    events = as_reporter(reporter)
    try:
        job = _prepare(options)
        result = RunResult("s3-sync", dry_run=options.dry_run)
        verb = "uploaded" if job.direction == "upload" else "downloaded"
        result.counts.update({f"to_{job.direction}" if options.dry_run else verb: 0, "skipped": 0})
        if options.delete:
            result.counts["to_delete" if options.dry_run else "deleted"] = 0
        result.extra.update({"direction": job.direction, "source": options.src, "destination": options.dst})
        control = RunControl(result, events)
        with _closing(open_bucket(job.location.bucket)) as bucket:
            runner = _Runner(bucket, job, options, control)
            try:
                with control.signals():
                    runner.run()
                control.raise_fatal()
            except KeyboardInterrupt:
                runner.stop()
                control.interrupt()
            except NoSuchBucketError:
                hint = " (add --create-bucket to create it)" if job.direction == "upload" else ""
                raise NoSuchBucketError(f"bucket {job.location.bucket!r} does not exist{hint}") from None
            except NeurofetchError as exc:
                if isinstance(exc, DestinationError) or exc is control.fatal:  # a stop: what was done goes into --json
                    result.seconds = time.monotonic() - started
                    exc.result = result
                raise
    finally:
        events.close()
    result.seconds = time.monotonic() - started
    return result


@contextlib.contextmanager
def _closing(bucket: Bucket) -> Iterator[Bucket]:
    """The bucket, closed at the end; transfers still running are cancelled when the sync stops on an error."""
    try:
        yield bucket
    except BaseException:
        bucket.close(cancel=True)
        raise
    bucket.close()


class _Runner:
    def __init__(self, bucket: Bucket, job: _Job, options: SyncOptions, control: RunControl) -> None:
        self.bucket, self.job, self.options, self.control = bucket, job, options, control
        self.result, self.reporter = control.result, control.reporter
        self.lock = threading.Lock()
        self.pool: ThreadPoolExecutor | None = None
        self.deletes: list[Action] = []
        self.inflight: set[Future] = set()
        self.prefix_lock: HeldLock | None = None
        self.held = contextlib.ExitStack()
        self.destination_locked = False

    # -- phases -------------------------------------------------------------------------------------------------
    def run(self) -> None:
        job = self.job
        remote_pages: Any = self.bucket.list_pages(job.location.prefix) if job.direction == "upload" else ()
        if job.direction == "upload" and self.options.create_bucket and not self.bucket.exists():
            if self.options.dry_run:
                self._planned({"action": "make_bucket", "target": f"s3://{job.location.bucket}"})
            else:
                self.bucket.create()
            remote_pages = iter(())
        if job.direction == "download":  # reach the bucket before creating the destination and its lock
            location, remote_pages = remote_listing(self.bucket, self.options.src)  # or the one object named
            if location != job.location and self.options.delete:
                raise UsageError(f"{self.options.src} is one object, not a folder: --delete does not apply")
            self.job = job = dataclasses.replace(job, location=location)
        with contextlib.ExitStack() as self.held:
            # An upload takes the prefix's lock at its first write: a re-run with nothing to upload or delete
            # (the no-op re-run) costs a listing, not three lock requests and a botocore client.
            if job.direction == "download" or self.options.dry_run:
                self._lock_destination()
            else:  # its settings are read (and checked) now
                self.prefix_lock = self.bucket.lock(job.location.prefix, (job.shard or Shard(1, 1)).lock_name)
            self._run_locked(remote_pages)

    def _lock_destination(self) -> None:
        if not self.destination_locked:
            self.held.enter_context(self._destination_lock())
            self.destination_locked = True

    @contextlib.contextmanager
    def _destination_lock(self) -> Iterator[None]:
        """One run at a time per destination, as `mirror`: the local folder's lock for downloads, the
        prefix's lock object for uploads (shards lock their own part). A dry run writes nothing, locks nothing."""
        shard = self.job.shard or Shard(1, 1)
        if self.options.dry_run:
            yield
        elif self.job.direction == "download":
            with DestinationLock(
                self.job.root,
                shard.lock_name,
                within=shard.tree_lock_name,
                wait=LockWait.of(self.options.wait, self.reporter.note),
            ):
                yield
        else:
            assert self.prefix_lock is not None
            with self.prefix_lock:
                yield

    def _run_locked(self, remote_pages: Any) -> None:
        job = self.job
        scan = scan_local(job.root, job.filters, job.shard)
        if job.direction == "download" and not self.options.dry_run and (gone := remove_files(scan.partials)):
            # Half-written downloads of a killed run: none is being written now, this run holds the lock.
            self.result.messages.append(f"removed {gone} partial download(s) of an interrupted run")
        for name, error in scan.failures:
            self.control.fail(name, error)
        self.result.messages.extend(scan.notes)
        actions = plan(job.rules, scan.files, remote_pages, job.location.prefix, job.filters, job.shard)
        if self.options.manifest is not None:
            actions = (a for a in actions if self.options.manifest.take(a.rel))
        window = threading.BoundedSemaphore(self.options.jobs * 4)
        self.pool = ThreadPoolExecutor(self.options.jobs, thread_name_prefix="nf-s3")
        try:
            for action in actions:
                if action.kind not in _NOTHING_WRITTEN:
                    self._lock_destination()
                if self._decide_now(action):
                    continue
                window.acquire()
                future: Future = self.pool.submit(self._work, action)
                with self.lock:
                    self.inflight.add(future)
                future.add_done_callback(self._settled(window))
            self.reporter.listed()
            self._wait_inflight()
            self.pool.shutdown(wait=True)
        except BaseException:
            self.stop()
            raise
        self._delete()
        if self.options.manifest is not None and not self.control.stopping:
            self.options.manifest.report_missing(self.result)
        if self.control.all_unreachable:
            self.result.unreachable = True
        if not self.result.unreachable:
            self.result.warnings.extend(job.filters.ledger.warnings())
        if self.options.dry_run:
            order = {"make_bucket": 0, "upload": 1, "download": 1, "delete": 2}
            self.result.planned.sort(key=lambda e: (order.get(e["action"], 3), e.get("path", "")))

    def _settled(self, window: threading.BoundedSemaphore) -> Any:
        def done(future: Future) -> None:
            with self.lock:
                self.inflight.discard(future)
            window.release()

        return done

    def _wait_inflight(self) -> None:
        # Waiting on futures, not Thread.join(): a join interrupted by Ctrl-C can leave the thread
        # looking finished on CPython < 3.13, and a second join would then return at once.
        with self.lock:
            pending = list(self.inflight)
        wait(pending)

    def stop(self) -> None:
        """Cancel what has not started, let running items notice the stop, wait for them."""
        self.control.cancel()
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        self.bucket.close(cancel=True)
        self._wait_inflight()

    def _decide_now(self, action: Action) -> bool:
        """Handle what needs no I/O on the main thread; return False for work for the pool."""
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s: %s", action.kind, action.rel, action.reason)
        if action.kind == "skip":
            self._count("skipped")
            self.reporter.finished(action.rel, "skipped")
        elif action.kind == "archived":
            self._count("skipped_archived")
            self.result.messages.append(f"skipped {action.rel}: {action.reason}")
        elif action.kind == "fail":
            self.control.fail(action.rel, action.reason)
        elif action.kind == "delete":
            self.deletes.append(action)
        else:
            entry = action.local if self.job.direction == "upload" else action.remote
            self.reporter.queued(1, entry.size if entry is not None else 0)
            return False
        return True

    # -- one item (worker threads) ------------------------------------------------------------------------------
    def _work(self, action: Action) -> None:
        if self.control.stopping:
            return
        try:
            self._transfer(action)
        except Exception as exc:
            if not self.control.stopping:
                error = self.bucket.error(exc)
                if isinstance(error, DestinationError):  # every other file would fail the same way: stop
                    self.control.halt(error)
                elif isinstance(error, UnreachableError):
                    self.control.unreachable(action.rel, str(error))
                else:
                    self.control.fail(action.rel, str(error))

    def _transfer(self, action: Action) -> None:
        if action.kind == "check" and not self._differs(action):
            return
        kind = self.job.direction
        if self.options.dry_run:
            self._planned_copy(action)
            self.reporter.finished(action.rel, "planned")
            return
        size = action.local.size if kind == "upload" else action.remote.size  # type: ignore[union-attr]
        self.reporter.started(action.rel, size)
        if kind == "upload":
            self._upload(action)
        else:
            self._download(action)
        with self.lock:
            self.result.add(f"{kind}ed")
            self.result.bytes += size
        self.control.succeeded()
        self.reporter.finished(action.rel, f"{kind}ed", size)

    def _differs(self, action: Action) -> bool:
        local, remote = action.local, action.remote
        assert local is not None and remote is not None
        if etag_matches(local.path, local.size, remote.etag):
            if self.job.direction == "download" and local.mtime != remote.mtime and not self.options.dry_run:
                set_mtime(local.path, remote.mtime)  # later default-mode runs then see it as unchanged
                self._count("mtime_updated")
            self._count("skipped")
            self.reporter.finished(action.rel, "skipped")
            return False
        action.reason = "content differs"
        return True

    def _upload(self, action: Action) -> None:
        local = action.local
        assert local is not None
        self.bucket.upload(
            local.path,
            self.job.location.key(action.rel),
            local.size,
            storage_class=self.options.storage_class,
            progress=self.reporter.advanced,
        )
        after = os.stat(local.path)
        if (after.st_size, after.st_mtime_ns) != (local.size, local.mtime_ns):
            raise ItemError("the file changed while it was uploaded; run the sync again")

    def _download(self, action: Action) -> None:
        remote = action.remote
        assert remote is not None
        final = local_path(self.job.root, action.rel)
        try:
            write_atomically(
                final,
                remote.size,
                remote.mtime,
                lambda out: self.bucket.download(
                    remote.key, remote.size, remote.etag, out, progress=self.reporter.advanced
                ),
            )
        except OSError as exc:
            raise unwritable(exc, final) or exc from None

    # -- deletes ------------------------------------------------------------------------------------------------
    def _delete(self) -> None:
        if not self.deletes or self.control.stopping:
            return
        if self.prefix_lock is not None and self.prefix_lock.lost:
            self.control.fail(self.job.location.url(), "another run took over this prefix's lock; no deletion done")
        if self.result.failures:
            self.result.extra["deletions_skipped"] = len(self.deletes)
            self.result.messages.append(
                f"{len(self.deletes)} deletion(s) skipped because {len(self.result.failures)} item(s) failed"
            )
            return
        if self.options.dry_run:
            for action in self.deletes:
                self._planned({"action": "delete", "path": action.rel, "target": self._target(action.rel)})
            return
        if self.job.direction == "upload":
            keys = {self.job.location.key(a.rel): a.rel for a in self.deletes}
            failed = dict(self.bucket.delete_many(list(keys)))
            for key, rel in keys.items():
                if key in failed:
                    self.control.fail(rel, f"could not delete: {failed[key]}")
                else:
                    self._count("deleted")
            return
        for action in self.deletes:
            assert action.local is not None
            try:
                os.unlink(action.local.path)
                self._count("deleted")
            except FileNotFoundError:
                self._count("deleted")
            except OSError as exc:
                self.control.fail(action.rel, f"could not delete: {exc.strerror or exc}")

    # -- bookkeeping --------------------------------------------------------------------------------------------
    def _target(self, rel: str) -> str:
        if self.job.direction == "upload":
            return self.job.location.url(rel)
        return str(self.job.root.joinpath(*rel.split("/")))

    def _planned_copy(self, action: Action) -> None:
        local = str(self.job.root.joinpath(*action.rel.split("/")))
        remote = self.job.location.url(action.rel)
        upload = self.job.direction == "upload"
        size = action.local.size if upload else action.remote.size  # type: ignore[union-attr]
        self._planned(
            {
                "action": self.job.direction,
                "path": action.rel,
                "source": local if upload else remote,
                "destination": remote if upload else local,
                "size": size,
                "reason": action.reason,
            }
        )

    def _planned(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.result.planned.append(entry)
            if entry["action"] in ("upload", "download", "delete"):
                self.result.add(f"to_{entry['action']}")

    def _count(self, name: str) -> None:
        with self.lock:
            self.result.add(name)
