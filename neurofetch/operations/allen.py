"""Allen Brain Map image downloads as plain functions: what the CLI calls, and what a notebook can call."""

from __future__ import annotations

import httpx

from neurofetch.errors import UsageError
from neurofetch.services.allen import PAGE_SIZE, AllenSource, AtlasImageRequest
from neurofetch.settings import Profile
from neurofetch.transfer.events import Reporter
from neurofetch.transfer.mirror import MirrorOptions, run_mirror
from neurofetch.transfer.results import RunResult


def atlas_image(profile: Profile, request: AtlasImageRequest, options: MirrorOptions,
                reporter: Reporter | None = None, *, page_size: int = PAGE_SIZE,
                transport: httpx.AsyncBaseTransport | None = None) -> RunResult:
    """Download the images ``request`` names into ``options.dest``; complete files are skipped."""
    if profile.service != "allen":
        raise UsageError(f"atlas-image needs an allen profile; profile {profile.name!r} is a "
                         f"{profile.service} profile")
    if request.empty:
        raise UsageError("nothing to download: give IMAGE_ID arguments, --atlas-images ATLAS_ID "
                         "or --section-data-set ID")
    source = AllenSource(profile.url, request, page_size=page_size)
    return run_mirror("atlas-image", source, profile.service, profile.http, options, reporter, transport)
