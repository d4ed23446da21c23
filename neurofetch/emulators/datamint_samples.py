"""A small, deterministic sample dataset for the Datamint emulator: real PNG, NIfTI-1 (.nii.gz)
and DICOM bytes written by hand, so the emulator needs no imaging library.

DICOMs get a zeroed preamble: the official client sniffs bytes, and a TIFF-looking preamble
makes it crash (reference/datamint.md §2.4)."""

from __future__ import annotations

import gzip
import random
import struct
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

SAMPLE_CHANNELS = ("ultrasound-2024", "mri-batch-1", "ct-followup")
HOSTILE_NAMES = ("../../escape.png", "/etc/cron.d/evil.png", "..\\..\\win.png", "con.png",
                 "bell\x07name.png", "x" * 300 + ".png", "a/b/c.png")


@dataclass
class SampleFile:
    filename: str
    data: bytes
    mimetype: str
    channel: str
    tags: list[str] = field(default_factory=list)
    modality: str | None = None
    published: bool = False
    created_at: datetime = field(default_factory=lambda: datetime(2024, 1, 1, tzinfo=timezone.utc))


def png_bytes(width: int, height: int, rng: random.Random) -> bytes:
    """An 8-bit greyscale PNG: a gradient with seeded noise."""
    rows = b"".join(b"\x00" + bytes((x * 255 // max(1, width - 1) + rng.randrange(16)) & 0xFF for x in range(width))
                    for _y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def nifti_gz_bytes(shape: tuple[int, int, int], rng: random.Random) -> bytes:
    """A gzipped single-file NIfTI-1 volume of uint8 voxels, 1 mm isotropic."""
    header = bytearray(348)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, 3, *shape, 1, 1, 1, 1)
    struct.pack_into("<hh", header, 70, 2, 8)                 # datatype uint8, bitpix
    struct.pack_into("<8f", header, 76, 1, 1, 1, 1, 0, 0, 0, 0)
    struct.pack_into("<ff", header, 108, 352.0, 1.0)           # vox_offset, scl_slope
    struct.pack_into("<hh", header, 252, 0, 1)                 # qform_code, sform_code
    for row, values in enumerate(((1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0))):
        struct.pack_into("<4f", header, 280 + 16 * row, *values)
    header[344:348] = b"n+1\x00"
    voxels = bytes(rng.randrange(256) for _ in range(shape[0] * shape[1] * shape[2]))
    return gzip.compress(bytes(header) + b"\x00" * 4 + voxels, mtime=0)


def _element(group: int, elem: int, vr: str, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\x00" if vr in ("UI", "OB") else b" "
    tag = struct.pack("<HH", group, elem) + vr.encode()
    if vr in ("OB", "OW", "SQ", "UN", "UT"):
        return tag + b"\x00\x00" + struct.pack("<I", len(value)) + value
    return tag + struct.pack("<H", len(value)) + value


def _u16(value: int) -> bytes:
    return struct.pack("<H", value)


def dicom_bytes(rows: int, cols: int, rng: random.Random, *, patient: str = "Demo^Subject",
                modality: str = "OT") -> bytes:
    """A minimal Secondary Capture DICOM (explicit VR little endian, 8-bit MONOCHROME2)."""
    def uid() -> bytes:
        return f"2.25.{rng.getrandbits(96)}".encode()

    sop_class, sop_instance = b"1.2.840.10008.5.1.4.1.1.7", uid()
    explicit_le = b"1.2.840.10008.1.2.1"
    meta_body = (_element(0x0002, 0x0001, "OB", b"\x00\x01") + _element(0x0002, 0x0002, "UI", sop_class)
                 + _element(0x0002, 0x0003, "UI", sop_instance) + _element(0x0002, 0x0010, "UI", explicit_le))
    meta = _element(0x0002, 0x0000, "UL", struct.pack("<I", len(meta_body))) + meta_body
    dataset = b"".join((
        _element(0x0008, 0x0016, "UI", sop_class), _element(0x0008, 0x0018, "UI", sop_instance),
        _element(0x0008, 0x0060, "CS", modality.encode()), _element(0x0010, 0x0010, "PN", patient.encode()),
        _element(0x0010, 0x0020, "LO", b"NF" + str(rng.randrange(10**6)).encode()),
        _element(0x0020, 0x000D, "UI", uid()), _element(0x0020, 0x000E, "UI", uid()),
        _element(0x0028, 0x0002, "US", _u16(1)), _element(0x0028, 0x0004, "CS", b"MONOCHROME2"),
        _element(0x0028, 0x0010, "US", _u16(rows)), _element(0x0028, 0x0011, "US", _u16(cols)),
        _element(0x0028, 0x0100, "US", _u16(8)), _element(0x0028, 0x0101, "US", _u16(8)),
        _element(0x0028, 0x0102, "US", _u16(7)), _element(0x0028, 0x0103, "US", _u16(0)),
        _element(0x7FE0, 0x0010, "OB", bytes(rng.randrange(256) for _ in range(rows * cols))),
    ))
    return b"\x00" * 128 + b"DICM" + meta + dataset


def sample_files(count: int, *, seed: int = 0, hostile: bool = False) -> list[SampleFile]:
    """``count`` files cycling through PNG, DICOM and NIfTI, spread over 2024; every third is
    published. With ``hostile``, names that try to escape a destination are added."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 8, 9, 30, tzinfo=timezone.utc)
    files: list[SampleFile] = []
    for index in range(count):
        kind = index % 3
        created = start + timedelta(days=index * 11, minutes=rng.randrange(600))
        channel = SAMPLE_CHANNELS[kind]
        if kind == 0:
            size = rng.choice((16, 24, 32))
            files.append(SampleFile(f"normal ({index + 1}).png", png_bytes(size, size, rng), "image/png", channel,
                                    ["ultrasound", f"split:{'train' if index % 2 else 'test'}"], "US"))
        elif kind == 1:
            files.append(SampleFile(f"sub-{index + 1:02d}_T1w.dcm", dicom_bytes(16, 16, rng, modality="MR"),
                                    "application/dicom", channel, ["mri"], "MR"))
        else:
            files.append(SampleFile(f"sub-{index + 1:02d}_ct.nii.gz", nifti_gz_bytes((8, 8, 4), rng),
                                    "application/nifti", channel, ["ct", "followup"], "CT"))
        files[-1].published = index % 3 == 0
        files[-1].created_at = created
    if hostile:
        for offset, name in enumerate(HOSTILE_NAMES):
            files.append(SampleFile(name, png_bytes(8, 8, rng), "image/png", "hostile", ["hostile"], "OT",
                                    created_at=start + timedelta(days=count * 11 + offset)))
    return files
