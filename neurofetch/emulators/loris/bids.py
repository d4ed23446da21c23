"""openpreventad's BIDS export (reference/loris.md §3.6), made from the emulator's candidates and visits.

``GET /projects/loris/bids`` lists the top-level files, one scans TSV/JSON pair per session and, per
image, a NIfTI and its JSON sidecar (with bval/bvec for ``dwi``, the task events for ``_task-`` runs),
all as links relative to the API base. The legacy ``APIBase`` computes the ETag before the body, so it
is the constant md5("Bids:null"). Names follow the real crawl (conpdatasets/preventad-open-bids):
``sub-<CandID>/ses-<Visit>/<Subfolder>/sub-<CandID>_ses-<Visit>[_task-<t>]_run-<NNN>_<suffix>``, and
the NIfTI files are small valid volumes, so the mirrored tree passes a BIDS validator.

``ImageFormats`` is stock LORIS main's other way to the same volumes (v0.0.4-dev): per image,
``…/images/{F}/format/nifti|bval|bvec|bidsjson`` (reference/loris.md §3 row 17), from the NIfTI conversion
the imaging pipeline stores beside the MINC file; an image without one answers 404 (``NIfTI::_handleGET``).
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass
from functools import cached_property

from neurofetch.emulators.formats import nifti1_gz
from neurofetch.emulators.loris.data import PROJECT, Candidate, ImageFile, LorisDataset, VisitRecord

BIDS_ETAG = "8241a4b1e6d135003117a3b095b974a5"  # md5("Bids:null"): the ETag before the body exists
BIDS_BASE = f"/projects/{PROJECT}/bids"
REPETITION_TIME = 2.0  # seconds: the sidecars' RepetitionTime and the NIfTI files' pixdim[4]
VOLUMES = 3  # of every 4-D series (bold, dwi, asl)
SLICES = 6  # of every volume

TOP_LEVEL = (
    "dataset_description.json",
    "README",
    ".bids-validator-config.json",
    "participants.tsv",
    "participants.json",
)
# LORIS scan type (without "-defaced") → (Subfolder, BIDS suffix, task), as the real export names them.
SCAN_TYPES = {
    "t1w": ("anat", "T1w", None),
    "t2w": ("anat", "T2w", None),
    "FLAIR": ("anat", "FLAIR", None),
    "T2star": ("anat", "T2star", None),
    "bold": ("func", "bold", "rest"),
    "task-encoding-bold": ("func", "bold", "encoding"),
    "task-retrieval-bold": ("func", "bold", "retrieval"),
    "dwi65": ("dwi", "dwi", None),
    "asl": ("asl", "asl", None),
    "fieldmap-magnitude": ("fmap", "magnitude", None),
    "fieldmap-phasediff": ("fmap", "phasediff", None),
}
_RUN = re.compile(r"_([0-9]{3})(?:_|\.)")

DATASET_DESCRIPTION = {
    "BIDSVersion": "1.1.1",
    "LORISScriptVersion": "0.1",
    "LORISReleaseVersion": "20.1.0",
    "Name": "PREVENT-AD_open_release_bids (emulated)",
    "Authors": ["StoP-AD Center - Douglas Mental Health University Institute"],
    "HowToAcknowledge": "State the source of the data (the PREVENT-AD program) in the methods section.",
}
README_TEXT = (
    b"PREVENT-AD open data, BIDS export (emulated by neurofetch).\n\n"
    b"Synthetic volumes with the names and layout of openpreventad.loris.ca's BIDS export.\n"
)
# The export predates BIDS ASL (perf/) and keeps LORIS's .txt name for task events: it tells validators to skip both.
VALIDATOR_CONFIG = {"ignoredFiles": ["/sub-*/ses-*/asl/*", "/sub-*/ses-*/func/*_events.txt"]}
PARTICIPANTS_JSON = {"sex": {"Description": "sex of the participant", "Levels": {"Male": "Male", "Female": "Female"}}}
SCANS_JSON = {
    "filename": {"Description": "path of the scan, relative to the session folder"},
    "acq_time": {"Description": "date of the visit the scan belongs to"},
}


@dataclass(frozen=True)
class BidsImage:
    """One image of the export: the MINC file it comes from and its BIDS name."""

    record: ImageFile
    scan_type: str
    subfolder: str
    stem: str  # the file name without extension
    events: ImageFile | None = None

    @property
    def link_base(self) -> str:
        return f"/candidates/{self.record.cand}/{self.record.visit}/images/{self.record.filename}/bids"

    def names(self) -> list[str]:
        extra = {"dwi": [".bval", ".bvec"]}.get(self.subfolder, [])
        return [f"{self.stem}{ext}" for ext in (".nii.gz", ".json", *extra)] + (
            [f"{self.stem}_events.txt"] if self.events is not None else []
        )


class BidsExport:
    """The export of one dataset: the listing body, and the bytes behind each of its links."""

    def __init__(self, dataset: LorisDataset) -> None:
        self.dataset = dataset
        self.images = [
            image for cand in dataset.candidates for visit in cand.visits for image in _visit_images(cand, visit)
        ]
        self._by_link = {
            (i.record.cand, i.record.visit, i.record.filename, name): (i, name)
            for i in self.images
            for name in i.names()
        }
        self.sessions = sorted({(i.record.cand, i.record.visit) for i in self.images})
        self._pscids = {c.cand_id: c.pscid for c in dataset.candidates}

    def listing(self) -> dict[str, object]:
        """The body of ``GET /projects/loris/bids``."""
        session_files = [
            {
                "Candidate": cand,
                "PSCID": self._pscids[cand],
                "Visit": visit,
                "TsvLink": f"/candidates/{cand}/{visit}/bidsfiles/{_session_stem(cand, visit)}.tsv",
                "JsonLink": f"/candidates/{cand}/{visit}/bidsfiles/{_session_stem(cand, visit)}.json",
            }
            for cand, visit in self.sessions
        ]
        images = []
        for image in self.images:
            base = f"{image.link_base}/{image.stem}"
            links = {"NiftiLink": f"{base}.nii.gz", "JsonLink": f"{base}.json"}
            if image.subfolder == "dwi":
                links |= {"BvalLink": f"{base}.bval", "BvecLink": f"{base}.bvec"}
            if image.events is not None:
                links["EventLink"] = f"{base}_events.txt"
            images.append(
                {
                    "Candidate": image.record.cand,
                    "PSCID": self._pscids[image.record.cand],
                    "Visit": image.record.visit,
                    "LorisScanType": image.scan_type,
                    "Subfolder": image.subfolder,
                    **links,
                }
            )
        return {
            "DatasetDescription": {"Link": f"{BIDS_BASE}/dataset_description.json"},
            "README": {"Link": f"{BIDS_BASE}/README"},
            "BidsValidatorConfig": {"Link": f"{BIDS_BASE}/.bids-validator-config.json"},
            "Participants": {"TsvLink": f"{BIDS_BASE}/participants.tsv", "JsonLink": f"{BIDS_BASE}/participants.json"},
            "SessionFiles": session_files,
            "Images": images,
        }

    def top_level(self, name: str) -> bytes | None:
        if name not in TOP_LEVEL:
            return None
        return self._top_level[name]

    @cached_property
    def _top_level(self) -> dict[str, bytes]:
        subjects = sorted({cand for cand, _visit in self.sessions})
        sexes = {c.cand_id: c.sex for c in self.dataset.candidates}
        participants = "participant_id\tsex\n" + "".join(f"sub-{c}\t{sexes[c]}\n" for c in subjects)
        return {
            "dataset_description.json": _pretty(DATASET_DESCRIPTION),
            "README": README_TEXT,
            ".bids-validator-config.json": _pretty(VALIDATOR_CONFIG),
            "participants.tsv": participants.encode("ascii"),
            "participants.json": _pretty(PARTICIPANTS_JSON),
        }

    def session_file(self, cand: str, visit: str, name: str) -> bytes | None:
        stem = _session_stem(cand, visit)
        if (cand, visit) not in self.sessions or name not in (f"{stem}.tsv", f"{stem}.json"):
            return None
        if name.endswith(".json"):
            return _pretty(SCANS_JSON)
        record = self.dataset.candidate(cand)
        session = record.visit(visit) if record else None
        when = f"{session.date}T09:00:00" if session and session.date else "n/a"
        rows = [
            f"{i.subfolder}/{i.stem}.nii.gz\t{when}\n"
            for i in self.images
            if (i.record.cand, i.record.visit) == (cand, visit)
        ]
        return ("filename\tacq_time\n" + "".join(rows)).encode("ascii")

    def image_file(self, cand: str, visit: str, filename: str, name: str) -> bytes | None:
        """The bytes behind one image link, or None when the export has no such link."""
        found = self._by_link.get((cand, visit, filename, name))
        if found is None:
            return None
        image, name = found
        if name.endswith(".nii.gz"):
            return _volume(image)
        if name.endswith(".json"):
            return _pretty(_sidecar(image))
        if name.endswith((".bval", ".bvec")):
            return DWI_GRADIENTS[name.rsplit(".", 1)[1]]
        assert image.events is not None
        return self.dataset.content(*image.events.key)


FORMAT_TYPES = {  # format/<name> → Content-Type, as LORIS main's format endpoints send them
    "nifti": "application/octet-stream",
    "bval": "application/text",
    "bvec": "application/text",
    "bidsjson": "application/json",
}


class ImageFormats:
    """The NIfTI conversion of each image that has one (every scan of SCAN_TYPES; not task events):
    ``without_nifti`` names images whose conversion is missing, as after a pipeline run without it."""

    def __init__(self, dataset: LorisDataset) -> None:
        self._images = {
            image.record.key: image
            for cand in dataset.candidates
            for visit in cand.visits
            for image in _visit_images(cand, visit)
        }
        self.without_nifti: set[str] = set()  # file names

    def body(self, record: ImageFile, name: str) -> bytes | None:
        """The bytes of ``format/<name>`` (a name of FORMAT_TYPES), or None where LORIS answers 404."""
        image = self._images.get(record.key)
        if image is None or record.filename in self.without_nifti:
            return None
        if name == "nifti":
            return _volume(image)
        if name == "bidsjson":
            return _pretty(_sidecar(image))
        if image.subfolder != "dwi":
            return None
        return DWI_GRADIENTS[name]


DWI_GRADIENTS = {"bval": b"0 1000 1000\n", "bvec": b"0 1 0\n0 0 1\n0 0 0\n"}


def _session_stem(cand: str, visit: str) -> str:
    return f"sub-{cand}_ses-{visit}_scans"


def _visit_images(cand: Candidate, visit: VisitRecord) -> list[BidsImage]:
    """The visit's MINC files as BIDS images; two fieldmap magnitudes make one run (magnitude1, magnitude2)."""
    events = {f.acquisition_type.removesuffix("-events"): f for f in visit.files if f.is_text}
    images: list[BidsImage] = []
    magnitudes = 0
    for record in visit.files:
        scan_type = record.acquisition_type.removesuffix("-defaced")
        if record.is_text or scan_type not in SCAN_TYPES:
            continue
        subfolder, suffix, task = SCAN_TYPES[scan_type]
        match = _RUN.search(record.filename)
        run = int(match.group(1)) if match else 1
        if suffix == "magnitude":
            magnitudes += 1
            run, suffix = (magnitudes + 1) // 2, f"magnitude{2 - magnitudes % 2}"
        entities = f"_task-{task}" if task else ""
        stem = f"sub-{cand.cand_id}_ses-{visit.label}{entities}_run-{run:03d}_{suffix}"
        paired = events.get(scan_type.removesuffix("-bold")) if task and task != "rest" else None
        images.append(BidsImage(record, scan_type, subfolder, stem, paired))
    return images


def _sidecar(image: BidsImage) -> dict[str, object]:
    sidecar: dict[str, object] = {
        "Manufacturer": "Siemens",
        "ManufacturersModelName": "TrioTim",
        "MagneticFieldStrength": 3,
        "RepetitionTime": REPETITION_TIME,
        "LORISScanType": image.scan_type,
    }
    if image.subfolder == "func":
        sidecar["TaskName"] = image.stem.split("_task-")[1].split("_")[0]
    if image.stem.endswith("_phasediff"):
        sidecar |= {"EchoTime1": 0.00492, "EchoTime2": 0.00738}
    if image.subfolder == "asl":
        sidecar |= {
            "ArterialSpinLabelingType": "PCASL",
            "PostLabelingDelay": 1.8,
            "LabelingDuration": 1.8,
            "BackgroundSuppression": False,
            "M0Type": "Absent",
            "RepetitionTimePreparation": REPETITION_TIME,
            "MRAcquisitionType": "2D",
            "PulseSequenceType": "EPI",
            "EchoTime": 0.012,  # a dcm2niix sidecar has both; BIDS validators require them of 2-D ASL
            "SliceTiming": [round(i * REPETITION_TIME / SLICES, 4) for i in range(SLICES)],
        }
    return sidecar


def _volume(image: BidsImage) -> bytes:
    """A small valid NIfTI-1: 4-D for series (bold, dwi, asl), 3-D otherwise; voxels from the file's name."""
    shape = (8, 8, SLICES, VOLUMES) if image.subfolder in ("func", "dwi", "asl") else (8, 8, SLICES)
    noise = random.Random(image.stem)  # validators refuse a .nii.gz smaller than a NIfTI header: no flat volumes
    values = [noise.randrange(4096) for _ in range(math.prod(shape))]
    return nifti1_gz(
        shape,
        "int16",
        values,
        voxel_mm=2.0,
        description=image.scan_type.encode("ascii", "replace")[:80],
        seconds_per_volume=REPETITION_TIME,
    )


def _pretty(value: object) -> bytes:
    return (json.dumps(value, indent=3) + "\n").encode("ascii")
