"""`neurofetch atlas-image`: Allen Brain Map AtlasImage / SectionImage JPEGs, one image or a whole atlas."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
    BwlimitOption,
    DownsampleOption,
    HeightOption,
    LeftOption,
    ManifestOption,
    QualityOption,
    SectionDataSetOption,
    SegmentsOption,
    SvgOption,
    TopOption,
    WaitOption,
    WidthOption,
)

ATLAS_IMAGE_EXAMPLES = """
    neurofetch atlas-image 100960224 --downsample 4
    neurofetch atlas-image --atlas-images 1 --downsample 4 --annotation -o plates
    neurofetch atlas-image --section-data-set 100048576 --quality 80 -j 2
"""


def register(app: typer.Typer) -> None:
    app.command("atlas-image", epilog=ATLAS_IMAGE_EXAMPLES)(atlas_image)


def atlas_image(
    ctx: typer.Context,
    image_ids: Annotated[
        list[int] | None, typer.Argument(metavar="IMAGE_ID", show_default=False, help="AtlasImage ids to download.")
    ] = None,
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
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Output folder (created if missing).")] = Path(
        "."
    ),
    jobs: JobsOption = None,
    dry_run: DryRunOption = False,
    shard: ShardOption = None,
    from_manifest: ManifestOption = None,
    segments: SegmentsOption = None,
    bwlimit: BwlimitOption = None,
    wait: WaitOption = None,
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

    request = api.atlas_image_request(
        image_ids,
        atlas_images,
        section_data_set,
        svg,
        api.atlas_image_params(downsample, quality, annotation, atlas, (left, top, width, height)),
    )
    profile = load_profile(ctx, jobs=jobs, only_service="allen", bwlimit=bwlimit, wait=wait, segments=segments)
    finish_run(
        ctx,
        lambda: api.atlas_image(
            out,
            request,
            profile=profile,
            shard=shard,
            dry_run=dry_run,
            from_manifest=from_manifest,
            reporter=reporter_for(ctx, profile),
        ),
    )
