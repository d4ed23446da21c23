"""S3 ETags of local files, for `s3-sync --checksum` (reference/s3.md §5e, §6.3).

A plain 32-hex ETag is the MD5 of the content. A multipart ETag ``md5(md5(part1)‖…‖md5(partN))-N``
depends on the part size the uploader chose, so we try the part sizes of the common tools.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

MiB = 1024 * 1024
MULTIPART_THRESHOLD = 8 * MiB  # aws-cli / s3transfer: multipart when size >= threshold
MULTIPART_CHUNK = 8 * MiB
MAX_PARTS = 10_000
_READ_BLOCK = MiB

_PLAIN = re.compile(r"^[0-9a-f]{32}$")
_MULTI = re.compile(r"^([0-9a-f]{32})-(\d+)$")
# aws-cli/boto3 8 MiB, obstore/rclone 5 MiB, s5cmd 50 MiB, and other common defaults.
_KNOWN_PART_SIZES = (8 * MiB, 5 * MiB, 16 * MiB, 15 * MiB, 50 * MiB, 64 * MiB, 100 * MiB, 10 * MiB)


def aws_part_size(size: int) -> int:
    """The part size aws-cli and s3transfer use for a file of ``size`` bytes."""
    part = MULTIPART_CHUNK
    while -(-size // part) > MAX_PARTS:
        part *= 2
    return part


def normalize_etag(etag: str) -> str:
    return etag.strip().strip('"').lower()


def candidate_part_sizes(size: int, parts: int) -> list[int]:
    """Part sizes that produce exactly ``parts`` parts for ``size`` bytes, most likely first."""
    if parts < 1 or size < 1:
        return []
    candidates = [aws_part_size(size), *_KNOWN_PART_SIZES]
    smallest_mib = -(-size // parts)  # ceil(size / N) ...
    candidates.append(-(-smallest_mib // MiB) * MiB)  # ... rounded up to whole MiB
    if parts == 1:
        candidates.append(size)
    seen: list[int] = []
    for part in candidates:
        if part not in seen and part > 0 and -(-size // part) == parts:
            seen.append(part)
    return seen


def file_etags(path: str | Path, part_sizes: list[int], *, whole: bool) -> tuple[str | None, dict[int, str]]:
    """Read the file once; return its MD5 (if ``whole``) and its multipart ETag for each part size."""
    whole_md5 = hashlib.md5(usedforsecurity=False) if whole else None
    PartState = tuple["hashlib._Hash", list[bytes], int]  # current, digests, filled
    states: dict[int, PartState] = {p: (hashlib.md5(usedforsecurity=False), [], 0) for p in part_sizes}
    with open(path, "rb") as fh:
        while block := fh.read(_READ_BLOCK):
            if whole_md5 is not None:
                whole_md5.update(block)
            for part, (current, digests, filled) in list(states.items()):
                view = memoryview(block)
                while view:
                    take = min(part - filled, len(view))
                    current.update(view[:take])
                    view, filled = view[take:], filled + take
                    if filled == part:
                        digests.append(current.digest())
                        current, filled = hashlib.md5(usedforsecurity=False), 0
                states[part] = (current, digests, filled)
    multipart: dict[int, str] = {}
    for part, (current, digests, filled) in states.items():
        if filled:
            digests.append(current.digest())
        combined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
        multipart[part] = f"{combined}-{len(digests)}"
    return (whole_md5.hexdigest() if whole_md5 is not None else None), multipart


def etag_matches(path: str | Path, size: int, etag: str) -> bool:
    """True when the local file has the content the ETag describes. An ETag we cannot reproduce
    (SSE-KMS, an unknown part size) counts as different: the file is transferred again."""
    etag = normalize_etag(etag)
    if _PLAIN.match(etag):
        whole, _ = file_etags(path, [], whole=True)
        return whole == etag
    match = _MULTI.match(etag)
    if not match:
        return False
    sizes = candidate_part_sizes(size, int(match.group(2)))
    if not sizes:
        return False
    _, multipart = file_etags(path, sizes, whole=False)
    return etag in multipart.values()
