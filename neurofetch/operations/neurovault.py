"""NeuroVault mirror as a plain function: what the CLI calls, and what a notebook can call.

Reads are anonymous (reference/neurovault.md §0): private collections are reached by a token in the URL,
not by an Authorization header, so no credentials are involved.
"""

from __future__ import annotations

from collections.abc import Sequence

from neurofetch.errors import UsageError
from neurofetch.net.http import policy_for
from neurofetch.services.neurovault import NeuroVaultSelection, NeuroVaultSource, collection_id, normalise_doi
from neurofetch.settings import Profile
from neurofetch.transfer.events import Reporter
from neurofetch.transfer.filters import NameFilter
from neurofetch.transfer.mirror import MirrorOptions, run_mirror
from neurofetch.transfer.results import RunResult

NOTHING_SELECTED = "NeuroVault: say which collections to mirror with --collection ID or --doi DOI"


def neurovault_selection(collections: Sequence[str] = (), dois: Sequence[str] = (), *,
                         map_types: Sequence[str] = (), modalities: Sequence[str] = (),
                         names: NameFilter | None = None) -> NeuroVaultSelection:
    """A selection from what a user typed: ids checked, DOIs normalised (UsageError on bad values)."""
    if not collections and not dois:
        raise UsageError(NOTHING_SELECTED)
    return NeuroVaultSelection(
        collections=tuple(dict.fromkeys(collection_id(c) for c in collections)),
        dois=tuple(dict.fromkeys(normalise_doi(d) for d in dois)),
        map_types=tuple(map_types), modalities=tuple(modalities), names=names or NameFilter(),
    )


def mirror_neurovault(profile: Profile, selection: NeuroVaultSelection, options: MirrorOptions, *,
                      reporter: Reporter | None = None) -> RunResult:
    """Mirror the selected collections into DEST/collection-<id>/."""
    if profile.service != "neurovault":
        raise UsageError(f"profile {profile.name!r} is a {profile.service} profile, not neurovault")
    if not selection.collections and not selection.dois:
        raise UsageError(NOTHING_SELECTED)
    source = NeuroVaultSource(profile.url, selection, policy_for(profile.http))
    return run_mirror("mirror", source, profile.service, profile.http, options, reporter)
