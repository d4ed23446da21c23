"""Name filters shared by every command: --include / --exclude globs on file names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class NameFilter:
    """A name is taken when it matches any include (or no include was given) and no exclude.

    Exclude wins over include, whatever the order the flags were given in. Patterns are
    shell globs matched case-sensitively against the file name (not the path).
    """

    include: Sequence[str] = field(default_factory=tuple)
    exclude: Sequence[str] = field(default_factory=tuple)

    def accepts(self, name: str) -> bool:
        if any(fnmatchcase(name, pattern) for pattern in self.exclude):
            return False
        return not self.include or any(fnmatchcase(name, pattern) for pattern in self.include)
