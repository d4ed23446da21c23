"""Synthetic, deterministic PREVENT-AD-like dataset served by the LORIS emulator.

Names, visit labels and the shape of the size distribution follow reference/loris.md §4 and §7
(openpreventad); sizes are scaled down by ``size_scale``. File content is generated on the fly
from the file's name and one shared 1 MiB random buffer, so even a multi-GiB file costs no memory: a
``.mnc`` file is a small valid MINC2 volume (emulators/formats.py) followed by that buffer's bytes up
to the file's size, so it opens in nibabel and still has PREVENT-AD's size.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any

from neurofetch.emulators import formats

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MINC2_CONTENT_TYPE = "application/x.minc2"
OCTET_STREAM = "application/octet-stream"

PROJECT = "loris"
SITE_NAME = "Montreal"
SITE_ALIAS = "MTL"
BATTERY = "PREVENTAD"

# The 13 openpreventad visit labels, with months after the programme's baseline.
VISIT_MONTHS = {"BL00": 0, "EN00": 1, "FU03": 3, "FU12": 12, "FU24": 24, "FU36": 36, "FU48": 48}
PROGRAMMES = {
    "PRE": ["PREBL00", "PREEN00", "PREFU12", "PREFU24", "PREFU36", "PREFU48"],
    "NAP": ["NAPBL00", "NAPEN00", "NAPFU03", "NAPFU12", "NAPFU24", "NAPFU36", "NAPFU48"],
}
VISIT_LABELS = sorted(PROGRAMMES["PRE"] + PROGRAMMES["NAP"])

_BUFFER_SIZE = 1 << 20
MINC2_SHAPES = ((24, 32, 32), (12, 16, 16), (6, 8, 8))  # z, y, x: a file holds the largest that fits its size
_MB = 1_000_000
SERVER_TZ = timezone(-timedelta(hours=5))


@dataclass(frozen=True)
class ScanProtocol:
    """One scan type of a visit: §7 median/max sizes (MB), how often it occurs, how many runs."""

    scan_type: str
    median_mb: float
    max_mb: float
    probability: float = 1.0
    runs: tuple[int, int] = (1, 1)
    defaced: bool = False
    events: str | None = None  # scan type of the .txt task events file that goes with it


PROTOCOL = (
    ScanProtocol("fieldmap-magnitude", 0.40, 0.46, runs=(3, 6), defaced=True),
    ScanProtocol("fieldmap-phasediff", 0.43, 0.46, runs=(2, 3)),
    ScanProtocol("t1w", 13.6, 15.4, defaced=True),
    ScanProtocol("bold", 22.8, 25.0, probability=0.9, runs=(1, 2)),
    ScanProtocol("asl", 6.6, 7.2, probability=0.7),
    ScanProtocol("T2star", 16.9, 18.4, probability=0.6, defaced=True),
    ScanProtocol("FLAIR", 10.2, 12.3, probability=0.5, defaced=True),
    ScanProtocol("dwi65", 43.8, 48.0, probability=0.5),
    ScanProtocol("task-encoding-bold", 27.9, 30.4, probability=0.6, events="task-encoding-events"),
    ScanProtocol("task-retrieval-bold", 69.0, 75.2, probability=0.6, events="task-retrieval-events"),
    ScanProtocol("t2w", 34.7, 39.6, probability=0.05, defaced=True),
)
EVENTS_MB = (0.040, 0.094)

Caveat = dict[str, str | None]

VIOLATIONS: tuple[Caveat, ...] = (
    {"Severity": "warning", "Header": "repetition_time", "Value": "2.3", "ValidRange": "2.0-2.2", "ValidRegex": None},
    {"Severity": "warning", "Header": "echo_time", "Value": "0.031", "ValidRange": "0.028-0.030", "ValidRegex": None},
    {"Severity": "exclude", "Header": "slice_thickness", "Value": "4", "ValidRange": "1-3", "ValidRegex": None},
)
NO_CAVEAT: Caveat = {"Severity": None, "Header": None, "Value": None, "ValidRange": None, "ValidRegex": None}


@dataclass(frozen=True)
class ImageFile:
    """One file of a visit as the API lists it, with its QC record and synthetic size."""

    cand: str
    visit: str
    filename: str
    size: int
    output_type: str
    acquisition_type: str
    qc: str | None
    selected: str | None
    caveats: tuple[dict[str, str | None], ...]
    insert_time: str
    hostile: bool = False  # a name no client may use as a local path
    big: bool = False  # the ``big_file_size`` file

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.cand, self.visit, self.filename)

    @property
    def path(self) -> str:
        return f"{self.cand}/{self.visit}/{self.filename}"

    @property
    def is_text(self) -> bool:
        return self.filename.endswith(".txt")

    @property
    def content_type(self) -> str:
        return OCTET_STREAM if self.is_text else MINC2_CONTENT_TYPE


@dataclass(frozen=True)
class VisitRecord:
    label: str
    date: str | None  # date of the Visit stage; None makes the API answer "Stages": []
    status: str
    files: tuple[ImageFile, ...]


@dataclass(frozen=True)
class Candidate:
    cand_id: str
    pscid: str
    dob: str
    sex: str
    visits: tuple[VisitRecord, ...]
    edc: str | None = None
    project: str = PROJECT
    site: str = SITE_NAME
    site_alias: str = SITE_ALIAS

    def visit(self, label: str) -> VisitRecord | None:
        return next((v for v in self.visits if v.label == label), None)


@dataclass
class _Builder:
    """Mutable state while generating: the rng, identifiers in use and the InsertTime clock."""

    rng: random.Random
    size_scale: float
    clock: datetime = field(default_factory=lambda: datetime(2019, 2, 15, 4, 6, 35, tzinfo=SERVER_TZ))
    cand_ids: set[str] = field(default_factory=set)
    pscids: set[str] = field(default_factory=set)
    made: int = 0
    pscid_top: int = 400  # PSCIDs are drawn from 0..pscid_top: more than the candidates, or the draw never ends

    def insert_time(self) -> str:
        self.clock += timedelta(seconds=self.rng.randint(20, 400))
        return self.clock.isoformat()

    def cand_id(self) -> str:
        while (value := str(self.rng.randint(1_000_000, 9_999_999))) in self.cand_ids:
            pass
        self.cand_ids.add(value)
        return value

    def pscid(self) -> str:
        while (value := f"CONP{self.rng.randint(0, self.pscid_top):07d}") in self.pscids:
            pass
        self.pscids.add(value)
        return value

    def size(self, median_mb: float, max_mb: float, floor: int) -> int:
        return max(floor, int(self.rng.uniform(median_mb * 0.92, max_mb) * _MB * self.size_scale))

    def image(
        self, cand: str, visit: str, filename: str, size: int, output_type: str, acquisition_type: str, **extra: bool
    ) -> ImageFile:
        if filename.endswith(".mnc"):
            size = max(size, minc2_smallest_size())
        roll = self.rng.random()
        qc = "Pass" if roll < 0.72 else None if roll < 0.99 else "Fail"
        roll = self.rng.random()
        selected = "true" if roll < 0.15 else "false" if roll < 0.18 else None
        caveats: tuple[Caveat, ...] = (self.rng.choice(VIOLATIONS),) if self.rng.random() < 0.04 else (NO_CAVEAT,)
        # The first few files get fixed QC so that even a tiny dataset shows every shape.
        self.made += 1
        if self.made == 2:
            qc, selected = "Fail", "false"
        elif self.made == 3:
            qc, selected = None, None
        elif self.made == 4:
            qc, selected, caveats = "Pass", "true", VIOLATIONS[:2]
        return ImageFile(
            cand,
            visit,
            filename,
            size,
            output_type,
            acquisition_type,
            qc,
            selected,
            caveats,
            self.insert_time(),
            **extra,
        )


class LorisDataset:
    """PREVENT-AD-like candidates, visits and image files; everything follows from ``seed``.

    Guaranteed quirks: the first candidate's second visit has no dated stage (``"Stages": []``), and
    the second candidate (the first if there is only one) has a last visit without files (``"Files": []``).
    ``big_file_size > 0`` appends one file of exactly that many bytes to the first visit;
    ``hostile_names`` adds a last candidate whose names try to escape a download directory;
    ``colliding_names`` adds candidates whose names are those of a mirror's own files (``COLLIDING_*``).
    """

    def __init__(
        self,
        candidates: int = 6,
        seed: int = 0,
        size_scale: float = 0.02,
        big_file_size: int = 0,
        hostile_names: bool = False,
        colliding_names: bool = False,
    ) -> None:
        if candidates < 0 or size_scale <= 0 or big_file_size < 0:
            raise ValueError("candidates and big_file_size must be >= 0 and size_scale > 0")
        self.seed = seed
        self.size_scale = size_scale
        self.big_file_size = big_file_size
        self.hostile_names = hostile_names
        self.colliding_names = colliding_names
        self.candidate_count = candidates
        builder = _Builder(random.Random(f"loris-dataset:{seed}"), size_scale, pscid_top=max(400, 2 * candidates))
        # CandIDs are drawn first and sorted, as the API lists them, so "first candidate" means the same everywhere.
        cand_ids = sorted(builder.cand_id() for _ in range(candidates))
        cands = [self._candidate(builder, index, cand_id, candidates) for index, cand_id in enumerate(cand_ids)]
        if big_file_size and cands and cands[0].visits:
            cands[0] = _with_big_file(builder, cands[0], big_file_size)
        if hostile_names:
            cands.append(_hostile_candidate(builder))
        if colliding_names:
            cands += _colliding_candidates(builder)
        self.candidates: list[Candidate] = cands
        self.files: list[ImageFile] = [f for c in cands for v in c.visits for f in v.files]
        self.big_file: ImageFile | None = next((f for f in self.files if f.big), None)
        self._by_id = {c.cand_id: c for c in cands}
        self._by_key = {f.key: f for f in self.files}
        self._buffer = random.Random(f"loris-content:{seed}").randbytes(_BUFFER_SIZE)

    def with_hostile_names(self) -> LorisDataset:
        """The same dataset plus the hostile-names candidate."""
        if self.hostile_names:
            return self
        return LorisDataset(
            self.candidate_count,
            self.seed,
            self.size_scale,
            self.big_file_size,
            hostile_names=True,
            colliding_names=self.colliding_names,
        )

    # -- generation ------------------------------------------------------------------------------

    def _candidate(self, builder: _Builder, index: int, cand_id: str, total: int) -> Candidate:
        rng = builder.rng
        pscid = builder.pscid()
        programme = PROGRAMMES[rng.choice(sorted(PROGRAMMES))]
        needs_two = index == 0 or index == min(1, total - 1)
        count = rng.randint(2 if needs_two else 1, 4)
        labels = sorted(rng.sample(programme, count), key=programme.index)
        baseline = date(2012, 9, 1) + timedelta(days=rng.randint(0, 4 * 365))
        visits = []
        for number, label in enumerate(labels):
            undated = index == 0 and number == 1
            empty = index == min(1, total - 1) and number == len(labels) - 1
            visit_day = baseline + timedelta(days=VISIT_MONTHS[label[3:]] * 30 + rng.randint(0, 20))
            files = () if empty else _visit_files(builder, cand_id, label)
            status = "Pass" if rng.random() < 0.9 else "In Progress"
            visits.append(VisitRecord(label, None if undated else visit_day.isoformat(), status, files))
        dob = date(1935, 1, 1) + timedelta(days=rng.randint(0, 25 * 365))
        return Candidate(cand_id, pscid, dob.isoformat(), rng.choice(("Female", "Male")), tuple(visits))

    # -- lookups and content --------------------------------------------------------------------

    def candidate(self, cand_id: str) -> Candidate | None:
        return self._by_id.get(cand_id)

    def file(self, cand: str, visit: str, filename: str) -> ImageFile | None:
        return self._by_key.get((cand, visit, filename))

    def add_image(self, cand_id: str, visit: str, scan_type: str = "asl", size: int = 4096) -> ImageFile:
        """A file inserted now, as a new upload on a live server: listed (and ``?since=``-new) from now on."""
        cand = self._by_id[cand_id]
        index = next(i for i, v in enumerate(cand.visits) if v.label == visit)
        old = cand.visits[index]
        name = f"preventad_{cand_id}_{visit}_{scan_type}_{900 + len(old.files):03d}.mnc"
        record = ImageFile(
            cand_id,
            visit,
            name,
            size,
            "native",
            scan_type,
            None,
            None,
            (NO_CAVEAT,),
            datetime.now(SERVER_TZ).isoformat(timespec="seconds"),
        )
        visits = (*cand.visits[:index], replace(old, files=(*old.files, record)), *cand.visits[index + 1 :])
        self._by_id[cand_id] = self.candidates[self.candidates.index(cand)] = replace(cand, visits=visits)
        self.files.append(record)
        self._by_key[record.key] = record
        return record

    def rename_visit(self, cand_id: str, label: str, new_label: str) -> None:
        """Give a visit another label (with its files), e.g. one with the ``_`` many LORIS sites use."""
        cand = self._by_id[cand_id]
        index = next(i for i, v in enumerate(cand.visits) if v.label == label)
        old = cand.visits[index]
        files = tuple(replace(f, visit=new_label) for f in old.files)
        visits = (*cand.visits[:index], replace(old, label=new_label, files=files), *cand.visits[index + 1 :])
        self._by_id[cand_id] = self.candidates[self.candidates.index(cand)] = replace(cand, visits=visits)
        self.files = [f for c in self.candidates for v in c.visits for f in v.files]
        self._by_key = {f.key: f for f in self.files}

    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def content(self, cand: str, visit: str, filename: str) -> bytes:
        return b"".join(self.iter_content(cand, visit, filename))

    def iter_content(
        self, cand: str, visit: str, filename: str, start: int = 0, chunk: int = 65536, stop: int | None = None
    ) -> Iterator[bytes]:
        """Bytes ``start..stop`` (default: to the end) of a file, in pieces of at most ``chunk`` bytes."""
        record = self._by_key.get((cand, visit, filename))
        if record is None:
            raise KeyError(f"{cand}/{visit}/{filename}")
        end = record.size if stop is None else min(stop, record.size)
        if record.is_text:
            text = _events_text(record)
            for offset in range(start, end, chunk):
                yield text[offset : min(offset + chunk, end)]
            return
        digest = _digest(record)
        origin = int.from_bytes(digest[:4], "big") % _BUFFER_SIZE
        header = self._minc2_volume(record.size, origin) if start < record.size else b""
        for offset in range(start, end, chunk):
            yield self._binary_slice(header, origin, offset, min(offset + chunk, end))

    def _minc2_volume(self, size: int, origin: int) -> bytes:
        """The file's MINC2 volume: the head phantom with this file's own noise and brightness."""
        import numpy as np

        template = minc2_template_for(size)
        count = template.phantom.size
        noise = np.take(np.frombuffer(self._buffer, dtype=np.uint8), np.arange(origin, origin + count), mode="wrap")
        brightness = 0.8 + (origin % 41) / 100
        voxels = (template.phantom * brightness).astype(np.int32) + noise.reshape(template.shape).astype(np.int32) % 64
        return template.with_voxels(voxels)

    def _binary_slice(self, header: bytes, origin: int, begin: int, end: int) -> bytes:
        parts = []
        header_size = len(header)
        if begin < header_size:
            parts.append(header[begin : min(end, header_size)])
            begin = header_size
        while begin < end:
            at = (origin + begin - header_size) % _BUFFER_SIZE
            take = min(end - begin, _BUFFER_SIZE - at)
            parts.append(self._buffer[at : at + take])
            begin += take
        return b"".join(parts)

    def expected_tree(self) -> dict[str, bytes]:
        """``"<CandID>/<Visit>/<Filename>"`` → bytes for every file a client should write.

        Leaves out the big file (too large to hold in memory) and the hostile names (a correct
        client refuses them).
        """
        return {f.path: self.content(*f.key) for f in self.files if not (f.big or f.hostile)}


def minc2_template_for(size: int) -> formats.Minc2Template:
    """The largest MINC2 volume of MINC2_SHAPES whose file fits in ``size`` bytes (else the smallest)."""
    for shape in MINC2_SHAPES:
        template = formats.minc2_template(shape)
        if len(template.data) <= size:
            return template
    return template


def minc2_smallest_size() -> int:
    return len(formats.minc2_template(MINC2_SHAPES[-1]).data)


# -- what the API says about a record (legacy key order) -----------------------------------------


def candidate_row(cand: Candidate) -> dict[str, Any]:
    """One entry of ``GET /candidates``: legacy column order, the site's alias."""
    return {
        "CandID": cand.cand_id,
        "PSCID": cand.pscid,
        "Site": cand.site_alias,
        "EDC": cand.edc,
        "DoB": cand.dob,
        "Sex": cand.sex,
        "Project": cand.project,
    }


def candidate_etag(cand: Candidate) -> str:
    """As legacy LORIS: one ETag for the candidate and every visit/images listing under it."""
    last = max((v.date for v in cand.visits if v.date), default="")
    # md5('Candidate:' . CandID . ':' . max candidate Testdate . ':' . max visit Testdate . ':' . visit count)
    return _md5(f"Candidate:{cand.cand_id}:{last}:{last}:{len(cand.visits)}")


def candidate_json(cand: Candidate) -> dict[str, Any]:
    meta = {
        "CandID": cand.cand_id,
        "Project": cand.project,
        "PSCID": cand.pscid,
        "Site": cand.site,
        "EDC": cand.edc,
        "DoB": cand.dob,
        "Sex": cand.sex,
    }
    return {"Meta": meta, "Visits": [v.label for v in cand.visits]}


def visit_json(cand: Candidate, visit: VisitRecord) -> dict[str, Any]:
    meta = {"CandID": cand.cand_id, "Visit": visit.label, "Site": SITE_NAME, "Battery": BATTERY}
    # PHP encodes an empty stages array as [] rather than {}.
    stages: dict[str, Any] | list[Any] = {"Visit": {"Date": visit.date, "Status": visit.status}} if visit.date else []
    return {"Meta": meta, "Stages": stages}


def images_json(cand: Candidate, visit: VisitRecord) -> dict[str, Any]:
    files = [
        {"OutputType": f.output_type, "Filename": f.filename, "AcquisitionType": f.acquisition_type}
        for f in visit.files
    ]
    return {"Meta": {"CandID": cand.cand_id, "Visit": visit.label}, "Files": files}


def qc_json(record: ImageFile) -> dict[str, Any]:
    return {
        "Meta": {"CandID": record.cand, "Visit": record.visit, "File": record.filename},
        "QC": record.qc,
        "Selected": record.selected,
        "Caveats": [dict(c) for c in record.caveats],
    }


def project_image_row(record: ImageFile, pscid: str) -> dict[str, Any]:
    """One entry of ``GET /projects/loris/images``; ``Link`` is relative to the API base."""
    return {
        "Candidate": record.cand,
        "PSCID": pscid,
        "Visit": record.visit,
        "Visit_date": None,
        "Site": SITE_NAME,
        "InsertTime": record.insert_time,
        "ScanType": record.acquisition_type,
        "QC_status": record.qc,
        "Selected": record.selected,
        "Link": f"/candidates/{record.cand}/{record.visit}/images/{record.filename}",
    }


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _digest(record: ImageFile) -> bytes:
    return hashlib.sha256(record.path.encode("utf-8", "surrogatepass")).digest()


def _visit_files(builder: _Builder, cand: str, visit: str) -> tuple[ImageFile, ...]:
    """Natives in protocol order, then defaced derivatives (inserted later, as in the real DB)."""
    rng = builder.rng
    builder.clock += timedelta(days=rng.randint(0, 6))  # visits were imported over weeks, not in one night
    natives: list[ImageFile] = []
    defaced: list[ImageFile] = []
    for scan in PROTOCOL:
        if rng.random() >= scan.probability:
            continue
        for run in range(1, rng.randint(*scan.runs) + 1):
            native = f"preventad_{cand}_{visit}_{scan.scan_type}_{run:03d}"
            size = builder.size(scan.median_mb, scan.max_mb, floor=128)
            if scan.defaced:
                name = f"{native}_{scan.scan_type}-defaced_001.mnc"
                defaced.append(builder.image(cand, visit, name, size, "defaced", f"{scan.scan_type}-defaced"))
            else:
                natives.append(builder.image(cand, visit, f"{native}.mnc", size, "native", scan.scan_type))
        if scan.events:
            name = f"preventad_{cand}_{visit}_{scan.events}_001.txt"
            size = builder.size(*EVENTS_MB, floor=96)
            natives.append(builder.image(cand, visit, name, size, "native", scan.events))
    return tuple(natives + defaced)


def _with_big_file(builder: _Builder, cand: Candidate, size: int) -> Candidate:
    first = cand.visits[0]
    name = f"preventad_{cand.cand_id}_{first.label}_dwi65_099.mnc"
    big = builder.image(cand.cand_id, first.label, name, size, "native", "dwi65", big=True)
    visits = (VisitRecord(first.label, first.date, first.status, (*first.files, big)), *cand.visits[1:])
    return Candidate(cand.cand_id, cand.pscid, cand.dob, cand.sex, visits)


HOSTILE_FILENAMES = (
    "../../escape.mnc",
    "sub/dir.mnc",
    "nul\x00and\x1besc.mnc",
    "CON.mnc",
    "preventad_" + "long" * 64 + "_001.mnc",
)


def _hostile_candidate(builder: _Builder) -> Candidate:
    """A candidate whose listings carry names that must never become local paths.

    Its PREBL00 visit also holds one ordinary file, which a client should still download.
    """
    cand_id = builder.cand_id()
    ordinary = f"preventad_{cand_id}_PREBL00_t1w_001_t1w-defaced_001.mnc"
    files = [builder.image(cand_id, "PREBL00", ordinary, 2048, "defaced", "t1w-defaced")]
    files += [
        builder.image(cand_id, "PREBL00", name, 1024, "native", "bold", hostile=True) for name in HOSTILE_FILENAMES
    ]
    dotdot = [
        builder.image(cand_id, "..", f"preventad_{cand_id}_dotdot_bold_001.mnc", 1024, "native", "bold", hostile=True)
    ]
    visits = (
        VisitRecord("PREBL00", "2014-03-03", "Pass", tuple(files)),
        VisitRecord("..", "2015-03-03", "Pass", tuple(dotdot)),
    )
    return Candidate(cand_id, builder.pscid(), "1950-06-01", "Female", visits)


COLLIDING_CANDIDATE = ".neurofetch"  # the mirror's state folder
COLLIDING_VISIT = "candidate.json"  # the candidate's record
COLLIDING_FILES = ("a.mnc", "a.mnc.qc.json", "session.json", "b.mnc.part", "b.mnc")  # QC record, visit record, .part


def _colliding_candidates(builder: _Builder) -> list[Candidate]:
    """Candidates whose names are those of files a mirror writes itself (a state folder, records, a .part).

    The files a client must refuse are marked ``hostile``; ``a.mnc`` and ``b.mnc`` are ordinary.
    """
    cand_id = builder.cand_id()
    files = tuple(
        builder.image(cand_id, "PREBL00", name, 1024, "native", "bold", hostile=not name.endswith(".mnc"))
        for name in COLLIDING_FILES
    )
    named_like_record = (builder.image(cand_id, COLLIDING_VISIT, "c.mnc", 1024, "native", "bold", hostile=True),)
    state = (builder.image(COLLIDING_CANDIDATE, "PREBL00", "d.mnc", 1024, "native", "bold", hostile=True),)
    return [
        Candidate(
            cand_id,
            builder.pscid(),
            "1950-06-01",
            "Female",
            (
                VisitRecord("PREBL00", "2014-03-03", "Pass", files),
                VisitRecord(COLLIDING_VISIT, "2015-03-03", "Pass", named_like_record),
            ),
        ),
        Candidate(
            COLLIDING_CANDIDATE,
            builder.pscid(),
            "1951-06-01",
            "Male",
            (VisitRecord("PREBL00", "2014-04-04", "Pass", state),),
        ),
    ]


def _events_text(record: ImageFile) -> bytes:
    """Tab-separated task events, exactly ``record.size`` bytes, ending with a newline."""
    rng = random.Random(_digest(record))
    lines = ["onset\tduration\ttrial_type\tresponse\tresponse_time\n"]
    length, onset = len(lines[0]), 0.0
    while length < record.size:
        onset += rng.uniform(2.0, 6.0)
        kind = rng.choice(("old", "new", "lure", "fixation"))
        line = (
            f"{onset:.3f}\t{rng.uniform(1.5, 3.0):.3f}\t{kind}\t{rng.choice(('yes', 'no', 'n/a'))}\t"
            f"{rng.uniform(0.4, 2.5):.3f}\n"
        )
        lines.append(line)
        length += len(line)
    text = "".join(lines).encode("ascii")[: record.size]
    return text[:-1] + b"\n"
