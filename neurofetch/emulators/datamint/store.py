"""In-memory, thread-safe state of the Datamint emulator: resources (with their exact bytes),
projects, annotations and worklists. Route handlers call this; tests read it.

Facts come from reference/datamint.md §2; choices the reference marks [unconfirmed] are noted.
"""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

PUBLISH_CONFLICT = "Resource must be in inbox status to be approved"
NOT_PUBLISHED_FOR_PROJECT = "Resource must be published to be added to a project"


class ApiError(Exception):
    """An error reply: status code and the ``message`` of the JSON body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def iso(moment: datetime) -> str:
    """The server's timestamp format: ``2025-12-24T11:34:18.036Z``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except (ValueError, AttributeError, TypeError):
        return False
    return len(text) == 36


@dataclass
class StoredResource:
    id: str
    seq: int
    filename: str  # decoded, as shown in listings
    sent_filename: str  # exactly as it appeared in Content-Disposition
    mimetype: str
    data: bytes
    created_at: datetime
    created_by: str
    source_filepath: str | None = None
    upload_channel: str | None = None
    modality: str | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    upload_fields: dict[str, str] = field(default_factory=dict)  # every text part of the upload POST
    part_content_type: str | None = None  # Content-Type of the `resource` part
    status: str = "inbox"  # inbox | published
    published_on: datetime | None = None
    published_by: str | None = None
    deleted_at: datetime | None = None
    deleted_by: str | None = None
    project_ids: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


@dataclass
class StoredProject:
    id: str
    name: str
    description: str | None
    created_at: datetime
    created_by: str
    dataset_id: str
    worklist_id: str
    archived: bool = False
    resource_ids: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # other fields of the create body


@dataclass
class StoredAnnotation:
    id: str
    resource_id: str
    type: str
    identifier: str
    scope: str
    created_at: datetime
    created_by: str
    frame_index: int | None = None
    source: str | None = None
    worklist_id: str | None = None
    model_id: str | None = None
    imported_from: str | None = None
    import_author: str | None = None
    class_map: dict[str, str] | None = None  # volume segmentations: the `segmentation_map` part
    fields: dict[str, Any] = field(default_factory=dict)  # the DTO or the text parts as received
    file: bytes | None = None
    file_name: str | None = None
    file_content_type: str | None = None


@dataclass
class StoredWorklist:
    id: str
    name: str
    project_id: str | None
    created_at: datetime
    created_by: str
    details: dict[str, Any] = field(default_factory=dict)
    resource_ids: list[str] = field(default_factory=list)


class DatamintStore:
    """All state behind one lock; every method is safe to call from any thread."""

    def __init__(self, *, seed: int = 0, user: str = "demo@neurofetch.example") -> None:
        self.lock = threading.RLock()
        self._random = random.Random(seed)
        self.user = user
        self.customer_id = self.new_id()
        self.resources: dict[str, StoredResource] = {}
        self.projects: dict[str, StoredProject] = {}
        self.annotations: dict[str, StoredAnnotation] = {}
        self.worklists: dict[str, StoredWorklist] = {}
        self._seq = 0
        self._last_time = datetime(2000, 1, 1, tzinfo=timezone.utc)

    def new_id(self) -> str:
        with self.lock:
            return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def now(self) -> datetime:
        """Strictly increasing wall-clock time, so created_at orders uploads."""
        with self.lock:
            moment = datetime.now(timezone.utc)
            moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
            if moment <= self._last_time:
                moment = self._last_time + timedelta(milliseconds=1)
            self._last_time = moment
            return moment

    # --- resources -------------------------------------------------------------------------

    def add_resource(
        self, resource_kwargs: dict[str, Any], *, publish: bool = False, created_at: datetime | None = None
    ) -> StoredResource:
        with self.lock:
            self._seq += 1
            moment = created_at or self.now()
            record = StoredResource(
                id=self.new_id(), seq=self._seq, created_at=moment, created_by=self.user, **resource_kwargs
            )
            if publish:
                record.status, record.published_on, record.published_by = "published", moment, self.user
            self.resources[record.id] = record
            return record

    def resource(self, resource_id: str, *, deleted_ok: bool = False) -> StoredResource:
        with self.lock:
            record = self.resources.get(resource_id)
            if record is None or (record.deleted and not deleted_ok):
                raise ApiError(404, "Resource not found")
            return record

    def publish(self, resource_id: str) -> StoredResource:
        with self.lock:
            record = self.resource(resource_id)
            if record.status != "inbox":
                raise ApiError(400, PUBLISH_CONFLICT)
            record.status, record.published_on, record.published_by = "published", self.now(), self.user
            return record

    def bulk_publish(self, resource_ids: list[str]) -> int:
        """All ids must exist (else 404 and nothing changes); already published ones are skipped
        [unconfirmed: the reference only shows the reply ``{"published": 2}``]."""
        with self.lock:
            records = [self.resource(rid) for rid in resource_ids]
            fresh = {r.id: r for r in records if r.status == "inbox"}
            for record in fresh.values():
                self.publish(record.id)
            return len(fresh)

    def set_tags(self, resource_ids: list[str], tags: list[str]) -> list[StoredResource]:
        with self.lock:
            records = [self.resource(rid) for rid in resource_ids]
            for record in records:
                record.tags = list(dict.fromkeys(tags))
            return records

    def delete(self, resource_ids: list[str]) -> None:
        """Soft delete; the resource leaves its projects (a restore does not bring that back)."""
        with self.lock:
            records = [self.resource(rid) for rid in resource_ids]
            for record in records:
                record.deleted_at, record.deleted_by = self.now(), self.user
                for project_id in record.project_ids:
                    project = self.projects.get(project_id)
                    if project and record.id in project.resource_ids:
                        project.resource_ids.remove(record.id)
                record.project_ids = []

    def restore(self, resource_id: str) -> StoredResource:
        with self.lock:
            record = self.resource(resource_id, deleted_ok=True)
            if not record.deleted:
                raise ApiError(400, "Resource is not deleted")
            record.deleted_at = record.deleted_by = None
            return record

    def restore_many(self, resource_ids: list[str]) -> dict[str, list[Any]]:
        restored: list[str] = []
        skipped: list[dict[str, str]] = []
        with self.lock:
            for rid in resource_ids:
                record = self.resources.get(rid)
                if record is None:
                    skipped.append({"id": rid, "reason": "not_found"})
                elif not record.deleted:
                    skipped.append({"id": rid, "reason": "not_deleted"})
                else:
                    self.restore(rid)
                    restored.append(rid)
        return {"restored": restored, "skipped": skipped}

    def live_resources(self) -> list[StoredResource]:
        with self.lock:
            return [r for r in self.resources.values() if not r.deleted]

    # --- projects --------------------------------------------------------------------------

    def add_project(
        self, name: str, description: str | None = None, extra: dict[str, Any] | None = None
    ) -> StoredProject:
        with self.lock:
            if any(p.name == name for p in self.projects.values()):
                raise ApiError(409, "Project already exists")
            project_id = self.new_id()
            worklist = self.add_worklist(name, project_id, {}, [])
            project = StoredProject(
                id=project_id,
                name=name,
                description=description,
                created_at=self.now(),
                created_by=self.user,
                dataset_id=self.new_id(),
                worklist_id=worklist.id,
                extra=dict(extra or {}),
            )
            self.projects[project.id] = project
            return project

    def project(self, project_id: str) -> StoredProject:
        with self.lock:
            project = self.projects.get(project_id)
            if project is None:
                raise ApiError(404, "Project not found")
            return project

    def project_by_name(self, name: str) -> StoredProject | None:
        with self.lock:
            return next((p for p in self.projects.values() if p.name == name), None)

    def add_to_project(self, project_id: str, resource_ids: list[str]) -> int:
        """Only published resources may join a project [unconfirmed: the official client always
        publishes first, and the emulator enforces that order]."""
        with self.lock:
            project = self.project(project_id)
            records = [self.resource(rid) for rid in resource_ids]
            if any(r.status != "published" for r in records):
                raise ApiError(400, NOT_PUBLISHED_FOR_PROJECT)
            added = 0
            for record in records:
                if record.id not in project.resource_ids:
                    project.resource_ids.append(record.id)
                    record.project_ids.append(project.id)
                    added += 1
            return added

    def project_resources(self, project_id: str) -> list[StoredResource]:
        with self.lock:
            project = self.project(project_id)
            return [self.resources[rid] for rid in project.resource_ids if not self.resources[rid].deleted]

    # --- annotations and worklists ---------------------------------------------------------

    def add_annotation(self, resource_id: str, **kwargs: Any) -> StoredAnnotation:
        with self.lock:
            self.resource(resource_id)
            annotation = StoredAnnotation(
                id=self.new_id(), resource_id=resource_id, created_at=self.now(), created_by=self.user, **kwargs
            )
            self.annotations[annotation.id] = annotation
            return annotation

    def annotation(self, resource_id: str, annotation_id: str) -> StoredAnnotation:
        with self.lock:
            annotation = self.annotations.get(annotation_id)
            if annotation is None or annotation.resource_id != resource_id:
                raise ApiError(404, "Annotation not found")
            return annotation

    def annotations_of(self, resource_ids: set[str] | None = None) -> list[StoredAnnotation]:
        with self.lock:
            return [a for a in self.annotations.values() if resource_ids is None or a.resource_id in resource_ids]

    def add_worklist(
        self, name: str, project_id: str | None, details: dict[str, Any], resource_ids: list[str]
    ) -> StoredWorklist:
        with self.lock:
            worklist = StoredWorklist(
                id=self.new_id(),
                name=name,
                project_id=project_id,
                created_at=self.now(),
                created_by=self.user,
                details=dict(details),
                resource_ids=list(resource_ids),
            )
            self.worklists[worklist.id] = worklist
            return worklist

    def worklist(self, worklist_id: str) -> StoredWorklist:
        with self.lock:
            worklist = self.worklists.get(worklist_id)
            if worklist is None:
                raise ApiError(404, "Annotation worklist not found")
            return worklist
