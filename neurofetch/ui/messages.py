"""One-off human messages of commands that do not produce a RunResult."""

from __future__ import annotations

import time

from neurofetch.ui.output import print_message


def logged_in(url: str, username: str, expires_at: float | None, *, stored: bool) -> None:
    when = ""
    if expires_at:
        hours = (expires_at - time.time()) / 3600
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(expires_at))
        when = f"; the token expires {stamp} (in {hours:.1f} h)"
    kept = (
        "; password and token kept in the keyring, later runs log in by themselves"
        if stored
        else "; nothing was stored"
    )
    print_message(f"Logged in to {url} as {username}{when}{kept}.")


def logged_out(url: str, removed: list[str]) -> None:
    if removed:
        print_message(f"Removed the stored {', '.join(removed)} for {url}.")
    else:
        print_message(f"Nothing was stored for {url}.")
