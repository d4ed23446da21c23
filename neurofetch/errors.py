"""Exit codes and the exception hierarchy. Each exception knows its exit code; only
``neurofetch.__main__`` turns them into a process exit status."""

from __future__ import annotations

import errno
from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    OK = 0
    PARTIAL = 1
    USAGE = 2
    AUTH = 3
    LOCKED = 4
    UNREACHABLE = 5
    INTEGRITY = 6
    DESTINATION = 7
    INTERRUPTED = 130


class NeurofetchError(Exception):
    """Base of every error a user can meet; ``str(error)`` is the one line shown to them.

    ``result`` is what a run had done when the error stopped it (a RunResult), for the --json document.
    """

    exit_code: ClassVar[ExitCode] = ExitCode.PARTIAL
    result: object | None = None


class UsageError(NeurofetchError):
    """Bad flags, arguments or configuration values."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """The config file or a profile is unusable (unknown service, no URL, bad YAML)."""


class AuthError(NeurofetchError):
    """Missing, wrong or expired credentials that re-login could not fix."""

    exit_code = ExitCode.AUTH


class ForbiddenError(AuthError):
    """Logged in, but refused this one resource (HTTP 403): LORIS 22+ answers so for candidates of other sites
    and projects. A mirror fails that item and goes on; where nothing else can work, it stops the run."""


class LockedError(NeurofetchError):
    """Another run holds the destination."""

    exit_code = ExitCode.LOCKED


class UnreachableError(NeurofetchError):
    """The service could not be reached or kept failing."""

    exit_code = ExitCode.UNREACHABLE


class IntegrityError(NeurofetchError):
    """A local file does not match what was recorded."""

    exit_code = ExitCode.INTEGRITY


class RemoteDataError(NeurofetchError):
    """The service answered something of the wrong shape (not JSON, missing keys)."""

    exit_code = ExitCode.UNREACHABLE


class EndlessListingError(RemoteDataError):
    """A paged listing that cannot end (pages repeat, bring nothing, or outrun what the server announced):
    the whole run stops, whichever page showed it."""


class DestinationError(NeurofetchError):
    """The destination cannot be written (disk full, read-only, no permission): the run stops.

    Files already complete stay complete and recorded; a ``.part`` being written is removed, the
    others stay for the next run to resume.
    """

    exit_code = ExitCode.DESTINATION


UNWRITABLE_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


def unwritable(exc: OSError, where: object) -> DestinationError | None:
    """The DestinationError for an OSError that says the destination cannot take data; None for other errors."""
    reason = UNWRITABLE_REASONS.get(exc.errno or 0)
    return DestinationError(f"cannot write {where}: {reason}") if reason else None


class ItemError(NeurofetchError):
    """One item (file, image, resource) failed; the run goes on and ends PARTIAL."""

    exit_code = ExitCode.PARTIAL


class HttpStatusError(ItemError):
    """The service answered a request with an error status that no retry or login changes (404, 400, ...)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Interrupted(NeurofetchError):
    """Ctrl-C or SIGTERM: state is consistent and a re-run resumes."""

    exit_code = ExitCode.INTERRUPTED
