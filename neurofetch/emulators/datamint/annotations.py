"""Annotation, segmentation and worklist routes of the Datamint emulator (reference/datamint.md §2.5)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from neurofetch.emulators.common import FILE_RESPONSE_HEADER
from neurofetch.emulators.datamint.routes import MAX_TEXT_PART, EmulatorHooks, path_id, read_json, reply
from neurofetch.emulators.datamint.store import ApiError, is_uuid
from neurofetch.emulators.datamint.views import annotation_json, page_bounds, worklist_json

# DTO keys that map onto StoredAnnotation attributes; the rest stay in `fields`.
_DTO_KEYS = {
    "frame_index": "frame_index",
    "source": "source",
    "annotation_worklist_id": "worklist_id",
    "model_id": "model_id",
    "imported_from": "imported_from",
    "import_author": "import_author",
}
_PATCH_KEYS = {"viewable_ai_segmentations": "viewable_ai_segs", "editable_ai_segmentations": "editable_ai_segs"}


def _segmentation_group(data: Any) -> dict[str, Any]:
    definitions = data.get("definitions", []) if isinstance(data, dict) else []
    return {
        d["identifier"]: {"color": [*d.get("color", [0, 0, 0])[:3], 255], "index": d.get("index", n + 1)}
        for n, d in enumerate(definitions)
        if isinstance(d, dict) and "identifier" in d
    }


def annotation_kwargs(dto: Any) -> dict[str, Any]:
    """Validate one item of `POST /annotations/{rid}/annotations` (§2.5)."""
    if not isinstance(dto, dict) or not isinstance(dto.get("type"), str):
        raise ApiError(400, "each annotation needs a type")
    identifier = dto.get("identifier", dto.get("name"))
    if not isinstance(identifier, str) or not identifier:
        raise ApiError(400, "each annotation needs an identifier")
    kwargs: dict[str, Any] = {
        "type": dto["type"],
        "identifier": identifier,
        "fields": dict(dto),
        "scope": str(dto.get("scope") or ("frame" if dto.get("frame_index") is not None else "image")),
    }
    for key, attr in _DTO_KEYS.items():
        if dto.get(key) is not None:
            kwargs[attr] = dto[key]
    if kwargs.get("frame_index") is not None and not isinstance(kwargs["frame_index"], int):
        raise ApiError(400, "frame_index must be an integer")
    return kwargs


class AnnotationEndpoints:
    """Handlers of /annotations and /annotationsets."""

    def __init__(self, emulator: EmulatorHooks) -> None:
        self.store = emulator.store

    def routes(self) -> list[Route]:
        return [
            Route("/annotations/search", self.search, methods=["POST"]),
            Route("/annotations/{rid}/annotations", self.create, methods=["POST"]),
            Route("/annotations/{rid}/annotations/{aid}/file", self.upload_file, methods=["POST"]),
            Route("/annotations/{rid}/annotations/{aid}/file", self.download_file, methods=["GET"]),
            Route("/annotations/{rid}/segmentations/file", self.upload_volume, methods=["POST"]),
            Route("/annotationsets", self.create_worklist, methods=["POST"]),
            Route("/annotationsets/{wid}", self.get_worklist, methods=["GET"]),
            Route("/annotationsets/{wid}", self.patch_worklist, methods=["PATCH", "PUT"]),
            Route("/annotationsets/{wid}/resources", self.worklist_resources, methods=["POST"]),
            Route("/annotationsets/{wid}/segmentation-group", self.get_segmentation_group, methods=["GET"]),
            Route("/annotationsets/{wid}/segmentation-group", self.put_segmentation_group, methods=["PUT"]),
        ]

    async def search(self, request: Request) -> Response:
        """JSON filters; ``offset``/``limit`` arrive in the body as strings (§2.0)."""
        body = await read_json(request)
        body = body if isinstance(body, dict) else {}
        offset, limit = page_bounds({k: str(body[k]) for k in ("offset", "limit") if k in body})
        ids = set(body.get("resource_ids") or []) | ({body["resource_id"]} if body.get("resource_id") else set())
        with self.store.lock:
            found = [
                a
                for a in self.store.annotations_of(ids or None)
                if (not body.get("annotation_type") or a.type == body["annotation_type"])
                and (not body.get("annotation_worklist_id") or a.worklist_id == body["annotation_worklist_id"])
                and (not body.get("source") or a.source == body["source"])
            ]
            found.sort(key=lambda a: a.created_at)
            return reply({"data": [annotation_json(a) for a in found[offset : offset + limit]]})

    async def create(self, request: Request) -> Response:
        rid = path_id(request, "rid", "Resource")
        self.store.resource(rid)
        body = await read_json(request)
        items = body if isinstance(body, list) else [body]
        kwargs = [annotation_kwargs(item) for item in items]
        created = [self.store.add_annotation(rid, **k) for k in kwargs]
        return reply([a.id for a in created], 201)

    async def upload_file(self, request: Request) -> Response:
        rid, aid = path_id(request, "rid", "Resource"), path_id(request, "aid", "Annotation")
        annotation = self.store.annotation(rid, aid)
        async with request.form(max_part_size=MAX_TEXT_PART) as form:
            part = form.get("file")
            if not isinstance(part, UploadFile):
                raise ApiError(400, "A file is required in the 'file' part")
            data = await part.read()
            with self.store.lock:
                annotation.file, annotation.file_content_type = data, part.content_type
                annotation.file_name = unquote(part.filename or "")
        with self.store.lock:
            return reply(annotation_json(annotation), 201)

    async def download_file(self, request: Request) -> Response:
        rid, aid = path_id(request, "rid", "Resource"), path_id(request, "aid", "Annotation")
        annotation = self.store.annotation(rid, aid)
        if annotation.file is None:
            raise ApiError(404, "Annotation file not found")
        return Response(
            annotation.file,
            media_type=annotation.file_content_type or "application/octet-stream",
            headers={FILE_RESPONSE_HEADER.decode(): "1"},
        )

    async def upload_volume(self, request: Request) -> Response:
        """One NIfTI segmentation: one annotation whose ``class_map`` is the ``segmentation_map`` part."""
        rid = path_id(request, "rid", "Resource")
        self.store.resource(rid)
        async with request.form(max_part_size=MAX_TEXT_PART) as form:
            part = form.get("file")
            if not isinstance(part, UploadFile):
                raise ApiError(400, "A file is required in the 'file' part")
            data = await part.read()
            fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
            name, content_type = unquote(part.filename or ""), part.content_type
        try:
            class_map = json.loads(fields.get("segmentation_map") or "{}")
        except ValueError:
            raise ApiError(400, "segmentation_map must be JSON") from None
        if not isinstance(class_map, dict):
            raise ApiError(400, "segmentation_map must be a JSON object")
        annotation = self.store.add_annotation(
            rid,
            type="segmentation",
            identifier=", ".join(str(v) for v in class_map.values()),
            scope="image",
            source=fields.get("source"),
            worklist_id=fields.get("annotation_worklist_id"),
            model_id=fields.get("model_id"),
            imported_from=fields.get("imported_from"),
            class_map={str(k): str(v) for k, v in class_map.items()},
            fields=fields,
            file=data,
            file_name=name,
            file_content_type=content_type,
        )
        return reply([annotation.id], 201)

    # --- worklists (what `datamint upload --project … --segmentation_path …` needs) -----------

    async def create_worklist(self, request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise ApiError(400, "name is required")
        project_id = body.get("project_id")
        if project_id is not None:
            if not isinstance(project_id, str) or not is_uuid(project_id):
                raise ApiError(404, "Project not found")
            self.store.project(project_id)
        details = {k: v for k, v in body.items() if k not in ("name", "resource_ids", "project_id")}
        details.update(self._patch_details(body))
        worklist = self.store.add_worklist(body["name"], project_id, details, list(body.get("resource_ids") or []))
        return reply({"id": worklist.id}, 201)

    @staticmethod
    def _patch_details(body: dict[str, Any]) -> dict[str, Any]:
        details = {_PATCH_KEYS.get(k, k): v for k, v in body.items() if k in _PATCH_KEYS or k == "annotations"}
        if "segmentation_data" in body:
            details["segmentation_group"] = _segmentation_group(body["segmentation_data"])
            details["segmentation_type"] = (body["segmentation_data"] or {}).get("segmentationValueType")
        return details

    async def get_worklist(self, request: Request) -> Response:
        worklist = self.store.worklist(path_id(request, "wid", "Annotation worklist"))
        with self.store.lock:
            return reply(worklist_json(worklist))

    async def patch_worklist(self, request: Request) -> Response:
        worklist = self.store.worklist(path_id(request, "wid", "Annotation worklist"))
        body = await read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "Request body must be a JSON object")
        with self.store.lock:
            worklist.details.update(self._patch_details(body))
            if isinstance(body.get("name"), str):
                worklist.name = body["name"]
            return reply(worklist_json(worklist))

    async def worklist_resources(self, request: Request) -> Response:
        worklist = self.store.worklist(path_id(request, "wid", "Annotation worklist"))
        body = await read_json(request)
        body = body if isinstance(body, dict) else {}
        with self.store.lock:
            for rid in body.get("resource_ids_to_add") or []:
                self.store.resource(rid)
                if rid not in worklist.resource_ids:
                    worklist.resource_ids.append(rid)
            removed = set(body.get("resource_ids_to_delete") or [])
            worklist.resource_ids = [r for r in worklist.resource_ids if r not in removed]
            return reply(worklist_json(worklist))

    async def get_segmentation_group(self, request: Request) -> Response:
        worklist = self.store.worklist(path_id(request, "wid", "Annotation worklist"))
        with self.store.lock:
            return reply({"groups": dict(worklist.details.get("segmentation_group") or {})})

    async def put_segmentation_group(self, request: Request) -> Response:
        worklist = self.store.worklist(path_id(request, "wid", "Annotation worklist"))
        body = await read_json(request)
        data = body.get("segmentationData") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise ApiError(400, "segmentationData is required")
        with self.store.lock:
            worklist.details.update(self._patch_details({"segmentation_data": data}))
            return reply({"groups": worklist.details["segmentation_group"]})
