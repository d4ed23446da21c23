"""What a no-op `s3-sync` re-run costs: with the keys in the environment it lists the prefix with the lean
listing and never imports boto3/botocore (~0.2 s of start-up) or takes the prefix's lock."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_cli, run_subprocess
from tests.s3.helpers import S3Env, make_tree

ENV = {"AWS_EC2_METADATA_DISABLED": "true"}


def imported_modules(stderr: str) -> set[str]:
    """The modules ``PYTHONPROFILEIMPORTTIME`` reported as imported."""
    return {line.split("|")[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def test_a_no_op_upload_with_keys_in_the_environment_never_imports_botocore(s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {f"d/{i}.bin": bytes([i]) * 100 for i in range(20)})
    first = run_cli("s3-sync", src, s3.url(), "--endpoint-url", s3.endpoint, env=ENV)
    assert first.code == 0, first.stderr
    env = {**ENV, "PYTHONPROFILEIMPORTTIME": "1", "AWS_CONFIG_FILE": str(tmp_path / "no-config")}
    again = run_subprocess("--json", "s3-sync", src, s3.url(), "--endpoint-url", s3.endpoint, env=env)
    assert again.code == 0, again.stderr[-2000:]
    assert again.json["counts"] == {"uploaded": 0, "skipped": 20}
    imported = imported_modules(again.stderr)
    assert "neurofetch.services.s3.listing" in imported
    assert not {name for name in imported if name.split(".")[0] in ("boto3", "botocore", "s3transfer")}
