"""What "complete" means (size and mtime, then sha256), and a dry run that writes nothing anywhere."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from neurofetch.emulators.allen.app import AllenEmulator
from neurofetch.emulators.neurovault.app import NeuroVaultEmulator
from tests.helpers import run_cli, run_subprocess
from tests.resilience_support import data_files, serve_loris


def recorded_mtime(dest: Path, relpath: str) -> int:
    with sqlite3.connect(dest / ".neurofetch" / "state.sqlite3") as db:
        return int(db.execute("SELECT mtime_ns FROM files WHERE path = ?", (relpath,)).fetchone()[0])


def test_a_file_with_the_same_size_and_a_new_mtime_is_rehashed_kept_or_fetched_again(tmp_path: Path) -> None:
    dest = tmp_path / "d"
    with serve_loris(size_scale=0.005) as loris:
        first = run_cli("mirror", dest, "--no-qc", env=loris.env())
        assert first.code == 0, first.stderr
        touched, changed = sorted(loris.dataset.files, key=lambda f: f.size)[-2:]
        later = recorded_mtime(dest, touched.path) + 5_000_000_000
        os.utime(dest / touched.path, ns=(later, later))  # same bytes, new time (a copy, a restore)
        damaged = bytearray((dest / changed.path).read_bytes())
        damaged[len(damaged) // 2] ^= 0xFF  # same size, other bytes, new time
        (dest / changed.path).write_bytes(bytes(damaged))
        loris.emulator.log.clear()

        again = run_cli("--json", "mirror", dest, "--no-qc", env=loris.env())
        fetched = [e.path.rsplit("/", 1)[-1] for e in loris.file_gets()]
        expected = loris.dataset.expected_tree()
    assert again.code == 0, again.stderr
    assert fetched == [changed.filename]  # the touched file was re-hashed, not fetched
    assert again.json["counts"] == {"downloaded": 1, "skipped": len(expected) - 1}
    assert data_files(dest) == expected
    assert recorded_mtime(dest, touched.path) == later  # the journal took the new time


# -- dry runs -------------------------------------------------------------------------------------------


def snapshot(*roots: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file and folder under ``roots``: mode, mtime and bytes."""
    found = {}
    for root in roots:
        for path in [root, *root.rglob("*")] if root.exists() else []:
            info = path.lstat()
            found[str(path)] = (info.st_mode, info.st_mtime_ns, path.read_bytes() if path.is_file() else b"")
    return found


@contextmanager
def service(kind: str) -> Iterator[tuple[dict[str, str], list[str]]]:
    """A running emulator: the environment and the arguments of a command that mirrors part of it."""
    if kind == "loris":
        with serve_loris(size_scale=0.005) as loris:
            yield loris.env(NEUROFETCH_NO_KEYRING="1"), ["mirror"]
    elif kind == "neurovault":
        emulator = NeuroVaultEmulator(collections=1)
        with emulator.serve() as server:
            cid = emulator.collections[0]["id"]
            yield (
                {"NEUROFETCH_SERVICE": "neurovault", "NEUROFETCH_URL": emulator.base_url(server)},
                ["mirror", "--collection", str(cid)],
            )
    else:
        allen = AllenEmulator()
        with allen.serve() as server:
            yield (
                {"NEUROFETCH_SERVICE": "allen", "NEUROFETCH_URL": server.origin},
                ["atlas-image", "--atlas-images", "2", "--downsample", "6", "--out"],
            )


def disturb(dest: Path) -> None:
    """Give a dry run something to plan: a missing file, a changed record, a touched file."""
    files = sorted(p for p in dest.rglob("*") if p.is_file() and ".neurofetch" not in p.parts)
    data = [p for p in files if p.suffix != ".json"]
    records = [p for p in files if p.suffix == ".json"]
    data[0].unlink()
    records[0].write_text("{}\n")
    os.utime(data[1], ns=(data[1].stat().st_atime_ns, data[1].stat().st_mtime_ns + 7_000_000_000))


@pytest.mark.parametrize("kind", ["loris", "neurovault", "allen"])
def test_a_dry_run_into_an_existing_tree_or_a_new_dest_writes_nothing_anywhere(tmp_path: Path, kind: str) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    existing, new = tmp_path / "existing", tmp_path / "new"
    with service(kind) as (env, command):
        assert run_cli(*command, existing, env=env).code == 0
        disturb(existing)
        before = snapshot(existing, new, tmp)
        for dest in (existing, new):
            dry = run_subprocess("--json", *command, dest, "--dry-run", env={**env, "TMPDIR": str(tmp)})
            assert dry.code == 0, dry.stderr
            assert any(p["action"] == "download" for p in dry.json["planned"])
    assert snapshot(existing, new, tmp) == before
    assert not new.exists() and list(tmp.iterdir()) == []
