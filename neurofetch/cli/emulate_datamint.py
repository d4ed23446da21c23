"""`neurofetch emulate datamint`: the Datamint emulator in the foreground."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from neurofetch.cli.emulate import FaultsOption, PortOption, SeedOption, emulate_app, parse_faults, run_emulator

DEFAULT_PORT = 8768
DEFAULT_SAMPLES = 12


@emulate_app.command("datamint", epilog="""
    neurofetch emulate datamint --port 8768
    neurofetch emulate datamint --samples 20
""")
def emulate_datamint(
    port: PortOption = DEFAULT_PORT,
    faults: FaultsOption = "",
    seed: SeedOption = 0,
    api_key_stdin: Annotated[
        bool,
        typer.Option("--api-key-stdin", help="Read the accepted API key from the first line of stdin "
                     "(default key: demo-key)."),
    ] = False,
    samples: Annotated[
        int, typer.Option("--samples", min=0, metavar="N", help="How many synthetic resources to preload."),
    ] = DEFAULT_SAMPLES,
) -> None:
    """Datamint-style platform: resources, projects, publish, segmentations (API key in the apikey header)."""
    from neurofetch.emulators.datamint import DEFAULT_API_KEY, DatamintEmulator

    api_key = DEFAULT_API_KEY
    if api_key_stdin:
        api_key = sys.stdin.readline().strip()
        if not api_key:
            raise typer.BadParameter("stdin gave an empty API key", param_hint="--api-key-stdin")
    emulator = DatamintEmulator(faults=parse_faults(faults), api_keys={api_key}, seed=seed, preload=samples)
    run_emulator(emulator, port)
