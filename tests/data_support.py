"""Mirrors made by the real CLI from the emulators, for the neurofetch.data tests and benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from neurofetch.emulators.allen.app import AllenEmulator
from neurofetch.emulators.datamint.app import DatamintEmulator
from neurofetch.emulators.loris.app import LorisDataset, LorisEmulator
from neurofetch.emulators.neurovault.app import NeuroVaultEmulator
from neurofetch.emulators.neurovault.data import DOI_OF_AGING_COLLECTION
from tests.helpers import run_cli


def mirrored(dest: Path, env: dict[str, Any], *args: str) -> Path:
    result = run_cli("mirror", dest, *args, env=env)
    assert result.code == 0, result.stderr
    return dest


def loris_mirror(dest: Path, *, candidates: int = 2, size_scale: float = 0.005) -> tuple[Path, LorisDataset]:
    emulator = LorisEmulator(LorisDataset(candidates=candidates, size_scale=size_scale))
    with emulator.serve() as server:
        env = {
            "NEUROFETCH_URL": emulator.base_url(server),
            "NEUROFETCH_SERVICE": "loris",
            "NEUROFETCH_USERNAME": "demo",
            "NEUROFETCH_PASSWORD": "demo",
        }
        return mirrored(dest, env), emulator.dataset


def neurovault_mirror(dest: Path) -> Path:
    """The DOI collection, its maps at NeuroVault's sizes."""
    emulator = NeuroVaultEmulator(realistic_sizes=True)
    with emulator.serve() as server:
        env = {"NEUROFETCH_SERVICE": "neurovault", "NEUROFETCH_URL": emulator.base_url(server)}
        return mirrored(dest, env, "--doi", DOI_OF_AGING_COLLECTION)


def allen_mirror(dest: Path, plates: int = 3) -> Path:
    emulator = AllenEmulator(page_size_cap=50)
    with emulator.serve() as server:
        env = {"NEUROFETCH_URL": emulator.base_url(server), "NEUROFETCH_SERVICE": "allen"}
        ids = [str(p["id"]) for p in emulator.atlas_images(1)[:plates]]
        result = run_cli("atlas-image", *ids, "--downsample", "6", "--out", dest, env=env)
        assert result.code == 0, result.stderr
    return dest


def datamint_mirror(dest: Path, extra: dict[str, tuple[bytes, str]] | None = None) -> Path:
    """The emulator's sample PNG, DICOM and NIfTI resources, plus ``extra`` (name → (bytes, mimetype))."""
    emulator = DatamintEmulator(preload=3)
    for name, (data, mimetype) in (extra or {}).items():
        emulator.add_resource(name, data, mimetype=mimetype, channel="extra", tags=["extra"])
    with emulator.serve() as server:
        env = {
            "NEUROFETCH_URL": emulator.base_url(server),
            "NEUROFETCH_SERVICE": "datamint",
            "NEUROFETCH_API_KEY": "demo-key",
        }
        return mirrored(dest, env)
