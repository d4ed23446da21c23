"""How the run's HTTP client connects, as plain values: whoever starts a run (settings' profiles, a notebook)
fills these in, and net/ never sees where they came from. Light: importing it imports no HTTP library."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from neurofetch import __version__

if TYPE_CHECKING:
    from neurofetch.net.retry import RetryPolicy

USER_AGENT = f"neurofetch/{__version__}"


@dataclass(frozen=True)
class HttpOptions:
    jobs: int = 4  # transfers at once: the pool keeps that many connections (+ a few)
    timeout: float = 300.0  # seconds without progress on one request; connecting: at most 30
    verify_tls: bool | str = True  # False, or the path of a CA bundle
    retries: int = 5
    retry_wait_max: float = 60.0
    user_agent: str = USER_AGENT
    bwlimit: int | None = None  # bytes per second for the whole client, up and down; None: no cap

    def retry_policy(self) -> RetryPolicy:
        from neurofetch.net.retry import RetryPolicy

        return RetryPolicy.from_profile(self.retries, self.retry_wait_max)
