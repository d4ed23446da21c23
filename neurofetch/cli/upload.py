"""`neurofetch upload PATH...`: files and folders to a Datamint-style platform."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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
    run_result,
)
from neurofetch.cli.options import BwlimitOption, WaitOption

# Kept in step with transfer/local_files.py (importing it here would slow down --help).
UPLOAD_HELP = """Upload files and folders to a Datamint-style platform, resumably.

Each file is sent once: a journal in the user state folder records its content hash and resource id,
so a re-run (or a run resumed after a crash) sends only what is missing. DICOM files are de-identified
locally before any byte leaves (DICOM PS3.15 basic profile: names, ids, dates shifted, addresses,
institutions, free text, private tags, nested sequences; UIDs remapped consistently), unless --retain-pii.

The path sent as source_filepath is relative to what you named: `upload study1 -r` sends
study1/sub-01/a.dcm, never /home/you/.... With --mung-filename 1,2 the filename sent joins folders of
that path (1 = the folder you named, 2 = the next one) with the file name: study1_sub-01_a.dcm; `all`
joins every part.

Skipped by default (--no-default-exclusions lifts this; an explicit --include wins over it): *.txt
*.json *.xml *.doc(x) *.pdf *.xls(x) *.csv *.tsv *.log *.ini *.cfg *.conf *.yaml *.yml *.md *.rst *.html
*.htm *.exe *.bat *.sh *.py *.pyc *.js *.css *.sql *.bak *.tmp *.temp *.lock *.zip, DICOMDIR, README*,
LICENSE*, Thumbs.db, desktop.ini, ~*, hidden files and folders, __pycache__, __MACOSX, and files
without an extension unless they are DICOM. A NIfTI volume's <name>.json sidecar is sent as its
metadata, not as a file.
"""


UPLOAD_EXAMPLES = """
    neurofetch upload scans/ -r --channel study1 -p datamint
    neurofetch upload study1 -r --mung-filename 1,2 --tag ct --dry-run
    neurofetch upload brain.nii.gz --segmentation brain_seg.nii.gz --segmentation-name tumor
"""


def register(app: typer.Typer) -> None:
    app.command("upload", epilog=UPLOAD_EXAMPLES, help=UPLOAD_HELP)(upload)


def upload(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None, typer.Argument(metavar="PATH...", help="Files and folders to upload.", show_default=False)
    ] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Go into subfolders.")] = False,
    include: IncludeOption = None,
    exclude: ExcludeOption = None,
    no_default_exclusions: Annotated[
        bool, typer.Option("--no-default-exclusions", help="Also send the files skipped by default.")
    ] = False,
    channel: Annotated[
        str | None, typer.Option("--channel", metavar="NAME", help="Channel to group the uploads in.")
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", metavar="TAG", help="Tag every upload (repeatable; no commas).")
    ] = None,
    metadata: Annotated[
        Path | None, typer.Option("--metadata", metavar="FILE", help="JSON object sent as every file's metadata.")
    ] = None,
    mung_filename: Annotated[
        str | None,
        typer.Option("--mung-filename", metavar="all|1,2,...", help="Name files after their folders (see above)."),
    ] = None,
    publish: Annotated[bool, typer.Option("--publish", help="Publish at once (skip the inbox).")] = False,
    project: Annotated[str | None, typer.Option("--project", metavar="NAME", help="Publish into this project.")] = None,
    retain_pii: Annotated[
        bool, typer.Option("--retain-pii", help="Send DICOM files as they are: no de-identification.")
    ] = False,
    retain_tag: Annotated[
        list[str] | None,
        typer.Option("--retain-tag", metavar='"(GGGG,EEEE)"', help="Keep this DICOM tag as it is (repeatable)."),
    ] = None,
    segmentation: Annotated[
        Path | None,
        typer.Option(
            "--segmentation",
            metavar="PATH",
            help="NIfTI label volume or PNG mask to attach to the uploaded file (or to --resource-id).",
        ),
    ] = None,
    segmentation_name: Annotated[
        str | None, typer.Option("--segmentation-name", metavar="NAME", help="Name of label 1 of --segmentation.")
    ] = None,
    segmentation_names: Annotated[
        Path | None,
        typer.Option(
            "--segmentation-names", metavar="FILE", help="YAML/JSON mapping label values to names (1: tumor)."
        ),
    ] = None,
    resource_id: Annotated[
        str | None, typer.Option("--resource-id", metavar="ID", help="Attach --segmentation to this uploaded resource.")
    ] = None,
    jobs: JobsOption = None,
    dry_run: DryRunOption = False,
    shard: ShardOption = None,
    bwlimit: BwlimitOption = None,
    wait: WaitOption = None,
) -> None:
    from neurofetch import api

    options = global_options(ctx)
    profile = load_profile(ctx, jobs=jobs, only_service="datamint", bwlimit=bwlimit, wait=wait)
    result = run_result(
        lambda: api.upload(
            paths or (),
            profile=profile,
            recursive=recursive,
            include=include,
            exclude=exclude,
            no_default_exclusions=no_default_exclusions,
            channel=channel,
            tag=tag,
            metadata=metadata,
            mung_filename=mung_filename,
            publish=publish,
            project=project,
            retain_pii=retain_pii,
            retain_tag=retain_tag,
            segmentation=segmentation,
            segmentation_name=segmentation_name,
            segmentation_names=segmentation_names,
            resource_id=resource_id,
            dry_run=dry_run,
            shard=shard,
            no_input=options.no_input,
            reporter=reporter_for(ctx, profile),
        )
    )
    if dry_run and not options.json:
        for entry in result.planned:
            entry["path"] = _describe(entry)
    finish(ctx, result)


def _describe(entry: dict[str, Any]) -> str:
    """One dry-run line: what is sent, under which name, de-identified or not, how big."""
    from neurofetch.ui.text import human_bytes

    if entry.get("action") != "upload":
        return str(entry.get("path", ""))
    path = str(entry["path"])
    text = path if entry["name"] == path.rsplit("/", 1)[-1] else f"{path} as {entry['name']}"
    if entry.get("anonymize"):
        text += ", de-identified first"
    return f"{text} ({human_bytes(entry['bytes'])})"
