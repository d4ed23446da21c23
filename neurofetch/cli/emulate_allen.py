"""`neurofetch emulate allen`: the Allen Brain Map API emulator (RMA queries, image and SVG downloads)."""

from __future__ import annotations

from typing import Annotated

import typer

from neurofetch.cli.emulate import FaultsOption, PortOption, SeedOption, emulate_app, parse_faults, run_emulator

PageSizeCapOption = Annotated[
    int, typer.Option("--page-size-cap", min=1, metavar="N",
                      help="Most rows one RMA query returns, num_rows=all included.")
]


@emulate_app.command("allen", epilog="""
    neurofetch emulate allen --port 8767
    neurofetch emulate allen --page-size-cap 50 --faults drip=100000
""")
def emulate_allen(
    port: PortOption = 8766,
    faults: FaultsOption = "",
    seed: SeedOption = 0,
    page_size_cap: PageSizeCapOption = 2000,
) -> None:
    """Run an Allen Brain Map API emulator: RMA queries, atlas/section image downloads and SVG annotations.

    Atlases 1 (132 annotated plates), 2, 602630314 and 265297126; section data sets 69782969 and 100141599.

    Images are rendered on request (ask for downsample 2 or more). The first line printed is the base URL.
    """
    from neurofetch.emulators.allen import AllenEmulator

    run_emulator(AllenEmulator(faults=parse_faults(faults), seed=seed, page_size_cap=page_size_cap), port)
