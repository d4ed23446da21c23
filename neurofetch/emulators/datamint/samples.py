"""A small, deterministic sample dataset for the Datamint emulator: real PNG, NIfTI-1 (.nii.gz)
and DICOM files (written by emulators/formats.py)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from neurofetch.emulators import formats

SAMPLE_CHANNELS = ("ultrasound-2024", "mri-batch-1", "ct-followup")
HOSTILE_NAMES = (
    "../../escape.png",
    "/etc/cron.d/evil.png",
    "..\\..\\win.png",
    "con.png",
    "bell\x07name.png",
    "x" * 300 + ".png",
    "a/b/c.png",
)


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
    pixels = bytes(
        (x * 255 // max(1, width - 1) + rng.randrange(16)) & 0xFF for _y in range(height) for x in range(width)
    )
    return formats.png_greyscale(width, height, pixels)


def mask_png(width: int, height: int) -> bytes:
    """A binary frame mask for a ``width`` × ``height`` image: 255 in the centre half, 0 around it."""
    x0, x1, y0, y1 = width // 4, width - width // 4, height // 4, height - height // 4
    pixels = bytes(255 if x0 <= x < x1 and y0 <= y < y1 else 0 for y in range(height) for x in range(width))
    return formats.png_greyscale(width, height, pixels)


def dicom_bytes(
    rows: int, cols: int, rng: random.Random, *, patient: str = "Demo^Subject", modality: str = "OT"
) -> bytes:
    """A minimal Secondary Capture DICOM (explicit VR little endian, 8-bit MONOCHROME2)."""

    def uid() -> str:
        return f"2.25.{rng.getrandbits(96)}"

    sop_instance = uid()
    patient_id = f"NF{rng.randrange(10**6)}"
    study, series = uid(), uid()
    pixels = bytes(rng.randrange(256) for _ in range(rows * cols))
    return formats.dicom_secondary_capture(
        rows,
        cols,
        pixels,
        sop_instance_uid=sop_instance,
        study_uid=study,
        series_uid=series,
        patient_name=patient,
        patient_id=patient_id,
        modality=modality,
    )


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
            files.append(
                SampleFile(
                    f"normal ({index + 1}).png",
                    png_bytes(size, size, rng),
                    "image/png",
                    channel,
                    ["ultrasound", f"split:{'train' if index % 2 else 'test'}"],
                    "US",
                )
            )
        elif kind == 1:
            files.append(
                SampleFile(
                    f"sub-{index + 1:02d}_T1w.dcm",
                    dicom_bytes(16, 16, rng, modality="MR"),
                    "application/dicom",
                    channel,
                    ["mri"],
                    "MR",
                )
            )
        else:
            voxels = bytes(rng.randrange(256) for _ in range(8 * 8 * 4))
            files.append(
                SampleFile(
                    f"sub-{index + 1:02d}_ct.nii.gz",
                    formats.nifti1_gz((8, 8, 4), "uint8", voxels),
                    "application/nifti",
                    channel,
                    ["ct", "followup"],
                    "CT",
                )
            )
        files[-1].published = index % 3 == 0
        files[-1].created_at = created
    if hostile:
        for offset, name in enumerate(HOSTILE_NAMES):
            files.append(
                SampleFile(
                    name,
                    png_bytes(8, 8, rng),
                    "image/png",
                    "hostile",
                    ["hostile"],
                    "OT",
                    created_at=start + timedelta(days=count * 11 + offset),
                )
            )
    return files
