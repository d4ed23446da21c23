"""Logging: -v shows debug lines on stderr; --log-file keeps timestamped plain text with secrets masked."""

from __future__ import annotations

import logging
import re
from typing import Any

from neurofetch.urls import redact_urls_in

SECRET_PATTERNS = [
    re.compile(r"(Authorization:\s*\w+\s+)\S+", re.IGNORECASE),
    re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"((?:password|token|apikey|api_key|secret)[\"']?\s*[:=]\s*[\"']?)[^\"'\s,}&]+", re.IGNORECASE),
    re.compile(r"(X-Amz-Signature=)[0-9a-f]+", re.IGNORECASE),
]
_known_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Every log line is scrubbed of this value from now on."""
    if value and len(value) >= 3:
        _known_secrets.add(value)


def mask(text: str) -> str:
    """``text`` as it may be shown or kept: known secrets, credential-looking pairs and URLs' userinfo and
    query (see neurofetch.urls) removed."""
    text = redact_urls_in(text)
    for secret in _known_secrets:
        text = text.replace(secret, "***")
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


def mask_strings(value: Any) -> Any:
    """``value`` (a JSON document) with :func:`mask` applied to every string in it, keys included."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {mask_strings(k): mask_strings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_strings(v) for v in value]
    return value


class MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


def _not_shown_already(record: logging.LogRecord) -> bool:
    """neurofetch's INFO records are the lines already printed (progress, failures, the summary), kept
    for --log-file: -v must not print them a second time. Its details are DEBUG."""
    return not (record.name == "neurofetch" and record.levelno == logging.INFO)


_installed: list[tuple[logging.Logger, logging.Handler]] = []


def _install(logger: logging.Logger, handler: logging.Handler) -> None:
    logger.addHandler(handler)
    _installed.append((logger, handler))


def configure_logging(*, verbose: bool, log_file: str | None) -> None:
    """Set up logging for one CLI run; what an earlier run in this process set up (handlers bound to
    its streams, the secrets it knew) is dropped first."""
    while _installed:
        logger, old = _installed.pop()
        logger.removeHandler(old)
        if isinstance(old, logging.FileHandler):
            old.close()
    _known_secrets.clear()
    root = logging.getLogger("neurofetch")
    root.handlers.clear()
    root.setLevel(logging.DEBUG if (verbose or log_file) else logging.WARNING)
    root.propagate = False
    if verbose:
        stream = logging.StreamHandler()
        stream.setLevel(logging.DEBUG)
        stream.addFilter(_not_shown_already)
        stream.setFormatter(MaskingFormatter("debug: %(message)s"))
        _install(root, stream)
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.INFO)
            _install(logging.getLogger(name), stream)
    if log_file:
        try:
            handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            from neurofetch.errors import UsageError

            raise UsageError(f"cannot write the log file {log_file}: {exc.strerror or exc}") from None
        handler.setLevel(logging.DEBUG)
        handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(message)s"))
        _install(root, handler)
        _install(logging.getLogger("httpx"), handler)
        logging.getLogger("httpx").setLevel(logging.INFO)
