"""How the S3 clients wait out a throttling or briefly failing endpoint (503 SlowDown, 429, 5xx).

botocore's standard retry mode reads only ``x-amz-retry-after`` (milliseconds), not the ``Retry-After`` a
proxy or an S3-compatible store sends, and waits as little as 50 ms before retrying a 503 without S3's
SlowDown code. ``honour_retry_after`` makes its S3 client wait what ``Retry-After`` asks (seconds or an
HTTP-date, capped) within the same attempt budget.

obstore (object_store) cannot see headers from Python and ignores ``Retry-After``; it retries 429 and 5xx
with its own backoff, which starts at 100 ms: five attempts would be over within a second. OBSTORE_BACKOFF
starts at 1 s, so its four retries span at least 4 s (usually 7-10 s), like botocore's throttling backoff.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from obstore.store import BackoffConfig

RETRY_AFTER_STATUSES = frozenset({429, 500, 502, 503, 504})
OBSTORE_BACKOFF: BackoffConfig = {
    "init_backoff": timedelta(seconds=1),
    "max_backoff": timedelta(seconds=15),
    "base": 2,
}


def honour_retry_after(client: Any, max_attempts: int) -> None:
    """Make botocore ``client`` wait a response's ``Retry-After`` before its next attempt, while attempts are
    left; responses without one keep botocore's own backoff."""
    from neurofetch.net.retry import RetryPolicy, parse_retry_after

    def needs_retry(response: Any = None, attempts: int = 0, **_kwargs: Any) -> float | None:
        if response is None or attempts >= max_attempts:
            return None  # no answer (a connection error), or the budget is spent: botocore decides
        http_response = response[0]
        if http_response.status_code not in RETRY_AFTER_STATUSES:
            return None
        wait = parse_retry_after(http_response.headers.get("retry-after"))
        if not wait:
            return None
        return min(wait, RetryPolicy.max_wait)

    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register_first(f"needs-retry.{service}", needs_retry, unique_id="neurofetch-retry-after")
