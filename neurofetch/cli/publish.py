"""`neurofetch publish [RESOURCE_ID ...]`: move Datamint resources from the inbox to published."""

from __future__ import annotations

from typing import Annotated

import typer

from neurofetch.cli.common import finish_run, global_options, load_profile, reporter_for

PUBLISH_EXAMPLES = """
    neurofetch publish 3f2a9c1e-0000-4000-8000-000000000001 -p datamint
    neurofetch publish --channel study1 --project 'Lung CT'
    neurofetch --json publish --all-inbox -p datamint
"""


def register(app: typer.Typer) -> None:
    app.command("publish", epilog=PUBLISH_EXAMPLES)(publish)


def publish(
    ctx: typer.Context,
    resource_ids: Annotated[
        list[str] | None, typer.Argument(metavar="[RESOURCE_ID]...", help="Resources to publish.", show_default=False)
    ] = None,
    channel: Annotated[
        str | None, typer.Option("--channel", metavar="NAME", help="Publish every resource of this channel.")
    ] = None,
    all_inbox: Annotated[bool, typer.Option("--all-inbox", help="Publish everything in the inbox.")] = False,
    project: Annotated[
        str | None, typer.Option("--project", metavar="NAME", help="Also add them to this project.")
    ] = None,
) -> None:
    """Publish resources, by id, by channel or the whole inbox, optionally into a project.

    Uses the bulk endpoint; resources already published are counted as such, not as errors, so
    running it twice is harmless.
    """
    from neurofetch import api

    profile = load_profile(ctx, only_service="datamint")
    finish_run(
        ctx,
        lambda: api.publish(
            resource_ids or (),
            profile=profile,
            channel=channel,
            all_inbox=all_inbox,
            project=project,
            no_input=global_options(ctx).no_input,
            reporter=reporter_for(ctx),
        ),
    )
