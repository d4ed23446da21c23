"""`ls`: the rows of what `mirror`, `atlas-image` or `s3-sync` would fetch, from the same crawl, fetching nothing.

Columns (stable; documented in README and `ls --help`): ``path`` (relative to DEST, where the download puts
the file), ``url`` (without query string or user info), ``size`` (bytes, when the service says), then:

- loris: candid, pscid, site, visit, output_type, acquisition_type (+ qc with --qc);
  ``--level candidates`` / ``visits`` give one row per candidate / visit instead
- neurovault: collection, image_id, map_type, modality, name
- allen: atlas, section_number, image_id
- datamint: id, channel, status, tags, mimetype, uploaded
- s3: key, etag, storage_class, modified
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurofetch.api.runner import choose_profile, given_secret
from neurofetch.errors import UsageError
from neurofetch.transfer.catalog import Column
from neurofetch.transfer.filters import NameFilter
from neurofetch.transfer.listing import Manifest, Row
from neurofetch.transfer.shard import Shard

if TYPE_CHECKING:
    from neurofetch.credentials import Secret
    from neurofetch.services.allen import AtlasImageRequest
    from neurofetch.services.s3.bucket import S3Settings
    from neurofetch.settings import Profile
    from neurofetch.transfer.mirror import Source
    from neurofetch.transfer.results import RunResult

ROWS_IN_FLIGHT = 1024  # `ls` rows found but not yet consumed: bounds memory whatever the listing's size

COMMON = (Column("path"), Column("url"), Column("size", "int"))
LORIS_LEVELS = ("candidates", "visits", "files")
SERVICE_COLUMNS: dict[str, tuple[Column, ...]] = {
    "loris": (
        Column("candid"),
        Column("pscid"),
        Column("site"),
        Column("visit"),
        Column("output_type"),
        Column("acquisition_type"),
    ),
    "neurovault": (
        Column("collection", "int"),
        Column("image_id", "int"),
        Column("map_type"),
        Column("modality"),
        Column("name"),
    ),
    "allen": (Column("atlas", "int"), Column("section_number", "int"), Column("image_id", "int")),
    "datamint": (
        Column("id"),
        Column("channel"),
        Column("status"),
        Column("tags", "list"),
        Column("mimetype"),
        Column("uploaded"),
    ),
    "s3": (Column("key"), Column("etag"), Column("storage_class"), Column("modified")),
}
# The column that says which service wrote a manifest (with the url's server, checked on every row).
KEY_COLUMN = {
    "loris": "candid",
    "neurovault": "collection",
    "allen": "section_number",
    "datamint": "channel",
    "s3": "etag",
}


@dataclass(frozen=True)
class LsQuery:
    """What to list: the selection options of `mirror` / `atlas-image` / `s3-sync`, by service."""

    candidates: Sequence[str] = ()
    visits: Sequence[str] = ()
    qc: bool = False
    level: str = "files"
    collections: Sequence[str] = ()
    dois: Sequence[str] = ()
    map_types: Sequence[str] = ()
    modalities: Sequence[str] = ()
    datamint: dict[str, Any] = field(default_factory=dict)  # channel, status, tags, projects, mimetype, dates
    allen: AtlasImageRequest | None = None
    names: NameFilter = field(default_factory=NameFilter)
    shard: Shard | None = None


def columns(service: str, query: LsQuery) -> list[Column]:
    """The columns of an `ls` table of ``service``, in order."""
    if service == "loris":
        level = query.level
        if level not in LORIS_LEVELS:
            raise UsageError(f"--level takes one of {', '.join(LORIS_LEVELS)}, not {level!r}")
        wanted = {"candidates": 3, "visits": 4, "files": 6}[level]
        head = COMMON if level == "files" else COMMON[:2]
        return [*head, *SERVICE_COLUMNS["loris"][:wanted], *([Column("qc")] if query.qc and level == "files" else [])]
    if service not in SERVICE_COLUMNS:
        raise UsageError(f"ls is not available for {service} profiles")
    return [*COMMON, *SERVICE_COLUMNS[service]]


# Columns whose values narrow the crawl of a manifest's mirror (LORIS: only its candidates and visits are listed).
PRUNE_BY = {"loris": ("candid", "visit")}


def load_manifest(path: Path, service: str, server: str) -> Manifest:
    return Manifest.load(
        path, service=service, key_column=KEY_COLUMN[service], server=server, prune_by=PRUNE_BY.get(service, ())
    )


def _source(profile: Profile, query: LsQuery, no_input: bool, secret: Secret | None) -> Source:
    from neurofetch.net.http import policy_for

    service = profile.service
    if query.level != "files" and service != "loris":
        raise UsageError("--level is for loris profiles")
    if service == "loris":
        from neurofetch.credentials.loris import loris_source
        from neurofetch.services.loris.source import LorisSelection

        selection = LorisSelection(
            tuple(query.candidates), tuple(query.visits), query.names, qc=query.qc, level=query.level
        )
        return loris_source(profile, selection, no_input=no_input, password=secret)
    if service == "neurovault":
        from neurofetch.services.neurovault import NeuroVaultSource, neurovault_selection

        nv = neurovault_selection(
            query.collections, query.dois, map_types=query.map_types, modalities=query.modalities, names=query.names
        )
        return NeuroVaultSource(profile.url, nv, policy_for(profile.http))
    if service == "datamint":
        from neurofetch.credentials.datamint import api_key_for
        from neurofetch.services.datamint.mirror import DatamintSource, datamint_selection

        dm = datamint_selection(**query.datamint, names=query.names)
        key = secret or api_key_for(profile, no_input=no_input)
        return DatamintSource(profile.url, key, dm, policy_for(profile.http))
    if service == "allen":
        from neurofetch.services.allen import AllenSource

        if query.allen is None or query.allen.empty:
            raise UsageError(
                "nothing to list: give IMAGE_ID arguments, --atlas-images ATLAS_ID or --section-data-set ID"
            )
        return AllenSource(profile.url, query.allen)
    raise UsageError(f"ls is not available for {service} profiles")


def ls_query(
    *,
    candidate: Sequence[str] = (),
    visit: Sequence[str] = (),
    qc: bool = False,
    level: str = "files",
    collection: Sequence[str] = (),
    doi: Sequence[str] = (),
    map_type: Sequence[str] = (),
    modality: Sequence[str] = (),
    channel: str | None = None,
    status: str | None = None,
    tag: Sequence[str] = (),
    project: Sequence[str] = (),
    mimetype: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    allen: AtlasImageRequest | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    shard: str | None = None,
) -> LsQuery:
    """A query from the names `ls` options have on the command line."""
    datamint = {
        "channel": channel,
        "status": status,
        "tags": tuple(tag),
        "projects": tuple(project),
        "mimetype": mimetype,
        "date_from": date_from,
        "date_to": date_to,
    }
    return LsQuery(
        tuple(candidate),
        tuple(visit),
        qc,
        level,
        tuple(collection),
        tuple(doi),
        tuple(map_type),
        tuple(modality),
        datamint,
        allen,
        NameFilter(tuple(include), tuple(exclude)),
        Shard.parse(shard) if shard else None,
    )


def prepare(
    profile: Profile, query: LsQuery, *, no_input: bool = True, secret: Secret | None = None
) -> Callable[[Callable[[Row], None]], RunResult]:
    """Check the query and the credentials now (prompting if allowed); the returned function runs the crawl."""
    from neurofetch.transfer.mirror import run_catalog

    source = _source(profile, query, no_input, secret)
    return lambda emit: run_catalog("ls", source, profile.http, emit, shard=query.shard)


def prepare_s3(
    url: str, settings: S3Settings, filters: Sequence[tuple[str, str]] = (), shard: str | None = None
) -> Callable[[Callable[[Row], None]], RunResult]:
    """`ls s3://BUCKET/PREFIX`: the objects `s3-sync` would download, with the sync's aws-style filters."""
    from neurofetch.services.s3.bucket import S3Bucket, S3Location
    from neurofetch.services.s3.catalog import list_rows as s3_rows
    from neurofetch.transfer.results import RunResult
    from neurofetch.transfer.sync.plan import OrderedFilters

    S3Location.parse(url)
    ordered = OrderedFilters(filters)
    parts = Shard.parse(shard) if shard else None

    def run(emit: Callable[[Row], None]) -> RunResult:
        result = RunResult("ls")
        started = time.monotonic()
        try:
            with S3Bucket(settings, S3Location.parse(url).bucket) as bucket:
                s3_rows(bucket, url, ordered, parts, emit, result)
        finally:
            result.seconds = time.monotonic() - started
        return result

    return run


def ls(
    target: str | None = None,
    *,
    profile: str | Profile | None = None,
    url: str | None = None,
    service: str | None = None,
    config: str | None = None,
    username: str | None = None,
    password: str | None = None,
    api_key: str | None = None,
    no_input: bool = True,
    endpoint_url: str | None = None,
    aws_profile: str | None = None,
    region: str | None = None,
    jobs: int | None = None,
    filters: Sequence[tuple[str, str]] | None = None,
    **selection: Any,
) -> Rows:
    """The rows `neurofetch ls` prints: one per file `mirror` / `atlas-image` / `s3-sync` would fetch.

    ``target`` is ``s3://BUCKET/PREFIX`` for S3; otherwise the profile (a name, or ``url`` + ``service``) says
    which service. ``selection`` takes the names of the command-line options (candidate, visit, qc, level,
    collection, doi, map_type, modality, channel, status, tag, project, mimetype, date_from, date_to, include,
    exclude, shard; allen: an AtlasImageRequest). Rows stream while the crawl goes on.
    """
    if target is not None and target.startswith("s3://"):
        from neurofetch.api.bucket import s3_connection, s3_jobs, s3_profile
        from neurofetch.services.s3.bucket import S3Settings

        chosen_s3 = s3_profile(profile, config)
        settings = S3Settings(
            **s3_connection(chosen_s3, endpoint_url, aws_profile, region), jobs=s3_jobs(jobs, chosen_s3)
        )
        if filters is None:
            filters = [("exclude", p) for p in selection.pop("exclude", ())] + [
                ("include", p) for p in selection.pop("include", ())
            ]
        return ls_s3(target, settings, filters, selection.pop("shard", None))
    chosen = choose_profile(profile, url, service, config=config, jobs=jobs, username=username)
    query = ls_query(**selection)
    secret = given_secret(password if chosen.service == "loris" else api_key)
    return Rows(columns(chosen.service, query), prepare(chosen, query, no_input=no_input, secret=secret))


def ls_s3(url: str, settings: S3Settings, filters: Sequence[tuple[str, str]] = (), shard: str | None = None) -> Rows:
    """`ls s3://BUCKET/PREFIX` with aws-style ordered filters (("include"|"exclude", pattern), ...)."""
    return Rows(columns("s3", LsQuery()), prepare_s3(url, settings, filters, shard))


class Rows:
    """The rows of one `ls` run, produced while they are read; ``result`` (counts, failures) once read through."""

    def __init__(self, columns: list[Column], run: Callable[[Callable[[Row], None]], RunResult]) -> None:
        self.columns = columns
        self.result: RunResult | None = None
        self._run = run

    def __iter__(self) -> Iterator[Row]:
        rows: queue.Queue[Any] = queue.Queue(ROWS_IN_FLIGHT)
        stop = threading.Event()
        end = object()
        failure: list[BaseException] = []

        def put(item: Any) -> None:
            while not stop.is_set():
                try:
                    rows.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue
            raise _Abandoned

        def produce() -> None:
            try:
                self.result = self._run(put)
            except _Abandoned:
                pass
            except BaseException as exc:  # handed to the reader, who raises it
                failure.append(exc)
            finally:
                with contextlib.suppress(_Abandoned):
                    put(end)

        worker = threading.Thread(target=produce, name="neurofetch-ls", daemon=True)
        worker.start()
        try:
            while (item := rows.get()) is not end:
                yield item
        finally:
            stop.set()
            worker.join()
        if failure:
            raise failure[0]


class _Abandoned(Exception):
    """The reader stopped reading: the crawl ends."""
