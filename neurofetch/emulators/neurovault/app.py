"""NeuroVault emulator (reference/neurovault.md §8): a DRF-style API under ``/api/`` and files under ``/media/images/``.

Faithful where the reference knows (limit/offset paging with absolute ``next``/``previous``, bare detail
objects, ``{"detail": "Not found."}``, 301 to the slashed path, ``Content-Encoding: utf-8`` on files, no
Range, no ETag), switchable where it does not (collection filters honoured or ignored, shuffled listings).
"""

from __future__ import annotations

import gzip
import html
import itertools
import json
import random
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from neurofetch.emulators.common import FILE_RESPONSE_HEADER, Emulator, Faults, RunningServer, TLSFiles
from neurofetch.emulators.neurovault.data import OWNERS, CollectionEntry, ImageEntry, NeuroVaultData

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
NOT_FOUND = {"detail": "Not found."}
FORBIDDEN = {"detail": "You do not have permission to perform this action."}
BAD_OWNER = {"owner": ["Select a valid choice. That choice is not one of the available choices."]}
URL_FIELDS = frozenset(
    {
        "url",
        "download_url",
        "file",
        "collection",
        "thumbnail",
        "reduced_representation",
        "label_description_file",
        "nidm_results",
        "nidm_results_ttl",
        "zip_file",
        "ttl_file",
        "statmaps",
    }
)
ROOT_LINKS = ("images", "atlases", "collections", "my_collections", "nidm_results")
FORMAT_SUFFIX = re.compile(r"([^/.]+)\.([a-z0-9]+)")
MEDIA_KEY = re.compile(r"\d+|[\w{}.-]{8}", re.ASCII)
FILE_HEADER = FILE_RESPONSE_HEADER.decode()
DJANGO_PAGE = (
    '<!doctype html>\n<html lang="en">\n<head>\n  <title>{title}</title>\n</head>\n<body>\n'
    "  <h1>{title}</h1><p>{text}</p>\n</body>\n</html>\n"
)
DJANGO_404 = DJANGO_PAGE.format(title="Not Found", text="The requested resource was not found on this server.")
DJANGO_403 = DJANGO_PAGE.format(title="403 Forbidden", text="")


class _Reject(Exception):
    """A DRF error answer raised from inside a view."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


# ------------------------------------------------------------------------ DRF 3.14 LimitOffsetPagination


def _positive_int(text: str, *, strict: bool = False, cutoff: int | None = None) -> int:
    value = int(text)
    if value < 0 or (value == 0 and strict):
        raise ValueError(text)
    return min(value, cutoff) if cutoff else value


def replace_query_param(url: str, key: str, value: object) -> str:
    scheme, netloc, path, query, fragment = urlsplit(url)
    params = parse_qs(query, keep_blank_values=True)
    params[key] = [str(value)]
    return urlunsplit((scheme, netloc, path, urlencode(sorted(params.items()), doseq=True), fragment))


def remove_query_param(url: str, key: str) -> str:
    scheme, netloc, path, query, fragment = urlsplit(url)
    params = parse_qs(query, keep_blank_values=True)
    params.pop(key, None)
    return urlunsplit((scheme, netloc, path, urlencode(sorted(params.items()), doseq=True), fragment))


def paginate(
    items: list[Any],
    query: Mapping[str, str],
    url: str,
    default_limit: int = DEFAULT_LIMIT,
    faults: Faults | None = None,
) -> dict[str, Any]:
    """``{"count","next","previous","results"}`` for ``items`` exactly as DRF computes it for ``url``
    (unless ``faults`` asks for a page size cap, an announced count or an ignored offset)."""
    faults = faults or Faults()
    try:
        limit = _positive_int(query["limit"], strict=True, cutoff=MAX_LIMIT)
    except (KeyError, ValueError):
        limit = default_limit
    if faults.page_rows:
        limit = min(limit, faults.page_rows)
    try:
        offset = _positive_int(query["offset"])
    except (KeyError, ValueError):
        offset = 0
    count = faults.claimed_total or len(items)
    start = 0 if faults.ignore_offset else offset
    results = [] if not items or start > len(items) else items[start : start + limit]
    following = None
    if offset + limit < count:
        following = replace_query_param(replace_query_param(url, "limit", limit), "offset", offset + limit)
    previous = None
    if offset > 0:
        previous = replace_query_param(url, "limit", limit)
        previous = (
            remove_query_param(previous, "offset")
            if offset - limit <= 0
            else replace_query_param(previous, "offset", offset - limit)
        )
    return {"count": count, "next": following, "previous": previous, "results": results}


# ------------------------------------------------------------------------------------------ emulator


class NeuroVaultEmulator(Emulator):
    """NeuroVault on loopback. ``ignore_filters`` mimics a server where ``?DOI=``/``?name=``/``?owner=`` do nothing;
    ``shuffle`` reorders the top-level lists on every call; ``file_encoding`` is the files' Content-Encoding
    (``"utf-8"`` like the real server, ``"gzip"`` to catch clients that let httpx decode, ``None`` for none);
    ``http_links`` plays Django behind a TLS front that does not pass the scheme on: every absolute link it builds
    (``next``, ``previous``, record URLs) says http:// while the server answers only https."""

    base_path = ""

    def __init__(
        self,
        *,
        faults: Faults | None = None,
        seed: int = 0,
        ignore_filters: bool = False,
        page_size: int = DEFAULT_LIMIT,
        collections: int = 6,
        shuffle: bool = False,
        missing_file: bool = False,
        file_encoding: str | None = "utf-8",
        colliding_names: bool = False,
        realistic_sizes: bool = False,
        http_links: bool = False,
    ) -> None:
        super().__init__(faults=faults)
        self.http_links = http_links
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.ignore_filters = ignore_filters
        self.page_size = page_size
        self.shuffle = shuffle
        self.file_encoding = file_encoding
        self.origin = "http://127.0.0.1"  # for the accessors below; set by serve()
        self.data = NeuroVaultData(
            seed=seed,
            collections=collections,
            large_images=page_size + page_size // 4 + 3,
            hostile_names=self.faults.hostile_names,
            missing_file=missing_file,
            missing_first=self.faults.missing_files,
            colliding_names=colliding_names,
            realistic_sizes=realistic_sizes,
        )
        self._seed = seed
        self._calls = itertools.count()

    # for tests -------------------------------------------------------------------------------------

    def serve(self, *, port: int = 0, tls: TLSFiles | None = None) -> RunningServer:
        server = super().serve(port=port, tls=tls)
        self.origin = server.origin
        return server

    @property
    def collections(self) -> list[dict[str, Any]]:
        """Public collection records, as ``/api/collections/`` lists them."""
        return [_render(c.record, self.origin) for c in self.data.public]

    @property
    def private_collection(self) -> dict[str, Any]:
        return _render(self.data.private.record, self.origin)

    @property
    def private_token(self) -> str:
        return str(self.data.private.token)

    def images(self, collection_id: int | str) -> list[dict[str, Any]]:
        """Image records of a collection (by id or private token), ordered by id like ``/images/``."""
        coll = self.data.collection_by_token(str(collection_id)) or self.data.collection(int(collection_id))
        if coll is None:
            raise KeyError(collection_id)
        return [self._render_image(i, self.origin) for i in coll.images]

    def file_bytes(self, image: Mapping[str, Any] | int) -> bytes:
        """The exact bytes served for an image's ``file`` (a .nii.gz), whatever Content-Encoding says."""
        found = self.data.image(int(image if isinstance(image, int) else image["id"]))
        if found is None:
            raise KeyError(image)
        return self.data.file_bytes(found[1])

    # app -------------------------------------------------------------------------------------------

    def build_app(self) -> Starlette:
        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        return Starlette(routes=[Route("/{path:path}", self._endpoint, methods=methods)])

    async def _endpoint(self, request: Request) -> Response:
        if self.http_links:
            request.scope["scheme"] = "http"
        response = self._route(request)
        response.headers["access-control-allow-origin"] = "*"
        return _nginx_gzip(request, response)

    def _route(self, request: Request) -> Response:
        path: str = request.scope["path"]
        if path.startswith("/media/images/"):
            return self._media(request, path.removeprefix("/media/images/"))
        if path == "/api":
            return _redirect(request)
        if not path.startswith("/api/"):
            return _html(DJANGO_404, 404)
        if request.method not in ("GET", "HEAD"):
            return _json({"detail": f'Method "{request.method}" not allowed.'}, 405)
        return self._api(request, path.removeprefix("/api/"))

    def _api(self, request: Request, rest: str) -> Response:
        slash = rest == "" or rest.endswith("/")
        parts = rest.removesuffix("/").split("/") if rest else []
        suffix = None
        if parts and (match := FORMAT_SUFFIX.fullmatch(parts[-1])):
            parts[-1], suffix = match.group(1), match.group(2)
            slash = True  # DRF's format-suffix patterns take an optional trailing slash
        view = None if "" in parts else self._resolve(request, parts)
        if view is None:
            return _html(DJANGO_404, 404)
        if not slash:
            return _redirect(request)  # Django's APPEND_SLASH
        fmt = suffix or request.query_params.get("format")
        if fmt not in (None, "json", "api"):
            return _json(NOT_FOUND, 404)
        try:
            status, data = view()
        except _Reject as reject:
            status, data = reject.status, reject.body
        if fmt == "api" or (fmt is None and "text/html" in request.headers.get("accept", "")):
            return _html(_browsable(data), status)
        return _json(data, status)

    def _resolve(self, request: Request, parts: list[str]) -> Callable[[], tuple[int, Any]] | None:
        origin = _origin(request)
        match parts:
            case []:
                return lambda: (200, {name: f"{origin}/api/{name}/" for name in ROOT_LINKS})
            case ["collections"]:
                return lambda: (200, self._collection_list(request))
            case ["collections", pk]:
                return lambda: (200, _render(self._collection(pk).record, origin))
            case ["collections", pk, ("images" | "atlases" | "nidm_results") as sub]:
                return lambda: (200, self._collection_items(request, pk, sub))
            case [("images" | "atlases") as kind]:
                return lambda: (200, self._image_list(request, kind))
            case [("images" | "atlases") as kind, pk]:
                return lambda: (200, self._render_image(self._image(pk, kind), origin))
        return None

    # views -----------------------------------------------------------------------------------------

    def _collection_list(self, request: Request) -> dict[str, Any]:
        items = self.data.public
        if not self.ignore_filters:
            items = _filter_collections(items, request.query_params)
        page = paginate(self._unstable(items), request.query_params, _request_url(request), self.page_size, self.faults)
        page["results"] = [_render(c.record, _origin(request)) for c in page["results"]]
        return page

    def _collection_items(self, request: Request, pk: str, sub: str) -> dict[str, Any]:
        coll = self._collection(pk)
        origin = _origin(request)
        if sub == "nidm_results":
            page = paginate(coll.nidm_packs, request.query_params, _request_url(request), self.page_size, self.faults)
            page["results"] = [_render(p, origin) for p in page["results"]]
            return page
        images = [i for i in coll.images if sub == "images" or i.record["image_type"] == "atlas"]
        page = paginate(images, request.query_params, _request_url(request), self.page_size, self.faults)
        page["results"] = [self._render_image(i, origin) for i in page["results"]]
        return page

    def _image_list(self, request: Request, kind: str) -> dict[str, Any]:
        images = [
            i for c in self.data.public for i in c.images if kind == "images" or i.record["image_type"] == "atlas"
        ]
        page = paginate(
            self._unstable(images), request.query_params, _request_url(request), self.page_size, self.faults
        )
        page["results"] = [self._render_image(i, _origin(request)) for i in page["results"]]
        return page

    def _collection(self, pk: str) -> CollectionEntry:
        if re.fullmatch(r"\d+", pk, re.ASCII):
            coll = self.data.collection(int(pk))
            if coll is not None and coll.token:
                raise _Reject(403, FORBIDDEN)
        else:
            coll = self.data.collection_by_token(pk) if re.fullmatch("[A-Z]{8}", pk) else None
        if coll is None:
            raise _Reject(404, NOT_FOUND)
        return coll

    def _image(self, pk: str, kind: str) -> ImageEntry:
        match = re.fullmatch(r"(?:([A-Z]{8})-)?(\d+)", pk, re.ASCII)
        found = self.data.image(int(match.group(2))) if match else None
        if match is None or found is None or (kind == "atlases" and found[1].record["image_type"] != "atlas"):
            raise _Reject(404, NOT_FOUND)
        coll, image = found
        if match.group(1) and match.group(1) != coll.token:
            raise _Reject(404, NOT_FOUND)
        if coll.token and not match.group(1):
            raise _Reject(403, FORBIDDEN)
        return image

    def _unstable(self, items: list[Any]) -> list[Any]:
        """The top-level lists have no ORDER BY on the real server; ``shuffle`` makes that visible."""
        items = list(items)
        if self.shuffle:
            random.Random(f"{self._seed}:{next(self._calls)}").shuffle(items)
        return items

    def _render_image(self, image: ImageEntry, origin: str) -> dict[str, Any]:
        record = _render(image.record, origin, http=image.http_scheme)
        record["file_size"] = 0 if image.missing else len(self.data.file_bytes(image))
        return record

    # files -----------------------------------------------------------------------------------------

    def _media(self, request: Request, rest: str) -> Response:
        key, _, filename = rest.partition("/")
        if not MEDIA_KEY.fullmatch(key) or not filename:
            return _html(DJANGO_404, 404)
        if (key, filename) in self.data.extra_files:
            coll = self.data.collection_by_token(key) or self.data.collection(int(key))
            modified = _parse_iso(coll.record["modify_date"]) if coll else datetime(2020, 1, 1, tzinfo=timezone.utc)
            return self._file_response(
                request, self.data.extra_files[key, filename], filename, modified, "application/xml"
            )
        image = self.data.file(key, filename)
        if image is None:
            coll = self.data.collection(int(key)) if key.isdigit() else None
            return _html(DJANGO_403, 403) if coll and coll.token else _html(DJANGO_404, 404)
        if image.missing:
            return _html(DJANGO_404, 404)
        return self._file_response(
            request,
            self.data.file_bytes(image),
            filename,
            _parse_iso(image.record["modify_date"]),
            "application/octet-stream",
        )

    def _file_response(
        self, request: Request, body: bytes, filename: str, modified: datetime, content_type: str
    ) -> Response:
        # django-sendfile passes encoding="utf-8", which overwrites the "gzip" Django's static serve would set.
        headers = {"content-type": content_type, "last-modified": format_datetime(modified, usegmt=True)}
        if self.file_encoding:
            headers["content-encoding"] = self.file_encoding
        if _not_modified_since(request.headers.get("if-modified-since"), modified):
            return Response(status_code=304, headers=headers)
        headers.update({"content-disposition": _inline(filename), FILE_HEADER: "1"})
        byte_range = request.headers.get("range")
        if self.faults.range_support and byte_range:
            return _partial(body, byte_range, headers)
        return Response(body, 200, headers=headers)  # Range ignored, like Django's static serve


# ------------------------------------------------------------------------------------------ helpers


def _filter_collections(items: list[CollectionEntry], query: Mapping[str, str]) -> list[CollectionEntry]:
    """django-filter exact lookups on DOI, name and owner; empty values are skipped."""
    for param in ("DOI", "name"):
        if value := query.get(param):
            items = [c for c in items if c.record[param] == value]
    if owner := query.get("owner"):
        if not owner.isascii() or not owner.isdigit() or int(owner) not in {uid for uid, _ in OWNERS}:
            raise _Reject(400, BAD_OWNER)
        items = [c for c in items if c.record["owner"] == int(owner)]
    return items


def _render(record: Mapping[str, Any], origin: str, *, http: bool = False) -> dict[str, Any]:
    """A record with its path-valued URL fields made absolute (``build_absolute_uri``)."""
    if http:
        origin = "http://" + origin.split("://", 1)[-1]
    out = dict(record)
    for key in URL_FIELDS.intersection(out):
        value = out[key]
        if isinstance(value, str) and value.startswith("/"):
            out[key] = origin + value
        elif isinstance(value, list):
            out[key] = [origin + v if isinstance(v, str) and v.startswith("/") else v for v in value]
    return out


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', '127.0.0.1')}"


def _request_url(request: Request) -> str:
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    query = request.scope.get("query_string", b"")
    return _origin(request) + raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")


def _redirect(request: Request) -> Response:
    raw_path = (request.scope.get("raw_path") or request.scope["path"].encode()).decode("latin-1")
    query = request.scope.get("query_string", b"").decode("latin-1")
    location = raw_path + "/" + ("?" + query if query else "")
    return Response(b"", 301, headers={"location": location}, media_type="text/html; charset=utf-8")


def _json(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    return Response(
        body,
        status,
        headers={"vary": "Accept", "allow": "GET, HEAD, OPTIONS"},
        media_type="application/json; charset=utf-8",
    )


def _html(text: str, status: int) -> Response:
    return Response(text.encode(), status, media_type="text/html; charset=utf-8")


def _browsable(data: Any) -> str:
    pretty = html.escape(json.dumps(data, ensure_ascii=False, indent=4))
    return (
        f"<!DOCTYPE html><html><head><title>Django REST framework</title></head><body><pre>{pretty}</pre></body></html>"
    )


def _nginx_gzip(request: Request, response: Response) -> Response:
    """nginx in front gzips non-file responses for clients that accept it (``gzip on``)."""
    body = bytes(response.body)
    if (
        FILE_HEADER in response.headers
        or len(body) < 20
        or response.status_code in (204, 304)
        or "gzip" not in request.headers.get("accept-encoding", "")
    ):
        return response
    headers = {k: v for k, v in response.headers.items() if k != "content-length"}
    headers["content-encoding"] = "gzip"
    headers["vary"] = ", ".join(filter(None, (headers.get("vary"), "Accept-Encoding")))
    return Response(gzip.compress(body, mtime=0), response.status_code, headers=headers)


def _parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def _not_modified_since(header: str | None, modified: datetime) -> bool:
    """Django's ``was_modified_since`` inverted: the client's copy is at least as new as the file."""
    if not header:
        return False
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False
    return since.tzinfo is not None and since.timestamp() >= int(modified.timestamp())


def _inline(filename: str) -> str:
    """Django's ``content_disposition_header(False, filename)``."""
    if filename.isascii() and filename.isprintable():
        return 'inline; filename="{}"'.format(filename.replace("\\", "\\\\").replace('"', r"\""))
    return f"inline; filename*=utf-8''{quote(filename)}"


def _partial(body: bytes, header: str, headers: dict[str, str]) -> Response:
    """206 for ``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` (only with the ``range_support`` fault)."""
    size = len(body)
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if match is None or match.groups() == ("", ""):
        return Response(body, 200, headers=headers)
    first, last = match.groups()
    start = max(0, size - int(last)) if first == "" else int(first)
    end = size - 1 if first == "" or last == "" else min(int(last), size - 1)
    if start >= size or start > end:
        headers = {k: v for k, v in headers.items() if k != FILE_HEADER}
        return Response(b"", 416, headers={**headers, "content-range": f"bytes */{size}"})
    headers.update({"content-range": f"bytes {start}-{end}/{size}", "accept-ranges": "bytes"})
    return Response(body[start : end + 1], 206, headers=headers)
