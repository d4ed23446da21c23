"""Turn botocore and obstore exceptions into neurofetch errors with one line and no secret."""

from __future__ import annotations

import re

from neurofetch.errors import AuthError, ItemError, NeurofetchError, UnreachableError, UsageError
from neurofetch.transfer.sync.model import NoSuchBucketError

AUTH_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "InvalidToken",
        "ExpiredToken",
        "TokenRefreshRequired",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "AuthorizationHeaderMalformed",
        "InvalidSecurity",
        "AllAccessDisabled",
        "AccountProblem",
        "403",
        "Forbidden",
    }
)
_UNREACHABLE_HINTS = (
    "error sending request",
    "connection refused",
    "connect error",
    "timed out",
    "dns error",
    "connection reset",
    "tcp connect",
)
_SECRETISH = re.compile(r"(X-Amz-(Credential|Signature|Security-Token)=)[^&\s]+", re.IGNORECASE)


def one_line(text: str, limit: int = 240) -> str:
    text = _SECRETISH.sub(r"\1***", " ".join(str(text).split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def client_error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return str(status) if status else None
    return None


def translate(
    exc: BaseException, *, endpoint: str, credential_source: str = "", what: str = "", proxy: object = None
) -> NeurofetchError:
    """Map an exception from botocore/s3transfer/obstore to a NeurofetchError subclass.

    ``what`` names the operation for the message ("listing s3://b/p/"); ``credential_source`` says
    where the credentials came from, so an auth failure tells the user what was tried; ``proxy`` is
    the proxy in use, shown without its credentials.
    """
    if isinstance(exc, NeurofetchError):
        return exc
    import botocore.exceptions as bce

    where = f" ({what})" if what else ""
    if isinstance(exc, bce.ProxyConnectionError):
        return UnreachableError(f"cannot connect to the proxy {proxy}{where}")
    through = f" through the proxy {proxy}" if proxy is not None else ""
    if isinstance(
        exc, (bce.EndpointConnectionError, bce.ConnectTimeoutError, bce.ReadTimeoutError, bce.ConnectionClosedError)
    ):
        return UnreachableError(f"cannot reach the S3 endpoint {endpoint}{through}{where}: {one_line(exc)}")
    if isinstance(exc, bce.NoCredentialsError):
        return AuthError(f"no AWS credentials found for {endpoint}")
    if isinstance(exc, bce.ClientError):
        code = client_error_code(exc) or "error"
        message = exc.response.get("Error", {}).get("Message") or code
        if code in AUTH_CODES:
            source = f" from {credential_source}" if credential_source else ""
            code = "AccessDenied (403)" if code == "403" else code
            return AuthError(f"the S3 endpoint {endpoint} rejected the credentials{source}: {code}{where}")
        if code == "InvalidBucketName":
            return UsageError(f"invalid bucket name{where}: {one_line(message)}")
        if code == "NoSuchBucket" and what.startswith("listing"):
            return NoSuchBucketError(f"the bucket does not exist{where}")
        if code in ("404", "NotFound") and what.startswith("listing"):  # S3 says NoSuchBucket, in XML
            return UnreachableError(
                f"{endpoint} answered HTTP 404 without an S3 error{where}: not an S3 API; check --endpoint-url"
            )
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if status >= 500:
            return UnreachableError(f"the S3 endpoint {endpoint} kept failing{where}: {code} {one_line(message)}")
        return ItemError(f"{code}: {one_line(message)}")
    obstore_error = _translate_obstore(exc, endpoint, credential_source, through)
    if obstore_error is not None:
        return obstore_error
    if isinstance(exc, OSError):
        return ItemError(one_line(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")))
    return ItemError(one_line(f"{type(exc).__name__}: {exc}"))


def _translate_obstore(
    exc: BaseException, endpoint: str, credential_source: str, through: str
) -> NeurofetchError | None:
    module = type(exc).__module__ or ""
    if not module.startswith("obstore"):
        return None
    name = type(exc).__name__
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else name
    if name in ("PermissionDeniedError", "UnauthenticatedError"):
        source = f" from {credential_source}" if credential_source else ""
        return AuthError(f"the S3 endpoint {endpoint} rejected the credentials{source}: {one_line(first)}")
    if any(hint in str(exc).lower() for hint in _UNREACHABLE_HINTS):
        return UnreachableError(f"cannot reach the S3 endpoint {endpoint}{through}: {one_line(first)}")
    return ItemError(one_line(f"{name}: {first}"))
