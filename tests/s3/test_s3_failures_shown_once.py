"""s3-sync tells each failure once while running and once in the summary, never twice in a row."""

from __future__ import annotations

from pathlib import Path

from tests.s3.helpers import S3Env, make_tree
from tests.s3.test_s3_cli import cli
from tests.test_failures_shown_once import VERBOSITY, assert_told_once_running_and_once_in_summary


@VERBOSITY
def test_s3_sync(verbosity: list[str], s3: S3Env, tmp_path: Path) -> None:
    s3.put("data/ok.txt", b"ok")
    s3.put("data/x/y", b"blocked")
    dst = make_tree(tmp_path / "dst", {"x": b"a file where a folder should be"})
    run = cli(s3, *verbosity, "s3-sync", s3.url(), dst, "--endpoint-url", s3.endpoint)
    assert run.code == 1
    assert_told_once_running_and_once_in_summary(run, "x/y: ")


