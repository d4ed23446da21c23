"""`upload` and `publish`: local files to a Datamint-style platform, and its inbox to published."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from neurofetch.api.runner import given_secret, names, one_service_profile, run_engine
from neurofetch.errors import UsageError

if TYPE_CHECKING:
    from neurofetch.credentials import Secret
    from neurofetch.settings import Profile
    from neurofetch.transfer.events import Reporter
    from neurofetch.transfer.results import RunResult

Names = Sequence[str] | str | None


def upload(
    paths: Sequence[str | Path] | str | Path = (),
    *,
    profile: str | Profile | None = None,
    url: str | None = None,
    config: str | None = None,
    api_key: str | None = None,
    recursive: bool = False,
    include: Names = None,
    exclude: Names = None,
    no_default_exclusions: bool = False,
    channel: str | None = None,
    tag: Names = None,
    metadata: str | Path | None = None,
    mung_filename: str | None = None,
    publish: bool = False,
    project: str | None = None,
    retain_pii: bool = False,
    retain_tag: Names = None,
    segmentation: str | Path | None = None,
    segmentation_name: str | None = None,
    segmentation_names: str | Path | None = None,
    resource_id: str | None = None,
    jobs: int | None = None,
    dry_run: bool = False,
    shard: str | None = None,
    bwlimit: str | int | None = None,
    wait: str | float | None = None,
    no_input: bool = True,
    progress: bool = True,
    reporter: Reporter | None = None,
    state_root: str | Path | None = None,
) -> RunResult:
    """Upload files and folders (DICOM de-identified locally unless ``retain_pii``); a re-run sends only what is
    new. ``result.extra["resources"]`` maps each source path to its resource id."""
    from neurofetch.services.datamint.upload import UploadRequest
    from neurofetch.services.datamint.upload import upload as run_upload
    from neurofetch.settings import default_state_root
    from neurofetch.transfer.local_files import FileSelection
    from neurofetch.transfer.shard import Shard
    from neurofetch.ui.text import upload_plan

    chosen = _datamint(profile, url, config, jobs, "upload", bwlimit=bwlimit, wait=wait)
    given = [paths] if isinstance(paths, (str, Path)) else list(paths)
    request = UploadRequest(
        paths=tuple(Path(p) for p in given),
        selection=FileSelection(
            recursive=recursive,
            include=names(include),
            exclude=names(exclude),
            default_exclusions=not no_default_exclusions,
        ),
        channel=channel,
        tags=names(tag),
        metadata_file=_path(metadata),
        mung=mung_filename,
        publish=publish,
        project=project,
        anonymize=not retain_pii,
        retain_tags=names(retain_tag),
        segmentation=_path(segmentation),
        segmentation_name=segmentation_name,
        segmentation_names=_label_names(_path(segmentation_names)),
        resource_id=resource_id,
        dry_run=dry_run,
        shard=Shard.parse(shard) if shard else None,
    )
    root = _path(state_root) or default_state_root()

    def run(events: Reporter) -> RunResult:
        result = run_upload(
            chosen.url,
            chosen.http,
            request,
            lambda: _key(chosen, api_key, no_input),
            state_root=root,
            wait=chosen.wait,
            reporter=events,
        )
        if dry_run:
            result.messages.append(upload_plan(result.planned, result.bytes))
        return result

    return run_engine(run, progress=progress, reporter=reporter, bwlimit=chosen.bwlimit)


def publish(
    resource_ids: Sequence[str] | str = (),
    *,
    profile: str | Profile | None = None,
    url: str | None = None,
    config: str | None = None,
    api_key: str | None = None,
    channel: str | None = None,
    all_inbox: bool = False,
    project: str | None = None,
    no_input: bool = True,
    progress: bool = False,
    reporter: Reporter | None = None,
) -> RunResult:
    """Publish resources by id, by channel or the whole inbox, optionally into a project; already published
    ones are counted as such (publishing twice is harmless)."""
    from neurofetch.services.datamint.publish import PublishRequest, check_request
    from neurofetch.services.datamint.publish import publish as run_publish

    chosen = _datamint(profile, url, config, None, "publish")
    request = PublishRequest(resource_ids=names(resource_ids), channel=channel, all_inbox=all_inbox, project=project)
    check_request(request)
    key = _key(chosen, api_key, no_input)
    return run_engine(
        lambda events: run_publish(chosen.url, chosen.http, request, reporter=events, key=key),
        progress=progress,
        reporter=reporter,
    )


def _datamint(
    profile: str | Profile | None,
    url: str | None,
    config: str | None,
    jobs: int | None,
    command: str,
    *,
    bwlimit: str | int | None = None,
    wait: str | float | None = None,
) -> Profile:
    """The Datamint-only commands assume ``service: datamint`` when nothing is chosen, so the official client's
    DATAMINT_API_URL / DATAMINT_API_KEY setups just work."""
    return one_service_profile(command, "datamint", profile, url, config=config, jobs=jobs, bwlimit=bwlimit, wait=wait)


def _key(profile: Profile, api_key: str | None, no_input: bool) -> Secret:
    from neurofetch.credentials.datamint import api_key_for

    return given_secret(api_key) or api_key_for(profile, no_input=no_input)


def _label_names(path: Path | None) -> dict[str, str] | None:
    """--segmentation-names FILE: YAML or JSON ``{1: tumor, 2: edema}``, or ``1,tumor`` lines."""
    if path is None:
        return None
    from neurofetch.services.datamint.segmentation import label_names
    from neurofetch.settings import parse_yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--segmentation-names {path}: {exc.strerror or exc}") from None
    return label_names(parse_yaml(text), text, str(path))


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value).expanduser()
