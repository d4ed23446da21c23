"""Running a mirror: lock the destination, open the journal, verify, crawl and fetch, report."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from neurofetch.errors import NeurofetchError
from neurofetch.net import loop
from neurofetch.net.http import make_client, policy_for
from neurofetch.settings import Profile
from neurofetch.transfer import engine
from neurofetch.transfer.events import NullReporter, Reporter
from neurofetch.transfer.journal import Journal, state_dir
from neurofetch.transfer.listing import CatalogSink, Manifest, Row
from neurofetch.transfer.lock import DestinationLock
from neurofetch.transfer.paths import UnsafeName, local_path
from neurofetch.transfer.results import Failure, RunResult
from neurofetch.transfer.shard import Shard
from neurofetch.transfer.sink import sha256_file
from neurofetch.transfer.work import Work


class Source(Protocol):
    """A service's side of a mirror: how to authenticate and where the crawl starts."""

    def auth(self) -> httpx.Auth | None: ...

    async def prepare(self, client: httpx.AsyncClient) -> None:
        """Log in or check credentials before any work starts (fail fast with exit 3)."""

    def roots(self) -> Sequence[Work]: ...


@dataclass(frozen=True)
class MirrorOptions:
    dest: Path
    dry_run: bool = False
    verify: bool = False
    verify_only: bool = False
    shard: Shard | None = None
    manifest: Manifest | None = None


def run_mirror(command: str, source: Source, profile: Profile, options: MirrorOptions,
               reporter: Reporter | None = None, transport: httpx.AsyncBaseTransport | None = None) -> RunResult:
    """Mirror ``source`` into ``options.dest``; the returned result says what happened."""
    reporter = reporter or NullReporter()
    result = RunResult(command, dry_run=options.dry_run)
    started = time.monotonic()
    shard = options.shard or Shard(1, 1)
    dest = options.dest
    try:
        # A dry run writes nothing: no lock, and a copy of the journal in memory.
        with contextlib.nullcontext() if options.dry_run else DestinationLock(
                dest, shard.lock_name, within=shard.tree_lock_name):
            journal = (Journal.snapshot(state_dir(dest) / shard.journal_name) if options.dry_run
                       else Journal.for_dest(dest, shard.journal_name))
            try:
                if options.verify or options.verify_only:
                    verify_tree(dest, journal, result, reporter, forget=not options.verify_only)
                if not options.verify_only:
                    loop.run(_crawl(source, profile, dest, journal, result, reporter, options, transport))
            except BaseException:
                journal.close(quietly=True)
                raise
            journal.close()
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM outside the transfer (logging in, verifying): the journal and the lock are
        # closed above, so the result is still the truth: say what was done, exit 130.
        result.interrupted = True
    except NeurofetchError as exc:   # a stop (auth, disk full, lock): what was done goes into --json
        exc.result = result
        raise
    finally:
        reporter.close()
        result.seconds = time.monotonic() - started
    return result


async def _crawl(source: Source, profile: Profile, dest: Path, journal: Journal, result: RunResult,
                 reporter: Reporter, options: MirrorOptions, transport: httpx.AsyncBaseTransport | None) -> None:
    async with make_client(profile, auth=source.auth(), transport=transport) as client:
        ctx = engine.Context(client=client, dest=dest, journal=journal, policy=policy_for(profile),
                             result=result, reporter=reporter, dry_run=options.dry_run, shard=options.shard,
                             manifest=options.manifest)
        await source.prepare(client)
        await engine.run(source.roots(), ctx, profile.jobs)
    if options.manifest is not None and not result.interrupted:
        options.manifest.report_missing(result)


def run_catalog(command: str, source: Source, profile: Profile, emit: Callable[[Row], None], *,
                shard: Shard | None = None, transport: httpx.AsyncBaseTransport | None = None) -> RunResult:
    """The mirror's crawl with every file handed to ``emit`` as a row instead of fetched: no destination,
    no lock, no journal, nothing written. ``counts["rows"]`` and ``bytes`` (the known sizes) say what was found."""
    result = RunResult(command)
    started = time.monotonic()

    async def crawl() -> None:
        async with make_client(profile, auth=source.auth(), transport=transport) as client:
            ctx = engine.Context(client=client, dest=Path(), journal=Journal(Path(":memory:"), sqlite3.connect(
                ":memory:", check_same_thread=False)), policy=policy_for(profile), result=result,
                shard=shard, catalog=CatalogSink(emit, result))
            await source.prepare(client)
            await engine.run(source.roots(), ctx, profile.jobs)

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
