"""What every command shares: reading the global options, building the profile, finishing a run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from collections.abc import Callable

    from neurofetch.api import Reporter, RunResult
    from neurofetch.settings import GlobalOptions, Profile

JobsOption = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        min=1,
        max=64,
        metavar="N",
        envvar="NEUROFETCH_JOBS",
        help="Parallel transfers (default: the profile's jobs, else 4). Be polite to small servers.",
    ),
]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Show what would be done; change nothing.")]
IncludeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--include",
        metavar="GLOB",
        help="Only files whose name, or path below DEST (upload: below the folder given), matches this glob, "
        "e.g. '*.nii.gz' or 'sub-01/*' (repeatable; any match is enough; '*' also matches '/'; "
        "a glob that matches nothing is warned about).",
    ),
]
ExcludeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude",
        metavar="GLOB",
        help="Skip files whose name or path below DEST (upload: below the folder given) matches this glob "
        "(repeatable; exclude wins over include).",
    ),
]
ShardOption = Annotated[
    str | None,
    typer.Option(
        "--shard",
        metavar="K/N",
        envvar="NEUROFETCH_SHARD",
        help="Take only share K of N (1 ≤ K ≤ N) of the work, split by a stable hash, "
        "for N machines working side by side (e.g. a SLURM array).",
    ),
]


def global_options(ctx: typer.Context) -> GlobalOptions:
    from neurofetch.settings import GlobalOptions

    root = ctx.find_root()
    return root.obj if isinstance(root.obj, GlobalOptions) else GlobalOptions()


def load_profile(
    ctx: typer.Context,
    *,
    jobs: int | None = None,
    only_service: str | None = None,
    bwlimit: str | None = None,
    wait: str | None = None,
    segments: int | None = None,
) -> Profile:
    """The run's profile (settings.select_profile); ``only_service`` for commands that speak one service.
    ``bwlimit`` and ``wait`` are --bwlimit and --wait as typed (or from their environment variables)."""
    import dataclasses

    from neurofetch.settings import select_profile
    from neurofetch.ui.output import print_warning

    profile = select_profile(global_options(ctx), only_service=only_service, warn=print_warning)
    if jobs is not None:
        profile = dataclasses.replace(profile, jobs=jobs)
    profile = dataclasses.replace(profile, **run_limits(bwlimit, wait))
    if segments is not None:
        profile = dataclasses.replace(profile, segments=segments)
    if profile.verify_tls is False:
        print_warning(
            f"TLS certificate verification is OFF for {profile.url}: anyone on the network path "
            "can read and alter this transfer"
        )
    return profile


def run_limits(bwlimit: str | None, wait: str | None) -> dict[str, Any]:
    """--bwlimit and --wait, those given, parsed: ``{"bwlimit": bytes per second, "wait": seconds}``."""
    from neurofetch.api import given_limits

    return given_limits(bwlimit=bwlimit, wait=wait)


def reporter_for(ctx: typer.Context, profile: Profile | None = None) -> Reporter:
    """The run's progress display; with ``profile``, its --bwlimit shows in the progress line."""
    from neurofetch.ui.progress import make_reporter

    options = global_options(ctx)
    return make_reporter(
        quiet=options.quiet,
        verbose=options.verbose,
        json_mode=options.json,
        bwlimit=profile.bwlimit if profile else None,
    )


def finish(ctx: typer.Context, result: RunResult) -> NoReturn:
    """Render the result and leave with its exit code."""
    from neurofetch.ui.render import render_result

    options = global_options(ctx)
    raise typer.Exit(render_result(result, json_mode=options.json, quiet=options.quiet, no_color=options.no_color))


def finish_run(ctx: typer.Context, call: Callable[[], RunResult]) -> NoReturn:
    """Run ``call`` (one api function) and finish with its result."""
    finish(ctx, run_result(call))


def run_result(call: Callable[[], RunResult]) -> RunResult:
    """The result of ``call`` (one api function); an interrupted run's too, so that it shows what it did."""
    from neurofetch.api import RunResult
    from neurofetch.errors import Interrupted

    try:
        return call()
    except Interrupted as exc:
        if not isinstance(exc.result, RunResult):
            raise
        return exc.result


def interactive_allowed(ctx: typer.Context) -> bool:
    from neurofetch.credentials import is_interactive

    return is_interactive(global_options(ctx).no_input)
