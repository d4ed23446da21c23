"""Which LORIS API version a profile speaks to, and where its base URL is.

The version is the last segment of the API base (``…/api/v0.0.4-dev``). A profile can name it with the key
``api_version`` instead (the URL is then the LORIS host, or its ``/api``); with neither, the server is asked once:
``GET <root>/api/<version>/projects`` without credentials answers 401 (or 200) only under a version it serves.
Nothing else depends on the version: the crawl reads only what every version sends alike; the version only
says whether the server can list what changed since a date (``?since=`` on project images, v0.0.4-dev).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from neurofetch.errors import ConfigError, UnreachableError
from neurofetch.net.http import AsyncClient, Response, TransportError
from neurofetch.net.retry import RetryableError, RetryPolicy, describe, retrying, status_error
from neurofetch.urls import redact_url

KNOWN_VERSIONS = ("v0.0.4-dev", "v0.0.3", "v0.0.3-dev")  # newest first: the order of the probe
WITHOUT_SINCE = ("v0.0.3-dev", "v0.0.3")  # versions whose project images ignore ?since=
VERSION_SEGMENT = re.compile(r"v[0-9]+\.[0-9]+\.[0-9]+[^/]*")  # the pattern of LORIS's own router


def version_in_url(url: str) -> str | None:
    """The API version the URL ends with, if it does."""
    last = url.rstrip("/").rsplit("/", 1)[-1]
    return last if VERSION_SEGMENT.fullmatch(last) else None


def api_root(url: str) -> str:
    """Where the versions live: the URL's ``/api``, or the URL itself when it ends with ``/api``."""
    url = url.rstrip("/")
    return url if url.endswith("/api") else f"{url}/api"


def check_api_version(profile: str, value: object) -> str | None:
    """The profile key ``api_version``: a version segment such as v0.0.4-dev, or nothing."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not VERSION_SEGMENT.fullmatch(value):
        raise ConfigError(f"profile {profile!r}: api_version must look like v0.0.4-dev, not {value!r}")
    return value


@dataclass
class LorisApi:
    """A profile's LORIS API: its base URL and version, found once per run (probing only when neither the URL
    nor the profile names the version)."""

    url: str
    configured: str | None
    policy: RetryPolicy
    base_url: str | None = field(default=None, init=False)
    version: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        in_url = version_in_url(self.url)
        if in_url and self.configured and in_url != self.configured:
            raise ConfigError(
                f"the url ends with API version {in_url} but api_version says {self.configured}; keep one of them"
            )
        if in_url:
            self.base_url, self.version = self.url, in_url
        elif self.configured:
            self.base_url, self.version = f"{api_root(self.url)}/{self.configured}", self.configured

    @property
    def offers_since(self) -> bool:
        """Whether asking for ``?since=`` is worth a request (an unknown, newer version is given the chance)."""
        return self.version not in WITHOUT_SINCE

    async def resolve(self, client: AsyncClient) -> str:
        """The API base URL; the first call without a known version asks the server which one it serves."""
        if self.base_url is None:
            self.version = await _probe(client, api_root(self.url), self.policy)
            self.base_url = f"{api_root(self.url)}/{self.version}"
        return self.base_url


async def _probe(client: AsyncClient, root: str, policy: RetryPolicy) -> str:
    for version in KNOWN_VERSIONS:
        url = f"{root}/{version}/projects"

        async def attempt(url: str = url) -> Response:
            response = await client.get(url, auth=None)  # no credentials: only the status matters
            retryable = status_error(response, "LORIS API version probe")
            if retryable is not None:
                raise retryable
            return response

        try:
            response = await retrying(attempt, policy, "LORIS API version probe")
        except RetryableError as exc:
            raise UnreachableError(f"LORIS at {redact_url(root)}: {exc}") from None
        except TransportError as exc:
            raise UnreachableError(f"cannot reach LORIS: {describe(exc)}") from None
        if response.status_code in (401, 403) or (response.status_code == 200 and _is_json(response)):
            return version
    raise UnreachableError(
        f"no LORIS API answers under {redact_url(root)} (tried {', '.join(KNOWN_VERSIONS)}); "
        f"give the API base as the url, e.g. {redact_url(root)}/{KNOWN_VERSIONS[-1]}, or set "
        "the profile's api_version"
    )


def _is_json(response: Response) -> bool:
    """A web page that answers 200 to every path is not the API (whatever its Content-Type says)."""
    import json

    try:
        json.loads(response.content)
    except ValueError:
        return False
    return True
