"""`neurofetch ls s3://BUCKET/PREFIX`: the objects `s3-sync` then downloads; `s3-sync s3://BUCKET/KEY DEST`
copies that one object."""

from __future__ import annotations

import json
from pathlib import Path

from tests.catalog_support import jsonl_rows
from tests.helpers import run_cli
from tests.s3.helpers import S3Env, read_tree

ENV: dict[str, str | None] = {"AWS_EC2_METADATA_DISABLED": "true"}


def test_s3_rows_are_what_s3_sync_downloads(s3: S3Env, tmp_path: Path) -> None:
    for key, body in {
        "data/a.nii": b"a" * 10,
        "data/sub/b.nii": b"b" * 20,
        "data/sub/c.txt": b"c",
        "other/x": b"x",
    }.items():
        s3.client.put_object(Bucket=s3.bucket, Key=key, Body=body)
    result = run_cli(
        "--json",
        "ls",
        s3.url("data"),
        "--endpoint-url",
        s3.endpoint,
        "-o",
        tmp_path / "t.jsonl",
        "--exclude",
        "*.txt",
        env=ENV,
    )
    assert result.code == 0, result.stderr
    assert result.json["counts"]["rows"] == 2 and result.json["bytes"] == 30
    rows = jsonl_rows((tmp_path / "t.jsonl").read_text())
    assert {r["path"]: r["size"] for r in rows} == {"a.nii": 10, "sub/b.nii": 20}
    assert rows[0]["url"] == f"s3://{s3.bucket}/data/{rows[0]['path']}" and rows[0]["etag"]
    assert {r["key"] for r in rows} == {"data/a.nii", "data/sub/b.nii"}
    down = run_cli(
        "s3-sync", s3.url("data"), tmp_path / "down", "--endpoint-url", s3.endpoint, "--exclude", "*.txt", env=ENV
    )
    assert down.code == 0, down.stderr
    assert {p: len(b) for p, b in read_tree(tmp_path / "down").items()} == {r["path"]: r["size"] for r in rows}


def test_s3_sync_of_one_key_copies_that_object(s3: S3Env, tmp_path: Path) -> None:
    s3.client.put_object(Bucket=s3.bucket, Key="one/key.nii", Body=b"payload")
    s3.client.put_object(Bucket=s3.bucket, Key="one/key.nii.bak", Body=b"other")
    result = run_cli(
        "--json", "s3-sync", f"s3://{s3.bucket}/one/key.nii", tmp_path / "dest", "--endpoint-url", s3.endpoint, env=ENV
    )
    assert result.code == 0, result.stderr
    assert result.json["counts"]["downloaded"] == 1
    assert (tmp_path / "dest" / "key.nii").read_bytes() == b"payload"
    assert sorted(p.name for p in (tmp_path / "dest").iterdir() if p.name != ".neurofetch") == ["key.nii"]
    listing = run_cli("ls", "-f", "jsonl", f"s3://{s3.bucket}/one/key.nii", "--endpoint-url", s3.endpoint, env=ENV)
    assert [r["path"] for r in jsonl_rows(listing.stdout)] == ["key.nii"]


def test_s3_sync_from_manifest_downloads_exactly_its_rows(s3: S3Env, tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        s3.client.put_object(Bucket=s3.bucket, Key=f"data/{name}.nii", Body=name.encode() * 3)
    listing = run_cli("ls", "-f", "jsonl", s3.url("data"), "--endpoint-url", s3.endpoint, env=ENV)
    rows = [r for r in jsonl_rows(listing.stdout) if r["path"] != "b.nii"]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in [*rows, {**rows[0], "path": "gone.nii"}]))
    result = run_cli(
        "--json",
        "s3-sync",
        s3.url("data"),
        tmp_path / "down",
        "--endpoint-url",
        s3.endpoint,
        "--from-manifest",
        manifest,
        env=ENV,
    )
    assert result.code == 1
    assert [f["item"] for f in result.json["failures"]] == ["gone.nii"]
    assert sorted(read_tree(tmp_path / "down")) == ["a.nii", "c.nii"]
    other = run_cli(
        "s3-sync",
        "s3://other-bucket/data",
        tmp_path / "down2",
        "--endpoint-url",
        s3.endpoint,
        "--from-manifest",
        manifest,
        env=ENV,
    )
    assert other.code == 2 and "not on this profile's server (s3://other-bucket)" in other.stderr
