"""Local DICOM de-identification, before any byte leaves the machine. Owns pydicom (and dicognito).

The DICOM PS3.15 Basic Application Level Confidentiality Profile, with the "Retain Longitudinal
Temporal Information with Modified Dates" option:

- dicognito replaces every person name (PN), instance UID (UI, class UIDs kept), the patient, study,
  accession and station identifiers, addresses and institution names, and shifts every date and
  date-time (and the time paired with a date) back by one offset per seed, at every nesting depth;
- this module removes what dicognito leaves: private tags, free text (every LT/ST/UT element),
  descriptions, comments, device and protocol identifiers, patient characteristics, overlays and
  curves, identifying sequences; empties lone times and malformed dates; zeroes the preamble.

Both happen in one walk over the dataset (this module's handler runs first on each element, so what it
removes is never decoded or handed to dicognito): walks decoding every element were most of the time.

The seed makes the mapping deterministic: the same original UID always becomes the same new UID,
so a series uploaded over several runs stays one series, and a re-sent file has the same bytes.
"""

from __future__ import annotations

import copy
import io
import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from neurofetch.errors import ItemError, UsageError

DICOM_MAGIC_OFFSET = 128
DEIDENTIFICATION_METHOD = "neurofetch: PS3.15 basic profile, modified dates (dicognito)"

# PS3.15 Table E.1-1 attributes dicognito does not touch, removed (action X). Type 3 or optional.
REMOVED_KEYWORDS = frozenset(
    {
        "AcquisitionComments",
        "AcquisitionDeviceProcessingDescription",
        "AcquisitionProtocolDescription",
        "ActualHumanPerformersSequence",
        "AdditionalPatientHistory",
        "AdmissionID",
        "AdmittingDiagnosesCodeSequence",
        "AdmittingDiagnosesDescription",
        "Allergies",
        "Arbitrary",
        "AuthorObserverSequence",
        "BranchOfService",
        "CommentsOnThePerformedProcedureStep",
        "ConsultingPhysicianIdentificationSequence",
        "ContentSequence",
        "ContributionDescription",
        "CountryOfResidence",
        "CurrentPatientLocation",
        "CustodialOrganizationSequence",
        "DerivationDescription",
        "DeviceSerialNumber",
        "DeviceDescription",
        "DigitalSignaturesSequence",
        "DischargeDiagnosisDescription",
        "EthnicGroup",
        "FrameComments",
        "GantryID",
        "GeneratorID",
        "IconImageSequence",
        "IdentifyingComments",
        "ImageComments",
        "ImagePresentationComments",
        "ImagingServiceRequestComments",
        "InstitutionAddress",
        "InstitutionCodeSequence",
        "InterpretationText",
        "IssuerOfAdmissionID",
        "MedicalAlerts",
        "MedicalRecordLocator",
        "MilitaryRank",
        "ModifiedAttributesSequence",
        "NamesOfIntendedRecipientsOfResults",
        "Occupation",
        "OperatorIdentificationSequence",
        "OriginalAttributesSequence",
        "OtherPatientIDsSequence",
        "PatientAge",
        "PatientAddress",
        "PatientComments",
        "PatientInsurancePlanCodeSequence",
        "PatientReligiousPreference",
        "PatientSize",
        "PatientState",
        "PatientTelecomInformation",
        "PatientTelephoneNumbers",
        "PatientTransportArrangements",
        "PatientWeight",
        "PerformedLocation",
        "PerformedProcedureStepDescription",
        "PerformedStationName",
        "PerformingPhysicianIdentificationSequence",
        "PersonAddress",
        "PersonIdentificationCodeSequence",
        "PersonTelephoneNumbers",
        "PhysiciansOfRecordIdentificationSequence",
        "PhysiciansReadingStudyIdentificationSequence",
        "PlateID",
        "PreMedication",
        "ProtocolName",
        "ReasonForStudy",
        "ReasonForTheImagingServiceRequest",
        "ReasonForTheRequestedProcedure",
        "ReferencedPatientAliasSequence",
        "ReferencedPatientPhotoSequence",
        "ReferencedPatientSequence",
        "ReferringPhysicianAddress",
        "ReferringPhysicianIdentificationSequence",
        "ReferringPhysicianTelephoneNumbers",
        "RegionOfResidence",
        "RequestAttributesSequence",
        "RequestedContrastAgent",
        "RequestedProcedureComments",
        "RequestedProcedureDescription",
        "RequestingPhysicianIdentificationSequence",
        "ResponsibleOrganization",
        "ResponsiblePerson",
        "ResultsComments",
        "ScheduledPerformingPhysicianIdentificationSequence",
        "ScheduledProcedureStepDescription",
        "ScheduledStationName",
        "SeriesDescription",
        "ServiceEpisodeDescription",
        "SmokingStatus",
        "SpecialNeeds",
        "StudyComments",
        "StudyDescription",
        "TextComments",
        "TextString",
        "TopicAuthor",
        "TopicKeywords",
        "TopicSubject",
        "TopicTitle",
        "VisitComments",
    }
)
# Type 2 attributes of the profile that must stay present: emptied (action Z).
EMPTIED_KEYWORDS = frozenset({"PatientSex", "ContrastBolusAgent"})
FREE_TEXT_VRS = frozenset({"LT", "ST", "UT"})
REMOVED_GROUPS = (0x5000, 0x6000)  # curves and overlays (repeating groups 50xx, 60xx)
_DATE = re.compile(r"^\d{8}$")
_DATETIME = re.compile(r"^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?([+-]\d{4})?$")
_TAG = re.compile(r"^\(?\s*([0-9A-Fa-f]{4})\s*,?\s*([0-9A-Fa-f]{4})\s*\)?$")


class NotDicom(ItemError):
    """A file meant to be DICOM that pydicom cannot read."""


def parse_tag(text: str) -> int:
    """A tag as users write it: ``(0010,0010)``, ``0010,0010``, ``00100010`` or a keyword ``PatientName``."""
    from pydicom.datadict import tag_for_keyword

    match = _TAG.match(text.strip())
    if match:
        return int(match.group(1) + match.group(2), 16)
    tag = tag_for_keyword(text.strip())
    if tag is None:
        raise UsageError(f'--retain-tag {text!r}: give a DICOM tag like "(0010,0010)" or a keyword like PatientName')
    return int(tag)


def looks_like_dicom(path: Path) -> bool:
    """The ``DICM`` marker after the 128-byte preamble (files without it need a .dcm name to be tried)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(DICOM_MAGIC_OFFSET)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


class DicomAnonymizer:
    """De-identifies DICOM files; one instance per run (or per profile seed), safe across threads."""

    def __init__(self, seed: str, retain: Iterable[int] = ()) -> None:
        from dicognito.anonymizer import Anonymizer

        self._dicognito = Anonymizer(seed=seed)
        self._profile = _ProfileElements()
        # First in line, so dicognito never sees what the profile removes (a handler is any such callable).
        self._dicognito.add_element_handler(self._profile)  # type: ignore[arg-type]
        self.retain = frozenset(retain)

    def anonymize_file(self, path: Path) -> bytes:
        """The de-identified file's bytes; the original on disk is never modified."""
        dataset = read_dicom(path)
        try:
            self.anonymize(dataset)
            _complete_file_meta(dataset)
            buffer = io.BytesIO()
            dataset.save_as(buffer, enforce_file_format=True)
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as exc:
            raise NotDicom(f"{path.name}: cannot de-identify this DICOM file ({exc})") from None
        return buffer.getvalue()

    def anonymize(self, dataset: Any) -> None:
        """De-identify a pydicom Dataset in place."""
        kept = {tag: copy.deepcopy(dataset[tag]) for tag in self.retain if tag in dataset}
        self._profile.begin()
        self._profile.drop_by_tag(dataset)
        self._dicognito.anonymize(dataset)  # one walk: dicognito's replacements and the profile's removals
        self._profile.finish()
        for tag, element in kept.items():
            dataset[tag] = element
        dataset.PatientIdentityRemoved = "YES"
        dataset.DeidentificationMethod = DEIDENTIFICATION_METHOD
        dataset.DeidentificationMethodCodeSequence = _method_codes()
        if getattr(dataset, "preamble", None) is not None:
            dataset.preamble = b"\0" * 128


def read_dicom(path: Path) -> Any:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        dataset = pydicom.dcmread(path, force=not looks_like_dicom(path))
        if len(dataset) == 0 or "SOPClassUID" not in dataset:
            raise InvalidDicomError("no DICOM elements")
        return dataset
    except OSError as exc:
        raise ItemError(f"cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # pydicom raises many kinds on garbage input
        raise NotDicom(f"{path.name} is not a readable DICOM file ({type(exc).__name__})") from None


def _complete_file_meta(dataset: Any) -> None:
    """Always send a DICOM Part 10 file (preamble, DICM, meta), even when the original lacked one."""
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    dataset.ensure_file_meta()
    meta = dataset.file_meta
    if "TransferSyntaxUID" not in meta:
        implicit, little = dataset.original_encoding
        meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian
            if implicit
            else ExplicitVRLittleEndian
            if little is not False
            else ExplicitVRBigEndian
        )
    meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    if "SOPInstanceUID" in dataset:
        meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    if getattr(dataset, "preamble", None) is None:
        dataset.preamble = b"\0" * 128


def _prepare_dates(dataset: Any, element: Any) -> None:
    """Blank what dicognito would keep or choke on: malformed dates and times with no paired date."""
    if element.VR in ("DA", "DT") and element.value:
        pattern = _DATE if element.VR == "DA" else _DATETIME
        values = element.value if element.VM > 1 else [element.value]
        if not all(pattern.match(str(v).replace(".", "") if element.VR == "DA" else str(v)) for v in values):
            element.value = ""
    elif element.VR == "TM" and element.value:
        date_keyword = (element.keyword or "").replace("Time", "Date")
        paired = dataset.get(date_keyword) if date_keyword and date_keyword != element.keyword else None
        if not paired:
            element.value = ""


class _ProfileElements:
    """The profile's part of the single walk, as a dicognito element handler that runs before dicognito's own:
    removes what the profile removes (dicognito then skips it), blanks what dicognito would keep or choke on,
    and empties the type 2 attributes once the walk is over (dicognito's names read PatientSex)."""

    def __init__(self) -> None:
        self._removed_tags = _tags(REMOVED_KEYWORDS)
        self._emptied_tags = _tags(EMPTIED_KEYWORDS)
        self._walk = threading.local()  # the file this thread is walking: its datasets, its type 2 elements

    def begin(self) -> None:
        self._walk.visited = {}  # every dataset of the walk, by id
        self._walk.emptied = []

    def drop_by_tag(self, dataset: Any) -> None:
        """Remove the top level's private and removed elements before the walk, which would decode each one
        (most of a vendor's file is private tags)."""
        for tag in [tag for tag in dataset.keys() if self._removes_tag(tag)]:  # noqa: SIM118 - tags, not elements
            del dataset[tag]

    def _removes_tag(self, tag: int) -> bool:
        group = tag >> 16
        return tag in self._removed_tags or bool(group & 1) or any(group & 0xFF00 == base for base in REMOVED_GROUPS)

    def __call__(self, dataset: Any, element: Any) -> bool:
        tag = element.tag
        if tag >> 16 == 0x0002:  # the file meta: dicognito's alone
            return False
        if self._removes_tag(tag) or element.VR in FREE_TEXT_VRS:
            del dataset[tag]
            return True
        self._walk.visited[id(dataset)] = dataset
        if tag in self._emptied_tags:
            self._walk.emptied.append((dataset, tag))
        else:
            _prepare_dates(dataset, element)
        return False

    def finish(self) -> None:
        """After the walk: empty the type 2 attributes, and remove what dicognito wrote beside an element it
        replaced (InstitutionAddress beside InstitutionName)."""
        for dataset, tag in self._walk.emptied:
            if tag in dataset:
                dataset[tag].value = ""
        for dataset in self._walk.visited.values():
            for tag in dataset.keys() & self._removed_tags:
                del dataset[tag]
        self.begin()


def _tags(keywords: Iterable[str]) -> frozenset[int]:
    from pydicom.datadict import tag_for_keyword

    return frozenset(tag for tag in map(tag_for_keyword, keywords) if tag is not None)


def _method_codes() -> Any:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    codes = []
    for value, meaning in (
        ("113100", "Basic Application Confidentiality Profile"),
        ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    ):
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        codes.append(item)
    return Sequence(codes)


PROCESSES_FROM = 32  # DICOM files to de-identify: below this, starting worker processes costs more than it saves


class ParallelAnonymizer:
    """De-identification for a whole upload, on all cores.

    pydicom and dicognito are pure Python and hold the GIL, so on threads every file would wait for the same
    core. With enough files, each of up to ``jobs`` worker processes (one per core at most) builds its own
    DicomAnonymizer from the run's seed: dicognito's replacements depend only on the seed and the original
    values, so every worker gives a patient, study or series the same new identifiers. Workers start on the
    first file (a dry run starts none) and leave Ctrl-C and SIGTERM to the run, which stops them on ``close``.
    """

    def __init__(self, seed: str, retain: Iterable[int], *, files: int, jobs: int) -> None:
        self._seed = seed
        self._retain = tuple(retain)
        cores = os.cpu_count() or 1
        self._workers = min(cores, jobs) if files >= PROCESSES_FROM and cores > 1 and jobs > 1 else 0
        self._local: DicomAnonymizer | None = None
        self._pool: Any = None

    async def anonymize_file(self, path: Path) -> bytes:
        """The de-identified file's bytes (NotDicom for a file pydicom cannot take)."""
        import asyncio

        if not self._workers:
            self._local = self._local or DicomAnonymizer(self._seed, self._retain)
            return await asyncio.to_thread(self._local.anonymize_file, path)
        from concurrent.futures.process import BrokenProcessPool

        try:
            return await asyncio.get_running_loop().run_in_executor(self._start(), _anonymize_in_worker, str(path))
        except BrokenProcessPool:
            raise ItemError(
                f"{path.name}: the de-identification worker processes stopped unexpectedly (out of memory?)"
            ) from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _start(self) -> Any:
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # forkserver: workers forked from a clean server process, not from this one with its threads.
            method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
            context = multiprocessing.get_context(method)
            if method == "forkserver":  # pydicom and dicognito imported once, in the server, not in every worker
                context.set_forkserver_preload(["pydicom", "dicognito.anonymizer", __name__])
            self._pool = ProcessPoolExecutor(
                self._workers, mp_context=context, initializer=_start_worker, initargs=(self._seed, self._retain)
            )
        return self._pool


_worker_anonymizer: DicomAnonymizer | None = None


def _start_worker(seed: str, retain: tuple[int, ...]) -> None:
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):  # the run handles these and then stops the workers
        signal.signal(sig, signal.SIG_IGN)
    global _worker_anonymizer
    _worker_anonymizer = DicomAnonymizer(seed, retain)


def _anonymize_in_worker(path: str) -> bytes:
    assert _worker_anonymizer is not None
    return _worker_anonymizer.anonymize_file(Path(path))
