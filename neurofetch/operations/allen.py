"""Allen Brain Map image downloads as plain functions: what the CLI calls, and what a notebook can call."""

from __future__ import annotations

import os
from collections.abc import Mapping

import httpx

from neurofetch.errors import UsageError
from neurofetch.services.allen import PAGE_SIZE, AllenSource, AtlasImageRequest
from neurofetch.settings import GlobalOptions, Profile, config_path, load_config, profile_from_mapping
from neurofetch.transfer.events import Reporter
from neurofetch.transfer.mirror import MirrorOptions, run_mirror
from neurofetch.transfer.results import RunResult

SELECTING_VARIABLES = ("NEUROFETCH_PROFILE", "NEUROFETCH_URL", "NEUROFETCH_SERVICE")


def default_allen_profile(options: GlobalOptions, env: Mapping[str, str] = os.environ) -> Profile | None:
    """The allen service at its default URL when nothing selects a profile, so that
    ``neurofetch atlas-image 100960224`` works without any setup; None when something does."""
    if options.profile or options.url or options.service or any(env.get(name) for name in SELECTING_VARIABLES):
        return None
    if load_config(config_path(options, env)).get("default_profile"):
        return None
    return profile_from_mapping("allen (default)", {"service": "allen"}, env)


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
    return run_mirror("atlas-image", source, profile, options, reporter, transport)
