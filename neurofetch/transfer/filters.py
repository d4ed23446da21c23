"""Selection filters shared by every command: --include / --exclude globs, and the ledger that notices a
filter (--candidate, --map-type, --tag, ...) that matched nothing, so the run can say so."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase


def glob_matches(pattern: str, name: str, path: str = "") -> bool:
    """The one matching rule of --include/--exclude: a shell glob (case-sensitive, ``*`` also crosses
    ``/``) against the file name or against its path under DEST, e.g. ``'*.nii.gz'`` or ``'sub-01/*'``."""
    return fnmatchcase(name, pattern) or (bool(path) and fnmatchcase(path, pattern))


class FilterLedger:
    """Which of the filter values given on the command line matched something during a run."""

    def __init__(self) -> None:
        self._matched: dict[tuple[str, str], bool] = {}
        self._excludes: tuple[str, ...] = ()
        self.excluded = 0  # files an --exclude left out
        self.taken = 0  # files the name filter let through

    def expect(self, flag: str, values: Iterable[str | int | None]) -> None:
        for value in values:
            if value is not None and value != "":
                self._matched.setdefault((flag, str(value)), False)

    def expect_excludes(self, patterns: Sequence[str]) -> None:
        self._excludes = tuple(patterns)

    def hit(self, flag: str, value: str | int) -> None:
        key = (flag, str(value))
        if key in self._matched:
            self._matched[key] = True

    def hit_all(self, flag: str) -> None:
        """Every value of ``flag`` matched (the server applied it and answered with something)."""
        for key in self._matched:
            if key[0] == flag:
                self._matched[key] = True

    def warnings(self) -> list[str]:
        lines = [
            f"{flag} {shlex.quote(value)} matched nothing"
            for (flag, value), matched in self._matched.items()
            if not matched
        ]
        if self._excludes and self.excluded and not self.taken:
            given = " ".join(f"--exclude {shlex.quote(p)}" for p in self._excludes)
            files = "1 file" if self.excluded == 1 else f"{self.excluded} files"
            lines.append(f"{given} left out every file ({files})")
        return lines


@dataclass(frozen=True)
class NameFilter:
    """A file is taken when it matches any include (or no include was given) and no exclude.

    Exclude wins over include, whatever the order the flags were given in. Patterns are matched
    by :func:`glob_matches`: against the file name and against its path under DEST.
    """

    include: Sequence[str] = field(default_factory=tuple)
    exclude: Sequence[str] = field(default_factory=tuple)
    ledger: FilterLedger = field(default_factory=FilterLedger, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.ledger.expect("--include", self.include)
        self.ledger.expect_excludes(self.exclude)

    def accepts(self, name: str, path: Sequence[str] = ()) -> bool:
        """``path`` is the file's place under DEST, its parts in order (the name last)."""
        joined = "/".join(path)
        included = [pattern for pattern in self.include if glob_matches(pattern, name, joined)]
        for pattern in included:
            self.ledger.hit("--include", pattern)
        if any(glob_matches(pattern, name, joined) for pattern in self.exclude):
            self.ledger.excluded += 1
            return False
        if self.include and not included:
            return False
        self.ledger.taken += 1
        return True
