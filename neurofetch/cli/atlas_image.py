"""`neurofetch atlas-image`: Allen Brain Map AtlasImage / SectionImage JPEGs, one image or a whole atlas."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from neurofetch.cli.common import (
    DryRunOption,
    JobsOption,
    ShardOption,
    finish,
    load_profile,
    reporter_for,
)

if TYPE_CHECKING:
    from neurofetch.services.allen import ImageParams


ATLAS_IMAGE_EXAMPLES = """
    neurofetch atlas-image 100960224 --downsample 4
    neurofetch atlas-image --atlas-images 1 --downsample 4 --annotation -o plates
    neurofetch atlas-image --section-data-set 100048576 --quality 80 -j 2
"""


def register(app: typer.Typer) -> None:
    app.command("atlas-image", epilog=ATLAS_IMAGE_EXAMPLES)(atlas_image)


def atlas_image(
    ctx: typer.Context,
    image_ids: Annotated[list[int] | None, typer.Argument(metavar="IMAGE_ID", show_default=False,
                                                          help="AtlasImage ids to download.")] = None,
    atlas_images: Annotated[list[int] | None, typer.Option(
        "--atlas-images", metavar="ATLAS_ID", show_default=False,
        help="Every annotated plate of this atlas, e.g. 1 (Mouse P56 Coronal, 132 plates). Repeatable.")] = None,
    section_data_set: Annotated[list[int] | None, typer.Option(
        "--section-data-set", metavar="ID", show_default=False,
        help="Every SectionImage of this section data set. Repeatable.")] = None,
    downsample: Annotated[int | None, typer.Option(
        "--downsample", metavar="N", show_default=False,
        help="Halve width and height N times (0 = full resolution, the service's default). "
             "Whole plates are large: 4 gives about 1000×500 px.")] = None,
    quality: Annotated[int | None, typer.Option(
        "--quality", metavar="Q", show_default=False, help="JPEG quality 0–100 (default: the highest).")] = None,
    annotation: Annotated[bool | None, typer.Option(
        "--annotation/--no-annotation", show_default=False,
        help="Draw the atlas's coloured structure annotation into the image (default: the service's, none).")
    ] = None,
    atlas: Annotated[int | None, typer.Option(
        "--atlas", metavar="ATLAS_ID", show_default=False,
        help="Whose annotation --annotation draws (default: the atlas of --atlas-images).")] = None,
    left: Annotated[int | None, typer.Option(
        "--left", metavar="PX", show_default=False,
        help="Region of interest: leftmost column, in full-resolution pixels.")] = None,
    top: Annotated[int | None, typer.Option(
        "--top", metavar="PX", show_default=False, help="Region of interest: top row, in full-resolution pixels.")
    ] = None,
    width: Annotated[int | None, typer.Option(
        "--width", metavar="PX", show_default=False, help="Region of interest: width, in downsampled pixels.")
    ] = None,
    height: Annotated[int | None, typer.Option(
        "--height", metavar="PX", show_default=False, help="Region of interest: height, in downsampled pixels.")
    ] = None,
    svg: Annotated[bool, typer.Option(
        "--svg", help="Also fetch the SVG annotation of each annotated AtlasImage.")] = False,
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Output folder (created if missing).")
                   ] = Path("."),
    jobs: JobsOption = None,
    dry_run: DryRunOption = False,
    shard: ShardOption = None,
) -> None:
    """Download Allen Brain Map images (api.brain-map.org): AtlasImages by id, every annotated plate
    of an atlas, or every image of a section data set. Re-running skips complete files.

    Files go to DIR/atlas-<ATLAS_ID>/, DIR/section-data-set-<ID>/ or DIR/images/ (ids), named
    so they sort by section number and different parameters never share a file:
      <section>_<id>_ds<N>[_q<Q>][_annot[-a<ATLAS_ID>]][_l<L>t<T>w<W>h<H>].jpg
      e.g. atlas-1/0042_100960224_ds4_annot.jpg
    (-a<ATLAS_ID> when the annotation drawn is not that of the folder's atlas).
    SVG annotations: <section>_<id>_ds<N>.svg. The image records used: images.json.

    Without a profile or --url, the public service https://api.brain-map.org is used.
    """
    from neurofetch.operations.allen import atlas_image as run_atlas_image
    from neurofetch.services.allen import AtlasImageRequest
    from neurofetch.transfer.mirror import MirrorOptions
    from neurofetch.transfer.shard import Shard

    params = _image_params(downsample, quality, annotation, atlas, (left, top, width, height))
    ids = {"IMAGE_ID": image_ids, "--atlas-images": atlas_images, "--section-data-set": section_data_set}
    for name, values in ids.items():
        _check_ids(name, values or [])
    request = AtlasImageRequest(tuple(image_ids or ()), tuple(atlas_images or ()), tuple(section_data_set or ()),
                                params, svg=svg)
    options = MirrorOptions(dest=out, dry_run=dry_run, shard=Shard.parse(shard) if shard else None)
    profile = load_profile(ctx, jobs=jobs, only_service="allen")
    finish(ctx, run_atlas_image(profile, request, options, reporter_for(ctx)))


def _image_params(downsample: int | None, quality: int | None, annotation: bool | None, atlas: int | None,
                  region: tuple[int | None, ...]) -> ImageParams:
    """Check the download parameters before any request; each problem is one line and exit 2."""
    from neurofetch.errors import UsageError
    from neurofetch.services.allen import ImageParams

    if downsample is not None and downsample < 0:
        raise UsageError(f"--downsample is the number of halvings, 0 or more, not {downsample}")
    if quality is not None and not 0 <= quality <= 100:
        raise UsageError(f"--quality is a JPEG quality from 0 to 100, not {quality}")
    if atlas is not None and not annotation:
        raise UsageError("--atlas chooses whose annotation is drawn: add --annotation")
    if atlas is not None and atlas <= 0:
        raise UsageError(f"--atlas takes an atlas id (a positive whole number), not {atlas}")
    given = [name for name, value in zip(("--left", "--top", "--width", "--height"), region, strict=True)
             if value is not None]
    if given and len(given) < 4:
        missing = [n for n in ("--left", "--top", "--width", "--height") if n not in given]
        raise UsageError("a region of interest needs --left, --top, --width and --height; "
                         f"missing {', '.join(missing)}")
    if given:
        left, top, width, height = (int(v or 0) for v in region)
        if left < 0 or top < 0:
            raise UsageError("--left and --top are full-resolution pixel positions, 0 or more")
        if width < 1 or height < 1:
            raise UsageError("--width and --height are sizes in downsampled pixels, 1 or more")
        return ImageParams(downsample, quality, annotation, atlas, (left, top, width, height))
    return ImageParams(downsample, quality, annotation, atlas)


def _check_ids(name: str, values: list[int]) -> None:
    from neurofetch.errors import UsageError

    bad = [v for v in values if v <= 0]
    if bad:
        raise UsageError(f"{name} takes ids (positive whole numbers), not {bad[0]}")
