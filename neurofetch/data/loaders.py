"""Image files as numpy arrays, by format: MINC1 and MINC2 and NIfTI through nibabel (MINC2 needs h5py),
DICOM through pydicom (rescale slope and intercept applied), PNG and JPEG through Pillow. The libraries
are imported when a file is read, so importing this module costs nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# Suffixes of each readable format, longest first where one ends another (".nii.gz" before ".gz").
FORMATS: dict[str, tuple[str, ...]] = {
    "nifti": (".nii.gz", ".nii"),
    "minc": (".mnc",),
    "dicom": (".dcm", ".dicom"),
    "png": (".png",),
    "jpeg": (".jpg", ".jpeg"),
}
# What a mirror holds beside its images (task events, records, atlas labels, drawings): never items.
NOT_IMAGES = (".txt", ".tsv", ".csv", ".json", ".xml", ".svg", ".html", ".md", ".ttl", ".zip")


def format_of(path: str) -> str | None:
    """The format a file name says (``"nifti"``, ``"minc"``, ...), ``""`` for a file that is not an image,
    None for an image format this module cannot read."""
    name = path.lower()
    for kind, suffixes in FORMATS.items():
        if name.endswith(suffixes):
            return kind
    return "" if name.endswith(NOT_IMAGES) else None


def load_array(path: Path, kind: str) -> np.ndarray:
    """The voxels or pixels of the file at ``path``, read as format ``kind``."""
    return _READERS[kind](path)


def _volume(path: Path) -> np.ndarray:
    """NIfTI in its stored dtype (scaled to float when the header scales); MINC as float32 real values
    (MINC voxels always map through image-min/image-max). Axes as nibabel gives them: x, y, z for NIfTI,
    the file's dimension order (usually z, y, x) for MINC."""
    import nibabel
    import numpy as np

    image: Any = nibabel.load(path, mmap=False)
    try:
        data = np.asarray(image.dataobj)
    finally:
        _close_minc2(image)
    return data.astype(np.float32) if "Minc" in type(image).__name__ else data


def _close_minc2(image: object) -> None:
    """nibabel keeps a MINC2 file's HDF5 handle open; HDF5 then serves the same (stale) file for that name."""
    handle = getattr(getattr(getattr(image, "dataobj", None), "minc_file", None), "_mincfile", None)
    if handle is not None and hasattr(handle, "close"):
        handle.close()


def _dicom(path: Path) -> np.ndarray:
    """float32 real values: stored pixels × RescaleSlope + RescaleIntercept (1 and 0 when absent);
    (rows, columns), or (frames, rows, columns)."""
    import numpy as np
    import pydicom

    dataset = pydicom.dcmread(path)
    pixels = dataset.pixel_array.astype(np.float32)
    slope = float(getattr(dataset, "RescaleSlope", 1) or 1)
    intercept = float(getattr(dataset, "RescaleIntercept", 0) or 0)
    return pixels * np.float32(slope) + np.float32(intercept)


def _picture(path: Path) -> np.ndarray:
    """uint8 (height, width) for greyscale, (height, width, channels) for colour, as Pillow decodes it."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.array(image)


_READERS: dict[str, Callable[[Path], np.ndarray]] = {
    "nifti": _volume,
    "minc": _volume,
    "dicom": _dicom,
    "png": _picture,
    "jpeg": _picture,
}
