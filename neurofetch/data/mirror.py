"""MirrorDataset: the image files of a neurofetch mirror as ``(array, metadata)`` items, metadata being
the file's row of ``neurofetch index`` (api.index)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurofetch.data.loaders import format_of, load_array
from neurofetch.data.table import CompactRows
from neurofetch.errors import NeurofetchError, UsageError

if TYPE_CHECKING:
    import numpy as np

ON_ERROR = ("raise", "skip")
Where = Mapping[str, Any] | Callable[[dict[str, Any]], bool]
SHOWN_NAMES = 3


class UnreadableFileError(NeurofetchError, ValueError):
    """A file of the dataset could not be read as the image its name says it is (or is gone)."""


class MirrorDataset:
    """The image files of the neurofetch mirror at ``root``, in path order (the same order every time).

    ``dataset[i]`` reads file ``i`` (only then: nothing is opened before) and gives ``(array, metadata)``,
    ``metadata`` being the file's row of ``api.index(root)`` as a dict (path, size, sha256, service,
    source_url, fetched_at and the service's columns: ``candid``, ``visit``, ``qc.qc`` for LORIS,
    ``map_type`` and ``collection_id`` for NeuroVault, ``tags`` and ``labels`` for Datamint, ...), or
    ``(array, target(metadata))`` with ``target``. ``transform`` is applied to the array.

    ``where`` keeps the files whose metadata matches: a dict of column → allowed value (or a list, tuple or
    set of allowed values; a list-valued column such as ``tags`` matches when any of its values is allowed),
    or a callable taking the metadata dict. Files that are not images (task events, JSON records) are never
    items. ``on_error="raise"`` (the default) refuses a file of an image format it cannot read when the
    dataset is built, and raises UnreadableFileError from ``dataset[i]`` for a file that does not load;
    ``on_error="skip"`` leaves the former out and makes ``dataset[i]`` return None for the latter: use
    ``neurofetch.data.collate`` as a DataLoader's ``collate_fn``, which drops them from the batch.

    Arrays: NIfTI in its stored dtype, axes x, y, z; MINC float32, axes in the file's order (z, y, x);
    DICOM float32 after RescaleSlope/RescaleIntercept; PNG and JPEG uint8 (height, width[, channels]).
    The object holds about 0.5 kB per file and pickles small, so ``torch.utils.data.DataLoader`` with
    worker processes (fork or spawn) works; ``transform`` and ``target`` must then be picklable
    (module-level functions, not lambdas, under spawn).
    """

    def __init__(
        self,
        root: str | Path,
        *,
        where: Where | None = None,
        transform: Callable[[np.ndarray], Any] | None = None,
        target: Callable[[dict[str, Any]], Any] | None = None,
        on_error: str = "raise",
    ) -> None:
        from neurofetch import api

        if on_error not in ON_ERROR:
            raise UsageError(f"on_error must be one of {', '.join(ON_ERROR)}, not {on_error!r}")
        self.root = Path(root).expanduser()
        self.transform = transform
        self.target = target
        self.on_error = on_error
        matches = _matcher(where)
        rows, kinds, unreadable = [], [], []
        for index_row in api.index(self.root):
            row = index_row.to_dict()
            kind = format_of(row["path"])
            if kind == "" or not matches(row):
                continue
            if kind is None:
                unreadable.append(row["path"])
                continue
            rows.append(row)
            kinds.append(kind)
        if unreadable and on_error == "raise":
            named = ", ".join(unreadable[:SHOWN_NAMES]) + (" ..." if len(unreadable) > SHOWN_NAMES else "")
            raise UsageError(
                f"{len(unreadable)} files of the mirror are in formats neurofetch.data does not read "
                f"({named}); leave them out with where=..., or pass on_error='skip'"
            )
        self._rows = CompactRows(rows)
        self._kinds = "".join(_KIND_CODES[k] for k in kinds)

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: int) -> tuple[Any, Any] | None:
        metadata = self.metadata(index)
        path = self.root / metadata["path"]
        try:
            array: Any = load_array(path, _CODE_KINDS[self._kinds[index]])
        except Exception as exc:  # each reader has its own errors; a user needs the file and the reason
            if self.on_error == "skip":
                return None
            raise UnreadableFileError(f"cannot read {path}: {exc}") from exc
        if self.transform is not None:
            array = self.transform(array)
        return array, (self.target(metadata) if self.target is not None else metadata)

    def metadata(self, index: int) -> dict[str, Any]:
        """The index row of item ``index`` (no file is read)."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"item {index} of a dataset of {len(self)}")
        return self._rows.row(index % len(self))

    def __repr__(self) -> str:
        return f"MirrorDataset({str(self.root)!r}, {len(self)} files)"


_KIND_CODES = {"nifti": "n", "minc": "m", "dicom": "d", "png": "p", "jpeg": "j"}
_CODE_KINDS = {code: kind for kind, code in _KIND_CODES.items()}


def _matcher(where: Where | None) -> Callable[[dict[str, Any]], bool]:
    if where is None:
        return lambda _row: True
    if callable(where):
        return lambda row: bool(where(row))
    if not isinstance(where, Mapping):
        raise UsageError("where must be a dict of column → allowed values, or a function of the metadata")
    allowed = {name: _allowed(value) for name, value in where.items()}

    def matches(row: dict[str, Any]) -> bool:
        for name, values in allowed.items():
            if name not in row:
                return False
            value = row[name]
            found = value if isinstance(value, list) else [value]
            if not any(_hashable(v) in values for v in found):
                return False
        return True

    return matches


def _allowed(value: Any) -> set[Any]:
    values = value if isinstance(value, Collection) and not isinstance(value, (str, bytes)) else [value]
    return {_hashable(v) for v in values}


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
