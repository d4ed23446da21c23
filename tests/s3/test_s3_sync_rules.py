"""The decision rules of reference/s3.md §6.2 against real servers, including the §5d edge cases
(S2 same size with the old mtime restored, S3 same-size edit, S4 touch, S5 round trip, S6 remote
overwrite). Every step asserts how many files moved."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.s3.helpers import OLD, S3Env, make_tree, read_tree, set_mtime, wait_next_second

FILES = {"f0.bin": b"0" * 1000, "f1.bin": b"1" * 1000, "sub/f2.bin": b"2" * 1000}


def moved(result: object) -> int:
    counts = result.counts  # type: ignore[attr-defined]
    return counts.get("uploaded", 0) + counts.get("downloaded", 0)


def test_upload_round_trip_and_no_op_reruns(any_s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", FILES)
    first = any_s3.sync(src, any_s3.url())
    assert (first.exit_code, moved(first), first.bytes) == (0, 3, 3000)
    assert {k: any_s3.get(f"data/{k}") for k in any_s3.objects()} == FILES
    again = any_s3.sync(src, any_s3.url())
    assert (moved(again), again.counts["skipped"]) == (0, 3)

    dst = tmp_path / "dst"
    down = any_s3.sync(any_s3.url(), dst)
    assert (down.exit_code, moved(down)) == (0, 3)
    assert read_tree(dst) == FILES
    for key, obj in any_s3.objects().items():  # mtime = LastModified, whole seconds
        assert os.stat(dst / key).st_mtime == int(obj["LastModified"].timestamp())
    assert moved(any_s3.sync(any_s3.url(), dst)) == 0
    assert moved(any_s3.sync(dst, any_s3.url())) == 0  # S5: the round trip is a no-op
    assert not list(dst.rglob("*.nf-partial"))


def test_same_size_edits_s2_s3_s4(s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", FILES)
    assert moved(s3.sync(src, s3.url())) == 3
    uploaded_at = s3.last_modified("data/f1.bin")

    (src / "f0.bin").write_bytes(b"x" * 1000)  # S2: edit, then restore the old mtime
    set_mtime(src / "f0.bin", OLD)
    (src / "f1.bin").write_bytes(b"y" * 1000)  # S3: edit with a newer mtime
    set_mtime(src / "f1.bin", uploaded_at + 2)
    set_mtime(src / "sub/f2.bin", uploaded_at + 2)  # S4: touched only

    checksum_dry = s3.sync(src, s3.url(), checksum=True, dry_run=True)
    assert sorted(e["path"] for e in checksum_dry.planned) == ["f0.bin", "f1.bin"]  # content, not mtime

    default = s3.sync(src, s3.url())
    assert moved(default) == 2  # f1 (S3) and f2 (S4 touched)
    assert s3.get("data/f1.bin") == b"y" * 1000
    assert s3.get("data/f0.bin") == b"0" * 1000  # S2 is missed without --checksum
    checksum = s3.sync(src, s3.url(), checksum=True)
    assert moved(checksum) == 1  # only f0: f2's content is unchanged
    assert s3.get("data/f0.bin") == b"x" * 1000


def test_mtime_in_the_same_second_as_the_upload_is_not_newer(s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"a": b"a"})
    s3.sync(src, s3.url())
    set_mtime(src / "a", s3.last_modified("data/a") + 0.7)  # aws re-uploads this (S4 footnote)
    assert moved(s3.sync(src, s3.url())) == 0
    set_mtime(src / "a", s3.last_modified("data/a") + 1)
    assert moved(s3.sync(src, s3.url())) == 1


def test_size_change_always_copies(s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"a": b"abc"})
    s3.sync(src, s3.url())
    make_tree(src, {"a": b"abcd"}, mtime=OLD - 500)  # older mtime, other size
    assert moved(s3.sync(src, s3.url(), size_only=True)) == 1
    assert s3.get("data/a") == b"abcd"


def test_size_only_ignores_times_in_both_directions(s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"a": b"abc"})
    s3.sync(src, s3.url())
    make_tree(src, {"a": b"xyz"}, mtime=OLD + 99_999)
    assert moved(s3.sync(src, s3.url(), size_only=True)) == 0
    dst = make_tree(tmp_path / "dst", {"a": b"qqq"})
    assert moved(s3.sync(s3.url(), dst, size_only=True)) == 0
    assert (dst / "a").read_bytes() == b"qqq"


def test_download_catches_a_same_size_remote_overwrite_s6(any_s3: S3Env, tmp_path: Path) -> None:
    any_s3.put("data/f0.bin", b"0" * 1000)
    dst = tmp_path / "dst"
    assert moved(any_s3.sync(any_s3.url(), dst)) == 1
    wait_next_second()
    any_s3.put("data/f0.bin", b"9" * 1000)  # same size, later LastModified
    assert moved(any_s3.sync(any_s3.url(), dst)) == 1  # aws without --exact-timestamps: 0
    assert (dst / "f0.bin").read_bytes() == b"9" * 1000


def test_download_with_a_newer_local_mtime_is_replaced(s3: S3Env, tmp_path: Path) -> None:
    s3.put("data/a", b"remote")
    dst = make_tree(tmp_path / "dst", {"a": b"locall"}, mtime=s3.last_modified("data/a") + 60)
    assert moved(s3.sync(s3.url(), dst)) == 1
    assert (dst / "a").read_bytes() == b"remote"


def test_checksum_download_fixes_content_and_adopts_the_remote_time(s3: S3Env, tmp_path: Path) -> None:
    s3.put("data/same", b"same!")
    s3.put("data/diff", b"remot")
    lm = s3.last_modified("data/same")
    dst = make_tree(tmp_path / "dst", {"same": b"same!", "diff": b"local"}, mtime=lm)
    result = s3.sync(s3.url(), dst, checksum=True)
    assert (moved(result), result.counts["skipped"]) == (1, 1)
    assert (dst / "diff").read_bytes() == b"remot"
    set_mtime(dst / "same", OLD)
    again = s3.sync(s3.url(), dst, checksum=True)
    assert (moved(again), again.counts.get("mtime_updated")) == (0, 1)
    assert os.stat(dst / "same").st_mtime == lm  # later default runs are no-ops
    assert moved(s3.sync(s3.url(), dst)) == 0


def _aws_etag(data: bytes) -> str:
    import hashlib

    parts = [hashlib.md5(data[i : i + 8 * 1024 * 1024]).digest() for i in range(0, len(data), 8 * 1024 * 1024)]
    return f'"{hashlib.md5(b"".join(parts)).hexdigest()}-{len(parts)}"'  # what aws s3 cp produces


@pytest.mark.parametrize("backend", ["auto", "boto3"])  # obstore / s3transfer multipart
def test_multipart_upload_download_and_checksum(s3: S3Env, tmp_path: Path, backend: str) -> None:
    import random

    data = random.Random(7).randbytes(17 * 1024 * 1024 + 5)  # 3 parts of 8 MiB
    exact = random.Random(8).randbytes(8 * 1024 * 1024)  # aws: multipart from 8 MiB on, "-1"
    src = make_tree(tmp_path / "src", {"big.nii": data, "exact.bin": exact, "small.txt": b"s"})
    assert moved(s3.sync(src, s3.url(), backend=backend)) == 3
    assert s3.objects()["big.nii"]["ETag"] == _aws_etag(data)
    assert s3.objects()["exact.bin"]["ETag"] == _aws_etag(exact)
    assert moved(s3.sync(src, s3.url(), checksum=True, backend=backend)) == 0

    dst = tmp_path / "dst"
    assert moved(s3.sync(s3.url(), dst, backend=backend)) == 3  # ranged GETs
    assert (dst / "big.nii").read_bytes() == data and (dst / "exact.bin").read_bytes() == exact
    assert moved(s3.sync(s3.url(), dst, checksum=True, backend=backend)) == 0

    edited = bytearray(data)
    edited[9 * 1024 * 1024] ^= 0xFF  # same size, same mtime
    (src / "big.nii").write_bytes(bytes(edited))
    set_mtime(src / "big.nii", OLD)
    assert moved(s3.sync(src, s3.url(), backend=backend)) == 0
    assert moved(s3.sync(src, s3.url(), checksum=True, backend=backend)) == 1
    assert s3.get("data/big.nii") == bytes(edited)
