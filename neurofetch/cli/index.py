"""`neurofetch index DEST`: one table of a local mirror, its sha256sum manifest, or a BagIt bag of it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neurofetch.cli.common import finish, global_options

INDEX_EXAMPLES = """
    neurofetch index ~/data/preventad -o preventad.parquet
    neurofetch index ~/data/preventad --format sha256sum -o ~/data/preventad/SHA256SUMS
    neurofetch index ~/data/preventad --verify --bagit ~/bags/preventad
"""


def register(app: typer.Typer) -> None:
    app.command("index", epilog=INDEX_EXAMPLES)(index)


def index(
    ctx: typer.Context,
    dest: Annotated[Path, typer.Argument(metavar="DEST", help="A folder neurofetch mirrored into.")],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            help="table | tsv | csv | jsonl | json | parquet | sha256sum "
            "(default: from -o's suffix, else a table on a terminal "
            "and TSV otherwise).",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="FILE", help="Write the table here instead of stdout.")
    ] = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Re-hash every file against the journal first; a changed or missing file is exit 6, naming it.",
        ),
    ] = False,
    bagit: Annotated[
        Path | None,
        typer.Option(
            "--bagit",
            metavar="BAGDIR",
            help="Also make a BagIt bag at BAGDIR (new, outside DEST) of hard "
            "links to DEST's files; DEST keeps its layout.",
        ),
    ] = None,
) -> None:
    """One row per mirrored file: path, size, sha256, service, source_url, fetched_at and the service's
    metadata (LORIS candidate/session/QC, NeuroVault image records, Allen image records, Datamint resource
    records). `--format sha256sum -o DEST/SHA256SUMS` writes what `sha256sum -c` checks from DEST."""
    from neurofetch import api
    from neurofetch.ui.index_output import index_format, write_index

    options = global_options(ctx)
    chosen = index_format(fmt, output)
    result = api.RunResult("index")
    rows = api.index(dest, verify=verify)
    if verify:
        result.add("verified", len(rows))
    result.add("indexed", len(rows))
    result.bytes = sum(row.size for row in rows)
    if bagit is not None:
        made = api.bag(dest, rows, bagit)
        result.extra["bag"] = str(made.path)
        result.messages.append(f"BagIt bag of {made.files} files at {made.path}")
        if made.copied:
            result.messages.append(
                f"{made.copied} files were copied into the bag: a hard link across file systems is impossible"
            )
    records = [row.to_dict() for row in rows]
    if options.json and output is None:
        result.extra["files"] = records
    else:
        write_index(api.index_columns(records), records, chosen, output, no_color=options.no_color)
        if output is not None:
            result.extra["output"] = str(output)
    finish(ctx, result)
