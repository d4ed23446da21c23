"""Resource and project routes of the Datamint emulator (reference/datamint.md §2.1-§2.4, §2.6)."""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import unquote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from neurofetch.emulators.common import FILE_RESPONSE_HEADER, Faults
from neurofetch.emulators.datamint.store import ApiError, DatamintStore, is_uuid
from neurofetch.emulators.datamint.views import (
    channels_json,
    page_bounds,
    project_json,
    resource_json,
    select_resources,
    worklist_json,
)


class EmulatorHooks(Protocol):
    """What the endpoints use of the emulator (app.py's DatamintEmulator, which builds them)."""

    store: DatamintStore
    faults: Faults

    def count_upload_post(self) -> None: ...

    async def begin_project_add(self) -> None: ...

    def take_drop(self) -> bool: ...

    async def drop_connection(self) -> Any: ...


MAX_TEXT_PART = 16 * 1024 * 1024  # the `metadata` JSON part can be large
GENERIC_MIME = "application/octet-stream"


def reply(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


async def read_json(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        raise ApiError(400, "Request body must be JSON") from None


def path_id(request: Request, name: str, what: str) -> str:
    value = request.path_params[name]
    if not is_uuid(value):
        raise ApiError(404, f"{what} not found")
    return value


def id_list(body: Any, key: str) -> list[str]:
    ids = body.get(key) if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ApiError(400, f"{key} must be a list of ids")
    if not all(is_uuid(i) for i in ids):
        raise ApiError(400, f"each of {key} must be a UUID")
    return ids


def guess_mimetype(filename: str) -> str:
    if filename.lower().endswith((".nii", ".nii.gz")):
        return "application/nifti"
    if filename.lower().endswith(".dcm"):
        return "application/dicom"
    return mimetypes.guess_type(filename)[0] or GENERIC_MIME


def upload_record_fields(fields: dict[str, str], part: UploadFile, data: bytes) -> dict[str, Any]:
    """Turn the multipart parts of `POST /resources` (§2.2) into StoredResource fields."""
    sent_name = part.filename or "unnamed"
    filename = unquote(sent_name)  # aiohttp percent-encodes filenames in Content-Disposition
    part_type = (part.content_type or "").split(";")[0].strip() or None
    mimetype = fields.get("mimetype") or (part_type if part_type != GENERIC_MIME else None) or guess_mimetype(filename)
    metadata: dict[str, Any] = {}
    if fields.get("metadata"):
        try:
            metadata = json.loads(fields["metadata"])
        except ValueError:
            raise ApiError(400, "metadata must be JSON") from None
        if not isinstance(metadata, dict):
            raise ApiError(400, "metadata must be a JSON object")
    tags = list(dict.fromkeys(t.strip() for t in fields.get("tags", "").split(",") if t.strip()))
    return {
        "filename": filename,
        "sent_filename": sent_name,
        "mimetype": mimetype,
        "data": data,
        "source_filepath": fields.get("source_filepath"),
        "upload_channel": fields.get("channel") or None,
        "modality": fields.get("modality") or None,
        "tags": tags,
        "metadata": metadata,
        "upload_fields": dict(fields),
        "part_content_type": part.content_type,
    }


def parse_bool(text: str | None, name: str) -> bool:
    value = (text or "false").strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise ApiError(400, f"{name} must be true or false")
    return value in ("true", "1")


_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class ResourceEndpoints:
    """Handlers of /resources and /projects."""

    def __init__(self, emulator: EmulatorHooks) -> None:
        self.emulator = emulator
        self.store = emulator.store

    def routes(self) -> list[Route]:
        return [
            Route("/resources", self.upload, methods=["POST"]),
            Route("/resources", self.list_resources, methods=["GET"]),
            Route("/resources", self.delete_many, methods=["DELETE"]),
            Route("/resources/channels", self.channels, methods=["GET"]),
            Route("/resources/not-annotated", self.not_annotated, methods=["GET"]),
            Route("/resources/bulk-publish", self.bulk_publish, methods=["POST"]),
            Route("/resources/tags", self.set_tags_many, methods=["PUT"]),
            Route("/resources/restore", self.restore_many, methods=["POST"]),
            Route("/resources/{rid}", self.get_resource, methods=["GET"]),
            Route("/resources/{rid}", self.delete_one, methods=["DELETE"]),
            Route("/resources/{rid}/file", self.download, methods=["GET"]),
            Route("/resources/{rid}/frames/{index:int}", self.frame, methods=["GET"]),
            Route("/resources/{rid}/publish", self.publish, methods=["POST"]),
            Route("/resources/{rid}/tags", self.set_tags_one, methods=["PUT"]),
            Route("/resources/{rid}/restore", self.restore_one, methods=["POST"]),
            Route("/projects", self.list_projects, methods=["GET"]),
            Route("/projects", self.create_project, methods=["POST"]),
            Route("/projects/{pid}", self.get_project, methods=["GET"]),
            Route("/projects/{pid}", self.archive_project, methods=["DELETE"]),
            Route("/projects/{pid}/resources", self.project_resources, methods=["GET"]),
            Route("/projects/{pid}/resources", self.add_to_project, methods=["POST"]),
            Route("/projects/{pid}/worklists", self.project_worklists, methods=["GET"]),
        ]

    def _resource_reply(self, record: Any, status: int = 200) -> JSONResponse:
        with self.store.lock:
            return reply(resource_json(record, self.store), status)

    # --- upload, list, read ----------------------------------------------------------------

    async def upload(self, request: Request) -> Response:
        self.emulator.count_upload_post()
        async with request.form(max_part_size=MAX_TEXT_PART) as form:
            part = form.get("resource")
            if not isinstance(part, UploadFile):
                raise ApiError(400, "A file is required in the 'resource' part")
            data = await part.read()
            fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
            record_fields = upload_record_fields(fields, part, data)
        publish = parse_bool(fields.get("bypass_inbox"), "bypass_inbox")
        record = self.store.add_resource(record_fields, publish=publish)
        if self.emulator.take_drop():
            return await self.emulator.drop_connection()
        return reply({"id": record.id}, 201)

    async def list_resources(self, request: Request) -> Response:
        page, total = select_resources(self.store, self._paging(request))
        if self.emulator.faults.duplicate_entries:
            page = [record for record in page for _twice in (1, 2)]
        total = self.emulator.faults.claimed_total or total
        with self.store.lock:
            return reply({"data": [{"resources": [resource_json(r, self.store) for r in page]}], "totalCount": total})

    def _paging(self, request: Request) -> Mapping[str, str]:
        """The query as the listing reads it: with ``ignore_offset``, every page starts at the first row; with
        ``page_rows``, ``limit`` is capped below what was asked (the answer says nothing of it)."""
        faults = self.emulator.faults
        if not faults.ignore_offset and not faults.page_rows:
            return request.query_params
        params = dict(request.query_params)
        if faults.ignore_offset:
            params["offset"] = "0"
        if faults.page_rows:
            params["limit"] = str(min(page_bounds(params)[1], faults.page_rows))
        return params

    async def not_annotated(self, request: Request) -> Response:
        annotated = {a.resource_id for a in self.store.annotations_of()}
        page, total = select_resources(self.store, request.query_params, lambda r: r.id not in annotated)
        with self.store.lock:
            return reply({"data": [{"resources": [resource_json(r, self.store) for r in page]}], "totalCount": total})

    async def channels(self, request: Request) -> Response:
        params = {k: v for k, v in request.query_params.items() if k not in ("offset", "limit")}
        records, _total = select_resources(self.store, params)
        offset, limit = page_bounds(request.query_params)
        with self.store.lock:
            return reply({"data": channels_json(records, self.store)[offset : offset + limit]})

    async def get_resource(self, request: Request) -> Response:
        return self._resource_reply(self.store.resource(path_id(request, "rid", "Resource")))

    async def download(self, request: Request) -> Response:
        record = self.store.resource(path_id(request, "rid", "Resource"))
        if 0 < record.seq <= self.emulator.faults.missing_files:
            return Response(b"", status_code=500)
        headers = {FILE_RESPONSE_HEADER.decode(): "1"}
        match = _RANGE.match(request.headers.get("range", "").strip())
        if self.emulator.faults.range_support and match and any(match.groups()):
            return self._partial(record.data, match, headers, record.mimetype)
        return Response(record.data, media_type=record.mimetype, headers=headers)

    @staticmethod
    def _partial(data: bytes, match: re.Match[str], headers: dict[str, str], mimetype: str) -> Response:
        first, last = match.groups()
        size = len(data)
        start = int(first) if first else max(0, size - int(last))
        end = min(size - 1, int(last)) if first and last else size - 1
        if start >= size or start > end:
            return Response(b"", status_code=416, headers={"content-range": f"bytes */{size}"})
        headers = {**headers, "content-range": f"bytes {start}-{end}/{size}", "accept-ranges": "bytes"}
        return Response(data[start : end + 1], status_code=206, media_type=mimetype, headers=headers)

    async def frame(self, request: Request) -> Response:
        record = self.store.resource(path_id(request, "rid", "Resource"))
        if not record.mimetype.startswith("image/") or request.path_params["index"] != 0:
            raise ApiError(404, "Frame not found")
        return Response(record.data, media_type=record.mimetype, headers={FILE_RESPONSE_HEADER.decode(): "1"})

    # --- publish, tags, delete, restore ----------------------------------------------------

    async def publish(self, request: Request) -> Response:
        return self._resource_reply(self.store.publish(path_id(request, "rid", "Resource")))

    async def bulk_publish(self, request: Request) -> Response:
        ids = id_list(await read_json(request), "resource_ids")
        return reply({"published": self.store.bulk_publish(ids)})

    async def set_tags_one(self, request: Request) -> Response:
        body = await read_json(request)
        tags = body.get("tags") if isinstance(body, dict) else None
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ApiError(400, "tags must be a list of strings")
        (record,) = self.store.set_tags([path_id(request, "rid", "Resource")], tags)
        return self._resource_reply(record)

    async def set_tags_many(self, request: Request) -> Response:
        body = await read_json(request)
        ids = id_list(body, "resource_ids")
        tags = body.get("tags")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ApiError(400, "tags must be a list of strings")
        return reply({"updated": len(self.store.set_tags(ids, tags))})

    async def delete_one(self, request: Request) -> Response:
        rid = path_id(request, "rid", "Resource")
        self.store.delete([rid])
        return self._resource_reply(self.store.resource(rid, deleted_ok=True))

    async def delete_many(self, request: Request) -> Response:
        ids = [i for i in request.query_params.get("resource_ids", "").split(",") if i]
        if not ids or not all(is_uuid(i) for i in ids):
            raise ApiError(400, "resource_ids must be a comma-separated list of UUIDs")
        self.store.delete(ids)
        return reply({"deleted": len(ids)})

    async def restore_one(self, request: Request) -> Response:
        return self._resource_reply(self.store.restore(path_id(request, "rid", "Resource")))

    async def restore_many(self, request: Request) -> Response:
        body = await read_json(request)
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list):
            raise ApiError(400, "ids must be a list of ids")
        return reply(self.store.restore_many([str(i) for i in ids]))

    # --- projects --------------------------------------------------------------------------

    async def list_projects(self, request: Request) -> Response:
        offset, limit = page_bounds(self._paging(request))
        with_archived = parse_bool(request.query_params.get("includeArchived"), "includeArchived")
        with self.store.lock:
            projects = [p for p in self.store.projects.values() if with_archived or not p.archived]
            page = sorted(projects, key=lambda p: p.created_at)[offset : offset + limit]
            return reply({"data": [project_json(p, self.store) for p in page]})

    async def create_project(self, request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"].strip():
            raise ApiError(400, "name is required")
        existing = self.store.project_by_name(body["name"])
        if existing is not None:
            with self.store.lock:
                return reply(
                    {**project_json(existing, self.store), "statusCode": 409, "message": "Project already exists"}, 409
                )
        extra = {k: v for k, v in body.items() if k not in ("name", "description")}
        project = self.store.add_project(body["name"], body.get("description"), extra)
        resource_ids = [i for i in body.get("resource_ids") or [] if isinstance(i, str)]
        if resource_ids:
            self.store.add_to_project(project.id, resource_ids)
        with self.store.lock:
            return reply(project_json(project, self.store), 201)

    async def get_project(self, request: Request) -> Response:
        project = self.store.project(path_id(request, "pid", "Project"))
        with self.store.lock:
            return reply(project_json(project, self.store))

    async def archive_project(self, request: Request) -> Response:
        project = self.store.project(path_id(request, "pid", "Project"))
        with self.store.lock:
            project.archived = True
            return reply(project_json(project, self.store))

    async def project_resources(self, request: Request) -> Response:
        records = self.store.project_resources(path_id(request, "pid", "Project"))
        with self.store.lock:
            return reply([resource_json(r, self.store) for r in records])  # a bare list (§2.1)

    async def add_to_project(self, request: Request) -> Response:
        await self.emulator.begin_project_add()
        pid = path_id(request, "pid", "Project")
        ids = id_list(await read_json(request), "resource_ids_to_add")
        added = self.store.add_to_project(pid, ids)
        return reply({"added": added}, 201)

    async def project_worklists(self, request: Request) -> Response:
        pid = path_id(request, "pid", "Project")
        self.store.project(pid)
        with self.store.lock:
            worklists = [w for w in self.store.worklists.values() if w.project_id == pid]
            items = []
            for worklist in worklists:
                body = worklist_json(worklist)
                body["worklist_id"], body["worklist_name"] = body.pop("id"), body.pop("name")
                items.append(body)
            return reply(items)
