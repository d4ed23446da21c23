"""A DataLoader ``collate_fn`` for MirrorDataset items: arrays stacked, metadata kept as a list of dicts."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any


def collate(batch: Sequence[tuple[Any, Any] | None]) -> tuple[Any, Any]:
    """``(arrays, targets)`` of a batch: the arrays stacked (a torch tensor when torch is loaded, else a numpy
    array; arrays of different shapes stay a list), targets that are numbers stacked the same way, metadata
    dicts and other targets as a list. Items that are None (files that did not load, with
    ``on_error="skip"``) are left out.

    torch's default collate cannot batch metadata: it refuses None values and rows whose keys differ."""
    items = [item for item in batch if item is not None]
    arrays = [array for array, _ in items]
    targets = [target for _, target in items]
    numbers = bool(targets) and all(isinstance(t, (bool, int, float)) for t in targets)
    if not arrays or len({getattr(a, "shape", None) for a in arrays}) != 1:
        return arrays, targets
    if "torch" in sys.modules:
        from torch.utils.data import default_collate  # type: ignore[import-not-found,unused-ignore]

        return default_collate(arrays), (default_collate(targets) if numbers else targets)
    import numpy as np

    return np.stack(arrays), (np.asarray(targets) if numbers else targets)
