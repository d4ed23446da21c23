"""An Allen atlas-image request from what a user typed (`atlas-image`, `ls` of an allen profile), checked before
any request: each problem is one line and exit 2."""

from __future__ import annotations

from typing import TYPE_CHECKING

from neurofetch.errors import UsageError

if TYPE_CHECKING:
    from neurofetch.services.allen import AtlasImageRequest, ImageParams


def atlas_image_request(
    image_ids: list[int] | None,
    atlas_images: list[int] | None,
    section_data_set: list[int] | None,
    svg: bool,
    params: ImageParams,
) -> AtlasImageRequest:
    """`atlas-image` / `ls`: what to fetch, checked: ids are positive whole numbers."""
    from neurofetch.services.allen import AtlasImageRequest

    ids = {"IMAGE_ID": image_ids, "--atlas-images": atlas_images, "--section-data-set": section_data_set}
    for name, values in ids.items():
        _check_ids(name, values or [])
    return AtlasImageRequest(
        tuple(image_ids or ()), tuple(atlas_images or ()), tuple(section_data_set or ()), params, svg=svg
    )


def atlas_image_params(
    downsample: int | None,
    quality: int | None,
    annotation: bool | None,
    atlas: int | None,
    region: tuple[int | None, ...],
) -> ImageParams:
    """The download parameters, checked."""
    from neurofetch.services.allen import ImageParams

    if downsample is not None and downsample < 0:
        raise UsageError(f"--downsample is the number of halvings, 0 or more, not {downsample}")
    if quality is not None and not 0 <= quality <= 100:
        raise UsageError(f"--quality is a JPEG quality from 0 to 100, not {quality}")
    if atlas is not None and not annotation:
        raise UsageError("--atlas chooses whose annotation is drawn: add --annotation")
    if atlas is not None and atlas <= 0:
        raise UsageError(f"--atlas takes an atlas id (a positive whole number), not {atlas}")
    given = [
        name
        for name, value in zip(("--left", "--top", "--width", "--height"), region, strict=True)
        if value is not None
    ]
    if given and len(given) < 4:
        missing = [n for n in ("--left", "--top", "--width", "--height") if n not in given]
        raise UsageError(
            f"a region of interest needs --left, --top, --width and --height; missing {', '.join(missing)}"
        )
    if given:
        left, top, width, height = (int(v or 0) for v in region)
        if left < 0 or top < 0:
            raise UsageError("--left and --top are full-resolution pixel positions, 0 or more")
        if width < 1 or height < 1:
            raise UsageError("--width and --height are sizes in downsampled pixels, 1 or more")
        return ImageParams(downsample, quality, annotation, atlas, (left, top, width, height))
    return ImageParams(downsample, quality, annotation, atlas)


def _check_ids(name: str, values: list[int]) -> None:
    bad = [v for v in values if v <= 0]
    if bad:
        raise UsageError(f"{name} takes ids (positive whole numbers), not {bad[0]}")
