"""s3-sync: each failure told once while running and once in the summary; filters that match nothing warned."""

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


def test_s3_filters_that_match_nothing_end_with_a_warning(s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"a.txt": b"a", "sub/c.txt": b"ccc"})
    none = cli(
        s3,
        "--json",
        "s3-sync",
        src,
        s3.url(),
        "--endpoint-url",
        s3.endpoint,
        "--exclude",
        "*",
        "--include",
        "*.nii.gz",
        "--include",
        "sub/*",
    )
    assert none.code == 0, none.stderr
    assert none.json["warnings"] == ["--include '*.nii.gz' matched nothing"]
    assert "neurofetch: warning: --include '*.nii.gz' matched nothing" in none.stderr

    everything = cli(
        s3, "--json", "s3-sync", s3.url(), tmp_path / "dst", "--endpoint-url", s3.endpoint, "--exclude", "*"
    )
    assert everything.code == 0, everything.stderr
    assert everything.json["warnings"] == ["--exclude '*' left out every file (1 file)"]
