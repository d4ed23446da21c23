"""Entry point: runs the app and is the one place that turns errors into exit codes."""

from __future__ import annotations

import contextvars
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

    SignalHandler = Callable[[int, FrameType | None], Any] | int | None


def main(argv: list[str] | None = None) -> int:
    return run_app("neurofetch.cli.app", argv, prog_name="neurofetch")


def run_app(module: str, argv: list[str] | None, *, prog_name: str) -> int:
    """Run the Typer ``app`` of ``module`` (neurofetch, neurofetch-config) and return its exit code."""
    import importlib

    from neurofetch.errors import ExitCode, NeurofetchError
    from neurofetch.ui.output import owe_nothing

    owe_nothing()
    previous_sigterm = _sigterm_interrupts()
    try:
        app = importlib.import_module(module).app
        # A context of its own: what one command sets for its run (the retry observer) ends with it.
        code = contextvars.copy_context().run(app, args=argv, prog_name=prog_name, standalone_mode=False)
    except NeurofetchError as exc:
        _error(str(exc))
        done = exc.result.to_json() if hasattr(exc.result, "to_json") else None
        return _failed(int(exc.exit_code), str(exc), done)
    except KeyboardInterrupt:
        _error("interrupted; run the same command again to resume")
        return _failed(int(ExitCode.INTERRUPTED), "interrupted")
    except Exception as exc:
        # Click's own usage errors carry .show() and an exit code; anything else is a bug.
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            return _failed(int(exc.exit_code), exc.format_message() if hasattr(exc, "format_message") else str(exc))
        if type(exc).__name__ == "Abort":
            _error("interrupted")
            return _failed(int(ExitCode.INTERRUPTED), "interrupted")
        raise
    finally:
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)
    return int(code or 0)


def _failed(exit_code: int, error: str, done: dict[str, object] | None = None) -> int:
    """With --json, the run's document still comes out, saying why it ended."""
    from neurofetch.ui.logs import mask
    from neurofetch.ui.output import print_failure_document

    print_failure_document(exit_code, mask(error), done)
    return exit_code


def _sigterm_interrupts() -> SignalHandler:
    """Make SIGTERM behave like Ctrl-C (exit 130, state consistent) wherever it lands; returns the old handler.

    While files transfer, the engine handles both signals itself and stops cleanly.
    """
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, interrupt)
    except (ValueError, OSError, AttributeError):
        return None


def _error(text: str) -> None:
    import logging

    from neurofetch.ui.logs import mask
    from neurofetch.ui.output import print_error_line

    print_error_line(mask(text))
    log = logging.getLogger("neurofetch")
    if log.handlers:  # into --log-file too (masked by its formatter); never a second line on stderr
        log.error(text)


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
