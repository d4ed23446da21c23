"""The only place that writes to stdout/stderr directly: data lines and plain messages."""

from __future__ import annotations

import sys


def print_data_line(text: str) -> None:
    """One line of data on stdout (URLs, listings), flushed at once for scripts that read it."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def print_error_line(text: str) -> None:
    sys.stderr.write(f"neurofetch: error: {text}\n")
    sys.stderr.flush()


def print_message(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def print_warning(text: str) -> None:
    sys.stderr.write(f"neurofetch: warning: {text}\n")
    sys.stderr.flush()
