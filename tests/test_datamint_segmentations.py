"""`neurofetch mirror` of a Datamint project brings each resource's segmentations: the mask files beside the
resource, with their annotation records, resumable like every other file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.datamint_support import PROJECT, datamint_server, env_for, segmented_project
from tests.helpers import run_cli


@pytest.fixture
def project() -> Iterator[tuple[Any, dict[str, Any]]]:
    with datamint_server() as emulator:
        yield emulator, segmented_project(emulator)


def file_gets(emulator: Any) -> list[str]:
    return [e.path for e in emulator.log.entries() if e.method == "GET" and e.path.endswith("/file")]


def test_mirror_fetches_the_segmentation_masks_beside_their_resources(project, tmp_path: Path) -> None:
    emulator, made = project
    dest = tmp_path / "dm"
    result = run_cli("--json", "mirror", dest, "--project", PROJECT, env=env_for(emulator))
    assert result.code == 0, result.stderr
    png, nifti, frame, volume = made["png"], made["nifti"], made["frame"], made["volume"]
    frame_mask = dest / "us" / f"{png.id}_seg-{frame.id}.png"
    label_volume = dest / "mri" / f"{nifti.id}_seg-{volume.id}.nii.gz"
    assert frame_mask.read_bytes() == made["masks"][frame.id]
    assert label_volume.read_bytes() == made["masks"][volume.id]
    record = json.loads((dest / "mri" / f"{label_volume.name}.json").read_text())
    assert record["class_map"] == {"1": "tumor", "2": "edema"} and record["resource_id"] == nifti.id
    assert json.loads((dest / "us" / f"{frame_mask.name}.json").read_text())["frame_index"] == 0
    masks = sorted(p.name for p in dest.rglob("*_seg-*") if not p.name.endswith(".json"))
    assert masks == sorted([frame_mask.name, label_volume.name])  # no file for a label or a mask never drawn
    assert not (dest / "us" / f"{made['other'].id}_other.png").exists()
    label = json.loads((dest / "us" / f"{png.id}_annotation-{made['label'].id}.json").read_text())
    assert label["type"] == "label" and label["identifier"] == "benign"  # annotations without a file: records

    rows = {r["path"]: r for r in run_cli("--json", "index", dest, env=env_for(emulator)).json["files"]}
    assert rows[f"us/{png.id}_scan.png"]["segmentations"] == [f"us/{frame_mask.name}"]
    assert rows[f"us/{frame_mask.name}"]["segmentation_of"] == f"us/{png.id}_scan.png"

    before = file_gets(emulator)
    again = run_cli("--json", "mirror", dest, "--project", PROJECT, env=env_for(emulator))
    assert again.code == 0 and again.json["counts"].get("downloaded", 0) == 0
    assert file_gets(emulator) == before


def test_a_mask_interrupted_midway_is_fetched_again(project, tmp_path: Path) -> None:
    emulator, made = project
    dest = tmp_path / "dm"
    assert run_cli("mirror", dest, "--project", PROJECT, env=env_for(emulator)).code == 0
    mask = dest / "us" / f"{made['png'].id}_seg-{made['frame'].id}.png"
    mask.unlink()
    result = run_cli("--json", "mirror", dest, "--project", PROJECT, env=env_for(emulator))
    assert result.code == 0 and result.json["counts"]["downloaded"] == 1
    assert mask.read_bytes() == made["masks"][made["frame"].id]
