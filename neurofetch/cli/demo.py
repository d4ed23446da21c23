"""`neurofetch demo`: see the tool work offline in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neurofetch.cli.common import finish, reporter_for

DEMO_EXAMPLES = """
    neurofetch demo
    neurofetch demo --out /tmp/demo --candidates 5 -q
"""


def register(app: typer.Typer) -> None:
    app.command("demo", epilog=DEMO_EXAMPLES)(demo)


def demo(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", metavar="DIR",
                                      help="Where the demo mirror goes.")] = Path("neurofetch-demo"),
    candidates: Annotated[int, typer.Option("--candidates", min=1, max=50, metavar="N",
                                            help="Candidates in the demo dataset.")] = 3,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, max=64, metavar="N", help="Parallel transfers.")] = 4,
) -> None:
    """Start a LORIS emulator on 127.0.0.1 and mirror it into --out: no network, no keyring, no setup."""
    from neurofetch.operations.demo import run_demo

    finish(ctx, run_demo(out, candidates=candidates, jobs=jobs, reporter=reporter_for(ctx)))
