"""Allen Brain Map API (api.brain-map.org): RMA image queries fetched page by page, records → downloads.

Tree under the output folder (reference/allen.md §1–2):

    atlas-<A>/<section>_<id>_<params>.jpg       annotated plates of atlas A (atlas_image_download)
    section-data-set-<D>/<section>_<id>_<params>.jpg   SectionImages of data set D (section_image_download)
    images/<section>_<id>_<params>.jpg          AtlasImages asked for by id
    <folder>/<section>_<id>_ds<N>.svg           the SVG annotation (--svg, annotated AtlasImages only)
    <folder>/images.json                        the image records used, by section number
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from neurofetch.errors import RemoteDataError
from neurofetch.net import json_limits
from neurofetch.net.http import AsyncClient, Auth, get_json
from neurofetch.services.paging import Pager
from neurofetch.transfer.context import Context
from neurofetch.transfer.local_index import SidecarReader
from neurofetch.transfer.work import Document, Fetch, FileItem, Listing, Work

QUERY_PATH = "/api/v2/data/query.json"
PAGE_SIZE = 2000  # allensdk's pager uses 2000; a server that caps lower is followed
IDS_PER_QUERY = 200  # keeps an [id$in...] query URL well under common length limits
WINDOW = 4  # pages of one query asked for at once
ORDER = "[order$eq'sub_images.section_number']"
RECORDS_FILE = "images.json"

Record = dict[str, Any]


@dataclass(frozen=True)
class ImageParams:
    """The download service's parameters (reference/allen.md §1.1); None means "the service's default"."""

    downsample: int | None = None
    quality: int | None = None
    annotation: bool | None = None
    atlas: int | None = None  # whose annotation is drawn
    region: tuple[int, int, int, int] | None = None  # left, top (full-res px), width, height (tier px)

    def atlas_for(self, folder_atlas: int | None) -> int | None:
        """The atlas sent with an annotated download: the one asked for, else the atlas being fetched."""
        if not self.annotation:
            return None
        return self.atlas if self.atlas is not None else folder_atlas

    def query(self, folder_atlas: int | None) -> dict[str, str]:
        """Query parameters in the order allensdk sends them."""
        params: dict[str, str] = {}
        if self.downsample is not None:
            params["downsample"] = str(self.downsample)
        if self.quality is not None:
            params["quality"] = str(self.quality)
        if self.annotation is not None:
            params["annotation"] = "true" if self.annotation else "false"
        atlas = self.atlas_for(folder_atlas)
        if atlas is not None:
            params["atlas"] = str(atlas)
        if self.region is not None:
            params.update(zip(("left", "top", "width", "height"), map(str, self.region), strict=True))
        return params

    def suffix(self, folder_atlas: int | None) -> str:
        """What the file name says about the parameters, so different requests never share a file."""
        parts = [f"ds{self.downsample or 0}"]
        if self.quality is not None:
            parts.append(f"q{self.quality}")
        if self.annotation:
            atlas = self.atlas_for(folder_atlas)
            parts.append("annot" if atlas is None or atlas == folder_atlas else f"annot-a{atlas}")
        if self.region is not None:
            parts.append("l{}t{}w{}h{}".format(*self.region))
        return "_".join(parts)


@dataclass(frozen=True)
class AtlasImageRequest:
    image_ids: Sequence[int] = ()
    atlases: Sequence[int] = ()
    section_data_sets: Sequence[int] = ()
    params: ImageParams = field(default_factory=ImageParams)
    svg: bool = False

    @property
    def empty(self) -> bool:
        return not (self.image_ids or self.atlases or self.section_data_sets)


def atlas_plates_criteria(atlas_id: int) -> str:
    """Annotated plates of an atlas, its image type looked up through a pipe (reference/allen.md §2.3)."""
    return (
        f"model::Atlas,rma::criteria,[id$eq{atlas_id}],rma::options[only$eq'image_type'],"
        "pipe::list[type_name$is'image_type'],model::AtlasImage,rma::criteria,[annotated$eqtrue],"
        f"atlas_data_set(atlases[id$eq{atlas_id}]),alternate_images[image_type$eq$type_name]"
    )


def section_images_criteria(data_set_id: int) -> str:
    return f"model::SectionImage,rma::criteria,[data_set_id$eq{data_set_id}]"


def atlas_images_by_id_criteria(ids: Sequence[int]) -> str:
    return f"model::AtlasImage,rma::criteria,[id$in{','.join(map(str, ids))}]"


def paged(criteria: str, start: int, rows: int) -> str:
    return f"{criteria},rma::options[num_rows$eq{rows}][start_row$eq{start}]{ORDER}"


def image_name(record: Record, params: ImageParams, folder_atlas: int | None) -> str:
    """``<section>_<id>_<params>.jpg``: sorts by section number and says what the file is."""
    return f"{_section_and_id(record)}_{params.suffix(folder_atlas)}.jpg"


def svg_name(record: Record, params: ImageParams) -> str:
    return f"{_section_and_id(record)}_ds{params.downsample or 0}.svg"


def _section_and_id(record: Record) -> str:
    section = record.get("section_number")
    return f"{section if isinstance(section, int) and section >= 0 else 0:04d}_{record['id']}"


def jpeg_check(first: bytes, content_type: str) -> str | None:
    if not first:
        return "the server sent an empty body instead of a JPEG"
    if not b"\xff\xd8\xff".startswith(first[:3]):
        shown = content_type.split(";")[0].strip() or "no content type"
        return f"the server sent something that is not a JPEG ({shown})"
    return None


def svg_check(first: bytes, content_type: str) -> str | None:
    head = first.lstrip(b"\xef\xbb\xbf \t\r\n")[:4096].lower()
    if head.startswith(b"<") and (b"<svg" in head or "svg" in content_type.lower()) and b"<html" not in head:
        return None
    return "the server sent something that is not an SVG document"


class RecordSet:
    """The records of one or more RMA queries, their pages fetched a few at a time in parallel.

    The first page's ``total_rows`` and length say where the next pages start; up to ``WINDOW`` of them are
    asked for at once, and each page that arrives asks for the next one, so nothing is sized from the server's
    count. Records become downloads as each page arrives; when the last page is in, ``complete`` adds the
    closing work (records file, failures for ids nobody had). A page that failed means no closing work: the
    run is partial anyway.
    """

    def __init__(
        self,
        query_url: str,
        what: str,
        queries: Sequence[str],
        to_work: Callable[[Record], Sequence[Work]],
        complete: Callable[[list[Record], Context], Sequence[Work]],
        *,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.query_url = query_url
        self.what = what
        self.queries = list(queries)
        self.to_work = to_work
        self.complete = complete
        self.page_size = page_size
        self.pending = len(self.queries)
        self.records: dict[int, Record] = {}
        self.pagers = [Pager(what, query_url) for _ in self.queries]
        self.next_start: list[int] = [0] * len(self.queries)  # the first row no page has been asked for yet
        self.steps: list[int] = [page_size] * len(self.queries)

    def roots(self) -> list[Listing]:
        return [
            Listing(self._label(i, 0), self._page(i, criteria, 0, self.page_size, first=True), root=True)
            for i, criteria in enumerate(self.queries)
        ]

    def _label(self, index: int, start: int) -> str:
        query = f" (query {index + 1} of {len(self.queries)})" if len(self.queries) > 1 else ""
        return f"{self.what}{query}, rows from {start}"

    def _page(self, index: int, criteria: str, start: int, rows: int, *, first: bool = False) -> Fetch:
        async def fetch(ctx: Context) -> Sequence[Work]:
            label = self._label(index, start)
            body = await get_json(
                ctx.client, self.query_url, ctx.policy, what=label, params={"criteria": paged(criteria, start, rows)}
            )
            records, total = read_envelope(body, label)
            got = len(records)
            expected = max(0, min(rows, total - start))
            fresh = self.pagers[index].page(
                [r["id"] for r in records], more=got < expected or start + got < total, claimed=total
            )
            work: list[Work] = []
            if first:
                # A server that caps num_rows below what was asked answers a short first page:
                # its length is the page size that works.
                self.steps[index] = got if got < expected else rows
                self.next_start[index] = got
                work += self._next_pages(index, criteria, total, WINDOW)
            elif got < expected:
                work.append(self._schedule(index, criteria, start + got, expected - got))
            else:
                work += self._next_pages(index, criteria, total, 1)
            for record in records:
                if record["id"] in fresh and record["id"] not in self.records:  # rows can shift between pages
                    self.records[record["id"]] = record
                    work.extend(self.to_work(record))
            self.pending -= 1
            if self.pending == 0:
                ordered = sorted(self.records.values(), key=_section_order)
                work.extend(self.complete(ordered, ctx))
            return work

        return fetch

    def _next_pages(self, index: int, criteria: str, total: int, count: int) -> list[Listing]:
        """Up to ``count`` more pages of query ``index``, from the first row not yet asked for."""
        pages: list[Listing] = []
        while len(pages) < count and self.next_start[index] < total:
            start = self.next_start[index]
            rows = min(self.steps[index], total - start)
            self.next_start[index] = start + rows
            pages.append(self._schedule(index, criteria, start, rows))
        return pages

    def _schedule(self, index: int, criteria: str, start: int, rows: int) -> Listing:
        self.pending += 1
        return Listing(self._label(index, start), self._page(index, criteria, start, rows))


def read_envelope(body: Any, what: str) -> tuple[list[Record], int]:
    """``msg`` and ``total_rows`` of an RMA answer; ``msg`` is a string on errors (and maybe when empty)."""
    if not isinstance(body, dict) or "success" not in body:
        raise RemoteDataError(f"{what}: the answer is not an RMA envelope")
    msg = body.get("msg")
    if body["success"] is not True:
        raise RemoteDataError(f"{what}: the service refused the query: {str(msg)[:200]}")
    records = msg if isinstance(msg, list) else []
    total = body.get("total_rows")
    if not isinstance(total, int) or isinstance(total, bool):
        raise RemoteDataError(f"{what}: the answer has no total_rows")
    for record in records:
        if not isinstance(record, dict) or not isinstance(record.get("id"), int):
            raise RemoteDataError(f"{what}: an image record has no numeric id")
    return records, total


def _section_order(record: Record) -> tuple[int, int]:
    section = record.get("section_number")
    return (section if isinstance(section, int) else -1, record["id"])


class AllenSource:
    """The engine's view of an atlas-image request: RMA listings first, then images and SVGs."""

    def __init__(self, base_url: str, request: AtlasImageRequest, *, page_size: int = PAGE_SIZE) -> None:
        self.base_url = base_url.rstrip("/")
        self.request = request
        self.page_size = page_size

    def auth(self) -> Auth | None:
        return None

    async def prepare(self, client: AsyncClient) -> None:
        return None

    def roots(self) -> Sequence[Work]:
        roots: list[Work] = []
        for sets in (self._atlas_sets(), self._section_sets(), self._id_sets()):
            for record_set in sets:
                roots.extend(record_set.roots())
        return roots

    def _atlas_sets(self) -> list[RecordSet]:
        return [
            self._record_set(
                f"atlas {a}",
                f"atlas-{a}",
                [atlas_plates_criteria(a)],
                "atlas_image_download",
                a,
                empty="no annotated plates; is the atlas id right?",
            )
            for a in self.request.atlases
        ]

    def _section_sets(self) -> list[RecordSet]:
        return [
            self._record_set(
                f"section data set {d}",
                f"section-data-set-{d}",
                [section_images_criteria(d)],
                "section_image_download",
                None,
                empty="no images; is the section data set id right?",
            )
            for d in self.request.section_data_sets
        ]

    def _id_sets(self) -> list[RecordSet]:
        ids = list(dict.fromkeys(self.request.image_ids))
        if not ids:
            return []
        chunks = [ids[i : i + IDS_PER_QUERY] for i in range(0, len(ids), IDS_PER_QUERY)]
        return [
            self._record_set(
                "image records",
                "images",
                [atlas_images_by_id_criteria(c) for c in chunks],
                "atlas_image_download",
                None,
                wanted=ids,
                keep_earlier=True,
            )
        ]

    def _record_set(
        self,
        what: str,
        folder: str,
        queries: list[str],
        endpoint: str,
        folder_atlas: int | None,
        *,
        empty: str | None = None,
        wanted: Sequence[int] = (),
        keep_earlier: bool = False,
    ) -> RecordSet:
        def to_work(record: Record) -> Sequence[Work]:
            return self._downloads(record, folder, endpoint, folder_atlas)

        def complete(records: list[Record], ctx: Context) -> Sequence[Work]:
            missing = set(wanted) - {r["id"] for r in records}
            for image_id in sorted(missing):
                _fail(ctx, f"image {image_id}", "no AtlasImage has this id")
            if not records and empty:
                _fail(ctx, what, empty)
            if not records:
                return []
            if keep_earlier and ctx.catalog is None:  # `ls` reads no local tree
                records = _with_earlier_records(ctx, folder, records)
            return [Document((folder, RECORDS_FILE), records)]

        return RecordSet(self.base_url + QUERY_PATH, what, queries, to_work, complete, page_size=self.page_size)

    def _downloads(self, record: Record, folder: str, endpoint: str, folder_atlas: int | None) -> list[Work]:
        params = self.request.params
        image_id = record["id"]
        url = f"{self.base_url}/api/v2/{endpoint}/{image_id}"
        meta = {"atlas": folder_atlas, "section_number": record.get("section_number"), "image_id": image_id}
        work: list[Work] = [
            FileItem(
                (folder, image_name(record, params, folder_atlas)),
                url,
                meta=meta,
                check=jpeg_check,
                unit=str(image_id),
                params=params.query(folder_atlas),
            )
        ]
        if self.request.svg and endpoint == "atlas_image_download" and record.get("annotated") is True:
            svg_params = {"downsample": str(params.downsample)} if params.downsample is not None else {}
            work.append(
                FileItem(
                    (folder, svg_name(record, params)),
                    f"{self.base_url}/api/v2/svg_download/{image_id}",
                    check=svg_check,
                    unit=str(image_id),
                    params=svg_params,
                    meta=meta,
                )
            )
        return work


def _with_earlier_records(ctx: Context, folder: str, records: list[Record]) -> list[Record]:
    """images/ collects ids over several runs: its records file keeps the records of earlier runs."""
    try:
        earlier = json_limits.loads((ctx.dest / folder / RECORDS_FILE).read_bytes(), RECORDS_FILE)
    except (OSError, ValueError, RemoteDataError):
        return records
    if not isinstance(earlier, list):
        return records
    merged = {r["id"]: r for r in earlier if isinstance(r, dict) and isinstance(r.get("id"), int)}
    merged.update((r["id"], r) for r in records)
    return sorted(merged.values(), key=_section_order)


def _fail(ctx: Context, item: str, error: str) -> None:
    ctx.result.fail(item, error)
    ctx.reporter.failed(item, error)


def index_columns(records: SidecarReader, relpath: str) -> dict[str, Any] | None:
    """A downloaded image's columns for `index`, from <folder>/images.json and its name
    (<section>_<id>_...); None when the file is not where atlas-image puts one."""
    folder, _, name = relpath.rpartition("/")
    images = records.json(f"{folder}/{RECORDS_FILE}") if folder and "/" not in folder else None
    fields = name.split("_")
    if not isinstance(images, list) or len(fields) < 3 or not fields[1].isdigit():
        return None
    by_id = records.derived(
        f"{folder}/{RECORDS_FILE} by id",
        lambda: {r["id"]: r for r in images if isinstance(r, dict) and isinstance(r.get("id"), int)},
    )
    record = by_id.get(int(fields[1]), {})
    atlas = folder.removeprefix("atlas-")
    return {
        "atlas": int(atlas) if folder.startswith("atlas-") and atlas.isdigit() else None,
        "section_data_set": record.get("data_set_id"),
        "section_number": record.get("section_number"),
        "image_id": int(fields[1]),
        "annotated": record.get("annotated"),
        "image_width": record.get("image_width"),
        "image_height": record.get("image_height"),
    }
