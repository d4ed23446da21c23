"""The sample imaging files every emulator serves: NIfTI-1 through nibabel, MINC2 through h5py, PNG through
Pillow, DICOM through pydicom. Output is deterministic: the same arguments give the same bytes. The libraries
are imported where a file is made, so importing this module costs nothing."""

from __future__ import annotations

import gzip
import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

NIFTI_SPACE_SCANNER, NIFTI_SPACE_MNI = 1, 4  # qform/sform codes
MINC2_VALID_RANGE = (0, 4095)  # 12-bit scanner intensities, as PREVENT-AD's int16 volumes hold


def nifti1_gz(
    shape: Sequence[int],
    dtype: str,
    values: Sequence[float] | bytes | np.ndarray,
    *,
    voxel_mm: float = 1.0,
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0),
    intent: int = 0,
    space: int = NIFTI_SPACE_SCANNER,
    description: bytes = b"",
    seconds_per_volume: float = 1.0,
    compresslevel: int = 6,
) -> bytes:
    """A single-file NIfTI-1 volume (``.nii.gz``): ``values`` in NIfTI order (x fastest), an axis-aligned
    affine of ``voxel_mm`` voxels placed at ``origin``, ``seconds_per_volume`` apart along a 4th axis (pixdim[4],
    which BIDS validators compare with a sidecar's RepetitionTime), gzip-compressed reproducibly (mtime 0)."""
    import nibabel
    import numpy as np

    array = np.frombuffer(values, dtype=dtype) if isinstance(values, bytes) else np.asarray(values, dtype=dtype)
    data = array if array.shape == tuple(shape) else array.reshape(tuple(shape), order="F")
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = origin
    image = nibabel.Nifti1Image(data, affine, dtype=np.dtype(dtype))
    header = image.header
    header.set_xyzt_units("mm", "sec")
    header.set_qform(affine, code=space)
    header.set_sform(affine, code=space)
    header["intent_code"] = intent
    header["descrip"] = description
    header["pixdim"][4:] = 1.0
    header["pixdim"][4] = seconds_per_volume
    return gzip.compress(image.to_bytes(), compresslevel=compresslevel, mtime=0)


@dataclass(frozen=True)
class Minc2Template:
    """A MINC2 volume whose voxels are swapped per file: ``data`` is a valid file, its int16 voxels at
    ``offset`` (z, y, x order, little endian); ``phantom`` is a head-like volume to vary them around."""

    data: bytes
    offset: int
    shape: tuple[int, int, int]  # z, y, x
    phantom: np.ndarray

    def with_voxels(self, voxels: np.ndarray) -> bytes:
        """The same file holding ``voxels`` (clipped to the valid range)."""
        import numpy as np

        low, high = MINC2_VALID_RANGE
        raw = np.clip(voxels, low, high).astype("<i2").tobytes()
        return self.data[: self.offset] + raw + self.data[self.offset + len(raw) :]


@lru_cache(maxsize=8)
def minc2_template(shape: tuple[int, int, int], step_mm: float = 1.0) -> Minc2Template:
    """A MINC2 (HDF5) volume of ``shape`` (z, y, x) int16 voxels, with a header like the ones
    mincconvert writes for PREVENT-AD: /minc-2.0/{dimensions,image/0,info}, ``dimorder``, per-slice
    image-min/image-max, x/y/z dimension variables with step, start and direction cosines."""
    import h5py  # type: ignore[import-untyped,unused-ignore]
    import numpy as np

    phantom = _head_phantom(shape)
    out = io.BytesIO()
    with h5py.File(out, "w", libver="latest") as minc:
        root = minc.create_group("minc-2.0")
        for name, value in (
            ("ident", "neurofetch-emulator:0"),
            ("minc_version", "2.0"),
            ("history", "mincconvert -2 preventad.mnc\n"),
        ):
            root.attrs[name] = np.bytes_(value)
        dimensions = root.create_group("dimensions")
        for axis, length in zip(("zspace", "yspace", "xspace"), shape, strict=True):
            dim = dimensions.create_dataset(axis, data=np.int32(0), track_times=False)
            cosines = {"xspace": (1.0, 0.0, 0.0), "yspace": (0.0, 1.0, 0.0), "zspace": (0.0, 0.0, 1.0)}[axis]
            for key, attr in (
                ("varid", "dimension____"),
                ("vartype", "dimension____"),
                ("version", "MINC Version    1.0"),
                ("units", "mm"),
                ("spacing", "regular__"),
                ("alignment", "centre"),
            ):
                dim.attrs[key] = np.bytes_(attr)
            dim.attrs["length"] = np.int32(length)
            dim.attrs["step"] = np.float64(step_mm)
            dim.attrs["start"] = np.float64(-length * step_mm / 2)
            dim.attrs["direction_cosines"] = np.array(cosines, dtype=np.float64)
        info = root.create_group("info")
        info_fields: tuple[tuple[str, dict[str, str | float]], ...] = (
            ("patient", {"sex": "female__"}),
            ("acquisition", {"repetition_time": 2.3, "echo_time": 0.00298, "flip_angle": 9.0}),
            ("study", {"modality": "MRI__", "manufacturer": "SIEMENS"}),
        )
        for group, fields in info_fields:
            part = info.create_group(group)
            for key, setting in fields.items():
                part.attrs[key] = np.bytes_(setting) if isinstance(setting, str) else np.float64(setting)
        images = root.create_group("image").create_group("0")
        image = images.create_dataset("image", data=phantom.astype("<i2"), track_times=False)
        image.attrs["dimorder"] = np.bytes_("zspace,yspace,xspace")
        image.attrs["valid_range"] = np.array(MINC2_VALID_RANGE, dtype=np.float64)
        image.attrs["complete"] = np.bytes_("true_")
        for name, limit in (("image-min", 0.0), ("image-max", float(MINC2_VALID_RANGE[1]))):
            scale = images.create_dataset(name, data=np.full(shape[0], limit), track_times=False)
            scale.attrs["dimorder"] = np.bytes_("zspace")
        offset = image.id.get_offset()
    if offset is None:
        raise RuntimeError("h5py placed the MINC2 image data out of line")
    return Minc2Template(out.getvalue(), int(offset), shape, phantom)


def _head_phantom(shape: tuple[int, int, int]) -> np.ndarray:
    """A bright ellipsoid shell (scalp) around a darker one (brain) with ventricles: int32 intensities."""
    import numpy as np

    z, y, x = np.meshgrid(*(np.linspace(-1.0, 1.0, n) for n in shape), indexing="ij")
    radius = np.sqrt((x / 0.85) ** 2 + (y / 0.95) ** 2 + (z / 0.8) ** 2)
    ventricles = np.sqrt((x / 0.18) ** 2 + (y / 0.35) ** 2 + (z / 0.25) ** 2) < 1.0
    volume = np.where(radius < 1.0, 900, 0) + np.where(radius < 0.88, 500, 0) - np.where(ventricles, 900, 0)
    return volume.astype(np.int32)


def png_greyscale(width: int, height: int, pixels: bytes) -> bytes:
    """An 8-bit greyscale PNG of ``pixels`` (row by row)."""
    from PIL import Image

    out = io.BytesIO()
    Image.frombytes("L", (width, height), pixels).save(out, "PNG")
    return out.getvalue()


def dicom_secondary_capture(
    rows: int,
    cols: int,
    pixels: bytes,
    *,
    sop_instance_uid: str,
    study_uid: str,
    series_uid: str,
    patient_name: str,
    patient_id: str,
    modality: str,
) -> bytes:
    """A Secondary Capture DICOM file (explicit VR little endian, 8-bit MONOCHROME2) with a zeroed
    preamble: the official Datamint client sniffs bytes, and a TIFF-looking preamble makes it crash
    (reference/datamint.md §2.4)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, SecondaryCaptureImageStorage

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = sop_instance_uid
    ds.Modality = modality
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = pixels
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


Box = tuple[float, float, float, float]
RGB = tuple[int, int, int] | str  # a colour: (r, g, b) or "#rrggbb"


def jpeg_ellipses(
    size: tuple[int, int], background: RGB, ellipses: Sequence[tuple[Box, RGB, RGB | None]], grain: bytes, quality: int
) -> bytes:
    """A JPEG of ``size``: filled ellipses (box, fill, outline) drawn in order on ``background``, darkened by
    ``grain`` (greyscale bytes at half resolution, each value // 64, scaled up bilinearly)."""
    from PIL import Image, ImageChops, ImageDraw

    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    for box, fill, outline in ellipses:
        draw.ellipse(box, fill=fill, outline=outline)
    small = (max(1, size[0] // 2), max(1, size[1] // 2))
    noise = Image.frombytes("L", small, grain).point(lambda v: v // 64)
    noise = noise.resize(size, Image.Resampling.BILINEAR)
    image = ImageChops.subtract(image, Image.merge("RGB", (noise, noise, noise)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()
