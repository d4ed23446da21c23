"""A real torch.utils.data.DataLoader with two worker processes (fork and spawn) over a MirrorDataset of a
LORIS mirror: every item arrives once, in order, as float32 tensors with their metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from neurofetch.data import MirrorDataset, collate
from tests.data_support import loris_mirror

torch = pytest.importorskip("torch", reason="torch is not installed (pip install torch; .ci/run installs it)")


def centre(volume: Any) -> Any:
    """The same shape from every volume (the smallest the emulator serves), so a batch stacks."""
    z, y, x = ((n - keep) // 2 for n, keep in zip(volume.shape, (6, 8, 8), strict=True))
    return volume[z : z + 6, y : y + 8, x : x + 8]


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_dataloader_with_two_workers_yields_every_item_once_in_order(start_method: str, tmp_path: Path) -> None:
    root, _ = loris_mirror(tmp_path / "study", candidates=1)
    dataset = MirrorDataset(root, where={"qc.qc": ["Pass", None]}, transform=centre)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=4, num_workers=2, collate_fn=collate, multiprocessing_context=start_method
    )
    seen: list[str] = []
    for volumes, metadata in loader:
        assert isinstance(volumes, torch.Tensor) and volumes.dtype == torch.float32
        assert volumes.shape == (len(metadata), 6, 8, 8) and float(volumes.max()) > 500
        seen += [m["path"] for m in metadata]
    assert len(dataset) > 8 and seen == [dataset.metadata(i)["path"] for i in range(len(dataset))]
