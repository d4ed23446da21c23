"""The public Python surface: what the commands do, as functions a notebook can call, returning plain data.

    >>> from neurofetch import api
    >>> rows = api.ls(profile="preventad", visit=["NAPBL00"])
    >>> frame = api.to_pandas(rows)          # needs pandas
    >>> frame[frame.output_type == "native"].to_csv("chosen.csv", index=False)

and then ``neurofetch mirror DEST --from-manifest chosen.csv``; ``api.index(DEST)`` tables what a mirror holds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from neurofetch.errors import IntegrityError, UsageError

if TYPE_CHECKING:
    from neurofetch.services.s3.bucket import S3Settings
    from neurofetch.settings import Profile
    from neurofetch.transfer.bag import BagOutcome
    from neurofetch.transfer.catalog import Column
    from neurofetch.transfer.local_index import SidecarReader
    from neurofetch.transfer.results import Failure, RunResult

SHOWN_PROBLEMS = 5
INDEX_COLUMNS = ("path", "size", "sha256", "service", "source_url", "fetched_at")
INFER_FROM = 20   # files looked at to tell which service made a tree that does not say
ROWS_IN_FLIGHT = 1024    # `ls` rows found but not yet consumed: bounds memory whatever the listing's size
Row = dict[str, Any]


@dataclass(frozen=True)
class IndexRow:
    """One file of a local mirror: where it is, what it is, and the service's metadata columns in ``meta``."""

    path: str                 # relative to DEST, with "/"
    size: int
    sha256: str
    service: str | None
    source_url: str           # without query string or credentials
    fetched_at: str           # ISO 8601, local time of the run that fetched it
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "service": self.service,
                "source_url": self.source_url, "fetched_at": self.fetched_at, **self.meta}


class IndexIntegrityError(IntegrityError):
    """`index --verify` found files that differ from the journal."""

    def __init__(self, problems: list[Failure]) -> None:
        named = "; ".join(f"{p.item}: {p.error}" for p in problems[:SHOWN_PROBLEMS])
        more = f" and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
        count = "1 file differs" if len(problems) == 1 else f"{len(problems)} files differ"
        super().__init__(f"{count} from the journal: {named}{more}")
        self.problems = problems


def _service_readers() -> dict[str, Callable[[SidecarReader, str], dict[str, Any] | None]]:
    from neurofetch.services import allen, neurovault
    from neurofetch.services.datamint import mirror as datamint_mirror
    from neurofetch.services.loris import source as loris

    return {"loris": loris.index_columns, "neurovault": neurovault.index_columns,
            "allen": allen.index_columns, "datamint": datamint_mirror.index_columns}


def index(dest: str | Path, *, verify: bool = False) -> list[IndexRow]:
    """Every file of the mirror at ``dest`` with its size, sha256 (from the journal), source and the service's
    metadata from the records beside it. ``verify`` re-hashes each file first and raises
    IndexIntegrityError (exit 6) naming the files that changed."""
    from neurofetch.transfer.local_index import SidecarReader, read_mirror, verify_mirror

    dest = Path(dest).expanduser()
    state = read_mirror(dest)
    if verify and (problems := verify_mirror(dest)):
        raise IndexIntegrityError(problems)
    readers = _service_readers()
    records = SidecarReader(dest)
    service = state.service or _infer_service(records, [e.path for e in state.entries[:INFER_FROM]], readers)
    read = readers.get(service or "")
    rows = []
    for entry in state.entries:
        meta = _listed(entry.meta)
        columns = read(records, entry.path) if read else None
        meta.update(columns or {})
        rows.append(IndexRow(entry.path, entry.size, entry.sha256, service, entry.source, entry.completed_at, meta))
    return rows


def _infer_service(records: SidecarReader, paths: list[str],
                   readers: Mapping[str, Callable[[SidecarReader, str], dict[str, Any] | None]]) -> str | None:
    """A tree from before the journal said which service made it: the service whose records lie beside its files."""
    for path in paths:
        for service, read in readers.items():
            if read(records, path) is not None:
                return service
    return None


def _listed(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def index_columns(rows: Iterable[IndexRow | Mapping[str, Any]]) -> list[Column]:
    """The table's columns: the common ones, then each metadata column in order of first appearance, typed by
    its values (int, float, bool, a list of strings, else text)."""
    from neurofetch.transfer.catalog import Column

    kinds: dict[str, set[type]] = {}
    for row in rows:
        record = _as_dict(row)
        for name, value in record.items():
            if name not in INDEX_COLUMNS:
                seen = kinds.setdefault(name, set())
                if value is not None and value != "":
                    seen.add(type(value))
    common = [Column("path"), Column("size", "int"), Column("sha256"), Column("service"), Column("source_url"),
              Column("fetched_at")]
    return common + [Column(name, _kind(types)) for name, types in kinds.items()]


def _kind(types: set[type]) -> Any:
    if types and types <= {bool}:
        return "bool"
    if types and types <= {int}:
        return "int"
    if types and types <= {int, float}:
        return "float"
    return "list" if list in types else "str"


def _as_dict(row: Any) -> dict[str, Any]:
    if isinstance(row, Mapping):
        return dict(row)
    if hasattr(row, "to_dict"):
        return dict(row.to_dict())
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return dataclasses.asdict(row)
    raise TypeError(f"not a row: {row!r}")


def bag(dest: str | Path, rows: Iterable[IndexRow], bagdir: str | Path) -> BagOutcome:
    """A BagIt bag of the mirror at ``bagdir`` (outside DEST): hard links to its files (copies across file
    systems) and their JSON records, manifest-sha256.txt from the journal, validated by the bagit library.
    DEST itself is left as it is, so later runs go on working."""
    from neurofetch import __version__
    from neurofetch.transfer.bag import BagFile, make_bag
    from neurofetch.transfer.local_index import other_files

    dest = Path(dest).expanduser()
    rows = list(rows)
    recorded = {row.path for row in rows}
    files = [BagFile(row.path, row.size, row.sha256) for row in rows]
    for relpath in other_files(dest, recorded):
        files.append(BagFile(relpath, (dest / relpath).stat().st_size, None))
    services = ", ".join(sorted({row.service for row in rows if row.service})) or "a service"
    hosts = ", ".join(sorted({urlsplit(row.source_url).netloc for row in rows} - {""}))
    info = {"Bag-Software-Agent": f"neurofetch {__version__}",
            "External-Description": f"neurofetch mirror of {services}" + (f" ({hosts})" if hosts else "")}
    return make_bag(dest, sorted(files, key=lambda f: f.relpath), Path(bagdir).expanduser(), info)


def to_pandas(rows: Iterable[Any]) -> Any:
    """A pandas DataFrame of ``rows``: the :class:`Rows` of :func:`ls` (its columns in order), IndexRow objects,
    dataclasses or dicts; needs pandas installed."""
    try:
        import pandas  # type: ignore[import-untyped]
    except ImportError:
        raise UsageError("to_pandas needs pandas: pip install pandas") from None
    columns = [c.name for c in rows.columns] if isinstance(rows, Rows) else None
    return pandas.DataFrame.from_records([_as_dict(row) for row in rows], columns=columns)


def ls(target: str | None = None, *, profile: str | Profile | None = None, url: str | None = None,
       service: str | None = None, no_input: bool = True, endpoint_url: str | None = None,
       aws_profile: str | None = None, region: str | None = None, **selection: Any) -> Rows:
    """The rows `neurofetch ls` prints: one per file `mirror` / `atlas-image` / `s3-sync` would fetch.

    ``target`` is ``s3://BUCKET/PREFIX`` for S3; otherwise the profile (a name, or ``url`` + ``service``) says
    which service. ``selection`` takes the names of the command-line options (candidate, visit, qc, level,
    collection, doi, map_type, modality, channel, status, tag, project, mimetype, date_from, date_to, include,
    exclude, shard; allen: an AtlasImageRequest). Rows stream while the crawl goes on.
    """
    from neurofetch.operations import ls as catalog

    if target is not None and target.startswith("s3://"):
        from neurofetch.services.s3.bucket import S3Settings

        settings = S3Settings(endpoint_url, aws_profile, region)
        filters = [("exclude", p) for p in selection.pop("exclude", ())] + [("include", p) for p in
                                                                            selection.pop("include", ())]
        return ls_s3(target, settings, filters, selection.pop("shard", None))
    chosen = _profile(profile, url, service)
    query = catalog.ls_query(**selection)
    return Rows(catalog.columns(chosen.service, query), catalog.prepare(chosen, query, no_input=no_input))


def ls_s3(url: str, settings: S3Settings, filters: Sequence[tuple[str, str]] = (), shard: str | None = None) -> Rows:
    """`ls s3://BUCKET/PREFIX` with aws-style ordered filters (("include"|"exclude", pattern), ...)."""
    from neurofetch.operations import ls as catalog

    return Rows(catalog.columns("s3", catalog.LsQuery()), catalog.prepare_s3(url, settings, filters, shard))


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
            except BaseException as exc:   # handed to the reader, who raises it
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


def _profile(profile: str | Profile | None, url: str | None, service: str | None) -> Profile:
    from neurofetch.settings import GlobalOptions, Profile, select_profile

    if isinstance(profile, Profile):
        return profile
    return select_profile(GlobalOptions(profile=profile, url=url, service=service))
