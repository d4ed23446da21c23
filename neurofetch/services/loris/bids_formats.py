"""BIDS names for a LORIS session's images, for `mirror --bids` on a server without a BIDS export: which LORIS
scan types are BIDS data, under which datatype folder and suffix, and each image's run.

neurofetch owns this table: a server with only ``format/nifti`` says nothing about BIDS names (the LORIS emulator
keeps its own table of what openpreventad's export calls them, so a mistake here shows in the tests instead of
being shared by both sides). Scan types are matched without case and without LORIS's ``-defaced`` ending.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# LORIS scan type (lower case, without "-defaced") → (datatype folder, BIDS suffix, task)
SCAN_TYPES: dict[str, tuple[str, str, str | None]] = {
    "t1w": ("anat", "T1w", None),
    "t2w": ("anat", "T2w", None),
    "flair": ("anat", "FLAIR", None),
    "t2star": ("anat", "T2star", None),
    "pdw": ("anat", "PDw", None),
    "bold": ("func", "bold", "rest"),
    "fieldmap-magnitude": ("fmap", "magnitude", None),
    "fieldmap-phasediff": ("fmap", "phasediff", None),
    "asl": ("perf", "asl", None),
}
TASK_BOLD = re.compile(r"task-([a-z0-9]+)-bold")  # task-encoding-bold → func/…_task-encoding_bold
DWI = re.compile(r"dwi[0-9]*")  # dwi, dwi65 (65 directions) → dwi/…_dwi
DEFACED = "-defaced"


@dataclass(frozen=True)
class BidsImage:
    """One image of a session as a BIDS file: the LORIS file it comes from and its BIDS name."""

    filename: str  # the image's name on the server (its MINC file)
    datatype: str
    suffix: str
    task: str | None = None
    run: int | None = None  # only where the session has several of its kind

    def stem(self, cand: str, visit: str) -> str:
        task = f"_task-{self.task}" if self.task else ""
        run = f"_run-{self.run}" if self.run is not None else ""
        return f"sub-{cand}_ses-{visit}{task}{run}_{self.suffix}"

    @property
    def gradients(self) -> bool:
        """Whether the image comes with .bval/.bvec files."""
        return self.datatype == "dwi"


def bids_label(value: str) -> str:
    """A BIDS entity label: letters and digits only. LORIS visit labels often hold ``_`` or ``-`` (``Visit_1``),
    which BIDS reserves as separators, so ``ses-Visit1``."""
    return "".join(c for c in value if c.isascii() and c.isalnum())


def bids_kind(acquisition_type: str) -> tuple[str, str, str | None] | None:
    """(datatype, suffix, task) of a LORIS scan type, or None when it is not BIDS imaging data."""
    scan_type = acquisition_type.lower().removesuffix(DEFACED)
    if scan_type in SCAN_TYPES:
        return SCAN_TYPES[scan_type]
    if task := TASK_BOLD.fullmatch(scan_type):
        return ("func", "bold", task.group(1))
    if DWI.fullmatch(scan_type):
        return ("dwi", "dwi", None)
    return None


@dataclass(frozen=True)
class ListedImage:
    """What a visit's image list says of one file."""

    filename: str
    acquisition_type: str
    output_type: str

    @property
    def defaced(self) -> bool:
        return self.output_type == "defaced" or self.acquisition_type.lower().endswith(DEFACED)


def session_images(listed: Iterable[ListedImage]) -> list[BidsImage]:
    """The BIDS images of one session: one per acquisition, the defaced output where a kind has one (as
    openpreventad's export), runs numbered 1, 2, … in file name order where a kind occurs more than once."""
    kinds: dict[tuple[str, str, str | None], list[ListedImage]] = {}
    for image in listed:
        kind = bids_kind(image.acquisition_type)
        if kind is not None:
            kinds.setdefault(kind, []).append(image)
    found: list[BidsImage] = []
    for (datatype, suffix, task), images in kinds.items():
        if any(image.defaced for image in images):
            images = [image for image in images if image.defaced]
        ordered = sorted(images, key=lambda image: image.filename)
        if suffix == "magnitude":  # two magnitude images (two echoes) per fieldmap: magnitude1, magnitude2
            several = len(ordered) > 2
            found += [
                BidsImage(image.filename, datatype, f"magnitude{i % 2 + 1}", task, i // 2 + 1 if several else None)
                for i, image in enumerate(ordered)
            ]
            continue
        several = len(ordered) > 1
        found += [
            BidsImage(image.filename, datatype, suffix, task, i + 1 if several else None)
            for i, image in enumerate(ordered)
        ]
    return found
