"""Real files for the Datamint tests: pydicom's bundled DICOM series, a DICOM full of PHI, generated
NIfTI volumes and PNG images; and the emulator on loopback."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CT_SERIES = "dicomdirtests/77654033/CT2"  # 4 slices of one CT series, files without an extension
MR_SERIES = "dicomdirtests/98892003/MR700"  # 7 slices of one MR series
KEY = "demo-key"

# Values planted in phi.dcm; none may reach the server when anonymization is on.
PHI = {
    "PatientName": "Cartwright^Eleanor^Quinn",
    "PatientID": "PHI-ID-424242",
    "PatientBirthDate": "19610302",
    "PatientAddress": "17 Larkspur Lane, Springfield",
    "InstitutionName": "Saint Sebastian Memorial Hospital",
    "ReferringPhysicianName": "Hollister^Magnus",
    "AccessionNumber": "ACC77321",
    "StudyDate": "20190214",
    "ImageComments": "called Mrs Cartwright at home",
    "StudyDescription": "Cartwright brain follow-up",
    "OtherPatientNames": "Eleanor Whitfield",
    "private": "PrivateWhitfieldNote",
    "nested_name": "Oyelaran^Tobias",
    "nested_station": "NESTSTATION7",
    "nested_id": "REQ-PROC-99881",
}


def pydicom_sample(relative: str) -> Path:
    from pydicom.data import get_testdata_file

    found = get_testdata_file("CT_small.dcm")
    assert found is not None
    return Path(found).parent / relative


def phi_dicom(path: Path) -> dict[str, str]:
    """CT_small.dcm with PHI planted at the top level, in nested sequences and in a private tag.
    Returns the planted values plus the original UIDs (all must disappear)."""
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(pydicom_sample("CT_small.dcm"))
    for keyword in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientAddress",
        "InstitutionName",
        "ReferringPhysicianName",
        "AccessionNumber",
        "StudyDate",
        "ImageComments",
        "StudyDescription",
        "OtherPatientNames",
    ):
        setattr(ds, keyword, PHI[keyword])
    equipment = Dataset()
    equipment.OperatorsName = PHI["nested_name"]
    equipment.StationName = PHI["nested_station"]
    equipment.InstitutionName = PHI["InstitutionName"]
    ds.ContributingEquipmentSequence = Sequence([equipment])
    request = Dataset()
    request.RequestedProcedureID = PHI["nested_id"]
    ds.RequestAttributesSequence = Sequence([request])
    block = ds.private_block(0x0011, "ACME CLINICAL", create=True)
    block.add_new(0x01, "LO", PHI["private"])
    ds.save_as(path)
    values = dict(PHI)
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
        values[keyword] = str(ds[keyword].value)
    return values


def nifti_bytes(shape: tuple[int, ...] = (6, 5, 4), labels: bool = False) -> bytes:
    import nibabel
    import numpy

    data = (
        numpy.zeros(shape, dtype=numpy.uint8)
        if labels
        else numpy.arange(numpy.prod(shape), dtype=numpy.float32).reshape(shape)
    )
    if labels:
        data[1:3, 1:3, 1:3] = 1
        data[4, 4, 3] = 2
    image = nibabel.Nifti1Image(data, numpy.eye(4))
    raw = image.to_bytes()
    return gzip.compress(raw, mtime=0)


def png_bytes(size: tuple[int, int] = (8, 6), mask: bool = False) -> bytes:
    from PIL import Image

    image = Image.new("L", size, 0)
    for x in range(size[0]):
        for y in range(size[1]):
            image.putpixel((x, y), (1 if 2 <= x < 5 and y < 3 else 0) if mask else (x * 30 + y) % 256)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def mixed_study(root: Path) -> Path:
    """study/ with two DICOM series, a PHI DICOM, a NIfTI with its JSON sidecar, a PNG and a notes file."""
    study = root / "study"
    shutil.copytree(pydicom_sample(CT_SERIES), study / "ct")
    shutil.copytree(pydicom_sample(MR_SERIES), study / "mr")
    (study / "misc").mkdir()
    phi_dicom(study / "misc" / "phi.dcm")
    (study / "anat").mkdir()
    (study / "anat" / "t1.nii.gz").write_bytes(nifti_bytes())
    (study / "anat" / "t1.json").write_text(json.dumps({"Modality": "MR", "EchoTime": 0.03}))
    (study / "misc" / "photo.png").write_bytes(png_bytes())
    (study / "misc" / "notes.txt").write_text("not imaging\n")
    return study


@contextlib.contextmanager
def datamint_server(**kwargs: Any) -> Iterator[Any]:
    from neurofetch.emulators.datamint.app import DatamintEmulator

    emulator = DatamintEmulator(**kwargs)
    with emulator.serve() as server:
        emulator.url = emulator.base_url(server)
        yield emulator


def env_for(emulator: Any, key: str | None = KEY) -> dict[str, str | None]:
    return {"NEUROFETCH_URL": emulator.url, "NEUROFETCH_SERVICE": "datamint", "NEUROFETCH_API_KEY": key}


def upload_posts(emulator: Any) -> int:
    """Every `POST /resources` that reached the server, answered or dropped."""
    return int(emulator.upload_posts)


PROJECT = "Brain MRI Study"


def segmented_project(emulator: Any, project: str = PROJECT) -> dict[str, Any]:
    """A project of three resources as an annotator leaves them: a PNG with a frame mask ("lesion"), a NIfTI
    volume with a label volume (1 tumor, 2 edema) of its shape, and a DICOM without annotations; plus a PNG
    outside the project. Returns the stored resources by kind and the masks' bytes by annotation id."""
    import random

    from neurofetch.emulators.datamint.samples import dicom_bytes

    picture = emulator.add_resource(
        "scan.png", png_bytes((8, 6)), mimetype="image/png", channel="us", tags=["ultrasound"], project=project
    )
    volume = emulator.add_resource(
        "t1.nii.gz", nifti_bytes((6, 5, 4)), mimetype="application/nifti", channel="mri", tags=["t1"], project=project
    )
    dicom = emulator.add_resource(
        "ct.dcm", dicom_bytes(6, 8, random.Random(3)), mimetype="application/dicom", channel="ct", project=project
    )
    other = emulator.add_resource("other.png", png_bytes((4, 4)), mimetype="image/png", channel="us")
    mask_png = mask_png_bytes((8, 6))
    frame = emulator.store.add_annotation(
        picture.id,
        type="segmentation",
        identifier="lesion",
        scope="frame",
        frame_index=0,
        source="imported",
        file=mask_png,
        file_name="lesion",
        file_content_type="image/png",
    )
    labels = nifti_bytes((6, 5, 4), labels=True)
    whole = emulator.store.add_annotation(
        volume.id,
        type="segmentation",
        identifier="tumor, edema",
        scope="image",
        class_map={"1": "tumor", "2": "edema"},
        file=labels,
        file_name="labels.nii.gz",
        file_content_type="application/nifti",
    )
    label = emulator.store.add_annotation(picture.id, type="label", identifier="benign", scope="image")
    emulator.store.add_annotation(dicom.id, type="segmentation", identifier="pending", scope="frame", frame_index=0)
    return {
        "png": picture,
        "nifti": volume,
        "dicom": dicom,
        "other": other,
        "masks": {frame.id: mask_png, whole.id: labels},
        "frame": frame,
        "volume": whole,
        "label": label,
    }


def mask_png_bytes(size: tuple[int, int]) -> bytes:
    """A binary mask as the official client uploads one: 0 outside, 255 inside (x 2-4, y 0-2)."""
    from PIL import Image

    image = Image.new("L", size, 0)
    for x in range(2, 5):
        for y in range(3):
            image.putpixel((x, y), 255)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
