"""Credentials stay with their origin (scheme, host, port): the redirect and cookie rules of the run's client.

- A GET or HEAD redirected to another origin is followed without any credential header (those the auth
  declares in ``credential_headers``, plus Authorization, Proxy-Authorization and Cookie): a presigned
  storage URL on another host works without the key.
- Any other request (a login with the password in its body, an upload, a publish) is never re-sent to
  another origin: the redirect is refused with an UnreachableError naming both origins.
- One exception, as in httpx and requests: http -> https on the same host with default ports is an upgrade
  of the same server, not another one.
- Cookies go back only to the origin that set them: http.cookiejar alone ignores ports (two servers on one
  host would share them) and sends a ``Domain=`` cookie to every subdomain.
- A URL with a user name or password in it (``http://user:pass@host/``) is never requested, nor followed
  as a redirect: profiles refuse them, so such a URL came from a server, and its credentials are not ours
  to send. The item fails, the userinfo never shown.

A body that does not decode as its Content-Encoding says (``gzip`` on plain bytes) is a RemoteDataError
naming the URL. Downloads read the raw bytes and are not decoded.
"""

from __future__ import annotations

from typing import Any

import httpx

from neurofetch.errors import ItemError, RemoteDataError, UnreachableError
from neurofetch.urls import redact_url

MAX_REDIRECTS = 10
ALWAYS_CREDENTIALS = frozenset({"authorization", "proxy-authorization", "cookie"})
FOLLOWED_ACROSS_ORIGINS = frozenset({"GET", "HEAD"})

Origin = tuple[str, str, int | None]


def origin_of(url: httpx.URL) -> Origin:
    return url.scheme, url.host, url.port  # httpx gives None for a scheme's default port


def same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return a.scheme == b.scheme and a.host == b.host and a.port == b.port


def origin_text(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")


def is_https_upgrade(old: httpx.URL, new: httpx.URL) -> bool:
    return (
        old.host == new.host
        and old.scheme == "http"
        and old.port is None
        and new.scheme == "https"
        and new.port is None
    )


def has_body(request: httpx.Request) -> bool:
    return request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers


class CookiesByOrigin(httpx.Cookies):
    """The client's cookies, a jar per origin. httpx's own jar (``self.jar``) stays empty, so httpx adds
    no Cookie header by itself; the client asks ``set_cookie_header`` for the request's origin.

    Only responses that set a cookie are parsed: http.cookiejar builds a urllib request and an email
    message for every response it looks at (a tenth of a small request's CPU).
    """

    def __init__(self, cookies: Any = None) -> None:
        super().__init__(cookies)
        self.by_origin: dict[Origin, httpx.Cookies] = {}

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            origin = origin_of(response.request.url)
            jar = self.by_origin.get(origin)
            if jar is None:
                jar = self.by_origin[origin] = httpx.Cookies()
            jar.extract_cookies(response)

    def set_cookie_header(self, request: httpx.Request) -> None:
        jar = self.by_origin.get(origin_of(request.url))
        if jar is not None:
            jar.set_cookie_header(request)


class OriginBoundClient(httpx.AsyncClient):
    """httpx's client with the rules above at the one place every redirect hop is built."""

    def __init__(self, *, auth: httpx.Auth | None = None, **kwargs: Any) -> None:
        super().__init__(auth=auth, max_redirects=MAX_REDIRECTS, **kwargs)
        declared = getattr(auth, "credential_headers", ())
        self._credential_headers = ALWAYS_CREDENTIALS | {name.lower() for name in declared}
        self._by_origin = CookiesByOrigin()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._by_origin

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        self._by_origin = CookiesByOrigin(cookies)

    def build_request(self, *args: Any, **kwargs: Any) -> httpx.Request:
        request = super().build_request(*args, **kwargs)
        if self._by_origin.by_origin:
            self._by_origin.set_cookie_header(request)
        return request

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        refuse_credentials_in(request.url)
        try:
            return await super().send(request, **kwargs)
        except httpx.TooManyRedirects:
            raise UnreachableError(
                f"{origin_text(request.url)} redirected more than {MAX_REDIRECTS} times "
                f"for {request.url.path}; giving up"
            ) from None
        except httpx.DecodingError:
            raise RemoteDataError(
                f"the answer from {redact_url(str(request.url))} does not decode as its Content-Encoding says"
            ) from None

    def _build_redirect_request(self, request: httpx.Request, response: httpx.Response) -> httpx.Request:
        redirect = super()._build_redirect_request(request, response)
        refuse_credentials_in(redirect.url)
        if not same_origin(request.url, redirect.url) and not is_https_upgrade(request.url, redirect.url):
            if request.method not in FOLLOWED_ACROSS_ORIGINS or has_body(request):
                raise UnreachableError(
                    f"{origin_text(request.url)} redirected {request.method} {request.url.path} to another origin, "
                    f"{origin_text(redirect.url)}: a login or an upload is never re-sent to another server"
                )
            for name in self._credential_headers:
                redirect.headers.pop(name, None)
        self._by_origin.set_cookie_header(redirect)
        return redirect


def refuse_credentials_in(url: httpx.URL) -> None:
    if url.userinfo:
        raise ItemError(
            f"{redact_url(str(url))}: the server gave this URL with a user name or password in it; "
            "neurofetch does not send credentials a server put in a URL"
        )
