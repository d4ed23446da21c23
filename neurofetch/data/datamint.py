"""DatamintDataset: a Datamint project mirrored into a folder by neurofetch's engine (resumable, parallel,
journaled), served as ``(image, dicom_metadata, metadata)`` items like the official client's dataset, with the
segmentation masks aligned to their image."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurofetch.data.collate import collate as collate_pairs
from neurofetch.data.loaders import format_of, load_array
from neurofetch.data.mirror import UnreadableFileError
from neurofetch.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

GZIP_MAGIC = b"\x1f\x8b"


class DatamintDataset:
    """The resources of Datamint project ``project``, mirrored into ``root`` (with ``download=True``, the
    default: ``api.mirror(root, project=[project], ...)``, which fetches only what is missing, so a second
    construction downloads nothing), in path order.

    ``dataset[i]`` is ``(image, dicom_metadata, metadata)``:

    - ``image``: a numpy array (as neurofetch.data reads each format; ``transform`` applied);
    - ``dicom_metadata``: the pydicom Dataset of a DICOM resource (without its pixels), else None;
    - ``metadata``: the resource's index row (``id``, ``filename``, ``channel``, ``tags``, ``projects``, ...)
      plus ``labels`` (the names of its label annotations and of the classes its masks contain),
      ``annotations`` (the annotation records) and ``masks``: a bool array with one channel per name of
      :attr:`segmentation_labels`, each the shape of the image without its colour channels (a label volume
      for a volume, one frame mask placed at its frame); or ``target(metadata)``.

    ``profile`` is a profile name or a ``neurofetch.settings.Profile``, as for ``api.mirror``.
    ``return_frame_by_frame=True`` makes each frame an item (a multi-frame DICOM's first axis, a volume's last
    axis), with its masks and ``metadata["frame_index"]``. ``include_unannotated=False`` keeps only resources
    with at least one annotation. Credentials and server as for ``api.mirror``: ``profile=``, or ``url=`` with
    ``api_key=`` (or the environment, the keyring). torch is not needed; :meth:`collate` batches for a
    DataLoader.
    """

    def __init__(
        self,
        root: str | Path,
        project: str,
        *,
        profile: Any = None,
        url: str | None = None,
        api_key: str | None = None,
        download: bool = True,
        return_frame_by_frame: bool = False,
        include_unannotated: bool = True,
        transform: Callable[[np.ndarray], Any] | None = None,
        target: Callable[[dict[str, Any]], Any] | None = None,
        jobs: int | None = None,
        progress: bool = False,
    ) -> None:
        from neurofetch import api

        self.root = Path(root).expanduser()
        self.project = project
        self.transform = transform
        self.target = target
        self.return_frame_by_frame = return_frame_by_frame
        if download:
            api.mirror(
                self.root,
                profile=profile,
                url=url,
                service="datamint" if url else None,
                api_key=api_key,
                project=[project],
                jobs=jobs,
                progress=progress,
            )
        rows = [row.to_dict() for row in api.index(self.root)]
        masks: dict[str, list[str]] = {}
        for row in rows:
            if row.get("segmentation_of"):
                masks.setdefault(row["segmentation_of"], []).append(row["path"])
        self._resources: list[dict[str, Any]] = []
        self._listed: dict[Path, dict[str, list[str]]] = {}  # channel folder -> id -> its records' names
        for row in rows:
            if row.get("segmentation_of") or not row.get("id") or project not in (row.get("projects") or []):
                continue
            kind = format_of(row["path"])
            if not kind:
                raise UsageError(f"{row['path']}: neurofetch.data does not read this format")
            annotations = self._annotations(row, sorted(masks.get(row["path"], [])))
            if annotations or include_unannotated:
                self._resources.append({"row": row, "kind": kind, "annotations": annotations})
        self._listed.clear()
        if not self._resources and download:
            raise UsageError(f"project {project!r} has no resources in {self.root}")
        self.segmentation_labels: list[str] = sorted(
            {name for item in self._resources for a in item["annotations"] for name in _class_names(a)}
        )
        self._items: list[tuple[int, int | None]] = [
            (index, frame)
            for index, item in enumerate(self._resources)
            for frame in (range(self._frame_count(item)) if return_frame_by_frame else [None])
        ]

    def _annotations(self, row: dict[str, Any], mask_paths: list[str]) -> list[dict[str, Any]]:
        """The annotation records the mirror keeps beside a resource (``<id>_*.json`` naming the resource as
        theirs), the record of each mask with ``mask`` = the mask's path."""
        folder = self.root / row["channel"]
        if folder not in self._listed:
            by_prefix: dict[str, list[str]] = {}
            self._listed[folder] = by_prefix
            for path in sorted(folder.iterdir()):
                if path.name.endswith(".json"):
                    by_prefix.setdefault(path.name.partition("_")[0], []).append(path.name)
        masks = {f"{path.rpartition('/')[2]}.json": path for path in mask_paths}
        found = []
        for name in self._listed[folder].get(row["id"], []):
            record = _json(folder / name)
            if record is None or record.get("resource_id") != row["id"] or not record.get("type"):
                continue  # the resource's own record
            found.append({**record, "mask": masks[name]} if name in masks else record)
        return found

    def _frame_count(self, item: dict[str, Any]) -> int:
        path = self.root / item["row"]["path"]
        if item["kind"] == "dicom":
            import pydicom

            return int(getattr(pydicom.dcmread(path, stop_before_pixels=True), "NumberOfFrames", 1) or 1)
        if item["kind"] in ("nifti", "minc"):
            import nibabel

            image: Any = nibabel.load(path)
            shape = image.shape
            return int(shape[-1]) if len(shape) == 3 else 1
        return 1

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> tuple[Any, Any, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"item {index} of a dataset of {len(self)}")
        position, frame = self._items[index]
        item = self._resources[position]
        path = self.root / item["row"]["path"]
        try:
            image = load_array(path, item["kind"])
            dicom = _dicom_header(path) if item["kind"] == "dicom" else None
        except Exception as exc:  # each reader has its own errors; a user needs the file and the reason
            raise UnreadableFileError(f"cannot read {path}: {exc}") from exc
        frames = _frame_layout(item["kind"], image, dicom)
        masks = self._masks(item, image, frames)
        metadata = dict(item["row"])
        annotations = [
            a
            for a in item["annotations"]
            if frame is None or a.get("frame_index") is None or a.get("frame_index") == frame
        ]
        if frame is not None:
            image, masks = _frame(image, frames, frame), _frame(masks, frames, frame, leading=1)
            metadata["frame_index"] = frame
        present = [name for channel, name in enumerate(self.segmentation_labels) if masks[channel].any()]
        metadata["labels"] = sorted(
            {str(a.get("identifier")) for a in annotations if a.get("type") == "label"}
            | set(metadata.get("labels") or [])
            | set(present)
        )
        metadata["annotations"] = annotations
        metadata["masks"] = masks
        if self.transform is not None:
            image = self.transform(image)
        return image, dicom, (self.target(metadata) if self.target is not None else metadata)

    def _masks(self, item: dict[str, Any], image: np.ndarray, frames: str) -> np.ndarray:
        import numpy as np

        shape = image.shape[:2] if frames == "picture" else image.shape
        masks = np.zeros((len(self.segmentation_labels), *shape), dtype=bool)
        for annotation in item["annotations"]:
            if not annotation.get("mask"):
                continue
            path = self.root / annotation["mask"]
            try:
                drawn = _read_mask(path)
            except Exception as exc:
                raise UnreadableFileError(f"cannot read the mask {path}: {exc}") from exc
            frame = annotation.get("frame_index")
            target = shape if frame is None else _frame(masks[0], frames, frame).shape
            if drawn.shape != target:
                raise UnreadableFileError(f"the mask {path} is {drawn.shape}, its image {target}")
            for value, name in _class_values(annotation, drawn):
                channel = masks[self.segmentation_labels.index(name)]
                view = channel if frame is None else _frame(channel, frames, frame)
                view |= drawn == value if value is not None else drawn > 0
        return masks

    @staticmethod
    def collate(batch: Sequence[tuple[Any, Any, Any]]) -> tuple[Any, list[Any], list[Any]]:
        """A DataLoader ``collate_fn``: images stacked (a torch tensor when torch is loaded, else numpy; a list
        when their shapes differ), DICOM headers and metadata as lists."""
        images, rest = collate_pairs([(image, (dicom, metadata)) for image, dicom, metadata in batch])
        return images, [dicom for dicom, _ in rest], [metadata for _, metadata in rest]

    def __repr__(self) -> str:
        return f"DatamintDataset({str(self.root)!r}, project={self.project!r}, {len(self)} items)"


def _json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _class_names(annotation: dict[str, Any]) -> list[str]:
    if annotation.get("type") != "segmentation" or not annotation.get("mask"):
        return []
    class_map = annotation.get("class_map")
    if isinstance(class_map, dict) and class_map:
        return [str(name) for name in class_map.values()]
    return [str(annotation.get("identifier"))]


def _class_values(annotation: dict[str, Any], drawn: np.ndarray) -> list[tuple[int | None, str]]:
    """(voxel value, class name) pairs of a mask: a label volume's class map, else any non-zero pixel."""
    class_map = annotation.get("class_map")
    if isinstance(class_map, dict) and class_map:
        return [(int(value), str(name)) for value, name in class_map.items() if str(value).isdigit()]
    return [(None, str(annotation.get("identifier")))]


def _read_mask(path: Path) -> np.ndarray:
    import numpy as np

    data = path.read_bytes()
    if path.name.endswith((".nii", ".nii.gz")):
        import nibabel

        image = nibabel.Nifti1Image.from_bytes(gzip.decompress(data) if data[:2] == GZIP_MAGIC else data)
        return np.asarray(image.dataobj)
    from io import BytesIO

    from PIL import Image

    with Image.open(BytesIO(data)) as picture:
        return np.array(picture.convert("L"))


def _dicom_header(path: Path) -> Any:
    import pydicom

    return pydicom.dcmread(path, stop_before_pixels=True)


def _frame_layout(kind: str, image: np.ndarray, dicom: Any) -> str:
    """Where an image's frames are: ``picture`` (one frame; a colour axis may follow), ``first`` (a multi-frame
    DICOM: frames, rows, columns), ``last`` (a volume: x, y, z) or ``single``."""
    if kind in ("png", "jpeg"):
        return "picture"
    if kind == "dicom":
        return "first" if int(getattr(dicom, "NumberOfFrames", 1) or 1) > 1 else "single"
    return "last" if image.ndim == 3 else "single"


def _frame(array: np.ndarray, frames: str, frame: int, leading: int = 0) -> np.ndarray:
    """Frame ``frame`` of ``array`` (a view), ``leading`` axes (mask channels) kept in front."""
    if frames == "first":
        return array[(slice(None),) * leading + (frame,)]
    if frames == "last":
        return array[..., frame]
    return array
