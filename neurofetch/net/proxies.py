"""Proxies from the environment, chosen the way curl, requests and boto3 choose them.

``https_proxy`` serves https URLs, ``http_proxy`` http ones, ``all_proxy`` either when its own is unset;
``no_proxy`` lists what is reached directly: ``*``, a host or domain (and its subdomains), an IP address
or network, each optionally with ``:port``. Each also in upper case; the lower-case one wins when both are
set. Credentials in a proxy URL (``http://user:pass@proxy:3128``) go to the proxy only and are never
shown: a ``Proxy`` prints as its address and the variable that named it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from neurofetch.errors import UsageError

log = logging.getLogger("neurofetch.net")

_DEFAULT_PORTS = {"http": 80, "https": 443}
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, repr=False)
class Proxy:
    url: str  # scheme://host:port, without credentials: safe to show
    variable: str  # the environment variable that named it
    username: str = ""
    password: str = ""

    @property
    def url_with_credentials(self) -> str:
        """For clients that take the credentials inside the URL (botocore, obstore); never to be shown."""
        if not self.username:
            return self.url
        scheme, rest = self.url.split("://", 1)
        return f"{scheme}://{quote(self.username, safe='')}:{quote(self.password, safe='')}@{rest}"

    def __str__(self) -> str:
        return f"{self.url} (from {self.variable})"

    def __repr__(self) -> str:
        return f"Proxy({self.url!r}, variable={self.variable!r}{', with credentials' if self.username else ''})"


@dataclass(frozen=True)
class _Bypass:
    host: str | None  # a name matched with its subdomains
    network: _Network | None  # or an address range
    port: int | None

    def matches(self, host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            return address is not None and address in self.network
        return host == self.host or host.endswith(f".{self.host}")


class ProxyEnvironment:
    """The proxy variables as they were when it was built; ``proxy_for`` answers per origin, from a cache."""

    def __init__(self, proxies: dict[str, Proxy], bypass: list[_Bypass], bypass_all: bool) -> None:
        self._proxies = proxies  # by URL scheme
        self._bypass = bypass
        self._bypass_all = bypass_all
        self._decided: dict[tuple[str, str, int], Proxy | None] = {}

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ProxyEnvironment | None:
        """None when no proxy variable is set: then nothing per request needs to look."""
        env = os.environ if environ is None else environ
        everywhere = _variable(env, "all_proxy")
        proxies = {}
        for scheme in ("http", "https"):
            chosen = _variable(env, f"{scheme}_proxy") or everywhere
            if chosen is not None:
                proxies[scheme] = _parse_proxy(*chosen)
        if not proxies:
            return None
        no_proxy = _variable(env, "no_proxy")
        entries = [e.strip() for e in (no_proxy[1] if no_proxy else "").split(",") if e.strip()]
        return cls(proxies, [_parse_bypass(e) for e in entries if e != "*"], "*" in entries)

    @property
    def proxies(self) -> tuple[Proxy, ...]:
        return tuple(self._proxies.values())

    def proxy_for(self, scheme: str, host: str, port: int | None = None) -> Proxy | None:
        scheme = scheme.lower()
        key = (scheme, host, port or _DEFAULT_PORTS.get(scheme, 0))
        if key not in self._decided:
            proxy = self._decided[key] = self._decide(*key)
            log.debug("%s://%s:%d: %s", *key, f"through the proxy {proxy}" if proxy else "direct")
        return self._decided[key]

    def proxy_for_url(self, url: str) -> Proxy | None:
        parts = urlsplit(url)
        return self.proxy_for(parts.scheme, parts.hostname or "", parts.port)

    def _decide(self, scheme: str, host: str, port: int) -> Proxy | None:
        proxy = self._proxies.get(scheme)
        if proxy is None or self._bypass_all:
            return None
        name = host.strip("[]").rstrip(".").lower()
        try:
            address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(name)
        except ValueError:
            address = None
        if any(rule.matches(name, address, port) for rule in self._bypass):
            return None
        return proxy


def _variable(env: Mapping[str, str], lower: str) -> tuple[str, str] | None:
    """(name, value) of the lower- or else upper-case variable; a set but empty lower-case one hides the
    upper-case one, as in requests and boto3."""
    for name in (lower, lower.upper()):
        if name in env:
            value = env[name].strip()
            return (name, value) if value else None
    return None


def _parse_proxy(variable: str, value: str) -> Proxy:
    parts = urlsplit(value if "://" in value else f"http://{value}")
    scheme = parts.scheme.lower()
    if scheme.startswith("socks"):
        raise UsageError(f"{variable} names a SOCKS proxy ({scheme}://); only HTTP and HTTPS proxies are supported")
    if scheme not in _DEFAULT_PORTS:
        raise UsageError(f"{variable} must be an http:// or https:// proxy URL, not {scheme}://")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        raise UsageError(f"{variable} has an invalid port") from None
    if not parts.hostname:
        raise UsageError(f"{variable} names no proxy host")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return Proxy(f"{scheme}://{host}:{port}", variable, unquote(parts.username or ""), unquote(parts.password or ""))


def _parse_bypass(entry: str) -> _Bypass:
    text, port = entry.lower(), None
    if text.startswith("["):  # [v6] or [v6]:port
        address, _, rest = text[1:].partition("]")
        text, port = address, _port(rest.lstrip(":"))
    elif text.count(":") == 1:  # host:port (a bare v6 address has several)
        text, _, rest = text.partition(":")
        port = _port(rest)
    try:
        return _Bypass(None, ipaddress.ip_network(text, strict=False), port)
    except ValueError:
        return _Bypass(text.lstrip("*").lstrip(".").rstrip("."), None, port)


def _port(text: str) -> int | None:
    return int(text) if text.isdigit() else None
