"""A lean ListObjectsV2 for custom path-style endpoints: signed by botocore's SigV4 signer with the
chain's credentials, sent with http.client, parsed with ElementTree. It skips building a botocore
S3 client (~0.1 s) and botocore's response parser (~0.1 s per 1000 keys), which is most of a no-op
sync. Anything unexpected (an error status, a redirect, a parse problem) raises FastListFailed and
the caller lists again with boto3, which retries and reports errors precisely. Not used for AWS
itself (regions, redirects, accelerate/FIPS settings stay with botocore).
"""

from __future__ import annotations

import http.client
import ssl
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote_plus, urlsplit

from neurofetch.transfer.sync.model import RemoteObject

if TYPE_CHECKING:
    import botocore.credentials

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def _canonical_query(params: dict[str, str]) -> str:
    """SigV4's canonical query string: sorted by name, everything but -_.~ percent-encoded."""
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(params.items()))


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
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest

    connection, base_path = _connection(endpoint, verify, timeout)
    token: str | None = None
    try:
        while True:
            query: dict[str, str] = {"list-type": "2", "prefix": prefix, "encoding-type": "url"}
            if token:
                query["continuation-token"] = token
            path = f"{base_path}/{quote(bucket)}?{_canonical_query(query)}"
            request = AWSRequest(method="GET", url=f"{endpoint.rstrip('/')}{path[len(base_path) :]}")
            S3SigV4Auth(credentials.get_frozen_credentials(), "s3", region).add_auth(request)
            try:
                connection.request("GET", path, headers=dict(request.headers.items()))
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
