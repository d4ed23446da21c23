"""The baselines' HTTP: ``requests`` (what the official scripts use) when installed, else the standard library.

Both open a new connection for every call, as module-level ``requests.get``/``requests.post`` do: no session,
no connection reuse, no streaming, no retries, no timeout. The whole body is read into memory.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

try:
    import requests
except ImportError:  # the bench extra brings it; without it the standard library stands in
    requests = None

TRANSPORT = f"requests {requests.__version__}" if requests is not None else "urllib (requests not installed)"


class Reply:
    def __init__(self, status: int, headers: dict[str, str], content: bytes, url: str) -> None:
        self.status_code = status
        self.headers = headers
        self.content = content
        self.url = url

    def json(self) -> Any:
        return json.loads(self.content)


def get(url: str, headers: dict[str, str] | None = None) -> Reply:
    if requests is not None:
        r = requests.get(url, headers=headers or {})
        return Reply(r.status_code, dict(r.headers), r.content, r.url)
    return _urllib("GET", url, headers or {}, None)


def post_json(url: str, body: Any, headers: dict[str, str] | None = None) -> Reply:
    if requests is not None:
        r = requests.post(url, json=body, headers=headers or {})
        return Reply(r.status_code, dict(r.headers), r.content, r.url)
    data = json.dumps(body).encode()
    return _urllib("POST", url, {**(headers or {}), "Content-Type": "application/json"}, data)


def _urllib(method: str, url: str, headers: dict[str, str], data: bytes | None) -> Reply:
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request) as response:
            return Reply(response.status, dict(response.headers), response.read(), response.url)
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, dict(exc.headers), exc.read(), url)
