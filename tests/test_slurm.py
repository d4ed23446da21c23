"""docs/slurm.md's array job on a real SLURM: a single-node cluster started for the test (tests/slurm_support.py)
runs the job script exactly as the doc prints it, with `sbatch --array=1-4`, against the LORIS emulator."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import tree_files
from tests.slurm_support import SlurmCluster, missing_binaries
from tests.test_unattended import doc_block, write_cron_setup

pytestmark = pytest.mark.slurm
SHARDS = 4


@pytest.fixture(scope="module")
def cluster() -> Iterator[SlurmCluster]:
    missing = missing_binaries()
    if missing:
        pytest.skip(
            f"SLURM is not installed here ({', '.join(missing)} not on PATH; Debian: apt-get install slurm-wlm munge)"
        )
    with SlurmCluster() as running:
        yield running


@pytest.fixture
def loris() -> Iterator[object]:
    """6 candidates, 242 small files: every one of 4 shards gets some."""
    from neurofetch.emulators.loris.app import LorisDataset, LorisEmulator

    emulator = LorisEmulator(LorisDataset(size_scale=0.002))
    with emulator.serve() as server:
        emulator.url = emulator.base_url(server)  # type: ignore[attr-defined]
        yield emulator


def file_requests(emulator: object) -> list[str]:
    return [
        e.path
        for e in emulator.log.entries()  # type: ignore[attr-defined]
        if e.method == "GET" and "/images/" in e.path and not e.path.endswith("/qc")
    ]


def test_the_array_job_mirrors_into_one_shared_folder(
    cluster: SlurmCluster, loris, isolated_home: Path, tmp_path: Path
) -> None:
    write_cron_setup(isolated_home, loris.url)  # the profile and the password file the script reads
    submit_dir = tmp_path / "submit"
    submit_dir.mkdir()
    script = submit_dir / "mirror-preventad.sbatch"
    script.write_text(doc_block("slurm.md", "#!/bin/bash\n#SBATCH"))
    dest = tmp_path / "project" / "shared" / "preventad"
    env = {**os.environ, "DEST": str(dest), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}

    job = cluster.sbatch(script, f"--array=1-{SHARDS}", cwd=submit_dir, env=env)
    tasks = cluster.wait(job)
    assert sorted(tasks) == [str(k) for k in range(1, SHARDS + 1)], tasks
    assert {(t["JobState"], t["ExitCode"]) for t in tasks.values()} == {("COMPLETED", "0:0")}, cluster.logs()

    assert tree_files(dest) == loris.dataset.expected_tree()  # complete and byte-exact
    fetched = file_requests(loris)
    assert len(fetched) == len(set(fetched)) == len(loris.dataset.expected_tree())  # each file once
    logs = dest.parent / "preventad.logs"
    assert sorted(p.name for p in logs.iterdir()) == [f"shard-{k}-of-{SHARDS}.log" for k in range(1, SHARDS + 1)]
    for k in range(1, SHARDS + 1):  # one log per shard, named for it
        assert "INFO mirror: done: " in (logs / f"shard-{k}-of-{SHARDS}.log").read_text()
        assert "mirror: done: " in (submit_dir / f"mirror-preventad-{job}_{k}.out").read_text()  # --output
        assert (dest / ".neurofetch" / f"state-shard-{k}-of-{SHARDS}.sqlite3").exists()

    loris.log.clear()
    again = cluster.wait(cluster.sbatch(script, f"--array=1-{SHARDS}", cwd=submit_dir, env=env))
    assert {(t["JobState"], t["ExitCode"]) for t in again.values()} == {("COMPLETED", "0:0")}, cluster.logs()
    assert file_requests(loris) == []  # the re-submission fetches nothing
    assert tree_files(dest) == loris.dataset.expected_tree()
