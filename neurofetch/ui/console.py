"""The console factory: stderr for people, colour and animation only where they belong."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def stderr_is_live_terminal() -> bool:
    """Animate only on a real terminal; FORCE_COLOR in a CI log must not bring redraws back."""
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb" and not os.environ.get("CI")


_no_color_flag = False


def set_no_color(value: bool) -> None:
    """--no-color: every console this run makes is colourless, as with NO_COLOR in the environment."""
    global _no_color_flag
    _no_color_flag = value


def make_console(*, no_color: bool = False) -> Console:
    from rich.console import Console

    colour_off = no_color or _no_color_flag or bool(os.environ.get("NO_COLOR"))
    return Console(
        stderr=True,
        no_color=colour_off or None,
        force_interactive=stderr_is_live_terminal(),
        highlight=False,
        soft_wrap=True,
    )
