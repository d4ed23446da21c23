"""`neurofetch upload` and `login` against the Datamint emulator, with real DICOM, NIfTI and PNG files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.datamint_support import (
    KEY,
    datamint_server,
    env_for,
    mixed_study,
    nifti_bytes,
    png_bytes,
    pydicom_sample,
    upload_posts,
)
from tests.helpers import run_cli

STUDY_FILES = 4 + 7 + 3  # CT slices, MR slices, phi.dcm + t1.nii.gz + photo.png


@pytest.fixture
def datamint() -> Iterator[Any]:
    with datamint_server() as emulator:
        yield emulator


def test_mixed_folder_upload(datamint, tmp_path: Path) -> None:
    study = mixed_study(tmp_path)
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"site": "montreal"}))
    result = run_cli(
        "--json",
        "upload",
        study,
        "-r",
        "--channel",
        "trial-7",
        "--tag",
        "baseline",
        "--tag",
        "t 2",
        "--metadata",
        meta,
        "--mung-filename",
        "1,2",
        "--project",
        "Brain MRI Study",
        env=env_for(datamint),
    )
    assert result.code == 0, result.stderr
    stored = {r.source_filepath: r for r in datamint.resources()}
    assert len(stored) == STUDY_FILES
    assert "study/misc/notes.txt" not in stored and "study/anat/t1.json" not in stored
    assert result.json["resources"] == {path: r.id for path, r in stored.items()}
    for path, record in stored.items():
        assert not path.startswith("/") and str(tmp_path) not in json.dumps(record.upload_fields)
        assert record.upload_channel == "trial-7" and record.tags == ["baseline", "t 2"]
        assert record.status == "published"
        assert record.metadata["site"] == "montreal"
    assert stored["study/ct/17136"].filename == "study_ct_17136"
    assert stored["study/anat/t1.nii.gz"].filename == "study_anat_t1.nii.gz"
    nifti = stored["study/anat/t1.nii.gz"]
    assert nifti.mimetype == "application/nifti" and nifti.modality == "MR"
    assert nifti.metadata == {"site": "montreal", "Modality": "MR", "EchoTime": 0.03}
    assert nifti.data == (study / "anat" / "t1.nii.gz").read_bytes()
    assert stored["study/misc/photo.png"].data == (study / "misc" / "photo.png").read_bytes()
    assert stored["study/ct/17136"].mimetype == "application/dicom"
    project = datamint.project_named("Brain MRI Study")
    assert set(project.resource_ids) == {r.id for r in stored.values()}


def test_rerun_uploads_nothing(datamint, tmp_path: Path) -> None:
    study = mixed_study(tmp_path)
    first = run_cli("--json", "upload", study, "-r", env=env_for(datamint))
    assert first.code == 0, first.stderr
    posts = upload_posts(datamint)
    second = run_cli("--json", "upload", study, "-r", env=env_for(datamint))
    assert second.code == 0, second.stderr
    assert upload_posts(datamint) == posts == STUDY_FILES
    assert second.json["counts"] == {"already_uploaded": STUDY_FILES}
    assert second.json["resources"] == first.json["resources"]
    assert "already uploaded" in second.stderr


def test_dry_run_shows_names_anonymization_and_size_without_a_key(datamint, tmp_path: Path) -> None:
    study = mixed_study(tmp_path)
    result = run_cli("upload", study, "-r", "--dry-run", "--mung-filename", "all", env=env_for(datamint, key=None))
    assert result.code == 0, result.stderr
    assert datamint.log.entries() == []
    lines = result.stdout.splitlines()
    assert len(lines) == STUDY_FILES
    assert "upload: study/ct/17136 as study_ct_17136, de-identified first" in result.stdout
    assert any(
        line.startswith("upload: study/anat/t1.nii.gz as study_anat_t1.nii.gz (") and "de-identified" not in line
        for line in lines
    )
    assert "12 DICOM file(s) de-identified locally first" in result.stderr
    as_json = run_cli("--json", "upload", study, "-r", "--dry-run", env=env_for(datamint, key=None)).json
    total = sum(p.stat().st_size for p in study.rglob("*") if p.is_file() and p.suffix not in (".txt", ".json"))
    assert as_json["bytes"] == total and as_json["counts"] == {"to_upload": STUDY_FILES}


def test_wrong_key_exits_3_with_one_line(datamint, tmp_path: Path) -> None:
    study = mixed_study(tmp_path)
    result = run_cli("upload", study, "-r", env=env_for(datamint, key="not-the-key"))
    assert result.code == 3
    assert len(result.stderr.strip().splitlines()) == 1 and "refused the API key" in result.stderr
    assert "not-the-key" not in result.stderr
    assert upload_posts(datamint) == 0


def test_unknown_project_exits_2_listing_projects(datamint, tmp_path: Path) -> None:
    study = mixed_study(tmp_path)
    result = run_cli("upload", study, "-r", "--project", "No Such Study", env=env_for(datamint))
    assert result.code == 2
    assert "Brain MRI Study" in result.stderr and "Ultrasound Screening" in result.stderr
    assert upload_posts(datamint) == 0


def test_unreadable_file_fails_alone(datamint, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "broken.dcm").write_bytes(b"this is not DICOM at all" * 10)
    (folder / "photo.png").write_bytes(png_bytes())
    result = run_cli("--json", "upload", folder, env=env_for(datamint))
    assert result.code == 1
    assert [f["item"] for f in result.json["failures"]] == ["mixed/broken.dcm"]
    assert "not a readable DICOM file" in result.json["failures"][0]["error"]
    assert "failed: mixed/broken.dcm" in result.stderr
    assert [r.filename for r in datamint.resources()] == ["photo.png"]


def test_bad_arguments_are_usage_errors(datamint, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(png_bytes())
    for args, words in (
        (["--tag", "a,b"], "comma"),
        (["--mung-filename", "0"], "--mung-filename"),
        (["--metadata", str(tmp_path / "missing.json")], "--metadata"),
    ):
        result = run_cli("upload", photo, *args, env=env_for(datamint))
        assert result.code == 2 and words in result.stderr, result.stderr
    missing = run_cli("upload", tmp_path / "nope", env=env_for(datamint))
    assert missing.code == 2 and "no such file or folder" in missing.stderr
    loris = run_cli("--url", datamint.url, "--service", "loris", "upload", photo, env={})
    assert loris.code == 2 and "upload needs a datamint profile" in loris.stderr
    assert len(loris.stderr.strip().splitlines()) == 1
    assert upload_posts(datamint) == 0


def test_login_keeps_the_key_and_later_runs_use_it(datamint, memory_keyring, tmp_path: Path) -> None:
    env = {**env_for(datamint, key=None)}
    wrong = run_cli("login", "--api-key-stdin", input="wrong-key\n", env=env)
    assert wrong.code == 3 and len(wrong.stderr.strip().splitlines()) == 1
    assert memory_keyring.store == {}
    good = run_cli("login", "--api-key-stdin", input=f"{KEY}\n", env=env)
    assert good.code == 0, good.stderr
    assert KEY not in good.stderr + good.stdout
    assert KEY in memory_keyring.store.values()
    photo = tmp_path / "photo.png"
    photo.write_bytes(png_bytes())
    assert run_cli("upload", photo, env=env).code == 0
    assert len(datamint.resources()) == 1
    assert run_cli("logout", env=env).code == 0 and memory_keyring.store == {}
    again = run_cli("upload", photo, "--channel", "other", env=env)
    assert again.code == 3 and "neurofetch login" in again.stderr


def test_official_client_variables_are_honoured(datamint, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(png_bytes())
    env = {"DATAMINT_API_URL": datamint.url, "DATAMINT_API_KEY": KEY}
    result = run_cli("--json", "upload", photo, env=env)
    assert result.code == 0, result.stderr
    assert list(result.json["resources"]) == ["photo.png"]
    assert KEY not in result.stdout + result.stderr


def test_lost_answer_is_checked_before_sending_again(datamint, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for index in range(3):
        (folder / f"img{index}.png").write_bytes(png_bytes((8 + index, 6)))
    datamint.drop_after_receive = 2
    result = run_cli("--json", "upload", folder, env={**env_for(datamint), "NEUROFETCH_JOBS": "1"})
    assert result.code == 0, result.stderr
    assert datamint.dropped == 2
    stored = datamint.resources()
    assert sorted(r.filename for r in stored) == ["img0.png", "img1.png", "img2.png"]  # no duplicate
    assert sorted(result.json["resources"].values()) == sorted(r.id for r in stored)
    assert datamint.log.count(lambda e: e.method == "GET" and "filename=" in e.query) >= 2


def test_upload_left_unknown_by_an_earlier_run_is_found_not_resent(datamint, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(png_bytes())
    datamint.drop_after_receive = 1  # stored, then the connection closes without an answer
    first = run_cli("--json", "upload", photo, env={**env_for(datamint), "NEUROFETCH_RETRIES": "0"})
    assert first.code == 1 and "connection closed" in first.json["failures"][0]["error"]
    assert len(datamint.resources()) == 1
    second = run_cli("--json", "upload", photo, env=env_for(datamint))
    assert second.code == 0, second.stderr
    assert second.json["counts"] == {"found_already_uploaded": 1}
    assert second.json["resources"] == {"photo.png": datamint.resources()[0].id}
    assert upload_posts(datamint) == 1 and len(datamint.resources()) == 1


def test_killed_run_resumes_without_duplicates(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(12):
        (folder / f"img{index:02d}.png").write_bytes(png_bytes((8 + index, 6)))
    from neurofetch.emulators.common import Faults

    with datamint_server(faults=Faults(latency=0.15)) as slow:
        env = {
            **{k: v for k, v in env_for(slow).items() if v},
            "NEUROFETCH_JOBS": "2",
            "XDG_STATE_HOME": os.environ["XDG_STATE_HOME"],
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "neurofetch", "upload", str(folder)],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while len(slow.resources()) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        time.sleep(0.5)  # let the server finish what was already on the wire
        partial = len(slow.resources())
        assert 4 <= partial < 12
        resumed = run_cli("--json", "upload", folder, env=env)
        assert resumed.code == 0, resumed.stderr
        names = [r.filename for r in slow.resources()]
        assert sorted(names) == sorted(f"img{i:02d}.png" for i in range(12))  # each exactly once
        counts = resumed.json["counts"]
        assert counts["uploaded"] + counts.get("already_uploaded", 0) + counts.get("found_already_uploaded", 0) == 12


def test_sigterm_stops_cleanly_with_exit_130(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(10):
        (folder / f"img{index:02d}.png").write_bytes(png_bytes((8 + index, 6)))
    from neurofetch.emulators.common import Faults

    with datamint_server(faults=Faults(latency=0.2)) as slow:
        env = {**os.environ, **{k: v for k, v in env_for(slow).items() if v}, "NEUROFETCH_JOBS": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "neurofetch", "upload", str(folder)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while len(slow.resources()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
        assert proc.returncode == 130, stderr
        assert "run the same command again" in stderr


def test_nifti_segmentation_is_attached_once(datamint, tmp_path: Path) -> None:
    volume = tmp_path / "brain.nii.gz"
    volume.write_bytes(nifti_bytes())
    seg = tmp_path / "brain_seg.nii.gz"
    seg.write_bytes(nifti_bytes(labels=True))
    names = tmp_path / "labels.yaml"
    names.write_text("1: tumor\n2: edema\n")
    args = ("--json", "upload", volume, "--segmentation", seg, "--segmentation-names", names)
    result = run_cli(*args, env=env_for(datamint))
    assert result.code == 0, result.stderr
    resource_id = result.json["resources"]["brain.nii.gz"]
    segs = datamint.segmentations(resource_id)
    assert len(segs) == 1
    assert segs[0].file == seg.read_bytes() and segs[0].class_map == {"1": "tumor", "2": "edema"}
    assert run_cli(*args, env=env_for(datamint)).code == 0
    assert len(datamint.segmentations(resource_id)) == 1


def test_png_mask_attached_to_an_existing_resource(datamint, tmp_path: Path) -> None:
    from PIL import Image

    photo = tmp_path / "us.png"
    photo.write_bytes(png_bytes())
    resource_id = run_cli("--json", "upload", photo, env=env_for(datamint)).json["resources"]["us.png"]
    mask = tmp_path / "mask.png"
    mask.write_bytes(png_bytes(mask=True))
    result = run_cli(
        "upload",
        "--resource-id",
        resource_id,
        "--segmentation",
        mask,
        "--segmentation-name",
        "lesion",
        env=env_for(datamint),
    )
    assert result.code == 0, result.stderr
    segs = datamint.segmentations(resource_id)
    assert [(s.identifier, s.frame_index) for s in segs] == [("lesion", 0)]
    image = Image.open(__import__("io").BytesIO(segs[0].file))
    assert sorted(set(image.tobytes())) == [0, 255]
    assert upload_posts(datamint) == 1


def test_segmentation_needs_one_target(datamint, tmp_path: Path) -> None:
    study = mixed_study(tmp_path)
    seg = tmp_path / "s.nii.gz"
    seg.write_bytes(nifti_bytes(labels=True))
    result = run_cli("upload", study, "-r", "--segmentation", seg, "--segmentation-name", "x", env=env_for(datamint))
    assert result.code == 2 and "--resource-id" in result.stderr


def test_shards_split_the_files_and_together_upload_each_once(datamint, tmp_path: Path) -> None:
    series = tmp_path / "mr"
    import shutil

    shutil.copytree(pydicom_sample("dicomdirtests/98892003/MR700"), series)
    got: dict[str, str] = {}
    for k in (1, 2, 3):
        result = run_cli("--json", "upload", series, "--shard", f"{k}/3", env=env_for(datamint))
        assert result.code == 0, result.stderr
        assert not set(got) & set(result.json["resources"])
        got.update(result.json["resources"])
    assert len(got) == 7 == len(datamint.resources())
