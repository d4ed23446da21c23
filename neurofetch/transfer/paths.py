"""The one safe-path function: every name that comes from a server passes through here."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

STATE_DIR = ".neurofetch"   # DEST/.neurofetch: journal and lock
MAX_NAME_BYTES = 255
WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"COM{i}" for i in range(1, 10)] + [f"LPT{i}" for i in range(1, 10)]
)
CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")   # Unicode category Cc
WINDOWS_FORBIDDEN = re.compile('[<>:"|?*]')


class UnsafeName(ValueError):
    """A server-provided name that cannot be used as a local path component."""


def check_component(name: object) -> str:
    """Return ``name`` if it is safe as one path component on every OS, else raise UnsafeName."""
    if not isinstance(name, str):
        raise UnsafeName(f"name {name!r} is not a string")
    problem = _problem(name)
    if problem:
        shown = repr(name) if len(name) <= 80 else repr(name[:77] + "...")
        raise UnsafeName(f"name {shown} {problem}")
    return name


def _problem(name: str) -> str | None:
    if name in ("", ".", ".."):
        return "is empty or a relative reference"
    if "/" in name or "\\" in name:
        return "contains a path separator"
    if CONTROL_CHARACTER.search(name):
        return "contains a control character"
    if WINDOWS_FORBIDDEN.search(name):
        return "contains a character Windows forbids"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"is longer than {MAX_NAME_BYTES} bytes"
    if name.split(".")[0].upper().rstrip(" ") in WINDOWS_RESERVED:
        return "is reserved on Windows"
    if name.endswith((" ", ".")):
        return "ends with a space or a dot"
    return None


def safe_relpath(parts: Iterable[object]) -> str:
    """Join checked components into a POSIX relative path (the journal's key)."""
    checked = [check_component(p) for p in parts]
    if not checked:
        raise UnsafeName("empty path")
    return "/".join(checked)


def local_path(root: Path, relpath: str) -> Path:
    """The local path of a journal key, refusing anything that would leave ``root``.

    The check is lexical: every key is built from components that passed ``check_component``, and
    servers cannot create symlinks; a symlink a user placed inside the destination is followed on
    purpose. Resolving each path on disk instead costs a realpath per file on every run.
    """
    parts = relpath.split("/")
    if relpath.startswith("/") or any(part in ("", ".", "..") or "\\" in part for part in parts):
        raise UnsafeName(f"path {relpath!r} leads outside the destination")
    return root.joinpath(*parts)
