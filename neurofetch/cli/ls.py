"""`neurofetch ls`: what `mirror`, `atlas-image` or `s3-sync` would fetch, as a table, fetching nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neurofetch.cli.common import ExcludeOption, IncludeOption, JobsOption, ShardOption, finish, global_options
from neurofetch.cli.options import (
    AnnotationOption,
    AtlasImagesOption,
    AtlasOption,
    AwsProfileOption,
    CandidateOption,
    ChannelOption,
    CollectionOption,
    DateFromOption,
    DateToOption,
    DoiOption,
    DownsampleOption,
    EndpointUrlOption,
    HeightOption,
    LeftOption,
    MapTypeOption,
    MimetypeOption,
    ModalityOption,
    ProjectOption,
    QualityOption,
    RegionOption,
    SectionDataSetOption,
    StatusOption,
    SvgOption,
    TagOption,
    TopOption,
    VisitOption,
    WidthOption,
    only_for,
)

COLUMNS_HELP = """Columns (stable names): path (relative to DEST, where the download puts the file), url (without query
string), size (bytes, when the service says; empty otherwise), then per service:
  loris       candid pscid site visit output_type acquisition_type [qc]
  neurovault  collection image_id map_type modality name
  allen       atlas section_number image_id
  datamint    id channel status tags mimetype uploaded   (tags: ";"-joined in TSV/CSV)
  s3          key etag storage_class modified
A table (filtered, reordered, re-saved as CSV, JSON lines...) goes back with
`mirror --from-manifest FILE` (also atlas-image and s3-sync downloads), which fetches exactly its rows."""


def register(app: typer.Typer) -> None:
    from neurofetch.cli.s3 import _FilterOrderCommand

    app.command("ls", cls=_FilterOrderCommand, epilog=COLUMNS_HELP)(ls)


def ls(
    ctx: typer.Context,
    targets: Annotated[list[str] | None, typer.Argument(
        metavar="[s3://BUCKET/PREFIX | IMAGE_ID...]", show_default=False,
        help="S3: the bucket and prefix to list. Allen: AtlasImage ids. Other services: none.")] = None,
    output_format: Annotated[str | None, typer.Option(
        "--format", "-f", metavar="FORMAT",
        help="table, tsv, csv, jsonl, json or parquet (default: from -o's suffix; a table on a terminal, "
             "TSV otherwise). Parquet needs pyarrow: pip install 'neurofetch[parquet]'.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", metavar="FILE",
                                                help="Write the table to FILE instead of stdout.")] = None,
    level: Annotated[str, typer.Option("--level", metavar="candidates|visits|files",
                                       help="LORIS: one row per candidate, visit or file.")] = "files",
    qc: Annotated[bool, typer.Option("--qc", help="LORIS: add the qc column. Costs one QC request per file.")
                  ] = False,
    candidate: CandidateOption = None,
    visit: VisitOption = None,
    collection: CollectionOption = None,
    doi: DoiOption = None,
    map_type: MapTypeOption = None,
    modality: ModalityOption = None,
    channel: ChannelOption = None,
    status: StatusOption = None,
    tag: TagOption = None,
    project: ProjectOption = None,
    mimetype: MimetypeOption = None,
    date_from: DateFromOption = None,
    date_to: DateToOption = None,
    atlas_images: AtlasImagesOption = None,
    section_data_set: SectionDataSetOption = None,
    downsample: DownsampleOption = None,
    quality: QualityOption = None,
    annotation: AnnotationOption = None,
    atlas: AtlasOption = None,
    left: LeftOption = None,
    top: TopOption = None,
    width: WidthOption = None,
    height: HeightOption = None,
    svg: SvgOption = False,
    endpoint_url: EndpointUrlOption = None,
    aws_profile: AwsProfileOption = None,
    region: RegionOption = None,
    include: IncludeOption = None,
    exclude: ExcludeOption = None,
    jobs: JobsOption = None,
    shard: ShardOption = None,
) -> None:
    """List what `mirror` (LORIS, NeuroVault, Datamint), `atlas-image` (Allen) or `s3-sync` (S3) would fetch,
    one row per file, with the same selection options. Fetches and writes nothing but the table.
    With --json, the result document (counts.rows, bytes: the sum of the known sizes) is on stdout, so
    the table needs -o FILE."""
    from neurofetch import api
    from neurofetch.errors import UsageError
    from neurofetch.ui.table import TableOutput

    options = global_options(ctx)
    if options.json and output is None:
        raise UsageError("--json puts the result document on stdout: write the table with -o FILE")
    given = list(targets or [])
    if given and given[0].startswith("s3://"):
        from neurofetch.cli.s3 import ordered_filters, s3_jobs, s3_options
        from neurofetch.services.s3 import S3Settings

        if len(given) > 1:
            raise UsageError("ls takes one s3://BUCKET/PREFIX")
        profile, connection = s3_options(ctx, endpoint_url, aws_profile, region)
        settings = S3Settings(**connection, jobs=s3_jobs(jobs, profile))
        rows = api.ls_s3(given[0], settings, ordered_filters(ctx, exclude or [], include or []), shard)
    else:
        rows = _service_rows(ctx, given, locals())
    table = TableOutput(output_format, rows.columns, output)
    try:
        for row in rows:
            table.write(row)
    finally:
        table.close()
    assert rows.result is not None
    finish(ctx, rows.result)


def _service_rows(ctx: typer.Context, given: list[str], flags: dict[str, object]) -> object:
    from neurofetch import api
    from neurofetch.cli.atlas_image import image_params, image_request
    from neurofetch.cli.common import load_profile
    from neurofetch.errors import UsageError

    profile = load_profile(ctx, jobs=flags["jobs"])  # type: ignore[arg-type]
    service = profile.service
    if service == "s3":
        raise UsageError("S3: name what to list, e.g. neurofetch ls s3://BUCKET/PREFIX")
    allen_flags = ("atlas_images", "section_data_set", "downsample", "quality", "annotation", "atlas", "left",
                   "top", "width", "height", "svg")
    only_for(service, {
        "loris": {"--candidate": flags["candidate"], "--visit": flags["visit"], "--qc": flags["qc"],
                  "--level": flags["level"] != "files"},
        "neurovault": {f"--{n.replace('_', '-')}": flags[n] for n in ("collection", "doi", "map_type", "modality")},
        "datamint": {f"--{n.replace('_', '-')}": flags[n] for n in ("channel", "status", "tag", "project",
                                                                     "mimetype")}
                    | {"--from": flags["date_from"], "--to": flags["date_to"]},
        "allen": {"IMAGE_ID": given} | {f"--{n.replace('_', '-')}": flags[n] for n in allen_flags},
        "s3": {"--endpoint-url": flags["endpoint_url"], "--aws-profile": flags["aws_profile"],
               "--region": flags["region"]},
    })
    allen = None
    if service == "allen":
        ids: list[int] = []
        for text in given:
            if not text.isdigit():
                raise UsageError(f"IMAGE_ID takes AtlasImage ids (positive whole numbers), not {text!r}")
            ids.append(int(text))
        params = image_params(flags["downsample"], flags["quality"], flags["annotation"],  # type: ignore[arg-type]
                              flags["atlas"], (flags["left"], flags["top"], flags["width"], flags["height"]))
        allen = image_request(ids, flags["atlas_images"], flags["section_data_set"], bool(flags["svg"]), params)  # type: ignore[arg-type]
    selection = {name: flags[name] or () for name in ("candidate", "visit", "collection", "doi", "map_type",
                                                      "modality", "tag", "project", "include", "exclude")}
    return api.ls(profile=profile, no_input=global_options(ctx).no_input, qc=flags["qc"], level=flags["level"],
                  channel=flags["channel"], status=flags["status"], mimetype=flags["mimetype"],
                  date_from=flags["date_from"], date_to=flags["date_to"], allen=allen, shard=flags["shard"],
                  **selection)
