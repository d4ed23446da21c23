"""`neurofetch s3-sync` through a real HTTP proxy (proxy.py) on loopback: the listing and the data (obstore's
fast path as well as boto3) follow the same proxy variables as every other service."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from neurofetch.services.s3 import fast as s3_fast
from tests.helpers import CliRun, run_cli
from tests.proxy_support import RunningProxy, http_proxy
from tests.s3.helpers import S3Env, make_tree, read_tree

TREE = {"a.txt": b"a" * 100, "sub/b.bin": bytes(range(256)) * 40, "big.bin": b"\x5a" * (9 << 20)}  # big: multipart
OBSTORE_AGENT = "neurofetch"  # the User-Agent obstore is given (s3_fast.py); boto3's starts with "Boto3/"


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[RunningProxy]:
    with http_proxy(tmp_path / "proxy") as running:
        yield running


def sync(s3: S3Env, src: object, dst: object, env: dict[str, str]) -> CliRun:
    return run_cli(
        "--json",
        "s3-sync",
        str(src),
        str(dst),
        "--endpoint-url",
        s3.endpoint,
        env={"AWS_EC2_METADATA_DISABLED": "true", **env},
    )


def origin(s3: S3Env) -> str:
    return s3.endpoint.split("://", 1)[1]


def data_requests(proxy: RunningProxy, s3: S3Env, method: str) -> dict[str, set[str]]:
    """Object keys the proxy passed on with ``method``, each with the User-Agents that asked; the upload's
    lock object (``.neurofetch/lock``) goes through the proxy too, but is not data."""
    found: dict[str, set[str]] = {}
    prefix = f"{method} {origin(s3)} /{s3.bucket}/data/"
    for line in proxy.requests_and_agents():
        request, agent = line.split("\t", 1)
        if request.startswith(prefix) and not request[len(prefix) :].startswith(".neurofetch/"):
            found.setdefault(request[len(prefix) :].split("?")[0], set()).add(agent)
    return found


@pytest.mark.parametrize("variables", [("ALL_PROXY",), ("http_proxy", "HTTP_PROXY")], ids=["all", "lower-case-wins"])
def test_listing_and_data_go_through_the_proxy(
    variables: tuple[str, ...], s3: S3Env, proxy: RunningProxy, tmp_path: Path
) -> None:
    env = {variables[0]: proxy.url}
    if len(variables) > 1:  # the upper-case one names a proxy that is not there
        env[variables[1]] = f"http://127.0.0.1:{free_port()}"
    src = make_tree(tmp_path / "src", TREE)
    up = sync(s3, src, s3.url(), env)
    assert up.code == 0, up.stderr
    assert up.json["counts"]["uploaded"] == 3
    down = sync(s3, s3.url(), tmp_path / "dst", env)
    assert down.code == 0, down.stderr
    assert read_tree(tmp_path / "dst") == TREE
    puts, gets = data_requests(proxy, s3, "PUT"), data_requests(proxy, s3, "GET")
    assert set(puts) == set(gets) == set(TREE)
    agents = {agent for agents in (*puts.values(), *gets.values()) for agent in agents}
    if s3_fast.available():  # the data went by obstore's fast path, not by a boto3 fallback
        assert OBSTORE_AGENT in agents and not [agent for agent in agents if agent.startswith("Boto3")]
    else:  # no obstore (Python 3.10): boto3 carries the data, through the same proxy
        assert agents and all(agent.startswith("Boto3") for agent in agents)
    listings = [r for r in proxy.requests() if r.startswith(f"GET {origin(s3)} /{s3.bucket}?")]
    assert len(listings) >= 2  # one per run


def test_no_proxy_with_a_port_sends_s3_direct(s3: S3Env, proxy: RunningProxy, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", TREE)
    env = {"HTTP_PROXY": proxy.url, "NO_PROXY": f"example.org,{origin(s3)}"}
    up = sync(s3, src, s3.url(), env)
    assert up.code == 0, up.stderr
    down = sync(s3, s3.url(), tmp_path / "dst", env)
    assert down.code == 0, down.stderr
    assert read_tree(tmp_path / "dst") == TREE
    assert proxy.requests() == []
    # The same sync without that entry goes through the proxy.
    again = sync(s3, s3.url(), tmp_path / "dst2", {**env, "NO_PROXY": "example.org"})
    assert again.code == 0, again.stderr
    assert set(data_requests(proxy, s3, "GET")) == set(TREE)


def test_an_unreachable_proxy_is_one_clear_line_and_exit_5(s3: S3Env, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"a.txt": b"a"})
    address = f"127.0.0.1:{free_port()}"
    result = sync(s3, src, s3.url(), {"ALL_PROXY": f"http://u:SECRETPW@{address}", "AWS_MAX_ATTEMPTS": "1"})
    assert result.code == 5, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("neurofetch: error: ")]
    assert len(errors) == 1 and f"proxy http://{address} (from ALL_PROXY)" in errors[0], result.stderr
    assert "Traceback" not in result.stderr and "SECRETPW" not in result.stderr + result.stdout
    assert s3.objects() == {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
