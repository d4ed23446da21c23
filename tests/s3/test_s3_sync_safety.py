"""Filters, --delete safety, --dry-run, buckets, storage classes, shards, odd names, interruption."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from neurofetch.errors import ExitCode, UsageError
from tests.helpers import run_cli
from tests.s3.helpers import DROP, S3Env, forwarding_proxy, make_tree, read_tree

TREE = {"a.txt": b"a", "b.bin": b"bb", "sub/c.txt": b"ccc", "sub/d.bin": b"dddd", "raw/e.txt": b"eeeee"}


def test_filters_are_evaluated_in_order_last_match_wins(s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", TREE)
    s3.sync(src, s3.url("one"), filters=[("exclude", "*"), ("include", "*.txt"), ("exclude", "raw/*")])
    assert sorted(s3.objects("one/")) == ["a.txt", "sub/c.txt"]
    s3.sync(src, s3.url("two"), filters=[("include", "*.txt"), ("exclude", "*")])
    assert s3.objects("two/") == {}

    dst = tmp_path / "dst"
    s3.sync(src, s3.url("all"))
    s3.sync(s3.url("all"), dst, filters=[("exclude", "sub/*")])  # downloads filter by the same rules
    assert sorted(read_tree(dst)) == ["a.txt", "b.bin", "raw/e.txt"]


def test_delete_removes_extras_but_never_excluded_keys(any_s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", TREE)
    any_s3.sync(src, any_s3.url())
    for rel in ("b.bin", "raw/e.txt"):
        (src / rel).unlink()
    without = any_s3.sync(src, any_s3.url())
    assert without.counts.get("deleted", 0) == 0 and len(any_s3.objects()) == 5
    result = any_s3.sync(src, any_s3.url(), delete=True, filters=[("exclude", "raw/*")])
    assert result.counts["deleted"] == 1
    assert sorted(any_s3.objects()) == ["a.txt", "raw/e.txt", "sub/c.txt", "sub/d.bin"]

    dst = tmp_path / "dst"
    any_s3.sync(any_s3.url(), dst)
    make_tree(dst, {"local-only.txt": b"x", "keep.log": b"y"})
    result = any_s3.sync(any_s3.url(), dst, delete=True, filters=[("exclude", "*.log")])
    assert result.counts["deleted"] == 1
    assert sorted(read_tree(dst)) == ["a.txt", "keep.log", "raw/e.txt", "sub/c.txt", "sub/d.bin"]


def test_no_delete_when_a_transfer_failed(s3: S3Env, tmp_path: Path) -> None:
    s3.put("data/x/y", b"remote")  # cannot land: local "x" is a file
    s3.put("data/bad\x01name", b"unsafe")  # refused by the safe-path rules
    dst = make_tree(tmp_path / "dst", {"x": b"local file", "extra.txt": b"keep me"})
    result = s3.sync(s3.url(), dst, delete=True)
    assert result.exit_code == ExitCode.PARTIAL
    assert sorted(f.item for f in result.failures) == ["bad\x01name", "x/y"]
    assert result.counts["deleted"] == 0 and result.extra["deletions_skipped"] == 2
    assert read_tree(dst) == {"x": b"local file", "extra.txt": b"keep me"}  # nothing lost, nothing half-written
    assert not [p for p in dst.rglob("*") if p.name.endswith(".nf-partial")]
    assert "deletion(s) skipped" in " ".join(result.messages)


def test_upload_with_an_undecodable_name_blocks_deletes(s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"ok.txt": b"ok"})
    s3.put("data/stale.txt", b"old")
    try:
        (src / os.fsdecode(b"bad\xff.bin")).write_bytes(b"x")
    except (OSError, UnicodeError):
        pytest.skip("this filesystem refuses non-UTF-8 names")
    result = s3.sync(src, s3.url(), delete=True)
    assert [f.item for f in result.failures] == [os.fsdecode(b"bad\xff.bin")]
    assert "stale.txt" in s3.objects() and "ok.txt" in s3.objects()


def test_dry_run_changes_nothing_and_lists_every_action(s3: S3Env, tmp_path: Path) -> None:
    from neurofetch.transfer.sync.plan import plan_line

    src = make_tree(tmp_path / "src", TREE)
    s3.put("data/old.txt", b"old")
    result = s3.sync(src, s3.url(), dry_run=True, delete=True)
    assert result.dry_run and result.exit_code == 0
    assert [(e["action"], e["path"]) for e in result.planned] == [("upload", p) for p in sorted(TREE)] + [
        ("delete", "old.txt")
    ]
    assert result.counts == {"to_upload": 5, "skipped": 0, "to_delete": 1}
    assert plan_line(result.planned[0]) == f"(dryrun) upload: {src / 'a.txt'} to s3://{s3.bucket}/data/a.txt"
    assert plan_line(result.planned[-1]) == f"(dryrun) delete: s3://{s3.bucket}/data/old.txt"
    assert sorted(s3.objects()) == ["old.txt"]
    assert result.to_json()["planned"] == result.planned

    dst = tmp_path / "dst"
    down = s3.sync(s3.url(), dst, dry_run=True)
    assert [e["action"] for e in down.planned] == ["download"] and not dst.exists()


def test_missing_bucket_is_a_usage_error_unless_created(s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"a": b"a"})
    url = f"s3://{s3.bucket}-new/p"
    with pytest.raises(UsageError, match=r"does not exist.*--create-bucket"):
        s3.sync(src, url)
    with pytest.raises(UsageError, match="does not exist"):
        s3.sync(url, tmp_path / "dst")
    planned = s3.sync(src, url, create_bucket=True, dry_run=True)
    assert planned.planned[0]["action"] == "make_bucket"
    with pytest.raises(UsageError):
        s3.sync(src, url)  # the dry run created nothing
    created = s3.sync(src, url, create_bucket=True)
    assert created.counts["uploaded"] == 1
    assert s3.client.get_object(Bucket=f"{s3.bucket}-new", Key="p/a")["Body"].read() == b"a"
    assert s3.sync(src, url, create_bucket=True).counts["uploaded"] == 0


def test_storage_class_is_applied_and_archived_objects_are_skipped(any_s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"small.txt": b"s", "big.bin": os.urandom(9 * 1024 * 1024)})
    any_s3.sync(src, any_s3.url(), storage_class="STANDARD_IA")
    for key in ("data/small.txt", "data/big.bin"):
        assert any_s3.client.head_object(Bucket=any_s3.bucket, Key=key).get("StorageClass") == "STANDARD_IA"
    any_s3.client.put_object(Bucket=any_s3.bucket, Key="data/cold.bin", Body=b"c", StorageClass="GLACIER")
    dst = tmp_path / "dst"
    result = any_s3.sync(any_s3.url(), dst)
    assert result.exit_code == 0 and result.counts["skipped_archived"] == 1
    assert sorted(read_tree(dst)) == ["big.bin", "small.txt"]
    with pytest.raises(UsageError):
        any_s3.sync(src, any_s3.url(), storage_class="COLD")


def test_shards_split_the_work_between_runs(s3: S3Env, tmp_path: Path) -> None:
    files = {f"d{i}/f{i}.bin": bytes([i]) * i for i in range(1, 40)}
    src = make_tree(tmp_path / "src", files)
    counts = [s3.sync(src, s3.url(), shard=(k, 3), delete=True).counts["uploaded"] for k in (1, 2, 3)]
    assert sum(counts) == len(files) and all(counts)
    assert sorted(s3.objects()) == sorted(files)  # --delete stays inside its shard


@pytest.mark.parametrize("backend", ["auto", "boto3"])
def test_odd_key_names_round_trip_on_both_data_paths(s3: S3Env, tmp_path: Path, backend: str) -> None:
    names = {
        "a b.txt": b"1",
        "ü/é.bin": b"2",
        "x%20y": b"3",
        "h#.bin": b"4",
        "a+b=c&d": b"5",
        "dir-2/a": b"6",
        "dir/a": b"7",
        "dir.x": b"8",
        "emoji😀": b"9",
        "t~": b"10",
        "semi;colon": b"11",
    }
    src = make_tree(tmp_path / "src", names)
    assert s3.sync(src, s3.url(), backend=backend).counts["uploaded"] == len(names)
    assert {k: s3.get(f"data/{k}") for k in s3.objects()} == names
    dst = tmp_path / "dst"
    assert s3.sync(s3.url(), dst, backend=backend).counts["downloaded"] == len(names)
    assert read_tree(dst) == names
    assert s3.sync(dst, s3.url(), delete=True, backend=backend).counts == {
        "uploaded": 0,
        "skipped": len(names),
        "deleted": 0,
    }


def test_partial_downloads_are_ignored_and_never_uploaded(s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"a": b"a", ".a.1234abcd.nf-partial": b"half"})
    s3.sync(src, s3.url(), delete=True)
    assert sorted(s3.objects()) == ["a"]


class _InterruptAfter:
    """A brief-style reporter that presses Ctrl-C after some files."""

    def __init__(self, after: int) -> None:
        self.after, self.done, self.started, self.failed = after, 0, 0, 0

    def item_started(self, name: str, size: int) -> None:
        self.started += 1

    def item_done(self, name: str, nbytes: int) -> None:
        self.done += 1
        if self.done == self.after:
            os.kill(os.getpid(), signal.SIGINT)

    def item_failed(self, name: str, error: str) -> None:
        self.failed += 1


def test_an_interrupted_sync_resumes_by_running_again(s3: S3Env, tmp_path: Path) -> None:
    from neurofetch.services.s3.sync import S3SyncOptions, s3_sync

    files = {f"f{i:03d}.bin": os.urandom(2000) for i in range(200)}
    src = make_tree(tmp_path / "src", files)
    reporter = _InterruptAfter(20)
    result = s3_sync(S3SyncOptions(str(src), s3.url(), endpoint_url=s3.endpoint, jobs=2), reporter=reporter)
    assert result.interrupted and result.exit_code == ExitCode.INTERRUPTED
    assert 20 <= result.counts["uploaded"] < 200
    resumed = s3.sync(src, s3.url())
    assert resumed.exit_code == 0
    assert resumed.counts["uploaded"] + result.counts["uploaded"] >= 200 - 4
    assert {k: s3.get(f"data/{k}") for k in s3.objects()} == files

    dst = tmp_path / "dst"
    stopped = s3_sync(S3SyncOptions(s3.url(), str(dst), endpoint_url=s3.endpoint, jobs=2), reporter=_InterruptAfter(30))
    assert stopped.interrupted
    assert not [p for p in dst.rglob("*") if p.name.endswith(".nf-partial")]
    assert s3.sync(s3.url(), dst).exit_code == 0
    assert read_tree(dst) == files


def test_reporter_events(s3: S3Env, tmp_path: Path) -> None:
    from neurofetch.services.s3.sync import S3SyncOptions, s3_sync

    class Events:
        def __init__(self) -> None:
            self.log: list[tuple[str, ...]] = []
            self.bytes = 0
            self.closed = False

        def queued(self, files: int = 0, nbytes: int = 0) -> None:
            self.log.append(("queued",))

        def started(self, label: str, total: int | None) -> None:
            self.log.append(("started", label))

        def advanced(self, nbytes: int) -> None:
            self.bytes += nbytes

        def finished(self, label: str, outcome: str, nbytes: int = 0) -> None:
            self.log.append((outcome, label))

        def failed(self, label: str, error: str) -> None:
            self.log.append(("failed", label))

        def note(self, message: str) -> None: ...

        def close(self) -> None:
            self.closed = True

    src = make_tree(tmp_path / "src", {"a": b"a" * 10, "big": os.urandom(8 * 1024 * 1024)})
    events = Events()
    s3_sync(S3SyncOptions(str(src), s3.url(), endpoint_url=s3.endpoint), reporter=events)
    assert sorted(e for e in events.log if e[0] == "uploaded") == [("uploaded", "a"), ("uploaded", "big")]
    assert events.bytes == 10 + 8 * 1024 * 1024 and events.closed
    events = Events()
    s3_sync(S3SyncOptions(str(src), s3.url(), endpoint_url=s3.endpoint), reporter=events)
    assert sorted(events.log) == [("skipped", "a"), ("skipped", "big")]


class _InterruptAfterBytes:
    """An engine-style reporter that presses Ctrl-C once some bytes of a big file have moved."""

    def __init__(self, after: int) -> None:
        self.after, self.bytes, self.fired = after, 0, False

    def queued(self, files: int = 0, nbytes: int = 0) -> None: ...
    def started(self, label: str, total: int | None) -> None: ...
    def finished(self, label: str, outcome: str, nbytes: int = 0) -> None: ...
    def failed(self, label: str, error: str) -> None: ...
    def note(self, message: str) -> None: ...
    def close(self) -> None: ...

    def advanced(self, nbytes: int) -> None:
        self.bytes += nbytes
        if self.bytes >= self.after and not self.fired:
            self.fired = True
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("backend", ["auto", "boto3"])
def test_interrupting_big_transfers_leaves_nothing_half_done(s3: S3Env, tmp_path: Path, backend: str) -> None:
    from neurofetch.services.s3.sync import S3SyncOptions, s3_sync

    files = {f"big{i}.bin": os.urandom(20 * 1024 * 1024) for i in range(3)}
    src = make_tree(tmp_path / "src", files)
    up = s3_sync(
        S3SyncOptions(str(src), s3.url(), endpoint_url=s3.endpoint, jobs=2, backend=backend),
        reporter=_InterruptAfterBytes(24 * 1024 * 1024),
    )
    assert up.interrupted
    assert s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []  # aborted, not left behind
    for key in s3.objects():
        assert s3.get(f"data/{key}") == files[key]  # whatever exists is complete
    assert s3.sync(src, s3.url(), backend=backend).exit_code == 0

    dst = tmp_path / "dst"
    down = s3_sync(
        S3SyncOptions(s3.url(), str(dst), endpoint_url=s3.endpoint, jobs=2, backend=backend),
        reporter=_InterruptAfterBytes(24 * 1024 * 1024),
    )
    assert down.interrupted
    assert not [p for p in dst.rglob("*") if p.name.endswith(".nf-partial")]
    assert all(files[p.name] == p.read_bytes() for p in dst.glob("*.bin"))
    assert s3.sync(s3.url(), dst, backend=backend).exit_code == 0
    assert read_tree(dst) == files


def test_a_sync_whose_every_download_is_unreachable_stops_as_every_engine_does(moto_s3: S3Env, tmp_path: Path) -> None:
    """transfer/control.py's stop rule: five unreachable items in a row, nothing done yet, end the run (exit 5)
    instead of trying every object of the bucket."""
    for i in range(12):
        moto_s3.put(f"data/f{i:02d}", b"x")

    def objects_only(method: str, path: str, user_agent: str) -> int | None:
        return DROP if method == "GET" and "/data/f" in path else None  # listings pass, every object GET fails

    with forwarding_proxy(moto_s3.endpoint, objects_only) as endpoint:
        result = run_cli(
            "--json",
            "s3-sync",
            moto_s3.url(),
            tmp_path / "dst",
            "--endpoint-url",
            endpoint,
            "--jobs",
            "1",
            env={"AWS_EC2_METADATA_DISABLED": "true", "AWS_MAX_ATTEMPTS": "1"},
        )
    assert result.code == 5, result.stderr
    assert "keeps failing" in result.stderr
    assert len(result.json["failures"]) == 5
    assert not [p for p in (tmp_path / "dst").rglob("*") if p.is_file() and ".neurofetch" not in p.parts]
