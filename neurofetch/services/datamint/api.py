"""Datamint-style platform API (reference/datamint.md §2): key check, projects, resources (upload,
list, find, publish), project membership and segmentations. Speaks HTTP only: no disk writes, no printing.

Every request carries the ``apikey`` header (net/auth.ApiKeyAuth, set on the client).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from neurofetch.errors import AuthError, HttpStatusError, ItemError, RemoteDataError, UnreachableError
from neurofetch.net.http import AsyncClient, Response, TransportError, not_the_api, parse_json, server_message
from neurofetch.net.retry import RetryableError, RetryPolicy, describe, retrying, status_error
from neurofetch.services.paging import Pager

if TYPE_CHECKING:
    from neurofetch.transfer.upload import UploadBody

PAGE_SIZE = 5000  # the official client's page (§2.0)
# A first upload reads the whole resource list instead of asking about each file when the list has at most this
# many resources per file to upload (a record is ~1 KB; a per-file question is a request).
LISTED_PER_FILE = 10
BULK_CHUNK = 500  # ids per bulk-publish / project-add request
TEXT = "text/plain; charset=utf-8"
PUBLISH_CONFLICT = "must be in inbox status"


def check_response(response: Response, what: str) -> None:
    """Retryable statuses raise RetryableError, 401/403 AuthError, other failures ItemError."""
    if response.is_success:
        return
    retryable = status_error(response, what)
    if retryable is not None:
        raise retryable
    said = server_message(response)
    detail = f"HTTP {response.status_code}" + (f": {said}" if said else "")
    if response.status_code in (401, 403):
        raise AuthError(
            f"the Datamint server refused the API key ({detail}); check it and run "
            "`neurofetch login` again, or set NEUROFETCH_API_KEY"
        )
    raise HttpStatusError(f"{what}: {detail}", response.status_code)


@dataclass(frozen=True)
class UploadForm:
    """The text parts of ``POST /resources`` (§2.2), besides the file itself."""

    name: str  # the filename sent (already munged)
    source_filepath: str  # relative to the upload root: never an absolute local path
    mimetype: str
    channel: str | None = None
    modality: str | None = None
    publish: bool = False
    tags: Sequence[str] = ()
    metadata: Mapping[str, Any] | None = None

    def parts(self, body: UploadBody | bytes) -> list[tuple[str, tuple[str | None, Any, str]]]:
        """Multipart parts in the official client's order; httpx streams a file object in 64 KiB chunks."""
        parts: list[tuple[str, tuple[str | None, Any, str]]] = [
            ("source", (None, b"api", TEXT)),
            ("resource", (quote(self.name, safe=""), body, self.mimetype)),
            ("source_filepath", (None, self.source_filepath.encode(), TEXT)),
            ("mimetype", (None, self.mimetype.encode(), TEXT)),
        ]
        if self.channel:
            parts.append(("channel", (None, self.channel.encode(), TEXT)))
        if self.modality:
            parts.append(("modality", (None, self.modality.encode(), TEXT)))
        parts.append(("bypass_inbox", (None, b"true" if self.publish else b"false", TEXT)))
        if self.tags:
            parts.append(("tags", (None, ",".join(t.strip() for t in self.tags).encode(), TEXT)))
        if self.metadata:
            parts.append(("metadata", (None, json.dumps(self.metadata).encode(), "application/json")))
        return parts


class DatamintApi:
    """One platform, one client. Methods that read retry by themselves; ``post_resource`` makes one
    attempt, because whether to send it again is the upload engine's decision."""

    def __init__(self, client: AsyncClient, base_url: str, policy: RetryPolicy) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.policy = policy

    def url(self, *segments: str) -> str:
        return self.base_url + "/" + "/".join(quote(s, safe="") for s in segments)

    async def _call(self, method: str, what: str, *segments: str, **kwargs: Any) -> Any:
        async def attempt() -> Any:
            response = await self.client.request(method, self.url(*segments), **kwargs)
            check_response(response, what)
            return parse_json(response, what) if response.content else None

        return await self._retried(attempt, what)

    async def _retried(self, attempt: Callable[[], Any], what: str) -> Any:
        try:
            return await retrying(attempt, self.policy, what)
        except RetryableError as exc:
            raise UnreachableError(f"{what}: {exc} (gave up after {self.policy.attempts} attempts)") from None
        except TransportError as exc:
            raise UnreachableError(f"{what}: {describe(exc)}") from None

    async def check_key(self) -> None:
        """The official client's connection check: ``GET /projects?offset=0&limit=1``."""
        try:
            await self._call("GET", "Datamint key check", "projects", params={"offset": 0, "limit": 1})
        except HttpStatusError as exc:
            raise not_the_api(exc) from None

    async def projects(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        pager = Pager("project list", self.url("projects"))
        offset, more = 0, True
        while more:
            body = await self._call(
                "GET",
                "project list",
                "projects",
                params={"includeArchived": "true", "offset": offset, "limit": PAGE_SIZE},
            )
            page = list_page(body, "projects")
            fresh, more = page.read(pager)
            found.extend(fresh)
            offset += len(page.rows)
        return found

    async def resources_page(self, params: Mapping[str, Any], offset: int, limit: int | None = None) -> Page:
        query = {"status": "", **params, "offset": offset, "limit": PAGE_SIZE if limit is None else limit}
        return list_page(await self._call("GET", "resource list", "resources", params=query), "resources")

    async def resources(self, params: Mapping[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Every matching resource, once, page after page (see :meth:`Page.read`)."""
        offset, more = 0, True
        pager = self.resource_pager()
        while more:
            page = await self.resources_page(params, offset)
            fresh, more = page.read(pager)
            for record in fresh:
                yield record
            offset += len(page.rows)

    def resource_pager(self) -> Pager:
        return Pager("resource list", self.url("resources"))

    async def annotations_page(self, resource_ids: Sequence[str], offset: int) -> Page:
        """One page of the annotations of ``resource_ids``, as the official dataset asks (§4.1): offset and
        limit as strings in the body."""
        body = {"resource_ids": list(resource_ids), "offset": str(offset), "limit": str(PAGE_SIZE)}
        return list_page(await self._call("POST", "annotation list", "annotations", "search", json=body), "annotations")

    def annotation_pager(self) -> Pager:
        return Pager("annotation list", self.url("annotations", "search"))

    async def upload_index(self, files: int) -> dict[UploadKey, str] | None:
        """Every resource by :func:`upload_key`, read in one page, when that is cheaper than asking about each of
        ``files`` files: the server holds few (its ``totalCount``), and the page holds them all; else None."""
        count = await self.resources_page({}, 0, limit=1)
        if count.claimed is None or count.claimed > min(PAGE_SIZE, LISTED_PER_FILE * files):
            return None
        page = await self.resources_page({}, 0) if count.claimed else count
        _fresh, more = page.read(self.resource_pager())
        if more or page.claimed is None:
            return None
        index: dict[UploadKey, str] = {}
        for record in page.rows:
            key = upload_key(record)
            if key is not None:
                index.setdefault(key, str(record["id"]))
        return index

    async def find_uploaded(self, form: UploadForm, size: int) -> str | None:
        """Did an upload whose answer was lost arrive? Same name, source path and size (§2.3)."""
        async for record in self.resources({"filename": form.name}):
            if upload_key(record) == form_key(form, size):
                return str(record["id"])
        return None

    async def post_resource(self, form: UploadForm, body: UploadBody | bytes, label: str) -> str:
        """One ``POST /resources``; returns the new resource id."""
        response = await self.client.post(self.url("resources"), files=form.parts(body))
        check_response(response, f"upload of {label}")
        reply = parse_json(response, f"upload of {label}")
        if isinstance(reply, dict) and reply.get("error"):
            raise ItemError(f"upload of {label}: the server said {str(reply['error'])[:200]}")
        if not isinstance(reply, dict) or not isinstance(reply.get("id"), str):
            raise RemoteDataError(f"upload of {label}: the answer has no resource id")
        return reply["id"]

    async def publish_one(self, resource_id: str) -> bool:
        """True when published now, False when it already was (the server's 400, §5 bug 1)."""

        async def attempt() -> bool:
            response = await self.client.post(self.url("resources", resource_id, "publish"))
            if response.status_code == 400 and PUBLISH_CONFLICT in server_message(response):
                return False
            if response.status_code == 404:
                raise ItemError(f"resource {resource_id}: not found")
            check_response(response, f"publish {resource_id}")
            return True

        return await self._retried(attempt, f"publish {resource_id}")

    async def bulk_publish(self, resource_ids: Sequence[str]) -> int:
        """How many of ``resource_ids`` were published now (already published ones are skipped)."""
        body = await self._call(
            "POST", "bulk publish", "resources", "bulk-publish", json={"resource_ids": list(resource_ids)}
        )
        count = body.get("published") if isinstance(body, dict) else None
        return int(count) if isinstance(count, int) else len(resource_ids)

    async def add_to_project(self, project_id: str, resource_ids: Sequence[str]) -> int:
        body = await self._call(
            "POST",
            "add to project",
            "projects",
            project_id,
            "resources",
            json={"resource_ids_to_add": list(resource_ids), "all_files_selected": False},
        )
        count = body.get("added") if isinstance(body, dict) else None
        return int(count) if isinstance(count, int) else len(resource_ids)

    async def upload_volume_segmentation(
        self, resource_id: str, name: str, data: bytes, class_map: Mapping[str, str]
    ) -> list[str]:
        """A NIfTI label volume: ``POST /annotations/{rid}/segmentations/file`` (§2.5)."""
        files = [
            ("file", (quote(name, safe=""), data, "application/nifti")),
            ("source", (None, b"imported", TEXT)),
            ("segmentation_map", (None, json.dumps(dict(class_map)).encode(), "application/json")),
        ]
        return id_list(
            await self._call(
                "POST",
                f"segmentation of {resource_id}",
                "annotations",
                resource_id,
                "segmentations",
                "file",
                files=files,
            ),
            "segmentation upload",
        )

    async def create_frame_annotations(
        self, resource_id: str, identifiers: Sequence[str], frame_index: int
    ) -> list[str]:
        dtos = [
            {
                "type": "segmentation",
                "identifier": identifier,
                "scope": "frame",
                "frame_index": frame_index,
                "source": "imported",
            }
            for identifier in identifiers
        ]
        return id_list(
            await self._call(
                "POST", f"annotations of {resource_id}", "annotations", resource_id, "annotations", json=dtos
            ),
            "annotation creation",
        )

    async def upload_annotation_file(self, resource_id: str, annotation_id: str, name: str, png: bytes) -> None:
        files = [("file", (quote(name, safe=""), png, "image/png"))]
        await self._call(
            "POST",
            f"mask of {resource_id}",
            "annotations",
            resource_id,
            "annotations",
            annotation_id,
            "file",
            files=files,
        )


def row_key(record: dict[str, Any]) -> Hashable:
    """What identifies a listed record: its id, or (without one) the whole record."""
    key = record.get("id")
    return key if isinstance(key, (str, int)) else repr(sorted(record.items(), key=lambda item: str(item[0])))


@dataclass(frozen=True)
class Page:
    """One page of a listing: its records, and the total the server announces (``totalCount``), if any."""

    rows: list[dict[str, Any]]
    claimed: int | None

    def read(self, pager: Pager) -> tuple[list[dict[str, Any]], bool]:
        """The rows not listed on earlier pages, and whether to ask for the next page. A page shorter than
        the one asked for is not the end: a server may cap ``limit`` below ours. The listing ends with an
        empty page, or with a short page once as many distinct rows as the announced total have arrived."""
        keys = [row_key(record) for record in self.rows]
        arrived = len(pager.seen) + len({key for key in keys if key not in pager.seen})
        more = bool(self.rows) and (self.claimed is None or arrived < self.claimed or len(self.rows) >= PAGE_SIZE)
        fresh = pager.page(keys, more=more, claimed=self.claimed)
        return [record for record, key in zip(self.rows, keys, strict=True) if key in fresh], more


UploadKey = tuple[str, str | None, int]


def upload_key(record: Mapping[str, Any]) -> UploadKey | None:
    """What tells a resource is a given file's upload: its name, source path and size (§2.3); None when the
    record lacks an id or has them in the wrong types."""
    name, source, size = record.get("filename"), record.get("source_filepath"), record.get("size")
    if not isinstance(record.get("id"), str) or not isinstance(name, str) or not isinstance(size, int):
        return None
    return (name, source, size) if source is None or isinstance(source, str) else None


def form_key(form: UploadForm, size: int) -> UploadKey:
    return (form.name, form.source_filepath, size)


def list_page(body: Any, endpoint: str) -> Page:
    rows = [row for row in unwrap_list(body, endpoint) if isinstance(row, dict)]
    claimed = body.get("totalCount") if isinstance(body, dict) else None
    return Page(rows, claimed if isinstance(claimed, int) and not isinstance(claimed, bool) and claimed >= 0 else None)


def unwrap_list(body: Any, endpoint: str) -> list[Any]:
    """The official client's unwrapping (§2.0): a bare list, ``data``/``items``, or ``data[0][endpoint]``."""
    if isinstance(body, list):
        return body
    if not isinstance(body, dict):
        raise RemoteDataError(f"{endpoint} list: unexpected answer")
    data = body.get("data", body.get("items"))
    if (
        isinstance(data, list)
        and len(data) == 1
        and isinstance(data[0], dict)
        and isinstance(data[0].get(endpoint), list)
    ):
        return data[0][endpoint]
    if isinstance(data, list):
        return data
    raise RemoteDataError(f"{endpoint} list: the answer has no data list")


def id_list(body: Any, what: str) -> list[str]:
    if isinstance(body, list) and all(isinstance(i, str) for i in body):
        return body
    if isinstance(body, dict) and isinstance(body.get("id"), str):
        return [body["id"]]
    raise RemoteDataError(f"{what}: the answer has no ids")
