"""Selection options shared by the commands that fetch (`mirror`, `atlas-image`, `s3-sync`) and `ls`, which lists
what they would fetch: one declaration each, so the two can never drift apart."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

CandidateOption = Annotated[list[str] | None, typer.Option("--candidate", metavar="CANDID",
                                                           help="LORIS: only this candidate (repeatable).")]
VisitOption = Annotated[list[str] | None, typer.Option("--visit", metavar="LABEL",
                                                       help="LORIS: only this visit label (repeatable).")]
CollectionOption = Annotated[list[str] | None, typer.Option("--collection", metavar="ID",
                                                            help="NeuroVault: this collection (repeatable).")]
DoiOption = Annotated[list[str] | None, typer.Option("--doi", metavar="DOI",
                                                     help="NeuroVault: the collections of this paper's DOI "
                                                          "(repeatable).")]
MapTypeOption = Annotated[list[str] | None, typer.Option("--map-type", metavar="TYPE",
                                                         help='NeuroVault: only images of this map type, e.g. '
                                                              '"Z map" (repeatable).')]
ModalityOption = Annotated[list[str] | None, typer.Option("--modality", metavar="NAME",
                                                          help='NeuroVault: only images of this modality, e.g. '
                                                               '"fMRI-BOLD" (repeatable).')]
ChannelOption = Annotated[str | None, typer.Option("--channel", metavar="NAME", help="Datamint: only this channel.")]
StatusOption = Annotated[str | None, typer.Option("--status", metavar="inbox|published",
                                                  help="Datamint: only resources in this state.")]
TagOption = Annotated[list[str] | None, typer.Option("--tag", metavar="TAG",
                                                     help="Datamint: only resources with this tag (repeatable; "
                                                          "any of them).")]
ProjectOption = Annotated[list[str] | None, typer.Option("--project", metavar="NAME",
                                                         help="Datamint: only resources of this project "
                                                              "(repeatable).")]
MimetypeOption = Annotated[str | None, typer.Option("--mimetype", metavar="TYPE",
                                                    help="Datamint: only this mimetype, e.g. application/dicom.")]
DateFromOption = Annotated[str | None, typer.Option("--from", metavar="YYYY-MM-DD",
                                                    help="Datamint: uploaded on or after this date.")]
DateToOption = Annotated[str | None, typer.Option("--to", metavar="YYYY-MM-DD",
                                                  help="Datamint: uploaded before this date.")]
ManifestOption = Annotated[Path | None, typer.Option(
    "--from-manifest", metavar="FILE",
    help="Fetch exactly the rows of this table written by `neurofetch ls` (TSV, CSV, JSON lines, JSON or "
         "Parquet; filtered, reordered or re-saved is fine), matched by its path column. A row that is no longer "
         "on the server fails (exit 1); a table of another service or server, or a malformed one, is exit 2.")]

# Allen Brain Map: what to fetch, and the parameters that also name the files.
AtlasImagesOption = Annotated[list[int] | None, typer.Option(
    "--atlas-images", metavar="ATLAS_ID", show_default=False,
    help="Every annotated plate of this atlas, e.g. 1 (Mouse P56 Coronal, 132 plates). Repeatable.")]
SectionDataSetOption = Annotated[list[int] | None, typer.Option(
    "--section-data-set", metavar="ID", show_default=False,
    help="Every SectionImage of this section data set. Repeatable.")]
DownsampleOption = Annotated[int | None, typer.Option(
    "--downsample", metavar="N", show_default=False,
    help="Halve width and height N times (0 = full resolution, the service's default). "
         "Whole plates are large: 4 gives about 1000×500 px.")]
QualityOption = Annotated[int | None, typer.Option(
    "--quality", metavar="Q", show_default=False, help="JPEG quality 0–100 (default: the highest).")]
AnnotationOption = Annotated[bool | None, typer.Option(
    "--annotation/--no-annotation", show_default=False,
    help="Draw the atlas's coloured structure annotation into the image (default: the service's, none).")]
AtlasOption = Annotated[int | None, typer.Option(
    "--atlas", metavar="ATLAS_ID", show_default=False,
    help="Whose annotation --annotation draws (default: the atlas of --atlas-images).")]
LeftOption = Annotated[int | None, typer.Option(
    "--left", metavar="PX", show_default=False, help="Region of interest: leftmost column, in full-resolution pixels.")]
TopOption = Annotated[int | None, typer.Option(
    "--top", metavar="PX", show_default=False, help="Region of interest: top row, in full-resolution pixels.")]
WidthOption = Annotated[int | None, typer.Option(
    "--width", metavar="PX", show_default=False, help="Region of interest: width, in downsampled pixels.")]
HeightOption = Annotated[int | None, typer.Option(
    "--height", metavar="PX", show_default=False, help="Region of interest: height, in downsampled pixels.")]
SvgOption = Annotated[bool, typer.Option("--svg", help="Also fetch the SVG annotation of each annotated AtlasImage.")]

# S3: where the bucket is and whose credentials.
EndpointUrlOption = Annotated[str | None, typer.Option(
    "--endpoint-url", metavar="URL",
    help="S3-compatible endpoint (MinIO, Ceph, SeaweedFS...). Default: the profile's endpoint_url, then "
         "AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, then AWS. Custom endpoints use path-style addressing.")]
AwsProfileOption = Annotated[str | None, typer.Option(
    "--aws-profile", metavar="NAME",
    help="Profile in ~/.aws/credentials and ~/.aws/config (default: AWS_PROFILE, then 'default'). "
         "Credentials follow the standard AWS chain: environment, files, SSO, assume-role, instance role.")]
RegionOption = Annotated[str | None, typer.Option(
    "--region", metavar="REGION", help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION, the AWS "
                                       "profile, then us-east-1).")]


def only_for(service: str, options_by_service: dict[str, dict[str, object]]) -> None:
    """Options of one service given to a profile of another are a usage error, not silently ignored."""
    from neurofetch.errors import UsageError

    for owner, options in options_by_service.items():
        given = [flag for flag, value in options.items() if value]
        if owner != service and given:
            raise UsageError(f"{', '.join(given)}: only for {owner} profiles; this profile is {service}")
