"""Publishing Datamint resources (inbox → published), by id, channel or the whole inbox, optionally into a
project; the project lookup and bulk steps are shared with upload."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from neurofetch.errors import ItemError, UsageError
from neurofetch.net import loop
from neurofetch.net.auth import ApiKeyAuth
from neurofetch.net.http import HttpOptions, make_client, policy_for
from neurofetch.net.secret import Secret
from neurofetch.services.datamint.api import BULK_CHUNK, DatamintApi
from neurofetch.transfer.control import RunControl
from neurofetch.transfer.events import NullReporter, Reporter
from neurofetch.transfer.results import RunResult

T = TypeVar("T")


def with_api(url: str, http: HttpOptions, key: Secret, call: Callable[[DatamintApi], Awaitable[T]]) -> T:
    """Run ``call`` with an API bound to one client (one connection pool) for the whole run."""

    async def go() -> T:
        async with make_client(http, auth=ApiKeyAuth(key)) as client:
            return await call(DatamintApi(client, url, policy_for(http)))

    return loop.run(go())


async def project_id(api: DatamintApi, name: str) -> str:
    """A project by name (or id); unknown is a usage error naming the projects there are."""
    projects = await api.projects()
    for project in projects:
        if project.get("name") == name or project.get("id") == name:
            return str(project["id"])
    names = ", ".join(sorted(str(p.get("name")) for p in projects)) or "none"
    raise UsageError(f"no project named {name!r} on {api.base_url}; projects: {names}")


@dataclass(frozen=True)
class PublishRequest:
    resource_ids: Sequence[str] = ()
    channel: str | None = None
    all_inbox: bool = False
    project: str | None = None


def publish(
    url: str, http: HttpOptions, request: PublishRequest, *, reporter: Reporter | None = None, key: Secret
) -> RunResult:
    """Publish resources (inbox → published), by id, channel or the whole inbox; optionally into a project.

    Already published resources are counted as such, never as failures: publishing is idempotent.
    """
    check_request(request)
    result = RunResult("publish")
    control = RunControl(result, reporter or NullReporter())
    started = time.monotonic()
    try:
        with_api(url, http, key, lambda api: _interruptible(control, _publish(api, request, control)))
    finally:
        result.seconds = time.monotonic() - started
    return result


def check_request(request: PublishRequest) -> None:
    """UsageError when the request says nothing to publish or names something that is not a resource id."""
    if not (request.resource_ids or request.channel or request.all_inbox):
        raise UsageError("say what to publish: RESOURCE_ID ..., --channel NAME or --all-inbox")
    for resource_id in request.resource_ids:
        if not _is_uuid(resource_id):
            raise UsageError(f"{resource_id!r} is not a resource id (ids look like 3f2b8c1e-...-...)")


async def _interruptible(control: RunControl, steps: Awaitable[None]) -> None:
    with control.signals():
        await control.guard(steps)


async def _publish(api: DatamintApi, request: PublishRequest, control: RunControl) -> None:
    result = control.result
    await api.check_key()
    pid = await project_id(api, request.project) if request.project else None
    to_publish = list(dict.fromkeys(request.resource_ids))
    already: list[str] = []
    if request.channel or request.all_inbox:
        params = {"channel_name": request.channel} if request.channel else {"status": "inbox"}
        async for record in api.resources(params):
            target = to_publish if record.get("status") == "inbox" else already
            if isinstance(record.get("id"), str) and record["id"] not in to_publish:
                target.append(record["id"])
        if not to_publish and not already:
            result.messages.append(
                f"nothing to publish: no resources in channel {request.channel!r}"
                if request.channel
                else "nothing to publish: the inbox is empty"
            )
    if already:
        result.add("already_published", len(already))
    failed = await publish_ids(api, to_publish, control)
    if pid is not None:
        members = [i for i in [*to_publish, *already] if i not in failed]
        await add_to_project(api, pid, members, result)
    result.extra["resource_ids"] = [i for i in [*to_publish, *already] if i not in failed]


async def publish_ids(api: DatamintApi, resource_ids: Sequence[str], control: RunControl) -> set[str]:
    """Bulk-publish in chunks; a chunk the server refuses (an unknown id) is retried one id at a time
    so the good ids still get published and the bad one is named. Returns the ids that failed."""
    failed: set[str] = set()
    result = control.result
    for start in range(0, len(resource_ids), BULK_CHUNK):
        chunk = list(resource_ids[start : start + BULK_CHUNK])
        try:
            published = await api.bulk_publish(chunk)
            for counter, n in (("published", published), ("already_published", len(chunk) - published)):
                if n:
                    result.add(counter, n)
            continue
        except ItemError:
            pass
        for resource_id in chunk:
            try:
                result.add("published" if await api.publish_one(resource_id) else "already_published")
            except ItemError as exc:
                failed.add(resource_id)
                control.fail(resource_id, str(exc))
    return failed


async def add_to_project(api: DatamintApi, pid: str, resource_ids: Sequence[str], result: RunResult) -> None:
    for start in range(0, len(resource_ids), BULK_CHUNK):
        chunk = list(resource_ids[start : start + BULK_CHUNK])
        result.add("added_to_project", await api.add_to_project(pid, chunk))


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
