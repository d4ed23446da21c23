"""Running a mirror: lock the destination, open the journal, verify, crawl and fetch, report."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from neurofetch.errors import LockedError, NeurofetchError
from neurofetch.net import loop
from neurofetch.net.http import AsyncBaseTransport, AsyncClient, Auth, HttpOptions, make_client
from neurofetch.transfer import engine
from neurofetch.transfer.claims import PathClaims
from neurofetch.transfer.context import Context
from neurofetch.transfer.control import RunControl
from neurofetch.transfer.download import part_path
from neurofetch.transfer.events import NullReporter, Reporter, complete
from neurofetch.transfer.filters import FilterLedger
from neurofetch.transfer.journal import SERVICE_RECORD, Journal, state_dir
from neurofetch.transfer.listing import CatalogSink, Manifest, Row
from neurofetch.transfer.lock import DestinationLock, LockWait
from neurofetch.transfer.paths import PART_SUFFIX, STATE_DIR, UnsafeName, local_path
from neurofetch.transfer.results import Failure, RunResult
from neurofetch.transfer.shard import Shard
from neurofetch.transfer.sink import sha256_file
from neurofetch.transfer.work import Work

SHOWN_PARTS = 5
SHORT_PART_NAME = 32 + len(PART_SUFFIX)  # download.part_path's name for a file whose name is too long


class Source(Protocol):
    """A service's side of a mirror: how to authenticate and where the crawl starts."""

    def auth(self) -> Auth | None: ...

    async def prepare(self, client: AsyncClient) -> None:
        """Log in or check credentials before any work starts (fail fast with exit 3)."""

    def roots(self) -> Sequence[Work]: ...


@dataclass(frozen=True)
class MirrorOptions:
    dest: Path
    dry_run: bool = False
    verify: bool = False
    verify_only: bool = False
    shard: Shard | None = None
    filters: FilterLedger | None = None  # the selection's filters, to warn about those that matched nothing
    manifest: Manifest | None = None  # --from-manifest: only the files it names
    segments: int | None = None  # --segments: ranges per large file (None: automatic, 1: one stream)
    wait: float | None = None  # --wait: seconds for another run's lock (math.inf: no limit)


def run_mirror(
    command: str,
    source: Source,
    service: str,
    http: HttpOptions,
    options: MirrorOptions,
    reporter: Reporter | None = None,
    transport: AsyncBaseTransport | None = None,
) -> RunResult:
    """Mirror ``source`` (of ``service``, recorded in the journal) into ``options.dest``, connecting with ``http``;
    the returned result says what happened."""
    reporter = complete(reporter)
    result = RunResult(command, dry_run=options.dry_run)
    started = time.monotonic()
    try:
        if command == "mirror":  # atlas-image output folders may nest: they fetch only what they are told
            refuse_nested_destination(options.dest)
        if options.verify_only:  # the local tree alone: no service to ask
            with _destination(options, LockWait.of(options.wait, reporter.note)) as journal:
                verify_tree(options.dest, journal, result, reporter, forget=False)
        else:
            loop.run(_mirror(source, service, http, result, reporter, options, transport))
            if options.filters is not None and not (result.interrupted or result.unreachable):
                result.warnings.extend(options.filters.warnings())
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM outside the transfer (logging in, verifying): the journal and the lock are
        # closed by then, so the result is still the truth: say what was done, exit 130.
        result.interrupted = True
    except NeurofetchError as exc:  # a stop (auth, disk full, lock): what was done goes into --json
        exc.result = result
        raise
    finally:
        result.seconds = time.monotonic() - started
        reporter.ended(result)
        reporter.close()
    return result


async def _mirror(
    source: Source,
    service: str,
    http: HttpOptions,
    result: RunResult,
    reporter: Reporter,
    options: MirrorOptions,
    transport: AsyncBaseTransport | None,
) -> None:
    control = RunControl(result, reporter)  # from here on, retries (logging in too) are counted
    async with make_client(http, auth=source.auth(), transport=transport) as client:
        # The service answers first: a wrong URL or password leaves no DEST behind.
        await source.prepare(client)
        with _destination(options, LockWait.of(options.wait, reporter.note)) as journal:
            if not options.dry_run:
                journal.put_record(SERVICE_RECORD, service)
            if options.verify:
                verify_tree(options.dest, journal, result, reporter, forget=True)
            ctx = Context(
                client=client,
                dest=options.dest,
                journal=journal,
                policy=http.retry_policy(),
                result=result,
                control=control,
                reporter=reporter,
                dry_run=options.dry_run,
                shard=options.shard,
                manifest=options.manifest,
                segments=options.segments,
            )
            await engine.run(source.roots(), ctx, http.jobs)
            finished = getattr(source, "finished", None)  # a source may note what a complete run means to it
            if finished is not None and not options.dry_run and options.manifest is None:
                finished(journal, result)
            if options.manifest is not None and not result.interrupted:
                options.manifest.report_missing(result)
            if not (result.interrupted or result.unreachable or (options.shard and options.shard.count > 1)):
                report_unselected_parts(options.dest, ctx.claims, result)


@contextlib.contextmanager
def _destination(options: MirrorOptions, wait: LockWait | None) -> Iterator[Journal]:
    """DEST locked and its journal open; a dry run writes nothing: no lock, and a copy of the journal in memory."""
    shard = options.shard or Shard(1, 1)
    dest = options.dest
    with (
        contextlib.nullcontext()
        if options.dry_run
        else DestinationLock(dest, shard.lock_name, within=shard.tree_lock_name, wait=wait)
    ):
        journal = (
            Journal.snapshot(state_dir(dest) / shard.journal_name)
            if options.dry_run
            else Journal.for_dest(dest, shard.journal_name)
        )
        try:
            yield journal
        except BaseException:
            journal.close(quietly=True)
            raise
        journal.close()


def report_unselected_parts(dest: Path, claims: PathClaims, result: RunResult) -> None:
    """Name the ``.part`` files left by earlier runs for files this run did not select (a narrower filter):
    kept, since a later run that selects them again resumes them, but they take room."""
    stale: list[str] = []
    for folder, subfolders, files in os.walk(dest):
        if Path(folder) == dest:
            subfolders[:] = [name for name in subfolders if name != STATE_DIR]
        parts = {name for name in files if name.endswith(PART_SUFFIX)}
        if parts:
            under = Path(folder).relative_to(dest).as_posix()
            prefix = "" if under == "." else under + "/"
            stale += [prefix + name for name in parts - _selected_parts(prefix, parts, claims)]
    if stale:
        stale.sort()
        shown = ", ".join(stale[:SHOWN_PARTS]) + (
            f", ... ({len(stale) - SHOWN_PARTS} more)" if len(stale) > SHOWN_PARTS else ""
        )
        noun = "partial download" if len(stale) == 1 else "partial downloads"
        result.messages.append(
            f"{len(stale)} {noun} of items not selected this run: {shown} "
            "(kept for a run that selects them; delete them to free the space)"
        )
        result.extra["unselected_parts"] = stale


def _selected_parts(prefix: str, parts: set[str], claims: PathClaims) -> set[str]:
    """The names among ``parts`` (``.part`` files in the folder ``prefix``) of files this run selected."""
    owners = {prefix + name.removesuffix(PART_SUFFIX): name for name in parts}
    selected = {owners[path] for path in claims.claimed(list(owners))}
    if any(name not in selected and len(name) == SHORT_PART_NAME for name in parts):  # rare: names near 255 bytes
        selected.update(name for path in claims.claimed_in(prefix) if (name := part_path(Path(path)).name) in parts)
    return selected


def refuse_nested_destination(dest: Path) -> None:
    """A DEST inside a tree another mirror holds would mirror that tree's service again, one level down."""
    for parent in dest.resolve().parents:
        if any(state_dir(parent).glob("*.sqlite3")):
            raise LockedError(
                f"{dest} is inside {parent}, which is itself a mirror (it has "
                f"{state_dir(parent).name}/); mirror into {parent} itself, or choose a DEST "
                "outside it"
            )


def run_catalog(
    command: str,
    source: Source,
    http: HttpOptions,
    emit: Callable[[Row], None],
    *,
    shard: Shard | None = None,
    transport: AsyncBaseTransport | None = None,
) -> RunResult:
    """The mirror's crawl with every file handed to ``emit`` as a row instead of fetched: no destination,
    no lock, no journal, nothing written. ``counts["rows"]`` and ``bytes`` (the known sizes) say what was found."""
    result = RunResult(command)
    started = time.monotonic()

    async def crawl() -> None:
        async with make_client(http, auth=source.auth(), transport=transport) as client:
            control = RunControl(result, NullReporter())
            ctx = Context(
                client=client,
                dest=Path(),
                journal=Journal(Path(":memory:"), sqlite3.connect(":memory:", check_same_thread=False)),
                policy=http.retry_policy(),
                result=result,
                control=control,
                shard=shard,
                catalog=CatalogSink(emit, result),
            )
            await source.prepare(client)
            await engine.run(source.roots(), ctx, http.jobs)

    try:
        loop.run(crawl())
    except KeyboardInterrupt:
        result.interrupted = True
    except NeurofetchError as exc:
        exc.result = result
        raise
    finally:
        result.seconds = time.monotonic() - started
    return result


def verify_tree(dest: Path, journal: Journal, result: RunResult, reporter: Reporter, *, forget: bool) -> None:
    """Re-hash every recorded file; a changed or vanished one is an integrity problem.

    With ``forget`` its journal entry is dropped so the crawl that follows fetches it again.
    """
    for entry in journal.entries():
        try:
            path = local_path(dest, entry.path)
        except UnsafeName:
            continue
        problem = None
        if not path.is_file():
            problem = "missing"
        elif path.stat().st_size != entry.size:
            problem = f"size changed ({path.stat().st_size} bytes, recorded {entry.size})"
        elif sha256_file(path) != entry.sha256:
            problem = "content changed (sha256 differs)"
        if problem is None:
            result.add("verified")
            continue
        result.integrity_problems.append(Failure(entry.path, problem))
        reporter.note(f"verify: {entry.path}: {problem}")
        if forget:
            journal.forget(entry.path)
