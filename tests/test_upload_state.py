"""`neurofetch upload` when its own state is lost, damaged or spelled differently, and when files cannot
be read: never a duplicate on the platform, never a traceback, never a file skipped in silence."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.datamint_support import datamint_server, env_for, png_bytes, pydicom_sample, upload_posts
from tests.helpers import run_cli
from tests.resilience_support import start_background, wait_until

FILES = 10


@pytest.fixture
def datamint() -> Iterator[Any]:
    with datamint_server() as emulator:
        yield emulator


def images(folder: Path, count: int = FILES) -> Path:
    folder.mkdir(parents=True)
    for index in range(count):
        (folder / f"img{index:02d}.png").write_bytes(png_bytes((8 + index, 6)))
    return folder


def upload_journals() -> list[Path]:
    return sorted((Path(os.environ["XDG_STATE_HOME"]) / "neurofetch" / "uploads").glob("*.sqlite3"))


def first_upload(datamint: Any, folder: Path) -> dict[str, str]:
    result = run_cli("--json", "upload", folder, env=env_for(datamint))
    assert result.code == 0, result.stderr
    assert upload_posts(datamint) == FILES
    [journal] = upload_journals()
    assert not Path(f"{journal}-wal").exists() or Path(f"{journal}-wal").stat().st_size == 0
    return dict(result.json["resources"])


def test_a_journal_truncated_to_nothing_sends_nothing_twice(datamint: Any, tmp_path: Path) -> None:
    folder = images(tmp_path / "imgs")
    resources = first_upload(datamint, folder)
    [journal] = upload_journals()
    journal.write_bytes(b"")

    again = run_cli("--json", "upload", folder, env=env_for(datamint))
    assert again.code == 0, again.stderr
    assert upload_posts(datamint) == FILES and len(datamint.resources()) == FILES  # 0 duplicates
    assert again.json["counts"] == {"already_on_server": FILES}
    assert again.json["resources"] == resources
    assert lookups(datamint) == 0  # the platform's few resources were read in one listing

    datamint.log.clear()  # the journal knows every file again: a re-run asks nothing but the key check
    third = run_cli("--json", "upload", folder, env=env_for(datamint))
    assert third.code == 0 and third.json["counts"] == {"already_uploaded": FILES}
    assert [e.path for e in datamint.log.entries()] == ["/projects"]


def lookups(datamint: Any) -> int:
    """Per-file questions to the platform: `GET /resources?filename=…`."""
    return int(datamint.log.count(lambda e: e.method == "GET" and "filename=" in e.query))


def resource_lists(datamint: Any) -> list[str]:
    return [e.query for e in datamint.log.entries() if e.method == "GET" and e.path == "/resources"]


def test_a_first_upload_asks_the_platform_once_not_per_file(datamint: Any, tmp_path: Path) -> None:
    folder = images(tmp_path / "imgs")
    result = run_cli("--json", "upload", folder, env=env_for(datamint))
    assert result.code == 0 and result.json["counts"] == {"uploaded": FILES}
    assert lookups(datamint) == 0 and len(resource_lists(datamint)) == 1  # its count: none there yet

    (folder / "img00.png").write_bytes(png_bytes((8, 6), mask=True))  # same name, same size, new content
    changed = run_cli("--json", "upload", folder, env=env_for(datamint))
    assert changed.code == 0 and changed.json["counts"] == {"uploaded": 1, "already_uploaded": FILES - 1}
    assert lookups(datamint) == 0 and len(resource_lists(datamint)) == 1  # a new version is not looked for


def test_a_platform_holding_many_resources_is_asked_about_each_new_file(tmp_path: Path) -> None:
    with datamint_server(preload=12) as datamint:  # 12 resources > 10 per file to upload
        folder = images(tmp_path / "imgs", 1)
        result = run_cli("--json", "upload", folder, env=env_for(datamint))
        assert result.code == 0 and result.json["counts"] == {"uploaded": 1}
        assert lookups(datamint) == 1 and [q for q in resource_lists(datamint) if "filename=" not in q] != []


@pytest.mark.parametrize("spelling", ["http://localhost:{port}/", "HTTP://LocalHost:{port}"])
def test_localhost_and_127_0_0_1_share_one_journal(datamint: Any, tmp_path: Path, spelling: str) -> None:
    folder = images(tmp_path / "imgs")
    resources = first_upload(datamint, folder)
    port = datamint.url.rsplit(":", 1)[1].rstrip("/")
    other = {**env_for(datamint), "NEUROFETCH_URL": spelling.format(port=port)}
    datamint.log.clear()
    again = run_cli("--json", "upload", folder, env=other)
    assert again.code == 0, again.stderr
    assert upload_posts(datamint) == FILES  # 0 duplicates
    assert again.json["counts"] == {"already_uploaded": FILES}  # known from the one journal: no lookups
    assert again.json["resources"] == resources
    assert len(upload_journals()) == 1


def test_localhost_and_127_0_0_1_share_one_lock(tmp_path: Path) -> None:
    from neurofetch.emulators.common import Faults

    folder = images(tmp_path / "imgs")
    with datamint_server(faults=Faults(latency=0.5)) as slow:
        env = {k: v for k, v in env_for(slow).items() if v is not None}
        first = start_background("upload", folder, env={**env, "NEUROFETCH_JOBS": "1"}, logs=tmp_path / "logs")
        try:
            wait_until(lambda: slow.upload_posts >= 1, what="the first upload", process=first)
            port = slow.url.rsplit(":", 1)[1].rstrip("/")
            second = run_cli("upload", folder, env={**env, "NEUROFETCH_URL": f"http://localhost:{port}"})
            assert second.code == 4, second.stderr
            assert f"pid {first.proc.pid}" in second.stderr
        finally:
            first.kill()


def test_a_journal_from_before_normalised_origins_is_taken_over(datamint: Any, tmp_path: Path) -> None:
    import hashlib

    folder = images(tmp_path / "imgs")
    resources = first_upload(datamint, folder)
    [journal] = upload_journals()
    old_name = hashlib.sha256(datamint.url.rstrip("/").encode()).hexdigest()[:16] + ".sqlite3"
    journal.rename(journal.with_name(old_name))
    datamint.log.clear()
    again = run_cli("--json", "upload", folder, env=env_for(datamint))
    assert again.code == 0 and again.json["counts"] == {"already_uploaded": FILES}
    assert again.json["resources"] == resources and upload_journals() == [journal]


def test_a_journal_cut_in_half_is_set_aside_and_rebuilt_from_the_platform(datamint: Any, tmp_path: Path) -> None:
    folder = images(tmp_path / "imgs")
    resources = first_upload(datamint, folder)
    [journal] = upload_journals()
    data = journal.read_bytes()
    assert len(data) >= 4 * 4096
    journal.write_bytes(data[: len(data) // 2])

    again = run_cli("--json", "upload", folder, env=env_for(datamint))
    assert again.code == 0, again.stderr
    assert "Traceback" not in again.stderr
    [aside] = journal.parent.glob(journal.name + ".corrupt-*")
    assert aside.read_bytes() == data[: len(data) // 2]
    assert [line for line in again.stderr.splitlines() if "upload journal was damaged" in line]
    assert again.json["upload_journal_set_aside"] == str(aside)
    assert upload_posts(datamint) == FILES and again.json["counts"] == {"already_on_server": FILES}
    assert again.json["resources"] == resources


# --- unreadable files and folders -----------------------------------------------------------------------------


def run_without_read_override(*args: object, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The CLI in a child process that permission bits apply to, even when the tests run as root
    (root's override of them, CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, is dropped)."""
    command = [sys.executable, "-m", "neurofetch", *map(str, args)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: permission bits cannot be made to apply")
        command = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--", *command]
    return subprocess.run(
        command, env={**os.environ, "NEUROFETCH_NO_KEYRING": "1", **env}, capture_output=True, text=True, timeout=120
    )


def test_unreadable_files_and_folders_are_failures_naming_them(datamint: Any, tmp_path: Path) -> None:
    study = tmp_path / "study"
    images(study / "readable", 2)
    images(study / "locked", 2)
    shutil.copy(pydicom_sample("dicomdirtests/77654033/CT2/17136"), study / "readable" / "slice")  # no extension
    shutil.copy(pydicom_sample("dicomdirtests/77654033/CT2/17136"), study / "secret")
    (study / "secret.png").write_bytes(png_bytes())
    (study / "notes.txt").write_text("excluded by name: unreadable or not, it is not asked for\n")
    locked = [study / "locked", study / "secret", study / "secret.png", study / "notes.txt"]
    for path in locked:
        path.chmod(0)
    try:
        env = {k: v for k, v in env_for(datamint).items() if v is not None}
        run = run_without_read_override("--json", "upload", study, "-r", env=env)
    finally:
        for path in locked:
            path.chmod(0o755)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    document = json.loads(run.stdout)
    failed = {f["item"]: f["error"] for f in document["failures"]}
    assert set(failed) == {"study/locked", "study/secret", "study/secret.png"}
    assert "cannot read the folder" in failed["study/locked"] and "Permission denied" in failed["study/locked"]
    assert "cannot read the file" in failed["study/secret.png"]
    for item in failed:
        assert f"failed: {item}" in run.stderr
    assert sorted(r.source_filepath for r in datamint.resources()) == [
        "study/readable/img00.png",
        "study/readable/img01.png",
        "study/readable/slice",
    ]


def test_a_journal_that_cannot_be_opened_is_never_set_aside(datamint: Any, tmp_path: Path) -> None:
    folder = images(tmp_path / "imgs")
    first_upload(datamint, folder)
    [journal] = upload_journals()
    data = journal.read_bytes()
    journal.chmod(0)
    try:
        env = {k: v for k, v in env_for(datamint).items() if v is not None}
        run = run_without_read_override("upload", folder, env=env)
    finally:
        journal.chmod(0o644)
    assert run.returncode == 7, run.stderr
    assert "Traceback" not in run.stderr and "cannot write the upload journal" in run.stderr
    assert journal.read_bytes() == data and not list(journal.parent.glob("*.corrupt-*"))
    assert upload_posts(datamint) == FILES


def test_a_journal_that_cannot_record_stops_the_run_with_one_line(datamint: Any, tmp_path: Path) -> None:
    folder = images(tmp_path / "imgs")
    first_upload(datamint, folder)
    (folder / "new.png").write_bytes(png_bytes((30, 30)))
    [journal] = upload_journals()
    journal.chmod(0o444)  # readable, so the run starts; every write to it fails, as on a full disk
    try:
        env = {k: v for k, v in env_for(datamint).items() if v is not None}
        run = run_without_read_override("--json", "upload", folder, env=env)
    finally:
        journal.chmod(0o644)
    assert run.returncode == 7, run.stderr
    assert "Traceback" not in run.stderr
    assert "cannot record imgs/new.png in the upload journal" in json.loads(run.stdout)["error"]
    assert upload_posts(datamint) == FILES  # nothing sent that could not be recorded
