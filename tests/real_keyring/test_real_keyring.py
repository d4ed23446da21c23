"""login, a later mirror that logs in again from the stored password, and logout, against a real
Secret Service (gnome-keyring), with the CLI in child processes as a user would run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import CliRun, tree_files

pytestmark = [pytest.mark.real_keyring, pytest.mark.usefixtures("secret_service")]


def neurofetch(*args: str, env: dict[str, str], input: str | None = None) -> CliRun:
    full = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring", **env}
    proc = subprocess.run(
        [sys.executable, "-m", "neurofetch", *args],
        env=full,
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=None if input is not None else subprocess.DEVNULL,
    )
    return CliRun(proc.returncode, proc.stdout, proc.stderr)


def secret_tool(service: str, username: str) -> str | None:
    """What libsecret (not python-keyring) finds: proof the secret is in the Secret Service itself."""
    proc = subprocess.run(
        ["secret-tool", "lookup", "service", service, "username", username], capture_output=True, text=True, timeout=30
    )
    return proc.stdout if proc.returncode == 0 else None


@pytest.fixture
def short_token_loris() -> Iterator[object]:
    """Tokens that expire after a second, until the test says otherwise."""
    from neurofetch.emulators.loris.app import LorisDataset, LorisEmulator

    emulator = LorisEmulator(LorisDataset(candidates=2), token_ttl=1)
    with emulator.serve() as server:
        emulator.url = emulator.base_url(server)  # type: ignore[attr-defined]
        yield emulator


@pytest.mark.skipif(shutil.which("secret-tool") is None, reason="secret-tool (libsecret-tools) is not installed")
def test_login_then_mirror_relogs_in_from_the_stored_password_then_logout(short_token_loris, tmp_path: Path) -> None:
    from neurofetch.net.auth import Token

    loris = short_token_loris
    env = {"NEUROFETCH_URL": loris.url, "NEUROFETCH_SERVICE": "loris"}
    service = f"neurofetch:loris:{loris.url}"
    login = neurofetch("login", "--username", "demo", "--password-stdin", env=env, input="demo\n")
    assert login.code == 0, login.stderr
    assert secret_tool(service, "demo") == "demo"
    stored_token = secret_tool(service, "demo:token")
    assert stored_token
    expires_at = Token.from_jwt(stored_token).expires_at
    assert expires_at is not None
    time.sleep(max(0.0, expires_at - time.time()) + 0.1)  # the stored token has now expired

    loris.token_ttl = 86400
    logins = loris.logins
    mirror = neurofetch("mirror", str(tmp_path / "d"), env=env)  # no password anywhere but the keyring
    assert mirror.code == 0, mirror.stderr
    assert loris.logins == logins + 1  # one new login, from the stored password
    assert tree_files(tmp_path / "d") == loris.dataset.expected_tree()

    logout = neurofetch("logout", env=env)
    assert logout.code == 0 and "password" in logout.stderr
    assert secret_tool(service, "demo") is None and secret_tool(service, "demo:token") is None
    again = neurofetch("mirror", str(tmp_path / "d2"), env=env)
    assert again.code == 3 and "neurofetch login" in again.stderr


def test_the_wizard_keeps_the_password_in_the_secret_service(loris, tmp_path: Path) -> None:
    pytest.importorskip("pexpect")
    from keyring.backends import SecretService

    from tests.test_config_wizard import Session, add_loris_profile, config_command

    config = str(tmp_path / "config.yaml")
    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring",
        "NO_COLOR": "1",
        "TERM": "xterm",
        "NEUROFETCH_CONFIG": config,
    }
    session = Session(env)
    add_loris_profile(session, loris.url, "demo")
    session.answer("What next", "quit")
    code, screen = session.finish()
    assert code == 0 and "Connection test passed" in screen, screen
    assert "The secret is in the OS keyring" in screen
    service = f"neurofetch:loris:{loris.url}"
    assert SecretService.Keyring().get_password(service, "demo") == "demo"

    mirror = neurofetch(
        "--config",
        config,
        "mirror",
        str(tmp_path / "d"),
        "--candidate",
        sorted(loris.dataset.expected_tree())[0].split("/")[0],
        env={},
    )
    assert mirror.code == 0, mirror.stderr  # no password given: the keyring's

    forget = subprocess.run(
        [*config_command(), "delete", "lab", "--forget-secrets"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert forget.returncode == 0 and "removed the stored password" in forget.stderr
    assert SecretService.Keyring().get_password(service, "demo") is None
