"""`neurofetch s3-sync` through the real CLI entry point: flags, profiles, --json, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import CliRun, run_cli
from tests.s3.helpers import S3Env, make_tree, read_tree
from tests.s3.servers import free_ports

TREE = {"a.txt": b"a", "b.bin": b"bb", "sub/c.txt": b"ccc"}


@pytest.fixture(autouse=True)
def _registered() -> None:
    """Until app.py registers s3-sync itself."""
    from neurofetch.cli import app as app_module
    from neurofetch.cli import s3

    if not any(c.name == "s3-sync" for c in app_module.app.registered_commands):
        s3.register(app_module.app)


def cli(s3: S3Env, *args: object, env: dict[str, str] | None = None) -> CliRun:
    return run_cli(*map(str, args), env={"AWS_EC2_METADATA_DISABLED": "true", **(env or {})})


def test_upload_download_and_json(s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", TREE)
    up = cli(s3, "--json", "s3-sync", src, s3.url(), "--endpoint-url", s3.endpoint)
    assert up.code == 0, up.stderr
    doc = up.json
    assert (doc["command"], doc["status"], doc["counts"]["uploaded"], doc["bytes"]) == ("s3-sync", "ok", 3, 6)
    assert doc["direction"] == "upload" and doc["destination"] == s3.url()
    dst = tmp_path / "dst"
    down = cli(s3, "--json", "s3-sync", s3.url(), dst, "--endpoint-url", s3.endpoint, "-j", "2")
    assert down.code == 0 and down.json["counts"]["downloaded"] == 3
    assert read_tree(dst) == TREE
    again = cli(s3, "s3-sync", s3.url(), dst, "--endpoint-url", s3.endpoint)
    assert again.code == 0 and "3 already complete" in again.stderr


def test_filters_keep_their_command_line_order(s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", TREE)
    run = cli(
        s3, "--json", "s3-sync", src, s3.url("one"), "--endpoint-url", s3.endpoint, "--exclude", "*", "--include=*.txt"
    )
    assert run.code == 0 and sorted(s3.objects("one/")) == ["a.txt", "sub/c.txt"]
    run = cli(
        s3,
        "--json",
        "s3-sync",
        src,
        s3.url("two"),
        "--endpoint-url",
        s3.endpoint,
        "--include",
        "*.txt",
        "--exclude",
        "*",
    )
    assert run.code == 0 and s3.objects("two/") == {}


def test_dry_run_prints_one_line_per_action(s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", TREE)
    run = cli(s3, "s3-sync", src, s3.url(), "--endpoint-url", s3.endpoint, "--dry-run")
    assert run.code == 0
    assert run.stdout.splitlines() == ["upload: a.txt", "upload: b.bin", "upload: sub/c.txt"]
    assert s3.objects() == {}


def test_profile_from_the_config_file(s3: S3Env, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"default_profile: other\nprofiles:\n  other: {{service: allen}}\n"
        f"  lab: {{service: s3, endpoint_url: '{s3.endpoint}', jobs: 3}}\n"
    )
    src = make_tree(tmp_path / "src", TREE)
    run = cli(s3, "--json", "--config", config, "-p", "lab", "s3-sync", src, s3.url())
    assert run.code == 0, run.stderr
    assert run.json["counts"]["uploaded"] == 3
    adhoc = cli(s3, "--json", "--config", config, "--service", "s3", "--url", s3.endpoint, "s3-sync", src, s3.url())
    assert adhoc.code == 0 and adhoc.json["counts"]["skipped"] == 3
    wrong = cli(s3, "--config", config, "-p", "other", "s3-sync", src, s3.url(), "--endpoint-url", s3.endpoint)
    assert wrong.code == 2 and "s3-sync needs service: s3" in wrong.stderr


def test_errors_are_one_line_with_the_documented_exit_code(s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", TREE)
    bad = cli(
        s3, "s3-sync", src, s3.url(), "--endpoint-url", s3.endpoint, env={"AWS_SECRET_ACCESS_KEY": "wrong-secret-987"}
    )
    assert bad.code == 3
    assert bad.stderr.count("\n") == 1 and "rejected the credentials" in bad.stderr
    assert "wrong-secret-987" not in bad.stderr + bad.stdout

    (port,) = free_ports(1)
    gone = cli(
        s3,
        "--json",
        "s3-sync",
        s3.url(),
        tmp_path / "dst",
        "--endpoint-url",
        f"http://127.0.0.1:{port}",
        env={"AWS_MAX_ATTEMPTS": "1"},
    )
    assert gone.code == 5 and "cannot reach" in gone.stderr and not (tmp_path / "dst").exists()

    both_local = cli(s3, "s3-sync", src, tmp_path / "other")
    assert both_local.code == 2 and "exactly one of SRC and DST" in both_local.stderr
    missing = cli(s3, "s3-sync", tmp_path / "nope", s3.url(), "--endpoint-url", s3.endpoint)
    assert missing.code == 2 and "source folder not found" in missing.stderr
    conflicting = cli(s3, "s3-sync", src, s3.url(), "--size-only", "--checksum", "--endpoint-url", s3.endpoint)
    assert conflicting.code == 2


def test_partial_failure_exits_1_with_failures_in_json(s3: S3Env, tmp_path: Path) -> None:
    s3.put("data/ok.txt", b"ok")
    s3.put("data/x/y", b"blocked")
    dst = make_tree(tmp_path / "dst", {"x": b"a file where a folder should be"})
    run = cli(s3, "--json", "s3-sync", s3.url(), dst, "--endpoint-url", s3.endpoint, "--delete")
    assert run.code == 1
    doc = json.loads(run.stdout)
    assert doc["status"] == "partial" and [f["item"] for f in doc["failures"]] == ["x/y"]
    assert (dst / "ok.txt").read_bytes() == b"ok" and (dst / "x").is_file()
