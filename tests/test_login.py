"""`neurofetch login` / `logout` for LORIS, with an in-memory keyring (the real one: tests/real_keyring)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import every_loris_version
from tests.helpers import run_cli

pytestmark = every_loris_version


def login_env(loris: object) -> dict[str, str]:
    return {"NEUROFETCH_URL": loris.url, "NEUROFETCH_SERVICE": "loris"}  # type: ignore[attr-defined]


def test_login_from_stdin_stores_password_and_token(loris, memory_keyring) -> None:
    result = run_cli("login", "--username", "demo", "--password-stdin", input="demo\n", env=login_env(loris))
    assert result.code == 0, result.stderr
    assert "expires" in result.stderr and "demo" in result.stderr
    stored = memory_keyring.store
    service = f"neurofetch:loris:{loris.url}"
    assert stored[(service, "demo")] == "demo"
    assert stored[(service, "demo:token")].count(".") == 2


def test_login_from_environment(loris, memory_keyring) -> None:
    env = {**login_env(loris), "NEUROFETCH_USERNAME": "demo", "NEUROFETCH_PASSWORD": "demo"}
    assert run_cli("login", env=env).code == 0
    assert memory_keyring.store


def test_wrong_password_exits_3_and_stores_nothing(loris, memory_keyring) -> None:
    result = run_cli("login", "-u", "demo", "--password-stdin", input="wrong\n", env=login_env(loris))
    assert result.code == 3
    assert "Incorrect username or password" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert memory_keyring.store == {}


def test_no_password_without_terminal_exits_3(loris) -> None:
    result = run_cli("login", "-u", "demo", env=login_env(loris))
    assert result.code == 3 and "--password-stdin" in result.stderr


def test_no_keyring_backend_names_the_environment_variables(loris, monkeypatch) -> None:
    import keyring
    from keyring.backends import fail

    keyring.set_keyring(fail.Keyring())
    result = run_cli("login", "-u", "demo", "--password-stdin", input="demo\n", env=login_env(loris))
    assert result.code == 3
    assert "NEUROFETCH_PASSWORD" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_later_mirror_uses_stored_credentials_and_logout_removes_them(loris, memory_keyring, tmp_path: Path) -> None:
    env = login_env(loris)
    assert run_cli("login", "-u", "demo", "--password-stdin", input="demo\n", env=env).code == 0
    logins_before = loris.logins
    result = run_cli("mirror", tmp_path / "d", "--candidate", sorted(loris.dataset.expected_tree())[0][:7], env=env)
    assert result.code == 0, result.stderr
    assert loris.logins == logins_before  # the stored token was still fresh
    out = run_cli("logout", env=env)
    assert out.code == 0 and "password" in out.stderr
    assert memory_keyring.store == {}
    again = run_cli("mirror", tmp_path / "d2", env=env)
    assert again.code == 3 and "neurofetch login" in again.stderr
