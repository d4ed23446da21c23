"""The run's context: what every listing, download and document write may use (one per run). Its own module,
below the engine and the work it runs, so work.py, download.py and the services import it without a cycle."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from neurofetch.net.http import AsyncClient
from neurofetch.net.retry import RetryPolicy
from neurofetch.transfer.claims import PathClaims
from neurofetch.transfer.control import RunControl
from neurofetch.transfer.events import NullReporter, Reporter
from neurofetch.transfer.journal import Journal
from neurofetch.transfer.listing import CatalogSink, Manifest
from neurofetch.transfer.paths import OwnNames, UnsafeName, local_path, safe_relpath
from neurofetch.transfer.results import RunResult
from neurofetch.transfer.seen import SeenStore
from neurofetch.transfer.shard import Shard


@dataclass
class Context:
    """What every piece of work may use. One per run."""

    client: AsyncClient
    dest: Path
    journal: Journal
    policy: RetryPolicy
    result: RunResult
    control: RunControl  # signals, stop rules, failure accounting; made before logging in, whose retries count
    reporter: Reporter = field(default_factory=NullReporter)
    dry_run: bool = False
    resume_parts: bool = True
    shard: Shard | None = None
    seen: SeenStore = field(default_factory=SeenStore)  # what the run met, by name: flat memory for any tree
    catalog: CatalogSink | None = None  # `ls`: files become rows; nothing is downloaded or written
    manifest: Manifest | None = None  # --from-manifest: only the files it names
    segments: int | None = None  # --segments: per large file (None: automatic, 1: one stream)
    # Folders download.py has made (or found) this run, each with the names of the .part files it held then
    made_folders: dict[Path, frozenset[str]] = field(default_factory=dict)

    claims: PathClaims = field(init=False)
    own_names: OwnNames = field(init=False)

    def __post_init__(self) -> None:
        self.claims = PathClaims(self.seen)
        self.own_names = OwnNames(self.seen)

    def is_complete(self, parts: Sequence[object]) -> bool:
        """True when the file at ``parts`` is recorded complete and unchanged on disk."""
        if self.catalog is not None:
            return False
        try:
            relpath = safe_relpath(parts)
            return self.journal.is_complete(relpath, local_path(self.dest, relpath))
        except UnsafeName:
            return False

    def exists(self, parts: Sequence[object]) -> bool:
        if self.catalog is not None:
            return False
        try:
            return local_path(self.dest, safe_relpath(parts)).exists()
        except UnsafeName:
            return False
