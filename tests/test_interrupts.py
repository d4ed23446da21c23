"""Ctrl-C, SIGTERM, kill -9 and a second run on the same destination: real processes, real signals."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.resilience_support import (
    assert_nothing_partial_taken_for_complete,
    data_files,
    part_files,
    serve_loris,
    start_background,
    the_error_line,
    wait_until,
)


def journal_count(dest: Path) -> int:
    db = dest / ".neurofetch" / "state.sqlite3"
    if not db.exists():
        return 0
    try:
        return int(sqlite3.connect(db, timeout=1).execute("SELECT COUNT(*) FROM files").fetchone()[0])
    except sqlite3.Error:
        return 0


def growing_part(dest: Path) -> bool:
    return any(p.stat().st_size > 0 for p in part_files(dest) if p.exists())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_run_cleanly_with_exit_130_and_a_rerun_resumes(tmp_path: Path, sig: int) -> None:
    dest = tmp_path / "d"
    with serve_loris("drip=400000", size_scale=0.01) as loris:
        expected = loris.dataset.expected_tree()
        run = start_background("mirror", dest, "--jobs", "2", env=loris.env(), logs=tmp_path / "logs")
        wait_until(lambda: journal_count(dest) >= 3, what="three complete files", process=run)
        run.signal(sig)
        code = run.wait(timeout=10)
        assert code == 130, run.stderr
        assert "interrupted; run the same command again to resume" in run.stderr
        assert "downloaded" in run.stderr and "Traceback" not in run.stderr  # what was done
        assert_nothing_partial_taken_for_complete(dest, expected)
        done_before = set(data_files(dest))
        assert done_before and done_before != set(expected)

        loris.faults.drip = 0
        loris.emulator.log.clear()
        again = run_cli("--json", "mirror", dest, env=loris.env())
        assert again.code == 0, again.stderr
        assert data_files(dest) == expected and part_files(dest) == []
        refetched = {e.path.split("/images/")[1] for e in loris.file_gets()}
        assert not refetched & {p.rsplit("/", 1)[1] for p in done_before}  # complete files are not fetched again


def test_sigterm_while_logging_in_exits_130(tmp_path: Path) -> None:
    with serve_loris("error_rate=1") as loris:
        run = start_background(
            "mirror",
            tmp_path / "d",
            env=loris.env(NEUROFETCH_RETRIES="5", NEUROFETCH_RETRY_WAIT_MAX="30"),
            logs=tmp_path / "logs",
        )
        wait_until(
            lambda: loris.emulator.log.count(lambda e: e.path.endswith("/login")) >= 1,
            what="the first login attempt",
            process=run,
        )
        run.signal(signal.SIGTERM)  # now waiting to retry the login
        assert run.wait(timeout=10) == 130, run.stderr
        assert "interrupted" in run.stderr and "Traceback" not in run.stderr


def test_kill_9_at_several_points_and_the_next_run_is_byte_exact(tmp_path: Path) -> None:
    dest = tmp_path / "d"
    logs = tmp_path / "logs"
    with serve_loris("latency=0.3", size_scale=0.01) as loris:
        expected = loris.dataset.expected_tree()
        env = loris.env()

        # 1. while the listings are being fetched, before any file
        run = start_background("mirror", dest, env=env, logs=logs)
        wait_until(
            lambda: loris.emulator.log.count(lambda e: e.path.endswith("/candidates/")) >= 1,
            what="the candidate list",
            process=run,
        )
        run.kill()
        assert data_files(dest) == {}
        assert_nothing_partial_taken_for_complete(dest, expected)

        # 2. in the middle of files
        loris.faults.latency = 0
        loris.faults.drip = 150000
        run = start_background("mirror", dest, "--jobs", "3", env=env, logs=logs)
        wait_until(lambda: growing_part(dest), what="a file half-way", process=run)
        run.kill()
        assert part_files(dest)
        assert_nothing_partial_taken_for_complete(dest, expected)

        # 3. just after some files were completed (and others are in flight)
        run = start_background("mirror", dest, "--jobs", "3", env=env, logs=logs)
        wait_until(lambda: journal_count(dest) >= 4, what="four complete files", process=run)
        run.kill()
        assert_nothing_partial_taken_for_complete(dest, expected)

        # 4. once more, right after the next file lands
        landed = journal_count(dest)
        run = start_background("mirror", dest, "--jobs", "3", env=env, logs=logs)
        wait_until(lambda: journal_count(dest) > landed, what="one more complete file", process=run)
        run.kill()
        assert_nothing_partial_taken_for_complete(dest, expected)
        assert set(data_files(dest)) != set(expected)

        loris.faults.drip = 0
        final = run_cli("--json", "mirror", dest, env=env)
    assert final.code == 0, final.stderr
    assert data_files(dest) == expected
    assert part_files(dest) == []
    assert_nothing_partial_taken_for_complete(dest, expected)
    assert final.json["counts"]["skipped"] >= 4


@pytest.mark.parametrize("range_support", [True, False], ids=["server-resumes", "server-ignores-range"])
def test_a_part_file_left_by_kill_9_is_resumed_only_on_a_matching_206(tmp_path: Path, range_support: bool) -> None:
    dest = tmp_path / "d"
    with serve_loris(f"drip=100000,range_support={int(range_support)}", size_scale=0.02) as loris:
        record = max(loris.dataset.files, key=lambda f: f.size)
        run = start_background(
            "mirror", dest, "--include", record.filename, "--no-qc", env=loris.env(), logs=tmp_path / "logs"
        )
        part = dest / (record.path + ".part")
        wait_until(lambda: part.exists() and part.stat().st_size > 100000, what="a half-done file", process=run)
        run.kill()
        kept = part.stat().st_size
        assert 0 < kept < record.size and not (dest / record.path).exists()

        loris.faults.drip = 0
        loris.emulator.log.clear()
        result = run_cli("mirror", dest, "--include", record.filename, "--no-qc", env=loris.env())
        [get] = loris.file_gets(record.filename)
    assert result.code == 0, result.stderr
    assert get.headers["range"] == f"bytes={kept}-"
    assert get.status == (206 if range_support else 200)
    assert (dest / record.path).read_bytes() == loris.dataset.content(*record.key)
    assert_nothing_partial_taken_for_complete(dest, {record.path: loris.dataset.content(*record.key)})
    assert part_files(dest) == []


def test_a_second_run_on_the_same_destination_exits_4_naming_the_first(tmp_path: Path) -> None:
    dest = tmp_path / "d"
    with serve_loris("drip=50000", size_scale=0.01) as loris:
        first = start_background("mirror", dest, env=loris.env(), logs=tmp_path / "logs")
        lock = dest / ".neurofetch" / "lock"
        wait_until(lambda: lock.exists() and lock.read_text().strip().startswith("{"), what="the lock", process=first)
        holder = json.loads(lock.read_text())
        assert holder["pid"] == first.proc.pid

        second = run_cli("mirror", dest, env=loris.env())
        assert second.code == 4
        assert f"pid {first.proc.pid}" in second.stderr and holder["started"] in second.stderr
        the_error_line(second.stderr)

        first.kill()  # the lock file stays behind, but nobody holds it any more
        assert lock.exists()
        loris.faults.drip = 0
        third = run_cli("mirror", dest, env=loris.env())
        assert third.code == 0, third.stderr
        assert data_files(dest) == loris.dataset.expected_tree()
