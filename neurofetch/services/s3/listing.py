"""A lean ListObjectsV2 for custom path-style endpoints: signed here (SigV4, as botocore signs it) with
the chain's credentials, sent with http.client, parsed with ElementTree. It skips importing botocore's
signer (~0.1 s), building a botocore S3 client (~0.1 s) and botocore's response parser (~0.1 s per
1000 keys), which is most of a no-op sync. Anything unexpected (an error status, a redirect, a parse
problem) raises FastListFailed and the caller lists again with boto3, which retries and reports errors
precisely. Not used for AWS itself (regions, redirects, accelerate/FIPS settings stay with botocore).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ssl
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote_plus, urlsplit

from neurofetch.transfer.sync.model import RemoteObject

if TYPE_CHECKING:
    import botocore.credentials

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def _canonical_query(params: dict[str, str]) -> str:
    """SigV4's canonical query string: sorted by name, everything but -_.~ percent-encoded."""
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(params.items()))


_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def signed_get_headers(
    host: str, path: str, query: str, credentials: Any, region: str, now: datetime | None = None
) -> dict[str, str]:
    """The headers of a SigV4-signed S3 GET of ``path`` (already URI-encoded) with the canonical ``query``."""
    frozen = credentials.get_frozen_credentials()
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    headers = {"host": host, "x-amz-content-sha256": _EMPTY_SHA256, "x-amz-date": stamp}
    if frozen.token:
        headers["x-amz-security-token"] = frozen.token
    names = ";".join(sorted(headers))
    canonical = "\n".join(
        ["GET", path, query, *(f"{k}:{headers[k].strip()}" for k in sorted(headers)), "", names, _EMPTY_SHA256]
    )
    scope = f"{stamp[:8]}/{region}/s3/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = ("AWS4" + frozen.secret_key).encode()
    for part in (stamp[:8], region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={frozen.access_key}/{scope}, SignedHeaders={names}, Signature={signature}"
    )
    return headers


class FastListFailed(Exception):
    """The lean listing could not be used; list with boto3 instead."""


def _timestamp(text: str) -> int:
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() // 1)
    except ValueError:
        from botocore.utils import parse_timestamp

        return int(parse_timestamp(text).timestamp() // 1)


def _connection(endpoint: str, verify: bool | str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(endpoint)
    if parts.scheme == "http":
        return http.client.HTTPConnection(parts.netloc, timeout=timeout), parts.path.rstrip("/")
    if parts.scheme != "https":
        raise FastListFailed(f"unsupported scheme {parts.scheme}")
    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return http.client.HTTPSConnection(parts.netloc, timeout=timeout, context=context), parts.path.rstrip("/")


def list_pages(
    *,
    endpoint: str,
    bucket: str,
    prefix: str,
    region: str,
    credentials: botocore.credentials.Credentials,
    verify: bool | str,
    timeout: float = 60,
) -> Iterator[list[RemoteObject]]:
    connection, base_path = _connection(endpoint, verify, timeout)
    parts = urlsplit(endpoint)
    default_port = (parts.scheme, parts.port) in (("http", 80), ("https", 443))
    host = parts.netloc.rsplit(":", 1)[0] if default_port else parts.netloc  # as botocore signs it
    token: str | None = None
    try:
        while True:
            query: dict[str, str] = {"list-type": "2", "prefix": prefix, "encoding-type": "url"}
            if token:
                query["continuation-token"] = token
            path, canonical_query = f"{base_path}/{quote(bucket)}", _canonical_query(query)
            headers = signed_get_headers(host, path, canonical_query, credentials, region)
            try:
                connection.request("GET", f"{path}?{canonical_query}", headers=headers)
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                raise FastListFailed(str(exc)) from exc
            if response.status != 200:
                raise FastListFailed(f"HTTP {response.status}")
            try:
                root = ElementTree.fromstring(body)
                page = [
                    RemoteObject(
                        unquote_plus(item.findtext(f"{_NS}Key", "")),
                        int(item.findtext(f"{_NS}Size", "0")),
                        _timestamp(item.findtext(f"{_NS}LastModified", "")),
                        item.findtext(f"{_NS}ETag", ""),
                        item.findtext(f"{_NS}StorageClass") or "STANDARD",
                    )
                    for item in root.iter(f"{_NS}Contents")
                ]
                truncated = root.findtext(f"{_NS}IsTruncated", "false") == "true"
                token = root.findtext(f"{_NS}NextContinuationToken")
            except (ElementTree.ParseError, ValueError) as exc:
                raise FastListFailed(f"unexpected listing: {exc}") from exc
            if any(not o.key.startswith(prefix) for o in page) or (truncated and not token):
                raise FastListFailed("listing does not match the request")
            yield page
            if not truncated:
                return
    finally:
        connection.close()
