"""The pure decision logic of s3-sync: filters, shards, the join, the rules, ETags (no server)."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from neurofetch.errors import UsageError
from neurofetch.transfer.sync.etag import MiB, aws_part_size, candidate_part_sizes, etag_matches, file_etags
from neurofetch.transfer.sync.model import RemoteObject, S3Location
from neurofetch.transfer.sync.plan import LocalFile, OrderedFilters, Rules, compare, parse_shard, plan, plan_line

T = 1_700_000_000


def local(size: int = 10, mtime: float = T) -> LocalFile:
    return LocalFile("/x", size, int(mtime * 1_000_000_000))


def remote(key: str = "p/a", size: int = 10, mtime: int = T, etag: str = '"e"', cls: str = "STANDARD") -> RemoteObject:
    return RemoteObject(key, size, mtime, etag, cls)


# -- filters ------------------------------------------------------------------------------------------------------
def test_filters_last_match_wins_in_command_line_order() -> None:
    names = ["a.txt", "b.bin", "sub/c.txt", "sub/d.bin"]
    keep = OrderedFilters([("exclude", "*"), ("include", "*.txt")])
    assert [n for n in names if keep.included(n)] == ["a.txt", "sub/c.txt"]  # aws: verified in s3.md §5a
    reverse = OrderedFilters([("include", "*.txt"), ("exclude", "*")])
    assert [n for n in names if reverse.included(n)] == []
    assert all(OrderedFilters().included(n) for n in names)  # default: include


def test_filter_star_crosses_slashes_and_matches_relative_paths() -> None:
    f = OrderedFilters([("exclude", "sub/*")])
    assert not f.included("sub/deep/x.bin")
    assert f.included("other/sub/x.bin")
    assert not OrderedFilters([("exclude", "*.bin")]).included("a/b/c.bin")
    assert OrderedFilters([("exclude", "*.BIN")]).included("c.bin")  # case-sensitive


def test_directories_are_pruned_only_when_nothing_below_can_come_back() -> None:
    assert OrderedFilters([("exclude", "raw/*")]).prunes("raw")
    assert OrderedFilters([("exclude", "*/.git/*")]).prunes("a/.git")
    assert not OrderedFilters([("exclude", "raw/*"), ("include", "raw/keep.txt")]).prunes("raw")
    assert not OrderedFilters([("exclude", "*.tmp")]).prunes("raw")
    assert OrderedFilters([("exclude", "*"), ("include", "*.txt"), ("exclude", "cache/*")]).prunes("cache")


def test_bad_filter_kinds_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        OrderedFilters([("keep", "*")])
    with pytest.raises(UsageError):
        OrderedFilters([("exclude", "")])


# -- shards -------------------------------------------------------------------------------------------------------
def test_shards_partition_the_names() -> None:
    names = [f"d{i}/f{i}.bin" for i in range(300)]
    shards = [parse_shard((k, 3)) for k in (1, 2, 3)]
    owners = [[s.owns(n) for s in shards] for n in names]  # type: ignore[union-attr]
    assert all(sum(o) == 1 for o in owners)
    assert all(sum(o[i] for o in owners) > 50 for i in range(3))
    with pytest.raises(UsageError):
        parse_shard((4, 3))


# -- rules --------------------------------------------------------------------------------------------------------
def test_upload_rules_compare_size_then_whole_seconds() -> None:
    up = Rules("upload")
    assert compare(up, local(11), remote())[0] == "upload"
    assert compare(up, local(mtime=T + 1), remote())[0] == "upload"
    assert compare(up, local(mtime=T + 0.9), remote())[0] == "skip"  # same second: no re-upload
    assert compare(up, local(mtime=T - 100), remote())[0] == "skip"  # older: aws's documented hole


def test_download_rules_want_the_exact_second() -> None:
    down = Rules("download")
    assert compare(down, local(11), remote())[0] == "download"
    assert compare(down, local(mtime=T - 1), remote())[0] == "download"  # remote overwritten later
    assert compare(down, local(mtime=T + 5), remote())[0] == "download"  # aws would skip this one
    assert compare(down, local(mtime=T + 0.5), remote())[0] == "skip"


def test_size_only_and_checksum_modes() -> None:
    assert compare(Rules("upload", size_only=True), local(mtime=T + 99), remote())[0] == "skip"
    assert compare(Rules("upload", size_only=True), local(12), remote())[0] == "upload"
    assert compare(Rules("download", checksum=True), local(mtime=T + 99), remote())[0] == "check"
    assert compare(Rules("download", checksum=True), local(12), remote())[0] == "download"


def test_plan_joins_by_key_whatever_the_listing_order() -> None:
    names = ["dir/a", "dir-2/a", "dir.x", "dir/b/c", "Z", "a b", "é"]
    local_side = {n: local() for n in names}
    objects = [remote(f"p/{n}") for n in names]
    for seed in range(5):
        random.Random(seed).shuffle(objects)
        pages = [objects[:3], objects[3:], objects[:2]]  # with duplicates, unsorted
        actions = list(plan(Rules("upload", delete=True), local_side, pages, "p/", OrderedFilters()))
        assert sorted(a.rel for a in actions) == sorted(names)
        assert {a.kind for a in actions} == {"skip"}


def test_plan_uploads_missing_and_deletes_extras_but_not_excluded_ones() -> None:
    local_side = {"new.txt": local(), "same.txt": local()}
    pages = [[remote("p/same.txt"), remote("p/old.txt"), remote("p/keep.log"), remote("p/dir/")]]
    filters = OrderedFilters([("exclude", "*.log")])
    actions = {a.rel: a.kind for a in plan(Rules("upload", delete=True), local_side, pages, "p/", filters)}
    assert actions == {"new.txt": "upload", "same.txt": "skip", "old.txt": "delete"}
    no_delete = {a.rel: a.kind for a in plan(Rules("upload"), local_side, pages, "p/", filters)}
    assert "old.txt" not in no_delete


def test_plan_download_refuses_unsafe_keys_and_skips_archived_objects() -> None:
    pages = [[remote("p/../etc/passwd"), remote("p/ok"), remote("p/cold", cls="GLACIER"), remote("p/a\x01b")]]
    actions = {a.rel: a for a in plan(Rules("download", delete=True), {"gone": local()}, pages, "p/", OrderedFilters())}
    assert actions["../etc/passwd"].kind == "fail"
    assert actions["a\x01b"].kind == "fail"
    assert actions["ok"].kind == "download"
    assert actions["cold"].kind == "archived"
    assert actions["gone"].kind == "delete"


def test_plan_line_is_aws_style() -> None:
    assert (
        plan_line({"action": "upload", "source": "/d/a", "destination": "s3://b/p/a"})
        == "(dryrun) upload: /d/a to s3://b/p/a"
    )
    assert plan_line({"action": "delete", "target": "s3://b/p/x"}) == "(dryrun) delete: s3://b/p/x"


def test_s3_urls() -> None:
    assert S3Location.parse("s3://b/p") == S3Location("b", "p/")
    assert S3Location.parse("s3://b") == S3Location("b", "")
    assert S3Location.parse("s3://b/p/").key("x/y") == "p/x/y"
    for bad in ("s3://", "http://b/p", "b/p"):
        with pytest.raises(UsageError):
            S3Location.parse(bad)


# -- ETags --------------------------------------------------------------------------------------------------------
def _aws_etag(data: bytes, part: int) -> str:
    digests = [hashlib.md5(data[i : i + part]).digest() for i in range(0, len(data), part)]
    return f'"{hashlib.md5(b"".join(digests)).hexdigest()}-{len(digests)}"'


def test_etags_of_plain_and_multipart_uploads(tmp_path: Path) -> None:
    data = random.Random(1).randbytes(17 * MiB + 123)
    path = tmp_path / "f"
    path.write_bytes(data)
    assert etag_matches(path, len(data), f'"{hashlib.md5(data).hexdigest()}"')
    for part in (8 * MiB, 5 * MiB, 16 * MiB):  # aws, obstore/rclone, others
        assert etag_matches(path, len(data), _aws_etag(data, part)), part
    assert not etag_matches(path, len(data), _aws_etag(data[:-1] + b"!", 8 * MiB))
    assert not etag_matches(path, len(data), '"0123456789abcdef0123456789abcdef-3"')  # no part size fits
    assert not etag_matches(path, len(data), "W/opaque")
    whole, parts = file_etags(path, [8 * MiB], whole=True)
    assert whole == hashlib.md5(data).hexdigest()
    assert f'"{parts[8 * MiB]}"' == _aws_etag(data, 8 * MiB)


def test_part_sizes() -> None:
    assert aws_part_size(100 * MiB) == 8 * MiB
    assert aws_part_size(100_000 * MiB) == 16 * MiB  # ≤ 10,000 parts
    assert candidate_part_sizes(64 * MiB, 8)[0] == 8 * MiB
    assert 50 * MiB in candidate_part_sizes(64 * MiB, 2)
    assert candidate_part_sizes(64 * MiB, 1) == [64 * MiB] or 64 * MiB in candidate_part_sizes(64 * MiB, 1)


def test_plan_drops_a_key_the_server_repeats() -> None:
    pages = [[remote("p/a"), remote("p/a")], [remote("p/a"), remote("p/b")]]
    assert [(a.kind, a.rel) for a in plan(Rules("download"), {}, pages, "p/", OrderedFilters())] == [
        ("download", "a"),
        ("download", "b"),
    ]
