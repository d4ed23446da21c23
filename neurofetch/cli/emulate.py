"""`neurofetch emulate SERVICE`: run one service emulator in the foreground on 127.0.0.1."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from neurofetch.cli.options import Group

if TYPE_CHECKING:
    from neurofetch.emulators.common import Emulator, Faults

emulate_app = typer.Typer(
    rich_markup_mode=None,   # plain help: it prints in a third of the time rich's takes
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

PortOption = Annotated[int, typer.Option("--port", metavar="PORT", min=0, max=65535,
                                        help="Port on 127.0.0.1 (0 picks a free port).")]
FaultsOption = Annotated[
    str,
    typer.Option(
        "--faults", metavar="KNOBS",
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

    serve_forever(emulator.app, port=port,
                  announce=lambda p: print_data_line(f"http://127.0.0.1:{p}{emulator.base_path}"))


# Each module adds its command to emulate_app when imported (after emulate_app exists).
from neurofetch.cli import emulate_allen, emulate_datamint, emulate_loris, emulate_neurovault  # noqa: E402, F401
