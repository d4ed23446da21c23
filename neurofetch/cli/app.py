"""The root command: global options and the list of commands. Imports only typer and stdlib."""

from __future__ import annotations

from typing import Annotated

import typer

from neurofetch.cli import atlas_image, auth, demo, ls, mirror, s3
from neurofetch.cli import index as index_command
from neurofetch.cli import publish as publish_command
from neurofetch.cli import upload as upload_command
from neurofetch.cli.emulate import emulate_app
from neurofetch.cli.options import Group, complete_profile, complete_service, use_shared_command_class

app = typer.Typer(
    cls=Group,
    rich_markup_mode=None,  # plain help: it prints in a third of the time rich's takes
    name="neurofetch",
    help="Fast, resumable, verified bulk downloads and uploads for neuroimaging data services "
    "(LORIS, NeuroVault, Allen Brain Map, Datamint-style platforms, S3).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="""
    neurofetch -p preventad mirror ~/data/preventad --candidate 300001
    neurofetch --service allen atlas-image --atlas-images 1 --downsample 4 -o plates
    neurofetch mirror ~/data/preventad -q --json > result.json
    """,
)


def _version(value: bool) -> None:
    if value:
        from neurofetch import __version__
        from neurofetch.ui.output import print_data_line

        print_data_line(f"neurofetch {__version__}")
        raise typer.Exit()


def _from_command_line(ctx: typer.Context, name: str, value: str | None) -> str | None:
    """The flag's value, or None when it came from its environment variable: settings.select_profile reads
    NEUROFETCH_PROFILE/_URL/_SERVICE itself, because a flag beats a variable and they exclude each other
    only at the same level."""
    source = ctx.get_parameter_source(name)
    return value if source is not None and source.name == "COMMANDLINE" else None


@app.callback()
def main_options(
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
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            envvar="NEUROFETCH_PROFILE",
            metavar="NAME",
            autocompletion=complete_profile,
            help="Profile to use (default: default_profile).",
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url", envvar="NEUROFETCH_URL", metavar="URL", help="Service URL for an ad-hoc profile (with --service)."
        ),
    ] = None,
    service: Annotated[
        str | None,
        typer.Option(
            "--service",
            envvar="NEUROFETCH_SERVICE",
            metavar="SERVICE",
            autocompletion=complete_service,
            help="loris | neurovault | allen | datamint | s3.",
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON result document on stdout; human text goes to stderr.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Errors and the final summary only.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug log on stderr (secrets masked).")] = False,
    no_input: Annotated[
        bool,
        typer.Option("--no-input", envvar="NEUROFETCH_NO_INPUT", help="Never prompt (implied without a terminal)."),
    ] = False,
    log_file: Annotated[
        str | None,
        typer.Option(
            "--log-file",
            envvar="NEUROFETCH_LOG_FILE",
            metavar="PATH",
            help="Append a timestamped plain-text log here (secrets masked).",
        ),
    ] = None,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colours (NO_COLOR is honoured too).")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    from neurofetch.settings import GlobalOptions
    from neurofetch.ui.console import set_no_color
    from neurofetch.ui.logs import configure_logging

    set_no_color(no_color)
    if json_output:
        from neurofetch.ui.output import owe_json_document

        owe_json_document(ctx.invoked_subcommand)
    if quiet and verbose:
        raise typer.BadParameter("--quiet and --verbose exclude each other", param_hint="-q/-v")
    profile, url, service = (
        _from_command_line(ctx, name, value)
        for name, value in (("profile", profile), ("url", url), ("service", service))
    )
    ctx.obj = GlobalOptions(
        config=config,
        profile=profile,
        url=url,
        service=service,
        json=json_output,
        quiet=quiet,
        verbose=verbose,
        no_input=no_input,
        log_file=log_file,
        no_color=no_color,
    )
    configure_logging(verbose=verbose, log_file=log_file)


auth.register(app)
mirror.register(app)
upload_command.register(app)
publish_command.register(app)
atlas_image.register(app)
s3.register(app)
ls.register(app)
index_command.register(app)
demo.register(app)
app.add_typer(emulate_app)
use_shared_command_class(app)
