"""`neurofetch mirror DEST`: bring a whole study or collection into a local tree."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neurofetch.cli.common import (
    DryRunOption,
    ExcludeOption,
    IncludeOption,
    JobsOption,
    ShardOption,
    finish,
    global_options,
    load_profile,
    reporter_for,
)
from neurofetch.cli.options import (
    BwlimitOption,
    CandidateOption,
    ChannelOption,
    CollectionOption,
    DateFromOption,
    DateToOption,
    DoiOption,
    ManifestOption,
    MapTypeOption,
    MimetypeOption,
    ModalityOption,
    ProjectOption,
    SegmentsOption,
    StatusOption,
    TagOption,
    VisitOption,
    WaitOption,
    only_for,
)

MIRROR_EXAMPLES = """
    neurofetch mirror ~/data/preventad -p preventad --candidate 300001 --visit BL00
    neurofetch mirror ~/data/nv --service neurovault --collection 1952 --map-type 'Z map'
    neurofetch mirror ~/data/preventad --include '*.mnc' -q --json > result.json
"""


def register(app: typer.Typer) -> None:
    app.command("mirror", epilog=MIRROR_EXAMPLES)(mirror)


def mirror(
    ctx: typer.Context,
    dest: Annotated[Path, typer.Argument(metavar="DEST", help="Destination folder (created if missing).")],
    candidate: CandidateOption = None,
    visit: VisitOption = None,
    no_qc: Annotated[bool, typer.Option("--no-qc", help="LORIS: skip the <file>.qc.json records.")] = False,
    collection: CollectionOption = None,
    doi: DoiOption = None,
    map_type: MapTypeOption = None,
    modality: ModalityOption = None,
    channel: ChannelOption = None,
    status: StatusOption = None,
    tag: TagOption = None,
    project: ProjectOption = None,
    mimetype: MimetypeOption = None,
    date_from: DateFromOption = None,
    date_to: DateToOption = None,
    include: IncludeOption = None,
    exclude: ExcludeOption = None,
    jobs: JobsOption = None,
    dry_run: DryRunOption = False,
    verify: Annotated[bool, typer.Option("--verify", help="Re-hash every local file against the journal first; "
                                                          "changed or missing files are reported (exit 6) "
                                                          "and fetched again.")] = False,
    verify_only: Annotated[bool, typer.Option("--verify-only", help="Like --verify, but fetch nothing.")] = False,
    shard: ShardOption = None,
    from_manifest: ManifestOption = None,
    segments: SegmentsOption = None,
    bwlimit: BwlimitOption = None,
    wait: WaitOption = None,
) -> None:
    """Mirror a service into DEST. LORIS: DEST/<CandID>/<Visit>/<file> with candidate.json,
    session.json and <file>.qc.json beside them. NeuroVault: DEST/collection-<id>/<file> with
    collection.json and <file>.json beside them. Datamint: DEST/<channel>/<id>_<filename> with
    <id>_<filename>.json beside it. Re-running fetches only what is missing."""
    from neurofetch.errors import UsageError
    from neurofetch.transfer.filters import NameFilter
    from neurofetch.transfer.mirror import MirrorOptions
    from neurofetch.transfer.shard import Shard

    profile = load_profile(ctx, jobs=jobs, bwlimit=bwlimit, wait=wait, segments=segments)
    names = NameFilter(tuple(include or ()), tuple(exclude or ()))
    only_for(profile.service, {
        "loris": {"--candidate": candidate, "--visit": visit, "--no-qc": no_qc},
        "neurovault": {"--collection": collection, "--doi": doi, "--map-type": map_type, "--modality": modality},
        "datamint": {"--channel": channel, "--status": status, "--tag": tag, "--project": project,
                     "--mimetype": mimetype, "--from": date_from, "--to": date_to},
    })
    manifest = None
    if from_manifest is not None:
        from neurofetch.operations.ls import load_manifest

        manifest = load_manifest(from_manifest, profile.service, profile.url)
    options = MirrorOptions(dest=dest, dry_run=dry_run, verify=verify, verify_only=verify_only,
                            shard=Shard.parse(shard) if shard else None, filters=names.ledger, manifest=manifest)
    if profile.service == "loris":
        from neurofetch.operations.loris import mirror_loris
        from neurofetch.services.loris import LorisSelection

        candidates, visits = tuple(candidate or ()), tuple(visit or ())
        if manifest is not None:   # list only the candidates and visits the manifest's rows are in
            candidates = candidates or tuple(sorted(manifest.values["candid"] - {""}))
            visits = visits or tuple(sorted(manifest.values["visit"] - {""}))
        selection = LorisSelection(candidates, visits, names, qc=not no_qc)
        result = mirror_loris(profile, selection, options, reporter=reporter_for(ctx, profile),
                              no_input=global_options(ctx).no_input)
    elif profile.service == "neurovault":
        from neurofetch.operations.neurovault import mirror_neurovault, neurovault_selection

        nv = neurovault_selection(collection or (), doi or (), map_types=map_type or (), modalities=modality or (),
                                  names=names)
        result = mirror_neurovault(profile, nv, options, reporter=reporter_for(ctx, profile))
    elif profile.service == "datamint":
        from neurofetch.operations.datamint import datamint_selection, mirror_datamint

        dm = datamint_selection(channel=channel, status=status, tags=tag or (), projects=project or (),
                                mimetype=mimetype, date_from=date_from, date_to=date_to, names=names)
        result = mirror_datamint(profile, dm, options, reporter=reporter_for(ctx, profile),
                                 no_input=global_options(ctx).no_input)
    else:
        raise UsageError(f"mirror is not available for {profile.service} profiles")
    finish(ctx, result)

