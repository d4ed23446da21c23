"""`neurofetch emulate SERVICE`: run one service emulator (LORIS, NeuroVault, Allen, Datamint) in the foreground on
127.0.0.1."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from neurofetch.cli.options import Group

if TYPE_CHECKING:
    from neurofetch.emulators.common import Emulator, Faults

emulate_app = typer.Typer(
    rich_markup_mode=None,  # plain help: it prints in a third of the time rich's takes
    name="emulate",
    help="Run a local emulator of a service on 127.0.0.1, for trying neurofetch offline and for tests. "
    "The first line printed is the base URL to use as a profile's url.",
    no_args_is_help=True,
    cls=Group,
    epilog="""
    neurofetch emulate loris --port 8765
    neurofetch emulate neurovault --port 0 --faults error_rate=0.1,seed=1
    """,
)

PortOption = Annotated[
    int, typer.Option("--port", metavar="PORT", min=0, max=65535, help="Port on 127.0.0.1 (0 picks a free port).")
]
FaultsOption = Annotated[
    str,
    typer.Option(
        "--faults",
        metavar="KNOBS",
        help="Fault knobs as key=value pairs separated by commas: latency (s), error_rate, rate_limit_rate, "
        "retry_after (s), truncate_rate, reset_rate, drip (bytes/s), conn_rate (bytes/s per connection, like a "
        "WAN link), token_expiry_after (requests), html_rate, missing_files (count), range_support, hostile_names, "
        "seed.",
    ),
]
SeedOption = Annotated[int, typer.Option("--seed", metavar="N", help="Seed of the synthetic dataset.")]


def parse_faults(text: str) -> Faults:
    from neurofetch.emulators.common import Faults

    try:
        return Faults.parse(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--faults") from None


def run_emulator(emulator: Emulator, port: int) -> None:
    """Serve until Ctrl-C; the first line on stdout is the base URL."""
    from neurofetch.emulators.common import serve_forever
    from neurofetch.ui.output import print_data_line

    serve_forever(
        emulator.app, port=port, announce=lambda p: print_data_line(f"http://127.0.0.1:{p}{emulator.base_path}")
    )


@emulate_app.command(
    "loris",
    epilog="""
    neurofetch emulate loris --port 8765
    neurofetch emulate loris --candidates 20 --faults latency=0.2,error_rate=0.05
    echo s3cret | neurofetch emulate loris --user jdoe --password-stdin
""",
)
def emulate_loris(
    port: PortOption = 8765,
    faults: FaultsOption = "",
    seed: SeedOption = 0,
    candidates: Annotated[
        int, typer.Option("--candidates", min=0, metavar="N", help="Number of candidates in the dataset.")
    ] = 6,
    big_file_size: Annotated[
        int,
        typer.Option(
            "--big-file-size",
            min=0,
            metavar="BYTES",
            help="Add one file of exactly this many bytes to the first visit (0 = none). "
            "Its content is generated while it is sent, so any size works.",
        ),
    ] = 0,
    token_ttl: Annotated[
        float,
        typer.Option(
            "--token-ttl",
            min=0,
            metavar="SECONDS",
            help="Lifetime of the tokens /login hands out (LORIS uses 86400, one day).",
        ),
    ] = 86400,
    user: Annotated[str, typer.Option("--user", metavar="NAME", help="User name the emulator accepts.")] = "demo",
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the password the emulator accepts from the first line of standard input "
            "(default password: demo).",
        ),
    ] = False,
    api_version: Annotated[
        str,
        typer.Option(
            "--api-version",
            metavar="VERSION",
            help="API version to serve: v0.0.3-dev (legacy LORIS <= 21, as openpreventad), v0.0.3 (LORIS 23+) or "
            "v0.0.4-dev (LORIS 24+: IsPhantom, Cohort, PSCID lookups, ?since= on project images; LORIS main's "
            "images/<file>/format/nifti|bidsjson|bval|bvec).",
        ),
    ] = "v0.0.3-dev",
) -> None:
    """Run a LORIS API emulator with synthetic PREVENT-AD-like candidates, visits and MINC files.

    Log in with user demo and password demo unless changed; five wrong passwords in a row suspend the account
    until the emulator restarts, as on a real server. The first line printed is the API base URL.
    """
    from neurofetch.emulators.loris.app import LorisDataset, LorisEmulator
    from neurofetch.emulators.loris.versions import VERSIONS

    if api_version not in VERSIONS:
        raise typer.BadParameter(f"use one of {', '.join(VERSIONS)}", param_hint="--api-version")
    password = _read_password() if password_stdin else "demo"
    fault_knobs = parse_faults(faults)
    dataset = LorisDataset(
        candidates=candidates, seed=seed, big_file_size=big_file_size, hostile_names=fault_knobs.hostile_names
    )
    emulator = LorisEmulator(
        dataset, faults=fault_knobs, users={user: password}, token_ttl=token_ttl, api_version=api_version
    )
    run_emulator(emulator, port)


def _read_password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise typer.BadParameter("standard input held no password", param_hint="--password-stdin")
    return password


IgnoreFiltersOption = Annotated[
    bool,
    typer.Option(
        "--ignore-filters",
        help="Ignore ?DOI=, ?name= and ?owner= on /api/collections/ and list every collection, "
        "as the real server may (reference/neurovault.md §3).",
    ),
]
ShuffleOption = Annotated[
    bool,
    typer.Option(
        "--shuffle",
        help="Reorder /api/collections/ and /api/images/ on every request (no ORDER BY on the real server).",
    ),
]
FileEncodingOption = Annotated[
    str,
    typer.Option(
        "--file-encoding",
        metavar="ENCODING",
        help="Content-Encoding header of image files: utf-8 (like neurovault.org), gzip (to catch "
        "clients that let the HTTP library gunzip .nii.gz files) or none.",
    ),
]


@emulate_app.command(
    "neurovault",
    epilog="""
    neurofetch emulate neurovault --port 8766
    neurofetch emulate neurovault --collections 3 --page-size 10
""",
)
def emulate_neurovault(
    port: PortOption = 8767,
    faults: FaultsOption = "",
    seed: SeedOption = 0,
    ignore_filters: IgnoreFiltersOption = False,
    shuffle: ShuffleOption = False,
    file_encoding: FileEncodingOption = "utf-8",
    collections: Annotated[
        int, typer.Option("--collections", min=1, metavar="N", help="Number of public collections.")
    ] = 6,
    page_size: Annotated[
        int,
        typer.Option(
            "--page-size", min=1, metavar="N", help="Default page size (limit) of the lists; the reference's is 100."
        ),
    ] = 100,
) -> None:
    """Run a NeuroVault emulator: /api/collections/, /api/images/ and .nii.gz files under /media/images/.

    Synthetic collections: one has DOI 10.1016/j.neurobiolaging.2012.11.002, one spans two pages.

    Reads are anonymous, like neurovault.org. The first line printed is the base URL.
    """
    from neurofetch.emulators.neurovault.app import NeuroVaultEmulator

    emulator = NeuroVaultEmulator(
        faults=parse_faults(faults),
        seed=seed,
        ignore_filters=ignore_filters,
        shuffle=shuffle,
        collections=collections,
        page_size=page_size,
        file_encoding=None if file_encoding.lower() in ("", "none") else file_encoding,
    )
    run_emulator(emulator, port)


PageSizeCapOption = Annotated[
    int,
    typer.Option("--page-size-cap", min=1, metavar="N", help="Most rows one RMA query returns, num_rows=all included."),
]


@emulate_app.command(
    "allen",
    epilog="""
    neurofetch emulate allen --port 8767
    neurofetch emulate allen --page-size-cap 50 --faults drip=100000
""",
)
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
    from neurofetch.emulators.allen.app import AllenEmulator

    run_emulator(AllenEmulator(faults=parse_faults(faults), seed=seed, page_size_cap=page_size_cap), port)


DEFAULT_PORT = 8768
DEFAULT_SAMPLES = 12


@emulate_app.command(
    "datamint",
    epilog="""
    neurofetch emulate datamint --port 8768
    neurofetch emulate datamint --samples 20 --no-masks
""",
)
def emulate_datamint(
    port: PortOption = DEFAULT_PORT,
    faults: FaultsOption = "",
    seed: SeedOption = 0,
    api_key_stdin: Annotated[
        bool,
        typer.Option(
            "--api-key-stdin", help="Read the accepted API key from the first line of stdin (default key: demo-key)."
        ),
    ] = False,
    samples: Annotated[
        int,
        typer.Option("--samples", min=0, metavar="N", help="How many synthetic resources to preload."),
    ] = DEFAULT_SAMPLES,
    masks: Annotated[
        bool,
        typer.Option("--masks/--no-masks", help="Give each preloaded PNG a drawn segmentation mask."),
    ] = True,
) -> None:
    """Datamint-style platform: resources, projects, publish, segmentations (API key in the apikey header)."""
    from neurofetch.emulators.datamint.app import DEFAULT_API_KEY, DatamintEmulator

    api_key = DEFAULT_API_KEY
    if api_key_stdin:
        api_key = sys.stdin.readline().strip()
        if not api_key:
            raise typer.BadParameter("stdin gave an empty API key", param_hint="--api-key-stdin")
    emulator = DatamintEmulator(
        faults=parse_faults(faults), api_keys={api_key}, seed=seed, preload=samples, preload_masks=masks
    )
    run_emulator(emulator, port)
