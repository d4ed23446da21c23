"""`neurofetch login` and `neurofetch logout`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from neurofetch.cli.common import global_options, load_profile

if TYPE_CHECKING:
    from neurofetch.settings import Profile


LOGIN_EXAMPLES = """
    neurofetch -p preventad login --username jdoe
    printf '%s\\n' "$PASSWORD" | neurofetch -p preventad login -u jdoe --password-stdin
    neurofetch -p datamint login --api-key-stdin < key.txt
"""


LOGOUT_EXAMPLES = """
    neurofetch -p preventad logout
    neurofetch logout -p preventad --username jdoe
"""


def register(app: typer.Typer) -> None:
    app.command("login", epilog=LOGIN_EXAMPLES)(login)
    app.command("logout", epilog=LOGOUT_EXAMPLES)(logout)


def login(
    ctx: typer.Context,
    username: Annotated[
        str | None,
        typer.Option("--username", "-u", envvar="NEUROFETCH_USERNAME", metavar="NAME", help="Account name (LORIS)."),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    api_key_stdin: Annotated[
        bool, typer.Option("--api-key-stdin", help="Read the API key from standard input (Datamint).")
    ] = False,
    no_store: Annotated[
        bool,
        typer.Option(
            "--no-store", help="Check the credentials against the server and keep nothing (machines without a keyring)."
        ),
    ] = False,
) -> None:
    """Log in and keep the credentials in the OS keyring, so later runs (cron too) log in by themselves.

    On a terminal the password (Datamint: the API key) is asked for; otherwise use --password-stdin or
    NEUROFETCH_PASSWORD (Datamint: --api-key-stdin or NEUROFETCH_API_KEY / DATAMINT_API_KEY).
    Without a usable keyring nothing is asked: use --no-store to check the password, and
    NEUROFETCH_PASSWORD (Datamint: NEUROFETCH_API_KEY) for unattended runs.
    A secret is never accepted as a command-line value.
    """
    from neurofetch import api
    from neurofetch.credentials import read_secret_stdin
    from neurofetch.ui.messages import logged_in
    from neurofetch.ui.output import print_message

    profile = _profile(ctx)
    password = read_secret_stdin("password").value if password_stdin and profile.service == "loris" else None
    api_key = read_secret_stdin("api_key").value if api_key_stdin and profile.service == "datamint" else None
    outcome = api.login(
        profile=profile,
        username=username,
        password=password,
        api_key=api_key,
        store=not no_store,
        no_input=global_options(ctx).no_input,
    )
    if outcome.service == "datamint":
        print_message(
            f"Logged in to {outcome.url} with the API key"
            + (
                "; it is kept in the keyring, later runs use it by themselves."
                if outcome.stored
                else "; nothing was stored."
            )
        )
    else:
        logged_in(outcome.url, outcome.username or "", outcome.expires_at, stored=outcome.stored)


def logout(
    ctx: typer.Context,
    username: Annotated[
        str | None,
        typer.Option(
            "--username",
            "-u",
            envvar="NEUROFETCH_USERNAME",
            metavar="NAME",
            help="Account name (default: the last login).",
        ),
    ] = None,
) -> None:
    """Remove the password and token that `login` kept in the keyring for this profile."""
    from neurofetch import api
    from neurofetch.ui.messages import logged_out

    outcome = api.logout(profile=_profile(ctx), username=username)
    logged_out(outcome.url, outcome.removed)


def _profile(ctx: typer.Context) -> Profile:
    """The official Datamint client's DATAMINT_API_URL/DATAMINT_API_KEY select a Datamint profile
    when nothing else is chosen (settings.datamint_environment)."""
    from neurofetch.settings import datamint_environment

    return load_profile(ctx, only_service="datamint" if datamint_environment() else None)
