"""`mirror` and `atlas-image`: a service's files into a local tree. The choice of the service's crawl is here."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from neurofetch.api.runner import choose_profile, given_secret, names, one_service_profile, run_engine
from neurofetch.errors import UsageError

if TYPE_CHECKING:
    from neurofetch.credentials import Secret
    from neurofetch.net.retry import RetryPolicy
    from neurofetch.services.allen import AtlasImageRequest
    from neurofetch.settings import Profile
    from neurofetch.transfer.events import Reporter
    from neurofetch.transfer.filters import NameFilter
    from neurofetch.transfer.listing import Manifest
    from neurofetch.transfer.mirror import MirrorOptions, Source
    from neurofetch.transfer.results import RunResult

Names = Sequence[str] | str | None


def mirror(
    dest: str | Path,
    *,
    profile: str | Profile | None = None,
    url: str | None = None,
    service: str | None = None,
    config: str | None = None,
    username: str | None = None,
    password: str | None = None,
    api_key: str | None = None,
    candidate: Names = None,
    visit: Names = None,
    no_qc: bool = False,
    since: str | None = None,
    bids: bool = False,
    datatype: Names = None,
    suffix: Names = None,
    collection: Names = None,
    doi: Names = None,
    map_type: Names = None,
    modality: Names = None,
    channel: str | None = None,
    status: str | None = None,
    tag: Names = None,
    project: Names = None,
    mimetype: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    include: Names = None,
    exclude: Names = None,
    jobs: int | None = None,
    shard: str | None = None,
    dry_run: bool = False,
    verify: bool = False,
    verify_only: bool = False,
    from_manifest: str | Path | None = None,
    segments: int | None = None,
    bwlimit: str | int | None = None,
    wait: str | float | None = None,
    no_input: bool = True,
    progress: bool = True,
    reporter: Reporter | None = None,
) -> RunResult:
    """Mirror a LORIS study, NeuroVault collections or Datamint resources into ``dest``; what is complete is
    skipped. Raises Interrupted (with ``.result``) on Ctrl-C, the errors of neurofetch.errors otherwise."""
    from neurofetch.transfer.filters import NameFilter

    chosen = choose_profile(
        profile,
        url,
        service,
        config=config,
        jobs=jobs,
        username=username,
        bwlimit=bwlimit,
        wait=wait,
        segments=segments,
    )
    filters = NameFilter(names(include), names(exclude))
    manifest = _manifest(from_manifest, chosen)
    options = _options(
        Path(dest), filters, manifest, chosen, dry_run=dry_run, verify=verify, verify_only=verify_only, shard=shard
    )
    if chosen.service == "loris":
        source = _loris(
            chosen,
            names(candidate),
            names(visit),
            not no_qc,
            filters,
            manifest,
            no_input,
            given_secret(password),
            since=since,
            bids=bids,
            datatypes=names(datatype),
            suffixes=names(suffix),
        )
    elif chosen.service == "neurovault":
        from neurofetch.services.neurovault import NeuroVaultSource, neurovault_selection

        selection = neurovault_selection(
            names(collection), names(doi), map_types=names(map_type), modalities=names(modality), names=filters
        )
        source = NeuroVaultSource(chosen.url, selection, _policy(chosen))
    elif chosen.service == "datamint":
        from neurofetch.services.datamint.mirror import DatamintSource, datamint_selection

        dm = datamint_selection(
            channel=channel,
            status=status,
            tags=names(tag),
            projects=names(project),
            mimetype=mimetype,
            date_from=date_from,
            date_to=date_to,
            names=filters,
        )
        source = DatamintSource(chosen.url, _api_key(chosen, api_key, no_input), dm, _policy(chosen))
    else:
        raise UsageError(f"mirror is not available for {chosen.service} profiles")
    return _run("mirror", source, chosen, options, progress, reporter)


def atlas_image(
    out: str | Path,
    request: AtlasImageRequest,
    *,
    profile: str | Profile | None = None,
    url: str | None = None,
    config: str | None = None,
    jobs: int | None = None,
    shard: str | None = None,
    dry_run: bool = False,
    from_manifest: str | Path | None = None,
    segments: int | None = None,
    bwlimit: str | int | None = None,
    wait: str | float | None = None,
    progress: bool = True,
    reporter: Reporter | None = None,
) -> RunResult:
    """Download the Allen Brain Map images ``request`` names into ``out`` (the public API by default)."""
    from neurofetch.services.allen import AllenSource

    chosen = one_service_profile(
        "atlas-image", "allen", profile, url, config=config, jobs=jobs, bwlimit=bwlimit, wait=wait, segments=segments
    )
    if request.empty:
        raise UsageError(
            "nothing to download: give IMAGE_ID arguments, --atlas-images ATLAS_ID or --section-data-set ID"
        )
    options = _options(Path(out), None, _manifest(from_manifest, chosen), chosen, dry_run=dry_run, shard=shard)
    return _run("atlas-image", AllenSource(chosen.url, request), chosen, options, progress, reporter)


def _options(
    dest: Path,
    filters: NameFilter | None,
    manifest: Manifest | None,
    profile: Profile,
    *,
    dry_run: bool = False,
    verify: bool = False,
    verify_only: bool = False,
    shard: str | None = None,
) -> MirrorOptions:
    from neurofetch.transfer.mirror import MirrorOptions
    from neurofetch.transfer.shard import Shard

    return MirrorOptions(
        dest=dest.expanduser(),
        dry_run=dry_run,
        verify=verify,
        verify_only=verify_only,
        shard=Shard.parse(shard) if shard else None,
        filters=filters.ledger if filters is not None else None,
        manifest=manifest,
        segments=profile.segments,
        wait=profile.wait,
    )


def _run(
    command: str, source: Source, profile: Profile, options: MirrorOptions, progress: bool, reporter: Reporter | None
) -> RunResult:
    from neurofetch.transfer.mirror import run_mirror

    return run_engine(
        lambda events: run_mirror(command, source, profile.service, profile.http, options, events),
        progress=progress,
        reporter=reporter,
        bwlimit=profile.bwlimit,
    )


def _loris(
    profile: Profile,
    candidates: tuple[str, ...],
    visits: tuple[str, ...],
    qc: bool,
    filters: NameFilter,
    manifest: Manifest | None,
    no_input: bool,
    password: Secret | None,
    *,
    since: str | None = None,
    bids: bool = False,
    datatypes: Sequence[str] = (),
    suffixes: Sequence[str] = (),
) -> Source:
    from neurofetch.credentials.loris import loris_api, loris_source, mirror_auth
    from neurofetch.services.loris.bids import BidsSelection, LorisBidsSource, bids_selection
    from neurofetch.services.loris.selection import parse_since
    from neurofetch.services.loris.source import LorisSelection

    if manifest is not None:  # list only the candidates and visits the manifest's rows are in
        candidates = candidates or tuple(sorted(manifest.values["candid"] - {""}))
        visits = visits or tuple(sorted(manifest.values["visit"] - {""}))
    selection = bids_selection(
        LorisSelection(candidates, visits, filters, qc=qc, since=parse_since(since) if since is not None else None),
        bids=bids,
        datatypes=datatypes,
        suffixes=suffixes,
        manifest=manifest is not None,
    )
    if isinstance(selection, BidsSelection):
        api = loris_api(profile)
        auth = mirror_auth(profile, no_input=no_input, password=password, api=api)
        return LorisBidsSource(api, auth, selection, _policy(profile))
    return loris_source(profile, selection, no_input=no_input, password=password)


def _api_key(profile: Profile, api_key: str | None, no_input: bool) -> Secret:
    from neurofetch.credentials.datamint import api_key_for

    return given_secret(api_key) or api_key_for(profile, no_input=no_input)


def _policy(profile: Profile) -> RetryPolicy:
    from neurofetch.net.http import policy_for

    return policy_for(profile.http)


def _manifest(path: str | Path | None, profile: Profile) -> Manifest | None:
    if path is None:
        return None
    from neurofetch.api.listing import load_manifest

    return load_manifest(Path(path), profile.service, profile.url)
