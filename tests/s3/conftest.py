"""S3 fixtures: SeaweedFS (`weed mini`, real SigV4 auth) and moto's server, one of each per session,
on free loopback ports, killed at the end; a fresh bucket per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.s3.fronts import FILES
from tests.s3.helpers import S3Env, make_client
from tests.s3.servers import S3Server, ServerUnavailable, start_moto, start_seaweed


def _start(starter: Any) -> Iterator[S3Server]:
    try:
        server = starter()
    except ServerUnavailable as exc:
        pytest.skip(f"S3 server cannot run here: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def seaweed_server() -> Iterator[S3Server]:
    yield from _start(start_seaweed)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[S3Server]:
    yield from _start(start_moto)


def _env(server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Env:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
    # Never let botocore's credential chain ask for instance metadata (a non-loopback address).
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = make_client(server)
    bucket = f"nf-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=bucket)
    return S3Env(server, bucket, client)


@pytest.fixture
def s3(seaweed_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Env:
    """SeaweedFS with a fresh bucket and the server's keys in the environment."""
    return _env(seaweed_server, monkeypatch)


@pytest.fixture
def moto_s3(moto_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Env:
    """moto with a fresh bucket: for tests that need no SeaweedFS behaviour (each SeaweedFS bucket takes
    volumes of its own, and the session's server has room for a limited number of them)."""
    return _env(moto_server, monkeypatch)


@pytest.fixture(params=["seaweedfs", "moto"])
def any_s3(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> S3Env:
    server = request.getfixturevalue("seaweed_server" if request.param == "seaweedfs" else "moto_server")
    return _env(server, monkeypatch)


@pytest.fixture
def moto_bucket(moto_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Env:
    """moto with a fresh bucket holding FILES under data/, for the tests that put a front before it."""
    env = _env(moto_server, monkeypatch)
    for name, data in FILES.items():
        env.put(f"data/{name}", data)
    return env
