"""DICOM de-identification: what reaches the server holds none of the original PHI, is still a valid
DICOM with values valid for their VR, and keeps a series together."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from neurofetch.anonymize import FREE_TEXT_VRS, REMOVED_KEYWORDS
from tests.datamint_support import CT_SERIES, datamint_server, env_for, phi_dicom, pydicom_sample
from tests.helpers import run_cli

TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}


@pytest.fixture
def datamint() -> Iterator[Any]:
    with datamint_server() as emulator:
        yield emulator


def read(data: bytes) -> Any:
    import pydicom

    return pydicom.dcmread(io.BytesIO(data))


def assert_values_valid_for_their_vr(dataset: Any) -> None:
    from pydicom import config
    from pydicom.valuerep import validate_value

    for element in dataset.iterall():
        if element.VR in TEXT_VRS and element.value not in (None, ""):
            values = element.value if element.VM > 1 else [element.value]
            for value in values:
                validate_value(element.VR, value if isinstance(value, str) else str(value), config.RAISE)


def phi_needles(values: dict[str, str]) -> list[bytes]:
    """Every planted value, and each part of every person name, as it would appear in the file."""
    needles = set()
    for value in values.values():
        needles.add(value)
        needles.update(part for part in value.replace("^", " ").split() if len(part) >= 5)
    return sorted(n.encode() for n in needles)


def test_uploaded_dicom_holds_no_original_phi(datamint, tmp_path: Path) -> None:
    folder = tmp_path / "exam"
    folder.mkdir()
    planted = phi_dicom(folder / "phi.dcm")
    result = run_cli("--json", "upload", folder, env=env_for(datamint))
    assert result.code == 0, result.stderr
    sent = datamint.uploaded_bytes(result.json["resources"]["exam/phi.dcm"])
    leaked = [n for n in phi_needles(planted) if n in sent]
    assert leaked == []
    dataset = read(sent)
    assert_values_valid_for_their_vr(dataset)
    assert dataset.PatientIdentityRemoved == "YES"
    assert not any(element.tag.is_private for element in dataset.iterall())
    assert "ImageComments" not in dataset and "StudyDescription" not in dataset
    removed = [e.keyword for e in dataset.iterall() if e.keyword in REMOVED_KEYWORDS or e.VR in FREE_TEXT_VRS]
    assert removed == []  # at every depth, also what dicognito writes (an address beside an institution)
    assert dataset.PatientSex == "" and dataset.ContributingEquipmentSequence[0].InstitutionName
    assert dataset.StudyDate != planted["StudyDate"] and len(dataset.StudyDate) == 8
    assert dataset.preamble == b"\0" * 128
    assert dataset.pixel_array.shape == (128, 128)  # the image itself is untouched
    assert (folder / "phi.dcm").read_bytes() != sent and read((folder / "phi.dcm").read_bytes()).PatientID == planted[
        "PatientID"
    ]  # the local file is never modified


def test_real_samples_de_identify_to_valid_dicom(tmp_path: Path) -> None:
    from neurofetch.anonymize import DicomAnonymizer

    anonymizer = DicomAnonymizer("test-seed")
    for name in ("CT_small.dcm", "MR_small.dcm", "rtstruct.dcm", "test-SR.dcm", f"{CT_SERIES}/17136"):
        original = __import__("pydicom").dcmread(pydicom_sample(name), force=True)
        dataset = read(anonymizer.anonymize_file(pydicom_sample(name)))
        assert_values_valid_for_their_vr(dataset)
        for keyword in ("PatientName", "PatientID", "StudyInstanceUID", "SOPInstanceUID"):
            if original.get(keyword):
                assert str(dataset.get(keyword)) != str(original.get(keyword)), (name, keyword)
        assert "ContentSequence" not in dataset  # SR report text goes


def test_series_stays_a_series_across_runs(datamint, tmp_path: Path) -> None:
    series = tmp_path / "ct"
    shutil.copytree(pydicom_sample(CT_SERIES), series)
    env = env_for(datamint)
    assert run_cli("upload", series, "--include", "171[03]6", env=env).code == 0
    assert run_cli("upload", series, env=env).code == 0
    records = datamint.resources()
    assert len(records) == 4
    uploaded = [read(r.data) for r in records]
    original = read(next(series.iterdir()).read_bytes())
    assert len({d.SeriesInstanceUID for d in uploaded}) == 1
    assert len({d.StudyInstanceUID for d in uploaded}) == 1
    assert len({d.FrameOfReferenceUID for d in uploaded}) == 1
    assert len({d.SOPInstanceUID for d in uploaded}) == 4
    assert uploaded[0].SeriesInstanceUID != original.SeriesInstanceUID
    assert all(d.file_meta.MediaStorageSOPInstanceUID == d.SOPInstanceUID for d in uploaded)


def test_retain_tag_keeps_only_that_tag(datamint, tmp_path: Path) -> None:
    folder = tmp_path / "exam"
    folder.mkdir()
    planted = phi_dicom(folder / "phi.dcm")
    result = run_cli("--json", "upload", folder, "--retain-tag", "(0010,0010)", env=env_for(datamint))
    assert result.code == 0, result.stderr
    dataset = read(datamint.uploaded_bytes(result.json["resources"]["exam/phi.dcm"]))
    assert str(dataset.PatientName) == planted["PatientName"]
    assert dataset.PatientID != planted["PatientID"]


def test_retain_pii_sends_the_file_as_it_is(datamint, tmp_path: Path) -> None:
    folder = tmp_path / "exam"
    folder.mkdir()
    phi_dicom(folder / "phi.dcm")
    result = run_cli("--json", "upload", folder, "--retain-pii", env=env_for(datamint))
    assert result.code == 0, result.stderr
    assert datamint.uploaded_bytes(result.json["resources"]["exam/phi.dcm"]) == (folder / "phi.dcm").read_bytes()
    both = run_cli("upload", folder, "--retain-pii", "--retain-tag", "PatientName", env=env_for(datamint))
    assert both.code == 2


def test_tags_are_read_as_users_write_them() -> None:
    from neurofetch.anonymize import parse_tag
    from neurofetch.errors import UsageError

    assert parse_tag("(0010,0010)") == parse_tag("0010,0010") == parse_tag("00100010") == parse_tag("PatientName")
    assert parse_tag("(0010,0010)") == 0x00100010
    with pytest.raises(UsageError):
        parse_tag("(zz,10)")


def test_a_large_upload_is_de_identified_on_worker_processes_and_stays_one_series(datamint, tmp_path: Path) -> None:
    import pydicom
    from pydicom.uid import generate_uid

    from neurofetch.anonymize import PROCESSES_FROM

    folder = tmp_path / "series"
    folder.mkdir()
    planted = phi_dicom(tmp_path / "template.dcm")
    template = pydicom.dcmread(tmp_path / "template.dcm")
    count = PROCESSES_FROM + 8
    for n in range(count):  # one series of slices: same patient, study and series, each its own instance
        template.SOPInstanceUID = generate_uid()
        template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
        template.InstanceNumber = n + 1
        template.save_as(folder / f"slice{n:03}.dcm")

    result = run_cli("--json", "upload", folder, "--jobs", "4", env=env_for(datamint))
    assert result.code == 0, result.stderr
    records = datamint.resources()
    assert len(records) == count
    uploaded = [read(r.data) for r in records]
    assert len({d.SeriesInstanceUID for d in uploaded}) == 1  # every worker mapped the series alike
    assert len({d.StudyInstanceUID for d in uploaded}) == 1
    assert len({str(d.PatientID) for d in uploaded}) == 1
    assert len({d.SOPInstanceUID for d in uploaded}) == count
    assert uploaded[0].SeriesInstanceUID != planted["SeriesInstanceUID"]
    for record in records:
        assert not any(needle in record.data for needle in phi_needles(planted))
