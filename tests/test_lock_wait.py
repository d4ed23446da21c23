"""--wait[=SECONDS] / NEUROFETCH_WAIT: a run waits for the run holding its destination's lock instead of exiting 4."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from neurofetch.emulators.common import Faults
from tests.datamint_support import png_bytes
from tests.helpers import CliRun, run_cli, run_subprocess, tree_files
from tests.s3.conftest import moto_server  # noqa: F401  (fixture)
from tests.test_exit_codes import S3_ENV, bucket, download_command  # noqa: F401  (fixture)
from tests.test_no_tracebacks import profile_env, served
from tests.test_unattended import LockHolder

WAITING = "waiting for the run holding"


def start_mirror(dest: Path, env: dict[str, str], *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "neurofetch", "mirror", str(dest), *flags],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(proc: subprocess.Popen[str], text: str) -> str:
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert text in line, line
    return line


def test_a_waiting_run_starts_when_the_other_run_ends(loris, loris_env, tmp_path: Path) -> None:
    dest = tmp_path / "d"
    with LockHolder(dest) as holder:
        waiter = start_mirror(dest, loris_env, "--wait")
        line = wait_for_line(waiter, WAITING)
        assert f"pid {holder.proc.pid}" in line and str(dest) in line
        time.sleep(1)
        assert waiter.poll() is None and tree_files(dest) == {}  # still waiting, nothing written
    _, rest = waiter.communicate(timeout=120)
    assert waiter.returncode == 0, rest
    assert WAITING not in rest  # said once
    assert set(tree_files(dest)) == set(loris.dataset.expected_tree())


def with_profile_key(loris: Any, tmp_path: Path, line: str) -> dict[str, str]:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"default_profile: p\nprofiles:\n  p:\n    service: loris\n    url: {loris.url}\n"
        f"    username: demo\n    {line}\n"
    )
    return {"NEUROFETCH_CONFIG": str(config), "NEUROFETCH_PASSWORD": "demo"}


@pytest.mark.parametrize("how", ["flag", "env", "profile"])
def test_a_wait_that_runs_out_exits_4(loris, loris_env, tmp_path: Path, how: str) -> None:
    dest = tmp_path / "d"
    flags, env = {
        "flag": (["--wait=1.5"], loris_env),
        "env": ([], {**loris_env, "NEUROFETCH_WAIT": "1.5"}),
        "profile": ([], with_profile_key(loris, tmp_path, "wait: 1.5")),
    }[how]
    with LockHolder(dest) as holder:
        started = time.monotonic()
        result = run_subprocess("mirror", dest, *flags, env=env)
        elapsed = time.monotonic() - started
    assert result.code == 4, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and WAITING in lines[0] and f"pid {holder.proc.pid}" in lines[1]
    assert "after waiting 1.5 s" in lines[1]
    assert elapsed >= 1.5
    assert tree_files(dest) == {}


def test_ctrl_c_while_waiting_exits_130(loris, loris_env, tmp_path: Path) -> None:
    dest = tmp_path / "d"
    with LockHolder(dest):
        waiter = start_mirror(dest, loris_env, "--wait")
        wait_for_line(waiter, WAITING)
        waiter.send_signal(signal.SIGINT)
        waiter.communicate(timeout=30)
    assert waiter.returncode == 130
    assert tree_files(dest) == {}


def test_wait_needs_equals_for_its_value_and_a_number(loris, loris_env, tmp_path: Path) -> None:
    bad = run_cli("mirror", tmp_path / "d", "--wait=soon", env=loris_env)
    assert bad.code == 2 and "--wait" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    spaced = run_cli("mirror", "--wait", "30", tmp_path / "d", env=loris_env)  # 30 is not taken for its value
    assert spaced.code == 2 and not (tmp_path / "d").exists()


def _assert_waited_then_4(result: CliRun, holder: LockHolder) -> None:
    assert result.code == 4, result.stderr
    assert WAITING in result.stderr and f"pid {holder.proc.pid}" in result.stderr
    assert "after waiting 0.5 s" in result.stderr


def test_atlas_image_waits_too(tmp_path: Path) -> None:
    out = tmp_path / "plates"
    with served("allen", Faults()) as (emulator, url), LockHolder(out) as holder:
        result = run_cli(
            *download_command("allen", emulator, out), "--wait=0.5", env=profile_env("allen", url, tmp_path)
        )
    _assert_waited_then_4(result, holder)


def test_upload_waits_for_the_run_holding_its_journal(tmp_path: Path) -> None:
    from neurofetch.settings import default_state_root
    from neurofetch.transfer.upload_journal import journal_path

    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "a.png").write_bytes(png_bytes())
    with served("datamint", Faults()) as (_, url):
        journal = journal_path(default_state_root(), url)
        with LockHolder(journal.parent, journal.stem + ".lock") as holder:
            result = run_cli("upload", folder, "--wait=0.5", env=profile_env("datamint", url, tmp_path))
    _assert_waited_then_4(result, holder)


def test_s3_sync_download_waits_too(bucket: Any, tmp_path: Path) -> None:  # noqa: F811
    dest = tmp_path / "d"
    with LockHolder(dest) as holder:
        result = run_cli("s3-sync", bucket.url(), dest, "--endpoint-url", bucket.endpoint, "--wait=0.5", env=S3_ENV)
    _assert_waited_then_4(result, holder)
    assert tree_files(dest) == {}


def test_a_bad_wait_in_the_profile_is_a_config_error(loris, tmp_path: Path) -> None:
    result = run_cli("mirror", tmp_path / "d", env=with_profile_key(loris, tmp_path, "wait: soon"))
    assert result.code == 2 and "wait" in result.stderr and not (tmp_path / "d").exists()
