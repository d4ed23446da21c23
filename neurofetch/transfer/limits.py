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


def _parsers() -> dict[str, Callable[[str], Any]]:
    """Each limit's parser: text in, value out, ValueError naming what is wrong."""
    from neurofetch.net.bandwidth import parse_rate
    from neurofetch.transfer.lock import parse_wait

    return {"bwlimit": parse_rate, "wait": parse_wait, "segments": parse_segments}


def _parsed(given: Mapping[str, object], error: Callable[[str, ValueError], Exception]) -> dict[str, Any]:
    """The values of ``given`` that are not None, parsed; a bad one raises ``error(key, exc)``."""
    found: dict[str, Any] = {}
    for key, parse in _parsers().items():
        value = given.get(key)
        if value is None:
            continue
        try:
            found[key] = parse(str(value))
        except ValueError as exc:
            raise error(key, exc) from None
    return found


def transfer_settings(profile: str, raw: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """``bwlimit`` (bytes per second, from ``10M``), ``wait`` (seconds; ``forever``: no limit) and ``segments``,
    those set by the profile ``raw`` or else by NEUROFETCH_BWLIMIT / _WAIT / _SEGMENTS."""
    given = {key: raw.get(key, env.get(f"NEUROFETCH_{key.upper()}")) for key in _parsers()}
    given = {key: None if value == "" else value for key, value in given.items()}  # set but empty: unset
    return _parsed(given, lambda key, exc: ConfigError(f"profile {profile!r}: {key}: {exc}"))


def given_limits(
    *, bwlimit: str | int | None = None, wait: str | float | None = None, segments: str | int | None = None
) -> dict[str, Any]:
    """--bwlimit, --wait and --segments as given (a flag's text or a Python value), those given, parsed:
    ``{"bwlimit": bytes per second, "wait": seconds, "segments": n}``; a bad value is a UsageError naming it."""
    from neurofetch.errors import UsageError

    given = {"bwlimit": bwlimit, "wait": wait, "segments": segments}
    return _parsed(given, lambda key, exc: UsageError(f"--{key}: {exc}"))
