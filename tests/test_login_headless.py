"""`neurofetch login` on a machine without a usable keyring: nothing asked in vain, one line, exit 3;
`--no-store` checks the password against the server and keeps nothing."""

from __future__ import annotations

import os
import sys

import pytest

from tests.conftest import every_loris_version
from tests.helpers import run_cli

pytestmark = every_loris_version

pexpect = pytest.importorskip("pexpect", reason="login is driven in a pseudo-terminal (POSIX only)")

NO_BACKEND = "keyring.backends.fail.Keyring"
KEEPS_NOTHING = "keyring.backends.null.Keyring"


def login_env(loris: object) -> dict[str, str]:
    return {"NEUROFETCH_URL": loris.url, "NEUROFETCH_SERVICE": "loris"}  # type: ignore[attr-defined]


def login_in_terminal(env: dict[str, str], *args: str, password: str | None = None) -> tuple[int, str]:
    """``neurofetch login ARGS`` in a pseudo-terminal; types ``password`` if (and only if) it is asked for."""
    child = pexpect.spawn(
        sys.executable,
        ["-m", "neurofetch", "login", *args],
        encoding="utf-8",
        timeout=30,
        env={**os.environ, "TERM": "xterm", "COLUMNS": "200", "NO_COLOR": "1", **env},
        dimensions=(50, 200),
    )
    seen = ""
    if password is not None:
        child.expect("password: ")
        seen = child.before + child.after
        child.sendline(password)
    seen += child.read()
    child.close()
    return child.exitstatus, seen


@pytest.mark.parametrize(
    "no_keyring",
    [{"NEUROFETCH_NO_KEYRING": "1"}, {"PYTHON_KEYRING_BACKEND": NO_BACKEND}, {"PYTHON_KEYRING_BACKEND": KEEPS_NOTHING}],
    ids=["disabled", "none", "null"],
)
def test_without_a_keyring_login_asks_nothing_and_says_what_works_in_one_line(loris, no_keyring) -> None:
    code, screen = login_in_terminal({**login_env(loris), **no_keyring}, "--username", "demo")
    lines = [line for line in screen.splitlines() if line.strip()]
    assert code == 3, screen
    assert "password:" not in screen.lower()
    assert len(lines) == 1, lines
    assert "--no-store" in lines[0] and "NEUROFETCH_PASSWORD" in lines[0] and "--password-stdin" not in lines[0]


def test_no_store_asks_checks_the_password_and_keeps_nothing(loris, memory_keyring) -> None:
    env = {**login_env(loris), "NEUROFETCH_NO_KEYRING": "1"}
    code, screen = login_in_terminal(env, "--username", "demo", "--no-store", password="not-the-password")
    assert code == 3 and "refused" in screen, screen
    code, screen = login_in_terminal(env, "--username", "demo", "--no-store", password="demo")
    assert code == 0 and "Logged in" in screen, screen
    assert "Traceback" not in screen
    logins = [e for e in loris.log.entries() if e.path.endswith("/login")]  # type: ignore[attr-defined]
    assert len(logins) == 2  # both passwords went to the server


def test_no_store_from_stdin_keeps_nothing_in_a_working_keyring(loris, memory_keyring) -> None:
    wrong = run_cli("login", "-u", "demo", "--no-store", "--password-stdin", input="nope\n", env=login_env(loris))
    assert wrong.code == 3 and len(wrong.stderr.strip().splitlines()) == 1
    right = run_cli("login", "-u", "demo", "--no-store", "--password-stdin", input="demo\n", env=login_env(loris))
    assert right.code == 0, right.stderr
    assert memory_keyring.store == {}


def test_without_a_keyring_a_password_from_the_environment_is_still_checked(loris) -> None:
    env = {**login_env(loris), "NEUROFETCH_NO_KEYRING": "1", "NEUROFETCH_USERNAME": "demo"}
    wrong = run_cli("login", env={**env, "NEUROFETCH_PASSWORD": "nope"})
    assert wrong.code == 3 and "refused" in wrong.stderr, wrong.stderr
    right = run_cli("login", env={**env, "NEUROFETCH_PASSWORD": "demo"})
    assert right.code == 3 and len(right.stderr.strip().splitlines()) == 1
    assert "the password works" in right.stderr and "--no-store" in right.stderr
