"""Hostile names and listings, full and read-only disks, bad fault knobs."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import mount, run_cli, small_tmpfs
from tests.resilience_support import (
    Recorder,
    assert_nothing_partial_taken_for_complete,
    data_files,
    part_files,
    serve_loris,
    the_error_line,
)

HOSTILE_FRAGMENTS = ("escape", "sub/dir", "sub%2Fdir", "nul", "CON.mnc", "longlong", "dotdot", "/..")


def test_hostile_names_are_refused_one_by_one_and_nothing_lands_outside_dest(tmp_path: Path) -> None:
    dest = tmp_path / "a" / "b" / "dest"
    with serve_loris("hostile_names=1", size_scale=0.005) as loris:
        result = run_cli("--json", "mirror", dest, env=loris.env())
        requested = [e.path for e in loris.emulator.log.entries()]
        hostile = [f for f in loris.dataset.files if f.hostile]
        expected = loris.dataset.expected_tree()
    assert result.code == 1, result.stderr
    failures = {f["item"]: f["error"] for f in result.json["failures"]}
    hostile_cand = hostile[0].cand
    assert set(failures) == {f"{hostile_cand}/PREBL00/{f.filename}" for f in hostile if f.visit == "PREBL00"} | {
        f"visit {hostile_cand}/.."
    }
    assert all(error.startswith("refused an unsafe name from the server") for error in failures.values())
    reasons = " ".join(failures.values())
    for reason in (
        "path separator",
        "control character",
        "reserved on Windows",
        "longer than 255 bytes",
        "relative reference",
    ):
        assert reason in reasons
    # The good files, including the ordinary one of the hostile candidate, are all there.
    assert data_files(dest) == expected
    assert any(path.startswith(hostile_cand + "/") for path in expected)
    # Nothing outside DEST, nothing with a hostile name inside it, no hostile name sent to the server.
    outside = {p for p in tmp_path.rglob("*") if dest not in p.parents and p != dest}
    assert outside == {tmp_path / "a", tmp_path / "a" / "b"}
    assert not [p for p in dest.rglob("*") if any(h in p.name for h in ("escape", "nul", "CON.", "longlong"))]
    assert not [p for p in requested if any(h in p for h in HOSTILE_FRAGMENTS)]
    # The terminal never receives the server's control characters.
    assert "\x00" not in result.stderr and "\x1b" not in result.stderr
    assert "\\x00" in result.stderr


def proxy(path_end: str, body: Callable[[bytes], bytes]) -> Callable[[object], Recorder]:
    """A proxy in front of the emulator that replaces the answer for paths ending in ``path_end``."""
    return lambda app: Recorder(app, transform=lambda path: body if path.endswith(path_end) else None)


def json_edit(edit: Callable[[dict], object]) -> Callable[[bytes], bytes]:
    def change(raw: bytes) -> bytes:
        doc = json.loads(raw)
        result = edit(doc)
        return json.dumps(doc if result is None else result).encode()

    return change


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (json_edit(lambda doc: {"Candidate": doc["Candidates"]}), "has no 'Candidates' field"),
        (json_edit(lambda doc: {"Candidates": "everyone"}), "'Candidates' has the wrong type (str)"),
        (json_edit(lambda doc: {"Candidates": [{"PSCID": "x"}]}), "has no 'CandID' field"),
        (lambda raw: b"<html><body>Service temporarily unavailable</body></html>", "did not answer JSON"),
    ],
    ids=["missing-key", "wrong-type", "record-without-id", "not-json"],
)
def test_a_candidate_list_of_the_wrong_shape_is_one_clear_line_naming_the_url(
    tmp_path: Path, body: Callable[[bytes], bytes], message: str
) -> None:
    with serve_loris(recorder=proxy("/candidates/", body)) as loris:
        result = run_cli("mirror", tmp_path / "d", env=loris.env())
    assert result.code == 5
    assert message in result.stderr
    assert f"{loris.url}/candidates/" in result.stderr
    the_error_line(result.stderr)


def test_a_visit_listing_of_the_wrong_shape_fails_that_visit_only(tmp_path: Path) -> None:
    from neurofetch.emulators.loris.app import LorisDataset

    first = LorisDataset(candidates=1, size_scale=0.005).files[0]
    images = f"/candidates/{first.cand}/{first.visit}/images"
    with serve_loris(size_scale=0.005, recorder=proxy(images, json_edit(lambda doc: doc.update(Files=None)))) as loris:
        result = run_cli("--json", "mirror", tmp_path / "d", env=loris.env())
        expected = {
            p: b for p, b in loris.dataset.expected_tree().items() if not p.startswith(f"{first.cand}/{first.visit}/")
        }
    assert result.code == 1
    [failure] = result.json["failures"]
    assert failure["item"] == f"visit {first.cand}/{first.visit}"
    assert "'Files' has the wrong type (NoneType)" in failure["error"] and loris.url + images in failure["error"]
    assert data_files(tmp_path / "d") == expected


def test_a_hostile_candidate_id_from_a_proxy_is_refused(tmp_path: Path) -> None:
    def add_candidate(doc: dict) -> None:
        doc["Candidates"].append({**doc["Candidates"][0], "CandID": "../../../tmp"})

    with serve_loris(size_scale=0.005, recorder=proxy("/candidates/", json_edit(add_candidate))) as loris:
        result = run_cli("--json", "mirror", tmp_path / "d", env=loris.env())
        requested = [e.path for e in loris.emulator.log.entries()]
        expected = loris.dataset.expected_tree()
    assert result.code == 1
    assert [f["item"] for f in result.json["failures"]] == ["candidate ../../../tmp"]
    assert "path separator" in result.json["failures"][0]["error"]
    assert not [p for p in requested if "tmp" in p]
    assert data_files(tmp_path / "d") == expected


# -- disks -------------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB file system (tmpfs); needs root and mount permission."""
    with small_tmpfs(tmp_path / "small", "2m") as where:
        yield where


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory on a read-only bind mount (root ignores permission bits, not a read-only mount)."""
    source, where = tmp_path / "src", tmp_path / "ro"
    source.mkdir()
    where.mkdir()
    try:
        mount("--bind", str(source), str(where))
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot bind-mount here ({exc}); needs root")
    try:
        mount("-o", "remount,bind,ro", str(where))
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_a_full_disk_stops_with_a_clear_error_and_the_next_run_completes(small_disk: Path) -> None:
    dest = small_disk / "study"
    with serve_loris(size_scale=0.02) as loris:  # about 7 MB for a 2 MB disk
        expected = loris.dataset.expected_tree()
        full = run_cli("--json", "mirror", dest, env=loris.env())
        assert full.code == 7, full.stderr
        assert "no space left on the device" in full.stderr or "disk is full" in full.stderr
        the_error_line(full.stderr)
        document = full.json  # --json still prints what the run had done before it stopped
        assert document["status"] == "failed" and document["error"] in full.stderr
        # a file placed but not yet recorded when the disk filled up is fetched again next time
        assert 0 < document["counts"]["downloaded"] <= len(data_files(dest))
        assert_nothing_partial_taken_for_complete(dest, expected)  # no corrupt final file
        assert set(data_files(dest)) < set(expected)

        mount("-o", "remount,size=64m", str(small_disk))
        again = run_cli("--json", "mirror", dest, env=loris.env())
    assert again.code == 0, again.stderr
    assert data_files(dest) == expected
    assert part_files(dest) == []


def test_a_read_only_destination_is_a_clear_error(read_only_dir: Path, tmp_path: Path) -> None:
    with serve_loris(size_scale=0.005) as loris:
        for dest in (read_only_dir, read_only_dir / "new"):
            result = run_cli("mirror", dest, env=loris.env())
            assert result.code == 7
            assert "cannot write to the destination" in result.stderr and "Read-only file system" in result.stderr
            the_error_line(result.stderr)
        assert loris.file_gets() == []


def test_an_unwritable_log_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(
        "--log-file",
        tmp_path / "no" / "such" / "dir" / "run.log",
        "--url",
        "http://127.0.0.1:9",
        "--service",
        "loris",
        "mirror",
        tmp_path / "d",
    )
    assert result.code == 2
    assert "cannot write the log file" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "d").exists()


# -- emulator knobs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("faults", ["bogus=1", "error_rate=lots", "latency"])
def test_emulate_rejects_unknown_or_malformed_fault_knobs(faults: str) -> None:
    result = run_cli("emulate", "loris", "--port", "0", "--faults", faults)
    assert result.code == 2
    assert "--faults" in result.stderr


def test_emulate_with_faults_serves_a_mirror_that_survives_them(tmp_path: Path) -> None:
    import sys

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "neurofetch",
            "emulate",
            "loris",
            "--port",
            "0",
            "--candidates",
            "1",
            "--faults",
            "error_rate=0.1,truncate_rate=0.1,reset_rate=0.1,token_expiry_after=20,seed=3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        url = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api/v0.0.3-dev")
        env = {
            "NEUROFETCH_URL": url,
            "NEUROFETCH_SERVICE": "loris",
            "NEUROFETCH_USERNAME": "demo",
            "NEUROFETCH_PASSWORD": "demo",
            "NEUROFETCH_RETRIES": "20",
            "NEUROFETCH_RETRY_WAIT_MAX": "0.05",
        }
        result = run_cli("mirror", tmp_path / "d", "--include", "*fieldmap*", env=env)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert result.code == 0, result.stderr
    from neurofetch.emulators.loris.app import LorisDataset

    expected = {p: b for p, b in LorisDataset(candidates=1).expected_tree().items() if "fieldmap" in p}
    assert data_files(tmp_path / "d") == expected
