"""`neurofetch login` and `neurofetch logout`."""

from __future__ import annotations

from typing import Annotated

import typer

from neurofetch.cli.common import global_options, load_profile


def register(app: typer.Typer) -> None:
    app.command("login")(login)
    app.command("logout")(logout)


def login(
    ctx: typer.Context,
    username: Annotated[str | None, typer.Option("--username", "-u", envvar="NEUROFETCH_USERNAME",
                                                 help="Account name (LORIS).")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                 help="Read the password from standard input.")] = False,
    no_store: Annotated[bool, typer.Option("--no-store", help="Check the credentials but keep nothing "
                                                              "in the keyring.")] = False,
) -> None:
    """Log in and keep the credentials in the OS keyring, so later runs (cron too) log in by themselves.

    On a terminal the password is asked for; otherwise use --password-stdin or NEUROFETCH_PASSWORD.
    A secret is never accepted as a command-line value.
    """
    from neurofetch.errors import UsageError
    from neurofetch.operations.loris import login_loris, password_for_login, resolve_username
    from neurofetch.ui.messages import logged_in

    options = global_options(ctx)
    profile = load_profile(ctx)
    if profile.service != "loris":
        raise UsageError(f"login is not available for {profile.service} profiles yet")
    name = resolve_username(profile, username, no_input=options.no_input)
    password = password_for_login(password_stdin, no_input=options.no_input)
    outcome = login_loris(profile, name, password, store=not no_store)
    logged_in(profile.url, outcome.username, outcome.expires_at, stored=outcome.stored)


def logout(
    ctx: typer.Context,
    username: Annotated[str | None, typer.Option("--username", "-u", envvar="NEUROFETCH_USERNAME",
                                                 help="Account name (default: the last login).")] = None,
) -> None:
    """Remove the password and token that `login` kept in the keyring for this profile."""
    from neurofetch.operations.loris import logout_loris
    from neurofetch.ui.messages import logged_out

    profile = load_profile(ctx)
    logged_out(profile.url, logout_loris(profile, username))
