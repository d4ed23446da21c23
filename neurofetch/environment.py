"""Numbers read from environment variables: a bad value is a usage error naming the variable, never a traceback."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from neurofetch.errors import UsageError


def env_number(
    name: str, default: float, *, minimum: float, unit: str = "seconds", environ: Mapping[str, str] = os.environ
) -> float:
    """``environ[name]`` as a finite number of at least ``minimum``; ``default`` when unset or empty."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= minimum):
        least = f"{minimum:g}"
        raise UsageError(f"{name} must be a number of {unit}, at least {least}, not {raw!r}")
    return value
