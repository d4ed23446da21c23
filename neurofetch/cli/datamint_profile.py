"""The profile of the Datamint-only commands (upload, publish): with nothing chosen, they assume
``service: datamint``, so the official client's DATAMINT_API_URL / DATAMINT_API_KEY setups just work."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from neurofetch.cli.common import load_profile

if TYPE_CHECKING:
    from neurofetch.settings import Profile


def datamint_profile(ctx: typer.Context, *, jobs: int | None = None, bwlimit: str | None = None,
                     wait: str | None = None) -> Profile:
    return load_profile(ctx, jobs=jobs, only_service="datamint", bwlimit=bwlimit, wait=wait)
