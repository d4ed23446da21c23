"""What a run returns: plain data the ui layer renders and ``__main__`` maps to an exit code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from neurofetch.errors import ExitCode


@dataclass
class Failure:
    item: str  # what failed, as the user knows it: a relative path, an image id, a key
    error: str  # one line, no secrets


@dataclass
class RunResult:
    """The outcome of one command run.

    ``counts`` holds named tallies (``downloaded``, ``skipped``, ``uploaded``, ``deleted``, ...);
    ``extra`` holds command-specific fields merged into the ``--json`` document.
    """

    command: str
    counts: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    interrupted: bool = False
    unreachable: bool = False  # nothing could be done because the service kept failing
    integrity_problems: list[Failure] = field(default_factory=list)
    dry_run: bool = False
    planned: list[dict[str, Any]] = field(default_factory=list)  # dry-run: one entry per action
    extra: dict[str, Any] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)  # notes for the closing summary
    warnings: list[str] = field(default_factory=list)  # e.g. a filter that matched nothing

    def add(self, counter: str, n: int = 1) -> None:
        self.counts[counter] = self.counts.get(counter, 0) + n

    def fail(self, item: str, error: str) -> None:
        self.failures.append(Failure(item, error))

    @property
    def exit_code(self) -> ExitCode:
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.unreachable:
            return ExitCode.UNREACHABLE
        if self.integrity_problems:
            return ExitCode.INTEGRITY
        if self.failures:
            return ExitCode.PARTIAL
        return ExitCode.OK

    @property
    def status(self) -> str:
        code = self.exit_code
        if code == ExitCode.OK:
            return "ok"
        if code in (ExitCode.PARTIAL, ExitCode.INTEGRITY):
            return "partial"
        return "failed"

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "neurofetch": 1,
            "command": self.command,
            "status": self.status,
            "exit_code": int(self.exit_code),
            "counts": dict(self.counts),
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "failures": [{"item": f.item, "error": f.error} for f in self.failures],
        }
        if self.warnings:
            doc["warnings"] = list(self.warnings)
        if self.integrity_problems:
            doc["integrity"] = [{"item": f.item, "error": f.error} for f in self.integrity_problems]
        if self.dry_run:
            doc["dry_run"] = True
            doc["planned"] = self.planned
        doc.update(self.extra)
        return doc
