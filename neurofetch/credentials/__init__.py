"""Secrets: environment → keyring → prompt (only on a terminal). Owns keyring, imported lazily.

Keyring calls run in a worker thread with a timeout: a Secret Service waiting on an unlock
prompt nobody can answer must not hang a cron job.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

from neurofetch.errors import AuthError
from neurofetch.net.secret import Secret as Secret  # its home is net/: services and auth classes use it too

KEYRING_TIMEOUT = 10.0
T = TypeVar("T")

ENV_FOR_KIND = {"password": "NEUROFETCH_PASSWORD", "token": "NEUROFETCH_TOKEN", "api_key": "NEUROFETCH_API_KEY"}
API_KEY_ENTRY = "(api key)"  # keyring entry of a profile's API key (Datamint), under Profile.keyring_service


class KeyringUnavailable(AuthError):
    """No usable keyring backend (headless Linux without a Secret Service, a locked one, ...)."""


def is_interactive(no_input: bool, env: Mapping[str, str] = os.environ) -> bool:
    if no_input or env.get("NEUROFETCH_NO_INPUT", "").lower() in ("1", "true", "yes"):
        return False
    return sys.stdin.isatty() and sys.stderr.isatty()


def keyring_disabled(env: Mapping[str, str] = os.environ) -> bool:
    return env.get("NEUROFETCH_NO_KEYRING", "").lower() in ("1", "true", "yes")


def _with_timeout(call: Callable[[], T]) -> T:
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="keyring", daemon=True)
    thread.start()
    thread.join(KEYRING_TIMEOUT)
    if thread.is_alive():
        raise KeyringUnavailable(unavailable_message("the keyring did not answer within 10 s"))
    if "error" in box:
        error = box["error"]
        assert isinstance(error, BaseException)
        raise error
    return box["value"]  # type: ignore[return-value]


def unavailable_message(reason: str) -> str:
    return (
        f"no usable keyring ({reason}); set NEUROFETCH_PASSWORD (LORIS), NEUROFETCH_API_KEY (Datamint) "
        "or NEUROFETCH_TOKEN in the environment instead, or pipe the secret with --password-stdin / "
        "--api-key-stdin"
    )


def _keyring_call(call: Callable[[object], T]) -> T:
    if keyring_disabled():
        raise KeyringUnavailable(unavailable_message("NEUROFETCH_NO_KEYRING is set"))

    def run() -> T:
        import keyring
        import keyring.errors

        try:
            return call(keyring)
        except keyring.errors.KeyringError as exc:
            raise KeyringUnavailable(unavailable_message(type(exc).__name__)) from None

    return _with_timeout(run)


def keyring_get(service: str, key: str) -> str | None:
    return _keyring_call(lambda kr: kr.get_password(service, key))  # type: ignore[attr-defined]


def keyring_set(service: str, key: str, value: str) -> None:
    """Store and read back: some backends (the null one) accept a write and keep nothing."""

    def store(kr: object) -> bool:
        kr.set_password(service, key, value)  # type: ignore[attr-defined]
        return kr.get_password(service, key) == value  # type: ignore[attr-defined]

    if not _keyring_call(store):
        raise KeyringUnavailable(unavailable_message("the keyring backend does not keep secrets"))


def keyring_delete(service: str, key: str) -> bool:
    """Remove one secret; True if something was removed."""

    def delete(kr: object) -> bool:
        import keyring.errors

        try:
            kr.delete_password(service, key)  # type: ignore[attr-defined]
        except keyring.errors.PasswordDeleteError:
            return False
        return True

    return _keyring_call(delete)


def secret_from_env(kind: str, env: Mapping[str, str] = os.environ, *fallbacks: str) -> Secret | None:
    for name in (ENV_FOR_KIND[kind], *fallbacks):
        if env.get(name):
            return Secret(env[name], source=f"env:{name}")
    return None


def read_secret_stdin(kind: str) -> Secret:
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise AuthError(f"no {kind.replace('_', ' ')} on standard input")
    return Secret(value, source="stdin")


def prompt_secret(label: str) -> Secret:
    import getpass

    value = getpass.getpass(f"{label}: ", stream=sys.stderr)
    if not value:
        raise AuthError(f"no {label.lower()} given")
    return Secret(value, source="prompt")


def stored_secret(service: str, key: str) -> Secret | None:
    """The keyring's secret, or None when there is none or no keyring at all (logged, not fatal)."""
    import logging

    try:
        value = keyring_get(service, key)
    except KeyringUnavailable as exc:
        logging.getLogger("neurofetch").debug("keyring not used: %s", exc)
        return None
    return Secret(value, source="keyring") if value else None


PROBE_ENTRY = "(probe)"


def keyring_problem(service: str) -> str | None:
    """Why the keyring cannot keep a secret here, in a few words; None when it can.

    Probed with a throwaway entry written, read back and removed, so a backend that accepts
    writes and keeps nothing (the null one) is found before anyone types a password.
    """
    if keyring_disabled():
        return "NEUROFETCH_NO_KEYRING is set"

    def probe() -> str | None:
        import keyring
        import keyring.errors

        try:
            keyring.set_password(service, PROBE_ENTRY, "probe")
            kept = keyring.get_password(service, PROBE_ENTRY) == "probe"
            if kept:
                keyring.delete_password(service, PROBE_ENTRY)
        except keyring.errors.NoKeyringError:
            return "no keyring backend"
        except keyring.errors.KeyringError as exc:
            return f"the keyring refused: {type(exc).__name__}"
        return None if kept else "the keyring backend keeps nothing"

    try:
        return _with_timeout(probe)
    except KeyringUnavailable:
        return "the keyring did not answer within 10 s"
