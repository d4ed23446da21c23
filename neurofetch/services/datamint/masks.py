"""Segmentations of mirrored resources (reference/datamint.md §2.5, §4.1): one annotation search per page of
resources; each segmentation that has a file is fetched beside its resource, as ``<id>_seg-<annotation id>.png``
(a frame mask) or ``<id>_seg-<annotation id>.nii.gz`` (a label volume), with its record ``<name>.json``.
Annotations without a file (labels, categories, masks not drawn yet) keep their record only:
``<id>_annotation-<annotation id>.json``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from neurofetch.services.datamint.api import DatamintApi
from neurofetch.services.paging import Pager
from neurofetch.transfer.context import Context
from neurofetch.transfer.paths import UnsafeName, safe_relpath
from neurofetch.transfer.work import Document, Fetch, FileItem, Listing, Work

MASK_INFIX = "_seg-"
RECORD_INFIX = "_annotation-"
FRAME_MASK_SUFFIX = ".png"
VOLUME_MASK_SUFFIX = ".nii.gz"

# resource id -> (channel folder, the resource's file name in it)
Mirrored = Mapping[str, tuple[str, str]]


def is_frame_mask(annotation: Mapping[str, Any]) -> bool:
    """A mask of one frame (a PNG) rather than a label volume of the whole image (NIfTI)."""
    return annotation.get("frame_index") is not None or annotation.get("scope") == "frame"


def mask_name(resource_id: str, annotation_id: str, annotation: Mapping[str, Any]) -> str:
    suffix = FRAME_MASK_SUFFIX if is_frame_mask(annotation) else VOLUME_MASK_SUFFIX
    return f"{resource_id}{MASK_INFIX}{annotation_id}{suffix}"


def segmentations_listing(base_url: str, resources: Mirrored, label: str) -> Listing:
    """The listing of the segmentations of ``resources`` (the resources of one page of the resource list)."""
    return Listing(label, _page_task(base_url, dict(resources), label, 0, None))


def _page_task(base_url: str, resources: Mirrored, label: str, offset: int, pager: Pager | None) -> Fetch:
    async def fetch(ctx: Context) -> Sequence[Work]:
        api = DatamintApi(ctx.client, base_url, ctx.policy)
        listing = pager or api.annotation_pager()
        page = await api.annotations_page(sorted(resources), offset)
        fresh, more = page.read(listing)
        work: list[Work] = []
        for annotation in fresh:
            work.extend(_mask_work(api, annotation, resources, ctx))
        if more:
            following = offset + len(page.rows)
            work.append(
                Listing(f"{label} from {following}", _page_task(base_url, resources, label, following, listing))
            )
        return work

    return fetch


def _mask_work(api: DatamintApi, annotation: dict[str, Any], resources: Mirrored, ctx: Context) -> list[Work]:
    resource_id, annotation_id = annotation.get("resource_id"), annotation.get("id")
    if not isinstance(annotation_id, str) or not isinstance(resource_id, str) or resource_id not in resources:
        return []
    channel, resource_name = resources[resource_id]
    has_mask = annotation.get("type") == "segmentation" and bool(annotation.get("file"))
    name = (
        mask_name(resource_id, annotation_id, annotation) if has_mask else f"{resource_id}{RECORD_INFIX}{annotation_id}"
    )
    try:
        safe_relpath((channel, f"{name}.json"))
    except UnsafeName as exc:
        ctx.result.fail(f"{channel}/{name}", str(exc))
        ctx.reporter.failed(f"{channel}/{name}", str(exc))
        return []
    if not has_mask:
        return [Document((channel, f"{name}.json"), annotation, unit=resource_id)]
    meta = {
        "id": annotation_id,
        "channel": channel,
        "uploaded": annotation.get("created_at"),
        "segmentation_of": f"{channel}/{resource_name}",
        "identifier": annotation.get("identifier"),
        "frame_index": annotation.get("frame_index"),
    }
    return [
        FileItem(
            (channel, name),
            api.url("annotations", resource_id, "annotations", annotation_id, "file"),
            unit=resource_id,
            label=f"{channel}/{name}",
            records=(f"{name}.json",),
            meta=meta,
        ),
        Document((channel, f"{name}.json"), annotation, unit=resource_id),
    ]
