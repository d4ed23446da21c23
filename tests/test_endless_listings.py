"""Paged listings that never end (each service's own misbehaviour, from the emulators' fault knobs): one line
naming the service's URL, exit 5, within seconds, in bounded memory, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from neurofetch.emulators.allen.app import AllenEmulator
from neurofetch.emulators.common import Faults
from neurofetch.emulators.neurovault.app import NeuroVaultEmulator
from neurofetch.services.datamint.api import PAGE_SIZE
from tests.datamint_support import datamint_server, env_for
from tests.helpers import high_water_kib, run_cli
from tests.resilience_support import the_error_line


def test_an_allen_answer_claiming_5_million_rows_one_per_page_stops_in_seconds_in_bounded_memory(
    tmp_path: Path,
) -> None:
    emulator = AllenEmulator(faults=Faults.parse("claimed_total=5000000,page_rows=1"))
    with emulator.serve() as server:
        url = emulator.base_url(server)
        started = time.monotonic()
        # The child's own high-water mark (VmHWM of its program, read while it runs): getrusage's maxrss of a
        # child also counts the pages of the pytest process it was forked from.
        out, err = tmp_path / "stdout", tmp_path / "stderr"
        with out.open("w") as stdout_file, err.open("w") as stderr_file:
            child = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "neurofetch",
                    "--json",
                    "atlas-image",
                    "--atlas-images",
                    "1",
                    "--downsample",
                    "6",
                    "--out",
                    str(tmp_path / "out"),
                ],
                env={**os.environ, "NEUROFETCH_URL": url, "NEUROFETCH_SERVICE": "allen"},
                stdout=stdout_file,
                stderr=stderr_file,
            )
            peak_kib = 0
            while child.poll() is None and time.monotonic() - started < 60:
                peak_kib = max(peak_kib, high_water_kib(child.pid))
                time.sleep(0.05)
            child.wait(timeout=5)
        stdout, stderr = out.read_text(), err.read_text()
        seconds = time.monotonic() - started
        queries = emulator.log.count(lambda e: e.path.endswith("/query.json"))
    assert child.returncode == 5, stderr
    line = the_error_line(stderr)
    assert "paging does not end" in line and "announces 5000000 rows" in line and url in line
    assert json.loads(stdout)["exit_code"] == 5
    assert seconds < 30 and queries < 1000
    assert 0 < peak_kib < 500_000  # far from the 2.7 GB of allocating the claimed pages


def test_allen_pages_that_ignore_start_row_stop_the_run(tmp_path: Path) -> None:
    emulator = AllenEmulator(faults=Faults.parse("ignore_offset=1,page_rows=5"))
    with emulator.serve() as server:
        url = emulator.base_url(server)
        result = run_cli(
            "atlas-image",
            "--atlas-images",
            "1",
            "--downsample",
            "6",
            "--out",
            tmp_path / "out",
            env={"NEUROFETCH_URL": url, "NEUROFETCH_SERVICE": "allen"},
        )
    assert result.code == 5
    line = the_error_line(result.stderr)
    assert "pages in a row repeat rows already listed" in line and url in line


def test_neurovault_next_links_that_move_on_forever_over_the_same_rows_stop_the_run(tmp_path: Path) -> None:
    emulator = NeuroVaultEmulator(faults=Faults.parse("ignore_offset=1,claimed_total=5000000,page_rows=2"))
    with emulator.serve() as server:
        url = emulator.base_url(server)
        cid = emulator.collections[0]["id"]
        started = time.monotonic()
        result = run_cli(
            "--json",
            "mirror",
            tmp_path / "nv",
            "--collection",
            str(cid),
            env={"NEUROFETCH_SERVICE": "neurovault", "NEUROFETCH_URL": url},
        )
        pages = emulator.log.count(lambda e: e.path.endswith(f"/collections/{cid}/images/"))
    assert result.code == 5, result.stderr
    line = the_error_line(result.stderr)
    assert f"images of collection {cid}: the server's paging does not end" in line
    assert f"{url}/api/collections/{cid}/images/" in line
    assert pages <= 4 and time.monotonic() - started < 20
    assert result.json["status"] == "failed"


def test_neurovault_empty_pages_while_millions_are_announced_stop_the_run(tmp_path: Path) -> None:
    emulator = NeuroVaultEmulator(faults=Faults.parse("claimed_total=5000000,page_rows=1"))
    with emulator.serve() as server:
        cid = emulator.collections[0]["id"]
        result = run_cli(
            "mirror",
            tmp_path / "nv",
            "--collection",
            str(cid),
            env={"NEUROFETCH_SERVICE": "neurovault", "NEUROFETCH_URL": emulator.base_url(server)},
        )
    assert result.code == 5
    assert "is empty, though it announces 5000000 rows" in the_error_line(result.stderr)


def test_a_datamint_server_that_ignores_offset_stops_the_run(tmp_path: Path) -> None:
    with datamint_server(faults=Faults.parse("ignore_offset=1")) as emulator:
        for n in range(PAGE_SIZE + 1):
            emulator.add_resource(f"scan{n:05d}.dcm", b"x", channel="ct")
        started = time.monotonic()
        result = run_cli("mirror", tmp_path / "dm", "--include", "nothing-is-called-this", env=env_for(emulator))
        pages = emulator.log.count(lambda e: e.path == "/resources")
    assert result.code == 5, result.stderr
    line = the_error_line(result.stderr)
    assert "resource list: the server's paging does not end" in line and f"{emulator.url}/resources" in line
    assert pages == 3 and time.monotonic() - started < 30
