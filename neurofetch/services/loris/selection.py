"""What a run selects of a LORIS server: candidates, visits, file names, QC records, the `ls` level, and
`--since` (only what changed since a date, or since the last complete run; changes.py lists it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from neurofetch.errors import UsageError
from neurofetch.transfer.filters import NameFilter


@dataclass(frozen=True)
class Since:
    """``--since``: a moment, or None for "the start of the last complete run"."""

    when: datetime | None

    @property
    def last(self) -> bool:
        return self.when is None


def parse_since(text: str) -> Since:
    """``last``, a date (2024-05-01) or an ISO 8601 date and time; without a zone, local time."""
    text = text.strip()
    if text.lower() == "last":
        return Since(None)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            raise UsageError(
                f"--since {text!r}: give a date (2024-05-01), a date and time (2024-05-01T08:00+02:00) or last"
            ) from None
    return Since(when if when.tzinfo else when.astimezone())


@dataclass(frozen=True)
class LorisSelection:
    candidates: Sequence[str] = ()
    visits: Sequence[str] = ()
    names: NameFilter = field(default_factory=NameFilter)
    qc: bool = True
    level: str = "files"  # `ls --level`: one row per candidate, visit or file
    since: Since | None = None  # `mirror --since`: only what changed since then (changes.py)

    def __post_init__(self) -> None:
        self.names.ledger.expect("--candidate", self.candidates)
        self.names.ledger.expect("--visit", self.visits)
