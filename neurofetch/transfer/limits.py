"""How a run moves its bytes, read from a profile or the environment: ``bwlimit``, ``wait`` and ``segments``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from neurofetch.errors import ConfigError

MAX_SEGMENTS = 32


def parse_segments(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None
    if not 1 <= number <= MAX_SEGMENTS:
        raise ValueError(f"must be between 1 and {MAX_SEGMENTS}, not {number}")
    return number


def transfer_settings(profile: str, raw: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """``bwlimit`` (bytes per second, from ``10M``), ``wait`` (seconds; ``forever``: no limit) and ``segments``,
    those set by the profile ``raw`` or else by NEUROFETCH_BWLIMIT / _WAIT / _SEGMENTS."""
    from neurofetch.net.bandwidth import parse_rate
    from neurofetch.transfer.lock import parse_wait

    parsers: dict[str, Callable[[str], Any]] = {"bwlimit": parse_rate, "wait": parse_wait, "segments": parse_segments}
    found: dict[str, Any] = {}
    for key, parse in parsers.items():
        value = raw.get(key, env.get(f"NEUROFETCH_{key.upper()}"))
        if value is None or value == "":
            continue
        try:
            found[key] = parse(str(value))
        except ValueError as exc:
            raise ConfigError(f"profile {profile!r}: {key}: {exc}") from None
    return found


def given_limits(
    *, bwlimit: str | int | None = None, wait: str | float | None = None, segments: str | int | None = None
) -> dict[str, Any]:
    """--bwlimit, --wait and --segments as given (a flag's text or a Python value), those given, parsed:
    ``{"bwlimit": bytes per second, "wait": seconds, "segments": n}``; a bad value is a UsageError naming it."""
    from neurofetch.errors import UsageError
    from neurofetch.net.bandwidth import parse_rate
    from neurofetch.transfer.lock import parse_wait

    parsers: dict[str, Callable[[str], Any]] = {"bwlimit": parse_rate, "wait": parse_wait, "segments": parse_segments}
    found: dict[str, Any] = {}
    for key, value in (("bwlimit", bwlimit), ("wait", wait), ("segments", segments)):
        if value is None:
            continue
        try:
            found[key] = parsers[key](str(value))
        except ValueError as exc:
            raise UsageError(f"--{key}: {exc}") from None
    return found
