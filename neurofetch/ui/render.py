"""Turn a RunResult into what people and scripts see: a closing summary on stderr, JSON on stdout."""

from __future__ import annotations

import logging
import sys

from rich.console import Console

from neurofetch.transfer.results import Failure, RunResult
from neurofetch.ui.console import make_console
from neurofetch.ui.logs import mask
from neurofetch.ui.output import print_json_document
from neurofetch.ui.text import human_bytes, plural, printable

SHOWN_FAILURES = 20
COUNT_WORDS = {
    "downloaded": "downloaded",
    "skipped": "already complete",
    "to_download": "to download",
    "metadata_written": "metadata files written",
    "verified": "verified",
    "uploaded": "uploaded",
    "published": "published",
    "deleted": "deleted",
    "to_upload": "to upload",
}


def render_result(result: RunResult, *, json_mode: bool, quiet: bool, no_color: bool = False) -> int:
    """Print the summary (and the JSON document with --json); return the exit code."""
    console = make_console(no_color=no_color)
    if result.dry_run and not json_mode and not quiet:
        for action in result.planned:
            shown = action.get("path") or action.get("item", "")
            sys.stdout.write(mask(f"{action.get('action', '?')}: {shown}") + "\n")
        sys.stdout.flush()
    # Each failure was shown as it happened; here they are listed again under a heading, so that the
    # last one is never the same line twice in a row.
    _print_list(console, plural(len(result.failures), "failure") + ":", result.failures, "red")
    _print_list(
        console,
        plural(len(result.integrity_problems), "file") + " changed on disk:",
        result.integrity_problems,
        "yellow",
    )
    for warning in result.warnings:
        console.print(printable(mask(f"neurofetch: warning: {warning}")), markup=False, style="yellow")
    logging.getLogger("neurofetch").info(summary_line(result))  # --log-file ends with what happened
    console.print(summary_line(result), markup=False)  # -q too: errors and this line
    if not quiet or result.failures or result.interrupted:
        for message in result.messages:
            console.print(mask(message), markup=False)
    if json_mode:
        print_json_document(result.to_json())
    return int(result.exit_code)


def _print_list(console: Console, heading: str, items: list[Failure], style: str) -> None:
    if not items:
        return
    console.print(heading, markup=False, style=style)
    for item in items[:SHOWN_FAILURES]:
        console.print(printable(mask(f"  {item.item}: {item.error}")), markup=False, style=style)
    if len(items) > SHOWN_FAILURES:
        console.print(f"  ... and {len(items) - SHOWN_FAILURES} more (see --json)", markup=False)


def summary_line(result: RunResult) -> str:
    parts = [f"{n} {COUNT_WORDS.get(k, k.replace('_', ' '))}" for k, n in result.counts.items() if n]
    parts.append(f"{human_bytes(result.bytes)} in {result.seconds:.1f} s")
    if result.failures:
        parts.append(plural(len(result.failures), "failure"))
    head = {"ok": "done", "partial": "finished with problems", "failed": "stopped"}[result.status]
    if result.interrupted:
        head = "interrupted; run the same command again to resume"
    if result.dry_run:
        head = "dry run, nothing changed"
    return f"{result.command}: {head}: " + ", ".join(parts)
