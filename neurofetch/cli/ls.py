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

LS_EXAMPLES = """
    neurofetch ls -p preventad --visit NAPBL00 -o study.tsv
    neurofetch ls s3://lab-data/preventad --endpoint-url https://s3.example.org --format jsonl
    neurofetch mirror ~/data/preventad -p preventad --from-manifest chosen.csv
"""


def register(app: typer.Typer) -> None:
    from neurofetch.cli.s3 import _FilterOrderCommand

    app.command("ls", cls=_FilterOrderCommand, epilog=LS_EXAMPLES)(ls)


def ls(
    ctx: typer.Context,
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[TARGET]...",
            show_default=False,
            help="S3: s3://BUCKET/PREFIX (or one object's s3://BUCKET/KEY). Allen: AtlasImage ids. "
            "Other services: none.",
        ),
    ] = None,
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            help="table, tsv, csv, jsonl, json or parquet (default: from -o's suffix; a table on a terminal, "
            "TSV otherwise). Parquet needs pyarrow: pip install 'neurofetch[parquet]'.",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="FILE", help="Write the table to FILE instead of stdout.")
    ] = None,
    level: Annotated[
        str,
        typer.Option("--level", metavar="candidates|visits|files", help="LORIS: one row per candidate, visit or file."),
    ] = "files",
    qc: Annotated[bool, typer.Option("--qc", help="LORIS: add the qc column. Costs one QC request per file.")] = False,
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
    the table needs -o FILE.

    \b
    Columns (stable names): path (relative to DEST: where the download puts the file), url (without
    query string), size (bytes, when the service says; empty otherwise), then per service:
      loris       candid pscid site visit output_type acquisition_type [qc]
                  (--level candidates: candid pscid site; --level visits: + visit)
      neurovault  collection image_id map_type modality name
      allen       atlas section_number image_id
      datamint    id channel status tags mimetype uploaded   (tags ";"-joined in TSV/CSV)
      s3          key etag storage_class modified

    The table, filtered, reordered or re-saved (TSV, CSV, JSON lines, JSON, Parquet), goes back with
    `mirror --from-manifest FILE` (also on atlas-image and s3-sync downloads): exactly its rows are
    fetched, matched by path. Its url column must be on the profile's server (S3: the same bucket).
    """
    from neurofetch import api
    from neurofetch.errors import UsageError
    from neurofetch.ui.table import TableOutput

    options = global_options(ctx)
    if options.json and output is None:
        raise UsageError("--json puts the result document on stdout: write the table with -o FILE")
    given = list(targets or [])
    if given and given[0].startswith("s3://"):
        from neurofetch.cli.s3 import ordered_filters, s3_profile

        if len(given) > 1:
            raise UsageError("ls takes one s3://BUCKET/PREFIX")
        rows = api.ls(
            given[0],
            profile=s3_profile(ctx),
            endpoint_url=endpoint_url,
            aws_profile=aws_profile,
            region=region,
            jobs=jobs,
            filters=ordered_filters(ctx, exclude or [], include or []),
            shard=shard,
        )
    else:
        from neurofetch.cli.common import load_profile

        profile = load_profile(ctx, jobs=jobs)
        if profile.service == "s3":
            raise UsageError("S3: name what to list, e.g. neurofetch ls s3://BUCKET/PREFIX")
        allen_flags = {
            "--atlas-images": atlas_images,
            "--section-data-set": section_data_set,
            "--downsample": downsample is not None,
            "--quality": quality is not None,
            "--annotation": annotation is not None,
            "--atlas": atlas,
            "--svg": svg,
            "--left/--top/--width/--height": (left, top, width, height) != (None,) * 4,
        }
        only_for(
            profile.service,
            {
                "loris": {"--candidate": candidate, "--visit": visit, "--qc": qc, "--level": level != "files"},
                "neurovault": {
                    "--collection": collection,
                    "--doi": doi,
                    "--map-type": map_type,
                    "--modality": modality,
                },
                "datamint": {
                    "--channel": channel,
                    "--status": status,
                    "--tag": tag,
                    "--project": project,
                    "--mimetype": mimetype,
                    "--from": date_from,
                    "--to": date_to,
                },
                "allen": {"IMAGE_ID": given, **allen_flags},
                "s3": {"--endpoint-url": endpoint_url, "--aws-profile": aws_profile, "--region": region},
            },
        )
        allen = None
        if profile.service == "allen":
            params = api.atlas_image_params(downsample, quality, annotation, atlas, (left, top, width, height))
            allen = api.atlas_image_request(_image_ids(given), atlas_images, section_data_set, svg, params)
        rows = api.ls(
            profile=profile,
            no_input=options.no_input,
            candidate=candidate or (),
            visit=visit or (),
            qc=qc,
            level=level,
            collection=collection or (),
            doi=doi or (),
            map_type=map_type or (),
            modality=modality or (),
            channel=channel,
            status=status,
            tag=tag or (),
            project=project or (),
            mimetype=mimetype,
            date_from=date_from,
            date_to=date_to,
            allen=allen,
            include=include or (),
            exclude=exclude or (),
            shard=shard,
        )
    table = TableOutput(output_format, rows.columns, output)
    try:
        for row in rows:
            table.write(row)
    finally:
        table.close()
    assert rows.result is not None
    finish(ctx, rows.result)


def _image_ids(given: list[str]) -> list[int]:
    from neurofetch.errors import UsageError

    for text in given:
        if not text.isdigit():
            raise UsageError(f"IMAGE_ID takes AtlasImage ids (positive whole numbers), not {text!r}")
    return [int(text) for text in given]
