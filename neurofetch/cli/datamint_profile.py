"""The profile of the Datamint-only commands (upload, publish): with nothing chosen, they assume
``service: datamint``, so the official client's DATAMINT_API_URL / DATAMINT_API_KEY setups just work."""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

import typer

from neurofetch.cli.common import global_options, load_profile

if TYPE_CHECKING:
    from neurofetch.settings import Profile


def datamint_profile(ctx: typer.Context, *, jobs: int | None = None) -> Profile:
    from neurofetch.settings import config_path, load_config

    options = global_options(ctx)
    env = os.environ
    profile_chosen = bool(options.profile or env.get("NEUROFETCH_PROFILE"))
    service_chosen = bool(options.service or env.get("NEUROFETCH_SERVICE"))
    if not profile_chosen and not service_chosen and not load_config(config_path(options)).get("default_profile"):
        ctx.find_root().obj = dataclasses.replace(options, service="datamint")
    return load_profile(ctx, jobs=jobs)
