"""`s3-sync` runs that meet each other or a killed one: destination locks on both sides, partial
downloads of a killed run, files and folders the user running it cannot read."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from neurofetch.transfer.shard import Shard
from tests.helpers import CliRun, run_cli
from tests.s3.helpers import S3Env, make_tree, read_tree, wait_next_second

LOCK_KEY = "data/.neurofetch/lock"


def cli(*args: object, env: dict[str, str] | None = None) -> CliRun:
    return run_cli(*map(str, args), env={"AWS_EC2_METADATA_DISABLED": "true", **(env or {})})


def start(*args: object, prefix: list[str] | None = None, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``neurofetch --json ARGS`` as a separate process (the environment of the test: the server's keys)."""
    return subprocess.Popen(
        [*(prefix or []), sys.executable, "-m", "neurofetch", "--json", *map(str, args)],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def has_key(s3: S3Env, key: str) -> bool:
    return any(o["Key"] == key for o in s3.client.list_objects_v2(Bucket=s3.bucket, Prefix=key).get("Contents", ()))


def partials(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".nf-partial")]


def test_concurrent_uploads_into_one_prefix_never_delete_each_others_files(s3: S3Env, tmp_path: Path) -> None:
    ours = {f"a/{i:03d}.bin": os.urandom(1000) for i in range(200)}
    theirs = {f"b/{i:03d}.bin": os.urandom(1000) for i in range(200)}
    src_a, src_b = make_tree(tmp_path / "a", ours), make_tree(tmp_path / "b", theirs)
    first = start("s3-sync", src_a, s3.url(), "--delete", "--endpoint-url", s3.endpoint, "-j", "1")
    try:
        wait_for(lambda: has_key(s3, LOCK_KEY) or first.poll() is not None, "the first run to take the lock")
        os.kill(first.pid, signal.SIGSTOP)  # the first run is mid-way, holding the prefix
        second = cli("s3-sync", src_b, s3.url(), "--delete", "--endpoint-url", s3.endpoint)
        assert second.code == 4, second.stderr
        assert second.stderr.count("\n") == 1
        assert f"another neurofetch run holds {s3.url()}/ (pid {first.pid} on " in second.stderr
    finally:
        os.kill(first.pid, signal.SIGCONT)
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    reported = json.loads(out)["counts"]["uploaded"]
    assert reported == len(ours)
    assert {k: s3.get(f"data/{k}") for k in s3.objects()} == ours  # all it reported, nothing of the other
    assert not has_key(s3, LOCK_KEY)  # given back at the end

    again = cli("--json", "s3-sync", src_b, s3.url(), "--delete", "--endpoint-url", s3.endpoint)
    assert again.code == 0 and again.json["counts"]["deleted"] == len(ours)
    assert sorted(s3.objects()) == sorted(theirs)  # the lock object is never "extra"


def test_a_lock_left_by_a_killed_upload_expires(s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"a.txt": b"a"})
    left = {"host": "elsewhere", "pid": 4242, "started": "2026-01-01 00:00:00 UTC"}
    s3.put(LOCK_KEY, json.dumps(left).encode())
    blocked = cli("s3-sync", src, s3.url(), "--endpoint-url", s3.endpoint)
    assert blocked.code == 4 and "(pid 4242 on elsewhere, started 2026-01-01 00:00:00 UTC)" in blocked.stderr
    assert s3.objects() == {".neurofetch/lock": s3.objects()[".neurofetch/lock"]}  # nothing uploaded

    time.sleep(1.1)
    taken = cli("s3-sync", src, s3.url(), "--endpoint-url", s3.endpoint, env={"NEUROFETCH_S3_LOCK_STALE": "1"})
    assert taken.code == 0, taken.stderr
    assert sorted(s3.objects()) == ["a.txt"]

    bad = cli("s3-sync", src, s3.url(), "--endpoint-url", s3.endpoint, env={"NEUROFETCH_S3_LOCK_STALE": "nan"})
    assert bad.code == 2 and "NEUROFETCH_S3_LOCK_STALE" in bad.stderr


def test_a_whole_prefix_upload_and_a_shard_upload_exclude_each_other(s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {f"{i}.txt": b"x" for i in range(10)})
    s3.put("data/.neurofetch/lock-shard-1-of-2", json.dumps({"host": "h", "pid": 7, "started": "now"}).encode())
    whole = cli("s3-sync", src, s3.url(), "--delete", "--endpoint-url", s3.endpoint)
    assert whole.code == 4 and "pid 7 on h" in whole.stderr
    other_shard = cli("s3-sync", src, s3.url(), "--delete", "--shard", "2/2", "--endpoint-url", s3.endpoint)
    assert other_shard.code == 0, other_shard.stderr
    mine = sorted(k for k in read_tree(src) if Shard(2, 2).owns(k))
    assert mine and sorted(s3.objects()) == [".neurofetch/lock-shard-1-of-2", *mine]


def test_a_killed_download_leaves_no_partial_behind(s3: S3Env, tmp_path: Path) -> None:
    big = os.urandom(96 * 1024 * 1024)
    s3.client.put_object(Bucket=s3.bucket, Key="data/big.bin", Body=big)
    s3.put("data/small.txt", b"small")
    dst = tmp_path / "dst"
    first = start("s3-sync", s3.url(), dst, "--endpoint-url", s3.endpoint, "-j", "1")
    try:
        wait_for(lambda: bool(partials(dst)) or first.poll() is not None, "the download to begin")
        os.kill(first.pid, signal.SIGSTOP)
        second = cli("s3-sync", s3.url(), dst, "--endpoint-url", s3.endpoint)  # the same destination
        assert second.code == 4 and f"pid {first.pid}" in second.stderr, second.stderr
    finally:
        first.kill()
        first.communicate(timeout=30)
    assert partials(dst), "the killed run should have left its partial download"

    wait_next_second()
    again = cli("--json", "s3-sync", s3.url(), dst, "--endpoint-url", s3.endpoint)
    assert again.code == 0, again.stderr
    assert "removed 1 partial download(s) of an interrupted run" in again.stderr
    assert not partials(dst)
    assert read_tree(dst) == {"big.bin": big, "small.txt": b"small"}
    back = cli("--json", "s3-sync", dst, s3.url("copy"), "--endpoint-url", s3.endpoint)
    assert back.code == 0 and sorted(s3.objects("copy/")) == ["big.bin", "small.txt"]


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder another user can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="nf-unreadable-"))
    path.chmod(0o755)
    yield path
    for sub in path.rglob("*"):
        if sub.is_dir():
            sub.chmod(0o755)
    shutil.rmtree(path, ignore_errors=True)


def test_unreadable_files_and_folders_are_failures_naming_each(s3: S3Env, shared_dir: Path) -> None:
    src = make_tree(shared_dir / "src", {"ok.txt": b"ok", "secret.txt": b"secret", "closed/inside.txt": b"in"})
    assert cli("s3-sync", src, s3.url(), "--endpoint-url", s3.endpoint).code == 0
    s3.put("data/gone.txt", b"only in the bucket")
    (src / "secret.txt").chmod(0)  # unchanged since the upload: would be skipped without a look
    (src / "closed").chmod(0)
    home = shared_dir / "home"
    home.mkdir(mode=0o777)
    home.chmod(0o777)
    args = ["s3-sync", src, s3.url(), "--delete", "--endpoint-url", s3.endpoint]
    if os.geteuid() == 0:  # root reads everything: run as nobody, as a user would
        as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        if subprocess.run([*as_nobody, sys.executable, "-c", ""], capture_output=True).returncode != 0:
            pytest.skip(f"user nobody cannot run {sys.executable} (an interpreter under a private home)")
        proc = start(
            *args,
            prefix=as_nobody,
            env={
                "HOME": str(home),
                "XDG_CONFIG_HOME": str(home),
                "XDG_STATE_HOME": str(home),
                "XDG_CACHE_HOME": str(home),
                "AWS_EC2_METADATA_DISABLED": "true",
            },
        )
        out, err = proc.communicate(timeout=60)
        run = CliRun(proc.returncode, out, err)
    else:
        run = cli("--json", *args)
    assert run.code == 1, run.stderr
    assert "Traceback" not in run.stderr
    failures = {f["item"]: f["error"] for f in run.json["failures"]}
    assert failures == {
        "secret.txt": "cannot read: permission denied",
        "closed/": "cannot read folder: Permission denied",
    }
    # --delete held back: neither the unreadable files' copies nor the extra object are removed
    assert run.json["deletions_skipped"] == 3
    assert sorted(s3.objects()) == ["closed/inside.txt", "gone.txt", "ok.txt", "secret.txt"]


def test_an_upload_with_nothing_to_write_leaves_the_prefix_lock_alone(s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {f"{i}.txt": b"x" for i in range(5)})
    assert cli("s3-sync", src, s3.url(), "--delete", "--endpoint-url", s3.endpoint).code == 0
    theirs = json.dumps({"host": "h", "pid": 7, "started": "now"}).encode()
    s3.put(LOCK_KEY, theirs)  # another run is uploading into the prefix
    again = cli("--json", "s3-sync", src, s3.url(), "--delete", "--endpoint-url", s3.endpoint)
    assert again.code == 0, again.stderr
    assert again.json["counts"] == {"uploaded": 0, "skipped": 5, "deleted": 0}
    assert s3.get(LOCK_KEY) == theirs
    (src / "new.txt").write_bytes(b"n")  # now there is something to write: the other run's lock stops it
    blocked = cli("s3-sync", src, s3.url(), "--delete", "--endpoint-url", s3.endpoint)
    assert blocked.code == 4 and "pid 7 on h" in blocked.stderr
    assert sorted(s3.objects()) == [".neurofetch/lock", *(f"{i}.txt" for i in range(5))]
