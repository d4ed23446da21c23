"""--bwlimit: one token bucket per run, shared by every transfer in both directions.

A transfer takes tokens for the bytes it has just moved and, when the bucket is in debt, sleeps until the
debt is paid: whatever the number of transfers, the bytes moved by time t never exceed ``burst + rate·t``.
Event-loop code awaits :meth:`Bandwidth.take`; threads (boto3's transfer workers) call :meth:`take_blocking`.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time

UNITS = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}
RATE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([kmg]?)(?:i?b?(?:/s)?)?", re.IGNORECASE)
BURST_SECONDS = 0.125  # the bucket holds an eighth of a second of traffic...
MIN_BURST = 16 * 1024  # ...but at least this much, so small limits still move whole TCP segments


def parse_rate(text: str) -> int:
    """``10M`` → 10,000,000 bytes per second (``500k``, ``1.5G``, ``2000``; a trailing ``B``/``B/s`` is fine)."""
    match = RATE.fullmatch(text.strip())
    rate = int(float(match.group(1)) * UNITS[match.group(2).lower()]) if match else 0
    if rate < 1:
        raise ValueError(f"{text!r} is not a rate in bytes per second such as 10M, 500k or 1.5G")
    return rate


class Bandwidth:
    """A token bucket of ``rate`` bytes per second; safe to share between the event loop and threads."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.burst = max(MIN_BURST, int(rate * BURST_SECONDS))
        self._tokens = float(self.burst)
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    async def take(self, nbytes: int) -> None:
        delay = self._debit(nbytes)
        if delay > 0:
            await asyncio.sleep(delay)

    def take_blocking(self, nbytes: int) -> None:
        delay = self._debit(nbytes)
        if delay > 0:
            time.sleep(delay)

    def _debit(self, nbytes: int) -> float:
        """Take ``nbytes`` now; return how long the caller must wait until the bucket is out of debt."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= nbytes
            return -self._tokens / self.rate if self._tokens < 0 else 0.0
