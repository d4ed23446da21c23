"""`neurofetch demo`: the LORIS emulator in-process, mirrored into a local folder, fully offline."""

from __future__ import annotations

from pathlib import Path

from neurofetch.credentials import Secret
from neurofetch.services.loris.source import LorisSelection
from neurofetch.settings import Profile
from neurofetch.transfer.events import Reporter
from neurofetch.transfer.mirror import MirrorOptions
from neurofetch.transfer.results import RunResult

DEMO_USER = "demo"
DEMO_PASSWORD = "demo-throwaway-password"


def run_demo(dest: Path, *, candidates: int, jobs: int, reporter: Reporter | None = None) -> RunResult:
    """Start the emulator on a free loopback port and mirror it; no keyring, no network."""
    from neurofetch.emulators.loris.app import LorisDataset, LorisEmulator
    from neurofetch.operations.loris import mirror_loris

    emulator = LorisEmulator(LorisDataset(candidates=candidates), users={DEMO_USER: DEMO_PASSWORD})
    with emulator.serve() as server:
        url = emulator.base_url(server)
        profile = Profile(name="demo", service="loris", url=url, username=DEMO_USER, jobs=jobs)
        result = mirror_loris(profile, LorisSelection(), MirrorOptions(dest=dest), reporter=reporter,
                              no_input=True, password=Secret(DEMO_PASSWORD, source="demo"))
    files = emulator.dataset.expected_tree()
    result.messages.append(f"The demo served {len(files)} files from a LORIS emulator at {url}; "
                           f"the mirror is in {dest.resolve()}/<CandID>/<Visit>/.")
    result.messages.append("Run `neurofetch demo` again: it finds everything complete and downloads nothing.")
    result.extra["emulator_url"] = url
    result.extra["dest"] = str(dest.resolve())
    return result
