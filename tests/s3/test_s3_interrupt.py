"""`s3-sync` stopped by Ctrl-C or SIGTERM: exit 130 and its `--json` document, like every command."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.resilience_support import start_background, wait_until
from tests.s3.helpers import S3Env
from tests.test_interrupt_every_command import stopped_with_a_document

FILES = 3000  # enough that a loaded machine cannot finish them all before the signal arrives


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_s3_sync_upload_interrupted_mid_files(s3: S3Env, tmp_path: Path, sig: int) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for index in range(FILES):
        (src / f"f{index:04d}.bin").write_bytes(b"x" * 2048)
    run = start_background(
        "--json", "s3-sync", src, s3.url(), "--endpoint-url", s3.endpoint, "-j", "1", env={}, logs=tmp_path / "logs"
    )
    wait_until(lambda: len(data_objects(s3)) >= 5, what="five objects", process=run, timeout=60)
    document = stopped_with_a_document(run, sig)
    landed = len(data_objects(s3))
    assert document["command"] == "s3-sync" and landed < FILES
    # -j 1: at most one upload was in flight, stored by the server but not yet confirmed to the run
    assert landed - 1 <= document["counts"]["uploaded"] <= landed


def data_objects(s3: S3Env) -> list[str]:
    """The synced objects, without the run's own lock object below the prefix."""
    return [key for key in s3.objects() if not key.startswith(".neurofetch/")]
