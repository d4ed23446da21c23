"""URLs as neurofetch records and shows them: without userinfo (``user:pass@``), query or fragment, which is
where signed URLs and careless configs carry their secrets. Standard library only: every layer may use it."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# A URL inside free text: stops at whitespace, quotes and brackets, so "(https://h/p?x=1)" keeps its ")".
URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>()\[\]{}]+")
TRAILING_PUNCTUATION = ".,;:!"


def redact_url(url: str) -> str:
    """``url`` without userinfo, query and fragment: ``https://u:p@h:8/a?sig=1#f`` → ``https://h:8/a``."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
    except ValueError:  # not a URL after all (an unbalanced "[" in the host, ...): keep only what is before it
        return re.split(r"[?#@]", url, maxsplit=1)[0]
    if not parts.scheme and not parts.netloc:
        return url.split("?", 1)[0].split("#", 1)[0]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def redact_urls_in(text: str) -> str:
    """Every URL in ``text`` redacted (see :func:`redact_url`); the rest of the text unchanged."""
    if "://" not in text:
        return text

    def one(match: re.Match[str]) -> str:
        found = match.group()
        stripped = found.rstrip(TRAILING_PUNCTUATION)
        return redact_url(stripped) + found[len(stripped) :]

    return URL_IN_TEXT.sub(one, text)
