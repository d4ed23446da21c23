"""httpx.Auth classes: a bearer token that re-obtains itself, and an API-key header.

Each declares in ``credential_headers`` the headers it sets, so the client (net/http.py) drops them when a
redirect leads to another origin.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass

import httpx

from neurofetch.errors import RemoteDataError
from neurofetch.net import json_limits
from neurofetch.net.origins import same_origin
from neurofetch.net.secret import Secret

MAX_RENEWALS_PER_REQUEST = 3
RENEW_MARGIN = 300.0  # re-login this many seconds before the token's exp ...
RENEW_FRACTION = 0.25  # ... or this fraction of its lifetime, if that is shorter


@dataclass
class Token:
    value: Secret
    expires_at: float | None  # epoch seconds, from the JWT's exp when there is one
    issued_at: float | None = None

    @classmethod
    def from_jwt(cls, value: str, source: str = "login") -> Token:
        return cls(Secret(value, source=source), jwt_expiry(value), _jwt_claim(value, "iat"))

    def fresh(self, now: float | None = None) -> bool:
        if self.expires_at is None:
            return True
        margin = RENEW_MARGIN
        if self.issued_at is not None and self.expires_at > self.issued_at:
            # A short-lived token must not look stale from birth (that would mean a login per request).
            margin = min(margin, (self.expires_at - self.issued_at) * RENEW_FRACTION)
        return (time.time() if now is None else now) < self.expires_at - margin


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, read without verifying the signature (we are not its audience)."""
    return _jwt_claim(token, "exp")


def _jwt_claim(token: str, name: str) -> float | None:
    try:
        payload = token.split(".")[1]
        claims = json_limits.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)), "token")
        return float(claims[name])
    except (IndexError, KeyError, TypeError, ValueError, RemoteDataError):
        return None


Obtain = Callable[[httpx.AsyncClient], Awaitable[Token]]


class RenewingBearerAuth(httpx.Auth):
    """Bearer auth that logs in when needed: before ``exp``, and once again after an unexpected 401.

    ``obtain`` performs the login; it raises AuthError when the server refuses the credentials,
    and that error ends the run: a refused login is never tried again, by this request or any
    other one waiting for it (repeated bad logins lock the account).
    Concurrent requests share one login (single flight).
    A 401 from another origin (where a redirect led, without the token) is that server's answer, not a
    sign that the token expired: it triggers no login.
    """

    credential_headers = ("Authorization",)

    def __init__(self, obtain: Obtain | None, token: Token | None = None) -> None:
        self._obtain = obtain
        self._token = token
        self._lock = asyncio.Lock()
        self._client: httpx.AsyncClient | None = None
        self._refused: BaseException | None = None
        self.logins = 0

    def __repr__(self) -> str:
        return f"RenewingBearerAuth(token={self._token!r}, logins={self.logins})"

    def bind(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def current(self) -> Token:
        async with self._lock:
            if self._token is None or (not self._token.fresh() and self._obtain is not None):
                await self._renew()
            assert self._token is not None
            return self._token

    async def renew_after_rejection(self, rejected: Token) -> Token | None:
        """A fresh token unless the rejected one was already replaced; None when we cannot log in."""
        async with self._lock:
            if self._token is not None and self._token.value.value != rejected.value.value:
                return self._token  # another request logged in meanwhile
            # Same string: the server refuses it now, even if it came from a login a moment ago
            # (tokens issued in the same second are identical), so log in again.
            if self._obtain is None:
                return None
            await self._renew()
            return self._token

    async def _renew(self) -> None:
        if self._obtain is None:
            from neurofetch.errors import AuthError

            raise AuthError(
                "the token has expired and no password is available to log in again; "
                "run `neurofetch login` or set NEUROFETCH_PASSWORD"
            )
        if self._refused is not None:
            raise self._refused
        assert self._client is not None, "bind() the auth to its client first"
        from neurofetch.errors import AuthError

        try:
            self._token = await self._obtain(self._client)
        except AuthError as exc:
            self._refused = exc
            raise
        self.logins += 1

    @property
    def token(self) -> Token | None:
        return self._token

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = self._token
        if token is None or not token.fresh():  # the lock only when a login may be due, not on every request
            token = await self.current()
        for _ in range(MAX_RENEWALS_PER_REQUEST):
            request.headers["Authorization"] = f"Bearer {token.value.value}"
            response = yield request
            if response.status_code != 401 or not same_origin(response.url, request.url):
                return
            # Re-login once for this token; if the fresh token is refused again before our retry
            # (others used it up, or it expired at once), a few more rounds, each with a new login.
            renewed = await self.renew_after_rejection(token)
            if renewed is None:
                return
            token = renewed
        request.headers["Authorization"] = f"Bearer {token.value.value}"
        yield request


class ApiKeyAuth(httpx.Auth):
    """Sends the API key in a header (Datamint: ``apikey``)."""

    def __init__(self, key: Secret, header: str = "apikey") -> None:
        self._key = key
        self._header = header
        self.credential_headers = (header,)

    def __repr__(self) -> str:
        return f"ApiKeyAuth(header={self._header!r}, key={self._key!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self._header] = self._key.value
        yield request
