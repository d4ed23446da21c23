"""Shared command behaviour: the program's global options accepted after a command's name too, an Examples
block at the end of every --help, plain metavars, and shell completion of profile and service names. Then the
selection options shared by the commands that fetch (`mirror`, `atlas-image`, `s3-sync`) and `ls`, which lists
what they would fetch: one declaration each, so the two can never drift apart.

Imports only typer and stdlib, so `--help` stays fast.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core
from typer._click.core import Context, Parameter, ParameterSource
from typer._click.exceptions import UsageError as ClickUsageError
from typer._click.formatting import HelpFormatter
from typer.models import DefaultPlaceholder

GLOBAL_SECTION = "Global options (also accepted before the command)"
# Options whose value is optional: given bare they take this value; a value of their own needs "=" (--wait=30),
# so that `--wait DEST` can never take DEST for its value.
OPTIONAL_VALUES = {"--wait": "forever"}


def global_params(ctx: Context) -> list[Parameter]:
    """The root command's options (minus --version, --help and completion): the program's global options."""
    root = ctx.find_root()
    if root is ctx:
        return []
    return [p for p in root.command.params if p.param_type_name == "option" and p.expose_value and not p.is_eager]


def _adopt(ctx: Context, values: dict[str, Any]) -> None:
    """Global options given after the command count as if given before it: the root's callback, the one
    place they are interpreted, runs again with them."""
    root = ctx.find_root()
    root.params.update(values)
    for name in values:
        root.set_parameter_source(name, ParameterSource.COMMANDLINE)
    assert root.command.callback is not None
    root.invoke(root.command.callback, **root.params)


def _write_examples(text: str | None, formatter: HelpFormatter) -> None:
    """gh/aws style: an Examples block, each line as written (never re-wrapped)."""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    if lines:
        with formatter.section("Examples"):
            for line in lines:
                formatter.write(f"{'':>{formatter.current_indent}}{line}\n")


def _plain_usage(pieces: Sequence[str]) -> list[str]:
    """`DEST`, not Typer's `{DEST}` for a required argument."""
    return [re.sub(r"^\{(.*)\}$", r"\1", piece) for piece in pieces]


class Command(typer.core.TyperCommand):
    """Every neurofetch command: takes the global options anywhere, lists them in its --help, ends its
    --help with Examples (its epilog)."""

    def get_params(self, ctx: Context) -> list[Parameter]:
        own = super().get_params(ctx)
        shared = [p for p in global_params(ctx) if p.name not in {q.name for q in self.params}]
        return [*own[: len(self.params)], *shared, *own[len(self.params) :]]

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        args = _with_optional_values(args)
        original = list(args)  # the parser consumes the list it is given
        try:
            return super().parse_args(ctx, args)
        except ClickUsageError:
            self._adopt_leniently(ctx, original)  # e.g. --json after a bad option still gets its document
            raise

    def _adopt_leniently(self, ctx: Context, args: list[str]) -> None:
        probe = typer.core.TyperCommand(
            None,
            params=global_params(ctx),
            add_help_option=False,
            context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        )
        try:
            probe_ctx = probe.make_context(ctx.info_name, list(args), parent=ctx.parent)
            given = {
                name: value
                for name, value in probe_ctx.params.items()
                if probe_ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
            }
            if given:
                _adopt(ctx, given)
        except Exception:  # the original usage error is the one to report
            pass

    def invoke(self, ctx: Context) -> Any:
        own = {p.name for p in self.params}
        given = {}
        for param in global_params(ctx):
            if param.name in own or param.name not in ctx.params:
                continue
            value = ctx.params.pop(param.name)
            if ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE:
                given[param.name] = value
        if given:
            _adopt(ctx, given)
        return super().invoke(ctx)

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        shared = {p.name for p in global_params(ctx)} - {p.name for p in self.params}
        arguments: list[tuple[str, str]] = []
        options: list[tuple[str, str]] = []
        globals_: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append(record)
            else:
                (globals_ if param.name in shared else options).append(record)
        for title, records in (("Arguments", arguments), ("Options", options), (GLOBAL_SECTION, globals_)):
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        return _plain_usage(super().collect_usage_pieces(ctx))

    def format_epilog(self, ctx: Context, formatter: HelpFormatter) -> None:
        _write_examples(self.epilog, formatter)


def _with_optional_values(args: list[str]) -> list[str]:
    """``--wait`` → ``--wait=forever`` (up to a ``--``, after which every word is an argument)."""
    end = args.index("--") if "--" in args else len(args)
    return [f"{arg}={OPTIONAL_VALUES[arg]}" if arg in OPTIONAL_VALUES else arg for arg in args[:end]] + args[end:]


class Group(typer.core.TyperGroup):
    """A command group whose --help ends with Examples (its epilog)."""

    def format_epilog(self, ctx: Context, formatter: HelpFormatter) -> None:
        _write_examples(self.epilog, formatter)


def use_shared_command_class(app: typer.Typer) -> None:
    """Give every command of ``app`` (and of its sub-apps) the shared behaviour above."""
    for info in app.registered_commands:
        if info.cls in (None, typer.core.TyperCommand) or isinstance(info.cls, DefaultPlaceholder):
            info.cls = Command
        elif not issubclass(info.cls, Command):
            raise TypeError(f"{info.name}: its command class must derive from neurofetch.cli.options.Command")
    for group in app.registered_groups:
        if group.typer_instance is not None:
            use_shared_command_class(group.typer_instance)


# -- shell completion -------------------------------------------------------------------------------------------
def _config_path(ctx: Context) -> str | None:
    """--config as typed, after the command or before it. (While completing, Click records no parameter
    sources, and every level reads NEUROFETCH_CONFIG: a value that differs from it was typed.)"""
    import os

    from_env = os.environ.get("NEUROFETCH_CONFIG")
    here: Context | None = ctx
    while here is not None:
        value = here.params.get("config")
        if value and value != from_env:
            return str(value)
        here = here.parent
    return from_env


def complete_profile(ctx: typer.Context, incomplete: str) -> list[str]:
    """Profile names of the config file (the one --config names, if it was typed before)."""
    try:
        from neurofetch.settings import GlobalOptions, config_path, load_config

        config = load_config(config_path(GlobalOptions(config=_config_path(ctx))))
        return [str(name) for name in config.get("profiles") or {} if str(name).startswith(incomplete)]
    except Exception:  # completion never shows a traceback
        return []


def complete_service(incomplete: str) -> list[str]:
    from neurofetch.settings import SERVICES

    return [name for name in SERVICES if name.startswith(incomplete)]


CandidateOption = Annotated[
    list[str] | None, typer.Option("--candidate", metavar="CANDID", help="LORIS: only this candidate (repeatable).")
]
VisitOption = Annotated[
    list[str] | None, typer.Option("--visit", metavar="LABEL", help="LORIS: only this visit label (repeatable).")
]
BidsOption = Annotated[
    bool,
    typer.Option(
        "--bids",
        help="LORIS: a BIDS tree instead of the MINC files, DEST/sub-<CandID>/ses-<Visit>/<datatype>/: the "
        "server's BIDS export where it has one (openpreventad; top-level files as served), else each image's NIfTI, "
        "JSON sidecar and bval/bvec (LORIS main, API v0.0.4-dev) under BIDS names neurofetch gives them: one per "
        "acquisition (the defaced output where there is one), run-1, run-2... for repeats in a session, scan types "
        "BIDS has no name for left out, with dataset_description.json, participants.tsv and scans files of its "
        "own; an image the server has no NIfTI of is skipped with a warning.",
    ),
]
DatatypeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--datatype",
        metavar="NAME",
        help="LORIS --bids: only this BIDS datatype folder, e.g. anat, func, dwi, fmap (repeatable).",
    ),
]
SuffixOption = Annotated[
    list[str] | None,
    typer.Option(
        "--suffix",
        metavar="SUFFIX",
        help="LORIS --bids: only images with this BIDS suffix, e.g. T1w, bold (repeatable).",
    ),
]
CollectionOption = Annotated[
    list[str] | None, typer.Option("--collection", metavar="ID", help="NeuroVault: this collection (repeatable).")
]
DoiOption = Annotated[
    list[str] | None,
    typer.Option("--doi", metavar="DOI", help="NeuroVault: the collections of this paper's DOI (repeatable)."),
]
MapTypeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--map-type", metavar="TYPE", help='NeuroVault: only images of this map type, e.g. "Z map" (repeatable).'
    ),
]
ModalityOption = Annotated[
    list[str] | None,
    typer.Option(
        "--modality", metavar="NAME", help='NeuroVault: only images of this modality, e.g. "fMRI-BOLD" (repeatable).'
    ),
]
ChannelOption = Annotated[str | None, typer.Option("--channel", metavar="NAME", help="Datamint: only this channel.")]
StatusOption = Annotated[
    str | None, typer.Option("--status", metavar="inbox|published", help="Datamint: only resources in this state.")
]
TagOption = Annotated[
    list[str] | None,
    typer.Option("--tag", metavar="TAG", help="Datamint: only resources with this tag (repeatable; any of them)."),
]
ProjectOption = Annotated[
    list[str] | None,
    typer.Option("--project", metavar="NAME", help="Datamint: only resources of this project (repeatable)."),
]
MimetypeOption = Annotated[
    str | None, typer.Option("--mimetype", metavar="TYPE", help="Datamint: only this mimetype, e.g. application/dicom.")
]
DateFromOption = Annotated[
    str | None, typer.Option("--from", metavar="YYYY-MM-DD", help="Datamint: uploaded on or after this date.")
]
DateToOption = Annotated[
    str | None, typer.Option("--to", metavar="YYYY-MM-DD", help="Datamint: uploaded before this date.")
]
ManifestOption = Annotated[
    Path | None,
    typer.Option(
        "--from-manifest",
        metavar="FILE",
        help="Fetch exactly the rows of this table written by `neurofetch ls` (TSV, CSV, JSON lines, JSON or "
        "Parquet; filtered, reordered or re-saved is fine), matched by its path column. A row that is no longer "
        "on the server fails (exit 1); a table of another service or server, or a malformed one, is exit 2.",
    ),
]

# Allen Brain Map: what to fetch, and the parameters that also name the files.
AtlasImagesOption = Annotated[
    list[int] | None,
    typer.Option(
        "--atlas-images",
        metavar="ATLAS_ID",
        show_default=False,
        help="Every annotated plate of this atlas, e.g. 1 (Mouse P56 Coronal, 132 plates). Repeatable.",
    ),
]
SectionDataSetOption = Annotated[
    list[int] | None,
    typer.Option(
        "--section-data-set",
        metavar="ID",
        show_default=False,
        help="Every SectionImage of this section data set. Repeatable.",
    ),
]
DownsampleOption = Annotated[
    int | None,
    typer.Option(
        "--downsample",
        metavar="N",
        show_default=False,
        help="Halve width and height N times (0 = full resolution, the service's default). "
        "Whole plates are large: 4 gives about 1000×500 px.",
    ),
]
QualityOption = Annotated[
    int | None,
    typer.Option("--quality", metavar="Q", show_default=False, help="JPEG quality 0–100 (default: the highest)."),
]
AnnotationOption = Annotated[
    bool | None,
    typer.Option(
        "--annotation/--no-annotation",
        show_default=False,
        help="Draw the atlas's coloured structure annotation into the image (default: the service's, none).",
    ),
]
AtlasOption = Annotated[
    int | None,
    typer.Option(
        "--atlas",
        metavar="ATLAS_ID",
        show_default=False,
        help="Whose annotation --annotation draws (default: the atlas of --atlas-images).",
    ),
]
LeftOption = Annotated[
    int | None,
    typer.Option(
        "--left",
        metavar="PX",
        show_default=False,
        help="Region of interest: leftmost column, in full-resolution pixels.",
    ),
]
TopOption = Annotated[
    int | None,
    typer.Option(
        "--top", metavar="PX", show_default=False, help="Region of interest: top row, in full-resolution pixels."
    ),
]
WidthOption = Annotated[
    int | None,
    typer.Option("--width", metavar="PX", show_default=False, help="Region of interest: width, in downsampled pixels."),
]
HeightOption = Annotated[
    int | None,
    typer.Option(
        "--height", metavar="PX", show_default=False, help="Region of interest: height, in downsampled pixels."
    ),
]
SvgOption = Annotated[bool, typer.Option("--svg", help="Also fetch the SVG annotation of each annotated AtlasImage.")]

# Every command that moves bytes: how fast, and whether to wait for another run's lock.
BwlimitOption = Annotated[
    str | None,
    typer.Option(
        "--bwlimit",
        metavar="RATE",
        envvar="NEUROFETCH_BWLIMIT",
        show_default=False,
        help="Cap the whole run's bandwidth, all transfers up and down together, in bytes per second: 10M, 500k, "
        "1.5G (default: the profile's bwlimit, else no cap).",
    ),
]
SegmentsOption = Annotated[
    int | None,
    typer.Option(
        "--segments",
        metavar="N",
        min=1,
        max=32,
        envvar="NEUROFETCH_SEGMENTS",
        show_default=False,
        help="Fetch each large file as N byte ranges at once, where the server serves ranges correctly (else one "
        "stream); 1 = always one stream. Default: the profile's segments, else 4 for files of 64 MiB or more.",
    ),
]
WaitOption = Annotated[
    str | None,
    typer.Option(
        "--wait",
        metavar="[=SECONDS]",
        envvar="NEUROFETCH_WAIT",
        show_default=False,
        help="When another run holds the destination's lock, wait for it (--wait: as long as it takes; "
        "--wait=SECONDS: at most that long, then exit 4) instead of exiting 4 at once.",
    ),
]

# S3: where the bucket is and whose credentials.
EndpointUrlOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        metavar="URL",
        help="S3-compatible endpoint (MinIO, Ceph, SeaweedFS...). Default: the profile's endpoint_url, then "
        "AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, then AWS. Custom endpoints use path-style addressing.",
    ),
]
AwsProfileOption = Annotated[
    str | None,
    typer.Option(
        "--aws-profile",
        metavar="NAME",
        help="Profile in ~/.aws/credentials and ~/.aws/config (default: AWS_PROFILE, then 'default'). "
        "Credentials follow the standard AWS chain: environment, files, SSO, assume-role, instance role.",
    ),
]
RegionOption = Annotated[
    str | None,
    typer.Option(
        "--region",
        metavar="REGION",
        help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION, the AWS profile, then us-east-1).",
    ),
]


def only_for(service: str, options_by_service: dict[str, dict[str, object]]) -> None:
    """Options of one service given to a profile of another are a usage error, not silently ignored."""
    from neurofetch.errors import UsageError

    for owner, options in options_by_service.items():
        given = [flag for flag, value in options.items() if value]
        if owner != service and given:
            raise UsageError(f"{', '.join(given)}: only for {owner} profiles; this profile is {service}")
