"""Each failure is printed once while running and once in the summary, never twice in a row, -v or not."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path

import pytest

from neurofetch.emulators.allen.app import AllenEmulator
from tests.datamint_support import datamint_server, env_for, png_bytes
from tests.helpers import CliRun, run_cli
from tests.resilience_support import serve_loris

VERBOSITY = pytest.mark.parametrize("verbosity", [[], ["-v"]], ids=["plain", "verbose"])


def assert_told_once_running_and_once_in_summary(run: CliRun, failure: str) -> None:
    lines = run.stderr.splitlines()
    where = [i for i, line in enumerate(lines) if failure in line and not line.startswith("debug: ")]
    assert len(where) == 2, run.stderr
    assert where[1] - where[0] > 1, run.stderr
    shown = [line.removeprefix("debug: ") for line in lines]  # -v must not echo a line as a debug line
    assert [a for a, b in itertools.pairwise(shown) if a == b] == [], run.stderr
    assert "finished with problems" in lines[-1], run.stderr


@VERBOSITY
def test_mirror(verbosity: list[str], tmp_path: Path) -> None:
    with serve_loris("missing_files=1") as loris:
        run = run_cli(*verbosity, "mirror", tmp_path / "d", env=loris.env(NEUROFETCH_RETRIES="1"))
        broken = loris.emulator.dataset.files[0].path
    assert run.code == 1
    assert_told_once_running_and_once_in_summary(run, broken)


@VERBOSITY
def test_atlas_image(verbosity: list[str], tmp_path: Path) -> None:
    emulator = AllenEmulator()
    with emulator.serve() as server:
        env = {"NEUROFETCH_URL": emulator.base_url(server), "NEUROFETCH_SERVICE": "allen"}
        run = run_cli(*verbosity, "atlas-image", "123", "--out", tmp_path, env=env)
    assert run.code == 1
    assert_told_once_running_and_once_in_summary(run, "no AtlasImage has this id")


@VERBOSITY
def test_upload(verbosity: list[str], tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "broken.dcm").write_bytes(b"this is not DICOM at all" * 10)
    (folder / "photo.png").write_bytes(png_bytes())
    with datamint_server() as datamint:
        run = run_cli(*verbosity, "upload", folder, env=env_for(datamint))
    assert run.code == 1
    assert_told_once_running_and_once_in_summary(run, "broken.dcm is not a readable DICOM file")


@VERBOSITY
def test_publish(verbosity: list[str]) -> None:
    missing = str(uuid.uuid4())
    with datamint_server() as datamint:
        fresh = datamint.add_resource("f.png", png_bytes(), mimetype="image/png").id
        run = run_cli(*verbosity, "publish", fresh, missing, env=env_for(datamint))
    assert run.code == 1
    assert_told_once_running_and_once_in_summary(run, missing)


def test_quiet_tells_each_failure_once(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "broken.dcm").write_bytes(b"this is not DICOM at all" * 10)
    with datamint_server() as datamint:
        run = run_cli("-q", "upload", folder, env=env_for(datamint))
    assert run.code == 1
    assert run.stderr.count("broken.dcm is not a readable DICOM file") == 1, run.stderr
