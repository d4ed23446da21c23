"""The services' official clients, unmodified, against the emulators: allensdk's ImageDownloadApi/RmaApi and
nilearn's fetch_neurovault_ids. Each runs in its own virtual environment (.ci/run builds them; their interpreters
come in CONFORMANCE_ALLENSDK_PYTHON and CONFORMANCE_NILEARN_PYTHON), so their pins never meet ours."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from neurofetch.emulators.allen.app import AllenEmulator
from neurofetch.emulators.neurovault.app import NeuroVaultEmulator

pytestmark = pytest.mark.conformance
HERE = Path(__file__).parent


def run_flows(variable: str, script: str, *args: str) -> Any:
    python = os.environ.get(variable)
    if not python:
        pytest.skip(f"{variable} is not set (.ci/run sets it to an interpreter with the official client)")
    done = subprocess.run(
        [python, str(HERE / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": os.environ.get("PATH", ""), "HOME": args[1]},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_allensdk_image_download_and_rma_flows(tmp_path: Path) -> None:
    from PIL import Image

    emulator = AllenEmulator()
    with emulator.serve() as server:
        summary = run_flows("CONFORMANCE_ALLENSDK_PYTHON", "allen_flows.py", server.origin, str(tmp_path))
        sent = list(emulator.urls)
    plates = [p["id"] for p in emulator.atlas_images(1)]
    assert summary["plates"] == plates and summary["paged"] == plates[100:150]
    assert summary["atlas"] == [1] and summary["section_images"] == len(emulator.section_images(69782969))
    equalization = emulator.data.equalization(emulator.image(69750516) or {})
    assert equalization is not None
    assert summary["ranges"] == [
        [equalization[f"{c}_{end}"] for c in ("red", "green", "blue") for end in ("lower", "upper")]
    ]
    plate = emulator.image(summary["plate"]) or {}
    Image.MAX_IMAGE_PIXELS = None
    with Image.open(tmp_path / "plate_full.jpg") as full:
        assert full.size == (plate["width"], plate["height"])  # the default: full resolution
    with Image.open(tmp_path / "plate_ds4_annotated.jpg") as small:
        assert small.size == emulator.image_size(plate["id"], downsample=4)
    bodies = {
        name: (tmp_path / f"{name}.jpg").read_bytes()
        for name in ("section", "section_equalized", "section_full_range", "expression", "projection", "jet")
    }
    assert bodies["section"] == bodies.pop("section_equalized")  # the Equalization is the default range
    assert len(set(bodies.values())) == len(bodies)  # every other look is its own picture
    assert "/api/v2/image_download/69750516?downsample=5&colormap=0.5,0.0,0,256,2" in sent


def test_nilearn_fetch_neurovault_ids(tmp_path: Path) -> None:
    emulator = NeuroVaultEmulator()
    with emulator.serve() as server:
        for collection in (emulator.collections[0], emulator.collections[2]):  # a plain one, the quirky one
            cid = collection["id"]
            out = tmp_path / str(cid)
            out.mkdir()
            summary = run_flows("CONFORMANCE_NILEARN_PYTHON", "nilearn_flows.py", server.origin, str(out), str(cid))
            images = emulator.images(cid)
            assert sorted(summary["image_ids"]) == sorted(i["id"] for i in images)
            assert set(summary["collection_ids"]) == {cid}
            by_id = {i["id"]: i for i in images}
            for path, iid in zip(summary["images"], summary["image_ids"], strict=True):
                assert (out / path).read_bytes() == emulator.file_bytes(by_id[iid])
