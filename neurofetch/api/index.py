"""`index`: the table of a local mirror (its files, sha256 and the service's metadata), a BagIt bag of it,
and tables as pandas DataFrames."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from neurofetch.errors import IntegrityError, UsageError

if TYPE_CHECKING:
    from neurofetch.transfer.bag import BagOutcome
    from neurofetch.transfer.catalog import Column
    from neurofetch.transfer.local_index import SidecarReader
    from neurofetch.transfer.results import Failure

SHOWN_PROBLEMS = 5
INDEX_COLUMNS = ("path", "size", "sha256", "service", "source_url", "fetched_at")
INFER_FROM = 20  # files looked at to tell which service made a tree that does not say


@dataclass(frozen=True)
class IndexRow:
    """One file of a local mirror: where it is, what it is, and the service's metadata columns in ``meta``."""

    path: str  # relative to DEST, with "/"
    size: int
    sha256: str
    service: str | None
    source_url: str  # without query string or credentials
    fetched_at: str  # ISO 8601, local time of the run that fetched it
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "service": self.service,
            "source_url": self.source_url,
            "fetched_at": self.fetched_at,
            **self.meta,
        }


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

    return {
        "loris": loris.index_columns,
        "neurovault": neurovault.index_columns,
        "allen": allen.index_columns,
        "datamint": datamint_mirror.index_columns,
    }


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


def _infer_service(
    records: SidecarReader,
    paths: list[str],
    readers: Mapping[str, Callable[[SidecarReader, str], dict[str, Any] | None]],
) -> str | None:
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
    common = [
        Column("path"),
        Column("size", "int"),
        Column("sha256"),
        Column("service"),
        Column("source_url"),
        Column("fetched_at"),
    ]
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
    info = {
        "Bag-Software-Agent": f"neurofetch {__version__}",
        "External-Description": f"neurofetch mirror of {services}" + (f" ({hosts})" if hosts else ""),
    }
    return make_bag(dest, sorted(files, key=lambda f: f.relpath), Path(bagdir).expanduser(), info)


def to_pandas(rows: Iterable[Any]) -> Any:
    """A pandas DataFrame of ``rows``: the :class:`Rows` of :func:`ls` (its columns in order), IndexRow objects,
    dataclasses or dicts; needs pandas installed."""
    try:
        import pandas  # type: ignore[import-untyped]
    except ImportError:
        raise UsageError("to_pandas needs pandas: pip install pandas") from None
    from neurofetch.api.listing import Rows

    columns = [c.name for c in rows.columns] if isinstance(rows, Rows) else None
    return pandas.DataFrame.from_records([_as_dict(row) for row in rows], columns=columns)
