"""--shard K/N: a deterministic split of top-level units across N independent runs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from neurofetch.errors import UsageError


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based, as SLURM_ARRAY_TASK_ID usually is
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            left, right = text.split("/")
            index, count = int(left), int(right)
        except ValueError:
            raise UsageError(f"--shard takes K/N with whole numbers, e.g. 1/4, not {text!r}") from None
        if count < 1 or not 1 <= index <= count:
            raise UsageError(f"--shard {text}: K must be between 1 and N")
        return cls(index, count)

    def owns(self, unit: str) -> bool:
        """Stable across machines and Python versions (no hash randomisation)."""
        digest = hashlib.sha256(unit.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1

    @property
    def journal_name(self) -> str:
        return "state.sqlite3" if self.count == 1 else f"state-shard-{self.index}-of-{self.count}.sqlite3"

    @property
    def lock_name(self) -> str:
        return "lock" if self.count == 1 else f"lock-shard-{self.index}-of-{self.count}"

    @property
    def tree_lock_name(self) -> str | None:
        """The whole tree's lock, which a shard holds shared beside its own (None: this is the whole tree)."""
        return None if self.count == 1 else "lock"
