"""Proxies from the environment, for every HTTP service, through a real proxy (proxy.py) on loopback:
plain requests and CONNECT tunnels, NO_PROXY, proxy credentials that never show, and a proxy that is
not there. S3 is in tests/s3/test_s3_proxies.py."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from neurofetch.emulators.common import Emulator, TLSFiles
from tests.datamint_support import datamint_server, mixed_study
from tests.datamint_support import env_for as datamint_env
from tests.helpers import CliRun, run_cli
from tests.proxy_support import RunningProxy, http_proxy
from tests.resilience_support import data_files, serve_loris, the_error_line

SECRET = "SECRETPW"


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[RunningProxy]:
    with http_proxy(tmp_path / "proxy") as running:
        yield running


def origin_of(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0]


def passed_on(proxy: RunningProxy, url: str) -> list[str]:
    """The requests the proxy passed on to the server at ``url``."""
    return [line for line in proxy.requests() if line.split(" ")[1] == origin_of(url)]


# ------------------------------------------------------------------------------- one run per service


@contextmanager
def loris_run(tmp_path: Path) -> Iterator[tuple[Emulator, Callable[[dict[str, str]], CliRun]]]:
    with serve_loris(size_scale=0.005) as loris:
        yield loris.emulator, lambda env: run_cli("--json", "mirror", tmp_path / "d", env={**loris.env(), **env})


@contextmanager
def neurovault_run(tmp_path: Path) -> Iterator[tuple[Emulator, Callable[[dict[str, str]], CliRun]]]:
    from neurofetch.emulators.neurovault.app import NeuroVaultEmulator

    emulator = NeuroVaultEmulator()
    with emulator.serve() as server:
        base = {"NEUROFETCH_SERVICE": "neurovault", "NEUROFETCH_URL": emulator.base_url(server)}
        cid = str(emulator.collections[0]["id"])
        yield (
            emulator,
            lambda env: run_cli("--json", "mirror", tmp_path / "nv", "--collection", cid, env={**base, **env}),
        )


@contextmanager
def allen_run(tmp_path: Path) -> Iterator[tuple[Emulator, Callable[[dict[str, str]], CliRun]]]:
    from neurofetch.emulators.allen.app import AllenEmulator

    emulator = AllenEmulator()
    with emulator.serve() as server:
        base = {"NEUROFETCH_SERVICE": "allen", "NEUROFETCH_URL": emulator.base_url(server)}
        yield (
            emulator,
            lambda env: run_cli(
                "--json",
                "atlas-image",
                "--atlas-images",
                "2",
                "--downsample",
                "6",
                "--out",
                tmp_path / "atlas",
                env={**base, **env},
            ),
        )


@contextmanager
def datamint_run(tmp_path: Path) -> Iterator[tuple[Emulator, Callable[[dict[str, str]], CliRun]]]:
    study = mixed_study(tmp_path)
    with datamint_server() as emulator:
        yield emulator, lambda env: run_cli("--json", "upload", study, "-r", env={**datamint_env(emulator), **env})


SERVICES: dict[str, Callable[[Path], AbstractContextManager[tuple[Emulator, Callable[[dict[str, str]], CliRun]]]]] = {
    "loris": loris_run,
    "neurovault": neurovault_run,
    "allen": allen_run,
    "datamint": datamint_run,
}


def served(emulator: Emulator) -> list[str]:
    return [f"{e.method} {e.path}" for e in emulator.log.entries()]


@pytest.mark.parametrize(
    ("service", "variable"),
    [("loris", "http_proxy"), ("neurovault", "HTTP_PROXY"), ("allen", "ALL_PROXY"), ("datamint", "all_proxy")],
)
def test_every_request_of_every_service_goes_through_the_proxy(
    service: str, variable: str, proxy: RunningProxy, tmp_path: Path
) -> None:
    with SERVICES[service](tmp_path) as (emulator, run):
        result = run({variable: proxy.url})
        assert result.code == 0, result.stderr
        assert result.json["status"] == "ok"
        requests = passed_on(proxy, emulator_url(proxy))
        # Everything the server answered came through the proxy, as an absolute-form proxy request.
        assert len(requests) == len(served(emulator)) > 1
        assert sorted(line.split(" ", 2)[0] + " " + line.split(" ", 2)[2].split("?")[0] for line in requests) == sorted(
            served(emulator)
        )


def emulator_url(proxy: RunningProxy) -> str:
    """The origin the proxy passed requests on to (the only one that is not the proxy itself)."""
    origins = {line.split(" ")[1] for line in proxy.requests()}
    assert len(origins) == 1, origins
    return "http://" + origins.pop()


def test_the_lower_case_variable_wins_over_the_upper_case_one(proxy: RunningProxy, tmp_path: Path) -> None:
    with loris_run(tmp_path) as (emulator, run):
        result = run({"HTTP_PROXY": f"http://127.0.0.1:{free_port()}", "http_proxy": proxy.url})
        assert result.code == 0, result.stderr
        assert len(proxy.requests()) == len(served(emulator)) > 1


# ------------------------------------------------------------------------------- https: CONNECT


def https_profile(tmp_path: Path, url: str, ca: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"default_profile: lab\nprofiles:\n  lab:\n    service: loris\n    url: {url}\n"
        f"    username: demo\n    verify_tls: {ca}\n"
    )
    return config


def test_https_goes_through_a_connect_tunnel_and_the_certificate_is_still_verified(
    tls_files: tuple[TLSFiles, Path], tmp_path: Path
) -> None:
    with (
        http_proxy(tmp_path / "proxy", basic_auth=f"u:{SECRET}") as proxy,
        serve_loris(size_scale=0.005, tls=tls_files[0]) as loris,
    ):
        config = https_profile(tmp_path, loris.url, tls_files[1])
        result = run_cli(
            "--config", config, "mirror", tmp_path / "d", env={"NEUROFETCH_PASSWORD": "demo", "HTTPS_PROXY": proxy.url}
        )
        assert result.code == 0, result.stderr
        assert data_files(tmp_path / "d") == loris.dataset.expected_tree()
        requests = proxy.requests()
        # One tunnel per pooled connection; the proxy sees no path, only where the tunnel goes.
        assert requests and all(line.startswith(f"CONNECT {origin_of(loris.url)} ") for line in requests)
        assert len(requests) < len(loris.emulator.log.entries())
        assert SECRET not in result.stdout + result.stderr
        assert not [e for e in loris.emulator.log.entries() if "proxy-authorization" in e.headers]
        # HTTP_PROXY is for http:// URLs only.
        proxy.clear()
        again = run_cli(
            "--config", config, "mirror", tmp_path / "d2", env={"NEUROFETCH_PASSWORD": "demo", "HTTP_PROXY": proxy.url}
        )
        assert again.code == 0, again.stderr
        assert proxy.requests() == []


# ------------------------------------------------------------------------------- NO_PROXY


@pytest.mark.parametrize(
    "no_proxy",
    ["127.0.0.1", "*", "example.org, 127.0.0.0/8", "{origin}", ".LocalHost"],
    ids=["ip", "star", "network", "ip-and-port", "domain"],
)
def test_no_proxy_bypasses_the_proxy(no_proxy: str, proxy: RunningProxy, tmp_path: Path) -> None:
    with serve_loris(size_scale=0.005) as loris:
        env = loris.env()
        if no_proxy == ".LocalHost":
            env["NEUROFETCH_URL"] = loris.url.replace("127.0.0.1", "localhost")
        value = no_proxy.replace("{origin}", origin_of(loris.url))
        result = run_cli("mirror", tmp_path / "d", env={**env, "ALL_PROXY": proxy.url, "no_proxy": value})
        assert result.code == 0, result.stderr
        assert data_files(tmp_path / "d") == loris.dataset.expected_tree()
        assert proxy.requests() == []
        # The same run without that entry goes through the proxy.
        control = run_cli("mirror", tmp_path / "d2", env={**env, "ALL_PROXY": proxy.url, "no_proxy": "example.org"})
        assert control.code == 0, control.stderr
        assert proxy.requests()


@pytest.mark.parametrize(
    "no_proxy", ["127.0.0.1:1", "example.org,10.0.0.0/8,127.0.0.2"], ids=["other-port", "other-hosts"]
)
def test_no_proxy_for_other_hosts_keeps_the_proxy(no_proxy: str, proxy: RunningProxy, tmp_path: Path) -> None:
    with serve_loris(size_scale=0.005) as loris:
        result = run_cli("mirror", tmp_path / "d", env={**loris.env(), "ALL_PROXY": proxy.url, "NO_PROXY": no_proxy})
        assert result.code == 0, result.stderr
        assert len(proxy.requests()) == len(loris.emulator.log.entries()) > 1


# ------------------------------------------------------------------------------- credentials and failures


def test_proxy_credentials_are_sent_to_the_proxy_and_never_shown(tmp_path: Path) -> None:
    log_file = tmp_path / "run.log"
    with http_proxy(tmp_path / "proxy", basic_auth=f"u:{SECRET}") as proxy, serve_loris(size_scale=0.005) as loris:
        result = run_cli(
            "-v",
            "--log-file",
            log_file,
            "--json",
            "mirror",
            tmp_path / "d",
            env={**loris.env(), "HTTP_PROXY": proxy.url},
        )
        assert result.code == 0, result.stderr
        assert data_files(tmp_path / "d") == loris.dataset.expected_tree()
        assert len(proxy.requests()) == len(loris.emulator.log.entries()) > 1  # the proxy let them through
        served_before = len(loris.emulator.log.entries())
        refused = run_cli(
            "-v",
            "--log-file",
            log_file,
            "--json",
            "mirror",
            tmp_path / "d2",
            env={**loris.env(), "HTTP_PROXY": proxy.url.replace(SECRET, "not-it")},
        )
        assert len(loris.emulator.log.entries()) == served_before
    assert f"through the proxy {proxy.address} (from HTTP_PROXY)" in result.stderr  # -v says which proxy
    assert log_file.stat().st_size > 0
    assert refused.code == 5
    line = [line for line in refused.stderr.splitlines() if line.startswith("neurofetch: error: ")]
    assert len(line) == 1 and f"the proxy {proxy.address} (from HTTP_PROXY) refused the credentials" in line[0]
    assert refused.json["status"] == "failed"
    for output in (result, refused):
        assert SECRET not in output.stdout + output.stderr and "not-it" not in output.stdout + output.stderr
    assert SECRET not in log_file.read_text() and "not-it" not in log_file.read_text()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_an_unreachable_proxy_is_one_clear_line_and_exit_5(service: str, tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    with SERVICES[service](tmp_path) as (emulator, run):
        result = run({"HTTP_PROXY": f"http://u:{SECRET}@{address}", "NEUROFETCH_RETRIES": "1"})
        assert served(emulator) == []
    assert result.code == 5, result.stderr
    line = the_error_line(result.stderr)
    assert f"cannot connect to the proxy http://{address} (from HTTP_PROXY)" in line
    assert SECRET not in result.stderr + result.stdout
    assert result.json["status"] == "failed"


def test_a_proxy_that_never_accepts_is_named_when_the_connection_times_out(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    waiting = socket.create_connection(listener.getsockname())  # fills the backlog: the next SYN is dropped
    try:
        with serve_loris(size_scale=0.005) as loris:
            config = tmp_path / "config.yaml"
            config.write_text(
                f"default_profile: lab\nprofiles:\n  lab:\n    service: loris\n    url: {loris.url}\n"
                "    username: demo\n    timeout: 1\n    retries: 0\n"
            )
            result = run_cli(
                "--config",
                config,
                "mirror",
                tmp_path / "d",
                env={"NEUROFETCH_PASSWORD": "demo", "HTTP_PROXY": f"http://{address}"},
            )
            assert served(loris.emulator) == []
    finally:
        waiting.close()
        listener.close()
    assert result.code == 5, result.stderr
    assert f"connecting through the proxy http://{address} (from HTTP_PROXY) timed out" in the_error_line(result.stderr)


def test_a_socks_proxy_is_a_usage_error_naming_the_variable(tmp_path: Path) -> None:
    with loris_run(tmp_path) as (emulator, run):
        result = run({"ALL_PROXY": "socks5://127.0.0.1:1080"})
        assert served(emulator) == []
    assert result.code == 2
    assert "ALL_PROXY names a SOCKS proxy" in the_error_line(result.stderr)


def test_nothing_is_read_from_netrc(proxy: RunningProxy, tmp_path: Path, isolated_home: Path) -> None:
    """Credentials for the proxy come from its URL only (aiohttp's trust_env would also read ~/.netrc)."""
    (isolated_home / ".netrc").write_text(f"machine 127.0.0.1 login u password {SECRET}\n")
    (isolated_home / ".netrc").chmod(0o600)
    with loris_run(tmp_path) as (emulator, run):
        result = run({"HTTP_PROXY": proxy.url, "NETRC": str(isolated_home / ".netrc")})
        assert result.code == 0, result.stderr
        assert proxy.requests()
        assert not [e for e in emulator.log.entries() if e.headers.get("authorization", "").startswith("Basic")]


# ------------------------------------------------------------------------------- the choice, case by case

P = "http://proxy.example:3128"


@pytest.mark.parametrize(
    ("env", "url", "chosen"),
    [
        ({}, "https://a.example/x", None),
        ({"HTTPS_PROXY": P}, "https://a.example/x", P),
        ({"HTTPS_PROXY": P}, "http://a.example/x", None),
        ({"ALL_PROXY": P, "HTTP_PROXY": "http://other:1"}, "http://a.example/x", "http://other:1"),
        ({"all_proxy": "proxy.example:3128"}, "http://a.example/x", P),  # no scheme: http
        ({"https_proxy": "", "HTTPS_PROXY": P}, "https://a.example/x", None),  # set lower case hides upper
        ({"HTTPS_PROXY": P, "NO_PROXY": "example.org,.a.example"}, "https://a.example/x", None),
        ({"HTTPS_PROXY": P, "NO_PROXY": "a.example"}, "https://b.a.example/x", None),  # subdomains too
        ({"HTTPS_PROXY": P, "NO_PROXY": "a.example"}, "https://ba.example/x", P),  # not a suffix of a label
        ({"HTTPS_PROXY": P, "NO_PROXY": "*.a.example"}, "https://b.a.example/x", None),
        ({"HTTPS_PROXY": P, "NO_PROXY": "A.Example:8443"}, "https://a.example:8443/x", None),
        ({"HTTPS_PROXY": P, "NO_PROXY": "a.example:8443"}, "https://a.example/x", P),  # port 443 is not 8443
        ({"HTTPS_PROXY": P, "NO_PROXY": "a.example:443"}, "https://a.example/x", None),
        ({"HTTP_PROXY": P, "NO_PROXY": "10.0.0.0/8"}, "http://10.1.2.3/x", None),
        ({"HTTP_PROXY": P, "NO_PROXY": "::1"}, "http://[::1]:8080/x", None),
        ({"HTTP_PROXY": P, "NO_PROXY": "[::1]:8080"}, "http://[::1]:8081/x", P),
        ({"HTTP_PROXY": P, "NO_PROXY": " * "}, "http://a.example/x", None),
    ],
)
def test_which_proxy_a_url_gets(env: dict[str, str], url: str, chosen: str | None) -> None:
    from neurofetch.net.proxies import ProxyEnvironment

    proxies = ProxyEnvironment.from_environ(env)
    proxy = proxies.proxy_for_url(url) if proxies is not None else None
    assert (proxy.url if proxy is not None else None) == chosen


def test_proxy_credentials_are_decoded_and_never_printed() -> None:
    from neurofetch.net.proxies import ProxyEnvironment

    proxies = ProxyEnvironment.from_environ({"https_proxy": "http://u%40lab:p%3Ass@proxy.example:3128"})
    assert proxies is not None
    proxy = proxies.proxy_for_url("https://a.example")
    assert proxy is not None and (proxy.username, proxy.password) == ("u@lab", "p:ss")
    assert proxy.url_with_credentials == "http://u%40lab:p%3Ass@proxy.example:3128"
    for shown in (str(proxy), repr(proxy), f"{proxy}"):
        assert "p:ss" not in shown and "p%3Ass" not in shown and "proxy.example:3128" in shown
