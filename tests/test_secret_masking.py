"""Secrets never show themselves: not in the repr()/str() of the objects that hold them, and not in the URLs that
neurofetch records or shows (journal, --json, stderr, --log-file), which lose their userinfo and query."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli

SECRET = "s3cr3t-VALUE-42"


def _jwt(secret: str) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256'})}.{part({'exp': 4102444800, 'sub': secret})}.{secret}"


def secret_holders(tmp_path: Path) -> dict[str, object]:
    """One of each object that holds a secret, built with SECRET as its value."""
    from neurofetch.credentials import Secret
    from neurofetch.net.auth import ApiKeyAuth, RenewingBearerAuth, Token
    from neurofetch.settings import GlobalOptions, select_profile

    config = tmp_path / "c.yaml"  # written by hand: neurofetch-config refuses secrets, a text editor does not
    config.write_text(
        f"profiles:\n  lab:\n    service: s3\n    aws_secret_access_key: {SECRET}\n"
        f"    password: {SECRET}\n    session_token: {SECRET}\n    region: eu-west-1\n"
    )
    token = Token.from_jwt(_jwt(SECRET))
    holders: dict[str, object] = {
        "Secret": Secret(SECRET),
        "Token": token,
        "RenewingBearerAuth": RenewingBearerAuth(None, token),
        "ApiKeyAuth": ApiKeyAuth(Secret(SECRET)),
        "Profile": select_profile(GlobalOptions(config=str(config), profile="lab"), {}),
    }
    try:
        import boto3

        from neurofetch.services.s3.session import AwsSession
    except ImportError:
        return holders
    session = boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key=SECRET, aws_session_token=SECRET, region_name="eu-west-1"
    )
    holders["AwsSession"] = AwsSession(
        session, session.get_credentials(), "env", "eu-west-1", None, False, "auto", None
    )
    return holders


def test_no_object_shows_the_secret_it_holds(tmp_path: Path) -> None:
    holders = secret_holders(tmp_path)
    assert {"Secret", "Token", "RenewingBearerAuth", "ApiKeyAuth", "Profile"} <= set(holders)
    for name, holder in holders.items():
        for shown in (repr(holder), str(holder), repr([holder]), str({"x": holder}), f"{holder!r}"):
            assert SECRET not in shown, f"{name}: {shown}"
    profile = holders["Profile"]
    assert profile.extra["aws_secret_access_key"] == SECRET  # the value is still there for the code that needs it
    assert "region='eu-west-1'" in repr(profile) or "'region': 'eu-west-1'" in repr(profile)


def test_a_url_with_a_password_is_refused_without_echoing_it(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    result = run_cli(
        "--json",
        "--log-file",
        log,
        "--url",
        f"http://demo:{SECRET}@127.0.0.1:9/api/v0.0.3",
        "--service",
        "loris",
        "mirror",
        tmp_path / "d",
    )
    assert result.code == 2 and "user name or password" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert SECRET not in result.stdout + result.stderr + log.read_text()
    assert result.json["status"] == "failed"


@pytest.fixture
def signed_neurovault() -> Iterator[tuple[Any, str, int]]:
    """A NeuroVault emulator whose file URLs are signed (a query carrying secrets), one of them lost (404)."""
    from neurofetch.emulators.neurovault.app import NeuroVaultEmulator

    emulator = NeuroVaultEmulator()
    with emulator.serve() as server:
        url = emulator.base_url(server)
        collection = emulator.data.collections[0]
        for image in collection.images:
            image.record["file"] += f"?X-Amz-Signature={SECRET}&token={SECRET}&Expires=1"
        collection.images[0].missing = True
        yield emulator, url, collection.id


def everything_kept(dest: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((dest / ".neurofetch").rglob("*")) if p.is_file())


def test_signed_urls_are_never_recorded_or_shown(signed_neurovault: tuple[Any, str, int], tmp_path: Path) -> None:
    emulator, url, cid = signed_neurovault
    dest, log = tmp_path / "nv", tmp_path / "run.log"
    common = [
        "--json",
        "--log-file",
        log,
        "--url",
        url,
        "--service",
        "neurovault",
        "mirror",
        dest,
        "--collection",
        str(cid),
    ]
    mirrored = run_cli("-v", *common)
    assert mirrored.code == 1 and len(mirrored.json["failures"]) == 1, mirrored.stderr
    planned = run_cli(*common, "--dry-run")
    assert planned.code == 0 and planned.json["planned"], planned.stderr
    assert planned.json["planned"][0]["url"].startswith(url) and "?" not in planned.json["planned"][0]["url"]
    assert any(e.query.count(SECRET) == 2 for e in emulator.log.entries())  # the server did get its signature
    for result in (mirrored, planned):
        assert SECRET not in result.stdout + result.stderr
    assert SECRET not in log.read_text() and "X-Amz-Signature" not in log.read_text()
    assert SECRET.encode() not in everything_kept(dest)


def test_userinfo_in_a_listed_url_is_never_shown(signed_neurovault: tuple[Any, str, int], tmp_path: Path) -> None:
    emulator, url, cid = signed_neurovault
    lost = emulator.data.collections[0].images[0]
    lost.record["file"] = url.replace("://", f"://someone:{SECRET}@") + lost.record["file"].split("?")[0]
    log = tmp_path / "run.log"
    planned = run_cli(
        "--json",
        "--log-file",
        log,
        "--url",
        url,
        "--service",
        "neurovault",
        "mirror",
        tmp_path / "nv",
        "--collection",
        str(cid),
        "--dry-run",
    )
    assert planned.code == 0, planned.stderr
    assert SECRET not in planned.stdout + planned.stderr + log.read_text()
    assert planned.json["planned"] and all("@" not in item.get("url", "") for item in planned.json["planned"])


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"https://user:{SECRET}@host.example:8443/a/b?X-Amz-Signature={SECRET}#frag", "https://host.example:8443/a/b"),
        (f"http://{SECRET}@host/", "http://host/"),
        (f"/relative/path?token={SECRET}", "/relative/path"),
        (f"s3://bucket/key?versionId={SECRET}", "s3://bucket/key"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    from neurofetch.urls import redact_url, redact_urls_in

    assert redact_url(url) == shown
    if "://" in url:
        assert redact_urls_in(f"failed ({url}), retrying.") == f"failed ({shown}), retrying."
