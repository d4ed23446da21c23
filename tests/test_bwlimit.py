"""--bwlimit RATE: one cap on the whole run's bandwidth, every parallel transfer up and down together.

Bounded, not timed: whatever the machine's speed, the bytes a run moves in its wall time never exceed
``limit × time + one burst``; each test checks that bound for the run's own byte count (only ever slower is fine).
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest

from neurofetch.emulators.common import Faults
from neurofetch.net.bandwidth import Bandwidth, parse_rate
from tests.helpers import run_cli
from tests.test_no_tracebacks import profile_env, served


def assert_within(nbytes: int, seconds: float, rate: int) -> None:
    burst = Bandwidth(rate).burst
    assert nbytes > 3 * burst  # enough bytes that the bound means something
    assert nbytes <= rate * seconds + burst, f"{nbytes} bytes in {seconds:.2f} s beat {rate} B/s"


def test_rates_are_read_as_bytes_per_second() -> None:
    assert [parse_rate(text) for text in ("10M", "500k", "1.5G", "2000", "10MB/s")] == [
        10_000_000,
        500_000,
        1_500_000_000,
        2000,
        10_000_000,
    ]


def test_a_bad_rate_is_a_usage_error(loris_env, tmp_path: Path) -> None:
    result = run_cli("mirror", tmp_path / "d", "--bwlimit", "fast", env=loris_env)
    assert result.code == 2 and "--bwlimit" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "d").exists()


def test_mirror_downloads_stay_under_the_limit_across_parallel_files(loris, loris_env, tmp_path: Path) -> None:
    candidate = sorted(loris.dataset.expected_tree())[0].split("/")[0]
    rate = 2_000_000
    started = time.monotonic()
    result = run_cli(
        "--json",
        "mirror",
        tmp_path / "d",
        "--candidate",
        candidate,
        "--jobs",
        "8",
        "--bwlimit",
        "2M",
        env={**loris_env, "NEUROFETCH_PROGRESS_INTERVAL": "0"},
    )
    elapsed = time.monotonic() - started
    assert result.code == 0, result.stderr
    assert_within(result.json["bytes"], elapsed, rate)
    assert "(--bwlimit 2.0 MB/s)" in result.stderr  # the progress line says the run is capped


@pytest.mark.parametrize("how", ["env", "profile"])
def test_the_profile_and_the_environment_set_the_limit_too(loris, loris_env, tmp_path: Path, how: str) -> None:
    from tests.test_lock_wait import with_profile_key

    candidate = sorted(loris.dataset.expected_tree())[0].split("/")[0]
    env = (
        {**loris_env, "NEUROFETCH_BWLIMIT": "3M"} if how == "env" else with_profile_key(loris, tmp_path, "bwlimit: 3M")
    )
    started = time.monotonic()
    result = run_cli("--json", "mirror", tmp_path / "d", "--candidate", candidate, env=env)
    assert result.code == 0, result.stderr
    assert_within(result.json["bytes"], time.monotonic() - started, 3_000_000)


def test_uploads_stay_under_the_limit(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "scans"
    folder.mkdir()
    total = 0
    for n in range(6):  # noise: PNG cannot shrink it, so each file is about 360 kB on the wire
        buffer = io.BytesIO()
        Image.frombytes("L", (600, 600), os.urandom(600 * 600)).save(buffer, format="PNG")
        (folder / f"scan{n}.png").write_bytes(buffer.getvalue())
        total += len(buffer.getvalue())
    rate = 1_000_000
    with served("datamint", Faults()) as (_, url):
        started = time.monotonic()
        result = run_cli(
            "upload", folder, "--retain-pii", "--bwlimit", "1M", env=profile_env("datamint", url, tmp_path)
        )
        elapsed = time.monotonic() - started
    assert result.code == 0, result.stderr
    assert_within(total, elapsed, rate)
