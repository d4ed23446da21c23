"""`neurofetch demo`: see the tool work offline in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neurofetch.cli.common import finish, reporter_for, run_result

DEMO_USER = "demo"
DEMO_PASSWORD = "demo-throwaway-password"
DEMO_EXAMPLES = """
    neurofetch demo
    neurofetch demo --out /tmp/demo --candidates 5 -q
"""


def register(app: typer.Typer) -> None:
    app.command("demo", epilog=DEMO_EXAMPLES)(demo)


def demo(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Where the demo mirror goes.")] = Path(
        "neurofetch-demo"
    ),
    candidates: Annotated[
        int, typer.Option("--candidates", min=1, max=50, metavar="N", help="Candidates in the demo dataset.")
    ] = 3,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, max=64, metavar="N", help="Parallel transfers.")] = 4,
) -> None:
    """Start a LORIS emulator on 127.0.0.1 and mirror it into --out: no network, no keyring, no setup."""
    from neurofetch import api
    from neurofetch.emulators.loris.app import LorisDataset, LorisEmulator
    from neurofetch.settings import Profile

    emulator = LorisEmulator(LorisDataset(candidates=candidates), users={DEMO_USER: DEMO_PASSWORD})
    with emulator.serve() as server:
        url = emulator.base_url(server)
        profile = Profile(name="demo", service="loris", url=url, username=DEMO_USER, jobs=jobs)
        result = run_result(
            lambda: api.mirror(out, profile=profile, password=DEMO_PASSWORD, reporter=reporter_for(ctx))
        )
    files = emulator.dataset.expected_tree()
    result.messages.append(
        f"The demo served {len(files)} files from a LORIS emulator at {url}; "
        f"the mirror is in {out.resolve()}/<CandID>/<Visit>/."
    )
    result.messages.append("Run `neurofetch demo` again: it finds everything complete and downloads nothing.")
    result.extra["emulator_url"] = url
    result.extra["dest"] = str(out.resolve())
    finish(ctx, result)
