"""Small text helpers for people-facing output."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def upload_plan(planned: Sequence[Mapping[str, Any]], size: int) -> str:
    """The closing line of `upload --dry-run`: what would be sent, and how much of it is de-identified first."""
    anonymized = sum(1 for p in planned if p.get("anonymize"))
    files = sum(1 for p in planned if p.get("action") == "upload")
    return (
        f"would upload {files} file(s), {human_bytes(size)} as on disk; "
        f"{anonymized} DICOM file(s) de-identified locally first"
    )


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def printable(text: str) -> str:
    """``text`` with control characters shown as escapes: a name from a server must not drive the terminal."""
    if not CONTROL_CHARACTER.search(text):
        return text
    return CONTROL_CHARACTER.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)
