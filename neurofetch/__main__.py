"""Entry point: runs the app and is the one place that turns errors into exit codes."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from neurofetch.errors import ExitCode, NeurofetchError

    try:
        from neurofetch.cli.app import app

        code = app(args=argv, prog_name="neurofetch", standalone_mode=False)
    except NeurofetchError as exc:
        _error(str(exc))
        return int(exc.exit_code)
    except KeyboardInterrupt:
        _error("interrupted; run the same command again to resume")
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:
        # Click's own usage errors carry .show() and an exit code; anything else is a bug.
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            return int(exc.exit_code)
        if type(exc).__name__ == "Abort":
            _error("interrupted")
            return int(ExitCode.INTERRUPTED)
        raise
    return int(code or 0)


def _error(text: str) -> None:
    from neurofetch.ui.logs import mask
    from neurofetch.ui.output import print_error_line

    print_error_line(mask(text))


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
