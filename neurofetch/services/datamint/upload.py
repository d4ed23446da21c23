"""Uploading to Datamint: find the files, de-identify DICOM locally, upload with
resume, then publish, add to a project and attach a segmentation as asked."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurofetch.errors import UsageError
from neurofetch.net import loop
from neurofetch.net.auth import ApiKeyAuth
from neurofetch.net.http import HttpOptions, make_client, policy_for
from neurofetch.net.retry import RetryPolicy
from neurofetch.net.secret import Secret
from neurofetch.services.datamint.api import DatamintApi, UploadForm, UploadKey, form_key
from neurofetch.services.datamint.publish import add_to_project, project_id, publish_ids
from neurofetch.services.datamint.segmentation import Segmentation, attach_segmentation, load_segmentation
from neurofetch.transfer.control import RunControl
from neurofetch.transfer.events import Reporter, complete
from neurofetch.transfer.local_files import Discovery, FileSelection, LocalFile, find_files, mung_name, parse_mung
from neurofetch.transfer.lock import DestinationLock, LockWait
from neurofetch.transfer.results import RunResult
from neurofetch.transfer.shard import Shard
from neurofetch.transfer.upload import UploadBody, UploadItem, UploadRun, upload_all
from neurofetch.transfer.upload_journal import (
    UploadJournal,
    adopt_earlier_journal,
    journal_path,
)

if TYPE_CHECKING:
    from neurofetch.anonymize import ParallelAnonymizer


@dataclass(frozen=True)
class UploadRequest:
    paths: Sequence[Path] = ()
    selection: FileSelection = field(default_factory=FileSelection)
    channel: str | None = None
    tags: Sequence[str] = ()
    metadata_file: Path | None = None
    mung: str | None = None
    publish: bool = False
    project: str | None = None
    anonymize: bool = True
    retain_tags: Sequence[str] = ()
    segmentation: Path | None = None
    segmentation_name: str | None = None
    segmentation_names: Mapping[str, str] | None = None  # label value ("1") -> class name
    resource_id: str | None = None
    dry_run: bool = False
    shard: Shard | None = None


class DatamintTarget:
    """The upload engine's view of the platform: one POST per file, and the lost-answer check."""

    def __init__(self, api: DatamintApi, request: UploadRequest, files: int) -> None:
        self.api = api
        self.request = request
        self.files = files  # how many files the run has to upload
        self._listing_lock = asyncio.Lock()
        self._listed = False
        self._held: dict[UploadKey, str] | None = None  # the platform's resources when the run began, if few

    def form(self, item: UploadItem) -> UploadForm:
        metadata = item.details.get("metadata") or None
        return UploadForm(
            name=item.name,
            source_filepath=item.label,
            mimetype=item.local.mimetype,
            channel=self.request.channel,
            modality=item.details.get("modality"),
            publish=self.request.publish or self.request.project is not None,
            tags=self.request.tags,
            metadata=metadata,
        )

    async def send(self, item: UploadItem, body: UploadBody | bytes, size: int) -> str:
        return await self.api.post_resource(self.form(item), body, item.label)

    async def find(self, item: UploadItem, size: int) -> str | None:
        return await self.api.find_uploaded(self.form(item), size)

    async def held(self, item: UploadItem, size: int) -> str | None:
        """A file the journal does not know: one listing of the platform serves every such file of the run when
        it fits one page (a first upload, a lost journal); otherwise one query per file."""
        async with self._listing_lock:
            if not self._listed:
                self._held = await self.api.upload_index(self.files)
                self._listed = True
        if self._held is None:
            return await self.find(item, size)
        return self._held.get(form_key(self.form(item), size))


def upload(
    url: str,
    http: HttpOptions,
    request: UploadRequest,
    key: Callable[[], Secret],
    *,
    state_root: Path,
    wait: float | None = None,
    reporter: Reporter | None = None,
) -> RunResult:
    """Upload ``request.paths``; the result's ``extra["resources"]`` maps each source path to its resource id.
    ``key`` gives the API key, asked for only when something is to be sent (not for a dry run); the upload
    journals live under ``state_root``; ``wait``: seconds to wait for another run's lock (None: do not wait)."""
    reporter = complete(reporter)
    _check_request(request)
    mung = parse_mung(request.mung)
    base_metadata = _metadata_file(request.metadata_file)
    segmentation = load_segmentation(request.segmentation, request.segmentation_name, request.segmentation_names)
    discovery = find_files(request.paths, request.selection) if request.paths else Discovery()
    if segmentation is not None and request.resource_id is None and len(discovery.files) != 1:
        raise UsageError(
            f"--segmentation attaches to one resource: upload exactly one file with it (found "
            f"{len(discovery.files)}), or give --resource-id ID of an uploaded one"
        )
    result = RunResult("upload", dry_run=request.dry_run)
    control = RunControl(result, reporter)
    for source_path, problem in discovery.unreadable:
        control.fail(source_path, problem)
    started = time.monotonic()
    path = journal_path(state_root, url)
    shard = request.shard or Shard(1, 1)
    lock_name = path.stem + ("" if shard.count == 1 else f"-shard-{shard.index}-of-{shard.count}") + ".lock"
    try:
        with DestinationLock(
            path.parent,
            lock_name,
            within=None if shard.count == 1 else path.stem + ".lock",
            wait=LockWait.of(wait, reporter.note),
        ):
            adopt_earlier_journal(state_root, url)
            journal = UploadJournal(path)
            if journal.set_aside is not None:
                reporter.note(
                    f"warning: the upload journal was damaged; it was moved to {journal.set_aside} and a "
                    "new one started (files the service already holds are not sent again)"
                )
                result.extra["upload_journal_set_aside"] = str(journal.set_aside)
            anonymizer = _anonymizer(discovery.files, request, journal, http.jobs)
            try:
                items = _items(discovery.files, request, mung, base_metadata, anonymizer)
                if request.dry_run:
                    loop.run(_dry_run(items, request, segmentation, journal, control))
                else:
                    loop.run(_run(url, http, key(), items, request, segmentation, journal, control))
            finally:
                if anonymizer is not None:
                    anonymizer.close()
                journal.close()
    finally:
        reporter.close()
        result.seconds = time.monotonic() - started
    _explain(discovery, request, result)
    return result


def _check_request(request: UploadRequest) -> None:
    if not request.paths and request.resource_id is None:
        raise UsageError("say what to upload: PATH ... (files or folders)")
    if request.resource_id is not None and (request.paths or request.segmentation is None):
        raise UsageError(
            "--resource-id ID attaches a --segmentation to a resource already uploaded; give it without PATH"
        )
    for tag in request.tags:
        if "," in tag:
            raise UsageError(f"--tag {tag!r}: tags cannot contain a comma (the service joins tags with commas)")
        if not tag.strip():
            raise UsageError("--tag: a tag cannot be empty")
    if request.retain_tags and not request.anonymize:
        raise UsageError("--retain-tag keeps one tag during anonymization; --retain-pii turns it off entirely")


def _metadata_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--metadata {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"--metadata {path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"--metadata {path} must hold a JSON object")
    return data


def _anonymizer(
    files: Sequence[LocalFile], request: UploadRequest, journal: UploadJournal, jobs: int
) -> ParallelAnonymizer | None:
    dicoms = sum(1 for f in files if f.is_dicom)
    if not request.anonymize or not dicoms:
        return None
    from neurofetch.anonymize import ParallelAnonymizer, parse_tag

    return ParallelAnonymizer(
        journal.anonymization_seed(), [parse_tag(t) for t in request.retain_tags], files=dicoms, jobs=jobs
    )


def _items(
    files: Sequence[LocalFile],
    request: UploadRequest,
    mung: list[int] | str | None,
    base_metadata: dict[str, Any],
    anonymizer: ParallelAnonymizer | None,
) -> list[UploadItem]:
    items = []
    for local in files:
        metadata, problem = dict(base_metadata), None
        if local.sidecar is not None:
            try:
                sidecar = json.loads(local.sidecar.read_text(encoding="utf-8"))
                if not isinstance(sidecar, dict):
                    raise ValueError("not a JSON object")
                metadata.update(sidecar)
            except (OSError, ValueError) as exc:
                problem = f"its sidecar {local.sidecar.name} is unusable ({exc})"
        modality = next((str(v) for k, v in metadata.items() if k.lower() == "modality" and v), None)
        prepare = functools.partial(anonymizer.anonymize_file, local.path) if anonymizer and local.is_dicom else None
        items.append(
            UploadItem(
                local,
                mung_name(local.source_path, mung),
                prepare=prepare,
                problem=problem,
                details={"metadata": metadata, "modality": modality},
            )
        )
    return items


async def _dry_run(
    items: list[UploadItem],
    request: UploadRequest,
    segmentation: Segmentation | None,
    journal: UploadJournal,
    control: RunControl,
) -> None:
    result = control.result
    run = UploadRun(journal=journal, target=None, policy=RetryPolicy(), control=control, shard=request.shard)
    await upload_all(items, run)
    result.extra["resources"] = dict(sorted(run.ids.items()))
    if segmentation is not None:
        result.planned.append(
            {"action": "attach segmentation", "path": str(request.segmentation), "names": segmentation.names}
        )


async def _run(
    url: str,
    http: HttpOptions,
    key: Secret,
    items: list[UploadItem],
    request: UploadRequest,
    segmentation: Segmentation | None,
    journal: UploadJournal,
    control: RunControl,
) -> None:
    async with make_client(http, auth=ApiKeyAuth(key)) as client:
        api = DatamintApi(client, url, policy_for(http))
        with control.signals():  # from the key check to the last project addition
            await control.guard(_steps(api, http.jobs, items, request, segmentation, journal, control))


async def _steps(
    api: DatamintApi,
    jobs: int,
    items: list[UploadItem],
    request: UploadRequest,
    segmentation: Segmentation | None,
    journal: UploadJournal,
    control: RunControl,
) -> None:
    result = control.result
    await api.check_key()
    pid = await project_id(api, request.project) if request.project else None
    run = UploadRun(
        journal=journal,
        target=DatamintTarget(api, request, files=len(items)),
        policy=api.policy,
        control=control,
        jobs=jobs,
        shard=request.shard,
    )
    try:
        await upload_all(items, run)
    finally:
        result.extra["resources"] = dict(sorted(run.ids.items()))
    if result.interrupted:
        return
    earlier = [i for i in run.ids.values() if i not in set(run.new_ids)]
    if (request.publish or pid) and earlier:
        await publish_ids(api, earlier, control)
    if pid is not None and run.ids:
        await add_to_project(api, pid, list(dict.fromkeys(run.ids.values())), result)
    if segmentation is not None:
        target = request.resource_id or next(iter(run.ids.values()), None)
        if target is not None:
            await attach_segmentation(api, journal, target, segmentation, result)


def _explain(discovery: Discovery, request: UploadRequest, result: RunResult) -> None:
    if discovery.folders_not_entered and not request.selection.recursive:
        result.messages.append(
            f"{discovery.folders_not_entered} subfolder(s) not entered: add -r to upload what is inside them"
        )
    if request.paths and not result.interrupted:
        result.warnings.extend(request.selection.ledger.warnings())
    if request.paths and not discovery.files:
        result.messages.append(
            "nothing to upload: no file matched (see `neurofetch upload --help` for the default exclusions)"
        )
