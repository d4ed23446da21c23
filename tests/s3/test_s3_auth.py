"""Credentials from the AWS chain, endpoints from flags/environment/profiles, and the failures:
wrong or missing credentials (exit 3, one line naming what was tried, no secret), an unreachable
endpoint (exit 5), a key that may read but not write (per-file failures, exit 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from neurofetch.errors import AuthError, ExitCode, UnreachableError
from tests.s3.helpers import S3Env, make_tree
from tests.s3.servers import READER_KEY, READER_SECRET, free_ports


def _aws_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, credentials: str, config: str = "") -> None:
    (tmp_path / "aws_credentials").write_text(credentials)
    (tmp_path / "aws_config").write_text(config)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws_credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws_config"))


def test_wrong_secret_is_an_auth_error_that_names_the_source(
    s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-0123")
    src = make_tree(tmp_path / "src", {"a": b"a"})
    with pytest.raises(AuthError) as caught:
        s3.sync(src, s3.url())
    message = str(caught.value)
    assert caught.value.exit_code == ExitCode.AUTH
    assert "environment variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY" in message
    assert "SignatureDoesNotMatch" in message and "\n" not in message
    assert "not-the-secret-0123" not in message
    with pytest.raises(AuthError):
        s3.sync(s3.url(), tmp_path / "dst")
    assert not (tmp_path / "dst").exists()


def test_unknown_access_key(s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWN")
    with pytest.raises(AuthError, match="InvalidAccessKeyId"):
        s3.sync(s3.url(), tmp_path / "dst")


def test_missing_credentials_say_what_was_tried(s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    _aws_files(tmp_path, monkeypatch, "")
    with pytest.raises(AuthError) as caught:
        s3.sync(s3.url(), tmp_path / "dst")
    message = str(caught.value)
    assert message.startswith("no AWS credentials found; tried environment variables")
    assert str(tmp_path / "aws_credentials") in message and "profile 'default'" in message


def test_credentials_and_endpoint_from_an_aws_profile(
    s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    _aws_files(
        tmp_path,
        monkeypatch,
        f"[lab]\naws_access_key_id = {s3.server.access_key}\naws_secret_access_key = {s3.server.secret_key}\n"
        "[broken]\naws_access_key_id = AKIAWRONG\naws_secret_access_key = wrongwrongwrong\n",
        f"[profile lab]\nregion = eu-west-1\nendpoint_url = {s3.endpoint}\n",
    )
    src = make_tree(tmp_path / "src", {"a": b"a"})
    result = s3.sync(src, s3.url(), aws_profile="lab", endpoint_url=None)  # endpoint from the AWS profile
    assert result.counts["uploaded"] == 1
    with pytest.raises(AuthError) as caught:
        s3.sync(src, s3.url(), aws_profile="broken")
    assert "shared credentials file" in str(caught.value) and "'broken'" in str(caught.value)
    with pytest.raises(AuthError, match="profile 'nope' not found"):
        s3.sync(src, s3.url(), aws_profile="nope")


def test_endpoint_from_aws_endpoint_url_s3(s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3.endpoint)
    src = make_tree(tmp_path / "src", {"a": b"a"})
    assert s3.sync(src, s3.url(), endpoint_url=None).counts["uploaded"] == 1


def test_unreachable_endpoint_exits_5(s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    (port,) = free_ports(1)  # nothing listens there
    with pytest.raises(UnreachableError) as caught:
        s3.sync(s3.url(), tmp_path / "dst", endpoint_url=f"http://127.0.0.1:{port}")
    assert caught.value.exit_code == ExitCode.UNREACHABLE
    assert f"127.0.0.1:{port}" in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "dst").exists()


@pytest.mark.parametrize("backend", ["auto", "boto3"])
def test_a_key_that_cannot_write_stops_at_the_prefix_lock(
    s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    s3.put("data/stale", b"x")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", READER_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", READER_SECRET)
    src = make_tree(tmp_path / "src", {"a": b"a", "b": b"b"})
    with pytest.raises(AuthError) as caught:  # before any transfer: the upload's lock cannot be written
        s3.sync(src, s3.url(), delete=True, backend=backend)
    assert "rejected the credentials" in str(caught.value) and "taking the lock" in str(caught.value)
    assert READER_SECRET not in str(caught.value) and "\n" not in str(caught.value)
    assert sorted(s3.objects()) == ["stale"]  # nothing sent, nothing deleted
    dst = tmp_path / "dst"
    assert s3.sync(s3.url(), dst, backend=backend).counts["downloaded"] == 1  # reading works
