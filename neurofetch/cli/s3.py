"""`neurofetch s3-sync SRC DST`: a local folder ⇄ s3://bucket/prefix, aws-style, without aws's traps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from neurofetch.cli.common import (
    DryRunOption,
    JobsOption,
    ShardOption,
    finish_run,
    global_options,
    reporter_for,
)
from neurofetch.cli.options import (
    AwsProfileOption,
    Command,
    EndpointUrlOption,
    ManifestOption,
    RegionOption,
    WaitOption,
)

if TYPE_CHECKING:
    from typer._click.core import Context as ClickContext  # Typer vendors click; its commands get this

    from neurofetch.settings import Profile

FILTER_ORDER = "neurofetch.s3.filter_order"


class _FilterOrderCommand(Command):
    """Click hands --exclude and --include over as two lists; aws semantics need their interleaved
    command-line order, so note it from the raw arguments."""

    def parse_args(self, ctx: ClickContext, args: list[str]) -> list[str]:
        order: list[str] = []
        index = 0
        while index < len(args):
            token = args[index]
            if token == "--":
                break
            kind = token[2:9] if token.startswith(("--exclude", "--include")) else ""
            if token in ("--exclude", "--include"):
                order.append(kind)
                index += 2
                continue
            if kind and token[9:10] == "=":
                order.append(kind)
            index += 1
        ctx.meta[FILTER_ORDER] = order
        return super().parse_args(ctx, args)


S3_SYNC_EXAMPLES = """
    neurofetch s3-sync ~/data/preventad s3://lab-bucket/preventad --dry-run
    neurofetch s3-sync s3://lab-bucket/preventad ~/data/preventad --exclude '*' --include '*.json'
    neurofetch -p lab-bucket s3-sync out s3://lab-bucket/out --delete --checksum
"""


def register(app: typer.Typer) -> None:
    app.command("s3-sync", epilog=S3_SYNC_EXAMPLES, cls=_FilterOrderCommand)(s3_sync_command)


def s3_sync_command(
    ctx: typer.Context,
    src: Annotated[str, typer.Argument(metavar="SRC", help="A local folder, or s3://bucket/prefix to download from.")],
    dst: Annotated[
        str,
        typer.Argument(metavar="DST", help="s3://bucket/prefix to upload to, or a local folder (created if missing)."),
    ],
    endpoint_url: EndpointUrlOption = None,
    aws_profile: AwsProfileOption = None,
    region: RegionOption = None,
    size_only: Annotated[
        bool, typer.Option("--size-only", help="Compare sizes only; ignore modification times.")
    ] = False,
    checksum: Annotated[
        bool,
        typer.Option(
            "--checksum",
            help="When sizes match, compare content: the local MD5 against the ETag, multipart ETags "
            "included. Catches every change; reads every same-size file.",
        ),
    ] = False,
    delete: Annotated[
        bool,
        typer.Option(
            "--delete",
            help="Delete destination files that are not in the source. Runs after the transfers, never "
            "when one failed, and never touches files the filters exclude.",
        ),
    ] = False,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            metavar="PATTERN",
            help="Leave out paths matching PATTERN (repeatable). aws-style: --exclude/--include are applied in "
            "command-line order, the last match wins, '*' also matches '/', patterns are matched against the "
            "path relative to SRC (unlike s5cmd, where excludes always win).",
        ),
    ] = None,
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include",
            metavar="PATTERN",
            help="Take paths matching PATTERN back in (repeatable; see --exclude). "
            "Example: --exclude '*' --include '*.nii.gz'.",
        ),
    ] = None,
    dry_run: DryRunOption = False,
    create_bucket: Annotated[
        bool, typer.Option("--create-bucket", help="Create the destination bucket if it does not exist.")
    ] = False,
    storage_class: Annotated[
        str | None,
        typer.Option(
            "--storage-class",
            metavar="CLASS",
            help="Storage class of uploaded objects: STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, "
            "GLACIER_IR, GLACIER, DEEP_ARCHIVE, ... Never compared by the sync.",
        ),
    ] = None,
    jobs: JobsOption = None,
    shard: ShardOption = None,
    from_manifest: ManifestOption = None,
    wait: WaitOption = None,
) -> None:
    """Make DST like SRC: copy what is missing or changed (size, then modification time in whole seconds;
    downloads also when the time differs at all, and set the local time, so a round trip is a no-op).
    Multipart above 8 MiB with 8 MiB parts (ETags equal aws-cli's); downloads land in a temporary file
    renamed into place. An interrupted sync resumes by running it again. One run at a time per destination:
    a download holds DST/.neurofetch/lock, an upload the object .neurofetch/lock below the prefix (taken
    over 2 minutes after its run was killed); another run exits 4 naming the holder (a download with --wait
    waits for it instead). --bwlimit is not available here: the S3 clients (boto3, obstore) move the bytes
    outside neurofetch's HTTP layer, so a profile's bwlimit does not apply to s3-sync."""
    from neurofetch import api

    profile = s3_profile(ctx)
    filters = ordered_filters(ctx, exclude or [], include or [])
    finish_run(
        ctx,
        lambda: api.s3_sync(
            src,
            dst,
            profile=profile,
            endpoint_url=endpoint_url,
            aws_profile=aws_profile,
            region=region,
            size_only=size_only,
            checksum=checksum,
            delete=delete,
            filters=filters,
            dry_run=dry_run,
            create_bucket=create_bucket,
            storage_class=storage_class,
            jobs=jobs,
            shard=shard,
            from_manifest=from_manifest,
            wait=wait,
            reporter=reporter_for(ctx),
        ),
    )


def s3_profile(ctx: typer.Context) -> Profile | None:
    """The selected profile when it is an S3 one (settings.select_s3_profile), warning when TLS is off."""
    from neurofetch.settings import select_s3_profile
    from neurofetch.ui.output import print_warning

    profile = select_s3_profile(global_options(ctx), warn=print_warning)
    if profile is not None and profile.verify_tls is False:
        print_warning(
            "TLS certificate verification is OFF for this S3 endpoint: anyone on the network path "
            "can read and alter this transfer"
        )
    return profile


def ordered_filters(ctx: typer.Context, exclude: list[str], include: list[str]) -> list[tuple[str, str]]:
    order: list[str] = ctx.meta.get(FILTER_ORDER, [])
    if sorted(order) != sorted(["exclude"] * len(exclude) + ["include"] * len(include)):
        order = ["exclude"] * len(exclude) + ["include"] * len(include)
    values = {"exclude": iter(exclude), "include": iter(include)}
    return [(kind, next(values[kind])) for kind in order]
