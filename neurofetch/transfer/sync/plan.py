"""Pure decision logic of `s3-sync` (reference/s3.md §6): filters, sharding, and the plan that joins
the local and remote listings by relative key, never by listing order.

Rules (whole seconds everywhere: S3's LastModified has 1 s resolution):
* missing at the destination → copy; size differs → copy;
* upload: copy when floor(local mtime) > LastModified (a re-run in the same second is a no-op);
* download: copy when floor(local mtime) != LastModified (aws's --exact-timestamps; we set the mtime
  after each download, so a round trip is a no-op);
* --size-only: sizes alone; --checksum: same size → compare content with the ETag (a ``check`` action);
* only at the destination → delete, with --delete; keys excluded by filters never reach the plan,
  so they are never deleted; nor do keys below ``.neurofetch/`` (the upload lock, services/s3/lock.py).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from neurofetch.errors import UsageError
from neurofetch.transfer.filters import FilterLedger
from neurofetch.transfer.paths import UnsafeName, safe_relpath
from neurofetch.transfer.shard import Shard
from neurofetch.transfer.sync.model import ARCHIVED_CLASSES, LOCK_FOLDER, RemoteObject

Direction = Literal["upload", "download"]
Kind = Literal["upload", "download", "delete", "check", "skip", "archived", "fail"]


@dataclass(slots=True)
class LocalFile:
    path: str  # absolute path on disk
    size: int
    mtime_ns: int

    @property
    def mtime(self) -> int:
        return self.mtime_ns // 1_000_000_000


@dataclass(slots=True)
class Action:
    kind: Kind
    rel: str  # the relative name, "/"-separated: what the user sees
    local: LocalFile | None = None
    remote: RemoteObject | None = None
    reason: str = ""


# -- filters ------------------------------------------------------------------------------------------------------
class OrderedFilters:
    """aws-style --exclude/--include: evaluated in order, last match wins, default include; ``*``
    matches across ``/``; patterns are matched against the source-relative path. (Unlike the
    name-only, exclude-wins NameFilter of the other commands: `s3-sync` keeps aws's semantics.)"""

    def __init__(self, rules: Sequence[tuple[str, str]] = ()) -> None:
        for kind, pattern in rules:
            if kind not in ("include", "exclude"):
                raise UsageError(f"filter kind must be include or exclude, not {kind!r}")
            if not pattern:
                raise UsageError(f"empty --{kind} pattern")
        self.rules = [(kind, pattern.replace(os.sep, "/") if os.sep != "/" else pattern) for kind, pattern in rules]
        self.ledger = FilterLedger()  # to warn about an --include that matched nothing, or excludes that left nothing
        self.ledger.expect("--include", [pattern for kind, pattern in self.rules if kind == "include"])
        self.ledger.expect_excludes([pattern for kind, pattern in self.rules if kind == "exclude"])

    def included(self, rel: str) -> bool:
        verdict = True
        for kind, pattern in self.rules:
            if fnmatch.fnmatchcase(rel, pattern):
                verdict = kind == "include"
                if verdict:
                    self.ledger.hit("--include", pattern)
        if verdict:
            self.ledger.taken += 1
        else:
            self.ledger.excluded += 1
        return verdict

    def prunes(self, rel_dir: str) -> bool:
        """True when nothing below ``rel_dir/`` can be included, so the walk may skip the directory.
        That holds when an exclude ending in ``*`` matches ``rel_dir/`` (the ``*`` then swallows any
        rest of the path) and no include comes after it."""
        for index, (kind, pattern) in enumerate(self.rules):
            if (
                kind == "exclude"
                and pattern.endswith("*")
                and fnmatch.fnmatchcase(rel_dir + "/", pattern)
                and all(k == "exclude" for k, _ in self.rules[index + 1 :])
            ):
                return True
        return False


def parse_shard(shard: Shard | tuple[int, int] | None) -> Shard | None:
    if shard is None or isinstance(shard, Shard):
        return shard
    k, n = shard
    return Shard.parse(f"{k}/{n}")


def in_shard(rel: str, shard: Shard | None) -> bool:
    return shard is None or shard.owns(rel)


# -- names --------------------------------------------------------------------------------------------------------
def unsafe_name_reason(rel: str) -> str | None:
    """Why a key cannot be written below the destination folder (transfer/paths.py rules), or None."""
    try:
        safe_relpath(rel.split("/"))
    except UnsafeName as exc:
        return str(exc)
    return None


def invalid_local_name_reason(rel: str) -> str | None:
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8"
    return None


# -- decisions ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rules:
    direction: Direction
    size_only: bool = False
    checksum: bool = False
    delete: bool = False


def compare(rules: Rules, local: LocalFile, remote: RemoteObject) -> tuple[Kind, str]:
    """Decide for a name present on both sides."""
    copy: Kind = rules.direction
    if local.size != remote.size:
        return copy, "size differs"
    if rules.size_only:
        return "skip", "same size"
    if rules.checksum:
        return "check", "same size"
    if rules.direction == "upload":
        return (copy, "local file is newer") if local.mtime > remote.mtime else ("skip", "unchanged")
    return (copy, "modification time differs") if local.mtime != remote.mtime else ("skip", "unchanged")


def plan(
    rules: Rules,
    local: dict[str, LocalFile],
    remote_pages: Iterable[Iterable[RemoteObject]],
    prefix: str,
    filters: OrderedFilters,
    shard: Shard | None = None,
) -> Iterator[Action]:
    """Yield one action per name. ``local`` is already filtered (the walk prunes); remote names are
    filtered here. Decisions on names seen in the remote listing are yielded while it streams; names
    only on the local side come last, once the whole listing is known.

    Memory stays flat in the size of the listing: only names found on both sides are remembered (to
    leave them out of the local-only pass). A key repeated right after itself is dropped; S3 lists in key
    order, so that is every repeat a real server sends."""
    matched: set[str] = set()
    previous: str | None = None
    for page in remote_pages:
        for remote in page:
            rel = remote.key[len(prefix) :]
            repeated, previous = remote.key == previous, remote.key
            if not rel or rel.endswith("/") or repeated or rel in matched:  # folder markers; a buggy server
                continue
            if rel.startswith(LOCK_FOLDER):  # neurofetch's own lock objects
                continue
            if not filters.included(rel) or not in_shard(rel, shard):
                continue
            found = local.get(rel)
            if found is not None:
                matched.add(rel)
            if rules.direction == "download":
                reason = unsafe_name_reason(rel)
                if reason is not None:
                    yield Action("fail", rel, found, remote, f"cannot write this key locally: {reason}")
                    continue
                if remote.storage_class in ARCHIVED_CLASSES:
                    yield Action("archived", rel, found, remote, f"in {remote.storage_class}; restore it first")
                    continue
                if found is None:
                    yield Action("download", rel, None, remote, "missing locally")
                    continue
            elif found is None:
                if rules.delete:
                    yield Action("delete", rel, None, remote, "not in the source")
                continue
            kind, reason = compare(rules, found, remote)
            yield Action(kind, rel, found, remote, reason)
    for rel, found in local.items():
        if rel in matched:
            continue
        if rules.direction == "upload":
            reason = invalid_local_name_reason(rel)
            if reason is not None:
                yield Action("fail", rel, found, None, reason)
            else:
                yield Action("upload", rel, found, None, "missing in the bucket")
        elif rules.delete:
            yield Action("delete", rel, found, None, "not in the source")


def plan_line(entry: dict) -> str:
    """The aws-style dry-run line of a planned entry: ``(dryrun) upload: SRC to DST``,
    ``(dryrun) delete: TARGET`` or ``(dryrun) make_bucket: s3://bucket``."""
    if entry.get("destination"):
        return f"(dryrun) {entry['action']}: {entry['source']} to {entry['destination']}"
    return f"(dryrun) {entry['action']}: {entry.get('target') or entry.get('source')}"
