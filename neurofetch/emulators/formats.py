"""The sample imaging files every emulator serves: PNG through Pillow, DICOM through pydicom (both
dependencies of the package already), and the one NIfTI-1 writer (struct: nibabel is only a test
dependency). Output is deterministic: the same arguments give the same bytes."""

from __future__ import annotations

import gzip
import io
import struct
from collections.abc import Sequence

NIFTI1_HEADER = struct.Struct("<i10s18sihsb8h3f4h8f3fhbb4f2i80s24s2h6f4f4f4f16s4s")  # 348 bytes
NIFTI1_DTYPES = {"float32": (16, 32, "f"), "int16": (4, 16, "h"), "uint8": (2, 8, "B")}   # code, bitpix, struct
NIFTI_SPACE_SCANNER, NIFTI_SPACE_MNI = 1, 4   # qform/sform codes
_MM_AND_SECONDS = 2 | 8


def nifti1_gz(shape: Sequence[int], dtype: str, values: Sequence[float] | bytes, *, voxel_mm: float = 1.0,
              origin: tuple[float, float, float] = (0.0, 0.0, 0.0), intent: int = 0,
              space: int = NIFTI_SPACE_SCANNER, description: bytes = b"", compresslevel: int = 6) -> bytes:
    """A single-file NIfTI-1 volume (``.nii.gz``): ``values`` in NIfTI order (x fastest), an axis-aligned
    affine of ``voxel_mm`` voxels placed at ``origin``, gzip-compressed reproducibly (mtime 0)."""
    code, bitpix, fmt = NIFTI1_DTYPES[dtype]
    dims = (len(shape), *shape, *([1] * (7 - len(shape))))
    v = voxel_mm
    header = NIFTI1_HEADER.pack(
        348, b"", b"", 0, 0, b"r", 0, *dims, 0.0, 0.0, 0.0, intent, code, bitpix, 0,
        1.0, v, v, v, 2.0, 1.0, 1.0, 1.0, 352.0, 0.0, 0.0, 0, 0, _MM_AND_SECONDS, 0.0, 0.0, 0.0, 0.0, 0, 0,
        description, b"", space, space, 0.0, 0.0, 0.0, *origin,
        v, 0.0, 0.0, origin[0], 0.0, v, 0.0, origin[1], 0.0, 0.0, v, origin[2], b"", b"n+1\0",
    )
    data = struct.pack(f"<{len(values)}{fmt}", *values)
    return gzip.compress(header + b"\0\0\0\0" + data, compresslevel=compresslevel, mtime=0)


def png_greyscale(width: int, height: int, pixels: bytes) -> bytes:
    """An 8-bit greyscale PNG of ``pixels`` (row by row)."""
    from PIL import Image

    out = io.BytesIO()
    Image.frombytes("L", (width, height), pixels).save(out, "PNG")
    return out.getvalue()


def dicom_secondary_capture(rows: int, cols: int, pixels: bytes, *, sop_instance_uid: str, study_uid: str,
                            series_uid: str, patient_name: str, patient_id: str, modality: str) -> bytes:
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
RGB = tuple[int, int, int] | str   # a colour: (r, g, b) or "#rrggbb"


def jpeg_ellipses(size: tuple[int, int], background: RGB, ellipses: Sequence[tuple[Box, RGB, RGB | None]],
                  grain: bytes, quality: int) -> bytes:
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
