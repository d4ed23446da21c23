"""Segmentations attached to a resource (reference/datamint.md §2.5): a NIfTI label volume goes to the
volume-segmentation endpoint with its label → name map; a PNG mask becomes one frame annotation per
label, each with a binary PNG mask. Attaching is journaled, so a re-run does not attach it twice."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurofetch.errors import RemoteDataError, UsageError
from neurofetch.services.datamint.api import DatamintApi
from neurofetch.transfer.results import RunResult
from neurofetch.transfer.upload_journal import UploadJournal

VOLUME_SUFFIXES = (".nii", ".nii.gz")
NAME_KEYS = ("segmentation_names", "class_names", "names")


@dataclass(frozen=True)
class Segmentation:
    path: Path
    names: dict[str, str]  # label value ("1") -> class name
    data: bytes

    @property
    def is_volume(self) -> bool:
        return self.path.name.lower().endswith(VOLUME_SUFFIXES)

    def journal_key(self, resource_id: str) -> str:
        names = json.dumps(self.names, sort_keys=True)
        digest = hashlib.sha256(self.data + names.encode()).hexdigest()
        return f"segmentation:{resource_id}:{digest}"


def load_segmentation(path: Path | None, name: str | None, names: Mapping[str, str] | None) -> Segmentation | None:
    if path is None:
        if name or names is not None:
            raise UsageError("--segmentation-name/--segmentation-names go with --segmentation PATH")
        return None
    if name and names is not None:
        raise UsageError("give --segmentation-name NAME or --segmentation-names FILE, not both")
    if not name and names is None:
        raise UsageError("--segmentation needs --segmentation-name NAME (label 1) or --segmentation-names FILE")
    lower = path.name.lower()
    if not lower.endswith((*VOLUME_SUFFIXES, ".png")):
        raise UsageError(f"--segmentation {path}: a NIfTI label volume (.nii, .nii.gz) or a PNG mask is needed")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"--segmentation {path}: {exc.strerror or exc}") from None
    return Segmentation(path, {"1": name} if name else dict(names or {}), data)


def label_names(loaded: Any, text: str, where: str) -> dict[str, str]:
    """--segmentation-names FILE: ``loaded`` is its YAML or JSON ``{1: tumor, 2: edema}`` (optionally under
    ``segmentation_names``; None when it is not YAML), else ``text`` holds ``1,tumor`` lines."""
    if isinstance(loaded, dict):
        loaded = next((loaded[k] for k in NAME_KEYS if isinstance(loaded.get(k), dict)), loaded)
    if not isinstance(loaded, dict):
        loaded = dict(line.split(",", 1) for line in text.splitlines() if line.count(",") >= 1)
    names = {str(k).strip(): str(v).strip() for k, v in loaded.items()}
    if not names or not all(k.isdigit() and int(k) > 0 and v for k, v in names.items()):
        raise UsageError(
            f"--segmentation-names {where}: map label values (1, 2, ...) to names, e.g. YAML lines like `1: tumor`"
        )
    return names


async def attach_segmentation(
    api: DatamintApi, journal: UploadJournal, resource_id: str, segmentation: Segmentation, result: RunResult
) -> None:
    key = segmentation.journal_key(resource_id)
    if journal.get_record(key) is not None:
        result.add("segmentation_already_attached")
        return
    if segmentation.is_volume:
        ids = await api.upload_volume_segmentation(
            resource_id, segmentation.path.name, segmentation.data, segmentation.names
        )
    else:
        masks = label_masks(segmentation.data, segmentation.names)
        if not masks:
            raise UsageError(f"--segmentation {segmentation.path}: the mask has no labelled pixel")
        ids = await api.create_frame_annotations(
            resource_id, [name for name, _ in masks], _frame_index(segmentation.path)
        )
        if len(ids) != len(masks):
            raise RemoteDataError(f"annotations of {resource_id}: asked for {len(masks)}, got {len(ids)} ids")
        for annotation_id, (name, png) in zip(ids, masks, strict=True):
            await api.upload_annotation_file(resource_id, annotation_id, name, png)
    journal.put_record(key, json.dumps(ids))
    result.add("segmentations_attached")
    result.extra["segmentation"] = {"resource_id": resource_id, "annotation_ids": ids}


def label_masks(png: bytes, names: dict[str, str]) -> list[tuple[str, bytes]]:
    """One binary (0/255) PNG per label value present in a grayscale or palette mask."""
    from PIL import Image

    image: Image.Image = Image.open(io.BytesIO(png))
    if image.mode == "1":
        image = image.convert("L").point(lambda v: 1 if v else 0)
    elif image.mode not in ("L", "P"):
        image = image.convert("L")
    raw = image.tobytes()
    values = sorted(set(raw) - {0})
    masks = []
    for value in values:
        table = bytes(255 if i == value else 0 for i in range(256))
        mask = Image.frombytes("L", image.size, raw.translate(table))
        buffer = io.BytesIO()
        mask.save(buffer, format="PNG")
        # A single-label mask saved as 0/255 still takes the one name given.
        name = names.get(str(value)) or (next(iter(names.values())) if len(values) == len(names) == 1 else None)
        masks.append((name or f"label_{value}", buffer.getvalue()))
    return masks


def _frame_index(path: Path) -> int:
    """A mask named ``12.png`` belongs to frame 12, as with the official client; otherwise frame 0."""
    stem = path.name[:-4]
    return int(stem) if stem.isdigit() else 0
