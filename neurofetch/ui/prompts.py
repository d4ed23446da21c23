"""Questions asked on a terminal outside the wizard (a user name before a login)."""

from __future__ import annotations


def ask_text(question: str) -> str:
    """One line typed on the terminal, stripped; "" when nothing was typed."""
    from rich.prompt import Prompt

    from neurofetch.ui.console import make_console

    return str(Prompt.ask(question, console=make_console())).strip()
