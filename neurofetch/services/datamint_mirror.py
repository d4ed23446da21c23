"""The mirror's view of a Datamint-style platform: resources, filtered on the server (§2.3), paged by
offset/limit, each fetched to ``DEST/<channel>/<id>_<filename>`` with its record ``<id>_<filename>.json``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from neurofetch.credentials import Secret
from neurofetch.net.auth import ApiKeyAuth
from neurofetch.net.retry import RetryPolicy
from neurofetch.services import datamint as api_module
from neurofetch.services.datamint import DatamintApi, row_key
from neurofetch.services.paging import Pager
from neurofetch.transfer.engine import Context
from neurofetch.transfer.filters import NameFilter
from neurofetch.transfer.paths import UnsafeName, safe_relpath
from neurofetch.transfer.work import Document, Fetch, FileItem, Listing, Work

UNKNOWN_CHANNEL = "Unknown"   # what the server calls resources uploaded without a channel


@dataclass(frozen=True)
class DatamintSelection:
    channel: str | None = None
    status: str | None = None          # inbox | published
    tags: Sequence[str] = ()
    projects: Sequence[str] = ()
    mimetype: str | None = None
    date_from: str | None = None       # ISO dates; `to` is exclusive
    date_to: str | None = None
    names: NameFilter = field(default_factory=NameFilter)

    def params(self) -> dict[str, str]:
        # Oldest first keeps offsets stable while new uploads arrive during the crawl.
        params = {"order_field": "created_at", "order_by_asc": "true"}
        for key, value in (("status", self.status), ("channel_name", self.channel), ("mimetype", self.mimetype),
                           ("from", self.date_from), ("to", self.date_to)):
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

    def auth(self) -> httpx.Auth:
        return ApiKeyAuth(self._key)

    async def prepare(self, client: httpx.AsyncClient) -> None:
        await DatamintApi(client, self.base_url, self.policy).check_key()

    def roots(self) -> Sequence[Work]:
        return [Listing("resource list", self._page_task(0, None), root=True)]

    def _page_task(self, offset: int, pager: Pager | None) -> Fetch:
        async def fetch(ctx: Context) -> Sequence[Work]:
            api = DatamintApi(ctx.client, self.base_url, ctx.policy)
            listing = pager or api.resource_pager()
            page = await api.resources_page(self.selection.params(), offset)
            full = len(page) >= api_module.PAGE_SIZE
            fresh = listing.page(map(row_key, page), more=full)
            work: list[Work] = []
            for record in page:
                if row_key(record) in fresh:   # a row repeated within the page is the engine's to drop
                    work.extend(self._resource_work(api, record, ctx))
            if full:
                following = offset + len(page)
                work.append(Listing(f"resource list from {following}", self._page_task(following, listing)))
            return work

        return fetch

    def _resource_work(self, api: DatamintApi, record: dict[str, Any], ctx: Context) -> list[Work]:
        resource_id, filename = record.get("id"), record.get("filename")
        if not isinstance(resource_id, str) or not isinstance(filename, str):
            ctx.result.fail(f"resource {resource_id or '?'}", "the resource list gives it no id or filename")
            return []
        if not self.selection.names.accepts(filename):
            return []
        channel = str(record.get("upload_channel") or UNKNOWN_CHANNEL)
        name = f"{resource_id}_{filename}"
        try:   # one clear failure per unusable name, rather than one for the file and one for its record
            safe_relpath((channel, f"{name}.json"))
        except UnsafeName as exc:
            ctx.result.fail(f"{channel}/{name}", str(exc))
            ctx.reporter.failed(f"{channel}/{name}", str(exc))
            return []
        size = record.get("size")
        return [
            FileItem((channel, name), api.url("resources", resource_id, "file"),
                     expected_size=size if isinstance(size, int) else None, unit=resource_id,
                     label=f"{channel}/{name}"),
            Document((channel, f"{name}.json"), record, unit=resource_id),
        ]
