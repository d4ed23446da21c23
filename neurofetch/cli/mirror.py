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
    candidate: Annotated[list[str] | None, typer.Option("--candidate", metavar="CANDID",
                                                        help="LORIS: only this candidate (repeatable).")] = None,
    visit: Annotated[list[str] | None, typer.Option("--visit", metavar="LABEL",
                                                    help="LORIS: only this visit label (repeatable).")] = None,
    no_qc: Annotated[bool, typer.Option("--no-qc", help="LORIS: skip the <file>.qc.json records.")] = False,
    collection: Annotated[list[str] | None, typer.Option("--collection", metavar="ID",
                                                         help="NeuroVault: this collection (repeatable).")] = None,
    doi: Annotated[list[str] | None, typer.Option("--doi", metavar="DOI",
                                                  help="NeuroVault: the collections of this paper's DOI "
                                                       "(repeatable).")] = None,
    map_type: Annotated[list[str] | None, typer.Option("--map-type", metavar="TYPE",
                                                       help='NeuroVault: only images of this map type, e.g. '
                                                            '"Z map" (repeatable).')] = None,
    modality: Annotated[list[str] | None, typer.Option("--modality", metavar="NAME",
                                                       help='NeuroVault: only images of this modality, e.g. '
                                                            '"fMRI-BOLD" (repeatable).')] = None,
    channel: Annotated[str | None, typer.Option("--channel", metavar="NAME",
                                                help="Datamint: only this channel.")] = None,
    status: Annotated[str | None, typer.Option("--status", metavar="inbox|published",
                                               help="Datamint: only resources in this state.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", metavar="TAG",
                                                  help="Datamint: only resources with this tag (repeatable; "
                                                       "any of them).")] = None,
    project: Annotated[list[str] | None, typer.Option("--project", metavar="NAME",
                                                      help="Datamint: only resources of this project "
                                                           "(repeatable).")] = None,
    mimetype: Annotated[str | None, typer.Option("--mimetype", metavar="TYPE",
                                                 help="Datamint: only this mimetype, e.g. application/dicom.")] = None,
    date_from: Annotated[str | None, typer.Option("--from", metavar="YYYY-MM-DD",
                                                  help="Datamint: uploaded on or after this date.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", metavar="YYYY-MM-DD",
                                                help="Datamint: uploaded before this date.")] = None,
    include: IncludeOption = None,
    exclude: ExcludeOption = None,
    jobs: JobsOption = None,
    dry_run: DryRunOption = False,
    verify: Annotated[bool, typer.Option("--verify", help="Re-hash every local file against the journal first; "
                                                          "changed or missing files are reported (exit 6) "
                                                          "and fetched again.")] = False,
    verify_only: Annotated[bool, typer.Option("--verify-only", help="Like --verify, but fetch nothing.")] = False,
    shard: ShardOption = None,
) -> None:
    """Mirror a service into DEST. LORIS: DEST/<CandID>/<Visit>/<file> with candidate.json,
    session.json and <file>.qc.json beside them. NeuroVault: DEST/collection-<id>/<file> with
    collection.json and <file>.json beside them. Datamint: DEST/<channel>/<id>_<filename> with
    <id>_<filename>.json beside it. Re-running fetches only what is missing."""
    from neurofetch.errors import UsageError
    from neurofetch.transfer.filters import NameFilter
    from neurofetch.transfer.mirror import MirrorOptions
    from neurofetch.transfer.shard import Shard

    profile = load_profile(ctx, jobs=jobs)
    names = NameFilter(tuple(include or ()), tuple(exclude or ()))
    options = MirrorOptions(dest=dest, dry_run=dry_run, verify=verify, verify_only=verify_only,
                            shard=Shard.parse(shard) if shard else None, filters=names.ledger)
    _only_for(profile.service, {
        "loris": {"--candidate": candidate, "--visit": visit, "--no-qc": no_qc},
        "neurovault": {"--collection": collection, "--doi": doi, "--map-type": map_type, "--modality": modality},
        "datamint": {"--channel": channel, "--status": status, "--tag": tag, "--project": project,
                     "--mimetype": mimetype, "--from": date_from, "--to": date_to},
    })
    if profile.service == "loris":
        from neurofetch.operations.loris import mirror_loris
        from neurofetch.services.loris import LorisSelection

        selection = LorisSelection(tuple(candidate or ()), tuple(visit or ()), names, qc=not no_qc)
        result = mirror_loris(profile, selection, options, reporter=reporter_for(ctx),
                              no_input=global_options(ctx).no_input)
    elif profile.service == "neurovault":
        from neurofetch.operations.neurovault import mirror_neurovault, neurovault_selection

        nv = neurovault_selection(collection or (), doi or (), map_types=map_type or (), modalities=modality or (),
                                  names=names)
        result = mirror_neurovault(profile, nv, options, reporter=reporter_for(ctx))
    elif profile.service == "datamint":
        from neurofetch.operations.datamint import datamint_selection, mirror_datamint

        dm = datamint_selection(channel=channel, status=status, tags=tag or (), projects=project or (),
                                mimetype=mimetype, date_from=date_from, date_to=date_to, names=names)
        result = mirror_datamint(profile, dm, options, reporter=reporter_for(ctx),
                                 no_input=global_options(ctx).no_input)
    else:
        raise UsageError(f"mirror is not available for {profile.service} profiles")
    finish(ctx, result)


def _only_for(service: str, options_by_service: dict[str, dict[str, object]]) -> None:
    """Options of one service given to a profile of another are a usage error, not silently ignored."""
    from neurofetch.errors import UsageError

    for owner, options in options_by_service.items():
        given = [flag for flag, value in options.items() if value]
        if owner != service and given:
            raise UsageError(f"{', '.join(given)}: only for {owner} profiles; this profile is {service}")
