"""The one shape a credential travels in, from credentials.py to net's auth classes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Secret:
    """A secret value that never shows itself in a repr, a log or a traceback's locals."""

    value: str = field(repr=False)
    source: str = "env"

    def __repr__(self) -> str:
        return f"Secret(<redacted>, source={self.source!r})"

    __str__ = __repr__
