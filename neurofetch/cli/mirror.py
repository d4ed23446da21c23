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


def register(app: typer.Typer) -> None:
    app.command("mirror")(mirror)


def mirror(
    ctx: typer.Context,
    dest: Annotated[Path, typer.Argument(help="Destination folder (created if missing).")],
    candidate: Annotated[list[str] | None, typer.Option("--candidate", metavar="CANDID",
                                                        help="LORIS: only this candidate (repeatable).")] = None,
    visit: Annotated[list[str] | None, typer.Option("--visit", metavar="LABEL",
                                                    help="LORIS: only this visit label (repeatable).")] = None,
    no_qc: Annotated[bool, typer.Option("--no-qc", help="LORIS: skip the <file>.qc.json records.")] = False,
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
    session.json and <file>.qc.json beside them. Re-running fetches only what is missing."""
    from neurofetch.errors import UsageError
    from neurofetch.transfer.filters import NameFilter
    from neurofetch.transfer.mirror import MirrorOptions
    from neurofetch.transfer.shard import Shard

    profile = load_profile(ctx, jobs=jobs)
    options = MirrorOptions(dest=dest, dry_run=dry_run, verify=verify, verify_only=verify_only,
                            shard=Shard.parse(shard) if shard else None)
    names = NameFilter(tuple(include or ()), tuple(exclude or ()))
    if profile.service == "loris":
        from neurofetch.operations.loris import mirror_loris
        from neurofetch.services.loris import LorisSelection

        selection = LorisSelection(tuple(candidate or ()), tuple(visit or ()), names, qc=not no_qc)
        result = mirror_loris(profile, selection, options, reporter=reporter_for(ctx),
                              no_input=global_options(ctx).no_input)
    else:
        raise UsageError(f"mirror is not available for {profile.service} profiles")
    finish(ctx, result)
