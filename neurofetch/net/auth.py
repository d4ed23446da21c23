"""httpx.Auth classes: a bearer token that re-obtains itself, and an API-key header."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass

import httpx

from neurofetch.credentials import Secret

RENEW_MARGIN = 300.0   # re-login this many seconds before the token's exp


@dataclass
class Token:
    value: Secret
    expires_at: float | None   # epoch seconds, from the JWT's exp when there is one

    @classmethod
    def from_jwt(cls, value: str, source: str = "login") -> Token:
        return cls(Secret(value, source=source), jwt_expiry(value))

    def fresh(self, now: float | None = None) -> bool:
        if self.expires_at is None:
            return True
        return (time.time() if now is None else now) < self.expires_at - RENEW_MARGIN


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, read without verifying the signature (we are not its audience)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError):
        return None


Obtain = Callable[[httpx.AsyncClient], Awaitable[Token]]


class RenewingBearerAuth(httpx.Auth):
    """Bearer auth that logs in when needed: before ``exp``, and once again after an unexpected 401.

    ``obtain`` performs the login; it raises AuthError when the server refuses the credentials,
    and that error ends the run: a refused login is never retried (accounts lock).
    Concurrent requests share one login (single flight).
    """

    def __init__(self, obtain: Obtain | None, token: Token | None = None) -> None:
        self._obtain = obtain
        self._token = token
        self._lock = asyncio.Lock()
        self._client: httpx.AsyncClient | None = None
        self.logins = 0

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
                return self._token
            if self._obtain is None:
                return None
            await self._renew()
            return self._token

    async def _renew(self) -> None:
        if self._obtain is None:
            from neurofetch.errors import AuthError

            raise AuthError("the token has expired and no password is available to log in again; "
                            "run `neurofetch login` or set NEUROFETCH_PASSWORD")
        assert self._client is not None, "bind() the auth to its client first"
        self._token = await self._obtain(self._client)
        self.logins += 1

    @property
    def token(self) -> Token | None:
        return self._token

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.current()
        request.headers["Authorization"] = f"Bearer {token.value.value}"
        response = yield request
        if response.status_code != 401:
            return
        renewed = await self.renew_after_rejection(token)
        if renewed is None:
            return
        request.headers["Authorization"] = f"Bearer {renewed.value.value}"
        yield request


class ApiKeyAuth(httpx.Auth):
    """Sends the API key in a header (Datamint: ``apikey``)."""

    def __init__(self, key: Secret, header: str = "apikey") -> None:
        self._key = key
        self._header = header

    def auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:  # type: ignore[override]
        request.headers[self._header] = self._key.value
        yield request
