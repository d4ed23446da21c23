"""Shared fixtures: an isolated home, an in-memory keyring, and emulators on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from neurofetch.emulators.common import TLSFiles

ISOLATED_VARS = (
    "NEUROFETCH_",
    "DATAMINT_",
    "AWS_",
    "XDG_",
    "PYTHON_KEYRING_BACKEND",
    "FORCE_COLOR",
    "NO_COLOR",
    "CI",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    import os

    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith(ISOLATED_VARS):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local/state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("NEUROFETCH_RETRY_WAIT_MAX", "0.2")
    monkeypatch.setenv("NEUROFETCH_PROGRESS_INTERVAL", "0.5")
    return home


@pytest.fixture(autouse=True)
def memory_keyring(request: pytest.FixtureRequest) -> Iterator[object]:
    if request.node.get_closest_marker("real_keyring"):
        yield None
        return
    import keyring

    from tests.keyring_backend import MemoryKeyring

    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


LORIS_API_VERSIONS = ("v0.0.3-dev", "v0.0.3", "v0.0.4-dev")
# A test or module marked with this runs once per LORIS API version the emulator serves.
every_loris_version = pytest.mark.parametrize("loris_api_version", LORIS_API_VERSIONS)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--loris-version",
        default=LORIS_API_VERSIONS[0],
        choices=LORIS_API_VERSIONS,
        help="API version of the LORIS emulator for tests not run on every version",
    )


@pytest.fixture
def loris_api_version(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--loris-version"))


@pytest.fixture
def loris(loris_api_version: str) -> Iterator[object]:
    """A LORIS emulator with the default dataset on a free loopback port; ``.url`` is the API base."""
    from neurofetch.emulators.loris.app import LorisEmulator

    emulator = LorisEmulator(api_version=loris_api_version)
    with emulator.serve() as server:
        emulator.url = emulator.base_url(server)  # type: ignore[attr-defined]
        yield emulator


@pytest.fixture
def loris_env(loris: object) -> dict[str, str]:
    """Environment for an unattended LORIS run against the emulator (password from the environment)."""
    return {
        "NEUROFETCH_URL": loris.url,
        "NEUROFETCH_SERVICE": "loris",  # type: ignore[attr-defined]
        "NEUROFETCH_USERNAME": "demo",
        "NEUROFETCH_PASSWORD": "demo",
    }


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[TLSFiles, Path]:
    """A server certificate for 127.0.0.1/localhost from a throwaway CA (trustme), and that CA's PEM."""
    import trustme

    where = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    files = TLSFiles(str(where / "cert.pem"), str(where / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(files.certfile)
    cert.private_key_pem.write_to_path(files.keyfile)
    ca.cert_pem.write_to_path(str(where / "ca.pem"))
    return files, where / "ca.pem"
