"""Tests against a real Secret Service (gnome-keyring under dbus-run-session, reference/ux.md §4.4).

They are deselected by the normal run (`-m "not real_keyring"` in pyproject's addopts), so a developer's
own desktop keyring is never written to by accident. `.ci/run` runs them with `pytest -m real_keyring
tests/real_keyring` inside `dbus-run-session` with a throwaway, unlocked gnome-keyring; anywhere else
they skip and say why.
"""

from __future__ import annotations

import os
import threading

import pytest

RECIPE = (
    "run them inside `dbus-run-session` after `echo -n PASSWORD | gnome-keyring-daemon --unlock "
    "--components=secrets`, as .ci/run does"
)


def secret_service_problem() -> str | None:
    """None when a Secret Service answers and keeps a secret; otherwise why not (within 15 s)."""
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return f"no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset); {RECIPE}"
    box: dict[str, str | None] = {}

    def probe() -> None:
        try:
            from keyring.backends import SecretService

            backend = SecretService.Keyring()
            backend.set_password("neurofetch-test-probe", "probe", "ok")
            kept = backend.get_password("neurofetch-test-probe", "probe")
            backend.delete_password("neurofetch-test-probe", "probe")
            box["problem"] = None if kept == "ok" else "the Secret Service did not keep a secret"
        except Exception as exc:
            box["problem"] = f"no usable Secret Service ({type(exc).__name__}: {exc}); {RECIPE}"

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(15)
    return box.get("problem", "the Secret Service did not answer within 15 s (a locked keyring?)")


@pytest.fixture(scope="session")
def secret_service() -> None:
    problem = secret_service_problem()
    if problem:
        pytest.skip(problem)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if "not real_keyring" in (config.option.markexpr or ""):
        terminalreporter.write_line(
            "real_keyring tests deselected (they use the real OS keyring): "
            "`pytest -m real_keyring tests/real_keyring`; " + RECIPE
        )
