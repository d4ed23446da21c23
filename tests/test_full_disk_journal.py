"""A disk that fills up at any moment, the state journal's included: one line, never a traceback."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_cli, small_tmpfs
from tests.resilience_support import assert_nothing_partial_taken_for_complete, data_files, serve_loris, the_error_line


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 3 MiB file system (tmpfs), remounted empty for each use; needs root and mount permission."""
    with small_tmpfs(tmp_path / "tiny", "3m") as where:
        yield where


def fill(disk: Path, leave: int) -> Path:
    stats = os.statvfs(disk)
    filler = disk / "filler"
    with open(filler, "wb") as out:
        out.write(b"\0" * max(0, stats.f_bavail * stats.f_frsize - leave))
    return filler


def recorded(dest: Path) -> int:
    """How many files the journal records complete (none when the disk was full before it had a table)."""
    try:
        with sqlite3.connect(f"{(dest / '.neurofetch' / 'state.sqlite3').as_uri()}?mode=ro", uri=True) as journal:
            return int(journal.execute("SELECT COUNT(*) FROM files").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


@pytest.mark.parametrize("free_kib", [0, 4, 16, 48, 96, 160, 400])
def test_a_disk_full_at_any_moment_is_one_line_and_the_next_run_completes(tiny_disk: Path, free_kib: int) -> None:
    dest = tiny_disk / "study"
    with serve_loris(size_scale=0.005) as loris:  # about 1.8 MB
        expected = loris.dataset.expected_tree()
        filler = fill(tiny_disk, free_kib * 1024)
        full = run_cli("--json", "mirror", dest, env=loris.env())
        assert full.code == 7, full.stderr
        assert "full" in the_error_line(full.stderr) or "no space left" in full.stderr or "I/O error" in full.stderr
        assert full.json["status"] == "failed"
        kept = recorded(dest)
        if kept:
            assert_nothing_partial_taken_for_complete(dest, expected)
        assert all(data == expected[rel] for rel, data in data_files(dest).items())

        filler.unlink()
        again = run_cli("--json", "mirror", dest, env=loris.env())
    assert again.code == 0, again.stderr
    assert data_files(dest) == expected
    assert again.json["counts"].get("skipped", 0) >= kept  # what was complete stayed complete
