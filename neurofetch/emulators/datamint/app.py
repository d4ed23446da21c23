"""Emulator of a Datamint-style server, faithful to what the official `datamint` client (2.45)
sends and expects (reference/datamint.md §2, route set of §6.2).

Auth is the ``apikey`` header (an ``Authorization`` header may come too and is ignored); every
uploaded file and segmentation is kept byte for byte so tests can inspect exactly what was sent.
"""

from __future__ import annotations

import asyncio
import struct
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from neurofetch.emulators.common import ASGIApp, Emulator, Faults, Receive, Scope, Send
from neurofetch.emulators.datamint.samples import mask_png, sample_files
from neurofetch.emulators.datamint.store import (
    ApiError,
    DatamintStore,
    StoredAnnotation,
    StoredProject,
    StoredResource,
)

DEFAULT_API_KEY = "demo-key"
DEFAULT_PROJECTS = ("Brain MRI Study", "Ultrasound Screening")
_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    """Errors carry ``message`` (the official client appends the body to its exceptions, §2.0);
    the ``statusCode``/``error`` framing is the usual NestJS one [unconfirmed]."""
    return {"statusCode": status, "message": message, "error": _REASONS.get(status, "Error")}


class _NoResponse:
    """Returned by a handler whose connection was dropped: sends nothing at all."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return None


class DatamintEmulator(Emulator):
    """Datamint emulator. Tests seed it with :meth:`add_resource` / :meth:`add_project` and read
    :meth:`resources`, :meth:`uploaded_bytes`, :meth:`segmentations`, :attr:`upload_posts`, ``log``.

    ``drop_after_receive = N``: the next N upload POSTs are stored in full, then their connection
    is closed without any response (a client's "outcome unknown" case).

    ``project_add_delay = S``: each request adding resources to a project waits S seconds before it is
    handled; ``project_adds_begun`` counts those requests as they arrive."""

    base_path = ""

    def __init__(
        self,
        *,
        faults: Faults | None = None,
        api_keys: set[str] | None = None,
        projects: Iterable[str] | None = None,
        seed: int = 0,
        preload: int = 0,
        preload_masks: bool = False,
    ) -> None:
        super().__init__(faults=faults)
        self.api_keys = set(api_keys) if api_keys is not None else {DEFAULT_API_KEY}
        self.store = DatamintStore(seed=seed)
        self.drop_after_receive = 0
        self.dropped = 0
        self.project_add_delay = 0.0
        self.project_adds_begun = 0
        self._upload_posts = 0
        self._counter_lock = threading.Lock()
        for name in DEFAULT_PROJECTS if projects is None else projects:
            self.store.add_project(name, f"{name} (emulator sample project)")
        if preload or self.faults.hostile_names:
            self._preload(preload, seed, masks=preload_masks)

    # --- test-facing API -------------------------------------------------------------------

    def resources(self, *, include_deleted: bool = True) -> list[StoredResource]:
        """Every stored resource in upload order (records are live: read, don't mutate)."""
        with self.store.lock:
            records = sorted(self.store.resources.values(), key=lambda r: r.seq)
        return [r for r in records if include_deleted or not r.deleted]

    def resource(self, resource_id: str) -> StoredResource:
        with self.store.lock:
            return self.store.resources[resource_id]

    def uploaded_bytes(self, resource_id: str) -> bytes:
        return self.resource(resource_id).data

    def annotations(self, resource_id: str) -> list[StoredAnnotation]:
        with self.store.lock:
            return sorted(self.store.annotations_of({resource_id}), key=lambda a: a.created_at)

    def segmentations(self, resource_id: str) -> list[StoredAnnotation]:
        """Segmentation annotations of a resource: NIfTI volumes (``class_map`` set) and frame masks,
        each with the exact bytes uploaded in ``file`` (None until a mask file arrives)."""
        return [a for a in self.annotations(resource_id) if a.type == "segmentation"]

    def projects(self) -> list[StoredProject]:
        with self.store.lock:
            return sorted(self.store.projects.values(), key=lambda p: p.created_at)

    def project_named(self, name: str) -> StoredProject:
        project = self.store.project_by_name(name)
        if project is None:
            raise KeyError(name)
        return project

    @property
    def upload_posts(self) -> int:
        """How many `POST /resources` reached the app (authenticated), whatever their outcome."""
        with self._counter_lock:
            return self._upload_posts

    def add_resource(
        self,
        filename: str,
        data: bytes,
        *,
        mimetype: str = "application/octet-stream",
        channel: str | None = None,
        tags: Iterable[str] = (),
        published: bool = False,
        project: str | None = None,
        source_filepath: str | None = None,
        modality: str | None = None,
        metadata: dict[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> StoredResource:
        """Store a resource as if uploaded; ``project`` (a name) implies published."""
        record = self.store.add_resource(
            {
                "filename": filename,
                "sent_filename": filename,
                "mimetype": mimetype,
                "data": bytes(data),
                "source_filepath": source_filepath,
                "upload_channel": channel,
                "modality": modality,
                "tags": list(tags),
                "metadata": dict(metadata or {}),
            },
            publish=published or project is not None,
            created_at=created_at,
        )
        if project is not None:
            self.store.add_to_project(self.project_named(project).id, [record.id])
        return record

    def add_project(self, name: str, description: str | None = None) -> StoredProject:
        return self.store.add_project(name, description)

    # --- hooks used by the routes ----------------------------------------------------------

    def count_upload_post(self) -> None:
        with self._counter_lock:
            self._upload_posts += 1

    async def begin_project_add(self) -> None:
        with self._counter_lock:
            self.project_adds_begun += 1
        if self.project_add_delay:
            await asyncio.sleep(self.project_add_delay)

    def take_drop(self) -> bool:
        with self._counter_lock:
            if self.drop_after_receive > 0:
                self.drop_after_receive -= 1
                self.dropped += 1
                return True
            return False

    async def drop_connection(self) -> Any:
        """Close the client connection without a byte of response.

        ASGI has no "abort" message, and an exception would become a 500 reply, so this reaches
        the server's transport through the task running the request (uvicorn's
        ``RequestResponseCycle.run_asgi``, whose ``self`` holds ``transport``)."""
        task = asyncio.current_task()
        frame = getattr(task.get_coro(), "cr_frame", None) if task else None
        transport = getattr(frame.f_locals.get("self") if frame else None, "transport", None)
        if transport is None:
            raise RuntimeError("drop_after_receive: cannot reach the connection to drop it")
        transport.close()
        for _ in range(3):  # let connection_lost run, so the server does not try a 500 reply
            await asyncio.sleep(0)
        return _NoResponse()

    # --- app -------------------------------------------------------------------------------

    def build_app(self) -> ASGIApp:
        from starlette.applications import Starlette
        from starlette.exceptions import HTTPException
        from starlette.requests import Request
        from starlette.responses import JSONResponse

        from neurofetch.emulators.datamint.annotations import AnnotationEndpoints
        from neurofetch.emulators.datamint.routes import ResourceEndpoints

        async def api_error(_request: Request, exc: Exception) -> JSONResponse:
            assert isinstance(exc, ApiError)
            return JSONResponse(error_body(exc.status, exc.message), status_code=exc.status)

        async def http_error(request: Request, exc: Exception) -> JSONResponse:
            assert isinstance(exc, HTTPException)
            message = (
                f"Cannot {request.method} {request.url.path}" if exc.status_code in (404, 405) else str(exc.detail)
            )
            return JSONResponse(error_body(exc.status_code, message), status_code=exc.status_code, headers=exc.headers)

        routes = ResourceEndpoints(self).routes() + AnnotationEndpoints(self).routes()
        app = Starlette(routes=routes, exception_handlers={ApiError: api_error, HTTPException: http_error})
        return self._with_auth(app)

    def _with_auth(self, app: ASGIApp) -> ASGIApp:
        from starlette.responses import JSONResponse

        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                key = next((v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"apikey"), None)
                if key is None or key not in self.api_keys:
                    response = JSONResponse(error_body(401, "Unauthorized"), status_code=401)
                    await response(scope, receive, send)
                    return
            await app(scope, receive, send)

        return guarded

    def _preload(self, count: int, seed: int, *, masks: bool) -> None:
        projects = self.projects()
        for index, sample in enumerate(sample_files(count, seed=seed, hostile=self.faults.hostile_names)):
            record = self.add_resource(
                sample.filename,
                sample.data,
                mimetype=sample.mimetype,
                channel=sample.channel,
                tags=sample.tags,
                published=sample.published,
                modality=sample.modality,
                source_filepath=f"/data/samples/{sample.channel}/{sample.filename}",
                created_at=sample.created_at,
            )
            if sample.published and projects:
                self.store.add_to_project(projects[index % len(projects)].id, [record.id])
            if masks and sample.mimetype == "image/png":
                self._add_frame_mask(record.id, sample.data)

    def _add_frame_mask(self, resource_id: str, image: bytes) -> None:
        """A drawn "lesion" mask over frame 0 of a PNG resource, as the annotation editor stores one."""
        width, height = struct.unpack(">II", image[16:24])  # the PNG IHDR chunk
        self.store.add_annotation(
            resource_id,
            type="segmentation",
            identifier="lesion",
            scope="frame",
            frame_index=0,
            file=mask_png(width, height),
            file_name="lesion.png",
            file_content_type="image/png",
        )
