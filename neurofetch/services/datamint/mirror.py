"""The mirror's view of a Datamint-style platform: resources, filtered on the server (§2.3), paged by
offset/limit, each fetched to ``DEST/<channel>/<id>_<filename>`` with its record ``<id>_<filename>.json``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from neurofetch.errors import UsageError
from neurofetch.net.auth import ApiKeyAuth
from neurofetch.net.http import AsyncClient, Auth
from neurofetch.net.retry import RetryPolicy
from neurofetch.net.secret import Secret
from neurofetch.services.datamint.api import DatamintApi
from neurofetch.services.datamint.masks import segmentations_listing
from neurofetch.services.paging import Pager
from neurofetch.transfer.context import Context
from neurofetch.transfer.filters import NameFilter
from neurofetch.transfer.local_index import SidecarReader
from neurofetch.transfer.paths import UnsafeName, safe_relpath
from neurofetch.transfer.work import Document, Fetch, FileItem, Listing, Work

UNKNOWN_CHANNEL = "Unknown"  # what the server calls resources uploaded without a channel


@dataclass(frozen=True)
class DatamintSelection:
    channel: str | None = None
    status: str | None = None  # inbox | published
    tags: Sequence[str] = ()
    projects: Sequence[str] = ()
    mimetype: str | None = None
    date_from: str | None = None  # ISO dates; `to` is exclusive
    date_to: str | None = None
    names: NameFilter = field(default_factory=NameFilter)

    def __post_init__(self) -> None:
        for flag, values in self._server_filters():
            self.names.ledger.expect(flag, values)

    def _server_filters(self) -> list[tuple[str, Sequence[str | None]]]:
        return [
            ("--channel", (self.channel,)),
            ("--status", (self.status,)),
            ("--tag", self.tags),
            ("--project", self.projects),
            ("--mimetype", (self.mimetype,)),
            ("--from", (self.date_from,)),
            ("--to", (self.date_to,)),
        ]

    def note_matches(self, record: dict[str, Any]) -> None:
        """The server applied the filters: a resource it lists matched them all (each tag only if it has it)."""
        tags = record.get("tags")
        for flag, values in self._server_filters():
            for value in values:
                if value and (flag != "--tag" or not isinstance(tags, list) or value in tags):
                    self.names.ledger.hit(flag, value)

    def params(self) -> dict[str, str]:
        # Oldest first keeps offsets stable while new uploads arrive during the crawl.
        params = {"order_field": "created_at", "order_by_asc": "true"}
        for key, value in (
            ("status", self.status),
            ("channel_name", self.channel),
            ("mimetype", self.mimetype),
            ("from", self.date_from),
            ("to", self.date_to),
        ):
            if value:
                params[key] = value
        if self.tags:
            params["tags"] = json.dumps({"items": list(self.tags), "filterType": "union"})
        if self.projects:
            params["project"] = json.dumps({"items": list(self.projects), "filterType": "union"})
        return params


class DatamintSource:
    def __init__(self, base_url: str, key: Secret, selection: DatamintSelection, policy: RetryPolicy) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = key
        self.selection = selection
        self.policy = policy

    def auth(self) -> Auth:
        return ApiKeyAuth(self._key)

    async def prepare(self, client: AsyncClient) -> None:
        await DatamintApi(client, self.base_url, self.policy).check_key()

    def roots(self) -> Sequence[Work]:
        return [Listing("resource list", self._page_task(0, None), root=True)]

    def _page_task(self, offset: int, pager: Pager | None) -> Fetch:
        async def fetch(ctx: Context) -> Sequence[Work]:
            api = DatamintApi(ctx.client, self.base_url, ctx.policy)
            listing = pager or api.resource_pager()
            page = await api.resources_page(self.selection.params(), offset)
            fresh, more = page.read(listing)
            work: list[Work] = []
            for record in fresh:  # a row repeated within the page is the engine's to drop
                work.extend(self._resource_work(api, record, ctx))
            mirrored = {
                item.unit: (str(item.parts[0]), str(item.parts[1]))
                for item in work
                if isinstance(item, FileItem) and item.unit
            }
            if mirrored:
                work.append(segmentations_listing(self.base_url, mirrored, f"segmentations of resources from {offset}"))
            if more:
                following = offset + len(page.rows)
                work.append(Listing(f"resource list from {following}", self._page_task(following, listing)))
            return work

        return fetch

    def _resource_work(self, api: DatamintApi, record: dict[str, Any], ctx: Context) -> list[Work]:
        resource_id, filename = record.get("id"), record.get("filename")
        if not isinstance(resource_id, str) or not isinstance(filename, str):
            ctx.result.fail(f"resource {resource_id or '?'}", "the resource list gives it no id or filename")
            return []
        self.selection.note_matches(record)
        channel = str(record.get("upload_channel") or UNKNOWN_CHANNEL)
        name = f"{resource_id}_{filename}"
        if not self.selection.names.accepts(filename, (channel, name)):
            return []
        try:  # one clear failure per unusable name, rather than one for the file and one for its record
            safe_relpath((channel, f"{name}.json"))
        except UnsafeName as exc:
            ctx.result.fail(f"{channel}/{name}", str(exc))
            ctx.reporter.failed(f"{channel}/{name}", str(exc))
            return []
        size = record.get("size")
        return [
            FileItem(
                (channel, name),
                api.url("resources", resource_id, "file"),
                expected_size=size if isinstance(size, int) else None,
                unit=resource_id,
                label=f"{channel}/{name}",
                records=(f"{name}.json",),
                meta=ls_meta(record, channel),
            ),
            Document((channel, f"{name}.json"), record, unit=resource_id),
        ]


def index_columns(records: SidecarReader, relpath: str) -> dict[str, Any] | None:
    """A mirrored resource's columns for `index`, from its record <id>_<filename>.json, with the other files
    of the same resource in its folder (segmentations: <id>_<...> beside it); None when the file is not
    where a Datamint mirror puts one."""
    channel, _, name = relpath.rpartition("/")
    record = records.json(f"{relpath}.json", keep=False)
    if not channel or "/" in channel or not isinstance(record, dict):
        return None
    resource_id = record.get("id")
    if not isinstance(resource_id, str) or name != f"{resource_id}_{record.get('filename')}":
        return None
    own = {name, f"{name}.json"}
    segmentations = [
        f"{channel}/{n}"
        for n in records.names_in(channel)
        if n.startswith(f"{resource_id}_") and n not in own and not n.endswith(".json")
    ]
    return {
        "id": resource_id,
        "channel": channel,
        "filename": record.get("filename"),
        "status": record.get("status"),
        "tags": record.get("tags") or None,
        "mimetype": record.get("mimetype"),
        "uploaded": record.get("created_at"),
        "projects": [str(p.get("name", p)) if isinstance(p, dict) else str(p) for p in record.get("projects") or []]
        or None,
        "labels": [str(x.get("name", x)) if isinstance(x, dict) else str(x) for x in record.get("labels") or []]
        or None,
        "segmentations": segmentations or None,
    }


def ls_meta(record: dict[str, Any], channel: str) -> dict[str, Any]:
    """The Datamint columns of an `ls` row."""
    tags = record.get("tags")
    return {
        "id": record.get("id"),
        "channel": channel,
        "status": record.get("status"),
        "tags": [str(t) for t in tags] if isinstance(tags, list) else None,
        "mimetype": record.get("mimetype"),
        "uploaded": record.get("created_at"),
    }


STATUSES = ("inbox", "published")


def datamint_selection(
    *,
    channel: str | None = None,
    status: str | None = None,
    tags: Sequence[str] = (),
    projects: Sequence[str] = (),
    mimetype: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    **kwargs: object,
) -> DatamintSelection:
    """A selection from what a user typed (UsageError on a bad status or date)."""
    if status is not None and status not in STATUSES:
        raise UsageError(f"--status takes inbox or published, not {status!r}")
    for flag, value in (("--from", date_from), ("--to", date_to)):
        if value is not None:
            try:
                date.fromisoformat(value)
            except ValueError:
                raise UsageError(f"{flag} takes a date like 2024-01-31, not {value!r}") from None
    return DatamintSelection(
        channel=channel,
        status=status,
        tags=tuple(tags),
        projects=tuple(projects),
        mimetype=mimetype,
        date_from=date_from,
        date_to=date_to,
        **kwargs,  # type: ignore[arg-type]
    )
