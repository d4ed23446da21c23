"""`neurofetch-config`: set up profiles and credentials, interactively (the wizard) or with subcommands.

Imports only typer and stdlib at the top, like every CLI module, so `--help` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from neurofetch import __version__
from neurofetch.cli.options import Group, complete_profile, use_shared_command_class

if TYPE_CHECKING:
    from pathlib import Path

    from neurofetch.config_file import ConfigFile
    from neurofetch.ui.config_wizard import ProfileTools

app = typer.Typer(
    cls=Group,
    rich_markup_mode=None,  # plain help: it prints in a third of the time rich's takes
    name="neurofetch-config",
    help="Set up neurofetch: profiles (service, URL, user, jobs) in the config file and their secrets in the OS "
    "keyring. Without a subcommand, on a terminal, a wizard asks the questions and tests the connection; "
    "scripts use the subcommands below or edit the config file.",
    invoke_without_command=True,
    no_args_is_help=False,
    pretty_exceptions_show_locals=False,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="""
    neurofetch-config
    neurofetch-config set preventad service=loris url=https://openpreventad.loris.ca/api/v0.0.3-dev --default
    neurofetch-config test preventad
    """,
)

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="Profile name.", autocompletion=complete_profile)]
OptionalName = Annotated[
    str | None,
    typer.Argument(
        metavar="[NAME]", autocompletion=complete_profile, help="Profile name (default: the default profile)."
    ),
]


EXAMPLES = {
    "list": """
        neurofetch-config list
        neurofetch-config --config ./lab.yaml list
        """,
    "show": """
        neurofetch-config show
        neurofetch-config show preventad
        """,
    "set": """
        neurofetch-config set preventad service=loris url=https://openpreventad.loris.ca/api/v0.0.3-dev username=jdoe
        neurofetch-config set preventad jobs=2 --default
        neurofetch-config set preventad username=
        """,
    "default": """
        neurofetch-config default preventad
        neurofetch-config default allen
        """,
    "delete": """
        neurofetch-config delete old-server
        neurofetch-config delete preventad --forget-secrets
        """,
    "test": """
        neurofetch-config test
        neurofetch-config test preventad
        neurofetch-config test lab-bucket --bucket my-bucket
        """,
    "path": """
        neurofetch-config path
        $EDITOR "$(neurofetch-config path)"
        """,
}


def _version(value: bool) -> None:
    if value:
        from neurofetch.ui.output import print_data_line

        print_data_line(f"neurofetch-config {__version__}")
        raise typer.Exit()


@app.callback()
def wizard(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            envvar="NEUROFETCH_CONFIG",
            metavar="PATH",
            help="Config file (default: the user config dir's neurofetch/config.yaml).",
        ),
    ] = None,
    no_input: Annotated[
        bool,
        typer.Option(
            "--no-input", envvar="NEUROFETCH_NO_INPUT", help="Never prompt: the wizard refuses, subcommands work."
        ),
    ] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colours (NO_COLOR is honoured too).")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Without a subcommand: the interactive wizard (needs a terminal)."""
    from neurofetch.settings import GlobalOptions
    from neurofetch.ui.console import set_no_color

    set_no_color(no_color)
    ctx.obj = GlobalOptions(config=config, no_input=no_input, no_color=no_color)
    if ctx.invoked_subcommand is not None:
        return
    from neurofetch.credentials import is_interactive
    from neurofetch.errors import UsageError

    path = _path(ctx)
    if not is_interactive(no_input):
        raise UsageError(
            f"neurofetch-config asks questions and needs a terminal; without one use "
            f"`neurofetch-config set NAME service=... url=...` (see neurofetch-config --help) "
            f"or edit {path}"
        )
    from neurofetch.ui.config_wizard import run_wizard

    raise typer.Exit(run_wizard(path, _profile_tools()))


@app.command("list", epilog=EXAMPLES["list"])
def list_profiles(ctx: typer.Context) -> None:
    """One line per profile on stdout: name, service, URL, and which one is the default."""
    from neurofetch.ui.config_wizard import profile_table_lines
    from neurofetch.ui.output import print_data_line, print_message

    config = _open(ctx)
    if not config.profile_names:
        print_message(f"No profiles in {config.path}; run neurofetch-config to add one.")
        return
    for line in profile_table_lines(config):
        print_data_line(line)


@app.command("show", epilog=EXAMPLES["show"])
def show(ctx: typer.Context, name: OptionalName = None) -> None:
    """A profile's settings and where its secrets come from (secrets are masked, never printed)."""
    from neurofetch.ui.config_wizard import profile_detail_lines
    from neurofetch.ui.output import print_data_line

    config = _open(ctx)
    from neurofetch.credentials.status import secret_status

    for line in profile_detail_lines(config, _name_or_default(config, name), secret_status):
        print_data_line(line)


@app.command("set", epilog=EXAMPLES["set"])
def set_profile(
    ctx: typer.Context,
    name: NameArgument,
    assignments: Annotated[
        list[str],
        typer.Argument(
            metavar="KEY=VALUE...",
            help="Keys to set, e.g. service=loris url=https://openpreventad.loris.ca/api/v0.0.3-dev username=jdoe "
            "jobs=4. KEY= (empty) removes a key. Secrets are refused: they belong in the keyring.",
        ),
    ],
    make_default: Annotated[bool, typer.Option("--default", help="Also make it the default profile.")] = False,
) -> None:
    """Create or change a profile without questions; other keys and comments in the file are kept."""
    from neurofetch.config_file import parse_value
    from neurofetch.errors import UsageError
    from neurofetch.ui.output import print_message

    values, remove = {}, []
    for item in assignments:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"expected KEY=VALUE, not {item!r}")
        key = key.strip()
        if text == "":
            remove.append(key)
        else:
            values[key] = parse_value(key, text)
    config = _open(ctx)
    created = name not in config.profile_names
    config.set_profile(name, values, remove)
    if make_default or not config.default_profile:
        config.set_default(name)
    config.save()
    default = " (the default profile)" if config.default_profile == name else ""
    print_message(f"{'Added' if created else 'Updated'} profile {name!r}{default} in {config.path}.")


@app.command("default", epilog=EXAMPLES["default"])
def set_default(ctx: typer.Context, name: NameArgument) -> None:
    """Make NAME the profile used when --profile is not given."""
    from neurofetch.ui.output import print_message

    config = _open(ctx)
    config.set_default(name)
    config.save()
    print_message(f"The default profile is now {name!r}.")


@app.command("delete", epilog=EXAMPLES["delete"])
def delete(
    ctx: typer.Context,
    name: NameArgument,
    forget_secrets: Annotated[
        bool,
        typer.Option(
            "--forget-secrets", help="Also remove the password, token or API key kept in the keyring for its server."
        ),
    ] = False,
) -> None:
    """Remove a profile from the config file."""
    from neurofetch.ui.output import print_message

    config = _open(ctx)
    profile = config.profile(name)
    config.delete_profile(name)
    config.save()
    removed = []
    if forget_secrets:
        from neurofetch import api

        removed = api.logout(profile=profile).removed
    also = f"; removed the stored {', '.join(removed)}" if removed else ""
    print_message(f"Deleted profile {name!r} from {config.path}{also}.")


@app.command("test", epilog=EXAMPLES["test"])
def test(
    ctx: typer.Context,
    name: OptionalName = None,
    bucket: Annotated[str | None, typer.Option("--bucket", metavar="BUCKET", help="S3: the bucket to list.")] = None,
) -> None:
    """Try a profile for real with the credentials it would use (exit 0: it works).

    LORIS: a login; Allen, NeuroVault: a one-row listing; Datamint: the API key; S3: a bucket listing.
    """
    from neurofetch import api
    from neurofetch.ui.output import print_message

    name = _name_or_default(_open(ctx), name)
    outcome = api.check_profile(name, config=str(_path(ctx)), bucket=bucket)  # as a real run sees it
    word = {True: "passed", False: "FAILED", None: "skipped"}[outcome.ok]
    print_message(f"{name}: connection test {word}: {outcome.message}")
    raise typer.Exit(outcome.exit_code)


def _profile_tools() -> ProfileTools:
    """The checks and keyring functions the wizard calls."""
    from neurofetch import api
    from neurofetch.credentials import keyring_problem
    from neurofetch.credentials.status import secret_status
    from neurofetch.ui.config_wizard import ProfileTools

    return ProfileTools(
        check=lambda profile, secret, store, bucket: api.check_profile(
            profile, secret=secret, store=store, bucket=bucket
        ),
        forget_secrets=lambda profile: api.logout(profile=profile).removed,
        secret_status=secret_status,
        keyring_problem=keyring_problem,
    )


@app.command("path", epilog=EXAMPLES["path"])
def path(ctx: typer.Context) -> None:
    """Print the config file's path (whether or not it exists yet)."""
    from neurofetch.ui.output import print_data_line

    print_data_line(str(_path(ctx)))


def _path(ctx: typer.Context) -> Path:
    from neurofetch.settings import GlobalOptions, config_path

    root = ctx.find_root().obj
    return config_path(root if isinstance(root, GlobalOptions) else GlobalOptions())


def _open(ctx: typer.Context) -> ConfigFile:
    from neurofetch.config_file import ConfigFile

    return ConfigFile(_path(ctx))


def _name_or_default(config: ConfigFile, name: str | None) -> str:
    from neurofetch.errors import UsageError

    chosen = name or config.default_profile
    if not chosen:
        raise UsageError(f"no profile named and no default_profile in {config.path}")
    return chosen


use_shared_command_class(app)


def main(argv: list[str] | None = None) -> int:
    """The `neurofetch-config` console script."""
    from neurofetch.__main__ import run_app

    return run_app("neurofetch.cli.config_app", argv, prog_name="neurofetch-config")


if __name__ == "__main__":
    import sys

    sys.exit(main())
