"""neurofetch.data.MirrorDataset over trees the real CLI mirrored from the emulators: every format's array
shape and dtype, metadata = the index row, where / target / transform / on_error, order, laziness, pickling."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from neurofetch import api
from neurofetch.data import MirrorDataset, UnreadableFileError, collate
from neurofetch.errors import UsageError
from neurofetch.transfer.journal import Journal
from tests.data_support import allen_mirror, datamint_mirror, loris_mirror, neurovault_mirror


def index_rows(root: Path) -> list[dict[str, Any]]:
    return [row.to_dict() for row in api.index(root)]


def journal_file(root: Path, relpath: str, data: bytes) -> None:
    """A file the mirror's journal records, as if a run had fetched it."""
    import hashlib

    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    journal = Journal.for_dest(root)
    journal.record(relpath, len(data), hashlib.sha256(data).hexdigest(), "http://127.0.0.1/x", path.stat().st_mtime_ns)
    journal.close()


@pytest.fixture
def loris_tree(tmp_path: Path) -> Path:
    return loris_mirror(tmp_path / "study")[0]


# ------------------------------------------------------------------------------------------ formats


def test_loris_items_are_minc2_volumes_with_their_index_row_in_path_order(loris_tree: Path) -> None:
    dataset = MirrorDataset(loris_tree)
    rows = [r for r in index_rows(loris_tree) if r["path"].endswith(".mnc")]
    assert len(dataset) == len(rows) > 20 and any(r["path"].endswith(".txt") for r in index_rows(loris_tree))
    for index, row in enumerate(rows):
        volume, metadata = dataset[index]
        assert metadata == row and metadata["candid"] and metadata["visit"] and "qc.qc" in metadata
        assert volume.dtype == np.float32 and volume.shape in {(24, 32, 32), (12, 16, 16), (6, 8, 8)}
        assert volume.max() > 500  # the phantom's head, scaled through image-min/image-max
    assert [m["path"] for _, m in (dataset[i] for i in range(len(dataset)))] == sorted(r["path"] for r in rows)


def test_minc1_volumes_load_as_float32_in_their_dimension_order(tmp_path: Path) -> None:
    from nibabel.externals.netcdf import netcdf_file

    root, _ = loris_mirror(tmp_path / "study", candidates=1)
    voxels = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    minc1 = netcdf_file(str(tmp_path / "minc1.mnc"), "w")
    for name, length in zip(("zspace", "yspace", "xspace"), voxels.shape, strict=True):
        minc1.createDimension(name, length)
        axis = minc1.createVariable(name, "d", ())
        axis.step, axis.start, axis.spacing = 2.0, -10.0, b"regular__"
    image = minc1.createVariable("image", "h", ("zspace", "yspace", "xspace"))
    image.signtype, image.valid_range = b"signed__", [0, 4095]
    image[:] = voxels
    for name, value in (("image-min", 0.0), ("image-max", 4095.0)):
        minc1.createVariable(name, "d", ("zspace",))[:] = np.full(voxels.shape[0], value)
    minc1.close()
    journal_file(root, "old/minc1.mnc", (tmp_path / "minc1.mnc").read_bytes())
    dataset = MirrorDataset(root, where={"path": "old/minc1.mnc"})
    volume, metadata = dataset[0]
    assert len(dataset) == 1 and metadata["path"] == "old/minc1.mnc"
    assert volume.dtype == np.float32 and volume.shape == (4, 5, 6) and (volume == voxels).all()


def test_neurovault_maps_are_float32_mni_volumes_with_map_type_and_collection(tmp_path: Path) -> None:
    root = neurovault_mirror(tmp_path / "nv")
    dataset = MirrorDataset(root)
    assert len(dataset) == 5
    for index in range(len(dataset)):
        volume, metadata = dataset[index]
        assert metadata["map_type"] in {"Z map", "T map", "ROI/mask"} and metadata["collection"]
        assert volume.shape in {(91, 109, 91), (61, 73, 61), (53, 63, 46)}
        assert volume.dtype == (np.uint8 if metadata["map_type"] == "ROI/mask" else np.float32)
        if metadata["map_type"] != "ROI/mask":
            assert 300_000 <= metadata["size"] <= 3_000_000


def test_allen_sections_are_uint8_pictures_with_atlas_and_section(tmp_path: Path) -> None:
    root = allen_mirror(tmp_path / "atlas")
    dataset = MirrorDataset(root)
    assert len(dataset) == 3
    for index in range(3):
        picture, metadata = dataset[index]
        assert picture.dtype == np.uint8 and picture.ndim in (2, 3) and min(picture.shape[:2]) > 10
        assert metadata["path"].endswith(".jpg") and metadata["section_number"] is not None


def test_datamint_png_dicom_and_nifti_with_rescale_and_tags(tmp_path: Path) -> None:
    from pydicom.data import get_testdata_file

    ct = Path(get_testdata_file("CT_small.dcm") or "").read_bytes()  # RescaleIntercept -1024
    root = datamint_mirror(tmp_path / "dm", {"ct.dcm": (ct, "application/dicom")})
    items = {dataset_item[1]["filename"]: dataset_item for dataset_item in MirrorDataset(root)}
    png = next(v for k, v in items.items() if k.endswith(".png"))
    assert png[0].dtype == np.uint8 and png[0].shape in {(16, 16), (24, 24), (32, 32)} and png[1]["tags"]
    sample_dicom = next(v for k, v in items.items() if k.endswith("_T1w.dcm"))
    assert sample_dicom[0].dtype == np.float32 and sample_dicom[0].shape == (16, 16)
    nifti = next(v for k, v in items.items() if k.endswith(".nii.gz"))
    assert nifti[0].dtype == np.uint8 and nifti[0].shape == (8, 8, 4) and nifti[1]["tags"] == ["ct", "followup"]
    import pydicom

    raw = pydicom.dcmread(get_testdata_file("CT_small.dcm")).pixel_array
    ct_volume, ct_meta = items["ct.dcm"]
    assert ct_volume.dtype == np.float32 and ct_volume.shape == (128, 128) and ct_meta["tags"] == ["extra"]
    assert (ct_volume == raw.astype(np.float32) - 1024).all()


# ------------------------------------------------------------------------------------------ choosing


def test_where_dict_collection_and_callable(loris_tree: Path) -> None:
    rows = [r for r in index_rows(loris_tree) if r["path"].endswith(".mnc")]
    passed = MirrorDataset(loris_tree, where={"qc.qc": "Pass"})
    assert [passed.metadata(i)["path"] for i in range(len(passed))] == [
        r["path"] for r in rows if r.get("qc.qc") == "Pass"
    ]
    visits = sorted({r["visit"] for r in rows})[:2]
    chosen = MirrorDataset(loris_tree, where={"visit": visits, "output_type": ("defaced",)})
    assert len(chosen) == sum(r["visit"] in visits and r["output_type"] == "defaced" for r in rows) > 0
    picked = MirrorDataset(loris_tree, where=lambda m: m["acquisition_type"] == "t1w-defaced")
    assert len(picked) == sum(r["acquisition_type"] == "t1w-defaced" for r in rows) > 0
    assert len(MirrorDataset(loris_tree, where={"no such column": 1})) == 0


def test_where_on_a_list_column_matches_any_of_its_values(tmp_path: Path) -> None:
    root = datamint_mirror(tmp_path / "dm")
    followup = MirrorDataset(root, where={"tags": "followup"})
    assert len(followup) == 1 and followup.metadata(0)["filename"].endswith(".nii.gz")


def test_target_and_transform(loris_tree: Path) -> None:
    dataset = MirrorDataset(loris_tree, transform=lambda v: v.mean(), target=lambda m: m.get("qc.qc") == "Pass")
    value, label = dataset[0]
    assert isinstance(label, bool) and float(value) > 0
    arrays, labels = collate([dataset[0], dataset[1]])  # numpy arrays, or tensors once torch is imported
    assert tuple(arrays.shape) == (2,) and labels.tolist() == [label, dataset[1][1]]


# ------------------------------------------------------------------------------------------ errors


def test_a_file_that_does_not_load_raises_with_its_path_or_is_skipped(loris_tree: Path) -> None:
    dataset = MirrorDataset(loris_tree)
    broken = dataset.metadata(1)["path"]
    (loris_tree / broken).write_bytes(b"\x89HDF\r\n\x1a\n not a volume")
    with pytest.raises(UnreadableFileError, match=broken.replace("/", ".")):
        dataset[1]
    skipping = MirrorDataset(loris_tree, on_error="skip")
    assert skipping[1] is None and skipping[0] is not None
    arrays, metadata = collate([skipping[0], skipping[1], skipping[0]])
    assert len(metadata) == 2 and len(arrays) == 2


def test_an_image_format_it_cannot_read_is_refused_at_construction_or_left_out(loris_tree: Path) -> None:
    journal_file(loris_tree, "extra/scan.nrrd", b"NRRD0004\n")
    with pytest.raises(UsageError, match=r"1 files .* \(extra/scan.nrrd\).*on_error='skip'"):
        MirrorDataset(loris_tree)
    paths = [r["path"] for r in index_rows(loris_tree)]
    skipped = MirrorDataset(loris_tree, on_error="skip")
    assert "extra/scan.nrrd" in paths and all(
        skipped.metadata(i)["path"] != "extra/scan.nrrd" for i in range(len(skipped))
    )
    assert len(MirrorDataset(loris_tree, where=lambda m: not m["path"].endswith(".nrrd"))) == len(skipped)
    with pytest.raises(UsageError, match="on_error"):
        MirrorDataset(loris_tree, on_error="ignore")


def test_a_folder_that_is_not_a_mirror_is_one_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a neurofetch mirror"):
        MirrorDataset(tmp_path)


# ------------------------------------------------------------------------------------------ for workers


def test_construction_opens_no_image_file_and_items_read_the_file_of_now(loris_tree: Path) -> None:
    opened: list[str] = []
    watching = [True]

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if watching[0] and event == "open" and isinstance(args[0], (str, Path)) and str(args[0]).endswith(".mnc"):
            opened.append(str(args[0]))

    sys.addaudithook(hook)
    try:
        dataset = MirrorDataset(loris_tree)
        assert opened == []
        dataset[0]
        assert opened and opened[-1].endswith(dataset.metadata(0)["path"])
    finally:
        watching[0] = False


def test_pickles_small_and_unpickles_to_the_same_items(loris_tree: Path) -> None:
    dataset = MirrorDataset(loris_tree, on_error="skip")
    data = pickle.dumps(dataset)
    assert len(data) < 1000 * len(dataset)
    again = pickle.loads(data)
    assert len(again) == len(dataset) and again.metadata(3) == dataset.metadata(3)
    assert (again[3][0] == dataset[3][0]).all() and again.on_error == "skip"


def test_importing_neurofetch_data_imports_no_torch_numpy_or_nibabel() -> None:
    code = (
        "import sys, neurofetch.data; "
        "print(sorted(m for m in ('torch', 'numpy', 'nibabel', 'h5py') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
