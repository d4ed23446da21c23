"""`neurofetch emulate neurovault`: the NeuroVault emulator in the foreground."""

from __future__ import annotations

from typing import Annotated

import typer

from neurofetch.cli.emulate import FaultsOption, PortOption, SeedOption, emulate_app, parse_faults, run_emulator

IgnoreFiltersOption = Annotated[bool, typer.Option(
    "--ignore-filters", help="Ignore ?DOI=, ?name= and ?owner= on /api/collections/ and list every collection, "
    "as the real server may (reference/neurovault.md §3).")]
ShuffleOption = Annotated[bool, typer.Option(
    "--shuffle", help="Reorder /api/collections/ and /api/images/ on every request (no ORDER BY on the real server).")]
FileEncodingOption = Annotated[str, typer.Option(
    "--file-encoding", metavar="ENCODING",
    help="Content-Encoding header of image files: utf-8 (like neurovault.org), gzip (to catch "
    "clients that let the HTTP library gunzip .nii.gz files) or none.")]


@emulate_app.command("neurovault", epilog="""
    neurofetch emulate neurovault --port 8766
    neurofetch emulate neurovault --collections 3 --page-size 10
""")
def emulate_neurovault(
    port: PortOption = 8767,
    faults: FaultsOption = "",
    seed: SeedOption = 0,
    ignore_filters: IgnoreFiltersOption = False,
    shuffle: ShuffleOption = False,
    file_encoding: FileEncodingOption = "utf-8",
    collections: Annotated[int, typer.Option("--collections", min=1, metavar="N",
                                             help="Number of public collections.")] = 6,
    page_size: Annotated[int, typer.Option(
        "--page-size", min=1, metavar="N",
        help="Default page size (limit) of the lists; the reference's is 100.")] = 100,
) -> None:
    """Run a NeuroVault emulator: /api/collections/, /api/images/ and .nii.gz files under /media/images/.

    Synthetic collections: one has DOI 10.1016/j.neurobiolaging.2012.11.002, one spans two pages.

    Reads are anonymous, like neurovault.org. The first line printed is the base URL.
    """
    from neurofetch.emulators.neurovault import NeuroVaultEmulator

    emulator = NeuroVaultEmulator(
        faults=parse_faults(faults), seed=seed, ignore_filters=ignore_filters, shuffle=shuffle,
        collections=collections, page_size=page_size,
        file_encoding=None if file_encoding.lower() in ("", "none") else file_encoding,
    )
    run_emulator(emulator, port)
