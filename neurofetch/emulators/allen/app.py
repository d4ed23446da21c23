"""Emulator of the Allen Brain Map API (api.brain-map.org): RMA queries and image downloads.

Faithful to reference/allen.md §5 where the facts are known; the invented choices are marked here:

- RMA: ``/api/v2/data/query.json?criteria=…`` (or ``q=``), ``/api/v2/data/{Model}/query.json?criteria=[…]``
  and ``/api/v2/data/{Model}/{id}.json`` answer the envelope ``{success,id,start_row,num_rows,total_rows,msg}``.
  ``num_rows`` defaults to 50 and is capped at ``page_size_cap`` (``'all'`` included). A malformed query
  answers **400** with ``success: false`` and ``msg`` a string [status invented; 400 or 500 unconfirmed].
  With ``[count$eqfalse]`` ``total_rows`` equals the rows of the page [unconfirmed]. Only ``.json``.
- ``/api/v2/{atlas_image,section_image,projection_image,image}_download/{id}`` answer **302** to
  ``/cgi-bin/imageservice?mime=1&path=…&left=&top=&width=&height=&downsample=[&quality=]``; the atlas endpoint
  takes AtlasImage ids only, section/projection SectionImage ids only, ``image_download`` both [invented].
  ``downsample`` is clamped to ``0..tier_count-1``, ``quality`` to ``0..100``; a non-integer answers 400
  [invented]. ``annotation=true`` on an image without a drawing for ``atlas`` serves the plain image [invented].
- The imageservice renders a baseline RGB JPEG (default quality 100) of ``width×height`` tier pixels clipped to
  the slide (``ceil(image_width / 2**downsample)`` wide), at any size (a whole 91-megapixel plate at full
  resolution: about 29 MB); a region outside the slide answers 400 [invented].
- ``view`` (``expression`` also as ``expression=true``: the image's ``expression_path``; ``projection`` also as
  ``projection=true``), ``range`` and ``colormap`` (a name or allensdk's ``0.5,<threshold>,0,256,<id>``) change
  the picture; a SectionImage without ``range`` is shown with its data set's Equalization (``model::Equalization``,
  ``section_data_set(section_images[…])``). The redirect carries them as ``filter=range&filterVals=`` (seen in the
  wild), ``colormap=``, ``view=``; colours, those two names and a 400 for a malformed value are invented.
- ``/api/v2/svg/{id}`` and ``/api/v2/svg_download/{id}`` (``groups=``, ``downsample=``) serve ``image/svg+xml``
  with ``<path structure_id=…>`` for annotated AtlasImages; other ids answer 404 (invented, per §5).
- Unknown ids answer 404 with Rails' stock HTML page [body unconfirmed].
- Faults: the middleware's knobs, plus ``missing_files=N`` (N images of every atlas and section data set
  answer 500 with an empty body; see ``missing_image_ids``) and ``range_support`` (206 on the JPEG).
  ``hostile_names`` adds atlas 999000001 whose name tries to escape the destination. Paging faults:
  ``claimed_total`` (the ``total_rows`` announced), ``page_rows`` (a lower ``num_rows`` cap), ``ignore_offset``
  (``start_row`` ignored).
"""

from __future__ import annotations

import importlib.util
import math
import random
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from neurofetch.emulators.allen.data import Dataset, Record, Region, build_dataset, render_svg
from neurofetch.emulators.allen.render import FULL_RANGE, VIEWS, Look, parse_colormap, parse_range, render_jpeg
from neurofetch.emulators.allen.rma import (
    Filter,
    Page,
    PathNode,
    RmaEngine,
    RmaError,
    Stage,
    parse_node,
    parse_query,
    split_top,
)
from neurofetch.emulators.common import FILE_RESPONSE_HEADER, ASGIApp, Emulator, Faults, Receive, Scope, Send

NOT_FOUND_PAGE = (
    b"<!DOCTYPE html>\n<html>\n<head>\n  <title>The page you were looking for doesn't exist (404)</title>\n"
    b'</head>\n<body>\n  <div class="dialog">\n    <h1>The page you were looking for doesn\'t exist.</h1>\n'
    b"    <p>You may have mistyped the address or the page may have moved.</p>\n  </div>\n</body>\n</html>\n"
)
FILE_HEADERS = {FILE_RESPONSE_HEADER.decode(): "1"}
DEFAULT_QUALITY = 100  # "the default is the highest quality"
CACHE_BYTES = 64 * 1024 * 1024


class BadParameter(ValueError):
    pass


class AllenEmulator(Emulator):
    base_path = ""

    def __init__(self, *, faults: Faults | None = None, seed: int = 0, page_size_cap: int = 2000) -> None:
        if importlib.util.find_spec("PIL") is None:
            raise RuntimeError("the Allen emulator renders JPEGs with Pillow: pip install pillow")
        super().__init__(faults=faults)
        self.seed = seed
        self.data: Dataset = build_dataset(seed, hostile=self.faults.hostile_names)
        self.rma = RmaEngine(
            self.data,
            page_size_cap=min(page_size_cap, self.faults.page_rows or page_size_cap),
            ignore_start_row=self.faults.ignore_offset,
        )
        self.missing_image_ids: frozenset[int] = self._pick_missing(self.faults.missing_files)
        # path?query of the latest requests, in order (the request log keeps paths only)
        self.urls: deque[str] = deque(maxlen=100_000)
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._cache_size = 0

    # ------------------------------------------------------------------------------- records for tests

    def atlases(self) -> list[Record]:
        return [dict(r) for _, r in sorted(self.data.models["Atlas"].items())]

    def atlas_images(self, atlas_id: int, *, annotated: bool | None = True) -> list[Record]:
        """AtlasImages of an atlas's data set by section number; ``annotated=None`` gives all of them."""
        data_sets = set(self.data.links.get("atlas_data_sets", {}).get(atlas_id, []))
        return _by_section(
            r
            for r in self.data.models["AtlasImage"].values()
            if r["data_set_id"] in data_sets and (annotated is None or r["annotated"] == annotated)
        )

    def section_images(self, data_set_id: int) -> list[Record]:
        return _by_section(r for r in self.data.models["SectionImage"].values() if r["data_set_id"] == data_set_id)

    def section_data_sets(self) -> list[Record]:
        return [dict(r) for _, r in sorted(self.data.models["SectionDataSet"].items())]

    def image(self, image_id: int) -> Record | None:
        found = self.data.image(image_id)
        return dict(found[1]) if found else None

    def has_svg(self, image_id: int) -> bool:
        found = self.data.image(image_id)
        return found is not None and found[0] == "AtlasImage" and bool(found[1]["annotated"])

    def image_size(
        self,
        image_id: int,
        *,
        downsample: int = 0,
        left: int | None = None,
        top: int | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> tuple[int, int]:
        """Pixel size of the JPEG that a download of this image with these parameters returns."""
        found = self.data.image(image_id)
        if found is None:
            raise KeyError(image_id)
        record = found[1]
        ds, left, top, width, height = _download_region(record, downsample, left, top, width, height)
        region = _clip(record, ds, left, top, width, height)
        return region.width, region.height

    def _pick_missing(self, count: int) -> frozenset[int]:
        if count <= 0:
            return frozenset()
        rng = random.Random(f"{self.seed}:missing")
        listings = [self.atlas_images(a["id"]) for a in self.atlases()]
        listings += [self.section_images(s["id"]) for s in self.section_data_sets()]
        return frozenset(r["id"] for listing in listings for r in rng.sample(listing, min(count, len(listing))))

    # --------------------------------------------------------------------------------------------- app

    def build_app(self) -> ASGIApp:
        routes = [
            Route("/api/v2/data/query.{fmt}", self._query),
            Route("/api/v2/data/{model}/{ident}.{fmt}", self._model_path),
            Route("/api/v2/atlas_image_download/{image_id}", self._downloader("AtlasImage")),
            Route("/api/v2/section_image_download/{image_id}", self._downloader("SectionImage")),
            Route("/api/v2/projection_image_download/{image_id}", self._downloader("SectionImage")),
            Route("/api/v2/image_download/{image_id}", self._downloader("SubImage")),
            Route("/api/v2/svg/{image_id}", self._svg_endpoint(attachment=False)),
            Route("/api/v2/svg_download/{image_id}", self._svg_endpoint(attachment=True)),
            Route("/cgi-bin/imageservice", self._imageservice),
        ]
        app = Starlette(routes=routes)

        async def recording(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                query = scope.get("query_string", b"").decode("latin-1")
                with self._lock:
                    self.urls.append(scope["path"] + (f"?{query}" if query else ""))
            await app(scope, receive, send)

        return recording

    # --------------------------------------------------------------------------------------------- RMA

    def _query(self, request: Request) -> Response:
        params = request.query_params
        text = params.get("criteria") or params.get("q") or ""
        return self._rma(request, lambda: self.rma.run(parse_query(text), _url_options(params)))

    def _model_path(self, request: Request) -> Response:
        model, ident = request.path_params["model"], request.path_params["ident"]
        params = request.query_params
        if ident != "query" and not ident.isdigit():
            return _not_found()

        def run() -> Page:
            include = [parse_node(t) for t in split_top(params.get("include", ""))]
            if ident == "query":
                criteria = [parse_node(t) for t in split_top(params.get("criteria", ""))]
                return self.rma.run([Stage(model, criteria, include)], _url_options(params))
            by_id = PathNode(None, [Filter("id", "eq", ident)])
            return self.rma.run([Stage(model, [by_id], include)], {})

        return self._rma(request, run)

    def _rma(self, request: Request, run: Callable[[], Page]) -> Response:
        if request.path_params["fmt"] != "json":
            return Response(b"the emulator serves RMA as .json only", 404, media_type="text/plain")
        try:
            page = run()
        except RmaError as exc:
            return _envelope(
                {"success": False, "id": 0, "start_row": 0, "num_rows": 0, "total_rows": 0, "msg": str(exc)}, 400
            )
        body = {
            "success": True,
            "id": 0,
            "start_row": page.start_row,
            "num_rows": len(page.rows),
            "total_rows": self.faults.claimed_total or page.total_rows,
            "msg": page.rows,
        }
        return _envelope(body, 200, request.query_params.get("filename", "query.json"))

    # ----------------------------------------------------------------------------------------- images

    def _lookup(self, request: Request, kind: str) -> Record | Response:
        raw = request.path_params["image_id"]
        found = self.data.image(int(raw)) if raw.isdigit() else None
        if found is None or kind not in ("SubImage", found[0]):
            return _not_found()
        if found[1]["id"] in self.missing_image_ids:
            return Response(b"", 500)
        return found[1]

    def _downloader(self, kind: str) -> Any:
        return lambda request: self._download(request, kind)

    def _download(self, request: Request, kind: str) -> Response:
        record = self._lookup(request, kind)
        if isinstance(record, Response):
            return record
        params = request.query_params
        try:
            ds, left, top, width, height = _download_region(
                record,
                _int(params, "downsample", 0),
                _int(params, "left"),
                _int(params, "top"),
                _int(params, "width"),
                _int(params, "height"),
            )
            quality = _int(params, "quality")
            atlas = _int(params, "atlas")
            look = self._look(record, params)
        except BadParameter as exc:
            return _bad_request(str(exc))
        path = record["path"]
        if params.get("annotation", "").lower() == "true":
            atlases = self.data.atlases_of_image(record)
            chosen = atlas if atlas is not None else (atlases[0] if atlases else None)
            path = self.data.rendered.get((record["id"], chosen), path) if chosen is not None else path
        if look.view == "expression" and record.get("expression_path"):
            path = record["expression_path"]
        query = f"mime=1&path={quote(path, safe='/')}&left={left}&top={top}&width={width}&height={height}"
        query += f"&downsample={ds}" + (f"&quality={max(0, min(100, quality))}" if quality is not None else "")
        if look.channel_range != FULL_RANGE:
            query += "&filter=range&filterVals=" + ",".join(map(str, look.channel_range))
        if look.colormap is not None:
            query += f"&colormap=0.5,{look.colormap[1]:g},0,256,{look.colormap[0]}"
        if look.view is not None and look.view != "expression":
            query += f"&view={look.view}"
        return RedirectResponse(f"{request.base_url}cgi-bin/imageservice?{query}", status_code=302)

    def _look(self, record: Record, params: Any) -> Look:
        """View, range and colormap as allensdk sends them; a SectionImage without ``range`` gets its data
        set's Equalization (§1.3)."""
        view = params.get("view") or next(
            (v for v in ("expression", "projection") if params.get(v, "").lower() == "true"), None
        )
        try:
            if view is not None and view not in VIEWS:
                raise ValueError(f"unknown view {view!r}")
            if params.get("range"):
                channel_range = parse_range(params["range"])
            else:
                equalization = self.data.equalization(record)
                channel_range = (
                    FULL_RANGE
                    if equalization is None
                    else tuple(
                        equalization[f"{c}_{end}"] for c in ("red", "green", "blue") for end in ("lower", "upper")
                    )
                )
            colormap = parse_colormap(params["colormap"]) if params.get("colormap") else None
        except ValueError as exc:
            raise BadParameter(str(exc)) from None
        return Look(view, channel_range, colormap)

    def _imageservice(self, request: Request) -> Response:
        params = request.query_params
        entry = self.data.paths.get(params.get("path", ""))
        if entry is None:
            return _not_found()
        image_id, atlas = entry
        record = self.data.models["AtlasImage"].get(image_id) or self.data.models["SectionImage"][image_id]
        if image_id in self.missing_image_ids:
            return Response(b"", 500)
        try:
            view = "expression" if params.get("path") == record.get("expression_path") else params.get("view")
            look = Look(
                view if view in VIEWS else None,
                parse_range(params["filterVals"]) if params.get("filter") == "range" else FULL_RANGE,
                parse_colormap(params["colormap"]) if params.get("colormap") else None,
            )
        except ValueError as exc:
            return _bad_request(str(exc))
        try:
            ds = _clamp_downsample(record, _int(params, "downsample", 0))
            quality = _int(params, "quality")
            quality = DEFAULT_QUALITY if quality is None else max(0, min(100, quality))
            region = _clip(
                record,
                ds,
                _int(params, "left", 0),
                _int(params, "top", 0),
                _int(params, "width", math.ceil(record["image_width"] / 2**ds)),
                _int(params, "height", math.ceil(record["image_height"] / 2**ds)),
            )
        except BadParameter as exc:
            return _bad_request(str(exc))
        body = self._jpeg(record, atlas, region, quality, look)
        return _file_response(body, "image/jpeg", request, self.faults.range_support)

    def _jpeg(self, record: Record, atlas: int | None, region: Region, quality: int, look: Look) -> bytes:
        key = (record["id"], atlas, region, quality, look)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        body = render_jpeg(record, atlas, region, quality, look, seed=self.seed)
        with self._lock:
            self._cache[key] = body
            self._cache_size += len(body)
            while self._cache_size > CACHE_BYTES and self._cache:
                self._cache_size -= len(self._cache.popitem(last=False)[1])
        return body

    def _svg_endpoint(self, *, attachment: bool) -> Any:
        return lambda request: self._svg(request, attachment)

    def _svg(self, request: Request, attachment: bool) -> Response:
        record = self._lookup(request, "AtlasImage")
        if isinstance(record, Response) or not record["annotated"]:
            return record if isinstance(record, Response) else _not_found()
        try:
            ds = _clamp_downsample(record, _int(request.query_params, "downsample", 0))
            groups = [int(g) for g in request.query_params.get("groups", "").split(",") if g.strip()]
        except (BadParameter, ValueError):
            return _bad_request("downsample and groups must be integers")
        atlas_id = self.data.atlases_of_image(record)[0]
        atlas_groups = self.data.links.get("atlas_groups", {}).get(atlas_id, [])
        body = render_svg(record, [g for g in atlas_groups if not groups or g in groups], ds)
        headers = dict(FILE_HEADERS)
        if attachment:
            headers["Content-Disposition"] = f'attachment; filename="{record["id"]}.svg"'
        return Response(body, 200, headers=headers, media_type="image/svg+xml")


# ------------------------------------------------------------------------------------------------ helpers


def _by_section(records: Any) -> list[Record]:
    return [dict(r) for r in sorted(records, key=lambda r: (r["section_number"], r["id"]))]


def _url_options(params: Any) -> dict[str, str]:
    return {k: params[k] for k in ("num_rows", "start_row", "order", "count", "only", "except") if k in params}


def _envelope(body: dict[str, Any], status: int, filename: str = "query.json") -> Response:
    return JSONResponse(
        body,
        status,
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
        media_type="application/json; charset=utf-8",
    )


def _not_found() -> Response:
    return Response(NOT_FOUND_PAGE, 404, media_type="text/html; charset=utf-8")


def _bad_request(message: str) -> Response:
    return Response(message.encode() + b"\n", 400, media_type="text/plain; charset=utf-8")


def _int(params: Any, name: str, default: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadParameter(f"invalid {name}: {raw!r} is not an integer") from None


def _clamp_downsample(record: Record, downsample: int | None) -> int:
    return max(0, min(int(downsample or 0), record["tier_count"] - 1))


def _download_region(
    record: Record, downsample: int | None, left: int | None, top: int | None, width: int | None, height: int | None
) -> tuple[int, int, int, int, int]:
    """The redirect's region: left/top in full-resolution pixels, width/height in tier pixels (§1.1)."""
    ds = _clamp_downsample(record, downsample)
    factor = 2**ds
    return (
        ds,
        record["x"] if left is None else left,
        record["y"] if top is None else top,
        math.ceil(record["width"] / factor) if width is None else width,
        math.ceil(record["height"] / factor) if height is None else height,
    )


def _clip(record: Record, ds: int, left: int | None, top: int | None, width: int | None, height: int | None) -> Region:
    factor = 2**ds
    column, row = max(0, left or 0) // factor, max(0, top or 0) // factor
    out_w = min(width or 0, math.ceil(record["image_width"] / factor) - column)
    out_h = min(height or 0, math.ceil(record["image_height"] / factor) - row)
    if out_w <= 0 or out_h <= 0:
        raise BadParameter("the region is empty or outside the image")
    return Region(ds, column, row, out_w, out_h)


def _file_response(body: bytes, media_type: str, request: Request, ranges: bool) -> Response:
    headers = dict(FILE_HEADERS)
    spec = request.headers.get("range", "")
    if not ranges or not spec.startswith("bytes="):
        return Response(body, 200, headers=headers, media_type=media_type)
    first, _, last = spec[len("bytes=") :].partition("-")
    try:
        start, end = (len(body) - int(last), len(body) - 1) if not first else (int(first), int(last or len(body) - 1))
    except ValueError:
        start, end = -1, -1
    if not 0 <= start <= end or start >= len(body):
        return Response(b"", 416, headers={"Content-Range": f"bytes */{len(body)}"})
    end = min(end, len(body) - 1)
    headers.update({"Content-Range": f"bytes {start}-{end}/{len(body)}", "Accept-Ranges": "bytes"})
    return Response(body[start : end + 1], 206, headers=headers, media_type=media_type)
