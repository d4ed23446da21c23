"""`api.s3_sync` and `api.ls` of a bucket from Python: a plain call, inside `asyncio.run(main())` and from a thread
whose event loop runs (a notebook)."""

from __future__ import annotations

from pathlib import Path

import pytest

from neurofetch import api
from neurofetch.errors import UsageError
from tests.s3.helpers import S3Env, make_tree, read_tree
from tests.test_api import MODES, call_in

TREE = {"a.txt": b"a", "b.bin": b"bb", "sub/c.txt": b"ccc"}


@pytest.mark.parametrize("mode", MODES)
def test_sync_up_list_and_down_in_every_kind_of_caller(s3: S3Env, tmp_path: Path, mode: str) -> None:
    src = make_tree(tmp_path / "src", TREE)
    prefix = s3.url(mode.replace(".", "-"))
    up = call_in(mode, lambda: api.s3_sync(src, prefix, endpoint_url=s3.endpoint, progress=False))
    assert up.exit_code == 0 and up.counts["uploaded"] == 3
    rows = call_in(mode, lambda: list(api.ls(prefix, endpoint_url=s3.endpoint, exclude=["*.bin"])))
    assert sorted(row["path"] for row in rows) == ["a.txt", "sub/c.txt"]
    down = call_in(
        mode,
        lambda: api.s3_sync(
            prefix, tmp_path / "dst", endpoint_url=s3.endpoint, exclude=["*"], include=["*.txt"], progress=False
        ),
    )
    assert down.exit_code == 0 and read_tree(tmp_path / "dst") == {"a.txt": b"a", "sub/c.txt": b"ccc"}


def test_a_bad_storage_class_is_a_usage_error(s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", TREE)
    with pytest.raises(UsageError):
        api.s3_sync(src, s3.url(), endpoint_url=s3.endpoint, storage_class="NOPE", progress=False)
