"""One large file in one stream: byte-exact, and the memory its pieces pass through is reused rather than
faulted in again for every block (the CPU that costs shows in section 3 of docs/benchmarks.md)."""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

import pytest

from neurofetch.emulators.common import RunningServer
from neurofetch.emulators.loris.app import LorisEmulator
from neurofetch.emulators.loris.data import LorisDataset
from tests.helpers import run_subprocess
from tests.resilience_support import Loris

SIZE = 128 << 20


def mirrored_with_page_faults(loris: Loris, dest: Path, filename: str) -> tuple[int, int]:
    """Exit code and minor page faults of one `neurofetch mirror` of ``filename`` in a process of its own."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt
    result = run_subprocess(
        "--json", "mirror", dest, "--include", filename, "--no-qc", "--segments", "1", env=loris.env()
    )
    assert result.code == 0, result.stderr
    return result.code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt - before


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"),
    reason="page-fault accounting of glibc's allocator on Linux",
)
def test_a_large_body_reuses_its_memory_instead_of_faulting_it_in_per_block(tmp_path: Path) -> None:
    dataset = LorisDataset(candidates=1, big_file_size=SIZE)
    emulator = LorisEmulator(dataset)
    server = RunningServer(emulator.app).start()
    big = dataset.big_file
    assert big is not None
    small = min((f for f in dataset.files if not f.big), key=lambda f: f.size)
    try:
        loris = Loris(emulator, emulator.base_url(server))
        _, faults_small = mirrored_with_page_faults(loris, tmp_path / "small", small.filename)
        _, faults_big = mirrored_with_page_faults(loris, tmp_path / "big", big.filename)
    finally:
        server.stop()
    assert (tmp_path / "big" / big.path).read_bytes() == dataset.content(*big.key)
    # Faulting every piece in anew costs ~100,000 faults per GiB (~12,500 here); reused memory a few hundred.
    assert faults_big - faults_small < 4_000, (faults_small, faults_big)
