"""The emulators' sample files open in the libraries people read them with."""

from __future__ import annotations

import gzip
import io
import random

import nibabel
import pydicom
from PIL import Image

from neurofetch.emulators import formats
from neurofetch.emulators.datamint.samples import sample_files
from neurofetch.emulators.neurovault.data import NeuroVaultData


def test_nifti_volumes_load_with_their_shape_values_and_affine() -> None:
    values = [float(i) for i in range(2 * 3 * 4)]
    image = nibabel.Nifti1Image.from_bytes(
        gzip.decompress(
            formats.nifti1_gz(
                (2, 3, 4), "float32", values, voxel_mm=2.0, origin=(-10.0, -20.0, -30.0), space=formats.NIFTI_SPACE_MNI
            )
        )
    )
    assert image.shape == (2, 3, 4)
    assert image.get_fdata().flatten(order="F").tolist() == values
    assert image.affine[:3, :].tolist() == [[2, 0, 0, -10], [0, 2, 0, -20], [0, 0, 2, -30]]
    assert image.header.get_sform(coded=True)[1] == formats.NIFTI_SPACE_MNI

    data = NeuroVaultData(collections=1)
    zmap = next(i for i in data.collections[0].images if i.record["map_type"] == "Z map")
    stat = nibabel.Nifti1Image.from_bytes(gzip.decompress(data.file_bytes(zmap)))
    assert stat.shape == zmap.volume.shape and stat.header.get_intent()[0] == "z score"
    assert stat.get_data_dtype() == "float32" and stat.affine[0, 3] == -90


def test_datamint_samples_are_real_png_dicom_and_nifti() -> None:
    seen = set()
    for sample in sample_files(3, seed=4):
        if sample.mimetype == "image/png":
            image = Image.open(io.BytesIO(sample.data))
            assert image.mode == "L" and image.size[0] in (16, 24, 32)
        elif sample.mimetype == "application/dicom":
            assert sample.data[:128] == bytes(128) and sample.data[128:132] == b"DICM"
            ds = pydicom.dcmread(io.BytesIO(sample.data))
            assert (ds.Modality, ds.Rows, ds.Columns, len(ds.PixelData)) == ("MR", 16, 16, 256)
        else:
            image = nibabel.Nifti1Image.from_bytes(gzip.decompress(sample.data))
            assert image.shape == (8, 8, 4)
        seen.add(sample.mimetype)
    assert seen == {"image/png", "application/dicom", "application/nifti"}
    assert [s.data for s in sample_files(3, seed=4)] == [s.data for s in sample_files(3, seed=4)]


def test_png_greyscale_keeps_every_pixel() -> None:
    pixels = random.Random(0).randbytes(5 * 7)
    assert Image.open(io.BytesIO(formats.png_greyscale(5, 7, pixels))).tobytes() == pixels
