"""JSON shapes of the Datamint emulator's replies and the `GET /resources` query semantics
(reference/datamint.md §2.1, §2.3)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date, datetime, timezone
from typing import Any

from neurofetch.emulators.datamint.store import (
    ApiError,
    DatamintStore,
    StoredAnnotation,
    StoredProject,
    StoredResource,
    StoredWorklist,
    iso,
)

PAGE_MAX = 5000
ORDER_FIELDS = ("modality", "created_by", "published_by", "published_on", "filename", "created_at")
NIFTI_MIMES = ("application/nifti", "application/x-nifti", "image/x.nifti")
USER_INFO = {"firstname": "Demo", "lastname": "User"}


def _opt_iso(moment: datetime | None) -> str | None:
    return iso(moment) if moment else None


def storage_of(mimetype: str, filename: str) -> str:
    name = filename.lower()
    if mimetype in ("application/dicom", "application/x-dicom") or name.endswith((".dcm", ".dicom")):
        return "DicomResource"
    if mimetype in NIFTI_MIMES or name.endswith((".nii", ".nii.gz")):
        return "NiftiResource"
    if mimetype.startswith("video/"):
        return "VideoResource"
    if mimetype.startswith("image/"):
        return "ImageResource"
    return "FileResource"


def resource_json(record: StoredResource, store: DatamintStore) -> dict[str, Any]:
    """Every field of the reference's example resource (§2.1)."""
    projects = [{"id": p.id, "name": p.name} for p in (store.projects.get(pid) for pid in record.project_ids) if p]
    return {
        "id": record.id,
        "resource_uri": f"/resources/{record.id}/file",
        "storage": storage_of(record.mimetype, record.filename),
        "location": f"resources/{store.customer_id}/{record.id}",
        "upload_channel": record.upload_channel or "Unknown",
        "filename": record.filename,
        "modality": record.modality,
        "mimetype": record.mimetype,
        "size": record.size,
        "upload_mechanism": "api",
        "customer_id": store.customer_id,
        "status": "deleted" if record.deleted else record.status,
        "created_at": iso(record.created_at),
        "created_by": record.created_by,
        "published": record.status == "published",
        "published_on": _opt_iso(record.published_on),
        "published_by": record.published_by,
        "publish_transforms": None,
        "deleted": record.deleted,
        "deleted_at": _opt_iso(record.deleted_at),
        "deleted_by": record.deleted_by,
        "metadata": record.metadata,
        "source_filepath": record.source_filepath,
        "tags": list(record.tags),
        "instance_uid": None,
        "series_uid": None,
        "study_uid": None,
        "patient_id": None,
        "user_info": dict(USER_INFO),
        "projects": projects,
        "labels": [],
    }


def project_json(project: StoredProject, store: DatamintStore) -> dict[str, Any]:
    members = [rid for rid in project.resource_ids if not store.resources[rid].deleted]
    annotated = {a.resource_id for a in store.annotations.values() if a.resource_id in members}
    return {
        "id": project.id,
        "name": project.name,
        "description": project.description,
        "created_at": iso(project.created_at),
        "created_by": project.created_by,
        "dataset_id": project.dataset_id,
        "worklist_id": project.worklist_id,
        "ai_model_id": None,
        "archived": project.archived,
        "resource_count": len(members),
        "annotated_resource_count": len(annotated),
        "most_recent_experiment": None,
        "closed_resources_count": 0,
        "resources_to_annotate_count": len(members) - len(annotated),
        "annotators": [],
        "is_active_learning": bool(project.extra.get("is_active_learning", False)),
        "two_up_display": bool(project.extra.get("two_up_display", False)),
        "require_review": bool(project.extra.get("require_review", False)),
    }


def annotation_json(annotation: StoredAnnotation) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": annotation.id,
        "resource_id": annotation.resource_id,
        "type": annotation.type,
        "identifier": annotation.identifier,
        "scope": annotation.scope,
        "frame_index": annotation.frame_index,
        "source": annotation.source,
        "annotation_worklist_id": annotation.worklist_id,
        "model_id": annotation.model_id,
        "is_model": annotation.model_id is not None,
        "imported_from": annotation.imported_from,
        "import_author": annotation.import_author,
        "status": "new",
        "created_at": iso(annotation.created_at),
        "created_by": annotation.created_by,
        "deleted": False,
        "file": (
            f"/annotations/{annotation.resource_id}/annotations/{annotation.id}/file"
            if annotation.file is not None
            else None
        ),
    }
    if annotation.class_map is not None:
        body["class_map"] = {k: v for k, v in annotation.class_map.items() if str(k).isdigit()}
    return body


def worklist_json(worklist: StoredWorklist) -> dict[str, Any]:
    return {
        "id": worklist.id,
        "name": worklist.name,
        "status": "new",
        "annotators": [],
        "description": worklist.details.get("description"),
        "project_id": worklist.project_id,
        "created_at": iso(worklist.created_at),
        "created_by": worklist.created_by,
        "resource_ids": list(worklist.resource_ids),
        "annotations": [],
        **{k: v for k, v in worklist.details.items() if k != "description"},
    }


def channels_json(records: list[StoredResource], store: DatamintStore) -> list[dict[str, Any]]:
    """Channels group resources by upload channel. As in the upstream test fixtures,
    ``resource_file_name`` is the filename exactly as sent (still percent-encoded) and
    ``resource_count`` is a string."""
    groups: dict[str, list[StoredResource]] = {}
    for record in sorted(records, key=lambda r: r.seq):
        groups.setdefault(record.upload_channel or "Unknown", []).append(record)
    return [
        {
            "channel_name": name,
            "resource_data": [
                {
                    "created_by": r.created_by,
                    "customer_id": store.customer_id,
                    "resource_id": r.id,
                    "resource_file_name": r.sent_filename,
                    "resource_mimetype": r.mimetype,
                }
                for r in members
            ],
            "resource_count": str(len(members)),
            "deleted": False,
            "created_at": iso(members[0].created_at),
            "updated_at": iso(max(m.created_at for m in members)),
        }
        for name, members in sorted(groups.items())
    ]


# --- GET /resources query ----------------------------------------------------------------------


def page_bounds(params: Mapping[str, str]) -> tuple[int, int]:
    """offset/limit; limit defaults to and is capped at 5000 [unconfirmed]."""
    try:
        offset = int(params.get("offset", "0") or 0)
        limit = int(params.get("limit", str(PAGE_MAX)) or PAGE_MAX)
    except ValueError:
        raise ApiError(400, "offset and limit must be integers") from None
    if offset < 0 or limit < 0:
        raise ApiError(400, "offset and limit must not be negative")
    return offset, min(limit, PAGE_MAX)


def _parse_day(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            raise ApiError(400, f"{name} must be an ISO date") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _item_filter(raw: str, name: str) -> tuple[list[str], str]:
    """``{"items":[...],"filterType":"union"|"intersection"}``; a plain comma list is read as a union."""
    if raw.lstrip().startswith("{"):
        try:
            spec = json.loads(raw)
            items = [str(i) for i in spec.get("items", [])]
            kind = str(spec.get("filterType", "union")).lower()
        except (ValueError, AttributeError):
            raise ApiError(400, f"{name} must be a JSON filter") from None
        if kind not in ("union", "intersection"):
            raise ApiError(400, f"{name}.filterType must be union or intersection")
        return items, kind
    return [i.strip() for i in raw.split(",") if i.strip()], "union"


def _matches_items(have: set[str], items: list[str], kind: str) -> bool:
    if not items:
        return True
    return all(i in have for i in items) if kind == "intersection" else any(i in have for i in items)


def _project_keys(record: StoredResource, store: DatamintStore) -> set[str]:
    keys = set(record.project_ids)
    keys.update(store.projects[pid].name for pid in record.project_ids if pid in store.projects)
    return keys


def resource_filter(params: Mapping[str, str], store: DatamintStore) -> Callable[[StoredResource], bool]:
    """A predicate for the filters of §2.3. Unknown parameters (e.g. ``source_filepath``,
    which the official client filters client-side) are ignored."""
    checks: list[Callable[[StoredResource], bool]] = []
    deleted = params.get("deleted", "exclude") or "exclude"
    if deleted not in ("exclude", "include", "only"):
        raise ApiError(400, "deleted must be exclude, include or only")
    checks.append({"exclude": lambda r: not r.deleted, "include": lambda r: True, "only": lambda r: r.deleted}[deleted])
    status = params.get("status", "")
    if status not in ("", "inbox", "published"):
        raise ApiError(400, "status must be inbox or published")
    if status:
        checks.append(lambda r: r.status == status)
    if params.get("from"):
        start = _parse_day(params["from"], "from")
        checks.append(lambda r: r.created_at >= start)
    if params.get("to"):
        end = _parse_day(params["to"], "to")
        checks.append(lambda r: r.created_at < end)
    if params.get("modality"):
        checks.append(lambda r: r.modality == params["modality"])
    if params.get("mimetype"):
        checks.append(lambda r: r.mimetype == params["mimetype"])
    if params.get("channel_name"):
        checks.append(lambda r: (r.upload_channel or "Unknown") == params["channel_name"])
    if params.get("filename"):
        needle = params["filename"].lower()  # substring, case-insensitive [unconfirmed]
        checks.append(lambda r: needle in r.filename.lower())
    if params.get("tags"):
        tag_items, tag_kind = _item_filter(params["tags"], "tags")
        checks.append(lambda r: _matches_items(set(r.tags), tag_items, tag_kind))
    project_raw = params.get("project") or params.get("project_name")
    if project_raw:
        items, kind = _item_filter(project_raw, "project") if params.get("project") else ([project_raw], "union")
        checks.append(lambda r: _matches_items(_project_keys(r, store), items, kind))
    return lambda record: all(check(record) for check in checks)


def order_resources(records: list[StoredResource], params: Mapping[str, str]) -> list[StoredResource]:
    """Default order: newest first [unconfirmed]; ties broken by upload order."""
    field_name = params.get("order_field") or "created_at"
    if field_name not in ORDER_FIELDS:
        raise ApiError(400, f"order_field must be one of {', '.join(ORDER_FIELDS)}")
    ascending = (params.get("order_by_asc") or "false").lower() == "true"

    def key(record: StoredResource) -> tuple[bool, Any, int]:
        value = getattr(record, field_name)
        return (value is None, value if value is not None else "", record.seq)

    present = sorted((r for r in records if getattr(r, field_name) is not None), key=key, reverse=not ascending)
    missing = sorted((r for r in records if getattr(r, field_name) is None), key=lambda r: r.seq)
    return present + missing


def select_resources(
    store: DatamintStore, params: Mapping[str, str], extra: Callable[[StoredResource], bool] = lambda _r: True
) -> tuple[list[StoredResource], int]:
    """Filter, order and page; returns the page and the total count before paging."""
    predicate = resource_filter(params, store)
    offset, limit = page_bounds(params)
    with store.lock:
        matched = [r for r in store.resources.values() if predicate(r) and extra(r)]
    ordered = order_resources(matched, params)
    return ordered[offset : offset + limit], len(ordered)
