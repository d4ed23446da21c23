"""A run's memory does not grow with the size of the tree: what it must remember of every path (who claimed it,
which listings were read, which names are the mirror's own) is not held in Python objects.

Measured with tracemalloc in this process, not timed: the memory a run holds at its peak beyond what is still
there after it (the emulator's request log and module caches stay; the run's own bookkeeping goes).
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from neurofetch.emulators.loris.app import LorisEmulator
from neurofetch.emulators.loris.data import LorisDataset
from tests.helpers import run_cli
from tests.resilience_support import Loris

MIB = 1 << 20


def held_by_ls(candidates: int, tmp_path: Path) -> tuple[float, int]:
    """The memory an `ls` of a tree of ``candidates`` held at its peak and gave back at its end; its row count."""
    emulator = LorisEmulator(LorisDataset(candidates=candidates, size_scale=0.0001))
    with emulator.serve() as server:
        env = Loris(emulator, emulator.base_url(server)).env()
        table = tmp_path / f"files-{candidates}.tsv"
        tracemalloc.start()
        try:
            result = run_cli("ls", "-o", table, "--jobs", "8", env=env)
            current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result.code == 0, result.stderr
    return (peak - current) / MIB, len(table.read_text().splitlines()) - 1


def test_a_tree_twenty_times_larger_is_listed_in_the_same_memory(tmp_path: Path) -> None:
    held_by_ls(2, tmp_path)  # imports and first-use caches out of the way
    small, small_rows = held_by_ls(10, tmp_path)
    large, large_rows = held_by_ls(200, tmp_path)
    assert large_rows > small_rows + 7000
    # Python sets of the paths took ~600 bytes per file (over 4 MiB more here). What is left is noise, the same
    # for both trees: the emulator serves in this process, and its responses in flight count too (up to ~0.5 MiB).
    assert large - small < 1.0, f"{small:.2f} MiB for {small_rows} files, {large:.2f} MiB for {large_rows}"
