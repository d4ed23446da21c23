"""--shard K/N: N runs side by side split the work disjointly and together fetch everything, each with its
own journal and lock in one shared destination; the SLURM recipe of docs/slurm.md runs as written."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_cli, tree_files
from tests.test_unattended import LockHolder, doc_block, write_cron_setup


@pytest.fixture
def loris() -> Iterator[object]:
    """The default dataset (6 candidates, 242 files; every one of 3 shards gets some) with small files."""
    from neurofetch.emulators.loris.app import LorisDataset, LorisEmulator

    emulator = LorisEmulator(LorisDataset(size_scale=0.002))
    with emulator.serve() as server:
        emulator.url = emulator.base_url(server)  # type: ignore[attr-defined]
        yield emulator


def journal_paths(dest: Path, k: int, n: int) -> set[str]:
    with sqlite3.connect(dest / ".neurofetch" / f"state-shard-{k}-of-{n}.sqlite3") as db:
        return {row[0] for row in db.execute("SELECT path FROM files")}


def start_shard(k: int, n: int, dest: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "neurofetch", "mirror", str(dest), "--shard", f"{k}/{n}"],
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_three_shards_in_parallel_are_disjoint_and_complete(loris, loris_env, tmp_path: Path) -> None:
    dest = tmp_path / "shared"
    runs = [start_shard(k, 3, dest, loris_env) for k in (1, 2, 3)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], [err for _, err in outputs]

    expected = loris.dataset.expected_tree()
    assert tree_files(dest) == expected  # together: exactly the dataset
    shares = [journal_paths(dest, k, 3) for k in (1, 2, 3)]
    assert all(shares)  # everyone had work
    assert sum(len(s) for s in shares) == len(set().union(*shares)) == len(expected)  # disjoint, complete
    for share in shares:  # split by candidate, the unit
        candidates = {path.split("/")[0] for path in share}
        assert not any(path.split("/")[0] in candidates for other in shares if other is not share for path in other)
    fetched = [
        e.path for e in loris.log.entries() if e.method == "GET" and "/images/" in e.path and not e.path.endswith("/qc")
    ]
    assert len(fetched) == len(set(fetched)) == len(expected)  # no file was fetched twice


def test_shards_are_deterministic_and_rerun_fetches_nothing(loris, loris_env, tmp_path: Path) -> None:
    dest = tmp_path / "d"
    assert run_cli("mirror", dest, "--shard", "2/3", env=loris_env).code == 0
    mine = journal_paths(dest, 2, 3)
    planned = run_cli("--json", "mirror", tmp_path / "elsewhere", "--shard", "2/3", "--dry-run", env=loris_env)
    assert {a["path"] for a in planned.json["planned"] if a["action"] == "download"} == mine  # the same share
    again = run_cli("--json", "mirror", dest, env={**loris_env, "NEUROFETCH_SHARD": "2/3"})
    assert again.code == 0 and again.json["counts"].get("downloaded", 0) == 0
    assert again.json["counts"]["skipped"] == len(mine)


@pytest.mark.parametrize("bad", ["0/3", "4/3", "1/0", "a/b", "3"])
def test_bad_shard_is_a_usage_error(bad: str, loris_env, tmp_path: Path) -> None:
    result = run_cli("mirror", tmp_path / "d", "--shard", bad, env=loris_env)
    assert result.code == 2 and "--shard" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_each_shard_has_its_own_lock(loris, loris_env, tmp_path: Path) -> None:
    dest = tmp_path / "d"
    with LockHolder(dest, "lock-shard-1-of-3"):
        busy = run_cli("mirror", dest, "--shard", "1/3", env=loris_env)
        free = run_cli("mirror", dest, "--shard", "2/3", env=loris_env)
    assert busy.code == 4 and free.code == 0, free.stderr


def test_a_run_over_the_whole_tree_and_shards_exclude_each_other(loris, loris_env, tmp_path: Path) -> None:
    dest = tmp_path / "d"
    with LockHolder(dest, "lock") as whole_run:
        shard = run_cli("mirror", dest, "--shard", "1/3", env=loris_env)
    assert shard.code == 4 and f"pid {whole_run.proc.pid}" in shard.stderr
    with LockHolder(dest, "lock-shard-2-of-3", within="lock"):  # shard 2 of 3 at work
        whole = run_cli("mirror", dest, env=loris_env)
        other = run_cli("mirror", dest, "--shard", "1/3", env=loris_env)
    assert whole.code == 4 and "runs with --shard are working in it" in whole.stderr
    assert other.code == 0, other.stderr


def test_the_slurm_array_recipe_runs_as_written(loris, isolated_home: Path, tmp_path: Path) -> None:
    write_cron_setup(isolated_home, loris.url)  # the same profile and password file
    script = tmp_path / "mirror-preventad.sbatch"
    script.write_text(doc_block("slurm.md", "#!/bin/bash\n#SBATCH"))
    dest = tmp_path / "project" / "preventad"
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEUROFETCH_")}
    base.update(
        PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin",
        DEST=str(dest),
        SLURM_ARRAY_JOB_ID="77",
        SLURM_ARRAY_TASK_COUNT="3",
    )
    tasks = [
        subprocess.Popen(
            ["bash", str(script)],
            env={**base, "SLURM_ARRAY_TASK_ID": str(k)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in (1, 2, 3)
    ]
    outputs = [task.communicate(timeout=120) for task in tasks]
    assert [task.returncode for task in tasks] == [0, 0, 0], [err for _, err in outputs]
    assert tree_files(dest) == loris.dataset.expected_tree()
    logs = sorted(p.name for p in (tmp_path / "project" / "preventad.logs").iterdir())
    assert logs == ["shard-1-of-3.log", "shard-2-of-3.log", "shard-3-of-3.log"]
