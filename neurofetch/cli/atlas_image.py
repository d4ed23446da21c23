"""`neurofetch atlas-image`: Allen Brain Map AtlasImage / SectionImage JPEGs, one image or a whole atlas."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from neurofetch.cli.common import (
    DryRunOption,
    JobsOption,
    ShardOption,
    finish_run,
    load_profile,
    reporter_for,
)
from neurofetch.cli.options import (
    AnnotationOption,
    AtlasImagesOption,
    AtlasOption,
    DownsampleOption,
    HeightOption,
    LeftOption,
    ManifestOption,
    QualityOption,
    SectionDataSetOption,
    SvgOption,
    TopOption,
    WidthOption,
)

if TYPE_CHECKING:
    from neurofetch.services.allen import AtlasImageRequest, ImageParams


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
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Output folder (created if missing).")
                   ] = Path("."),
    jobs: JobsOption = None,
    dry_run: DryRunOption = False,
    shard: ShardOption = None,
    from_manifest: ManifestOption = None,
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
    from neurofetch import api

    request = image_request(image_ids, atlas_images, section_data_set, svg,
                            image_params(downsample, quality, annotation, atlas, (left, top, width, height)))
    profile = load_profile(ctx, jobs=jobs, only_service="allen")
    finish_run(ctx, lambda: api.atlas_image(out, request, profile=profile, shard=shard, dry_run=dry_run,
                                            from_manifest=from_manifest, reporter=reporter_for(ctx)))


def image_request(image_ids: list[int] | None, atlas_images: list[int] | None, section_data_set: list[int] | None,
                  svg: bool, params: ImageParams) -> AtlasImageRequest:
    """What to fetch, checked: ids are positive whole numbers."""
    from neurofetch.services.allen import AtlasImageRequest

    ids = {"IMAGE_ID": image_ids, "--atlas-images": atlas_images, "--section-data-set": section_data_set}
    for name, values in ids.items():
        _check_ids(name, values or [])
    return AtlasImageRequest(tuple(image_ids or ()), tuple(atlas_images or ()), tuple(section_data_set or ()),
                             params, svg=svg)


def image_params(downsample: int | None, quality: int | None, annotation: bool | None, atlas: int | None,
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
