"""Ctrl-C and SIGTERM on every command: exit 130, the summary and a `--json` document saying what was done.

Each case is a real process, signalled at a moment chosen through the server it talks to.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.datamint_support import datamint_server, env_for, png_bytes
from tests.helpers import run_cli
from tests.resilience_support import Background, start_background, wait_until

SIGNALS = pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])


@pytest.fixture
def datamint() -> Iterator[Any]:
    with datamint_server() as emulator:
        yield emulator


def images(folder: Path, count: int) -> Path:
    folder.mkdir()
    for index in range(count):
        (folder / f"img{index:02d}.png").write_bytes(png_bytes((8 + index, 6)))
    return folder


def stopped_with_a_document(run: Background, sig: int) -> dict[str, Any]:
    """Signal ``run``; it must end at once with exit 130, a one-line note and its --json document."""
    run.signal(sig)
    code = run.wait(timeout=15)
    assert code == 130, run.stderr
    assert "Traceback" not in run.stderr
    assert "interrupted; run the same command again to resume" in run.stderr
    document = json.loads(run.stdout)
    assert document["exit_code"] == 130 and document["status"] == "failed"
    return document


def datamint_env(emulator: Any) -> dict[str, str]:
    return {k: v for k, v in env_for(emulator).items() if v is not None}


@SIGNALS
def test_upload_interrupted_while_adding_to_the_project(datamint: Any, tmp_path: Path, sig: int) -> None:
    folder = images(tmp_path / "imgs", 3)
    datamint.project_add_delay = 30.0
    run = start_background(
        "--json", "upload", folder, "--project", "Brain MRI Study", env=datamint_env(datamint), logs=tmp_path / "logs"
    )
    wait_until(lambda: datamint.project_adds_begun >= 1, what="the project addition", process=run)
    document = stopped_with_a_document(run, sig)
    assert document["counts"]["uploaded"] == 3 and len(document["resources"]) == 3
    assert "uploaded" in run.stderr  # the summary

    datamint.project_add_delay = 0.0
    again = run_cli("--json", "upload", folder, "--project", "Brain MRI Study", env=datamint_env(datamint))
    assert again.code == 0, again.stderr
    assert datamint.upload_posts == 3 and again.json["counts"]["already_uploaded"] == 3
    assert len(datamint.project_named("Brain MRI Study").resource_ids) == 3


@SIGNALS
def test_publish_interrupted_while_adding_to_the_project(tmp_path: Path, sig: int) -> None:
    with datamint_server(preload=4) as datamint:
        datamint.project_add_delay = 30.0
        run = start_background(
            "--json",
            "publish",
            "--all-inbox",
            "--project",
            "Ultrasound Screening",
            env=datamint_env(datamint),
            logs=tmp_path / "logs",
        )
        wait_until(lambda: datamint.project_adds_begun >= 1, what="the project addition", process=run)
        document = stopped_with_a_document(run, sig)
    assert document["command"] == "publish" and document["counts"].get("published", 0) >= 1


@SIGNALS
def test_mirror_interrupted_mid_files(tmp_path: Path, sig: int) -> None:
    from tests.resilience_support import serve_loris

    dest = tmp_path / "d"
    with serve_loris("drip=200000", size_scale=0.01) as loris:
        run = start_background("--json", "mirror", dest, "--jobs", "2", env=loris.env(), logs=tmp_path / "logs")
        wait_until(
            lambda: any(p.stat().st_size > 0 for p in dest.rglob("*.part") if p.exists()),
            what="a file half-way",
            process=run,
        )
        document = stopped_with_a_document(run, sig)
    assert document["command"] == "mirror"


@SIGNALS
def test_atlas_image_interrupted_mid_files(tmp_path: Path, sig: int) -> None:
    from neurofetch.emulators.allen.app import AllenEmulator
    from neurofetch.emulators.common import Faults

    emulator = AllenEmulator(faults=Faults(latency=0.2))
    with emulator.serve() as server:
        env = {"NEUROFETCH_URL": emulator.base_url(server), "NEUROFETCH_SERVICE": "allen"}
        out = tmp_path / "atlas"
        run = start_background(
            "--json",
            "atlas-image",
            "--atlas-images",
            "1",
            "--downsample",
            "6",
            "--out",
            out,
            env=env,
            logs=tmp_path / "logs",
        )
        wait_until(lambda: len(list(out.rglob("*.jpg"))) >= 2, what="two plates", process=run)
        document = stopped_with_a_document(run, sig)
    assert document["command"] == "atlas-image" and document["counts"]["downloaded"] >= 2
