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
    finish_run,
    global_options,
    load_profile,
    reporter_for,
)
from neurofetch.cli.options import (
    BidsOption,
    BwlimitOption,
    CandidateOption,
    ChannelOption,
    CollectionOption,
    DatatypeOption,
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
    SuffixOption,
    TagOption,
    VisitOption,
    WaitOption,
    only_for,
)

MIRROR_EXAMPLES = """
    neurofetch mirror ~/data/preventad -p preventad --candidate 300001 --visit BL00
    neurofetch mirror ~/data/nv --service neurovault --collection 1952 --map-type 'Z map'
    neurofetch mirror ~/data/loris -p lab --since last --include '*.mnc' -q --json > result.json
"""


def register(app: typer.Typer) -> None:
    app.command("mirror", epilog=MIRROR_EXAMPLES)(mirror)


def mirror(
    ctx: typer.Context,
    dest: Annotated[Path, typer.Argument(metavar="DEST", help="Destination folder (created if missing).")],
    candidate: CandidateOption = None,
    visit: VisitOption = None,
    no_qc: Annotated[bool, typer.Option("--no-qc", help="LORIS: skip the <file>.qc.json records.")] = False,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="DATE|last",
            help="LORIS: list only the files inserted after DATE (2024-05-01, or a date and time in ISO 8601; "
            "local time without a zone), or after the start of the last complete run into DEST (last). Needs a "
            "server whose project images take ?since= (API v0.0.4-dev); elsewhere everything is listed, "
            "with a warning.",
        ),
    ] = None,
    bids: BidsOption = False,
    datatype: DatatypeOption = None,
    suffix: SuffixOption = None,
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
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Re-hash every local file against the journal first; "
            "changed or missing files are reported (exit 6) "
            "and fetched again.",
        ),
    ] = False,
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
    from neurofetch import api

    profile = load_profile(ctx, jobs=jobs, bwlimit=bwlimit, wait=wait, segments=segments)
    only_for(
        profile.service,
        {
            "loris": {
                "--candidate": candidate,
                "--visit": visit,
                "--no-qc": no_qc,
                "--since": since,
                "--bids": bids,
                "--datatype": datatype,
                "--suffix": suffix,
            },
            "neurovault": {"--collection": collection, "--doi": doi, "--map-type": map_type, "--modality": modality},
            "datamint": {
                "--channel": channel,
                "--status": status,
                "--tag": tag,
                "--project": project,
                "--mimetype": mimetype,
                "--from": date_from,
                "--to": date_to,
            },
        },
    )
    finish_run(
        ctx,
        lambda: api.mirror(
            dest,
            profile=profile,
            candidate=candidate,
            visit=visit,
            no_qc=no_qc,
            since=since,
            bids=bids,
            datatype=datatype,
            suffix=suffix,
            collection=collection,
            doi=doi,
            map_type=map_type,
            modality=modality,
            channel=channel,
            status=status,
            tag=tag,
            project=project,
            mimetype=mimetype,
            date_from=date_from,
            date_to=date_to,
            include=include,
            exclude=exclude,
            shard=shard,
            dry_run=dry_run,
            verify=verify,
            verify_only=verify_only,
            from_manifest=from_manifest,
            no_input=global_options(ctx).no_input,
            reporter=reporter_for(ctx, profile),
        ),
    )
