"""`neurofetch emulate loris`: the LORIS API v0.0.3-dev emulator (openpreventad-like data)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from neurofetch.cli.emulate import FaultsOption, PortOption, SeedOption, emulate_app, parse_faults, run_emulator


@emulate_app.command("loris", epilog="""
    neurofetch emulate loris --port 8765
    neurofetch emulate loris --candidates 20 --faults latency=0.2,error_rate=0.05
    echo s3cret | neurofetch emulate loris --user jdoe --password-stdin
""")
def emulate_loris(
    port: PortOption = 8765,
    faults: FaultsOption = "",
    seed: SeedOption = 0,
    candidates: Annotated[int, typer.Option("--candidates", min=0, metavar="N",
                                            help="Number of candidates in the dataset.")] = 6,
    big_file_size: Annotated[int, typer.Option(
        "--big-file-size", min=0, metavar="BYTES",
        help="Add one file of exactly this many bytes to the first visit (0 = none). "
        "Its content is generated while it is sent, so any size works.")] = 0,
    token_ttl: Annotated[float, typer.Option(
        "--token-ttl", min=0, metavar="SECONDS",
        help="Lifetime of the tokens /login hands out (LORIS uses 86400, one day).")] = 86400,
    user: Annotated[str, typer.Option("--user", metavar="NAME", help="User name the emulator accepts.")] = "demo",
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin",
        help="Read the password the emulator accepts from the first line of standard input "
        "(default password: demo).")] = False,
) -> None:
    """Run a LORIS API v0.0.3-dev emulator with synthetic PREVENT-AD-like candidates, visits and MINC files.

    Log in with user demo and password demo unless changed; five wrong passwords in a row suspend the account
    until the emulator restarts, as on a real server. The first line printed is the API base URL.
    """
    from neurofetch.emulators.loris import LorisDataset, LorisEmulator

    password = _read_password() if password_stdin else "demo"
    fault_knobs = parse_faults(faults)
    dataset = LorisDataset(candidates=candidates, seed=seed, big_file_size=big_file_size,
                           hostile_names=fault_knobs.hostile_names)
    emulator = LorisEmulator(dataset, faults=fault_knobs, users={user: password}, token_ttl=token_ttl)
    run_emulator(emulator, port)


def _read_password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise typer.BadParameter("standard input held no password", param_hint="--password-stdin")
    return password
