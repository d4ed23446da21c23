"""Datasets over a local neurofetch mirror: numpy arrays and the index's metadata, ready for PyTorch's
DataLoader (torch is optional: nothing here imports it unless a batch is collated with it installed).

    >>> from neurofetch.data import MirrorDataset
    >>> dataset = MirrorDataset("study", where={"qc.qc": "Pass", "output_type": "defaced"})
    >>> volume, metadata = dataset[0]
"""

from __future__ import annotations

from neurofetch.data.collate import collate
from neurofetch.data.datamint import DatamintDataset
from neurofetch.data.mirror import MirrorDataset, UnreadableFileError

__all__ = ["DatamintDataset", "MirrorDataset", "UnreadableFileError", "collate"]
