"""Datamint login, logout, publish and mirror as plain functions: what the CLI calls, and what a
notebook can call. Upload lives in operations/datamint_upload.py.

The API key comes from NEUROFETCH_API_KEY, then DATAMINT_API_KEY (the official client's variable),
then the keyring (`neurofetch login`), then a prompt on a terminal.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from neurofetch.credentials import (
    API_KEY_ENTRY,
    Secret,
    is_interactive,
    keyring_delete,
    keyring_set,
    prompt_secret,
    read_secret_stdin,
    secret_from_env,
    stored_secret,
)
from neurofetch.errors import AuthError, ItemError, UsageError
from neurofetch.net import loop
from neurofetch.net.auth import ApiKeyAuth
from neurofetch.net.http import make_client, policy_for
from neurofetch.services.datamint.api import BULK_CHUNK, DatamintApi
from neurofetch.services.datamint.mirror import DatamintSelection, DatamintSource
from neurofetch.settings import Profile
from neurofetch.transfer.control import RunControl
from neurofetch.transfer.events import NullReporter, Reporter
from neurofetch.transfer.mirror import MirrorOptions, run_mirror
from neurofetch.transfer.results import RunResult
from neurofetch.ui.logs import register_secret

FALLBACK_KEY_ENV = "DATAMINT_API_KEY"
STATUSES = ("inbox", "published")
T = TypeVar("T")


def require_datamint(profile: Profile, command: str) -> None:
    if profile.service != "datamint":
        raise UsageError(f"{command} is for Datamint profiles; profile {profile.name!r} is {profile.service}")


def api_key_for(profile: Profile, *, no_input: bool) -> Secret:
    """The key for a run: environment, then keyring, then a prompt (terminal only)."""
    key = (secret_from_env("api_key", os.environ, FALLBACK_KEY_ENV)
           or stored_secret(profile.keyring_service, API_KEY_ENTRY))
    if key is None and is_interactive(no_input):
        key = prompt_secret("Datamint API key")
    if key is None:
        raise AuthError("no Datamint API key: run `neurofetch login`, or set NEUROFETCH_API_KEY "
                        "(or DATAMINT_API_KEY) for unattended runs")
    register_secret(key.value)
    return key


def key_for_login(api_key_stdin: bool, *, no_input: bool) -> Secret:
    key: Secret | None
    if api_key_stdin:
        key = read_secret_stdin("api_key")
    else:
        key = secret_from_env("api_key", os.environ, FALLBACK_KEY_ENV)
        if key is None and is_interactive(no_input):
            key = prompt_secret("Datamint API key")
        if key is None:
            raise AuthError("no API key: this is not a terminal, so pipe it with --api-key-stdin "
                            "or set NEUROFETCH_API_KEY")
    register_secret(key.value)
    return key


def with_api(profile: Profile, key: Secret, call: Callable[[DatamintApi], Awaitable[T]]) -> T:
    """Run ``call`` with an API bound to one client (one connection pool) for the whole run."""
    async def go() -> T:
        async with make_client(profile.http, auth=ApiKeyAuth(key)) as client:
            return await call(DatamintApi(client, profile.url, policy_for(profile.http)))

    return loop.run(go())


def login_datamint(profile: Profile, key: Secret, *, store: bool = True) -> bool:
    """Check the key against the server; keep it in the keyring. Returns whether it was stored."""
    require_datamint(profile, "login")
    with_api(profile, key, lambda api: api.check_key())
    if store:
        keyring_set(profile.keyring_service, API_KEY_ENTRY, key.value)
    return store


def logout_datamint(profile: Profile) -> list[str]:
    return ["API key"] if keyring_delete(profile.keyring_service, API_KEY_ENTRY) else []


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


def publish(profile: Profile, request: PublishRequest, *, reporter: Reporter | None = None,
            no_input: bool = True, key: Secret | None = None) -> RunResult:
    """Publish resources (inbox → published), by id, channel or the whole inbox; optionally into a project.

    Already published resources are counted as such, never as failures: publishing is idempotent.
    """
    require_datamint(profile, "publish")
    if not (request.resource_ids or request.channel or request.all_inbox):
        raise UsageError("say what to publish: RESOURCE_ID ..., --channel NAME or --all-inbox")
    for resource_id in request.resource_ids:
        if not _is_uuid(resource_id):
            raise UsageError(f"{resource_id!r} is not a resource id (ids look like 3f2b8c1e-...-...)")
    key = key or api_key_for(profile, no_input=no_input)
    result = RunResult("publish")
    control = RunControl(result, reporter or NullReporter())
    started = time.monotonic()
    try:
        with_api(profile, key, lambda api: _interruptible(control, _publish(api, request, control)))
    finally:
        result.seconds = time.monotonic() - started
    return result


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
            result.messages.append(f"nothing to publish: no resources in channel {request.channel!r}"
                                   if request.channel else "nothing to publish: the inbox is empty")
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
        chunk = list(resource_ids[start:start + BULK_CHUNK])
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
        chunk = list(resource_ids[start:start + BULK_CHUNK])
        result.add("added_to_project", await api.add_to_project(pid, chunk))


def datamint_selection(*, channel: str | None = None, status: str | None = None, tags: Sequence[str] = (),
                       projects: Sequence[str] = (), mimetype: str | None = None, date_from: str | None = None,
                       date_to: str | None = None, **kwargs: object) -> DatamintSelection:
    """A selection from what a user typed (UsageError on a bad status or date)."""
    if status is not None and status not in STATUSES:
        raise UsageError(f"--status takes inbox or published, not {status!r}")
    for flag, value in (("--from", date_from), ("--to", date_to)):
        if value is not None:
            try:
                date.fromisoformat(value)
            except ValueError:
                raise UsageError(f"{flag} takes a date like 2024-01-31, not {value!r}") from None
    return DatamintSelection(channel=channel, status=status, tags=tuple(tags), projects=tuple(projects),
                             mimetype=mimetype, date_from=date_from, date_to=date_to, **kwargs)  # type: ignore[arg-type]


def mirror_datamint(profile: Profile, selection: DatamintSelection, options: MirrorOptions, *,
                    reporter: Reporter | None = None, no_input: bool = True, key: Secret | None = None) -> RunResult:
    """Mirror the selected resources into DEST/<channel>/<id>_<filename> (+ .json record)."""
    require_datamint(profile, "this mirror")
    key = key or api_key_for(profile, no_input=no_input)
    source = DatamintSource(profile.url, key, selection, policy_for(profile.http))
    return run_mirror("mirror", source, profile.service, profile.http, options, reporter)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
