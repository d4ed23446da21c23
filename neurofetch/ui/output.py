"""The only place that writes to stdout/stderr directly: data lines and plain messages."""

from __future__ import annotations

import json
import sys
from typing import Any

from neurofetch.ui.logs import mask, mask_strings
from neurofetch.urls import redact_urls_in

_owed: dict[str, Any] = {}  # with --json: the command whose result document stdout still owes


def print_data_line(text: str) -> None:
    """One line of data on stdout (URLs, listings), flushed at once for scripts that read it."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def print_error_line(text: str) -> None:
    sys.stderr.write(f"neurofetch: error: {mask(text)}\n")
    sys.stderr.flush()


def print_message(text: str) -> None:
    sys.stderr.write(redact_urls_in(text) + "\n")
    sys.stderr.flush()


def print_warning(text: str) -> None:
    sys.stderr.write(f"neurofetch: warning: {redact_urls_in(text)}\n")
    sys.stderr.flush()


def owe_json_document(command: str | None) -> None:
    """--json is on: whatever happens, ``command`` ends with one result document on stdout."""
    _owed.clear()
    _owed["command"] = command


def owe_nothing() -> None:
    """A new command starts: no document owed yet."""
    _owed.clear()


def print_json_document(document: dict[str, Any]) -> None:
    _owed.clear()
    sys.stdout.write(json.dumps(mask_strings(document), sort_keys=True) + "\n")
    sys.stdout.flush()


def print_failure_document(exit_code: int, error: str, done: dict[str, Any] | None = None) -> None:
    """The result document of a run that an error ended (when --json owes one): what was done, and why it ended."""
    if not _owed:
        return
    document: dict[str, Any] = {
        "neurofetch": 1,
        "command": _owed["command"],
        "counts": {},
        "bytes": 0,
        "seconds": 0.0,
        "failures": [],
    }
    document.update(done or {})
    status = "partial" if exit_code in (1, 6) else "failed"  # as for a result: some done, or nothing
    document.update(status=status, exit_code=exit_code, error=error)
    print_json_document(document)
