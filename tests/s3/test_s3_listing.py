"""The lean listing (services/s3/listing.py) must see exactly what boto3's ListObjectsV2 sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from neurofetch.services.s3.bucket import S3Bucket, S3Settings
from tests.catalog_support import jsonl_rows
from tests.helpers import run_cli
from tests.s3.helpers import S3Env, forwarding_proxy, make_tree

ODD_KEYS = [
    "a b.txt",
    "a+b",
    "x%2Fy",
    "q?.bin",
    "h#.bin",
    "ü/é.bin",
    "dir/",
    "dir/x",
    "dir-2/x",
    "trail ",
    "amp&lt;",
    "ctl\x01x",
    "emoji😀",
    "back\\slash",
]


def _both(env: S3Env, prefix: str) -> tuple[list[tuple], list[tuple]]:
    from neurofetch.services.s3.listing import list_pages

    with S3Bucket(S3Settings(endpoint_url=env.endpoint), env.bucket) as bucket:
        pages = list_pages(
            endpoint=env.endpoint,
            bucket=env.bucket,
            prefix=prefix,
            region=bucket.region,
            credentials=bucket._credentials,
            verify=True,
        )  # raises instead of falling back
        lean = [(o.key, o.size, o.mtime, o.etag, o.storage_class) for page in pages for o in page]
        full = [(o.key, o.size, o.mtime, o.etag, o.storage_class) for page in bucket._boto3_pages(prefix) for o in page]
    return lean, full


def test_lean_listing_matches_boto3_on_odd_keys(any_s3: S3Env) -> None:
    stored = []
    for key in ODD_KEYS:
        try:
            any_s3.put(f"data/{key}", key.encode())
            stored.append(f"data/{key}")
        except Exception:  # a server may refuse a name; the listings must still agree on the rest
            continue
    any_s3.put("other/z", b"z")
    lean, full = _both(any_s3, "data/")
    assert sorted(lean) == sorted(full)
    assert len(full) >= len(stored) - 2  # SeaweedFS stores "dir/" as a folder and "back\slash" as a path


def test_lean_listing_pages_past_1000_keys(s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {f"k{i:04d}": b"" for i in range(1005)})
    assert s3.sync(src, s3.url(), jobs=16).counts["uploaded"] == 1005
    lean, full = _both(s3, "data/")
    assert len(lean) == 1005 and sorted(lean) == sorted(full)


def test_lean_listing_falls_back_to_boto3_for_errors(s3: S3Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from neurofetch.errors import AuthError

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    with (
        pytest.raises(AuthError, match="SignatureDoesNotMatch"),
        S3Bucket(S3Settings(endpoint_url=s3.endpoint), s3.bucket) as bucket,
    ):
        list(bucket.list_pages("data/"))


def test_a_listing_that_fails_part_way_goes_on_after_the_last_key(moto_s3: S3Env, tmp_path: Path) -> None:
    """Each key is listed once (no relisting from the start, which a flat-memory plan could not de-duplicate)."""
    src = make_tree(tmp_path / "src", {f"k{i:04d}": b"" for i in range(1005)})
    assert moto_s3.sync(src, moto_s3.url(), jobs=16).counts["uploaded"] == 1005
    failed: list[str] = []

    def second_lean_page(method: str, path: str, user_agent: str) -> int | None:
        """The lean listing's second page (boto3's requests say botocore) fails once with HTTP 500."""
        if "continuation-token" in path and "botocore" not in user_agent and not failed:
            failed.append(path)
            return 500
        return None

    with forwarding_proxy(moto_s3.endpoint, second_lean_page) as endpoint:
        result = run_cli(
            "--json",
            "ls",
            moto_s3.url("data"),
            "--endpoint-url",
            endpoint,
            "-o",
            tmp_path / "rows.jsonl",
            env={"AWS_EC2_METADATA_DISABLED": "true"},
        )
    assert failed, "the lean listing's second page was never asked for"
    assert result.code == 0, result.stderr
    paths = [row["path"] for row in jsonl_rows((tmp_path / "rows.jsonl").read_text())]
    assert len(paths) == 1005 and len(set(paths)) == 1005
