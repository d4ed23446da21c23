"""neurofetch.data.DatamintDataset against the Datamint emulator: a project mirrored through the engine, served
as (image, dicom_metadata, metadata) with the masks aligned to their image."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy
import pytest

from neurofetch.data import DatamintDataset
from neurofetch.errors import AuthError
from tests.datamint_support import KEY, PROJECT, datamint_server, nifti_bytes, png_bytes, segmented_project

LABELS = ["edema", "lesion", "tumor"]


@pytest.fixture
def project() -> Iterator[tuple[Any, dict[str, Any]]]:
    with datamint_server() as emulator:
        yield emulator, segmented_project(emulator)


def file_gets(emulator: Any) -> int:
    return emulator.log.count(lambda e: e.method == "GET" and e.path.endswith("/file"))


def by_filename(dataset: DatamintDataset) -> dict[str, tuple[Any, Any, Any]]:
    return {item[2]["filename"]: item for item in dataset}


def test_items_carry_the_image_its_dicom_header_and_aligned_masks(project, tmp_path: Path) -> None:
    emulator, made = project
    dataset = DatamintDataset(tmp_path / "dm", PROJECT, url=emulator.url, api_key=KEY)
    assert len(dataset) == 3 and dataset.segmentation_labels == LABELS  # other.png is not in the project
    items = by_filename(dataset)

    image, dicom, metadata = items["scan.png"]
    assert image.shape == (6, 8) and image.dtype == numpy.uint8 and dicom is None
    assert metadata["id"] == made["png"].id and metadata["tags"] == ["ultrasound"]
    assert metadata["masks"].shape == (3, 6, 8) and metadata["masks"].dtype == bool
    expected = numpy.zeros((6, 8), dtype=bool)
    expected[0:3, 2:5] = True
    assert (metadata["masks"][LABELS.index("lesion")] == expected).all()
    assert not metadata["masks"][LABELS.index("tumor")].any()
    assert metadata["labels"] == ["benign", "lesion"]

    volume, dicom, metadata = items["t1.nii.gz"]
    labels = numpy.zeros((6, 5, 4), dtype=numpy.uint8)
    labels[1:3, 1:3, 1:3] = 1
    labels[4, 4, 3] = 2
    assert volume.shape == (6, 5, 4) and dicom is None and metadata["masks"].shape == (3, 6, 5, 4)
    assert (metadata["masks"][LABELS.index("tumor")] == (labels == 1)).all()
    assert (metadata["masks"][LABELS.index("edema")] == (labels == 2)).all()
    assert metadata["labels"] == ["edema", "tumor"]

    pixels, dicom, metadata = items["ct.dcm"]
    assert pixels.shape == (6, 8) and dicom.Rows == 6 and "PixelData" not in dicom
    assert not metadata["masks"].any() and metadata["labels"] == []


def test_a_second_construction_over_a_complete_mirror_requests_no_file(project, tmp_path: Path) -> None:
    emulator, _made = project
    DatamintDataset(tmp_path / "dm", PROJECT, url=emulator.url, api_key=KEY)
    gets = file_gets(emulator)
    assert gets == 5  # three resources and two masks
    again = DatamintDataset(tmp_path / "dm", PROJECT, url=emulator.url, api_key=KEY)
    assert len(again) == 3 and file_gets(emulator) == gets
    offline = DatamintDataset(tmp_path / "dm", PROJECT, download=False)
    assert len(offline) == 3 and file_gets(emulator) == gets


def test_frame_by_frame_items_carry_their_frame_of_the_masks(project, tmp_path: Path) -> None:
    emulator, _made = project
    dataset = DatamintDataset(tmp_path / "dm", PROJECT, url=emulator.url, api_key=KEY, return_frame_by_frame=True)
    frames = [(m["filename"], m.get("frame_index")) for _image, _dicom, m in dataset]
    assert sorted(frames) == sorted([("scan.png", 0), ("ct.dcm", 0)] + [("t1.nii.gz", z) for z in range(4)])
    slice_, _dicom, metadata = next(
        item for item in dataset if item[2]["filename"] == "t1.nii.gz" and item[2]["frame_index"] == 3
    )
    assert slice_.shape == (6, 5) and metadata["masks"].shape == (3, 6, 5)
    assert metadata["labels"] == ["edema"] and metadata["masks"][LABELS.index("edema")].sum() == 1


def test_include_unannotated_false_leaves_out_resources_without_annotations(project, tmp_path: Path) -> None:
    emulator, _made = project
    emulator.add_resource("bare.png", png_bytes((4, 4)), mimetype="image/png", channel="us", project=PROJECT)
    dataset = DatamintDataset(tmp_path / "dm", PROJECT, url=emulator.url, api_key=KEY, include_unannotated=False)
    assert sorted(by_filename(dataset)) == ["ct.dcm", "scan.png", "t1.nii.gz"]


def test_a_mask_of_another_shape_than_its_image_is_refused_naming_both(project, tmp_path: Path) -> None:
    emulator, made = project
    emulator.store.add_annotation(
        made["nifti"].id,
        type="segmentation",
        identifier="wrong",
        scope="image",
        class_map={"1": "wrong"},
        file=nifti_bytes((5, 5, 5), labels=True),
    )
    dataset = DatamintDataset(tmp_path / "dm", PROJECT, url=emulator.url, api_key=KEY)
    with pytest.raises(ValueError, match=r"_seg-.*\.nii\.gz is \(5, 5, 5\), its image \(6, 5, 4\)"):
        list(dataset)


def test_a_refused_key_raises_the_typed_error(project, tmp_path: Path) -> None:
    emulator, _made = project
    with pytest.raises(AuthError):
        DatamintDataset(tmp_path / "dm", PROJECT, url=emulator.url, api_key="wrong-key")


def test_without_torch_it_is_a_plain_sequence(project, tmp_path: Path) -> None:
    emulator, _made = project
    DatamintDataset(tmp_path / "dm", PROJECT, url=emulator.url, api_key=KEY)
    code = (
        "import sys; from neurofetch.data import DatamintDataset\n"
        f"d = DatamintDataset({str(tmp_path / 'dm')!r}, {PROJECT!r}, download=False)\n"
        "items = list(d); images, dicoms, metas = DatamintDataset.collate(items[:1])\n"
        "print(len(items), type(images).__module__, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["3", "numpy", "False"]


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="torch is not installed (pip install torch; .ci/run installs it)"
)
def test_a_dataloader_batches_it(project, tmp_path: Path) -> None:
    import torch
    from torch.utils.data import DataLoader

    emulator, _made = project
    dataset = DatamintDataset(tmp_path / "dm", PROJECT, url=emulator.url, api_key=KEY, return_frame_by_frame=True)
    volume_slices = [i for i in range(len(dataset)) if dataset[i][2]["filename"] == "t1.nii.gz"]
    loader = DataLoader(
        torch.utils.data.Subset(dataset, volume_slices), batch_size=4, num_workers=2, collate_fn=DatamintDataset.collate
    )
    images, dicoms, metadata = next(iter(loader))
    assert tuple(images.shape) == (4, 6, 5) and dicoms == [None] * 4
    assert [m["frame_index"] for m in metadata] == [0, 1, 2, 3]


def test_the_preloaded_emulator_serves_drawn_masks(tmp_path: Path) -> None:
    """`neurofetch emulate datamint` (masks on by default) gives a dataset with something to learn from."""
    with datamint_server(preload=12, preload_masks=True) as emulator:
        dataset = DatamintDataset(tmp_path / "dm", PROJECT, url=emulator.url, api_key=KEY)
    assert len(dataset) == 2 and dataset.segmentation_labels == ["lesion"]
    for image, _dicom, metadata in dataset:
        side = image.shape[0]
        expected = numpy.zeros(image.shape, dtype=bool)
        expected[side // 4 : side - side // 4, side // 4 : side - side // 4] = True
        assert metadata["masks"].shape == (1, *image.shape) and (metadata["masks"][0] == expected).all()
