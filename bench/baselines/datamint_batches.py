"""Baseline: the official Datamint client's upload scheme (datamint 2.45 ``upload_resources``; reference/datamint.md
§2.2, §3.3), for ``datamint upload DIR -r --no-assemble-dicoms --yes`` (with ``--retain-pii`` unless --anonymize).

One coroutine per file, run in batches of 20 with ``asyncio.gather`` (a batch starts when the previous one has
finished), over one client whose pool is capped at 20 connections. Each DICOM is read with pydicom and written
back into memory (``dcmread`` → optional anonymization → ``dcmwrite`` into a BytesIO) in ``asyncio.to_thread``
under one global lock, holding one of 4 "heavy" slots while it is prepared; then it is sent as one multipart
``POST /resources`` (source, resource, absolute source_filepath, mimetype, bypass_inbox). No retries, no journal:
a re-run sends everything again.

The official client speaks aiohttp; this stand-in uses httpx (neurofetch's own dependency) with the same pool cap.
--anonymize clears the 47 top-level tags that medimgkit's ``anonymize_dicom`` clears, the way it clears them.

    NEUROFETCH_API_KEY=demo-key python bench/baselines/datamint_batches.py BASE_URL DIR [--anonymize]

The last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import os
import threading
from pathlib import Path

import httpx
import pydicom
from pydicom.uid import generate_uid

BATCH, POOL, HEAVY_SLOTS = 20, 20, 4
PREPARE_LOCK = threading.Lock()
CLEARED = "CLEARED_BY_DATAMINT"
ANONYMIZED_TAGS = (
    0x00080014,
    0x00080050,
    0x00080080,
    0x00080081,
    0x00080090,
    0x00080092,
    0x00080094,
    0x00081010,
    0x00081030,
    0x0008103E,
    0x00081040,
    0x00081048,
    0x00081050,
    0x00081060,
    0x00081070,
    0x00081080,
    0x00081155,
    0x00082111,
    0x00100010,
    0x00100020,
    0x00100030,
    0x00100032,
    0x00100040,
    0x00101000,
    0x00101001,
    0x00101010,
    0x00101020,
    0x00101030,
    0x00101090,
    0x00102160,
    0x00102180,
    0x001021B0,
    0x00104000,
    0x00181000,
    0x00181030,
    0x0020000D,
    0x0020000E,
    0x00200010,
    0x00200052,
    0x00200200,
    0x00204000,
    0x00080018,
    0x00400275,
    0x0040A730,
    0x00880140,
    0x30060024,
    0x300600C2,
)


def anonymize(ds: pydicom.Dataset) -> None:
    for tag in ANONYMIZED_TAGS:
        if tag not in ds:
            continue
        element = ds[tag]
        if element.VR == "SQ":
            del ds[tag]
        elif element.VR in ("FL", "FD", "DS"):
            element.value = 0
        elif element.VR == "UI":
            seed = hashlib.md5(f"{tag}{element.value}42".encode()).hexdigest()
            element.value = generate_uid(entropy_srcs=["DATAMINT", seed])
        elif tag in (0x00100020, 0x00080050):
            element.value = hashlib.md5(str(element.value).encode()).hexdigest()
        elif tag == 0x00080094:
            element.value = "000-000-0000"
        else:
            element.value = CLEARED
    if "SOPInstanceUID" in ds and hasattr(ds, "file_meta"):
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID


def prepare(path: str, anonymized: bool) -> bytes:
    with PREPARE_LOCK:
        ds = pydicom.dcmread(path)
        if anonymized:
            anonymize(ds)
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, ds)
        return buffer.getvalue()


async def upload_one(
    client: httpx.AsyncClient, base: str, path: str, heavy: asyncio.Semaphore, anonymized: bool
) -> str:
    async with heavy:
        body = await asyncio.to_thread(prepare, path, anonymized)
    files = [
        ("source", (None, b"api", "text/plain; charset=utf-8")),
        ("resource", (os.path.basename(path), body, "application/dicom")),
        ("source_filepath", (None, os.path.abspath(path).encode(), "text/plain; charset=utf-8")),
        ("mimetype", (None, b"application/dicom", "text/plain; charset=utf-8")),
        ("bypass_inbox", (None, b"false", "text/plain; charset=utf-8")),
    ]
    response = await client.post(f"{base}/resources", files=files)
    response.raise_for_status()
    return response.json()["id"]


async def upload_all(base: str, paths: list[str], key: str, anonymized: bool) -> tuple[int, int]:
    heavy = asyncio.Semaphore(HEAVY_SLOTS)
    limits = httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL)
    ok = failed = 0
    async with httpx.AsyncClient(headers={"apikey": key}, limits=limits, timeout=1800) as client:
        for start in range(0, len(paths), BATCH):
            batch = paths[start : start + BATCH]
            outcomes = await asyncio.gather(
                *(upload_one(client, base, p, heavy, anonymized) for p in batch), return_exceptions=True
            )
            failed += sum(isinstance(o, BaseException) for o in outcomes)
            ok += sum(not isinstance(o, BaseException) for o in outcomes)
    return ok, failed


def main() -> None:
    parser = argparse.ArgumentParser(description="Batches-of-20 Datamint upload, as the official client does it.")
    parser.add_argument("base_url")
    parser.add_argument("folder")
    parser.add_argument("--anonymize", action="store_true")
    args = parser.parse_args()
    paths = sorted(
        str(p)
        for p in Path(args.folder).rglob("*")
        if p.is_file() and p.stat().st_size >= 4 and not p.name.startswith(".")
    )
    key = os.environ.get("NEUROFETCH_API_KEY") or os.environ.get("DATAMINT_API_KEY") or "demo-key"
    ok, failed = asyncio.run(upload_all(args.base_url.rstrip("/"), paths, key, args.anonymize))
    print(json.dumps({"uploaded": ok, "failed": failed, "transport": f"httpx {httpx.__version__}"}))
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
